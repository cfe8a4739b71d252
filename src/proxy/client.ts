// tollgate's HTTP/1.1 client to its upstreams: a keep-alive connection pool per origin on node:net /
// node:tls, with Node's own llhttp binding (the parser behind node:http's client and server) reading
// the responses.
//
// Why not undici here: in the bench profile undici's per-request machinery (request objects, the
// WASM parser's copies, its handler layers) was the largest single cost of a forward, and this
// client does the same job for a fraction of it (figures in bench/README.md, "What was tuned";
// docs/load-testing.md, "Why tollgate has its own upstream client"). undici stays available
// (`server.upstream.client: undici`, and for pipelining), and is used automatically when this Node
// has no usable parser binding.
//
// What it does, and what it refuses:
// - one request per connection at a time (no pipelining); connections are reused LIFO, closed after
//   `keepAliveTimeout` idle (or the upstream's own `Keep-Alive: timeout=` hint, less a second);
// - upstream TLS is always verified, and no byte of a request is written before the handshake has
//   been verified;
// - the request head is written in one piece; every field value and the target are checked for
//   bytes that could split the head (CR, LF, NUL, anything above 0xFF);
// - a response byte that arrives when no request is waiting (an unsolicited or extra response), a
//   101, or anything the parser refuses ends that connection: it is never handed to another request;
// - a request whose reused connection turns out closed before any response byte arrives is sent once
//   more on a new connection, when it is idempotent and its body is not a stream;
// - timeouts: connect (DNS + TCP + TLS), response head (from the request written), body (idle time
//   between two reads once the head arrived).
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect, rootCertificates } from 'node:tls'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'

/** What the pipeline gives each upstream request (the same shape undici's dispatch handler has). */
export interface UpstreamHandler {
  onConnect (abort: (err?: Error) => void): void
  /** 2xx–5xx head (1xx are skipped). `rawHeaders` is name, value, … as received (latin1 strings). */
  onHeaders (statusCode: number, rawHeaders: string[], resume: () => void): boolean
  /** A body chunk; false pauses the upstream connection until `resume` is called. */
  onData (chunk: Buffer): boolean
  onComplete (): void
  onError (err: Error): void
}

export interface UpstreamRequest {
  method: string
  /** Path and query, as sent. */
  path: string
  /** Lower-case name, value, name, value, …; Host included. */
  headers: string[]
  body: Readable | Buffer | null
  headersTimeout: number
}

export interface Transport {
  dispatch (req: UpstreamRequest, handler: UpstreamHandler): void
  /** Finishes the requests in flight, then closes every connection. */
  close (): Promise<void>
  /** Closes every connection now; requests in flight fail. */
  destroy (): Promise<void>
}

export interface ClientOptions {
  origin: URL
  /** Extra CA (PEM) trusted besides the public roots. */
  ca?: string
  connections: number
  connectTimeout: number
  bodyTimeout: number
  keepAliveTimeout: number
  maxResponseHeaderSize: number
}

/** Failures of this client; `code` is what the logs show and what upstreamFailureReason maps. */
export class UpstreamError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'UpstreamError'
  }
}

