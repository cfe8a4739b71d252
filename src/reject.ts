// tollgate's own answers: a reason id (src/errors.ts) rendered as its status and a JSON body
// `{"error","reason","requestId"}`, never a condition's text, a token or a credential; an `empty`
// reason (a CORS preflight) as its status alone. The exchange's answer fields (CORS, RateLimit,
// Retry-After) go on every one of them.
import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { REASONS, type ReasonId, type ReasonSpec } from './errors.js'
import type { Exchange } from './exchange.js'
import { refuseConnection } from './server/guards.js'

export interface RenderedReason {
  status: number
  headers: Record<string, string | number>
  body: string
}

/** The answer for `reason`: status, headers (HSTS when `hsts` is given) and body. */
export function renderReason (reason: ReasonId, requestId: string, hsts: string | undefined): RenderedReason {
  const spec: ReasonSpec = REASONS[reason]
  if (spec.empty === true) {
    const headers: Record<string, string | number> = { 'x-request-id': requestId }
    if (hsts !== undefined) headers['strict-transport-security'] = hsts
    return { status: spec.status, headers, body: '' }
  }
  const body = JSON.stringify({ error: spec.error, reason, requestId })
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId
  }
  if (spec.status === 401) headers['www-authenticate'] = `Bearer realm="tollgate", error="invalid_token", error_description="${reason}"`
  if (hsts !== undefined) headers['strict-transport-security'] = hsts
  return { status: spec.status, headers, body }
}

/**
 * Answers with the reason (unless an answer has begun or the client is gone). A reason marked
 * `close` also ends an HTTP/1.1 connection: anything pipelined behind the request is dropped unserved.
 */
export function reject (x: Exchange, res: ServerResponse | Http2ServerResponse, reason: ReasonId, hsts: string | undefined): void {
  x.reason = reason
  if (res.headersSent || res.writableEnded || res.destroyed) return
  const r = renderReason(reason, x.requestId, x.scheme === 'https' ? hsts : undefined)
  const http1 = res as ServerResponse
  if ((REASONS[reason] as { close?: true }).close === true && http1.shouldKeepAlive !== undefined) {
    r.headers.connection = 'close'
    const socket = http1.socket
    if (socket != null) {
      refuseConnection(socket)
      res.once('finish', () => socket.destroySoon())
    }
  }
  const extra = x.answerHeaders
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) r.headers[extra[i]] = extra[i + 1]
  x.bytes = r.body.length
  res.writeHead(r.status, r.headers)
  res.end(r.body)
}
