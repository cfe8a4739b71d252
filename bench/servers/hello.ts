// The ceiling for one Node process: node:http answering by itself, forwarding nothing.
//
//   PORT=… node dist/bench/servers/hello.js
import { createServer } from 'node:http'

const port = Number(process.env.PORT)
const body = Buffer.from('{"hello":"world"}\n')
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) }

const server = createServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
  res.writeHead(200, headers)
  res.end(body)
})
server.listen(port, '127.0.0.1')
process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
