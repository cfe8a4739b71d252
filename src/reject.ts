// tollgate's own answers: a reason id (src/errors.ts) rendered as its status and a JSON body
// `{"error","reason","requestId"}`, never a condition's text, a token or a credential; an `empty`
// reason (a CORS preflight) as its status alone. The exchange's answer fields (CORS, RateLimit,
// Retry-After) go on every one of them.
import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { REASONS, type ReasonId, type ReasonSpec } from './errors.js'
import type { Socket } from 'node:net'
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

/** The response a refusal is written to: node:http's and HTTP/2's compat response both fit. */
export interface RefusedResponse {
  /** Only on HTTP/1.x responses. */
  readonly shouldKeepAlive?: boolean
  readonly socket?: Socket | null
  once (event: 'finish', listener: () => void): unknown
}

/**
 * The answer to a refused request, recorded on the exchange, with the exchange's answer fields
 * (CORS, RateLimit, Retry-After). A reason marked `close` also ends an HTTP/1.1 connection: the
 * answer says `Connection: close`, and anything pipelined behind the request is dropped unserved.
 * The caller writes it (reject() below, or the Fastify plugin's reply).
 */
export function rejection (x: Exchange, res: RefusedResponse, reason: ReasonId, hsts: string | undefined): RenderedReason {
  x.reason = reason
  const r = renderReason(reason, x.requestId, x.scheme === 'https' ? hsts : undefined)
  if ((REASONS[reason] as { close?: true }).close === true && res.shouldKeepAlive !== undefined) {
    r.headers.connection = 'close'
    const socket = res.socket
    if (socket != null) {
      refuseConnection(socket)
      res.once('finish', () => socket.destroySoon())
    }
  }
  const extra = x.answerHeaders
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) r.headers[extra[i]] = extra[i + 1]
  x.bytes = r.body.length
  return r
}

/** Answers with the reason (unless an answer has begun or the client is gone). */
export function reject (x: Exchange, res: ServerResponse | Http2ServerResponse, reason: ReasonId, hsts: string | undefined): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    x.reason = reason
    return
  }
  const r = rejection(x, res as ServerResponse, reason, hsts)
  res.writeHead(r.status, r.headers)
  res.end(r.body)
}
