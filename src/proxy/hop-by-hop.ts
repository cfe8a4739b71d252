// The header fields that describe one hop (RFC 9110 §7.6.1) and are never passed on, in either
// direction, plus the names a message's own Connection field lists.

/** Hop-by-hop fields, both directions. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings']

/**
 * Request fields never sent upstream: hop-by-hop, the client's credentials, and every field
 * tollgate sets itself (Host, Forwarded / X-Forwarded-*, X-Real-IP, X-Request-Id, X-Auth-Token).
 */
export const REQUEST_DROP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP, 'proxy-authorization', 'expect',
  'x-auth-token', 'host',
  'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port',
  'x-forwarded-prefix', 'x-real-ip', 'x-request-id'
])

/**
 * Framing and hop-by-hop fields, and the proxy-* ones: what says where a message ends or what one
 * hop means. A config header rule may never set or remove one (src/proxy/header-rules.ts).
 */
export const FRAMING: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length', 'expect', 'proxy-authorization', 'proxy-authenticate'])

/** Response fields never relayed to the client: hop-by-hop, and what only the upstream's own hop means. */
export const RESPONSE_DROP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'proxy-authenticate', 'alt-svc'])

/**
 * The field names a Connection value lists (lower-case), beyond the usual `keep-alive` and
 * `close`; undefined when it lists nothing else.
 */
export function connectionTokens (value: string | string[] | undefined): string[] | undefined {
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined
  const tokens = String(value).toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== '')
  return tokens.length > 0 ? tokens : undefined
}
