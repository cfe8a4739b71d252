// The pipeline: the only code that knows the order.
//
//   request → identity → route → authenticate → authorize → inject → forward → respond
//
// It runs on Node's own request/response objects (HTTP/1.1 and HTTP/2 compat alike) and holds no
// per-request state outside the request's closure: a reload swaps the Runtime, and a request keeps
// the one it started with.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants as http2constants, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2'
import type { Socket } from 'node:net'
import { Transform, pipeline, Readable } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { REASONS, type ReasonId } from './errors.js'
import type { Runtime, ContainerRuntime } from './runtime.js'
import { clientIp, cutUserAgent, normalizeIp } from './identity/index.js'
import { canonicalTarget } from './proxy/target.js'
import { RESPONSE_HOP_BY_HOP, upstreamFailureReason } from './proxy/forward.js'
import { IDEMPOTENT, type UpstreamHandler } from './proxy/client.js'
import { ANONYMOUS, type Decision, type Principal, type RequestFacts } from './policy/types.js'
import type { AuthOutcome } from './credentials/types.js'

export type Req = IncomingMessage | Http2ServerRequest
export type Res = ServerResponse | Http2ServerResponse

/** What one request did, handed to the observer (access log, decision log, metrics) when it ends. */
export interface Exchange {
  requestId: string
  start: number
  method: string
  path: string
  host: string
  ip: string
  container: string | undefined
  reason: ReasonId
  rule: string | undefined
  principal: Principal
  status: number
  bytes: number
  upstreamStart: number
  upstreamEnd: number
  /** True when the container's token was put on the upstream request. */
  injected: boolean
  /** Set when the token was refreshed after a 401/403 from the upstream. */
  rotated: boolean
  scheme: 'https' | 'http'
}

export interface Observer {
  /** Called once per request when the response is finished or the client went away. */
  done (x: Exchange): void
}

/** Request headers never sent upstream: hop-by-hop, the client's credentials, and everything we set. */
const DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'http2-settings', 'proxy-authorization', 'expect',
  'x-auth-token', 'host',
  'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port',
  'x-forwarded-prefix', 'x-real-ip', 'x-request-id'
])

const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const kPeer = Symbol('tollgate.peer')
/** Set on an HTTP/1.1 socket once a request on it was refused with close: requests pipelined behind it are never served. */
const kPoisoned = Symbol('tollgate.poisoned')
/** Early stream resets counted on an HTTP/2 session (rapid-reset guard). */
const kResets = Symbol('tollgate.resets')
/** The upstream exchange in flight for a response (aborted when the client goes away). */
const kUpstream = Symbol('tollgate.upstream')

interface PeerInfo { ip: string, trusted: boolean }

function peerOf (socket: Socket, rt: Runtime): PeerInfo {
  const cached = (socket as unknown as Record<symbol, PeerInfo | undefined>)[kPeer]
  if (cached !== undefined && rt.peerCacheGeneration === (cached as PeerInfo & { gen?: number }).gen) return cached
  const ip = normalizeIp(socket.remoteAddress ?? '') ?? '0.0.0.0'
  const info = { ip, trusted: rt.trusted(ip), gen: rt.peerCacheGeneration }
  ;(socket as unknown as Record<symbol, PeerInfo>)[kPeer] = info
  return info
}

export function createHandler (getRuntime: () => Runtime, observer: Observer, scheme: 'https' | 'http') {
  return function handle (req: Req, res: Res): void {
    const rt = getRuntime()
    const x: Exchange = {
      requestId: '',
      start: performance.now(),
      method: req.method ?? 'GET',
      path: '',
      host: '',
      ip: '',
      container: undefined,
      reason: 'internal_error',
      rule: undefined,
      principal: ANONYMOUS,
      status: 0,
      bytes: 0,
      upstreamStart: 0,
      upstreamEnd: 0,
      injected: false,
      rotated: false,
      scheme
    }
    let finished = false
    const session = (req as Http2ServerRequest).stream?.session // gone from the stream once it closes
    const finish = (): void => {
      if (finished) return
      finished = true
      if (!res.writableEnded) clientGone(rt, session, res)
      // 499 (nginx's "client closed request"): the client left before the response was complete.
      x.status = res.writableFinished ? res.statusCode : 499
      observer.done(x)
    }
    // 'close' follows 'finish' (HTTP/1.1 and HTTP/2 alike) and also comes when the client went away
    // first: one listener per request is enough.
    res.once('close', finish)
    try {
      run(rt, req, res, x)
    } catch (err) {
      rt.logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack }, requestId: x.requestId }, 'pipeline failure')
      reject(rt, res, x, 'internal_error')
    }
  }
}