interface ParserBinding {
  new (): NativeParser
  REQUEST: number
  RESPONSE: number
  kOnMessageBegin: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
}
interface NativeParser {
  initialize (type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute (data: Buffer): number | Error
  finish (): number | Error | undefined
  close (): void
  free (): void
  [slot: number]: unknown
}

/** Node's llhttp binding, or undefined where this Node no longer exposes it (then undici is used). */
export const nativeParser: ParserBinding | undefined = (() => {
  try {
    const mod = createRequire(import.meta.url)('_http_common') as { HTTPParser?: ParserBinding }
    const P = mod.HTTPParser
    if (typeof P !== 'function' || typeof P.kOnHeadersComplete !== 'number' || typeof P.kOnMessageBegin !== 'number') return undefined
    const probe = new P()
    probe.initialize(P.RESPONSE, {}, 1024, 0)
    let status = 0
    let body = ''
    let complete = false
    probe[P.kOnHeaders] = () => {}
    probe[P.kOnHeadersComplete] = (_ma: number, _mi: number, _h: string[], _m: unknown, _u: unknown, s: number) => { status = s; return 0 }
    probe[P.kOnBody] = (b: Buffer) => { body += b.toString('latin1') }
    probe[P.kOnMessageComplete] = () => { complete = true }
    probe[P.kOnMessageBegin] = () => {}
    const sample = Buffer.from('HTTP/1.1 203 X\r\ncontent-length: 2\r\n\r\nok')
    const r = probe.execute(sample)
    probe.close()
    return r === sample.length && status === 203 && body === 'ok' && complete ? P : undefined
  } catch {
    return undefined
  }
})()

/** Allowed in a field value: HTAB, SP–~, obs-text. Anything else (CR, LF, NUL, > 0xFF) could split the head. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
/** Allowed in the request target: visible ASCII and obs-text, no space. */
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/
/** A method is a token (RFC 9110 §5.6.2). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Methods whose request carries `content-length: 0` when there is no body (as undici and curl do). */
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH'])
/** Methods safe to send again (a re-send here, the rotation retry in the pipeline). */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])
const EMPTY: string[] = []

class Job {
  conn: Conn | undefined = undefined
  /** The upstream sent a response byte for it (so it can no longer be sent again). */
  answered = false
  /** The response head was handed to the handler. */
  headed = false
  ended = false
  retried = false
  /** The request body is still being written (the connection cannot be reused before it is done). */
  sending = false
  readonly replayable: boolean
  readonly abort: (err?: Error) => void

  constructor (readonly pool: Pool, readonly req: UpstreamRequest, readonly handler: UpstreamHandler) {
    this.replayable = !(req.body instanceof Readable) && IDEMPOTENT.has(req.method)
    this.abort = (err?: Error) => { this.fail(err ?? new UpstreamError('UPSTREAM_ABORTED', 'request aborted')) }
  }

  /** Ends the job with an error (once); its connection, if any, is closed. */
  fail (err: Error): void {
    if (this.ended) return
    this.ended = true
    const conn = this.conn
    this.conn = undefined
    if (conn !== undefined) {
      conn.job = undefined
      conn.destroy()
    } else {
      this.pool.unqueue(this)
    }
    this.pool.settled()
    try {
      this.handler.onError(err)
    } catch {}
  }
}

class Conn {
  job: Job | undefined = undefined
  readonly socket: Socket
  readonly parser: NativeParser
  ready = false
  closed = false
  served = 0
  keepAlive = true
  /** Pool sweep tick at which it went idle. */
  idleSince = 0
  private lastHint = ''
  keepAliveMs: number
  /** A message completed during the current parser.execute(); release is deferred to its end. */
  completed = false
  /** Bytes arrived that no request asked for. */
  unsolicited = false
  informational = false
  /** Field pairs the parser flushed before the head was complete (a head spread over reads). */
  partial: string[] = EMPTY
  /** The socket's inactivity timeout is on (a response body is coming in, not held back by us). */
  bodyArmed = false
  private error: Error | undefined = undefined
  private readonly connectTimer: NodeJS.Timeout
  /** The response-head timer: one per connection, re-armed per request (refresh() allocates nothing). */
  private timer: NodeJS.Timeout | undefined = undefined
  private timerMs = 0

