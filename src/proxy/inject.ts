// The inject step: the last change to the upstream's request head, after the screen removed every
// field a client could use to spoof or strip what tollgate adds. The client's Bearer credential is
// consumed here (never forwarded); the container's header rules apply (they can never name what
// follows: src/proxy/header-rules.ts); X-Forwarded-For carries the one trusted client IP, nothing a
// client wrote; the upstream gets its own Host and exactly one X-Auth-Token, the container's. Under
// stripPrefix the path sent loses the match prefix, which X-Forwarded-Prefix then names.
import type { Exchange } from '../exchange.js'
import type { HeaderRules } from './header-rules.js'

const BEARER = /^bearer\s/i

export interface InjectTarget {
  /** The match prefix (`/api`). */
  readonly prefix: string
  readonly stripPrefix: boolean
  readonly requestRules: HeaderRules | undefined
  /** Host for the upstream (its own name, with port when not the default). */
  readonly upstreamHost: string
  /** The container's token as it is now (it may be refreshed between two requests). */
  readonly token: { value (): string }
}

export function inject (x: Exchange, c: InjectTarget): void {
  const out = x.upstreamHeaders
  const rules = c.requestRules
  const drop = rules?.drop
  for (let i = 0; i < out.length; i += 2) {
    const name = out[i]
    if ((name === 'authorization' && BEARER.test(out[i + 1])) || (drop !== undefined && drop.has(name))) { out.splice(i, 2); i -= 2 }
  }
  if (rules !== undefined) for (let i = 0; i < rules.set.length; i++) out.push(rules.set[i])
  if (c.stripPrefix) {
    x.upstreamPath = stripPrefix(x.path, c.prefix)
    out.push('x-forwarded-prefix', c.prefix)
  } else {
    x.upstreamPath = x.path
  }
  out.push(
    'host', c.upstreamHost,
    'x-forwarded-for', x.ip,
    'x-forwarded-proto', x.scheme,
    'x-forwarded-host', x.authority,
    'x-request-id', x.requestId,
    'x-auth-token', c.token.value()
  )
  x.tokenAt = out.length - 1
  x.injected = true
}

/**
 * The canonical path less the match prefix, on segment bounds (the router matched `prefix` as a
 * whole segment run): `/api/x` → `/x`, `/api` → `/`.
 */
export function stripPrefix (path: string, prefix: string): string {
  if (prefix === '/' || !path.startsWith(prefix)) return path
  return path.length === prefix.length ? '/' : path.slice(prefix.length)
}
