// The request target, canonicalised once. The policy decides on exactly the path that is sent
// upstream, so anything an upstream could read differently from us is refused, not "fixed":
// encoded "/", "\", ";" or NUL, control characters, dot segments (plain or encoded), empty segments
// ("//"), ";" parameters, backslashes, "#", invalid or overlong UTF-8 escapes, lone surrogates.
// What has one obvious meaning gets one spelling: percent-encoded unreserved characters are
// decoded (`/%61dmin` → `/admin`), other escapes are upper-cased (`%c3%a9` → `%C3%A9`), and
// characters a URI may not carry raw but that mean nothing to a path (`"<>^`{|}`, non-ASCII from
// HTTP/2) are percent-encoded as UTF-8. The result is idempotent: canonicalTarget(path) === path.

/** One path segment of canonical characters (RFC 3986 pchar without ";" and "%"), not "." nor "..". */
const SEGMENT = String.raw`(?!\.\.?(?:/|$))[A-Za-z0-9\-._~!$&'()*+,=:@]+`
/** The common case, checked in one pass: already canonical, nothing to do. */
const CANONICAL = new RegExp(`^/(?:${SEGMENT}/)*(?:${SEGMENT})?$`)
/** The same once escapes are allowed (the slow path's result must match it). */
const SEGMENT_PCT = String.raw`(?!\.\.?(?:/|$))(?:[A-Za-z0-9\-._~!$&'()*+,=:@]|%[0-9A-F]{2})+`
const CANONICAL_PCT = new RegExp(`^/(?:${SEGMENT_PCT}/)*(?:${SEGMENT_PCT})?$`)
/** Query strings are forwarded as they came, printable ASCII only (no "#"). */
const QUERY_BAD = /[^\x21-\x22\x24-\x7e]/

const HEX = '0123456789ABCDEF'

export interface Target {
  /** Canonical path (what conditions see and what is sent upstream). */
  path: string
  /** Query string including the leading "?", or ''. Forwarded unchanged. */
  query: string
}

/** Returns the canonical target, or null when the target must be refused (400 path_not_canonical). */
export function canonicalTarget (url: string): Target | null {
  if (url.charCodeAt(0) !== 47 /* / */) return null
  const q = url.indexOf('?')
  let path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q)
  if (query !== '' && QUERY_BAD.test(query.slice(1))) return null
  if (!CANONICAL.test(path)) {
    const fixed = canonicalSlow(path)
    if (fixed === null) return null
    path = fixed
  }
  return { path, query }
}

/** Character classes for the slow path. */
const enum Kind { Keep, Encode, Refuse }

function kindOf (code: number): Kind {
  if (code < 0x21 || code === 0x7f || code === 0x23 /* # */ || code === 0x3b /* ; */ || code === 0x5c /* \ */) return Kind.Refuse
  // " < > ^ ` { | }
  if (code === 0x22 || code === 0x3c || code === 0x3e || code === 0x5e || code === 0x60 || code === 0x7b || code === 0x7c || code === 0x7d) return Kind.Encode
  return code < 0x80 ? Kind.Keep : Kind.Encode
}

function isUnreserved (code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) ||
    code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

function canonicalSlow (path: string): string | null {
  let out = ''
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i)
    if (code === 0x25 /* % */) {
      const hi = hexValue(path.charCodeAt(i + 1))
      const lo = hexValue(path.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return null
      const byte = hi * 16 + lo
      // An encoded "/", "\", ";", NUL or control character is refused: an upstream may decode it.
      if (byte === 0x2f || byte === 0x5c || byte === 0x3b || byte < 0x20 || byte === 0x7f) return null
      out += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[hi] + HEX[lo]
      i += 2
      continue
    }
    const kind = kindOf(code)
    if (kind === Kind.Refuse) return null
    if (kind === Kind.Keep) { out += path[i]; continue }
    // Percent-encode as UTF-8 (a whole surrogate pair at once; a lone surrogate is refused).
    const wide = code >= 0xd800 && code <= 0xdbff
    try {
      out += encodeURIComponent(wide ? path.slice(i, i + 2) : path[i])
    } catch {
      return null
    }
    if (wide) i++
  }
  // Escapes must be valid UTF-8 (this refuses overlong forms such as %C0%AE and encoded surrogates).
  try { decodeURIComponent(out) } catch { return null }
  // No empty segments ("//") and no dot segments, once decoded.
  return CANONICAL_PCT.test(out) ? out : null
}