  constructor (readonly pool: Pool) {
    const o = pool.opts
    this.keepAliveMs = o.keepAliveTimeout
    const P = nativeParser as ParserBinding
    const parser = this.parser = new P()
    parser.initialize(P.RESPONSE, {}, o.maxResponseHeaderSize, 0)
    parser[P.kOnMessageBegin] = () => {
      if (this.job === undefined || this.completed) this.unsolicited = true
    }
    parser[P.kOnHeaders] = (fields: string[]) => {
      this.partial = this.partial === EMPTY ? fields.slice() : this.partial.concat(fields)
    }
    parser[P.kOnHeadersComplete] = (_maj: number, _min: number, fields: string[] | undefined, _m: unknown, _u: unknown,
      status: number, _msg: unknown, upgrade: boolean, shouldKeepAlive: boolean): number => this.onHead(fields, status, upgrade, shouldKeepAlive)
    parser[P.kOnBody] = (chunk: Buffer) => { this.onBody(chunk) }
    parser[P.kOnMessageComplete] = () => { this.onMessageComplete() }

    const url = o.origin
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    if (url.protocol === 'https:') {
      const s = tlsConnect({
        host,
        port: Number(url.port === '' ? 443 : url.port),
        // Verified, always: this connection carries the container's IAM secret key.
        rejectUnauthorized: true,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ['http/1.1'],
        ...(o.ca !== undefined ? { ca: [...rootCertificates, o.ca] } : {}),
        ...(pool.session !== undefined ? { session: pool.session } : {})
      })
      s.on('session', (session: Buffer) => { pool.session = session })
      // 'secureConnect' comes only once the certificate and name were verified: nothing is written before.
      s.once('secureConnect', () => { this.onReady() })
      this.socket = s
    } else {
      this.socket = netConnect({ host, port: Number(url.port === '' ? 80 : url.port) })
      this.socket.once('connect', () => { this.onReady() })
    }
    const socket = this.socket
    socket.setNoDelay(true)
    this.connectTimer = setTimeout(() => {
      if (!this.ready) this.destroy(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `connect to ${url.host} timed out`))
    }, o.connectTimeout)
    socket.on('timeout', () => { this.onBodyTimeout() })
    socket.on('data', (d: Buffer) => { this.onData(d) })
    socket.on('end', () => { this.onEnd() })
    socket.on('error', (err: Error) => { this.error ??= err })
    socket.on('close', () => { this.onClose() })
  }

  private onReady (): void {
    this.ready = true
    clearTimeout(this.connectTimer)
    this.pool.connected(this)
  }

  /** Writes the job's request: the head in one write, then the body. */
  send (job: Job): void {
    this.job = job
    job.conn = this
    const { method, path, headers, body } = job.req
    if (BAD_TARGET.test(path) || !METHOD.test(method)) return job.fail(new UpstreamError('UPSTREAM_BAD_REQUEST', 'invalid request line'))
    let head = method + ' ' + path + ' HTTP/1.1\r\n'
    let length = -1
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]
      const value = headers[i + 1]
      if (BAD_VALUE.test(value)) return job.fail(new UpstreamError('UPSTREAM_BAD_REQUEST', `invalid value for header ${name}`))
      if (name.length === 14 && name === 'content-length') {
        if (body === null || Buffer.isBuffer(body)) continue
        length = Number(value)
      }
      head += name + ': ' + value + '\r\n'
    }
    this.armHeadersTimer(job.req.headersTimeout)
    const socket = this.socket
    if (body === null) {
      socket.write(EXPECTS_BODY.has(method) ? head + 'content-length: 0\r\n\r\n' : head + '\r\n', 'latin1')
    } else if (Buffer.isBuffer(body)) {
      socket.cork()
      socket.write(head + 'content-length: ' + String(body.length) + '\r\n\r\n', 'latin1')
      socket.write(body)
      socket.uncork()
    } else {
      socket.write(length < 0 ? head + 'transfer-encoding: chunked\r\n\r\n' : head + '\r\n', 'latin1')
      this.stream(job, body, length)
    }
  }

  /** Streams a request body with backpressure; fixed length (checked) or chunked. */
  private stream (job: Job, body: Readable, length: number): void {
    const socket = this.socket
    let sent = 0
    job.sending = true
    const onDrain = (): void => { body.resume() }
    const cleanup = (): void => {
      job.sending = false
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
      socket.off('drain', onDrain)
      socket.off('close', cleanup)
    }
    const onData = (chunk: Buffer): void => {
      if (job.ended || this.job !== job) return cleanup()
      sent += chunk.length
      if (length >= 0 && sent > length) {
        cleanup()
        return job.fail(new UpstreamError('UPSTREAM_REQ_CONTENT_LENGTH_MISMATCH', 'request body longer than its content-length'))
      }
      let ok: boolean
      if (length < 0) {
        // All three parts of the chunk, whatever the first write says: the framing must stay whole.
        socket.cork()
        socket.write(chunk.length.toString(16) + '\r\n')
        socket.write(chunk)
        ok = socket.write('\r\n')
        socket.uncork()
      } else {
        ok = socket.write(chunk)
      }
      if (!ok) body.pause()
    }
    const onEnd = (): void => {
      cleanup()
      if (job.ended || this.job !== job) return
      if (length >= 0 && sent !== length) return job.fail(new UpstreamError('UPSTREAM_REQ_CONTENT_LENGTH_MISMATCH', 'request body shorter than its content-length'))
      if (length < 0) socket.write('0\r\n\r\n')
    }
    const onError = (err: Error): void => {
      cleanup()
      job.fail(err)
    }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('error', onError)
    socket.on('drain', onDrain)
    socket.once('close', cleanup)
  }

  /** Arms the head timer from now: refresh() restarts it (no allocation); a new duration needs a new timer. */
  private armHeadersTimer (ms: number): void {
    if (this.timer !== undefined && this.timerMs === ms) {
      this.timer.refresh()
      return
    }
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.onHeadersTimer() }, ms)
    this.timer.unref()
    this.timerMs = ms
  }

  /** The head timer fired: `ms` passed since the request in flight was written (it re-armed the timer). */
  private onHeadersTimer (): void {
    const job = this.job
    if (job === undefined || job.ended || job.headed) return
    job.fail(new UpstreamError('UPSTREAM_HEADERS_TIMEOUT', 'no response head in time'))
  }

  private onBodyTimeout (): void {
    const job = this.job
    if (this.bodyArmed && job !== undefined && !job.ended) job.fail(new UpstreamError('UPSTREAM_BODY_TIMEOUT', 'response body stalled'))
  }

  /** The body's idle timer runs while the body is coming in, not while the client holds it back. */
  private armBody (on: boolean): void {
    if (this.bodyArmed === on) return
    this.bodyArmed = on
    this.socket.setTimeout(on ? this.pool.opts.bodyTimeout : 0)
  }

  private onData (d: Buffer): void {
    if (this.job === undefined) {
      // Nobody asked: an unsolicited response, or bytes after the end of the last one.
      this.destroy()
      return
    }
    this.job.answered = true
    const r = this.parser.execute(d)
    if (r instanceof Error) {
      const job = this.job
      if (job !== undefined) job.fail(new UpstreamError((r as Error & { code?: string }).code ?? 'HPE_INVALID', 'upstream response not understood: ' + r.message))
      this.destroy()
      return
    }
    if (this.unsolicited) {
      // Bytes beyond the end of the response: that connection cannot be trusted with another request.
      this.keepAlive = false
      this.unsolicited = false
    }
    if (this.completed) {
      this.completed = false
      this.release()
      return
    }
    const job = this.job
    // A body still coming: the socket's inactivity timeout watches it (unless paused for the client).
    if (job !== undefined && job.headed && !job.ended && !this.socket.isPaused()) this.armBody(true)
  }

  private onHead (fields: string[] | undefined, status: number, upgrade: boolean, shouldKeepAlive: boolean): number {
    const job = this.job
    let raw = fields ?? EMPTY
    if (this.partial !== EMPTY) {
      raw = fields === undefined ? this.partial : this.partial.concat(fields)
      this.partial = EMPTY
    }
    if (job === undefined || job.ended || this.unsolicited) return 1
    if (status < 200) {
      if (status === 101 || upgrade) {
        job.fail(new UpstreamError('UPSTREAM_BAD_RESPONSE', 'unexpected 101 Switching Protocols'))
        return 1
      }
      this.informational = true // 100, 102, 103: skipped; the final response follows
      return 1
    }
    this.keepAlive = shouldKeepAlive
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]
      if (name.length === 10 && name.toLowerCase() === 'keep-alive') this.keepAliveHint(raw[i + 1])
    }
    job.headed = true
    // This response's own resume: a client response that drains after its exchange ended must not
    // un-pause the connection for the next request on it.
    const resume = (): void => { if (this.job === job && !job.ended) this.resume() }
    try {
      job.handler.onHeaders(status, raw, resume)
    } catch (err) {
      job.fail(err as Error)
      return 1
    }
    return job.req.method === 'HEAD' ? 1 : 0
  }

  /** `Keep-Alive: timeout=N` from the upstream: close idle connections a second before it does. */
  private keepAliveHint (value: string): void {
    if (value === this.lastHint) return // an upstream sends the same one on every response
    this.lastHint = value
    const m = /timeout\s*=\s*(\d+)/i.exec(value)
    if (m !== null) this.keepAliveMs = Math.min(this.pool.opts.keepAliveTimeout, Math.max(0, Number(m[1]) * 1000 - 1000))
  }

  private resume (): void {
    if (this.closed) return
    this.socket.resume()
    const job = this.job
    if (job !== undefined && job.headed && !job.ended) this.armBody(true)
  }

  private onBody (chunk: Buffer): void {
    const job = this.job
    if (job === undefined || job.ended) return
    let more: boolean
    try {
      more = job.handler.onData(chunk)
    } catch (err) {
      job.fail(err as Error)
      return
    }
    if (!more) {
      this.socket.pause()
      this.armBody(false)
    }
  }

  private onMessageComplete (): void {
    if (this.informational) {
      this.informational = false
      return
    }
    const job = this.job
    if (job === undefined || job.ended) return
    job.ended = true
    this.completed = true
    this.served++
    this.pool.settled()
    try {
      job.handler.onComplete()
    } catch {}
  }

  /** After a complete response: back to the pool, or closed when it cannot carry another request. */
  release (): void {
    const job = this.job
    this.job = undefined
    if (job !== undefined) job.conn = undefined
    this.armBody(false)
    // The last chunk may have filled the client's response: the connection was paused for it and
    // no 'drain' will come once that response ended.
    if (this.socket.isPaused()) this.socket.resume()
    // A request body still going out (the upstream answered early): that connection is done.
    if (job?.sending === true || !this.keepAlive || this.closed || this.keepAliveMs <= 0) {
      this.destroy()
      return
    }
    this.pool.idle(this)
  }

  private onEnd (): void {
    const job = this.job
    if (job !== undefined && !job.ended && job.headed) {
      // A body delimited by the end of the connection ends here (or was cut short: the parser says).
      const r = this.parser.finish()
      if (r instanceof Error) job.fail(new UpstreamError('UPSTREAM_CLOSED', 'upstream closed the connection mid-response'))
    }
    this.destroy()
  }

  private onClose (): void {
    this.closed = true
    clearTimeout(this.connectTimer)
    if (this.timer !== undefined) clearTimeout(this.timer)
    try { this.parser.close() } catch {}
    const job = this.job
    this.job = undefined
    const err = this.error
    const failure = err instanceof UpstreamError
      ? err
      : new UpstreamError((err as NodeJS.ErrnoException | undefined)?.code ?? 'UPSTREAM_CLOSED', err !== undefined ? err.message : 'upstream closed the connection')
    if (job !== undefined && !job.ended) {
      job.conn = undefined
      if (!job.answered && this.served > 0 && job.replayable && !job.retried) {
        // A reused connection the upstream had closed meanwhile: send once more on a new one.
        job.retried = true
        this.pool.requeue(job)
      } else {
        job.fail(failure)
      }
    }
    this.pool.closed(this, this.ready ? undefined : failure)
  }

  destroy (err?: Error): void {
    if (err !== undefined) this.error ??= err
    if (!this.closed) this.socket.destroy()
  }
}

