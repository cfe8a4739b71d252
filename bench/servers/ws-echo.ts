// The WebSocket upstream: a stand-in private container that echoes every message, and refuses (401)
// an upgrade that does not carry the container's token (so a forwarder that drops it cannot score).
//
//   PORT=… BENCH_TOKEN=… node dist/bench/servers/ws-echo.js
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'

const port = Number(process.env.PORT)
const token = process.env.BENCH_TOKEN ?? ''
const server = createServer((_req, res) => {
  res.writeHead(426, { 'content-length': '0' })
  res.end()
})
const wss = new WebSocketServer({ server, perMessageDeflate: false, verifyClient: (info: { req: { headers: Record<string, unknown> } }) => info.req.headers['x-auth-token'] === token })
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => { ws.send(data, { binary: isBinary }) })
})
server.listen(port, '127.0.0.1')
process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate()
  server.close(() => process.exit(0))
})
