// The transport to one container: a connection pool per upstream origin (tollgate's own HTTP/1.1
// client, or undici's Pool behind the same interface), TLS verified (with an optional extra CA).
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { rootCertificates } from 'node:tls'
import { Pool, type Dispatcher } from 'undici'
import type { UpstreamConfig } from '../config/load.js'
import { createClient, nativeParser, UpstreamError, type Transport, type UpstreamHandler, type UpstreamRequest } from './client.js'
import { TollgateError, errnoCode } from '../errors.js'

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
  const pem = readCa(opts.caFile)
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

/**
 * An undici Pool to one upstream origin with the same settings and the same TLS verification (and
 * extra CA) as the transport's: what the Fastify plugin hands @fastify/reply-from, whose own undici
 * options would not verify the upstream's certificate.
 */
export function createUpstreamPool (opts: UpstreamOptions): Pool {
  return undiciPool(new URL(opts.origin), readCa(opts.caFile), opts.settings)
}

/** The PEM of a container's `upstreamCa` (trusted besides the public roots), read at load. */
export function readCa (caFile: string | undefined): string | undefined {
  if (caFile === undefined) return undefined
  try {
    return readFileSync(caFile, 'utf8')
  } catch (err) {
    throw new TollgateError('TG_ERR_TLS', `cannot read upstream CA ${caFile}: ${errnoCode(err)}`)
  }
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
      // SNI carries a host name only (RFC 6066): an IP address upstream is verified without it.
      ? { rejectUnauthorized: true, ...(isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: url.hostname } : {}), ...(ca !== undefined ? { ca } : {}) }
      : undefined
  })
}

/** undici's failure codes in the own client's vocabulary, so the rest of tollgate knows one set. */
const FROM_UNDICI: Record<string, string> = {
  UND_ERR_ABORTED: 'UPSTREAM_ABORTED',
  UND_ERR_CONNECT_TIMEOUT: 'UPSTREAM_CONNECT_TIMEOUT',
  UND_ERR_HEADERS_TIMEOUT: 'UPSTREAM_HEADERS_TIMEOUT',
  UND_ERR_BODY_TIMEOUT: 'UPSTREAM_BODY_TIMEOUT',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'UPSTREAM_REQ_CONTENT_LENGTH_MISMATCH',
  UND_ERR_HEADERS_OVERFLOW: 'UPSTREAM_BAD_RESPONSE',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'UPSTREAM_BAD_RESPONSE',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'UPSTREAM_BAD_RESPONSE',
  // A header value undici refuses (a token with a line break, say): the request was never sent.
  UND_ERR_INVALID_ARG: 'UPSTREAM_BAD_REQUEST'
}

/** The code of an undici failure in the vocabulary of src/errors.ts's FORWARD_FAILURES (a system error keeps its own). */
export function upstreamFailureCode (err: Error): string | undefined {
  return (fromUndici(err) as { code?: string }).code
}

function fromUndici (err: Error): Error {
  // undici's HTTPParserError (garbage status line, not HTTP at all) carries no code, only its name.
  if (err.name === 'HTTPParserError') return new UpstreamError('UPSTREAM_BAD_RESPONSE', err.message)
  const code = FROM_UNDICI[(err as { code?: string }).code ?? '']
  return code === undefined ? err : new UpstreamError(code, err.message)
}

/** undici's Pool behind the same interface: raw header buffers become latin1 strings, errors get the own client's codes. */
function undiciTransport (pool: Pool): Transport {
  return {
    dispatch (req: UpstreamRequest, handler: UpstreamHandler): void {
      const h: Dispatcher.DispatchHandler = {
        onConnect: (abort) => { handler.onConnect(abort) },
        onHeaders: (status, raw, resume) => handler.onHeaders(status, (raw ?? []).map((b) => b.toString('latin1')), resume),
        onData: (chunk) => handler.onData(chunk),
        onComplete: () => { handler.onComplete() },
        onError: (err) => { handler.onError(fromUndici(err)) }
      }
      pool.dispatch({ path: req.path, method: req.method as 'GET', headers: req.headers, body: req.body, headersTimeout: req.headersTimeout }, h)
    },
    close: async () => { await pool.close() },
    destroy: async () => { await pool.destroy() }
  }
}
