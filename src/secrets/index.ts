// The secret resolver: turns references from config into live SecretHandles.
//
// Values are cached in an lru-cache keyed by source (containers that name the same secret share one
// fetch; concurrent fetches of one key share one request). Scaleway Secret Manager values are
// refreshed in the background `refreshAhead` before their `ttl` runs out; `${file:…}` files and the
// local store are re-read when they change (polled, plus a folder watch for a quick pickup — this
// also follows a Kubernetes-style `..data` symlink swap); a store kept in Secret Manager is checked
// every `ttl − refreshAhead` (one list call when nothing changed). When a source fails, the last
// good value is served, a warning is logged and `events.refreshFailed` fires. Nothing here ever
// logs or throws a value: log lines and errors carry the reference as written and a reason.
import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path'
import { LRUCache } from 'lru-cache'
import { withDefaults, firstSchemaError } from '../config/schema-values.js'
import { ConfigError, TollgateError } from '../errors.js'
import { checkSecretsConfig, SecretsSchema, type ScalewaySecretsConfig, type SecretsConfig } from './schema.js'
import { parseSecretRef, parseStateLocation, stripOneNewline, type ParsedRef, type ScwTarget, type StateLocation } from './refs.js'
import { accessSecretVersion, ScwAccessError } from './scaleway.js'
import { SecretStore, storeBackend } from './store.js'
import type { ScwStateContext } from './scaleway-state.js'
import type { StateBackend } from '../files/state.js'
import { forbiddenFileProblem, MasterKeys, masterKeysFromEnv } from './custody.js'
import { HighWater, IntegrityError } from '../files/integrity.js'
import type { SecretHandle, SecretResolver } from './types.js'

export type { SecretHandle, SecretResolver } from './types.js'
export { isSecretRef } from './types.js'
export { SecretStore, masterKeyFromEnv } from './store.js'
export { MasterKeys } from './custody.js'

/** Hooks for metrics. Arguments are references as written in config, and reasons; never values. */
export interface SecretEvents {
  /** A fetch from the source succeeded (scheduled, forced or after a change was seen). */
  refreshed?: (ref: string, changed: boolean) => void
  /** A fetch failed; the last good value is still served. */
  refreshFailed?: (ref: string, reason: string) => void
  /** The value changed (after the first resolution). */
  rotated?: (ref: string) => void
  /**
   * A state file was refused and the last good copy kept: `file` is the config field
   * (`secrets.store`, `credentials.keys`), `reason` one of rollback, other_store, tampered,
   * downgrade, unreadable.
   */
  refused?: (file: string, reason: string) => void
  /** The generation of a state file now served (`file` as in `refused`); 0 for a version 1 file. */
  generation?: (file: string, generation: number) => void
  /**
   * A state file kept in Secret Manager (`file` as in `refused`) could be read (true) or not (false:
   * the last good copy keeps serving). Fires on every check.
   */
  sourceStatus?: (file: string, ok: boolean) => void
}

/** Pino-compatible subset. */
export interface SecretLogger {
  info: (obj: Record<string, unknown>, msg: string) => void
  warn: (obj: Record<string, unknown>, msg: string) => void
  error: (obj: Record<string, unknown>, msg: string) => void
}

/** The `secrets:` section as written (before defaults). */
export type SecretsInput = Partial<Omit<SecretsConfig, 'scaleway'>> & { scaleway?: Partial<ScalewaySecretsConfig> }

export interface SecretResolverOptions {
  /** Folder of the config file: relative `${file:…}` paths and `secrets.store` resolve against it. */
  baseDir: string
  /** The parsed `secrets:` config section (defaults are applied here too). */
  secrets?: SecretsInput | undefined
  /** Where `${env:…}`, TOLLGATE_MASTER_KEY and SCW_* come from (default process.env). */
  env?: NodeJS.ProcessEnv
  logger?: SecretLogger
  events?: SecretEvents
  /**
   * The store's master key(s); default from the environment (TOLLGATE_MASTER_KEY or
   * TOLLGATE_MASTER_KEY_FILE, plus TOLLGATE_MASTER_KEY_PREVIOUS during a rotation).
   */
  masterKey?: Buffer | readonly Buffer[] | MasterKeys
  /** Generations of the store already accepted; a gateway shares one across reloads. */
  highWater?: HighWater
  /** Forced refreshes closer together than this (ms) share the previous outcome. Default 1000. */
  refreshCooldown?: number
  /**
   * `tollgate check --offline`: network sources (`${scw:…}` references, a store kept in Secret
   * Manager) are not contacted; their handles hold an empty value.
   */
  offline?: boolean
}

