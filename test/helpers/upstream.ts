// A real upstream on loopback (HTTPS with the test CA, or plain HTTP) that records every request
// it receives and answers with a JSON echo, or with whatever the test's handler does.
import { createServer as createHttps } from 'node:https'
import { createServer as createHttp, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { createServer as createTcp, type AddressInfo } from 'node:net'
import { localhostCert } from './pki.js'

export interface Received {
  method: string
  url: string
  headers: IncomingMessage['headers']
  rawHeaders: string[]
  body: string
}

export interface Upstream {
  url: string
  port: number
  received: Received[]
  server: Server
  close (): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const echo: Handler = (req, res, body) => {
  const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body })
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
  res.end(out)
}

export async function startUpstream (opts: { tls?: boolean, handler?: Handler, cert?: { cert: string, key: string } } = {}): Promise<Upstream> {
  const received: Received[] = []
  const handler = opts.handler ?? echo
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body })
      handler(req, res, body)
    })
  }
  const server: Server = opts.tls === false
    ? createHttp(listener)
    : createHttps({ ...(opts.cert ?? localhostCert()) }, listener) as unknown as Server
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${opts.tls === false ? 'http' : 'https'}://localhost:${port}`,
    port,
    received,
    server,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A loopback port nothing listens on (bound, then released): for an upstream that is not there, or a server to start. */
export async function freePort (): Promise<number> {
  const s = createTcp()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