class Pool implements Transport {
  private readonly free: Conn[] = []
  private readonly queue: Job[] = []
  private readonly conns = new Set<Conn>()
  private inflight = 0
  private closing = false
  private drained: (() => void) | undefined
  private readonly sweeper: NodeJS.Timeout
  session: Buffer | undefined = undefined
  private tick = 0

  constructor (readonly opts: ClientOptions) {
    const every = Math.max(25, Math.min(1000, Math.floor(opts.keepAliveTimeout / 4)))
    this.sweeper = setInterval(() => { this.sweep(every) }, every)
    this.sweeper.unref()
  }

  dispatch (req: UpstreamRequest, handler: UpstreamHandler): void {
    const job = new Job(this, req, handler)
    this.inflight++
    handler.onConnect(job.abort)
    if (job.ended) return
    if (this.closing) return job.fail(new UpstreamError('UPSTREAM_CLOSED', 'client closed'))
    this.assign(job)
  }

  private assign (job: Job): void {
    let conn = this.free.pop()
    while (conn !== undefined && conn.closed) conn = this.free.pop()
    if (conn !== undefined) return conn.send(job)
    this.queue.push(job)
    if (this.conns.size < this.opts.connections) this.conns.add(new Conn(this))
  }

  /** Back to the head of the queue (a new connection is opened for it when the old one is counted out). */
  requeue (job: Job): void {
    this.queue.unshift(job)
  }

