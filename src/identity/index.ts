// Who is asking: the one trusted client IP (socket peer, or X-Forwarded-For walked right to left
// through trusted proxies). The step itself is in identify.ts.
import ipaddr from 'ipaddr.js'
import { parseCidrOrIp } from '../config/load.js'
import { IpSet, parseCidr, parseIp, type Cidr } from '../policy/ip.js'

/** Reports IPv4-mapped IPv6 as IPv4 and IPv6 in its canonical (RFC 5952) form; null when not an IP. */
export function normalizeIp (s: string): string | null {
  // Only the four-part decimal form is an IPv4 address here ("127.1", "0x7f.1" are refused).
  if (s.indexOf(':') === -1) return typeof parseIp(s) === 'number' ? s : null
  if (s.startsWith('::ffff:') && s.indexOf(':', 7) === -1) return typeof parseIp(s.slice(7)) === 'number' ? s.slice(7) : null
  try {
    const a = ipaddr.parse(s)
    if (a.kind() === 'ipv6') {
      const v6 = a as ipaddr.IPv6
      if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString()
      return v6.toString()
    }
    return null
  } catch {
    return null
  }
}

export interface IpMatcher {
  (ip: string): boolean
}

/**
 * Builds a matcher over a list of CIDRs or addresses (parsed once, at load). Called with addresses
 * normalizeIp returned; they are looked up in the policy engine's IpSet (integer ranges, no parse
 * through ipaddr.js on the request path). The rare entry only ipaddr.js reads (an IPv4 written with
 * leading zeros, say) is matched the old way.
 */
export function ipMatcher (cidrs: readonly string[]): IpMatcher {
  const fast: Cidr[] = []
  const rest: string[] = []
  for (const c of cidrs) {
    try { fast.push(parseCidr(c)) } catch { rest.push(c) }
  }
  const set = new IpSet(fast)
  const slow = rest.length > 0 ? ipaddrMatcher(rest) : undefined
  if (fast.length === 0 && slow === undefined) return () => false
  return (ip: string) => {
    const a = parseIp(ip)
    if (a !== undefined && set.has(a)) return true
    return slow !== undefined && slow(ip)
  }
}

function ipaddrMatcher (cidrs: readonly string[]): IpMatcher {
  const v4: Array<[ipaddr.IPv4, number]> = []
  const v6: Array<[ipaddr.IPv6, number]> = []
  for (const c of cidrs) {
    const [addr, bits] = parseCidrOrIp(c)
    if (addr.kind() === 'ipv4') v4.push([addr as ipaddr.IPv4, bits])
    else if ((addr as ipaddr.IPv6).isIPv4MappedAddress()) v4.push([(addr as ipaddr.IPv6).toIPv4Address(), Math.max(0, bits - 96)])
    else v6.push([addr as ipaddr.IPv6, bits])
  }
  if (v4.length === 0 && v6.length === 0) return () => false
  return (ip: string) => {
    let a: ipaddr.IPv4 | ipaddr.IPv6
    try { a = ipaddr.parse(ip) } catch { return false }
    if (a.kind() === 'ipv4') return v4.some(([r, b]) => (a as ipaddr.IPv4).match(r, b))
    return v6.some(([r, b]) => (a as ipaddr.IPv6).match(r, b))
  }
}

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