/**
 * The response closed before it ended: the client went away (or reset its HTTP/2 stream). The
 * upstream request is aborted (forward leaves its handler on `res`), and on HTTP/2
 * the early reset is counted: past `limits.http2MaxResets` in 10 s the session is torn down
 * (GOAWAY ENHANCE_YOUR_CALM), the rapid-reset guard.
 */
function clientGone (rt: Runtime, session: Http2Session | undefined, res: Res): void {
  ;(res as unknown as Record<symbol, UpstreamExchange | undefined>)[kUpstream]?.cancel()
  if (session === undefined || session.destroyed) return
  const now = performance.now()
  const slot = session as unknown as Record<symbol, { n: number, since: number } | undefined>
  const r = slot[kResets] ??= { n: 0, since: now }
  if (now - r.since > 10_000) { r.n = 0; r.since = now }
  if (++r.n > rt.config.server.limits.http2MaxResets) {
    rt.logger.warn({ ip: normalizeIp(session.socket?.remoteAddress ?? ''), resets: r.n }, 'HTTP/2 rapid reset: session closed')
    // GOAWAY, then close once the open streams are done (Node 20's session.destroy() here leaves
    // the TLS socket open until the client closes it).
    session.goaway(http2constants.NGHTTP2_ENHANCE_YOUR_CALM)
    session.close()
  }
}

function run (rt: Runtime, req: Req, res: Res, x: Exchange): void {
  const socket = (req.socket ?? (req as Http2ServerRequest).stream?.session?.socket) as Socket
  if ((socket as unknown as Record<symbol, boolean>)[kPoisoned]) {
    socket.destroySoon()
    return
  }
  const peer = peerOf(socket, rt)
  const headers = req.headers

  // Request id: accepted from a trusted proxy, generated otherwise.
  const incomingId = headers['x-request-id']
  x.requestId = peer.trusted && typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID()

  // ── identity ──────────────────────────────────────────────────────────────────────────────
  x.ip = clientIp(peer.ip, peer.trusted, headers['x-forwarded-for'], rt.trusted)
  // Scheme: the listener's, unless a trusted proxy says what the client used (TLS ended at the edge).
  if (peer.trusted) {
    const xfp = headers['x-forwarded-proto']
    if (xfp === 'https' || xfp === 'http') x.scheme = xfp
  }

  // ── request target and headers: one pass, refusing what an upstream could read differently ──
  const method = x.method
  if (method === 'CONNECT' || method === 'TRACE' || method === 'TRACK') return reject(rt, res, x, 'method_not_allowed', true)
  const url = req.url ?? ''
  if (url === '*') return reject(rt, res, x, 'method_not_allowed', true)
  const target = canonicalTarget(url)
  if (target === null) return reject(rt, res, x, url.charCodeAt(0) === 47 ? 'path_not_canonical' : 'bad_request', true)
  x.path = target.path

  const raw = req.rawHeaders
  const out: string[] = []
  let hostCount = 0
  let connectionTokens: string[] | undefined
  const connection = headers.connection
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    connectionTokens = String(connection).toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== '')
  }
  if (framingRefused(req, method, connectionTokens)) return reject(rt, res, x, 'bad_request', true)
  if (raw.length > rt.maxHeaderCount * 2) return reject(rt, res, x, 'bad_request', true)
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.charCodeAt(0) === 58 /* : */) continue // HTTP/2 pseudo-header
    if (name.includes('_')) return reject(rt, res, x, 'header_underscore', true)
    const lower = name.toLowerCase()
    if (lower === 'host') { hostCount++; continue }
    if (DROP.has(lower)) continue
    if (connectionTokens !== undefined && connectionTokens.includes(lower)) continue
    out.push(lower, raw[i + 1])
  }
  if (hostCount > 1) return reject(rt, res, x, 'header_duplicate_host', true)

  // ── route ───────────────────────────────────────────────────────────────────────────────
  const hostHeader = (headers.host ?? headers[':authority']) as string | undefined
  if (hostHeader === undefined || !HOST_VALUE.test(hostHeader)) return reject(rt, res, x, 'bad_request', true)
  x.host = hostOnly(hostHeader)
  const c = rt.router.match(x.host, target.path)
  if (c === undefined) return reject(rt, res, x, 'no_route')
  x.container = c.name

  const facts: RequestFacts = {
    ip: x.ip,
    userAgent: cutUserAgent(headers['user-agent']),
    time: new Date(),
    method,
    path: target.path,
    host: x.host,
    headers
  }

  // ── authenticate ────────────────────────────────────────────────────────────────────────
  if (c.privacy === 'private') {
    const credential = extractCredential(headers)
    if (credential === null) return reject(rt, res, x, 'credential_malformed')
    if (credential === undefined) return reject(rt, res, x, 'credential_missing')
    if (rt.authenticator === undefined) return reject(rt, res, x, 'credential_unknown')
    const outcome = rt.authenticator.authenticate(credential, c.name)
    if (outcome instanceof Promise) {
      outcome.then(
        (o) => afterAuth(rt, req, res, x, c, facts, o, out, hostHeader),
        () => reject(rt, res, x, 'credential_invalid')
      )
      return
    }
    return afterAuth(rt, req, res, x, c, facts, outcome, out, hostHeader)
  }
  afterAuth(rt, req, res, x, c, facts, undefined, out, hostHeader)
}

