// The gateway's in-memory view of the keys file: verified synchronously on every request, reloaded
// when the file changes (fs.watch on its folder, plus a poll as a fallback), last good state kept
// (and the refusal logged at error, counted) when a new version does not parse, fails its MAC, is
// older than one already accepted, or drops back to the unprotected format.
import { watch, type FSWatcher } from 'node:fs'
import { basename } from 'node:path'
import { TollgateError } from '../errors.js'
import type { StateBackend } from '../files/state.js'
import { HighWater, IntegrityError } from '../files/integrity.js'
import type { Principal } from '../policy/types.js'
import { authFailure, type AuthOutcome } from './types.js'
import { emptyKeysFile, keysFileState, parseKeysFile, verifyKeysFile, type KeysFile } from './keyfile.js'
import { digestsEqual, hashKey, parseKey, pepperId } from './keyformat.js'
import type { KeysSecrets } from './pepper.js'
import type { Logger } from './logger.js'

interface Entry {
  id: string
  hash: Buffer
  revoked: boolean
  expiresAt: number
  containers: ReadonlySet<string> | null
  principal: Principal
  ok: AuthOutcome
}

const DUMMY_HASH = Buffer.alloc(32)
const MALFORMED = authFailure('credential_malformed')
const UNKNOWN = authFailure('credential_unknown')
const REVOKED = authFailure('credential_revoked')
const EXPIRED = authFailure('credential_expired')
const OUT_OF_SCOPE = authFailure('credential_out_of_scope')

export interface KeyIndexOptions {
  file: string
  /** Where the bytes live (default: the file). */
  backend?: StateBackend
  /** Fetches the pepper (and whether the keys file must carry a MAC) from the secret store. */
  getPepper: () => Promise<KeysSecrets>
  logger: Logger
  /** Generations already accepted (shared across config reloads); default: this index's own. */
  highWater?: HighWater
  /** A refused keys file (for the metric). */
  refused?: (reason: string) => void
  /** The generation of the keys file now served (for the metric). */
  accepted?: (generation: number) => void
  /** Also re-check the file this often (ms); 0 disables the poll. fs.watch is always tried. */
  pollMs?: number
  now?: () => number
}

export class KeyIndex {
  readonly file: string
  #opts: KeyIndexOptions
  #backend: StateBackend
  #highWater: HighWater
  #byId = new Map<string, Entry>()
  #secrets: KeysSecrets | undefined
  #text: string | undefined = '\0'
  #signature = ''
  #watcher: FSWatcher | undefined
  #poll: NodeJS.Timeout | undefined
  #debounce: NodeJS.Timeout | undefined
  #running: Promise<boolean> | undefined
  #again = false
  #closed = false
  #now: () => number

  private constructor (opts: KeyIndexOptions) {
    this.#opts = opts
    this.#backend = opts.backend ?? keysFileState(opts.file)
    this.file = this.#backend.location
    this.#highWater = opts.highWater ?? new HighWater()
    this.#now = opts.now ?? Date.now
  }

  /** Loads the file (a missing file is no keys); throws TG_ERR_KEYS_STORE (or _INTEGRITY, _ROLLBACK) if it is unusable. */
  static async open (opts: KeyIndexOptions): Promise<KeyIndex> {
    const index = new KeyIndex(opts)
    await index.#load(true)
    index.#startWatching()
    return index
  }

  /** Key names, and whether any key of that name is neither revoked nor expired. */
  names (): Map<string, boolean> {
    const now = this.#now()
    const out = new Map<string, boolean>()
    for (const e of this.#byId.values()) {
      const live = !e.revoked && e.expiresAt > now
      out.set(e.principal.id, (out.get(e.principal.id) ?? false) || live)
    }
    return out
  }