/** The settings Secret Manager-backed state files need, from a config's `secrets:` section. */
export interface StateContextOptions {
  secrets: SecretsConfig
  /** Resolves `secrets.scaleway.secretKey` (on first use). */
  resolver: SecretResolver
  env: NodeJS.ProcessEnv
  logger?: SecretLogger
  events?: SecretEvents
}

/**
 * What a state file kept in Secret Manager needs: the API settings, the IAM key (resolved through
 * `resolver`), the project for by-name locations, and reports of Secret Manager being unreachable
 * (one warning when it fails, one line when it answers again, the metric on every check).
 */
export function stateContext (opts: StateContextOptions): ScwStateContext {
  const log = opts.logger ?? silent
  let key: Promise<SecretHandle> | undefined
  const iamKey = (): Promise<SecretHandle> => {
    if (key === undefined) {
      key = opts.resolver.resolve(opts.secrets.scaleway.secretKey, 'secrets.scaleway.secretKey')
      key.catch(() => { key = undefined })
    }
    return key
  }
  const down = new Map<string, string>()
  return {
    options: (field) => ({
      api: { baseUrl: opts.secrets.scaleway.baseUrl, timeout: opts.secrets.scaleway.timeout },
      iamKey,
      projectId: () => opts.secrets.scaleway.projectId ?? opts.env.SCW_DEFAULT_PROJECT_ID,
      onStatus: (ok, reason) => {
        opts.events?.sourceStatus?.(field, ok)
        const was = down.get(field)
        if (ok) {
          if (was !== undefined) log.info({ file: field }, 'Secret Manager answers again')
          down.delete(field)
        } else if (was === undefined) {
          down.set(field, reason ?? 'error')
          log.warn({ file: field, reason }, 'Secret Manager cannot be read; the last good copy keeps serving')
        }
      },
      onIgnored: (revision, why) => log.info({ file: field, revision, why }, 'Secret Manager version ignored')
    })
  }
}

const noop = (): void => {}
const silent: SecretLogger = { info: noop, warn: noop, error: noop }

/** A failure whose message is safe to show. */
class SourceError extends Error {
  readonly retryAfterMs: number | undefined
  constructor (message: string, retryAfterMs?: number) {
    super(message)
    this.retryAfterMs = retryAfterMs
  }
}

function reasonOf (err: unknown): string {
  if (err instanceof SourceError || err instanceof ScwAccessError || err instanceof TollgateError) return err.message
  const code = (err as { code?: unknown } | null)?.code
  return `unexpected error${typeof code === 'string' ? ` (${code})` : ''}`
}

function errnoCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'error'
}

function nonEmpty (v: string, what: string): string {
  if (v === '') throw new SourceError(`${what} is empty`)
  return v
}

/** One source of one value (shared by every handle on the same reference). */
interface Source {
  /** Fetch the value now. Throws SourceError (safe message). */
  load: (signal: AbortSignal) => Promise<string>
  /** Scaleway values expire; local ones are watched instead. */
  expires: boolean
  /** A cheap fingerprint of the source (polled); undefined when it cannot change by itself. */
  fingerprint?: () => Promise<string>
  /** A folder to watch for a quick pickup. */
  watchDir?: string
  /** How often `fingerprint` is polled (default `secrets.pollInterval`). */
  pollMs?: number
}

