// The floor of this stack, for reading the other figures: node:http + one undici Pool, the response
// streamed straight into `res` (Pool.stream), the token injected, nothing else — no routing, no
// policy, no header hygiene, no log. tollgate's distance to this is the cost of its own work.
//
//   PORT=… UPSTREAM=http://127.0.0.1:… BENCH_TOKEN=… node dist/bench/servers/floor.js
import { createServer, type ServerResponse } from 'node:http'
import type { Writable } from 'node:stream'
import { Pool } from 'undici'

const pool = new Pool(process.env.UPSTREAM ?? '', { connections: 64, pipelining: Number(process.env.PIPELINING ?? 1) })
const token = process.env.BENCH_TOKEN ?? ''

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = { ...req.headers, 'x-auth-token': token }
  delete headers.connection
  delete headers.host
  pool.stream({ path: req.url ?? '/', method: 'GET', headers, opaque: res }, ({ statusCode, headers: h, opaque }) => {
    const out = opaque as ServerResponse
    delete h.connection
    delete h['keep-alive']
    out.writeHead(statusCode, h as Record<string, string>)
    return out as unknown as Writable
  }, (err) => {
    if (err != null && !res.headersSent) { res.statusCode = 502; res.end() }
  })
})
server.listen(Number(process.env.PORT), '127.0.0.1')
process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => { pool.close().then(() => process.exit(0), () => process.exit(1)) }) })
