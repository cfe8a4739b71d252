// The forward step: the request (head from the screen and inject steps, body within the
// container's limit) goes to the container's transport, and the response streams straight back
// into the client's, with backpressure (a full client response pauses the upstream connection).
// An upstream 401/403 to an idempotent, body-less request whose token source can change makes the
// token refresh once and the request go once more (the container's key was rotated). A WebSocket
// upgrade the websocket step accepted goes to its tunnel instead (src/websocket/tunnel.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { Readable } from 'node:stream'
import { forwardFailureReason, type ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import type { Runtime, ContainerRuntime, Upstream } from '../runtime.js'
import type { Logger } from '../observability/logger.js'
import { reject } from '../reject.js'
import { IDEMPOTENT, type UpstreamHandler } from './client.js'
import { READ_WHOLE, readWholeBody, requestBody, type Body } from './body.js'
import { writeResponseHead } from './response.js'
import { openTunnel } from '../websocket/tunnel.js'

type Req = IncomingMessage | Http2ServerRequest
type Res = ServerResponse | Http2ServerResponse

export function forward (x: Exchange, c: ContainerRuntime, rt: Runtime, req: Req, res: Res): void {
  if (x.websocket) return openTunnel(x, c, rt, res)
  const body = requestBody(x.method, req, c.bodyLimit, rt.config.server.limits.requestTimeout)
  if (body === READ_WHOLE) {
    return readWholeBody(req, c.bodyLimit, (reason, whole) => {
      if (reason !== undefined) return reject(x, res, reason, rt.hsts)
      dispatch(x, c, rt, res, whole, 0)
    })
  }
  if (typeof body === 'string') return reject(x, res, body, rt.hsts)
  dispatch(x, c, rt, res, body, 0)
}

/**
 * Whether a request may go once more, with the container's token refreshed, after the upstream
 * answered 401 or 403: the first attempt of an idempotent request whose body (if any) was read
 * whole, to a container whose token source can change.
 */
export function tokenRetryable (x: Exchange, c: ContainerRuntime<Upstream>, body: Body, attempt: number): boolean {
  return attempt === 0 && !(body instanceof Readable) && IDEMPOTENT.has(x.method) && c.tokenRefreshable
}

/**
 * An upstream answer's status, for a request that carried the container's token: true when it is
 * a 401/403 to retry (see tokenRetryable); a 401/403 that is relayed is recorded as
 * upstream_rejected_token (the operator must hear of it).
 */
export function tokenRefused (x: Exchange, status: number, retryable: boolean): boolean {
  if (status !== 401 && status !== 403) return false
  if (retryable) return true
  x.reason = 'upstream_rejected_token'
  return false
}

/**
 * Puts the container's current token on the request before it goes again. When the one it was
 * sent with is still current, the token is refreshed from its source first (coalesced: one fetch
 * for a burst); when another request of the burst already saw the rotation, no second fetch.
 */
export async function renewToken (x: Exchange, c: ContainerRuntime<Upstream>): Promise<void> {
  const headers = x.upstreamHeaders
  const current = c.token.value()
  if (headers[x.tokenAt] !== current) {
    x.rotated = true
    headers[x.tokenAt] = current
    return
  }
  try {
    if (await c.token.refresh()) x.rotated = true
  } catch {}
  headers[x.tokenAt] = c.token.value()
}

/** A forward that failed: the reason to answer with (502, 504, 413…), logged as the operator needs it. */
export function upstreamFailed (x: Exchange, c: ContainerRuntime<Upstream>, logger: Logger, code: string | undefined): ReasonId {
  if (x.upstreamEnd === 0) x.upstreamEnd = performance.now()
  const reason = forwardFailureReason(code)
  if (reason !== 'payload_too_large') logger.warn({ requestId: x.requestId, container: c.name, code, reason }, 'upstream failure')
  return reason
}

function dispatch (x: Exchange, c: ContainerRuntime, rt: Runtime, res: Res, body: Body, attempt: number): void {
  const retryable = tokenRetryable(x, c, body, attempt)
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
    if (tokenRefused(x, statusCode, this.retryable)) {
      this.retry = true
      return true
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
    renewToken(x, c).then(() => dispatch(x, c, rt, res, body, 1), () => {})
  }

  onError (err: Error): void {
    const { rt, res, x, c } = this
    if (x.upstream === this) x.upstream = undefined
    const code = (err as { code?: string }).code
    if (res.destroyed && code === 'UPSTREAM_ABORTED') {
      if (x.upstreamEnd === 0) x.upstreamEnd = performance.now()
      return // the client went away
    }
    const reason = upstreamFailed(x, c, rt.logger, code)
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
