// The bare baseline, exactly as issue 7 states it (kept unchanged as the peer every ratio is taken
// against): fastify without its logger, @fastify/http-proxy with its defaults, the token added by
// rewriteRequestHeaders.
//
//   PORT=… UPSTREAM=http://127.0.0.1:… BENCH_TOKEN=… node dist/bench/servers/bare.js
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'

const UPSTREAM = process.env.UPSTREAM ?? ''
const TOKEN = process.env.BENCH_TOKEN ?? ''

const app = Fastify({ logger: false })
app.register(httpProxy, {
  upstream: UPSTREAM,
  replyOptions: { rewriteRequestHeaders: (_req, h) => ({ ...h, 'x-auth-token': TOKEN }) }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
