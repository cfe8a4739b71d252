// A remote JWKS, cached: fetched at start and refreshed in the background; a token whose `kid` is not
// in the cached set triggers a refetch, at most once per cooldown; when the JWKS server is down or
// answers garbage, the last good set is kept (and the failure logged). Redirects are never followed:
// the keys come from the configured URL (https, host and all) or from nowhere.
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose'
import type { Logger } from './logger.js'

type KeyLike = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>

export interface RemoteJwksOptions {
  /** Issuer name, for logs. */
  name: string
  url: string
  refreshMs: number
  cooldownMs: number
  timeoutMs: number
  logger: Logger
  /** Largest accepted JWKS document (bytes). */
  maxBytes?: number
  now?: () => number
}

/** Thrown by getKey when no JWKS could ever be fetched (mapped to credential_unknown). */
export class JwksUnavailable extends Error {
  readonly code = 'ERR_TOLLGATE_JWKS_UNAVAILABLE'
}

export class RemoteJwks {
  readonly url: string
  #opts: RemoteJwksOptions
  #set: ReturnType<typeof createLocalJWKSet> | undefined
  #raw = ''
  #lastAttempt = Number.NEGATIVE_INFINITY
  #inflight: Promise<boolean> | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #now: () => number
  /** Fetches made so far (for tests and metrics). */
  fetches = 0
  /** Why the last fetch failed (undefined after a success): the start-up report and `tollgate check` say it. */
  lastError: string | undefined

  constructor (opts: RemoteJwksOptions) {
    this.#opts = opts
    this.url = opts.url
    this.#now = opts.now ?? Date.now
  }

  /** Starts the first fetch and the background refresh; resolves when the first fetch has settled. */
  async start (): Promise<void> {
    this.#timer = setInterval(() => { this.refresh().catch(() => {}) }, this.#opts.refreshMs)
    this.#timer.unref()
    await this.refresh()
  }

  get hasKeys (): boolean {
    return this.#set !== undefined
  }

  /** The jose key resolver: the cached set, refetched (rate-limited) when no key matches. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> => {
    if (this.#set === undefined) {
      // never loaded yet: wait for the fetch in flight, or try one now (rate-limited)
      if (this.#inflight !== undefined) await this.#inflight
      else if (this.#mayRefetch()) await this.refresh()
    }
    const set = this.#set
    if (set === undefined) throw new JwksUnavailable(`JWKS of issuer ${this.#opts.name} is unavailable`)
    try {
      return await set(header, token)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
    }
    // unknown kid (or no key for this alg): maybe the issuer rotated. Join the fetch in flight, or
    // start one if the cooldown allows; then look once more, in the new set only.
    if (this.#inflight !== undefined) await this.#inflight
    else if (this.#mayRefetch()) await this.refresh()
    if (this.#set === set) throw new errors.JWKSNoMatchingKey()
    return await this.#set!(header, token)
  }

  #mayRefetch (): boolean {
    return this.#now() - this.#lastAttempt >= this.#opts.cooldownMs
  }

  /** Fetches now (coalesced). Resolves true when the key set changed. Never rejects. */
  async refresh (): Promise<boolean> {
    if (this.#closed) return false
    if (this.#inflight !== undefined) return await this.#inflight
    this.#lastAttempt = this.#now()
    this.#inflight = this.#fetch().finally(() => { this.#inflight = undefined })
    return await this.#inflight
  }

  async #fetch (): Promise<boolean> {
    this.fetches++
    const { name, url, timeoutMs, logger } = this.#opts
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'manual'
      })
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {})
        if (res.status >= 300 && res.status < 400) {
          throw new Error(`HTTP ${res.status}: redirects are not followed (a redirect could hand the keys to another host or to plain http); set jwksUrl to the final URL`)
        }
        throw new Error(`HTTP ${res.status}`)
      }
      const text = await readLimited(res, this.#opts.maxBytes ?? 512 * 1024)
      if (text === this.#raw) return false
      const jwks = JSON.parse(text) as JSONWebKeySet
      if (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) throw new Error('not a JWK set')
      // never keep private or symmetric material: a JWKS is public keys only
      const keys = jwks.keys.filter((k) => k !== null && typeof k === 'object' && k.kty !== 'oct' && !('d' in k))
      if (keys.length === 0) throw new Error('no usable public key in the set')
      const set = createLocalJWKSet({ keys })
      if (this.#closed) return false
      this.#set = set
      this.#raw = text
      this.lastError = undefined
      logger.info({ issuer: name, url, keys: keys.length }, 'JWKS loaded')
      return true
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code
      const message = !(err instanceof Error)
        ? String(err)
        : err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : typeof cause === 'string' ? `cannot reach ${new URL(url).host} (${cause})` : err.message
      this.lastError = message
      logger.warn({ issuer: name, url, err: { message } }, this.#set === undefined
        ? 'JWKS fetch failed; tokens of this issuer are refused until it succeeds'
        : 'JWKS fetch failed; keeping the last good keys')
      return false
    }
  }

  close (): void {
    this.#closed = true
    clearInterval(this.#timer)
  }
}

async function readLimited (res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0')
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {})
    throw new Error(`JWKS larger than ${maxBytes} bytes`)
  }
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new Error(`JWKS larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
