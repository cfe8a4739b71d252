// The request as it came, screened before anything is decided: the method and target
// (canonicalised once: conditions see exactly the path that is sent upstream), the framing, the
// header fields (one pass that also builds the upstream's head, without hop-by-hop fields, the
// client's credential headers and what tollgate sets itself), and the Host. Anything an upstream
// could read differently from tollgate is refused, never "fixed". `tollgate policy test` runs the
// same functions on the request it is given.
import type { ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import { canonicalTarget } from './target.js'
import { REQUEST_DROP, connectionTokens } from './hop-by-hop.js'
import { mayCarryCredential, splitProtocols } from '../websocket/handshake.js'

/** What the screen reads of a request: node:http's IncomingMessage and HTTP/2's compat request both fit. */
export interface RequestHead {
  readonly method?: string
  readonly url?: string
  readonly headers: Record<string, string | string[] | undefined>
  readonly rawHeaders: string[]
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  /** Present on HTTP/2 requests. */
  readonly stream?: unknown
}

const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/
/** An absolute-form target (RFC 9112 §3.2.2): scheme, authority, then the path and query. */
const ABSOLUTE = /^https?:\/\/([^/?#]*)/i

/**
 * The method and request target. TRACE, TRACK, CONNECT and `OPTIONS *` are refused (405). An
 * absolute-form target (`GET https://host/path`) is accepted as RFC 9112 §3.2.2 says a server must:
 * its authority takes the place of Host (readHost); the path is canonicalised as any other.
 */
export function readTarget (x: Exchange, url: string): ReasonId | undefined {
  const method = x.method
  if (method === 'CONNECT' || method === 'TRACE' || method === 'TRACK' || url === '*') return 'method_not_allowed'
  let path = url
  if (url.charCodeAt(0) !== 47 /* / */) {
    const m = ABSOLUTE.exec(url)
    if (m === null) return 'bad_request'
    x.targetAuthority = m[1]
    path = url.slice(m[0].length)
    if (path === '' || path.charCodeAt(0) === 63 /* ? */) path = '/' + path
    else if (path.charCodeAt(0) !== 47) return 'bad_request'
  }
  const target = canonicalTarget(path)
  if (target === null) return 'path_not_canonical'
  x.path = target.path
  x.query = target.query
  return undefined
}

/**
 * Framing and header fields, in one pass that fills `x.upstreamHeaders`. Refused (400): framing
 * Node's parser accepts but an upstream could read differently (docs/security.md, smuggling
 * matrix), more than `maxHeaderCount` fields, a field name with "_", more than one Host. A
 * `tollgate.bearer.…` WebSocket subprotocol is taken out of Sec-WebSocket-Protocol into
 * `x.protocolCredential` (a browser's credential: consumed, never forwarded), with `tollgate`.
 */
export function screenHeaders (x: Exchange, req: RequestHead, maxHeaderCount: number): ReasonId | undefined {
  const listed = connectionTokens(req.headers.connection)
  if (framingRefused(req, x.method, listed)) return 'bad_request'
  const raw = req.rawHeaders
  if (raw.length > maxHeaderCount * 2) return 'bad_request'
  const out = x.upstreamHeaders
  let hostCount = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.charCodeAt(0) === 58 /* : */) continue // HTTP/2 pseudo-header
    if (name.includes('_')) return 'header_underscore'
    const lower = name.toLowerCase()
    if (lower === 'host') { hostCount++; continue }
    if (REQUEST_DROP.has(lower)) continue
    if (listed !== undefined && listed.includes(lower)) continue
    const value = raw[i + 1]
    if (lower === 'sec-websocket-protocol' && mayCarryCredential(value)) {
      const { kept, credentials, marker } = splitProtocols(value)
      for (const c of credentials) x.protocolCredential = x.protocolCredential === undefined ? c : null
      if (marker) x.protocolMarker = true
      if (kept.length > 0) out.push(lower, kept.join(', '))
      continue
    }
    out.push(lower, value)
  }
  return hostCount > 1 ? 'header_duplicate_host' : undefined
}

/**
 * Transfer-Encoding other than exactly `chunked` (`cow, chunked`, duplicates), Transfer-Encoding
 * on HTTP/1.0 (Node ignores it and parses the body as the next request), a body on GET or HEAD
 * (CL.0), a Content-Length with leading zeros, an HTTP/1 version other than 1.0 and 1.1, an Expect
 * other than `100-continue`, a framing header named in Connection.
 */
function framingRefused (req: RequestHead, method: string, listed: string[] | undefined): boolean {
  const headers = req.headers
  const te = headers['transfer-encoding'] as string | undefined
  const cl = headers['content-length'] as string | undefined
  const expect = headers.expect as string | undefined
  const noBody = method === 'GET' || method === 'HEAD'
  if ((req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) && req.stream === undefined) return true
  if (te !== undefined && (te.length !== 7 || te.toLowerCase() !== 'chunked' || req.httpVersionMinor === 0 || noBody)) return true
  if (cl !== undefined && ((cl.length > 1 && cl.charCodeAt(0) === 48) || (noBody && cl !== '0'))) return true
  if (expect !== undefined && (expect.length !== 12 || expect.toLowerCase() !== '100-continue')) return true
  return listed !== undefined && (listed.includes('content-length') || listed.includes('transfer-encoding') || listed.includes('host'))
}

/**
 * The authority asked for: the Host field (`:authority` on HTTP/2), or an absolute-form target's,
 * which a Host field must then equal (RFC 9112 §3.2: a client sends them identical; two different
 * hosts in one request is how routing confusion starts). `x.host` is its host part, lower-case,
 * without port or a trailing dot (`internal.example.com.` names `internal.example.com`).
 */
export function readHost (x: Exchange, hostField: string | undefined): ReasonId | undefined {
  let authority = hostField
  const target = x.targetAuthority
  if (target !== undefined) {
    if (hostField !== undefined && hostField.toLowerCase() !== target.toLowerCase()) return 'header_duplicate_host'
    authority = target
  }
  if (authority === undefined || !HOST_VALUE.test(authority)) return 'bad_request'
  x.authority = authority
  x.host = hostOf(authority)
  return undefined
}

/** The host part of a valid authority: lower-case, no port, no trailing dot; IPv6 literals keep their brackets. */
function hostOf (authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) return authority.slice(0, authority.indexOf(']') + 1).toLowerCase()
  const colon = authority.indexOf(':')
  let end = colon < 0 ? authority.length : colon
  if (end > 1 && authority.charCodeAt(end - 1) === 46 /* . */) end--
  return (end === authority.length ? authority : authority.slice(0, end)).toLowerCase()
}
