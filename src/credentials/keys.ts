// The gateway's in-memory view of the keys file: verified synchronously on every request, reloaded
// when the file changes (fs.watch on its folder, plus a stat poll as a fallback), last good state
// kept when a new version does not parse.
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import type { Principal } from '../policy/types.js'
import { authFailure, type AuthOutcome } from './types.js'
import { readKeysFile, type KeysFile } from './keyfile.js'
import { digestsEqual, hashKey, parseKey, pepperId } from './keyformat.js'
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
  /** Fetches the pepper from the secret store (undefined when there is none yet). */
  getPepper: () => Promise<Buffer | undefined>
  logger: Logger
  /** Also re-stat the file this often (ms); 0 disables the poll. fs.watch is always tried. */
  pollMs?: number
  now?: () => number
}

export class KeyIndex {
  readonly file: string
  #opts: KeyIndexOptions
  #byId = new Map<string, Entry>()
  #pepper: Buffer | undefined
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
    this.file = resolve(opts.file)
    this.#now = opts.now ?? Date.now
  }

  /** Loads the file (a missing file is no keys); throws TG_ERR_KEYS_STORE if it is unusable. */
  static async open (opts: KeyIndexOptions): Promise<KeyIndex> {
    const index = new KeyIndex(opts)
    await index.#load(true)
    index.#startWatching()
    return index
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
    const pepper = this.#pepper
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
   * rejects: a file that does not parse is logged and the last good keys stay.
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
            this.#opts.logger.error({ file: this.file, err: { message: (err as Error).message } }, 'keys file reload failed; keeping the last good keys')
          }
        } while (this.#again && !this.#closed)
      } finally {
        this.#running = undefined
      }
      return changed
    })()
    return await this.#running
  }

  async #load (initial: boolean): Promise<boolean> {
    const st = await stat(this.file).catch(() => undefined)
    const { data, text } = await readKeysFile(this.file)
    this.#signature = st === undefined ? 'missing' : `${st.ino}:${st.size}:${st.mtimeMs}`
    if (text === this.#text) return false
    let pepper = this.#pepper
    const stale = pepper === undefined || (data.pepperId !== null && data.pepperId !== pepperId(pepper))
    if (stale && data.keys.length > 0) pepper = (await this.#opts.getPepper()) ?? pepper
    if (data.keys.length > 0) {
      if (pepper === undefined) {
        this.#opts.logger.error({ file: this.file }, 'the keys file has keys but the secret store has no keys pepper: every key is refused (was the store replaced?)')
      } else if (data.pepperId !== null && data.pepperId !== pepperId(pepper)) {
        this.#opts.logger.error({ file: this.file }, 'the keys file was written with another pepper than the one in the secret store: every key is refused (wrong secrets.store?)')
      }
    }
    this.#pepper = pepper
    this.#byId = index(data)
    const before = this.#text
    this.#text = text
    if (!initial) this.#opts.logger.info({ file: this.file, keys: this.#byId.size, active: this.activeCount }, 'keys file reloaded')
    return before !== text
  }

  #startWatching (): void {
    const schedule = (): void => {
      if (this.#closed) return
      clearTimeout(this.#debounce)
      this.#debounce = setTimeout(() => { this.reload().catch(() => {}) }, 20)
    }
    try {
      const name = basename(this.file)
      this.#watcher = watch(dirname(this.file), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) schedule()
      })
      this.#watcher.on('error', () => {
        this.#watcher?.close()
        this.#watcher = undefined
      })
    } catch {
      this.#watcher = undefined // folder missing or watch unsupported: the poll below still works
    }
    const pollMs = this.#opts.pollMs ?? 2000
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        stat(this.file).then(
          (st) => `${st.ino}:${st.size}:${st.mtimeMs}`,
          () => 'missing'
        ).then((sig) => { if (sig !== this.#signature) schedule() }).catch(() => {})
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
