// The rate-limit steps. A container's limits are counted where the key they count by is known:
// limits `by: ip` and `by: header:NAME` right after routing (every request the container gets
// counts, the ones later refused with 401/403 too: a client guessing credentials spends its
// budget); limits `by: principal` once the request is authorized (as Kong counts a consumer after
// its ACL: a denied request costs the principal nothing). A key that cannot be known falls back
// to the client IP, as Kong's `limit_by` does: a missing header, an anonymous principal.
//
// Each limit counts separately and any exhausted one answers 429 with Retry-After and
// RateLimit-Limit/-Remaining/-Reset (the limit that resets last). Every other answer carries the
// RateLimit fields of the most restrictive limit (the least remaining), as Kong does.
import { createHash } from 'node:crypto'
import { ConfigError, type ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import type { Logger } from '../observability/logger.js'
import type { RateLimitRuleConfig, RateLimitServerConfig } from './schema.js'
import { connectRedis, counterOf, createMemoryCounters, type Counter, type MemoryCounters, type RateLimitEvents, type RedisStore, type Taken } from './store.js'

export interface Limit {
  readonly name: string
  readonly requests: number
  readonly perSeconds: number
  readonly by: 'ip' | 'principal' | 'header'
  /** The header counted by (lower case), for `by: header:NAME`. */
  readonly header: string
  readonly counter: Counter
}

export interface ContainerLimits {
  /** Counted after routing: by ip and by header. */
  readonly early: readonly Limit[] | undefined
  /** Counted once authorized: by principal. */
  readonly late: readonly Limit[] | undefined
}

/** Response fields tollgate owns on a container with limits (the container's are dropped). */
export const RATE_LIMIT_FIELDS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** `10s`, `1m`, `1h`, `1d` in seconds. */
export function windowSeconds (per: string): number {
  return Number(per.slice(0, -1)) * UNIT[per.slice(-1)]
}

/** Checks a container's limits (throws naming the field) and lower-cases `header:NAME` in place. */
export function checkRateLimits (limits: RateLimitRuleConfig[] | undefined, at: string): void {
  if (limits === undefined) return
  const names = new Set<string>()
  limits.forEach((l, i) => {
    const where = `${at}.rateLimit[${i}]`
    if (names.has(l.name)) throw new ConfigError(`${where}.name`, `two limits are named ${JSON.stringify(l.name)}`)
    names.add(l.name)
    if (windowSeconds(l.per) > 86400) throw new ConfigError(`${where}.per`, 'at most one day (1d, 24h, 1440m)')
    if (l.by.startsWith('header:')) l.by = l.by.toLowerCase()
  })
}

/** Checks `server.rateLimit.redis`. */
export function checkRateLimitServer (server: RateLimitServerConfig): void {
  if (server.redis === undefined) return
  let url: URL | undefined
  try { url = new URL(server.redis) } catch { url = undefined }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new ConfigError('server.rateLimit.redis', 'expected a redis:// or rediss:// URL (redis://[:password@]host[:port][/db])')
  }
}

export interface RateLimitDeps {
  readonly memory: MemoryCounters
  readonly events?: RateLimitEvents
}

/** What one runtime's limits hold: each container's, and the Redis connection when there is one. */
export interface RuntimeLimits {
  readonly byContainer: ReadonlyMap<string, ContainerLimits>
  /** The runtime is built: memory counters of limits it no longer has are let go. */
  commit (): void
  /** Whether Redis answers (undefined: no Redis in use); for the start-up report and `tollgate check`. */
  storeReady (): boolean | undefined
  close (): void
}

/**
 * Builds every container's limits for one runtime. Memory counters come from `deps.memory` (kept
 * across reloads); with `server.rateLimit.redis` a connection is opened for this runtime.
 */
