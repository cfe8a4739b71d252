// Who is asking: the one trusted client IP (socket peer, or X-Forwarded-For walked right to left
// through trusted proxies). The step itself is in identify.ts.
import { ipMatcher, normalizeIp } from '../ip/index.js'

// The IP reading is the ip room's (one parser for identity and policy); re-exported for identify.ts.
export { ipMatcher, normalizeIp }
export type IpMatcher = ReturnType<typeof ipMatcher>

/**
 * The client IP for a request from `peer` (already normalised). Only when the peer is a trusted
 * proxy is X-Forwarded-For read: walked right to left, the first address that is not trusted is the
 * client. An entry that is not an IP stops the walk (the nearest trusted hop is then the client).
 */
export function clientIp (peer: string, peerTrusted: boolean, xff: string | string[] | undefined, trusted: IpMatcher): string {
  if (!peerTrusted || xff === undefined) return peer
  const list = Array.isArray(xff) ? xff.join(',') : xff
  let candidate = peer
  let end = list.length
  while (end > 0) {
    const comma = list.lastIndexOf(',', end - 1)
    const entry = list.slice(comma + 1, end).trim()
    end = comma < 0 ? 0 : comma
    if (entry === '') continue
    const ip = normalizeIp(entry)
    if (ip === null) return candidate
    if (!trusted(ip)) return ip
    candidate = ip
  }
  return candidate
}