  unqueue (job: Job): void {
    const i = this.queue.indexOf(job)
    if (i >= 0) this.queue.splice(i, 1)
  }

  /** A new connection is ready: it takes the oldest waiting request, or waits idle. */
  connected (conn: Conn): void {
    const job = this.queue.shift()
    if (job !== undefined) conn.send(job)
    else this.idle(conn)
  }

  idle (conn: Conn): void {
    const job = this.queue.shift()
    if (job !== undefined) return conn.send(job)
    if (this.closing) return conn.destroy()
    conn.idleSince = this.tick
    this.free.push(conn)
  }

  /** A connection closed; `connectFailure` when it never got connected (refused, DNS, TLS, timeout). */
  closed (conn: Conn, connectFailure?: Error): void {
    this.conns.delete(conn)
    const i = this.free.indexOf(conn)
    if (i >= 0) this.free.splice(i, 1)
    // A failed connect fails the oldest waiting request (each request gets one connect attempt,
    // never an endless loop against a dead upstream).
    if (connectFailure !== undefined) this.queue[0]?.fail(connectFailure)
    // Requests still waiting get a new connection in its place.
    if (this.queue.length > 0 && !this.closing && this.conns.size < this.opts.connections) this.conns.add(new Conn(this))
  }

  /** One request finished (completed or failed). */
  settled (): void {
    this.inflight--
    if (this.inflight === 0 && this.closing) this.finish()
  }

