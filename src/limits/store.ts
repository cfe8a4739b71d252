// Where rate-limit counters live. rate-limiter-flexible does the counting, with the same fixed-window
// semantics in memory and in Redis (a key's window opens with its first request and lasts `per`).
// - In memory (the default): counters of this process. They outlive a config reload: a limit whose
//   container, name, size and window are unchanged keeps its counts.
// - In Redis (`server.rateLimit.redis`, through ioredis): counters shared by every replica. Each call
//   is bounded (`server.rateLimit.timeout`; no offline queue, so a call made while Redis is down fails
//   at once). A failed call lets the request through (fail open, as Kong and Envoy default to),
//   counted in a metric and told in a warning at most every 30 s.
// Both libraries are loaded only when a config has a rate limit.
import type { RateLimiterAbstract, RateLimiterMemory } from 'rate-limiter-flexible'
import type { Redis as RedisClient } from 'ioredis'
import type { Logger } from '../observability/logger.js'

/** One take from a counter: within the limit (ok) or over it, with what is left and when the window ends. */
export interface Taken {
  readonly ok: boolean
  readonly remaining: number
  readonly resetMs: number
}

export interface Counter {
  /** Counts one request for `key`; undefined when the store failed (the request goes through). */
  take (key: string): Promise<Taken | undefined>
}

export interface RateLimitEvents {
  /** A store call failed or timed out: the request went through without that limit. */
  storeFailed (): void
}

type Rlf = typeof import('rate-limiter-flexible')

/** Memory counters, kept across reloads by what identifies a limit. Owned by the app. */
export interface MemoryCounters {
  get (rlf: Rlf, id: string, requests: number, perSeconds: number): RateLimiterMemory
  /** Forgets every counter whose id is not in `ids` (the limits a new config dropped). */
  retain (ids: ReadonlySet<string>): void
}

export function createMemoryCounters (): MemoryCounters {
  const limiters = new Map<string, RateLimiterMemory>()
  return {
    get (rlf, id, requests, perSeconds) {
      let l = limiters.get(id)
      if (l === undefined) {
        l = new rlf.RateLimiterMemory({ points: requests, duration: perSeconds })
        limiters.set(id, l)
      }
      return l
    },
    retain (ids) {
      for (const id of limiters.keys()) if (!ids.has(id)) limiters.delete(id)
    }
  }
}

/** Wraps a limiter: over the limit is a result, a store error is undefined (fail open) and a report. */
export function counterOf (rlf: Rlf, limiter: RateLimiterAbstract, failed: (err: unknown) => void): Counter {
  const ok = (r: { remainingPoints: number, msBeforeNext: number }): Taken => ({ ok: true, remaining: r.remainingPoints, resetMs: r.msBeforeNext })
  const over = (e: unknown): Taken | undefined => {
    if (e instanceof rlf.RateLimiterRes) return { ok: false, remaining: 0, resetMs: e.msBeforeNext }
    failed(e)
    return undefined
  }
  return { take: async (key) => await limiter.consume(key).then(ok, over) }
}

export interface RedisStore {
  readonly client: RedisClient
  /** Reports one failed call (metric, throttled warning). */
  failed (err: unknown): void
  close (): void
}

const WARN_EVERY_MS = 30_000
/** How long a start or reload waits for Redis before serving anyway (limits fail open until it answers). */
const CONNECT_WAIT_MS = 2000

/** Connects to the Redis in `url` and waits (boundedly) for it; never throws for an unreachable one. */
export async function connectRedis (url: string, timeout: number, logger: Logger, events: RateLimitEvents | undefined): Promise<RedisStore> {
  const { Redis } = await import('ioredis')
  // Never the URL itself in a log line: it may carry a password.
  const where = new URL(url).host
  let lastWarn = 0
  let failing = false
  const warn = (err: unknown): void => {
    failing = true
    const now = Date.now()
    if (now - lastWarn < WARN_EVERY_MS) return
    lastWarn = now
    logger.warn({ store: where, error: (err as Error)?.message ?? String(err) }, 'rate-limit store failing: requests go through without their Redis-backed limits (fail open)')
  }
  const client = new Redis(url, {
    connectionName: 'tollgate',
    enableOfflineQueue: false,
    commandTimeout: timeout,
    connectTimeout: Math.max(timeout, 1000),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(100 * times, 2000)
  })
  client.on('error', warn)
  client.on('ready', () => {
    if (failing) logger.info({ store: where }, 'rate-limit store answering again')
    failing = false
  })
  if (client.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, CONNECT_WAIT_MS)
      client.once('ready', done)
      function done (): void {
        clearTimeout(timer)
        client.off('ready', done)
        resolve()
      }
    })
  }
  if (client.status !== 'ready') warn(new Error(`not answering after ${CONNECT_WAIT_MS} ms`))
  return {
    client,
    failed (err) {
      events?.storeFailed()
      warn(err)
    },
    close () { client.disconnect() }
  }
}