function afterAuth (rt: Runtime, req: Req, res: Res, x: Exchange, c: ContainerRuntime, facts: RequestFacts,
  outcome: AuthOutcome | undefined, out: string[], hostHeader: string): void {
  if (outcome !== undefined) {
    if (!outcome.ok) return reject(rt, res, x, outcome.reason)
    x.principal = outcome.principal
  }
  if (res.writableEnded || res.destroyed) return

  // ── authorize ───────────────────────────────────────────────────────────────────────────
  const decision: Decision = c.policy.decide(facts, x.principal)
  x.rule = decision.rule
  x.reason = decision.reason as ReasonId
  if (!decision.allow) return reject(rt, res, x, x.reason)

  // ── inject ──────────────────────────────────────────────────────────────────────────────
  // Bearer credentials are the client's (tollgate keys / JWTs): consumed here, never forwarded.
  for (let i = 0; i < out.length; i += 2) {
    if (out[i] === 'authorization' && /^bearer\s/i.test(out[i + 1])) { out.splice(i, 2); i -= 2 }
  }
  // X-Forwarded-For carries the one trusted client IP: nothing a client wrote is passed on.
  out.push(
    'host', c.upstreamHost,
    'x-forwarded-for', x.ip,
    'x-forwarded-proto', x.scheme,
    'x-forwarded-host', hostHeader,
    'x-request-id', x.requestId,
    'x-auth-token', c.token.value()
  )
  x.injected = true

  // ── forward ─────────────────────────────────────────────────────────────────────────────
  const contentLength = req.headers['content-length']
  const h2stream = (req as Http2ServerRequest).stream
  // GET and HEAD never carry a body upstream (CL.0): HTTP/1 ones with a body were refused, HTTP/2 DATA is dropped.
  const hasBody = x.method === 'GET' || x.method === 'HEAD'
    ? false
    : contentLength !== undefined
      ? contentLength !== '0'
      : h2stream !== undefined ? !h2stream.endAfterHeaders : req.headers['transfer-encoding'] !== undefined
  if (contentLength !== undefined && Number(contentLength) > c.bodyLimit) return reject(rt, res, x, 'payload_too_large', true)
  if (!hasBody) return forward(rt, req, res, x, c, out, null, 0)
  if (contentLength === undefined && h2stream === undefined) {
    // A chunked HTTP/1.1 body is read whole (up to the body limit) before anything goes upstream:
    // Node's parser checks chunk syntax only as the chunks arrive, and a request whose body turns
    // out malformed must not have reached the upstream at all, not even its head.
    return readWholeBody(req, c.bodyLimit, (reason, body) => {
      if (reason !== undefined) return reject(rt, res, x, reason, true)
      forward(rt, req, res, x, c, out, body, 0)
    })
  }
  if (h2stream !== undefined) requestDeadline(h2stream, req, rt.config.server.limits.requestTimeout)
  forward(rt, req, res, x, c, out, contentLength === undefined ? limitBody(req, c.bodyLimit) : req, 0)
}

