// The forward step of a WebSocket upgrade: the upgrade request (its head screened and injected like
// any request's) goes to the container on a connection of its own — node:http(s), TLS verified
// exactly as every forward (public roots plus the container's upstreamCa, the host name checked) —
// and the container's answer is read before anything reaches the client:
// - a 101 is checked (./handshake.ts checkSwitch); a wrong one is dropped and answered 502;
// - any other answer is relayed as a plain response (the access line says why: a 401/403 is
//   `upstream_rejected_token`), the connection then closed;
// - a 101 that passes becomes the client's 101 (HTTP/2: its 200), with the usual response hygiene
//   (no hop-by-hop field, never X-Auth-Token) and the container's response header rules, and the two
//   connections are piped both ways.
//
// A tunnel pipes bytes, never reads frames: with backpressure each way (a full side pauses the
// other), an idle timeout (no byte either way), half-close passed on (a side's FIN ends the other
// once its bytes are written), and one access line when it closes (duration, bytes both ways, who
// closed it). It holds the runtime it opened on: a reload does not touch it.
import { request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Http2ServerResponse } from 'node:http2'
import { isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { rootCertificates } from 'node:tls'
import { forwardFailureReason } from '../errors.js'
import type { Exchange, TunnelRecord } from '../exchange.js'
import type { ContainerRuntime, Runtime } from '../runtime.js'
import { reject } from '../reject.js'
import { UpstreamError } from '../proxy/client.js'
import { responseHead, writeResponseHead } from '../proxy/response.js'
import { acceptFor, checkSwitch, newKey, offerOf, PROTOCOL_MARKER } from './handshake.js'
import { CloseWatch } from './frames.js'
import type { OpenTunnel, Tunnels, ByteCell } from './tunnels.js'

/** Where one container's tunnels go. */
export interface TunnelTarget {
  readonly origin: URL
  /** The container's upstreamCa (PEM), trusted besides the public roots. */
  readonly ca: string | undefined
  readonly connectTimeout: number
  /** Time to the container's answer to the upgrade request. */
  readonly timeout: number
}

type Res = ServerResponse | Http2ServerResponse

/** Fields of the container's answer never relayed on a tunnel's: its token, and what the gateway sets itself on a 101. */
const ANSWER_DROP = new Set(['x-auth-token'])
const SWITCH_DROP = new Set(['x-auth-token', 'sec-websocket-accept', 'content-length'])
/** How long a side that was ended (its peer closed cleanly) may take to close before it is cut. */
const CLOSE_GRACE_MS = 5000

function without (raw: string[], drop: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1])
  return out
}