  /** Number of keys that are neither revoked nor expired. */
  get activeCount (): number {
    const now = this.#now()
    let n = 0
    for (const e of this.#byId.values()) if (!e.revoked && e.expiresAt > now) n++
    return n
  }

  /** Synchronous: on the request path. Never throws. */
  verify (credential: string, container: string): AuthOutcome {
    const id = parseKey(credential)
    if (id === undefined) return MALFORMED
    const entry = this.#byId.get(id)
    const pepper = this.#secrets?.pepper
    if (pepper === undefined) return UNKNOWN
    // always hash and compare, so an unknown id costs the same as a wrong secret
    const presented = hashKey(pepper, credential)
    const match = digestsEqual(presented, entry?.hash ?? DUMMY_HASH)
    if (entry === undefined || !match) return UNKNOWN
    if (entry.revoked) return REVOKED
    if (this.#now() >= entry.expiresAt) return EXPIRED
    if (entry.containers !== null && !entry.containers.has(container)) return OUT_OF_SCOPE
    return entry.ok
  }

  /**
   * Re-reads the file now (also what the watcher calls). Resolves true when the keys changed. Never
   * rejects: a file that does not parse or verify is logged (at error) and the last good keys stay.
   */
  async reload (): Promise<boolean> {
    if (this.#running !== undefined) {
      this.#again = true
      return await this.#running
    }
    this.#running = (async () => {
      let changed = false
      try {
        do {
          this.#again = false
          try {
            if (await this.#load(false)) changed = true
          } catch (err) {
            this.#refuse(err)
          }
        } while (this.#again && !this.#closed)
      } finally {
        this.#running = undefined
      }
      return changed
    })()
    return await this.#running
  }

  #refuse (err: unknown): void {
    const reason = err instanceof IntegrityError ? err.reason : 'unreadable'
    const code = err instanceof TollgateError ? err.code : undefined
    this.#opts.logger.error({ file: this.file, code, reason, err: { message: (err as Error).message } }, 'keys file refused; keeping the last good keys')
    this.#opts.refused?.(reason)
  }

  async #load (initial: boolean): Promise<boolean> {
    this.#signature = await this.#backend.fingerprint()
    const { text } = await this.#backend.read()
    if (text === this.#text) return false
    const data = text === undefined ? emptyKeysFile() : parseKeysFile(this.file, text)
    const secrets = await this.#secretsFor(data)
    if (data.version === 2) {
      if (secrets.pepper === undefined) {
        throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'tampered', `keys file ${this.file}: the secret store has no keys pepper to check it with (was the store replaced?): refused`)
      }
      verifyKeysFile(this.file, data, secrets.pepper)
    } else if (data.keys.length > 0) {
      if (secrets.macRequired) {
        throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'downgrade', `keys file ${this.file}: is format version 1 (no integrity check), ` +
            'but this store\'s keys file was already upgraded to version 2: refused (an old copy, or written by hand)')
      }
      if (secrets.pepper === undefined) {
        this.#opts.logger.error({ file: this.file }, 'the keys file has keys but the secret store has no keys pepper: every key is refused (was the store replaced?)')
      } else if (data.pepperId !== null && data.pepperId !== pepperId(secrets.pepper)) {
        this.#opts.logger.error({ file: this.file }, 'the keys file was written with another pepper than the one in the secret store: every key is refused (wrong secrets.store?)')
      }
    }
    // a keys file that disappears after one was read is a rollback to "no keys" (generation 0)
    this.#highWater.check(this.file, { id: undefined, generation: data.generation }, `keys file ${this.file}${text === undefined ? ' (now missing)' : ''}`)
    this.#highWater.record(this.file, { id: undefined, generation: data.generation })
    this.#secrets = secrets
    this.#byId = index(data)
    this.#text = text
    this.#opts.accepted?.(data.generation)
    if (!initial) this.#opts.logger.info({ file: this.file, keys: this.#byId.size, active: this.activeCount, generation: data.generation }, 'keys file reloaded')
    if (data.version === 1 && data.keys.length > 0) {
      this.#opts.logger.warn({ file: this.file }, 'the keys file is format version 1 (no integrity check): the next `tollgate keys` write upgrades it')
    }
    return true
  }

  /**
   * The store's keys secrets: fetched at start, again when the file names another pepper, and again
   * for a version 1 file with keys (whether the store now says the file was upgraded). Once the
   * store said so, it stays so for this index.
   */
  async #secretsFor (data: KeysFile): Promise<KeysSecrets> {
    const have = this.#secrets
    const needed = data.keys.length > 0 || data.version === 2
    if (!needed) return have ?? { pepper: undefined, macRequired: false }
    const stale = have?.pepper === undefined || (data.pepperId !== null && data.pepperId !== pepperId(have.pepper)) || data.version === 1
    if (!stale) return have
    const fresh = await this.#opts.getPepper()
    return { ...fresh, macRequired: fresh.macRequired || (have?.macRequired ?? false) }
  }

  #startWatching (): void {
    const schedule = (): void => {
      if (this.#closed) return
      clearTimeout(this.#debounce)
      this.#debounce = setTimeout(() => { this.reload().catch(() => {}) }, 20)
    }
    const dir = this.#backend.watchDir
    if (dir !== undefined) {
      try {
        const name = basename(this.file)
        this.#watcher = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename === null || filename === name) schedule()
        })
        this.#watcher.on('error', () => {
          this.#watcher?.close()
          this.#watcher = undefined
        })
      } catch {
        this.#watcher = undefined // folder missing or watch unsupported: the poll below still works
      }
    }
    const pollMs = this.#opts.pollMs ?? 2000
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        this.#backend.fingerprint().then((sig) => { if (sig !== this.#signature) schedule() }).catch(() => {})
      }, pollMs)
      this.#poll.unref()
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#watcher?.close()
    clearInterval(this.#poll)
    clearTimeout(this.#debounce)
    if (this.#running !== undefined) await this.#running.catch(() => {})
  }
}

function index (data: KeysFile): Map<string, Entry> {
  const out = new Map<string, Entry>()
  for (const r of data.keys) {
    const principal: Principal = Object.freeze({ kind: 'key', id: r.name, owner: r.owner, claims: Object.freeze({}) })
    out.set(r.id, {
      id: r.id,
      hash: Buffer.from(r.hash, 'base64'),
      revoked: r.revokedAt !== null,
      expiresAt: r.expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(r.expiresAt),
      containers: r.containers === null ? null : new Set(r.containers),
      principal,
      ok: Object.freeze({ ok: true, principal })
    })
  }
  return out
}
