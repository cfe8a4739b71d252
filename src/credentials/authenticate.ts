// The authenticate step: a private container's client presents a tollgate key or a JWT, in
// X-Auth-Token (as Scaleway container tokens were sent), as `Authorization: Bearer`, or (a browser's
// WebSocket, which cannot set headers) as a `tollgate.bearer.<credential>` subprotocol, which the
// header screen took out of Sec-WebSocket-Protocol. Public containers skip it (the principal stays
// anonymous).
import type { ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import { authFailure, type AuthOutcome, type Authenticator } from './types.js'

const MISSING = authFailure('credential_missing')
const MALFORMED = authFailure('credential_malformed')
const UNKNOWN = authFailure('credential_unknown')

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i

/**
 * The client credential: undefined when absent; null when ambiguous (several X-Auth-Token values,
 * a list, several subprotocol credentials, or two places that carry different credentials).
 * `protocol` is the subprotocol credential (`x.protocolCredential`).
 */
export function extractCredential (headers: Record<string, string | string[] | undefined>, protocol?: string | null): string | undefined | null {
  const xat = headers['x-auth-token']
  const auth = headers.authorization
  let bearer: string | undefined
  if (typeof auth === 'string') {
    const m = BEARER.exec(auth)
    if (m !== null) bearer = m[1]
  }
  let found: string | undefined | null = bearer
  if (xat !== undefined) {
    const value = Array.isArray(xat) ? undefined : String(xat).trim()
    if (value === undefined || value === '' || value.includes(',')) return null
    if (bearer !== undefined && bearer !== value) return null
    found = value
  }
  if (protocol === undefined) return found
  if (protocol === null || protocol === '' || (found !== undefined && found !== protocol)) return null
  return protocol
}

/**
 * Authenticates the request for a private container (undefined for a public one). Sync for tollgate
 * keys, a promise for JWTs; never rejects by design, and a rejection would deny.
 */
export function authenticate (x: Exchange, privacy: string, authenticator: Authenticator | undefined,
  headers: Record<string, string | string[] | undefined>): AuthOutcome | Promise<AuthOutcome> | undefined {
  if (privacy !== 'private') return undefined
  const credential = extractCredential(headers, x.protocolCredential)
  if (credential === null) return MALFORMED
  if (credential === undefined) return MISSING
  if (authenticator === undefined) return UNKNOWN
  return authenticator.authenticate(credential, x.container ?? '')
}

/** Takes an outcome in: the principal on success, the reason to answer with otherwise. */
export function admit (x: Exchange, outcome: AuthOutcome | undefined): ReasonId | undefined {
  if (outcome === undefined) return undefined
  if (!outcome.ok) return outcome.reason
  x.principal = outcome.principal
  return undefined
}
