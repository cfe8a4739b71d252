// The URL rule for services tollgate sends a credential to or trusts keys from (Scaleway Secret
// Manager, a JWKS): https://, or plain http:// to a loopback address only (a local test server).
import { isIP } from 'node:net'

export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  return h === '::1'
}

/** What is wrong with `text` as such a URL, or undefined when it is fine. */
export function secureUrlProblem (text: string): string | undefined {
  let url: URL
  try { url = new URL(text) } catch { return 'not a URL' }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials'
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined
  return 'must be https:// (plain http:// only on loopback, for tests)'
}
