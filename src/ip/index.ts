// IP addresses, one reading for every room: identity (the client IP, trusted proxies) and policy
// (inIpRange) both use this module, so the same text is the same address everywhere.
//
// - IPv4 is the four-part dotted decimal only, no leading zeros ("127.1", "0x7f.1", "010.0.0.1" are
//   not addresses: proxies, browsers and libraries disagree on them).
// - IPv6 is read by ipaddr.js (the parser of record), without zone ids. IPv4-mapped IPv6
//   (::ffff:a.b.c.d, in either notation) is the IPv4 address. IPv4-compatible IPv6 (::a.b.c.d,
//   deprecated by RFC 4291) is the IPv6 address it spells, as its hex form ::c633:6407 is:
//   ipaddr.js 2.5 reads the dotted form as mapped, so that one reading is corrected here.
// - A set of CIDRs is built once at load: IPv4 as sorted, merged ranges searched by bisection
//   (≤ 14 probes for 10,000 ranges), IPv6 as one hash set per prefix length in use. The request
//   path parses a dotted-quad IPv4 by hand (a few characters; test/ip.test.ts holds it to
//   ipaddr.js) and caches the words of the IPv6 addresses it has seen.
import ipaddr from 'ipaddr.js'

/** An IPv4 address as an unsigned 32-bit number, or an IPv6 address as four 32-bit words. */
export type IpAddr = number | readonly [number, number, number, number]

/** Parses dotted-quad IPv4 from s[from, to); returns -1 when malformed. */
function parseV4 (s: string, from: number, to: number): number {
  let value = 0
  let parts = 0
  let i = from
  while (i < to) {
    let n = 0
    let digits = 0
    const start = i
    while (i < to) {
      const c = s.charCodeAt(i)
      if (c < 48 || c > 57) break
      n = n * 10 + (c - 48)
      digits++
      i++
    }
    if (digits === 0 || digits > 3 || n > 255 || (digits > 1 && s.charCodeAt(start) === 48)) return -1
    value = value * 256 + n
    parts++
    if (i === to) break
    if (s.charCodeAt(i) !== 46 || parts === 4) return -1
    i++
    if (i === to) return -1
  }
  return parts === 4 ? value : -1
}

/** IPv6 text (no zone id) as eight 16-bit groups, read by ipaddr.js; undefined when malformed. */
function parseV6Groups (s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45 || s.includes('%')) return undefined
  let parts: number[]
  try { parts = ipaddr.IPv6.parse(s).parts } catch { return undefined }
  const dot = s.indexOf('.')
  if (dot === -1) return parts.slice()
  // An embedded IPv4 tail: held to the strict dotted quad, and the groups before it re-read
  // without it (ipaddr.js turns "::a.b.c.d" into "::ffff:a.b.c.d").
  const colon = s.lastIndexOf(':')
  const v4 = parseV4(s, colon + 1, s.length)
  if (v4 < 0 || colon > dot) return undefined
  const head = ipaddr.IPv6.parse(`${s.slice(0, colon + 1)}0:0`).parts
  return [...head.slice(0, 6), Math.floor(v4 / 65536), v4 % 65536]
}

function isV4Mapped (g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff
}

// IPv6 addresses seen on the request path, as words (bounded; cleared when full).
const v6Words = new Map<string, IpAddr | undefined>()

/** Parses an IP address; undefined when malformed. IPv4-mapped IPv6 comes back as IPv4. */
export function parseIp (s: string): IpAddr | undefined {
  if (s.indexOf(':') === -1) {
    const v4 = parseV4(s, 0, s.length)
    return v4 < 0 ? undefined : v4
  }
  return parseV6(s)
}

// IPv6 text, read by ipaddr.js once per distinct address (cached; bounded, cleared when full).
function parseV6 (s: string): IpAddr | undefined {
  if (v6Words.has(s)) return v6Words.get(s)
  const g = parseV6Groups(s)
  const a: IpAddr | undefined = g === undefined
    ? undefined
    : isV4Mapped(g) ? g[6] * 65536 + g[7] : [g[0] * 65536 + g[1], g[2] * 65536 + g[3], g[4] * 65536 + g[5], g[6] * 65536 + g[7]]
  if (v6Words.size >= 4096) v6Words.clear()
  v6Words.set(s, a)
  return a
}

/**
 * The address as tollgate reports it (request.ip, logs, X-Forwarded-For): IPv4-mapped IPv6 as
 * IPv4, other IPv6 in its canonical compressed form; null when `s` is not an address.
 */
export function normalizeIp (s: string): string | null {
  if (s.indexOf(':') === -1) return parseV4(s, 0, s.length) < 0 ? null : s
  const g = parseV6Groups(s)
  if (g === undefined) return null
  if (isV4Mapped(g)) return `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`
  return new ipaddr.IPv6(g).toString()
}

