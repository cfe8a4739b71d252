// The seam between the pipeline and the policy engine. The pipeline builds RequestFacts and a
// Principal for each request; the engine (compiled at load) decides.
import type { ReasonId } from '../errors.js'

/** Everything a condition may read about a request. Built once per request by the pipeline. */
export interface RequestFacts {
  /** The one trusted client IP, IPv4-mapped IPv6 already reported as IPv4. */
  ip: string
  /** User-Agent, cut at 255 characters ('' when absent). */
  userAgent: string
  time: Date
  method: string
  /** The canonical path that is sent upstream (no query string). */
  path: string
  /** Host the client asked for, lower-case, without port. */
  host: string
  /** Node's IncomingHttpHeaders (lower-case names; a value may be an array, e.g. set-cookie). */
  headers: Record<string, string | string[] | undefined>
}

export type PrincipalKind = 'anonymous' | 'key' | 'jwt'

/** Who is calling. Public containers always see the anonymous principal. */
export interface Principal {
  kind: PrincipalKind
  /** Key name for `key`, JWT `sub` for `jwt`, '' for anonymous. */
  id: string
  /** For `jwt`: the name of the issuer (`credentials.jwt.issuers[].name`) that verified it. */
  issuer?: string
  /** Owner exception: bypasses conditions (every bypass is audit-logged by the pipeline). */
  owner: boolean
  /** JWT claims (empty object for keys and anonymous). */
  claims: Readonly<Record<string, unknown>>
}

/**
 * How rules name a principal: `key:NAME`, `jwt:ISSUER/SUBJECT` (a subject is only unique within
 * its issuer), or `jwt:SUBJECT` for a JWT principal that names no issuer.
 */
export function principalName (p: Principal): string {
  return p.kind === 'jwt' && p.issuer !== undefined ? `jwt:${p.issuer}/${p.id}` : `${p.kind}:${p.id}`
}

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous', id: '', owner: false, claims: Object.freeze({}) })

/** One rule as written in config (`containers.NAME.policies[i]`). */
export interface PolicyRuleConfig {
  name: string
  principals?: string[]
  condition?: string
}

export type Privacy = 'public' | 'private'

export interface Decision {
  allow: boolean
  /** `allowed`, `owner_bypass`, `policy_denied`, `policy_error` or `credential_missing` (src/errors.ts). */
  reason: ReasonId
  /** Name of the rule that granted (or, on error, that failed). */
  rule?: string
}
