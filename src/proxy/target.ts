// The request target, canonicalised once. The policy decides on exactly the path that is sent
// upstream, so anything an upstream could read differently from us is refused, not "fixed":
// encoded "/", "\" or NUL, dot segments (plain or encoded), "//", ";" parameters, backslashes,
// invalid or overlong UTF-8 escapes. Percent-encoded unreserved characters are decoded
// (`/%61dmin` → `/admin`) and other escapes are upper-cased, so one resource has one spelling.

const UNRESERVED = /[A-Za-z0-9\-._~]/
const SUSPECT = /[%\\;]|\/\/|\/\.\.?(?:\/|$)/

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
  if (path.includes('#') || query.includes('#')) return null
  if (SUSPECT.test(path)) {
    const fixed = canonicalSlow(path)
    if (fixed === null) return null
    path = fixed
  }
  return { path, query }
}

function canonicalSlow (path: string): string | null {
  if (path.includes('\\') || path.includes(';')) return null
  let out = ''
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]
    if (ch !== '%') { out += ch; continue }
    const hex = path.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null
    const code = parseInt(hex, 16)
    const c = String.fromCharCode(code)
    if (code < 0x80 && UNRESERVED.test(c)) out += c
    else if (code === 0x2f || code === 0x5c || code === 0x00 || code === 0x3b || code < 0x20 || code === 0x7f) return null
    else out += '%' + hex.toUpperCase()
    i += 2
  }
  // Escapes must be valid UTF-8 (this refuses overlong forms such as %C0%AE).
  try { decodeURIComponent(out) } catch { return null }
  if (/\/\/|\/\.\.?(?:\/|$)/.test(out)) return null
  return out
}
