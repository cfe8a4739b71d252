// The forward step: the request (head from the screen and inject steps, body within the
// container's limit) goes to the container's transport, and the response streams straight back
// into the client's, with backpressure (a full client response pauses the upstream connection).
// An upstream 401/403 to an idempotent, body-less request whose token source can change makes the
// token refresh once and the request go once more (the container's key was rotated).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { Readable } from 'node:stream'
import { forwardFailureReason } from '../errors.js'
import type { Exchange } from '../exchange.js'
import type { Runtime, ContainerRuntime } from '../runtime.js'
import { reject } from '../reject.js'
import { IDEMPOTENT, type UpstreamHandler } from './client.js'
import { limitBody, readWholeBody, requestDeadline, type Body } from './body.js'
import { writeResponseHead } from './response.js'

type Req = IncomingMessage | Http2ServerRequest
type Res = ServerResponse | Http2ServerResponse

export function forward (x: Exchange, c: ContainerRuntime, rt: Runtime, req: Req, res: Res): void {
  const headers = req.headers
  const contentLength = headers['content-length']
  const h2stream = (req as Http2ServerRequest).stream
  // GET and HEAD never carry a body upstream (CL.0): HTTP/1 ones with a body were refused, HTTP/2 DATA is dropped.
  const hasBody = x.method === 'GET' || x.method === 'HEAD'
    ? false
    : contentLength !== undefined
      ? contentLength !== '0'
      : h2stream !== undefined ? !h2stream.endAfterHeaders : headers['transfer-encoding'] !== undefined
  if (contentLength !== undefined && Number(contentLength) > c.bodyLimit) return reject(x, res, 'payload_too_large', rt.hsts)
  if (!hasBody) return dispatch(x, c, rt, res, null, 0)
  if (contentLength === undefined && h2stream === undefined) {
    return readWholeBody(req, c.bodyLimit, (reason, body) => {
      if (reason !== undefined) return reject(x, res, reason, rt.hsts)
      dispatch(x, c, rt, res, body, 0)
    })
  }
  if (h2stream !== undefined) requestDeadline(h2stream, req, rt.config.server.limits.requestTimeout)
  dispatch(x, c, rt, res, contentLength === undefined ? limitBody(req, c.bodyLimit) : req as Readable, 0)
}

function dispatch (x: Exchange, c: ContainerRuntime, rt: Runtime, res: Res, body: Body, attempt: number): void {
  const retryable = attempt === 0 && !(body instanceof Readable) && IDEMPOTENT.has(x.method) && c.tokenRefreshable
  x.upstreamStart = performance.now()
  const handler = new UpstreamExchange(rt, res, x, c, body, retryable)
  x.upstream = handler
  c.upstream.dispatch({
    path: x.upstreamPath + x.query,
    method: x.method,
    headers: x.upstreamHeaders,
    body,
    headersTimeout: c.timeout
  }, handler)
}

/** One upstream request: the head goes through writeResponseHead, the body straight into `res`. */
class UpstreamExchange implements UpstreamHandler {
  private abort: ((err?: Error) => void) | undefined
  private resume: (() => void) | undefined
  /** The upstream refused the token (401/403) and the token can be refreshed: discard, refresh, send again. */
  private retry = false
  private cancelled = false

  constructor (private readonly rt: Runtime, private readonly res: Res, private readonly x: Exchange,
    private readonly c: ContainerRuntime, private readonly body: Body, private readonly retryable: boolean) {}

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
    if (statusCode === 401 || statusCode === 403) {
      if (this.retryable) {
        this.retry = true
        return true
      }
      // The container refused the request that carried its token: the operator must hear of it.
      x.reason = 'upstream_rejected_token'
    }
    this.resume = resume
    writeResponseHead(this.res, statusCode, rawHeaders, x, this.rt.hsts, this.c.responseRules)
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.retry) return true
    const res = this.res
    if (res.destroyed) return true // the client went away: cancel() aborts this request
    this.x.bytes += chunk.length
    if ((res as ServerResponse).write(chunk)) return true
    res.once('drain', this.resume as () => void)
    return false
  }

  onComplete (): void {
    const { rt, res, x, c, body } = this
    if (x.upstream === this) x.upstream = undefined
    if (!this.retry) {
      res.end()
      return
    }
    // Sent with a token that has been refreshed since (another request of the same burst saw the
    // rotation first): retry with the current one, no second fetch from the secret's source.
    const headers = x.upstreamHeaders
    const current = c.token.value()
    if (headers[x.tokenAt] !== current) {
      x.rotated = true
      headers[x.tokenAt] = current
      dispatch(x, c, rt, res, body, 1)
      return
    }
    c.token.refresh().then((changed) => {
      if (changed) x.rotated = true
      headers[x.tokenAt] = c.token.value()
      dispatch(x, c, rt, res, body, 1)
    }, () => dispatch(x, c, rt, res, body, 1))
  }

  onError (err: Error): void {
    const { rt, res, x, c } = this
    if (x.upstream === this) x.upstream = undefined
    if (x.upstreamEnd === 0) x.upstreamEnd = performance.now()
    const code = (err as { code?: string }).code
    if (res.destroyed && code === 'UPSTREAM_ABORTED') return // the client went away
    const reason = forwardFailureReason(code)
    if (reason !== 'payload_too_large') rt.logger.warn({ requestId: x.requestId, container: c.name, code, reason }, 'upstream failure')
    if (res.headersSent) {
      // The body had started: cut the stream so the client sees a truncated response, not a lie.
      // HTTP/2 needs the error: a bare destroy() ends the stream cleanly (RST_STREAM NO_ERROR).
      x.reason = reason
      x.cut = true
      res.destroy((res as Http2ServerResponse).stream !== undefined ? err : undefined)
      return
    }
    reject(x, res, reason, rt.hsts)
  }
}
