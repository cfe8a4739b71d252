// Request bodies on their way upstream, within the container's body limit.
import { constants as http2constants, type ServerHttp2Stream } from 'node:http2'
import { Transform, pipeline, type Readable } from 'node:stream'
import type { ReasonId } from '../errors.js'
import { UpstreamError } from './client.js'

/** A request body: none, streamed from the client, or already read whole (then it can be sent again). */
export type Body = Readable | Buffer | null

/** The request as requestBody() reads it: node:http's request, or HTTP/2's compat request. */
export interface BodySource extends Readable {
  readonly headers: Record<string, string | string[] | undefined>
  /** Present on HTTP/2 requests. */
  readonly stream?: ServerHttp2Stream
}

/** requestBody()'s answer for a chunked HTTP/1.1 body: read it whole first (readWholeBody). */
export const READ_WHOLE = Symbol('read the body whole first')

/**
 * What goes upstream as the body of request `req` (method `method`, within `limit` bytes): none
 * (null), the client's stream (counted against the limit when it has no Content-Length), READ_WHOLE
 * for a chunked HTTP/1.1 body, or the reason to refuse the request. GET and HEAD never carry a body
 * upstream (CL.0): HTTP/1 ones with a body were refused by the screen, HTTP/2 DATA is dropped.
 */
export function requestBody (method: string, req: BodySource, limit: number, requestTimeout: number): Body | ReasonId | typeof READ_WHOLE {
  const headers = req.headers
  const contentLength = headers['content-length'] as string | undefined
  const h2stream = req.stream
  const hasBody = method === 'GET' || method === 'HEAD'
    ? false
    : contentLength !== undefined
      ? contentLength !== '0'
      : h2stream !== undefined ? !h2stream.endAfterHeaders : headers['transfer-encoding'] !== undefined
  if (contentLength !== undefined && Number(contentLength) > limit) return 'payload_too_large'
  if (!hasBody) return null
  if (contentLength === undefined && h2stream === undefined) return READ_WHOLE
  if (h2stream !== undefined) requestDeadline(h2stream, req, requestTimeout)
  return contentLength === undefined ? limitBody(req, limit) : req
}

/** The request body counted on its way upstream; past `limit` bytes the forward fails (413). */
export function limitBody (req: Readable, limit: number): Readable {
  let seen = 0
  const counter = new Transform({
    transform (chunk: Buffer, _enc, cb) {
      seen += chunk.length
      if (seen > limit) cb(new UpstreamError('UPSTREAM_BODY_TOO_LARGE', 'request body over the container\'s limit'))
      else cb(null, chunk)
    }
  })
  return pipeline(req, counter, () => {})
}

/**
 * Reads a body whole, up to `limit` bytes. A chunked HTTP/1.1 body is read so before anything goes
 * upstream: Node's parser checks chunk syntax only as the chunks arrive, and a request whose body
 * turns out malformed must not have reached the upstream at all, not even its head.
 */
export function readWholeBody (req: Readable, limit: number, done: (reason: ReasonId | undefined, body: Buffer) => void): void {
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
 * `limits.requestTimeout` for an HTTP/2 request body: Node applies it to HTTP/1.1 only, so a stream
 * that trickles DATA would otherwise be bounded only by the session's idle timeout.
 */
export function requestDeadline (stream: ServerHttp2Stream, req: Readable, ms: number): void {
  const timer = setTimeout(() => {
    if (!req.readableEnded && !stream.destroyed) stream.close(http2constants.NGHTTP2_CANCEL)
  }, ms)
  const clear = (): void => clearTimeout(timer)
  req.once('end', clear)
  stream.once('close', clear)
}
