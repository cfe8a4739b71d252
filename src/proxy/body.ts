// Request bodies on their way upstream, within the container's body limit.
import { constants as http2constants, type ServerHttp2Stream } from 'node:http2'
import { Transform, pipeline, type Readable } from 'node:stream'
import type { ReasonId } from '../errors.js'
import { UpstreamError } from './client.js'

/** A request body: none, streamed from the client, or already read whole (then it can be sent again). */
export type Body = Readable | Buffer | null

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
