// tollgate as a Fastify plugin, full pipeline: the bare baseline's app (fastify without its
// logger) with tollgate registered from the bench's gateway config (the seed's condition on the
// container, the token from the environment, 127.0.0.1 a trusted proxy so the client IP the
// policy sees is the office one from X-Forwarded-For). The app's logger is off, as the bare
// baseline's: tollgate's access and decision lines go through it, so none is written.
//
//   PORT=… CONFIG=… BENCH_TOKEN=… node dist/bench/servers/plugin.js
import Fastify from 'fastify'
import tollgate from '../../src/fastify/index.js'

const app = Fastify({ logger: false })
await app.register(tollgate, { config: process.env.CONFIG ?? '' })
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