  /**
   * Closes idle connections near their keep-alive limit, oldest first (the free list is LIFO, so
   * its head is the longest idle). Idle time is counted in sweeps (no clock read per request): a
   * connection goes between keepAliveMs − 2 sweeps and keepAliveMs − 1 sweep after it went idle.
   */
  private sweep (every: number): void {
    const now = ++this.tick
    while (this.free.length > 0) {
      const c = this.free[0]
      if ((now - c.idleSince) * every < c.keepAliveMs - every && !c.closed) break
      this.free.shift()
      c.destroy()
    }
  }

  private finish (): void {
    clearInterval(this.sweeper)
    for (const c of this.free) c.destroy()
    this.free.length = 0
    this.drained?.()
  }

  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    if (this.inflight === 0) { this.finish(); return }
    await new Promise<void>((resolve) => { this.drained = resolve })
  }

  async destroy (): Promise<void> {
    this.closing = true
    for (const job of this.queue.splice(0)) job.fail(new UpstreamError('UPSTREAM_CLOSED', 'client destroyed'))
    for (const c of this.conns) c.destroy(new UpstreamError('UPSTREAM_CLOSED', 'client destroyed'))
    this.finish()
  }
}

/** A pool of HTTP/1.1 connections to one origin (http: or https:). Needs `nativeParser`. */
export function createClient (opts: ClientOptions): Transport {
  if (nativeParser === undefined) throw new Error('Node\'s HTTP parser binding is not available')
  return new Pool(opts)
}