/**
 * `limits.requestTimeout` for an HTTP/2 request body: Node applies it to HTTP/1.1 only, so a stream
 * that trickles DATA would otherwise be bounded only by the session's idle timeout.
 */
function requestDeadline (stream: ServerHttp2Stream, req: Req, ms: number): void {
  const timer = setTimeout(() => {
    if (!req.readableEnded && !stream.destroyed) stream.close(http2constants.NGHTTP2_CANCEL)
  }, ms)
  const clear = (): void => clearTimeout(timer)
  req.once('end', clear)
  stream.once('close', clear)
}

/** A request body: none, streamed from the client, or already read whole (then it can be sent again). */
type Body = Readable | Buffer | null

function forward (rt: Runtime, req: Req, res: Res, x: Exchange, c: ContainerRuntime, headers: string[], body: Body, attempt: number): void {
  const retryable = attempt === 0 && !(body instanceof Readable) && IDEMPOTENT.has(x.method) && c.tokenRefreshable
  x.upstreamStart = performance.now()
  const handler = new UpstreamExchange(rt, req, res, x, c, headers, body, retryable)
  ;(res as unknown as Record<symbol, UpstreamExchange | undefined>)[kUpstream] = handler
  c.upstream.dispatch({
    path: x.path + queryOf(req.url ?? ''),
    method: x.method,
    headers,
    body,
    headersTimeout: c.timeout
  }, handler)
}

/**
 * One upstream request: the response head goes through writeHead and the body straight into the
 * client's response, with backpressure (a full `res` pauses the upstream socket until it drains).
 */
class UpstreamExchange implements UpstreamHandler {
  private abort: ((err?: Error) => void) | undefined
  private resume: (() => void) | undefined
  /** The upstream refused the token (401/403) and the token can be refreshed: discard, refresh, send again. */
  private retry = false
  private cancelled = false

  constructor (private readonly rt: Runtime, private readonly req: Req, private readonly res: Res, private readonly x: Exchange,
    private readonly c: ContainerRuntime, private readonly headers: string[], private readonly body: Body,
    private readonly retryable: boolean) {}

  /** The client went away before the response ended. */
  cancel (): void {
    this.cancelled = true
    this.abort?.()
  }

  onConnect (abort: (err?: Error) => void): void {
    this.abort = abort
    if (this.cancelled) abort()
  }

  onHeaders (statusCode: number, rawHeaders: string[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx: informational, not relayed
    const x = this.x
    x.upstreamEnd = performance.now()
    if (this.retryable && (statusCode === 401 || statusCode === 403)) {
      this.retry = true
      return true
    }
    this.resume = resume
    writeHead(this.rt, this.res, statusCode, rawHeaders, x)
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.retry) return true
    const res = this.res
    if (res.destroyed) return true // the client went away: cancel() aborts this request
    if ((res as ServerResponse).write(chunk)) return true
    res.once('drain', this.resume as () => void)
    return false
  }