export interface Cidr {
  /** For IPv4: first and last address of the range. */
  v4?: { first: number, last: number }
  /** For IPv6: the masked address and prefix length. */
  v6?: { words: [number, number, number, number], bits: number }
  text: string
}

function maskWord (w: number, bits: number): number {
  if (bits >= 32) return w
  if (bits <= 0) return 0
  return (w & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0
}

/**
 * Parses `ADDR/BITS` (a bare address means a single host). Host bits past the prefix are ignored,
 * as ipaddr.js and Go do. An IPv4-mapped IPv6 prefix of at least 96 bits becomes the IPv4 prefix.
 * Throws an Error that says what is wrong.
 */
export function parseCidr (text: string): Cidr {
  const slash = text.indexOf('/')
  const addrText = slash === -1 ? text : text.slice(0, slash)
  const bitsText = slash === -1 ? undefined : text.slice(slash + 1)
  let bits: number | undefined
  if (bitsText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(bitsText)) throw new Error(`invalid CIDR "${text}": bad prefix length`)
    bits = Number(bitsText)
  }
  if (addrText.indexOf(':') === -1) {
    const v4 = parseV4(addrText, 0, addrText.length)
    if (v4 < 0) throw new Error(`invalid CIDR "${text}": bad IPv4 address`)
    const b = bits ?? 32
    if (b > 32) throw new Error(`invalid CIDR "${text}": prefix length above 32`)
    const first = maskWord(v4, b)
    return { v4: { first, last: first + 2 ** (32 - b) - 1 }, text }
  }
  const g = parseV6Groups(addrText)
  if (g === undefined) throw new Error(`invalid CIDR "${text}": bad IPv6 address`)
  const b = bits ?? 128
  if (b > 128) throw new Error(`invalid CIDR "${text}": prefix length above 128`)
  if (isV4Mapped(g) && b >= 96) {
    const first = maskWord(g[6] * 65536 + g[7], b - 96)
    return { v4: { first, last: first + 2 ** (128 - b) - 1 }, text }
  }
  const words: [number, number, number, number] = [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) words[i] = maskWord(g[2 * i] * 65536 + g[2 * i + 1], b - 32 * i)
  return { v6: { words, bits: b }, text }
}

function v6Key (w: readonly number[], bits: number): string {
  return `${maskWord(w[0], bits)}.${maskWord(w[1], bits - 32)}.${maskWord(w[2], bits - 64)}.${maskWord(w[3], bits - 96)}`
}

/** A set of CIDRs, built once; `has` costs O(log n) for IPv4 and O(distinct IPv6 prefix lengths). */
export class IpSet {
  readonly size: number
  readonly #starts: Float64Array
  readonly #ends: Float64Array
  readonly #v6: Array<{ bits: number, keys: Set<string> }>

  constructor (cidrs: readonly Cidr[]) {
    this.size = cidrs.length
    const ranges = cidrs.flatMap((c) => c.v4 !== undefined ? [[c.v4.first, c.v4.last] as const] : [])
      .sort((a, b) => a[0] - b[0])
    const starts: number[] = []
    const ends: number[] = []
    for (const [first, last] of ranges) {
      const n = ends.length
      if (n > 0 && first <= ends[n - 1] + 1) {
        if (last > ends[n - 1]) ends[n - 1] = last
      } else {
        starts.push(first)
        ends.push(last)
      }
    }
    this.#starts = Float64Array.from(starts)
    this.#ends = Float64Array.from(ends)
    const byBits = new Map<number, Set<string>>()
    for (const c of cidrs) {
      if (c.v6 === undefined) continue
      let keys = byBits.get(c.v6.bits)
      if (keys === undefined) byBits.set(c.v6.bits, keys = new Set())
      keys.add(v6Key(c.v6.words, c.v6.bits))
    }
    this.#v6 = [...byBits].sort((a, b) => a[0] - b[0]).map(([bits, keys]) => ({ bits, keys }))
  }

  has (addr: IpAddr): boolean {
    if (typeof addr === 'number') {
      const starts = this.#starts
      let lo = 0
      let hi = starts.length - 1
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1
        if (starts[mid] <= addr) lo = mid + 1
        else hi = mid - 1
      }
      return hi >= 0 && addr <= this.#ends[hi]
    }
    for (const { bits, keys } of this.#v6) {
      if (keys.has(v6Key(addr, bits))) return true
    }
    return false
  }

  hasText (ip: string): boolean {
    const a = parseIp(ip)
    return a !== undefined && this.has(a)
  }
}

/** A matcher over CIDRs or addresses (trusted proxies), built once; throws on an invalid entry. */
export function ipMatcher (cidrs: readonly string[]): (ip: string) => boolean {
  if (cidrs.length === 0) return () => false
  const set = new IpSet(cidrs.map((c) => parseCidr(c)))
  return (ip) => set.hasText(ip)
}
