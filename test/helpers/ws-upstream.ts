// A real WebSocket upstream for the tunnel tests: node:https (the test CA's localhost certificate)
// or node:http, with the `ws` library answering the handshakes. It records every upgrade request's
// head, echoes messages back, and has hostile or special paths (by how the path ends):
//   …/flood/N        sends N bytes in 64 KiB binary messages as fast as the socket takes them
//   …/refuse         403 JSON, with an X-Auth-Token of its own (which must never reach the client)
//   …/bad-accept     101 with a wrong Sec-WebSocket-Accept (and an X-Auth-Token), then frame bytes
//   …/plain          200 "not a websocket" (the upgrade ignored)
//   …/closing        accepts, then closes with 1000 after the first message
//   anything else    echo (the first offered subprotocol is selected)
// Every 101 it sends carries `X-Auth-Token: upstream-leak` and `X-Upstream: yes`.
import { createServer as createHttps } from 'node:https'
import { createServer as createHttp, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { localhostCert } from './pki.js'

export interface WsUpstream {
  url: string
  port: number
  /** Every upgrade request's head, as received. */
  upgrades: Array<{ url: string, headers: IncomingMessage['headers'], rawHeaders: string[] }>
  /** Plain (non-upgrade) requests, as received. */
  plain: Array<{ url: string, headers: IncomingMessage['headers'] }>
  /** Server-side sockets of the accepted WebSockets, in order. */
  sockets: WebSocket[]
  /** Bytes the /flood handler has handed to ws so far, and whether it finished. */
  flood: { queued: number, done: boolean }
  server: Server
  close (): Promise<void>
}

export async function startWsUpstream (opts: { tls?: boolean } = {}): Promise<WsUpstream> {
  const upgrades: WsUpstream['upgrades'] = []
  const plain: WsUpstream['plain'] = []
  const sockets: WebSocket[] = []
  const flood = { queued: 0, done: false }
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (set) => set.values().next().value ?? false })
  wss.on('headers', (headers) => { headers.push('X-Auth-Token: upstream-leak', 'X-Upstream: yes') })
  const onRequest = (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    plain.push({ url: req.url ?? '', headers: req.headers })
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('not a websocket')
  }
  const server: Server = opts.tls === false
    ? createHttp(onRequest)
    : createHttps({ ...localhostCert() }, onRequest) as unknown as Server
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders })
    socket.on('error', () => {})
    const url = (req.url ?? '').replace(/\?.*$/, '')
    if (url.endsWith('/refuse')) {
      const body = '{"error":"container says no"}'
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nx-auth-token: upstream-leak\r\nconnection: close\r\n\r\n${body}`)
      return
    }
    if (url.endsWith('/bad-accept')) {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
        'sec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nx-auth-token: upstream-leak\r\n\r\n\x81\x05hello')
      return
    }
    if (url.endsWith('/plain')) {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\nnot a websocket')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws)
      const m = /\/flood\/(\d+)$/.exec(url)
      if (m !== null) {
        const total = Number(m[1])
        const chunk = Buffer.alloc(65536, 7)
        const pump = (): void => {
          // Hand ws no more than 1 MiB beyond what the socket has taken: the backlog shows backpressure.
          while (flood.queued < total && ws.bufferedAmount < 1024 * 1024) {
            const n = Math.min(chunk.length, total - flood.queued)
            ws.send(n === chunk.length ? chunk : chunk.subarray(0, n))
            flood.queued += n
          }
          if (flood.queued >= total) {
            flood.done = true
            return
          }
          setTimeout(pump, 5)
        }
        pump()
        return
      }
      ws.on('message', (data, isBinary) => {
        if (url.endsWith('/closing')) {
          ws.close(1000, 'done')
          return
        }
        ws.send(data, { binary: isBinary })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${opts.tls === false ? 'http' : 'https'}://localhost:${port}`,
    port,
    upgrades,
    plain,
    sockets,
    flood,
    server,
    async close () {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
