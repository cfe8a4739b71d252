// Config header rules (`containers.NAME.headers.request|response`): `remove` fields and `set` fields
// (replacing any value the message had), applied after tollgate's own header hygiene — on the
// request by the inject step, on the response where its head is relayed. Checked at load: a rule
// may never touch what tollgate owns (X-Auth-Token, Host, Forwarded / X-Forwarded-*, the request
// id) nor a framing or hop-by-hop field, where a `set` would reopen the smuggling holes the screen
// closes (docs/security.md).
import { ConfigError } from '../errors.js'
import type { HeadersConfig } from '../config/schema.js'
import { FRAMING } from './hop-by-hop.js'

/** One direction's rules, compiled: the fields to drop (removed and set ones) and the fields to add. */
export interface HeaderRules {
  readonly drop: ReadonlySet<string>
  /** name, value, … (lower-case names). */
  readonly set: readonly string[]
}

type Direction = 'request' | 'response'

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
/** A field value: visible characters, spaces and tabs inside, none at either end (RFC 9110 §5.5). */
const VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?)?$/

/** Why `name` (lower-case) may not appear in a rule; undefined when it may. */
function refusal (name: string, direction: Direction): string | undefined {
  if (name === 'x-auth-token') {
    return direction === 'request'
      ? 'X-Auth-Token is the container\'s token, set by tollgate alone'
      : 'X-Auth-Token is never returned to a client'
  }
  if (FRAMING.has(name) || name.startsWith('proxy-')) return `${name} is a framing or hop-by-hop field: a rule on it would reopen request smuggling`
  if (name === 'x-request-id') return 'X-Request-Id is tollgate\'s own'
  if (name === 'host') return 'Host is set by tollgate (the upstream\'s own)'
  if (name === 'forwarded' || name.startsWith('x-forwarded-') || name === 'x-real-ip') return `${name} is set by tollgate from the trusted client IP`
  if (direction === 'request') return undefined
  if (name === 'strict-transport-security') return 'HSTS is set by tollgate: use server.hsts'
  if (name.startsWith('access-control-')) return 'CORS fields are tollgate\'s: use containers.NAME.cors'
  if (name === 'ratelimit-limit' || name === 'ratelimit-remaining' || name === 'ratelimit-reset') return 'RateLimit fields are tollgate\'s: use containers.NAME.rateLimit'
  return undefined
}

/** Checks a container's `headers` (throws naming the field) and lower-cases its names in place. */
export function checkHeaderRules (headers: HeadersConfig | undefined, at: string): void {
  if (headers === undefined) return
  for (const direction of ['request', 'response'] as const) {
    const rules = headers[direction]
    if (rules === undefined) continue
    const where = `${at}.headers.${direction}`
    const seen = new Set<string>()
    const set: Record<string, string> = {}
    for (const [name, value] of Object.entries(rules.set ?? {})) {
      const lower = checkName(name, direction, `${where}.set.${name}`)
      if (seen.has(lower)) throw new ConfigError(`${where}.set.${name}`, `${lower} is set twice`)
      if (!VALUE.test(value)) throw new ConfigError(`${where}.set.${name}`, 'a field value has no control characters (CR, LF, NUL…) and no leading or trailing space')
      seen.add(lower)
      set[lower] = value
    }
    const remove = (rules.remove ?? []).map((name, i) => {
      const lower = checkName(name, direction, `${where}.remove[${i}]`)
      if (seen.has(lower)) throw new ConfigError(`${where}.remove[${i}]`, `${lower} is also set (set already replaces it)`)
      return lower
    })
    if (rules.set !== undefined) rules.set = set
    if (rules.remove !== undefined) rules.remove = remove
  }
}

function checkName (name: string, direction: Direction, where: string): string {
  if (!TOKEN.test(name)) throw new ConfigError(where, `not a header field name: ${JSON.stringify(name)}`)
  const lower = name.toLowerCase()
  if (lower.includes('_')) throw new ConfigError(where, 'a field name with "_" is refused (it could alias another field upstream)')
  const why = refusal(lower, direction)
  if (why !== undefined) throw new ConfigError(where, `refused: ${why}`)
  return lower
}

/**
 * One direction's rules as the hot path uses them; `owned` adds fields the message must lose because
 * tollgate sets its own (the container's CORS and RateLimit fields). Undefined when there is nothing
 * to do.
 */
export function compileHeaderRules (rules: { set?: Record<string, string>, remove?: string[] } | undefined, owned: readonly string[] = []): HeaderRules | undefined {
  const set = Object.entries(rules?.set ?? {}).flat()
  const drop = new Set([...(rules?.remove ?? []), ...Object.keys(rules?.set ?? {}), ...owned])
  return drop.size === 0 ? undefined : { drop, set }
}
