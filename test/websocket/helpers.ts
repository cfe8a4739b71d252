// Clients for the WebSocket tests: the `ws` library (as applications use it), a raw handshake (to
// see every byte the gateway answers), and a minimal RFC 6455 framer for the HTTP/2 tests (no
// WebSocket library speaks RFC 8441 over Node's http2 client).
import { randomBytes } from 'node:crypto'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { connect as netConnect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { testCa } from '../helpers/pki.js'

export interface Opened { ws: WebSocket, protocol: string, headers: Record<string, string | string[] | undefined> }
export interface Refused { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** Opens a WebSocket (wss:// with the test CA); resolves with the open socket or the non-101 answer. */
export function openWs (url: string, opts: { headers?: Record<string, string>, protocols?: string[], localAddress?: string } = {}): Promise<Opened | Refused> {
  return new Promise((resolve, reject) => {
    let upgradeHeaders: Record<string, string | string[] | undefined> = {}
    const ws = new WebSocket(url, opts.protocols ?? [], { ca: testCa().cert, headers: opts.headers, localAddress: opts.localAddress, handshakeTimeout: 10_000 })
    ws.once('upgrade', (res) => { upgradeHeaders = res.headers })
    ws.once('open', () => resolve({ ws, protocol: ws.protocol, headers: upgradeHeaders }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    ws.once('error', reject)
  })
}

export function isOpen (r: Opened | Refused): r is Opened {
  return 'ws' in r
}

/** Sends `msg` and resolves with the next message received. */
export function echo (ws: WebSocket, msg: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(data.toString()))
    ws.once('error', reject)
    ws.send(msg)
  })
}

/** Resolves with the close code once the socket closed. */
export function closed (ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006)
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)))
}

/** A raw handshake request head for `path` (Host localhost, a fresh key), plus `extra` lines. */
export function handshake (path: string, extra: string[] = [], method = 'GET'): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, ...extra, '', ''].join('\r\n')
}

/** A connected raw socket (TLS with the test CA, ALPN http/1.1, or plain TCP). */
export function rawSocket (port: number, tls: boolean): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const s: Socket = tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: testCa().cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(s))
      : netConnect({ host: '127.0.0.1', port }, () => resolve(s))
    s.once('error', reject)
  })
}

/** A masked client frame (RFC 6455 §5.2): FIN, the opcode (1 text, 2 binary, 8 close), the payload. */
export function clientFrame (payload: Buffer | string, opcode = 1): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const mask = randomBytes(4)
  const len = data.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = data[i] ^ mask[i & 3]
  return Buffer.concat([head, mask, body])
}

/** Reads unmasked server frames from a byte stream (payloads under 64 KiB); returns [opcode, payload] pairs and the rest. */
export function readFrames (buf: Buffer): { frames: Array<[number, Buffer]>, rest: Buffer } {
  const frames: Array<[number, Buffer]> = []
  let at = 0
  for (;;) {
    if (buf.length - at < 2) break
    const opcode = buf[at] & 15
    let len = buf[at + 1] & 127
    let start = at + 2
    if (len === 126) {
      if (buf.length - at < 4) break
      len = buf.readUInt16BE(at + 2)
      start = at + 4
    }
    if (buf.length < start + len) break
    frames.push([opcode, buf.subarray(start, start + len)])
    at = start + len
  }
  return { frames, rest: buf.subarray(at) }
}