  onComplete (): void {
    const { rt, req, res, x, c, headers, body } = this
    detach(res, this)
    if (!this.retry) {
      res.end()
      return
    }
    // Sent with a token that has been refreshed since (another request of the same burst saw the
    // rotation first): retry with the current one, no second fetch from the secret's source.
    const current = c.token.value()
    if (headers[headers.length - 1] !== current) {
      x.rotated = true
      headers[headers.length - 1] = current
      forward(rt, req, res, x, c, headers, body, 1)
      return
    }
    c.token.refresh().then((changed) => {
      if (changed) x.rotated = true
      headers[headers.length - 1] = c.token.value()
      forward(rt, req, res, x, c, headers, body, 1)
    }, () => forward(rt, req, res, x, c, headers, body, 1))
  }

  onError (err: Error): void {
    const { rt, res, x, c } = this
    detach(res, this)
    if (x.upstreamEnd === 0) x.upstreamEnd = performance.now()
    const code = (err as { code?: string }).code
    if (res.destroyed && code === 'UPSTREAM_ABORTED') return // the client went away
    if (res.headersSent) {
      // The body had started: cut the stream so the client sees a truncated response, not a lie.
      // HTTP/2 needs the error: a bare destroy() ends the stream cleanly (RST_STREAM NO_ERROR).
      res.destroy((res as Http2ServerResponse).stream !== undefined ? err : undefined)
      return
    }
    const reason = code === 'UPSTREAM_REQ_CONTENT_LENGTH_MISMATCH' || err.message === 'payload_too_large'
      ? 'payload_too_large'
      : upstreamFailureReason(err)
    if (reason !== 'payload_too_large') rt.logger.warn({ requestId: x.requestId, container: c.name, code, reason }, 'upstream failure')
    reject(rt, res, x, reason, reason === 'payload_too_large')
  }
}

/**
 * Framing that Node's parser accepts but an upstream could read differently (docs/security.md,
 * smuggling matrix): Transfer-Encoding other than exactly `chunked` (`cow, chunked`, duplicates),
 * Transfer-Encoding on HTTP/1.0 (Node ignores it and parses the body as the next request), a body
 * on GET or HEAD (CL.0), a Content-Length with leading zeros, an HTTP/1 version other than 1.0 and
 * 1.1, an Expect other than `100-continue`, a framing header named in Connection.
 */
function framingRefused (req: Req, method: string, connectionTokens: string[] | undefined): boolean {
  const headers = req.headers
  const te = headers['transfer-encoding']
  const cl = headers['content-length']
  const expect = headers.expect
  const noBody = method === 'GET' || method === 'HEAD'
  if ((req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) && (req as Http2ServerRequest).stream === undefined) return true
  if (te !== undefined && (te.length !== 7 || te.toLowerCase() !== 'chunked' || req.httpVersionMinor === 0 || noBody)) return true
  if (cl !== undefined && ((cl.length > 1 && cl.charCodeAt(0) === 48) || (noBody && cl !== '0'))) return true
  if (expect !== undefined && (expect.length !== 12 || expect.toLowerCase() !== '100-continue')) return true
  return connectionTokens !== undefined &&
    (connectionTokens.includes('content-length') || connectionTokens.includes('transfer-encoding') || connectionTokens.includes('host'))
}

function queryOf (url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? '' : url.slice(q)
}

function detach (res: Res, handler: UpstreamExchange): void {
  const slot = res as unknown as Record<symbol, UpstreamExchange | undefined>
  if (slot[kUpstream] === handler) slot[kUpstream] = undefined
}

/**
 * The upstream's response head, without hop-by-hop fields and those its Connection names, as one
 * flat name/value list (no header object is built; repeated fields stay repeated). The names a
 * Connection field lists (beyond the usual keep-alive / close) are read first. x-request-id and,
 * on HTTPS, Strict-Transport-Security are the gateway's own: the upstream's are not relayed.
 */