export function openTunnel (x: Exchange, c: ContainerRuntime, rt: Runtime, res: Res): void {
  const target = c.tunnelTarget
  const h2 = x.upgrade === 'http2'
  const leg = x.handover
  if (target === undefined || (!h2 && leg === undefined)) return reject(x, res, 'internal_error', rt.hsts)
  const tunnels = rt.tunnels
  const refused = tunnels.admit(x.ip, rt.config.server.websocket)
  if (refused !== undefined) return reject(x, res, refused, rt.hsts)
  let held = true
  const release = (): void => {
    if (!held) return
    held = false
    tunnels.release(x.ip)
  }

  // The head for the container: the screened and injected fields, the upgrade's own, and a key
  // (the client's over HTTP/1.1; a fresh one for an HTTP/2 client, which sends none).
  const head = x.upstreamHeaders
  let key = ''
  if (h2) {
    key = newKey()
    head.push('sec-websocket-key', key)
  } else {
    for (let i = 0; i < head.length; i += 2) if (head[i] === 'sec-websocket-key') key = head[i + 1]
  }
  head.push('connection', 'Upgrade', 'upgrade', 'websocket')
  const offer = offerOf(key, head)

  const url = target.origin
  const tls = url.protocol === 'https:'
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  x.upstreamStart = performance.now()
  let req: ClientRequest
  try {
    req = (tls ? httpsRequest : httpRequest)({
      host,
      port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
      method: 'GET',
      path: x.upstreamPath + x.query,
      headers: head,
      agent: false,
      // Verified, always: this request carries the container's IAM secret key.
      ...(tls
        ? {
            rejectUnauthorized: true,
            ALPNProtocols: ['http/1.1'],
            ...(isIP(host) === 0 ? { servername: host } : {}),
            ...(target.ca !== undefined ? { ca: [...rootCertificates, target.ca] } : {})
          }
        : {})
    })
  } catch {
    // A header value that would split the head (node:http refuses it before anything is sent).
    release()
    return failed(x, c, rt, res, new UpstreamError('UPSTREAM_BAD_REQUEST', 'invalid upgrade request head'))
  }
  let timer = setTimeout(() => { req.destroy(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `connect to ${url.host} timed out`)) }, target.connectTimeout)
  req.once('socket', (s: Socket) => {
    s.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer)
      timer = setTimeout(() => { req.destroy(new UpstreamError('UPSTREAM_HEADERS_TIMEOUT', 'no answer to the upgrade in time')) }, target.timeout)
    })
  })
  const settled = (): void => {
    clearTimeout(timer)
    if (x.upstream === cancel) x.upstream = undefined
    x.upstreamEnd = performance.now()
  }
  const cancel = { cancel: () => { req.destroy(new UpstreamError('UPSTREAM_ABORTED', 'the client went away')) } }
  x.upstream = cancel

  req.on('error', (err: Error) => {
    settled()
    release()
    failed(x, c, rt, res, err)
  })
  req.on('response', (answer: IncomingMessage) => {
    settled()
    release()
    relayAnswer(x, c, rt, res, answer)
  })
  req.on('upgrade', (answer: IncomingMessage, socket: Socket, upHead: Buffer) => {
    settled()
    socket.on('error', () => {})
    const problem = checkSwitch(offer, answer.headers)
    if (problem !== undefined || res.destroyed) {
      socket.destroy()
      release()
      if (problem === undefined) return // the client went away meanwhile
      rt.logger.warn({ requestId: x.requestId, container: c.name, code: 'UPSTREAM_BAD_HANDSHAKE', problem }, 'upstream failure')
      return reject(x, res, 'upstream_bad_response', rt.hsts)
    }
    const fields = responseHead(without(answer.rawHeaders, SWITCH_DROP), x, rt.hsts, c.responseRules)
    // A browser that offered subprotocols fails a 101 that selects none: it offered `tollgate` for that.
    if (x.protocolMarker && answer.headers['sec-websocket-protocol'] === undefined) fields.push('sec-websocket-protocol', PROTOCOL_MARKER)
    let client: Duplex
    const record: TunnelRecord = { status: h2 ? 200 : 101, bytesIn: 0, cause: '', closeCode: undefined }
    if (leg === undefined) {
      res.writeHead(200, fields as unknown as Record<string, string>)
      client = (res as Http2ServerResponse).stream
    } else {
      let switching = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ' + acceptFor(key) + '\r\n'
      for (let i = 0; i < fields.length; i += 2) switching += fields[i] + ': ' + fields[i + 1] + '\r\n'
      leg.socket.setTimeout(0)
      leg.socket.write(switching + '\r\n', 'latin1')
      client = leg.socket
    }
    x.tunnel = record
    const tunnel = new Tunnel(x, record, c.name, client, socket, rt.config.server.websocket.idleTimeout, tunnels, release)
    tunnel.start(leg?.head, upHead)
  })
  req.end()
}

/** No answer from the container: the failure's reason (502, 504), as any forward. */
function failed (x: Exchange, c: ContainerRuntime, rt: Runtime, res: Res, err: Error): void {
  const code = (err as { code?: string }).code
  if (res.destroyed && code === 'UPSTREAM_ABORTED') return // the client went away
  const reason = forwardFailureReason(code)
  rt.logger.warn({ requestId: x.requestId, container: c.name, code, reason }, 'upstream failure')
  reject(x, res, reason, rt.hsts)
}

/** The container answered the upgrade with something else than 101: relayed as a plain response. */
function relayAnswer (x: Exchange, c: ContainerRuntime, rt: Runtime, res: Res, answer: IncomingMessage): void {
  const status = answer.statusCode ?? 502
  if (status === 401 || status === 403) {
    x.reason = 'upstream_rejected_token'
    // The next handshake goes with a fresh token when its source can change (the key was rotated).
    if (c.tokenRefreshable) c.token.refresh().catch(() => {})
  }
  if (res.destroyed) {
    answer.destroy()
    return
  }
  writeResponseHead(res, status, without(answer.rawHeaders, ANSWER_DROP), x, rt.hsts, c.responseRules)
  answer.on('data', (chunk: Buffer) => {
    x.bytes += chunk.length
    if ((res as ServerResponse).write(chunk)) return
    answer.pause()
    res.once('drain', () => answer.resume())
  })
  answer.once('end', () => { res.end() })
  answer.once('error', () => {
    x.cut = true
    res.destroy()
  })
}