async function fileFingerprint (path: string): Promise<string> {
  try {
    const s = await stat(path) // follows symlinks: a swapped `..data` link shows up as a new inode
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`
  } catch (err) {
    return `error:${errnoCode(err)}`
  }
}

class Entry {
  readonly key: string
  readonly ref: string
  readonly source: Source
  last: string | undefined
  initial: Promise<void> | undefined
  failures = 0
  /** After a failure, a local source is retried at this time even if it looks unchanged. */
  retryAt = 0
  fingerprint: string | undefined
  timer: NodeJS.Timeout | undefined
  watcher: FSWatcher | undefined
  checking = false
  recent: { at: number, result: Promise<boolean> } | undefined

  constructor (key: string, ref: string, source: Source) {
    this.key = key
    this.ref = ref
    this.source = source
  }
}

class Resolver implements GatewayResolver {
  readonly #baseDir: string
  readonly #cfg: SecretsConfig
  readonly #env: NodeJS.ProcessEnv
  readonly #log: SecretLogger
  readonly #events: SecretEvents
  readonly #masterKey: Buffer | readonly Buffer[] | MasterKeys | undefined
  readonly #highWater: HighWater
  #refusal: string | undefined
  readonly #cooldown: number
  readonly #entries = new Map<string, Entry>()
  readonly #cache: LRUCache<string, string>
  readonly #abort = new AbortController()
  #store: Promise<SecretStore> | undefined
  #storeBackend: StateBackend | undefined
  readonly #storeLocation: StateLocation | undefined
  readonly #stateContext: ScwStateContext
  readonly #offline: boolean
  #scwKey: Promise<SecretHandle> | undefined
  #closed = false

  constructor (opts: SecretResolverOptions) {
    this.#baseDir = opts.baseDir
    const cfg = withDefaults(SecretsSchema, opts.secrets ?? {})
    const first = firstSchemaError(SecretsSchema, cfg)
    if (first !== undefined) {
      throw new ConfigError(`secrets${first.path.replace(/\//g, '.')}`, first.message.toLowerCase())
    }
    this.#cfg = cfg as SecretsConfig
    checkSecretsConfig(this.#cfg)
    this.#env = opts.env ?? process.env
    this.#log = opts.logger ?? silent
    this.#events = opts.events ?? {}
    this.#masterKey = opts.masterKey
    this.#highWater = opts.highWater ?? new HighWater()
    this.#cooldown = opts.refreshCooldown ?? 1000
    this.#offline = opts.offline === true
    const store = this.#cfg.store
    this.#storeLocation = store === undefined ? undefined : parseStateLocation(store)
    if (this.#storeLocation?.kind === 'file') this.#storeLocation = { kind: 'file', path: this.#abs(this.#storeLocation.path) }
    this.#stateContext = stateContext({ secrets: this.#cfg, resolver: { resolve: async () => await this.#scwKeyHandle(), close: async () => {} }, env: this.#env, logger: this.#log, events: this.#events })
    this.#cache = new LRUCache<string, string>({
      max: 10_000,
      ttl: this.#cfg.ttl,
      allowStale: false,
      noDeleteOnStaleGet: true,
      noDeleteOnFetchRejection: true,
      fetchMethod: async (key, _stale, { signal }) => {
        const entry = this.#entries.get(key)
        if (entry === undefined) throw new SourceError('no longer referenced')
        return await entry.source.load(signal)
      }
    })
  }

  async resolve (ref: string, where: string): Promise<SecretHandle> {
    const at = where === '' ? '' : `${where}: `
    if (this.#closed) throw new TollgateError('TG_ERR_SECRET_UNRESOLVED', `${at}cannot resolve ${ref}: the resolver is closed`)
    let parsed: ParsedRef
    try {
      parsed = parseSecretRef(ref)
    } catch (err) {
      throw new TollgateError('TG_ERR_SECRET_UNRESOLVED', `${at}invalid secret reference ${JSON.stringify(ref.slice(0, 200))}: ${(err as Error).message}`)
    }
    if (this.#offline && (parsed.kind === 'scw' || (parsed.kind === 'secret' && this.#storeLocation?.kind === 'scw'))) {
      return { ref, value: () => '', refresh: async () => false }
    }
    const key = this.#keyOf(parsed)
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      entry = new Entry(key, ref, this.#sourceFor(parsed))
      this.#entries.set(key, entry)
      entry.initial = this.#first(entry)
    }
    try {
      await entry.initial
    } catch (err) {
      throw new TollgateError('TG_ERR_SECRET_UNRESOLVED', `${at}cannot resolve ${ref}: ${reasonOf(err)}`)
    }
    const e = entry
    return {
      ref,
      value: () => e.last!,
      refresh: () => this.#refresh(e)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#abort.abort()
    for (const e of this.#entries.values()) this.#stop(e)
    this.#entries.clear()
    this.#cache.clear()
  }

  #keyOf (p: ParsedRef): string {
    switch (p.kind) {
      case 'secret': return `secret:${p.name}`
      case 'env': return `env:${p.name}`
      case 'file': return `file:${this.#abs(p.path)}`
      case 'scw': return `scw:${JSON.stringify(p.target)}`
    }
  }

  #abs (p: string): string {
    return isAbsolute(p) ? p : resolvePath(this.#baseDir, p)
  }

  #sourceFor (p: ParsedRef): Source {
    switch (p.kind) {
      case 'env': {
        const name = p.name
        return {
          expires: false,
          load: async () => {
            const v = this.#env[name]
            if (v === undefined) throw new SourceError(`environment variable ${name} is not set`)
            return nonEmpty(v, `environment variable ${name}`)
          }
        }
      }
      case 'file': {
        const path = this.#abs(p.path)
        return {
          expires: false,
          watchDir: dirname(path),
          fingerprint: () => fileFingerprint(path),
          load: async () => {
            const forbidden = forbiddenFileProblem(path, this.#env)
            if (forbidden !== undefined) throw new SourceError(forbidden)
            let text: string
            try {
              text = await readFile(path, 'utf8')
            } catch (err) {
              throw new SourceError(`cannot read ${path} (${errnoCode(err)})`)
            }
            return nonEmpty(stripOneNewline(text), `file ${path}`)
          }
        }
      }
      case 'secret': {
        const name = p.name
        const where = this.#storeLocation
        const file = where?.kind === 'file' ? where.path : undefined
        return {
          expires: false,
          watchDir: file === undefined ? undefined : dirname(file),
          // a store in Secret Manager: checked once per ttl − refreshAhead (one list call when unchanged)
          fingerprint: where === undefined ? undefined : file !== undefined ? () => fileFingerprint(file) : async () => await this.#backend().fingerprint(),
          pollMs: where?.kind === 'scw' ? this.#cfg.ttl - this.#cfg.refreshAhead : undefined,
          load: async () => {
            const store = await this.#openStore()
            await this.#reloadStore(store)
            const v = store.get(name)
            if (v === undefined) throw new SourceError(`no secret "${name}" in the store ${store.file} (add it with \`tollgate secrets set ${name}\`)`)
            return nonEmpty(v, `secret "${name}"`)
          }
        }
      }
      case 'scw': {
        const target = p.target
        return {
          expires: true,
          load: (signal) => this.#loadScw(target, signal)
        }
      }
    }
  }

  /** Where the store's bytes come from (one backend per resolver: its pollers share its calls). */
  #backend (): StateBackend {
    const where = this.#storeLocation
    if (where === undefined) throw new SourceError('secrets.store is not set in the config')
    this.#storeBackend ??= storeBackend(where.kind === 'file' ? where.path : where.location, this.#stateContext)
    return this.#storeBackend
  }

  /** Opens (reads, verifies, decrypts) the store now: its errors name the store, for `secrets.store`. */
  async openStore (): Promise<SecretStore | undefined> {
    if (this.#storeLocation === undefined || (this.#offline && this.#storeLocation.kind === 'scw')) return undefined
    const store = await this.#openStore()
    this.#events.generation?.('secrets.store', store.generation)
    return store
  }

  #openStore (): Promise<SecretStore> {
    if (this.#store === undefined) {
      this.#store = (async () => {
        const backend = this.#backend()
        const m = this.#masterKey
        const keys = m instanceof MasterKeys ? m.keys() : m ?? masterKeysFromEnv(this.#env)
        return await SecretStore.open(backend.location, keys, { backend, highWater: this.#highWater, storeId: this.#cfg.storeId })
      })()
      this.#store.catch(() => { this.#store = undefined }) // retried on the next use
    }
    return this.#store
  }

  /**
   * Re-reads the store. A refused store (tampered, older than one already seen, another store) is
   * logged at error and counted once per refused content; the last good values keep serving.
   */
  async #reloadStore (store: SecretStore): Promise<void> {
    try {
      await store.reload()
      this.#refusal = undefined
      this.#events.generation?.('secrets.store', store.generation)
    } catch (err) {
      const message = reasonOf(err)
      if (message !== this.#refusal) {
        this.#refusal = message
        const reason = err instanceof IntegrityError ? err.reason : 'unreadable'
        const code = err instanceof TollgateError ? err.code : undefined
        this.#log.error({ file: store.file, code, reason, err: { message } }, 'secret store refused; serving the last good values')
        this.#events.refused?.('secrets.store', reason)
      }
      throw err
    }
  }

  #scwKeyHandle (): Promise<SecretHandle> {
    if (this.#scwKey === undefined) {
      const ref = this.#cfg.scaleway.secretKey
      this.#scwKey = (async () => {
        if (ref.startsWith('${scw:')) throw new SourceError('secrets.scaleway.secretKey cannot itself be a ${scw:…} reference')
        if (ref.startsWith('${secret:') && this.#storeLocation?.kind === 'scw') {
          throw new SourceError('secrets.scaleway.secretKey cannot be a ${secret:…} reference while the store itself is in Secret Manager')
        }
        return await this.resolve(ref, 'secrets.scaleway.secretKey')
      })()
      this.#scwKey.catch(() => { this.#scwKey = undefined })
    }
    return this.#scwKey
  }

  async #loadScw (target: ScwTarget, signal: AbortSignal): Promise<string> {
    if (target.by === 'path' && target.projectId === undefined) {
      const projectId = this.#cfg.scaleway.projectId ?? this.#env.SCW_DEFAULT_PROJECT_ID
      if (projectId === undefined || projectId === '') {
        throw new SourceError('the reference names no project and neither secrets.scaleway.projectId nor SCW_DEFAULT_PROJECT_ID is set')
      }
      target = { ...target, projectId }
    }
    const key = await this.#scwKeyHandle()
    const opts = { baseUrl: this.#cfg.scaleway.baseUrl, timeout: this.#cfg.scaleway.timeout }
    let data: Buffer
    try {
      data = await accessSecretVersion(opts, key.value(), target, signal)
    } catch (err) {
      // The IAM key itself may have been rotated (file or store source): pick it up and try once more.
      if (!(err instanceof ScwAccessError && err.status === 401 && await key.refresh())) {
        throw err instanceof ScwAccessError ? new SourceError(err.message, err.retryAfterMs) : err
      }
      try {
        data = await accessSecretVersion(opts, key.value(), target, signal)
      } catch (err2) {
        throw err2 instanceof ScwAccessError ? new SourceError(err2.message, err2.retryAfterMs) : err2
      }
    }
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data)
    } catch {
      throw new SourceError('the Secret Manager version is not UTF-8 text')
    }
    return nonEmpty(stripOneNewline(text), 'the Secret Manager version')
  }

  async #first (e: Entry): Promise<void> {
    if (e.source.fingerprint !== undefined) e.fingerprint = await e.source.fingerprint().catch(() => undefined)
    try {
      const v = await this.#cache.fetch(e.key, { forceRefresh: true, signal: this.#abort.signal })
      if (v === undefined) throw new SourceError('no value')
      e.last = v
    } catch (err) {
      this.#stop(e)
      if (this.#entries.get(e.key) === e) this.#entries.delete(e.key)
      this.#cache.delete(e.key)
      throw err
    }
    this.#watch(e)
    this.#schedule(e, this.#cfg.ttl - this.#cfg.refreshAhead)
  }

  /** handle.refresh(): coalesced, with a short cooldown so a burst of 401s causes one fetch. */
  #refresh (e: Entry): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    const now = Date.now()
    if (e.recent !== undefined && now - e.recent.at < this.#cooldown) return e.recent.result
    const result = this.#fetch(e, 'forced')
    e.recent = { at: now, result }
    return result
  }

  /** Fetch from the source (sharing an in-flight fetch), update the value, fire events. Never rejects. */
  async #fetch (e: Entry, why: 'forced' | 'scheduled' | 'changed'): Promise<boolean> {
    let v: string | undefined
    try {
      v = await this.#cache.fetch(e.key, { forceRefresh: true, signal: this.#abort.signal })
      if (v === undefined) throw new SourceError('no value')
    } catch (err) {
      this.#failed(e, err, why)
      return false
    }
    if (this.#closed || this.#entries.get(e.key) !== e) return false
    const changed = v !== e.last
    if (e.failures > 0) this.#log.info({ ref: e.ref, failures: e.failures }, 'secret source recovered')
    e.failures = 0
    e.last = v
    this.#events.refreshed?.(e.ref, changed)
    if (changed) {
      this.#log.info({ ref: e.ref, why }, 'secret rotated')
      this.#events.rotated?.(e.ref)
    }
    this.#schedule(e, this.#cfg.ttl - this.#cfg.refreshAhead)
    return changed
  }

  /** A fetch (or a change check) failed: warn, count, back off; the last good value stays. */
  #failed (e: Entry, err: unknown, why: string): void {
    if (this.#closed || this.#entries.get(e.key) !== e) return
    e.failures++
    const reason = reasonOf(err)
    this.#log.warn({ ref: e.ref, reason, why, failures: e.failures }, 'secret refresh failed; serving the last good value')
    this.#events.refreshFailed?.(e.ref, reason)
    const backoff = Math.min(1000 * 2 ** (e.failures - 1), 60_000, this.#cfg.ttl)
    const retryAfter = err instanceof SourceError ? err.retryAfterMs ?? 0 : 0
    e.retryAt = Date.now() + Math.max(backoff, retryAfter)
    this.#schedule(e, Math.max(backoff, retryAfter))
  }

  /** Scaleway values: refresh ahead of expiry (or retry after a failure). Local sources: poll. */
  #schedule (e: Entry, delay: number): void {
    if (this.#closed) return
    if (e.timer !== undefined) clearTimeout(e.timer)
    e.timer = undefined
    if (e.source.expires) {
      e.timer = setTimeout(() => { this.#fetch(e, 'scheduled').catch(noop) }, Math.max(delay, 10))
    } else if (e.source.fingerprint !== undefined) {
      e.timer = setTimeout(() => { this.#check(e).catch(noop) }, e.source.pollMs ?? this.#cfg.pollInterval)
    }
    e.timer?.unref()
  }

  /** Poll tick (or watch event) for a local source: re-read if its fingerprint changed. */
  async #check (e: Entry): Promise<void> {
    if (this.#closed || e.checking || e.source.fingerprint === undefined) return
    e.checking = true
    try {
      let fp: string
      try {
        fp = await e.source.fingerprint()
      } catch (err) {
        this.#failed(e, err, 'changed')
        return // #failed scheduled the next tick
      }
      if (fp !== e.fingerprint || (e.failures > 0 && Date.now() >= e.retryAt)) {
        e.fingerprint = fp
        await this.#fetch(e, 'changed')
        return // #fetch scheduled the next tick
      }
    } finally {
      e.checking = false
    }
    this.#schedule(e, e.source.pollMs ?? this.#cfg.pollInterval)
  }

  #watch (e: Entry): void {
    if (e.source.watchDir === undefined) return
    try {
      let soon: NodeJS.Timeout | undefined
      e.watcher = watch(e.source.watchDir, { persistent: false }, () => {
        if (soon !== undefined) return
        soon = setTimeout(() => { soon = undefined; this.#check(e).catch(noop) }, 20)
        soon.unref()
      })
      e.watcher.on('error', () => { e.watcher?.close(); e.watcher = undefined })
    } catch {
      // no watch support here: polling alone picks the change up
    }
  }

  #stop (e: Entry): void {
    if (e.timer !== undefined) clearTimeout(e.timer)
    e.timer = undefined
    e.watcher?.close()
    e.watcher = undefined
  }
}

/** The resolver of a gateway: references, and the store they come from. */
export interface GatewayResolver extends SecretResolver {
  /**
   * Opens (reads, verifies, decrypts) `secrets.store` now; undefined when there is none (or it is
   * in Secret Manager and the resolver is offline). Rejects with the store's own error.
   */
  openStore (): Promise<SecretStore | undefined>
}

/** Creates a resolver for one loaded config. Call `close()` when the config is replaced. */
export function createSecretResolver (opts: SecretResolverOptions): GatewayResolver {
  return new Resolver(opts)
}