function writeHead (rt: Runtime, res: Res, status: number, raw: string[], x: Exchange): void {
  let listed: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toLowerCase() !== 'connection') continue
    const v = raw[i + 1].toLowerCase()
    if (v !== 'keep-alive' && v !== 'close') (listed ??= []).push(...v.split(',').map((t) => t.trim()))
  }
  const hsts = x.scheme === 'https' ? rt.hsts : undefined
  const out: string[] = []
  x.bytes = 0
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase()
    if (RESPONSE_HOP_BY_HOP.has(k) || (listed !== undefined && listed.includes(k))) continue
    if (k === 'x-request-id' || (hsts !== undefined && k === 'strict-transport-security')) continue
    if (k === 'content-length') x.bytes = Number(raw[i + 1])
    out.push(k, raw[i + 1])
  }
  if (hsts !== undefined) out.push('strict-transport-security', hsts)
  out.push('x-request-id', x.requestId)
  res.writeHead(status, out as unknown as Record<string, string>)
}

/** The request body; without a Content-Length, counted on the way and failed past `limit` bytes. */
function limitBody (req: Req, limit: number): Readable {
  let seen = 0
  const counter = new Transform({
    transform (chunk: Buffer, _enc, cb) {
      seen += chunk.length
      if (seen > limit) cb(new Error('payload_too_large'))
      else cb(null, chunk)
    }
  })
  return pipeline(req, counter, () => {})
}

/** Reads a body whole, up to `limit` bytes; a parser error or an early close ends it unforwarded. */
function readWholeBody (req: Req, limit: number, done: (reason: ReasonId | undefined, body: Buffer) => void): void {
  const chunks: Buffer[] = []
  let seen = 0
  let over = false
  const onData = (chunk: Buffer): void => {
    seen += chunk.length
    if (seen > limit) {
      over = true
      req.off('data', onData)
      req.resume()
      finish('payload_too_large')
    } else chunks.push(chunk)
  }
  let called = false
  const finish = (reason: ReasonId | undefined): void => {
    if (called) return
    called = true
    done(reason, reason === undefined ? Buffer.concat(chunks) : Buffer.alloc(0))
  }
  req.on('data', onData)
  req.once('end', () => { if (!over) finish(undefined) })
  req.once('error', () => finish('bad_request'))
  req.once('close', () => { if (!req.readableEnded) finish('bad_request') })
}

/**
 * The client credential: X-Auth-Token (as Scaleway container tokens were sent) or
 * `Authorization: Bearer`. undefined when absent; null when ambiguous (several different values).
 */
export function extractCredential (headers: Req['headers']): string | undefined | null {
  const xat = headers['x-auth-token']
  const auth = headers.authorization
  let bearer: string | undefined
  if (typeof auth === 'string') {
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)
    if (m !== null) bearer = m[1]
  }
  if (xat === undefined) return bearer
  const value = Array.isArray(xat) ? undefined : String(xat).trim()
  if (value === undefined || value === '' || value.includes(',')) return null
  if (bearer !== undefined && bearer !== value) return null
  return value
}

function hostOnly (host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']')
    return host.slice(0, end + 1).toLowerCase()
  }
  const colon = host.indexOf(':')
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase()
}

/** Answers with the reason's status and JSON body. `close` also ends the connection (HTTP/1.1). */
export function reject (rt: Runtime, res: Res, x: Exchange, reason: ReasonId, close = false): void {
  x.reason = reason
  if (res.headersSent || res.writableEnded || res.destroyed) return
  const spec = REASONS[reason]
  const body = JSON.stringify({ error: spec.error, reason, requestId: x.requestId })
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': x.requestId
  }
  if (spec.status === 401) headers['www-authenticate'] = `Bearer realm="tollgate", error="invalid_token", error_description="${reason}"`
  if (x.scheme === 'https' && rt.hsts !== undefined) headers['strict-transport-security'] = rt.hsts
  if (close && (res as ServerResponse).shouldKeepAlive !== undefined) {
    // HTTP/1.1: answer, then close; anything pipelined behind this request is dropped unserved.
    headers.connection = 'close'
    const socket = (res as ServerResponse).socket
    if (socket != null) {
      (socket as unknown as Record<symbol, boolean>)[kPoisoned] = true
      res.once('finish', () => socket.destroySoon())
    }
  }
  x.bytes = Buffer.byteLength(body)
  res.writeHead(spec.status, headers)
  res.end(body)
}