export async function buildRateLimits (containers: Record<string, { rateLimit?: RateLimitRuleConfig[] }>, server: RateLimitServerConfig,
  logger: Logger, deps: RateLimitDeps = { memory: createMemoryCounters() }): Promise<RuntimeLimits> {
  const byContainer = new Map<string, ContainerLimits>()
  const named = Object.entries(containers).filter(([, c]) => c.rateLimit !== undefined)
  if (named.length === 0) return { byContainer, commit () { deps.memory.retain(new Set()) }, storeReady: () => undefined, close () {} }
  const rlf = await import('rate-limiter-flexible')
  let redis: RedisStore | undefined
  if (server.redis !== undefined) redis = await connectRedis(server.redis, server.timeout, logger, deps.events)
  const used = new Set<string>()
  for (const [container, c] of named) {
    const limits = (c.rateLimit ?? []).map((l): Limit => {
      const perSeconds = windowSeconds(l.per)
      const id = `${container}:${l.name}:${l.requests}:${perSeconds}`
      let counter: Counter
      if (redis === undefined) {
        used.add(id)
        counter = counterOf(rlf, deps.memory.get(rlf, id, l.requests, perSeconds), () => {})
      } else {
        const limiter = new rlf.RateLimiterRedis({
          storeClient: redis.client,
          points: l.requests,
          duration: perSeconds,
          keyPrefix: `${server.keyPrefix}:rl:${container}:${l.name}:${perSeconds}`,
          rejectIfRedisNotReady: true
        })
        counter = counterOf(rlf, limiter, redis.failed)
      }
      const header = l.by.startsWith('header:') ? l.by.slice('header:'.length) : ''
      const by = header !== '' ? 'header' : l.by as 'ip' | 'principal'
      return { name: l.name, requests: l.requests, perSeconds, by, header, counter }
    })
    const early = limits.filter((l) => l.by !== 'principal')
    const late = limits.filter((l) => l.by === 'principal')
    byContainer.set(container, { early: early.length > 0 ? early : undefined, late: late.length > 0 ? late : undefined })
  }
  return { byContainer, commit () { deps.memory.retain(used) }, storeReady: () => redis === undefined ? undefined : redis.client.status === 'ready', close () { redis?.close() } }
}

type Headers = Record<string, string | string[] | undefined>

/** The rate-limit step after routing: the container's limits by client IP and by header. */
export function limitClient (x: Exchange, limits: ContainerLimits | undefined, headers: Headers): Promise<ReasonId | undefined> | undefined {
  const list = limits?.early
  return list === undefined ? undefined : count(x, list, headers)
}

/** The rate-limit step after authorization: the container's limits by principal. */
export function limitPrincipal (x: Exchange, limits: ContainerLimits | undefined, headers: Headers): Promise<ReasonId | undefined> | undefined {
  const list = limits?.late
  return list === undefined ? undefined : count(x, list, headers)
}

function keyOf (l: Limit, x: Exchange, headers: Headers): string {
  if (l.by === 'principal') {
    const p = x.principal
    if (p.kind === 'anonymous') return 'ip:' + x.ip
    const id = `${p.kind}:${p.id}`
    return id.length <= 128 ? 'p:' + id : 'p#' + digest(id)
  }
  if (l.by === 'header') {
    const v = headers[l.header]
    if (v === undefined || v === '') return 'ip:' + x.ip
    // Hashed: bounded keys, and no credential (an API key header) ever stored in Redis.
    return 'h:' + digest(Array.isArray(v) ? v.join(',') : v)
  }
  return 'ip:' + x.ip
}

function digest (s: string): string {
  return createHash('sha256').update(s).digest('base64url').slice(0, 22)
}

async function count (x: Exchange, list: readonly Limit[], headers: Headers): Promise<ReasonId | undefined> {
  if (list.length === 1) return settle(x, list, [await list[0].counter.take(keyOf(list[0], x, headers))])
  return settle(x, list, await Promise.all(list.map(async (l) => await l.counter.take(keyOf(l, x, headers)))))
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000))

/** 429 when any limit is over (the one that resets last answers); otherwise the RateLimit fields of the tightest. */
function settle (x: Exchange, list: readonly Limit[], taken: ReadonlyArray<Taken | undefined>): ReasonId | undefined {
  let over = -1
  let tightest = -1
  for (let i = 0; i < taken.length; i++) {
    const t = taken[i]
    if (t === undefined) continue // the store failed: this limit lets the request through
    if (!t.ok) {
      if (over < 0 || t.resetMs > (taken[over] as Taken).resetMs) over = i
    } else if (tightest < 0 || t.remaining < (taken[tightest] as Taken).remaining) {
      tightest = i
    }
  }
  if (over >= 0) {
    const reset = seconds((taken[over] as Taken).resetMs)
    x.limit = list[over].name
    x.allowed = false
    quota(x, list[over].requests, 0, reset, true)
    ;(x.answerHeaders as string[]).push('retry-after', String(reset))
    return 'rate_limited'
  }
  if (tightest >= 0) {
    const t = taken[tightest] as Taken
    quota(x, list[tightest].requests, t.remaining, seconds(t.resetMs), false)
  }
  return undefined
}

/** Writes the RateLimit fields into the answer's, or replaces those of an earlier step when tighter (or over). */
function quota (x: Exchange, limit: number, remaining: number, reset: number, over: boolean): void {
  let out = x.answerHeaders
  if (out === undefined) out = x.answerHeaders = []
  const at = x.quotaAt
  if (at < 0) {
    x.quotaAt = out.length
    out.push('ratelimit-limit', String(limit), 'ratelimit-remaining', String(remaining), 'ratelimit-reset', String(reset))
  } else if (over || remaining < Number(out[at + 3])) {
    out[at + 1] = String(limit)
    out[at + 3] = String(remaining)
    out[at + 5] = String(reset)
  }
}
