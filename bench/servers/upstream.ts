// The fast upstream: a stand-in private container that answers 200 with a small JSON body when the
// request carries the container's token, 401 otherwise (so a forwarder that drops the token shows
// up as non-2xx in the load generator's counts). Answers from a precomputed buffer; one process.
//
//   PORT=… BENCH_TOKEN=… node dist/bench/servers/upstream.js
import { createServer } from 'node:http'

const port = Number(process.env.PORT)
const token = process.env.BENCH_TOKEN ?? ''
const ok = Buffer.from('{"hello":"world"}\n')
const okHeaders = { 'content-type': 'application/json', 'content-length': String(ok.length) }
const denied = Buffer.from('{"error":"unauthorized"}\n')
const deniedHeaders = { 'content-type': 'application/json', 'content-length': String(denied.length) }

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.headers['x-auth-token'] === token) {
    res.writeHead(200, okHeaders)
    res.end(ok)
  } else {
    res.writeHead(401, deniedHeaders)
    res.end(denied)
  }
})
server.listen(port, '127.0.0.1')
process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
