// Where the bytes of a tollgate state file (the secret store, the keys file) live, kept apart from
// what they mean: the store and keys code parse, verify and check generations on whatever text a
// StateBackend hands them, and do their read-modify-write through `update()`. FileState is the
// file on disk; ScwState (src/secrets/scaleway-state.ts) keeps the same bytes as the versions of a
// Scaleway Secret Manager secret (read = the newest valid version, update = add a version, re-read
// and re-apply on a revision conflict).
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { acquireLock, cleanLeftovers, errnoCode, fileStamp, readSnapshot, WriteConflict, writeFileAtomic, type FailFn } from './atomic-file.js'

export interface Snapshot {
  /** undefined: nothing there yet (an empty store, no keys). */
  readonly text: string | undefined
  /** Opaque: changes whenever the content may have changed (a file's stamp, a secret's revision). */
  readonly version: string
  /**
   * The generation a content written on top of this one must carry, when the backend numbers them
   * itself (Secret Manager: the revision the new version will get). Undefined: the current
   * generation plus one.
   */
  readonly nextGeneration?: number
}

export interface Change<T> {
  /** The new content; undefined writes nothing. */
  text: string | undefined
  result: T
}

export interface StateBackend {
  /** Where the bytes live, for messages and as the key of high-water marks (an absolute path, or `scw:…`). */
  readonly location: string
  read (): Promise<Snapshot>
  /** Cheap change detection for polling; a different value means "read again". */
  fingerprint (): Promise<string>
  /** A folder whose watch events hint at a change (files only). */
  readonly watchDir?: string
  /**
   * Read-modify-write: `apply` gets the current content and returns the new one. The write happens
   * only if the content is still what `apply` saw; otherwise `apply` runs again on the new content
   * (so it must be a pure function of its input, apart from idempotent side effects).
   */
  update<T> (apply: (current: Snapshot) => Promise<Change<T>>): Promise<T>
}

/** The generation of a content written on top of `current`, whose own generation is `generation`. */
export function nextGeneration (current: Snapshot, generation: number): number {
  const next = current.nextGeneration ?? generation + 1
  // a backend's numbering only ever moves forward; anything else would be refused by every reader
  if (!(next > generation)) throw new Error(`${next} is not a generation above ${generation}`)
  return next
}

/** Tries of `apply` before a writer gives up on a state that keeps changing under it. */
export const MAX_ATTEMPTS = 5

/**
 * The generation a state document says it has (the secret store and the keys file both carry one,
 * under their MAC; 0 for format version 1), read without verifying anything; undefined when the
 * text is not such a document. Backends use it to pick a version; the readers verify it again.
 */
export function documentGeneration (text: string): number | undefined {
  let o: unknown
  try { o = JSON.parse(text) } catch { return undefined }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined
  const d = o as { version?: unknown, generation?: unknown }
  if (d.version === 1) return 0
  return typeof d.generation === 'number' && Number.isSafeInteger(d.generation) && d.generation >= 1 ? d.generation : undefined
}

/** A state file on disk: lock file, atomic rename, compare-and-swap, size limit, mode 0600. */
export class FileState implements StateBackend {
  readonly location: string
  readonly watchDir: string
  readonly #maxBytes: number
  readonly #fail: FailFn

  constructor (file: string, opts: { maxBytes: number, fail: (location: string) => FailFn }) {
    this.location = resolve(file)
    this.watchDir = dirname(this.location)
    this.#maxBytes = opts.maxBytes
    this.#fail = opts.fail(this.location)
  }

  async read (): Promise<Snapshot> {
    const s = await readSnapshot(this.location, this.#maxBytes, this.#fail)
    return { text: s.text, version: s.stamp }
  }

  async fingerprint (): Promise<string> {
    return await fileStamp(this.location)
  }

  async update<T> (apply: (current: Snapshot) => Promise<Change<T>>): Promise<T> {
    const fail = this.#fail
    await mkdir(dirname(this.location), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw fail(`cannot create its folder (${errnoCode(err) ?? 'error'})`, err)
    })
    const lock = await acquireLock(this.location, fail)
    try {
      await cleanLeftovers(this.location)
      for (let attempt = 1; ; attempt++) {
        const current = await this.read()
        const { text, result } = await apply(current)
        if (text === undefined) return result
        try {
          await writeFileAtomic(this.location, text, fail, { expect: current.version, lock })
          return result
        } catch (err) {
          // Another writer ignored the lock (or a hand edit): its change is read and this one re-applied.
          if (!(err instanceof WriteConflict)) throw err
          if (attempt >= MAX_ATTEMPTS) throw fail(`kept changing while it was being updated (${MAX_ATTEMPTS} tries): is something else writing it?`)
        }
      }
    } finally {
      await lock.release()
    }
  }
}