type Side = 'client' | 'upstream'

/** One open tunnel: two connections piped both ways. */
class Tunnel implements OpenTunnel {
  private readonly idle: NodeJS.Timeout
  private readonly cells: { readonly in: ByteCell, readonly out: ByteCell }
  private readonly ended = { client: false, upstream: false }
  private readonly closed = { client: false, upstream: false }
  private finished = false

  constructor (private readonly x: Exchange, private readonly record: TunnelRecord, private readonly container: string,
    private readonly client: Duplex, private readonly upstream: Socket, idleMs: number,
    private readonly tunnels: Tunnels, private readonly release: () => void) {
    this.cells = tunnels.events.counters(container)
    this.idle = setTimeout(() => { this.cut('idle') }, idleMs)
  }

  start (clientHead: Buffer | undefined, upstreamHead: Buffer): void {
    const { client, upstream } = this
    this.tunnels.add(this)
    this.tunnels.events.opened(this.container)
    upstream.setNoDelay(true)
    // Before Node's own close listeners (the response's 'close' writes the access line): the cause is known first.
    client.prependListener('close', () => { this.sideClosed('client') })
    upstream.prependListener('close', () => { this.sideClosed('upstream') })
    client.on('error', () => { this.cut('client') })
    upstream.on('error', () => { this.cut('upstream') })
    if (upstreamHead.length > 0) this.out(upstreamHead)
    if (clientHead !== undefined && clientHead.length > 0) this.in(clientHead)
    this.pipe(client, upstream, 'client')
    this.pipe(upstream, client, 'upstream')
  }

  /** The shutdown's deadline: closed now. */
  shutdown (): void {
    this.cut('shutdown')
  }

  private in (chunk: Buffer): boolean {
    this.cells.in.value += chunk.length
    this.record.bytesIn += chunk.length
    return this.upstream.write(chunk)
  }

  private out (chunk: Buffer): boolean {
    this.cells.out.value += chunk.length
    this.x.bytes += chunk.length
    return this.client.write(chunk)
  }

  private pipe (from: Duplex, to: Duplex, side: Side): void {
    const write = side === 'client' ? (c: Buffer) => this.in(c) : (c: Buffer) => this.out(c)
    const watch = new CloseWatch()
    from.on('data', (chunk: Buffer) => {
      this.idle.refresh()
      if (!watch.done) {
        watch.scan(chunk)
        if (watch.code !== undefined && this.record.closeCode === undefined) {
          // The first Close frame names who closed the WebSocket, whoever then ends the connection.
          this.record.closeCode = watch.code
          this.because(side)
        }
      }
      if (to.destroyed || to.writableEnded) return
      if (!write(chunk)) from.pause()
    })
    to.on('drain', () => { from.resume() })
    from.once('end', () => {
      // A FIN after the last byte: passed on once what is buffered for the other side is written.
      this.ended[side] = true
      this.because(side)
      if (!to.destroyed) to.end()
    })
  }

  private because (cause: string): void {
    if (this.record.cause === '') this.record.cause = cause
  }

  /** Ends both sides now. */
  private cut (cause: string): void {
    this.because(cause)
    this.client.destroy()
    this.upstream.destroy()
  }

  private sideClosed (side: Side): void {
    this.because(side)
    this.closed[side] = true
    const other = side === 'client' ? this.upstream : this.client
    if (this.closed.client && this.closed.upstream) return this.finish()
    if (!this.ended[side]) {
      other.destroy() // reset or cut: nothing more can be delivered
      return
    }
    // Closed cleanly: the other side was ended and flushes its last bytes; it gets a grace period.
    setTimeout(() => { other.destroy() }, CLOSE_GRACE_MS).unref()
  }

  private finish (): void {
    if (this.finished) return
    this.finished = true
    clearTimeout(this.idle)
    this.tunnels.delete(this)
    this.release()
    this.tunnels.events.closed(this.container, this.record.cause)
  }
}
