// Forwarding to one container: a connection pool per upstream origin (tollgate's own HTTP/1.1
// client, or undici's Pool), TLS verified (with an optional extra CA), the response streamed straight
// into the client's response.
import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Pool, type Dispatcher } from 'undici'
import type { UpstreamConfig } from '../config/load.js'
import { createClient, nativeParser, type Transport, type UpstreamHandler, type UpstreamRequest } from './client.js'
import type { ReasonId } from '../errors.js'
import { TollgateError } from '../errors.js'

export interface UpstreamOptions {
  origin: string
  /** PEM file of an extra CA to trust for this upstream (public roots stay trusted). */
  caFile?: string
  settings: UpstreamConfig
}

/** Which client a config gets: tollgate's own unless undici is asked for (or Node lacks the parser binding). */
export function clientKind (settings: UpstreamConfig): 'tollgate' | 'undici' {
  return settings.client === 'undici' || nativeParser === undefined ? 'undici' : 'tollgate'
}

export function createTransport (opts: UpstreamOptions): Transport {
  const url = new URL(opts.origin)
  let pem: string | undefined
  if (opts.caFile !== undefined) {
    try {
      pem = readFileSync(opts.caFile, 'utf8')
    } catch (err) {
      throw new TollgateError('TG_ERR_TLS', `cannot read upstream CA ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
  }
  const s = opts.settings
  if (clientKind(s) === 'tollgate') {
    return createClient({
      origin: url,
      ca: pem,
      connections: s.connections,
      connectTimeout: s.connectTimeout,
      bodyTimeout: s.bodyTimeout,
      keepAliveTimeout: s.keepAliveTimeout,
      maxResponseHeaderSize: s.maxResponseHeaderSize
    })
  }
  return undiciTransport(undiciPool(url, pem, s))
}

function undiciPool (url: URL, pem: string | undefined, s: UpstreamConfig): Pool {
  const ca = pem !== undefined ? [...rootCertificates, pem] : undefined
  return new Pool(url.origin, {
    connections: s.connections,
    pipelining: s.pipelining,
    keepAliveTimeout: s.keepAliveTimeout,
    connectTimeout: s.connectTimeout,
    headersTimeout: s.timeout,
    bodyTimeout: s.bodyTimeout,
    maxHeaderSize: s.maxResponseHeaderSize,
    // Upstream TLS is always verified: this gateway sends an IAM secret key upstream.
    connect: url.protocol === 'https:'
      ? { rejectUnauthorized: true, servername: url.hostname, ...(ca !== undefined ? { ca } : {}) }
      : undefined
  })
}

/** undici's Pool behind the same interface: its raw header buffers become latin1 strings. */
function undiciTransport (pool: Pool): Transport {
  return {
    dispatch (req: UpstreamRequest, handler: UpstreamHandler): void {
      const h: Dispatcher.DispatchHandler = {
        onConnect: (abort) => { handler.onConnect(abort) },
        onHeaders: (status, raw, resume) => handler.onHeaders(status, (raw ?? []).map((b) => b.toString('latin1')), resume),
        onData: (chunk) => handler.onData(chunk),
        onComplete: () => { handler.onComplete() },
        onError: (err) => { handler.onError(err) }
      }
      pool.dispatch({ path: req.path, method: req.method as 'GET', headers: req.headers, body: req.body, headersTimeout: req.headersTimeout }, h)
    },
    close: async () => { await pool.close() },
    destroy: async () => { await pool.destroy() }
  }
}

/** Maps an upstream failure to the reason the client sees (502 or 504). */
export function upstreamFailureReason (err: unknown): ReasonId {
  const code = (err as { code?: string } | null)?.code ?? ''
  if (code === 'UPSTREAM_CONNECT_TIMEOUT' || code === 'UPSTREAM_HEADERS_TIMEOUT' || code === 'UPSTREAM_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'upstream_timeout'
  if (code === 'UPSTREAM_BAD_RESPONSE') return 'upstream_bad_response'
  // A header value or target that would split the request head (a token with a line break, say).
  if (code === 'UPSTREAM_BAD_REQUEST') return 'internal_error'
  // undici's HTTPParserError (garbage status line, not HTTP at all) carries no code, only its name.
  if (code.startsWith('HPE_') || (err as Error | null)?.name === 'HTTPParserError' || code === 'UND_ERR_HEADERS_OVERFLOW' ||
    code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'upstream_bad_response'
  return 'upstream_unreachable'
}

/** Response headers that describe one hop and are never relayed to the client. */
export const RESPONSE_HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'http2-settings', 'alt-svc'
])
