// Forwarding to one container: an undici Pool per upstream origin, TLS verified (with an optional
// extra CA), the response streamed straight into the client's response.
import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Pool } from 'undici'
import type { UpstreamConfig } from '../config/load.js'
import type { ReasonId } from '../errors.js'
import { TollgateError } from '../errors.js'

export interface UpstreamOptions {
  origin: string
  /** PEM file of an extra CA to trust for this upstream (public roots stay trusted). */
  caFile?: string
  settings: UpstreamConfig
}

export function createPool (opts: UpstreamOptions): Pool {
  const url = new URL(opts.origin)
  let ca: string[] | undefined
  if (opts.caFile !== undefined) {
    let pem: string
    try {
      pem = readFileSync(opts.caFile, 'utf8')
    } catch (err) {
      throw new TollgateError('TG_ERR_TLS', `cannot read upstream CA ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    ca = [...rootCertificates, pem]
  }
  const s = opts.settings
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

/** Maps an upstream failure to the reason the client sees (502 or 504). */
export function upstreamFailureReason (err: unknown): ReasonId {
  const code = (err as { code?: string } | null)?.code ?? ''
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'upstream_timeout'
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
