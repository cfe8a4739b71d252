// Raw-bytes helpers for the hardening suite: a client that writes exact bytes (plain TCP or TLS)
// and reports what came back and whether the server closed, and a raw recording TCP upstream that
// keeps every byte it receives (so a test can prove that nothing reached it).
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { testCa } from './pki.js'

export interface RawResult {
  /** Everything the server sent, as latin1. */
  data: string
  /** True when the server ended or reset the connection before `waitMs`. */
  closed: boolean
  /** Milliseconds from connect to close (or to the wait limit). */
  ms: number
}

export interface RawOptions {
  port: number
  host?: string
  /** TLS with the test CA (ALPN http/1.1), else plain TCP. */
  tls?: boolean
  /** Give up (and report `closed: false`) after this long (default 5 s). */
  waitMs?: number
  /** Local address to connect from (127.0.0.x). */
  localAddress?: string
  /** Stop waiting (and report `closed: false`) as soon as this is true of what arrived. */
  until?: (data: string) => boolean
  /** Called with the client socket once created. */
  onSocket?: (socket: Socket) => void
}

/** Writes `payload` on a fresh connection and collects the answer until the server closes. */
export function rawExchange (opts: RawOptions, payload: string | Buffer): Promise<RawResult> {
  return new Promise((resolve) => {
    const start = Date.now()
    const host = opts.host ?? '127.0.0.1'
    const chunks: Buffer[] = []
    let settled = false
    const socket: Socket = opts.tls === true
      ? tlsConnect({ host, port: opts.port, ca: testCa().cert, servername: 'localhost', ALPNProtocols: ['http/1.1'], localAddress: opts.localAddress } as ConnectionOptions, () => socket.write(payload))
      : netConnect({ host, port: opts.port, localAddress: opts.localAddress }, () => socket.write(payload))
    const done = (closed: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed, ms: Date.now() - start })
    }
    const timer = setTimeout(() => done(false), opts.waitMs ?? 5000)
    opts.onSocket?.(socket)
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      if (opts.until?.(Buffer.concat(chunks).toString('latin1')) === true) done(false)
    })
    socket.on('error', () => done(true))
    socket.on('end', () => done(true))
    socket.on('close', () => done(true))
  })
}

/** The status codes of every HTTP/1.x response head in `data`, in order (1xx included). */
export function statuses (data: string): number[] {
  return [...data.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]))
}

export interface RecordedConnection {
  socket: Socket
  /** Every byte received on this connection. */
  bytes: Buffer[]
  closed: boolean
}

export interface RecordingUpstream {
  port: number
  url: string
  server: Server
  connections: RecordedConnection[]
  /** Every chunk received, over all connections, in arrival order. */
  chunks: Buffer[]
  /** Total bytes received over all connections. */
  received (): number
  /** Everything received (from chunk index `from`) over all connections, in arrival order, as latin1. */
  text (from?: number): string
  /** Connections not yet closed. */
  open (): number
  close (): Promise<void>
}

/**
 * What the upstream does with a connection. The default (`echoHttp`) answers every request head
 * it sees with 200 and a body naming the request line, honouring Content-Length bodies.
 */
export type ConnectionBehaviour = (socket: Socket, conn: RecordedConnection) => void

/**
 * A plain TCP server that records every byte. Its default behaviour is a tiny HTTP/1.1 echo
 * (keep-alive, Content-Length bodies only), so requests that are meant to pass get an answer
 * that names them (`seen: <request line>`): a response handed to the wrong client shows.
 */
export async function startRecordingUpstream (behaviour: ConnectionBehaviour = echoHttp): Promise<RecordingUpstream> {
  const connections: RecordedConnection[] = []
  const chunks: Buffer[] = []
  const server = createServer((socket) => {
    const conn: RecordedConnection = { socket, bytes: [], closed: false }
    connections.push(conn)
    socket.on('data', (d: Buffer) => { conn.bytes.push(d); chunks.push(d) })
    socket.on('error', () => {})
    socket.on('close', () => { conn.closed = true })
    behaviour(socket, conn)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    connections,
    chunks,
    received: () => chunks.reduce((n, b) => n + b.length, 0),
    text: (from = 0) => Buffer.concat(chunks.slice(from)).toString('latin1'),
    open: () => connections.filter((c) => !c.closed).length,
    async close () {
      for (const c of connections) c.socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Default behaviour: answer each complete request head (+ Content-Length body) with 200 `seen: <request line>`. */
export const echoHttp: ConnectionBehaviour = (socket) => {
  let buf = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.subarray(0, end).toString('latin1')
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      const length = m === null ? 0 : Number(m[1])
      if (buf.length < end + 4 + length) return
      buf = buf.subarray(end + 4 + length)
      const body = `seen: ${head.slice(0, head.indexOf('\r\n'))}`
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    }
  })
}

/** Waits until `check()` is true, polling every 20 ms, for at most `ms` (default 5 s); returns the last result. */
export async function eventually (check: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    if (check()) return true
    if (Date.now() > until) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Open TCP sockets in this process (client and server ends alike), from Node's own resource list. */
export function openSockets (): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length
}
