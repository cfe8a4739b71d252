// A tollgate state file (the secret store, the keys file) kept as a Scaleway Secret Manager secret:
// the same bytes as the file, one version per write. The StateBackend contract (src/files/state.ts)
// on Secret Manager's API, which has no compare-and-swap:
//
// - A version is valid when the generation sealed in it (under its MAC) equals its revision, the
//   number Scaleway gives versions in order (1, 2, 3…, never reused). A writer reads the newest
//   valid version, predicts the revision its new version will get (one past the highest revision
//   listed, or past one it was given before) and seals that as the generation.
// - Conflict: if Scaleway gives the new version another revision, someone created a version since
//   the read. That version is invalid (generation ≠ revision, so no reader ever takes it); the
//   writer deletes it, reads again, re-applies its change on the newer content and tries again.
//   Two writers never both land on one read: only one version can get the predicted revision.
// - Readers take the newest enabled valid version (skipping a concurrent writer's discarded attempt
//   or a version uploaded by hand); they check when nothing changed with one list call (no data
//   fetched), and fetch a version's data once (versions are immutable).
// - The generation is the revision, so a copy of an old version added again is invalid, and the
//   high-water mark a gateway keeps (src/files/integrity.ts) is a revision.
// - A version holds at most 64 KiB; after a write, versions below the previous one are deleted
//   (Scaleway keeps at most 20 per secret).
// Failures to reach Scaleway are reported through `onStatus` (log line, metric) by the caller.
import type { SecretHandle } from './types.js'
import { parseStateLocation, type ScwTarget } from './refs.js'
import { ScwAccessError, scwRequest, versionData, type ScwCall, type ScwClientOptions } from './scaleway.js'
import { documentGeneration, MAX_ATTEMPTS, type Change, type Snapshot, type StateBackend } from '../files/state.js'
import type { FailFn } from '../files/atomic-file.js'

/** Scaleway's limit on one version's data. */
export const MAX_VERSION_BYTES = 64 * 1024
/**
 * Tries of a write before giving up. Without a lock, N writers at once take up to N rounds (one wins
 * each), so this is more than the file's; between tries a writer waits a random, growing while.
 */
const WRITE_ATTEMPTS = 10
/** Versions kept below the one just written: the previous one, which a reader may be fetching. */
const KEEP_BELOW = 1
const PAGE_SIZE = 100

export interface ScwStateOptions {
  /** The location as tollgate names it (`scw:fr-par/…`): messages and high-water marks. */
  location: string
  target: ScwTarget
  /** The config field (`secrets.store`, `credentials.keys`), for messages. */
  field: string
  /** What the bytes are, in version descriptions: `tollgate secret store`, `tollgate keys file`. */
  kind: string
  api: ScwClientOptions
  /** The IAM secret key (`secrets.scaleway.secretKey`), resolved on first use. */
  iamKey: () => Promise<SecretHandle>
  /** Project of a by-name location that does not name one. */
  projectId: () => string | undefined
  /** Builds the caller's error (its code, and a message prefixed with the location). */
  fail: FailFn
  /** The generation a document carries (undefined: not such a document). */
  generationOf: (text: string) => number | undefined
  /** Secret Manager answered (true) or could not be reached / refused the call (false, reason). */
  onStatus?: (ok: boolean, reason?: string) => void
  /** A version that is not a valid one (reported once per revision). */
  onIgnored?: (revision: number, why: string) => void
  /** A list younger than this is reused by readers (pollers of one store share a call). */
  listCacheMs?: number
}

/** What every Secret Manager-backed state file of one config shares: the API, the key, the reports. */
export interface ScwStateContext {
  options (field: string): Pick<ScwStateOptions, 'api' | 'iamKey' | 'projectId' | 'onStatus' | 'onIgnored' | 'listCacheMs'>
}

export interface StateFileSpec {
  /** The config field (`secrets.store`, `credentials.keys`). */
  field: string
  /** What the bytes are, for version descriptions and messages. */
  kind: string
  /** The caller's error for a location (its code, the location in the message). */
  fail: (location: string) => FailFn
  /** The file backend, for a location that is a path. */
  file: (path: string) => StateBackend
}

/**
 * The backend of a state file's location: the file at that (absolute) path, or the Secret Manager
 * secret a `scw:…` location names (which needs `scw`, the Secret Manager settings).
 */
export function stateBackend (location: string, scw: ScwStateContext | undefined, spec: StateFileSpec): StateBackend {
  const where = parseStateLocation(location)
  if (where.kind === 'file') return spec.file(where.path)
  const fail = spec.fail(where.location)
  if (scw === undefined) throw fail('is kept in Scaleway Secret Manager, which is not set up here')
  return new ScwState({ ...scw.options(spec.field), location: where.location, target: where.target, field: spec.field, kind: spec.kind, fail, generationOf: documentGeneration })
}

interface Version { revision: number, status: string }

/** A listed version was gone by the time its data was read. */
class VersionGone extends Error {}

export class ScwState implements StateBackend {
  readonly location: string
  readonly #o: ScwStateOptions
  #id: Promise<string> | undefined
  /** Data of the revisions read so far (immutable on Scaleway's side). */
  readonly #data = new Map<number, { text: string, generation: number | undefined }>()
  readonly #ignored = new Set<number>()
  #list: { at: number, promise: Promise<Version[]> } | undefined
  /** The highest revision Scaleway has given this writer (a deleted version may not be listed). */
  #assigned = 0

  constructor (opts: ScwStateOptions) {
    this.location = opts.location
    this.#o = opts
  }

  async read (): Promise<Snapshot> {
    return await this.#snapshot(false)
  }

  async fingerprint (): Promise<string> {
    const versions = await this.#reported(async () => await this.#versions(false))
    return versions.map((v) => `${v.revision}:${v.status}`).join(',')
  }

  async update<T> (apply: (current: Snapshot) => Promise<Change<T>>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#snapshot(true)
      const { text, result } = await apply(current)
      if (text === undefined) return result
      const bytes = Buffer.byteLength(text, 'utf8')
      if (bytes > MAX_VERSION_BYTES) {
        throw this.#o.fail(`would be ${bytes} bytes, over the ${MAX_VERSION_BYTES}-byte limit of a Secret Manager version (${this.#o.field}): ` +
          'nothing was written. Keep it in a file instead (a Kubernetes Secret mount), or split the secrets over more than one store')
      }
      const predicted = current.nextGeneration!
      const created = await this.#reported(async () => await this.#call({
        method: 'POST',
        path: `/secrets/${await this.#secretId()}/versions`,
        body: { data: Buffer.from(text, 'utf8').toString('base64'), description: `${this.#o.kind}, generation ${predicted}` },
        what: this.#what()
      }))
      const revision = created.body.revision
      if (typeof revision !== 'number' || !Number.isSafeInteger(revision)) throw this.#o.fail('Secret Manager answered the version creation without a revision')
      this.#assigned = Math.max(this.#assigned, revision)
      this.#list = undefined
      if (revision === predicted) {
        this.#data.set(revision, { text, generation: predicted })
        await this.#prune(revision).catch(() => {}) // best effort: the next write tries again
        return result
      }
      // Another writer created a version since the read: this one carries a generation that is not
      // its revision, so no reader takes it. Remove it, read the newer content, apply again.
      await this.#call({ method: 'DELETE', path: `/secrets/${await this.#secretId()}/versions/${revision}`, what: this.#what() }).catch(() => {})
      if (attempt >= WRITE_ATTEMPTS) {
        throw this.#o.fail(`kept changing while it was being updated (${WRITE_ATTEMPTS} tries, each beaten by another writer's version): is something else writing it?`)
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * attempt))
    }
  }

  /**
   * The newest valid version and the generation a write on top of it must carry. A version deleted
   * between the list and the read of its data (another writer pruned it) means the list is old:
   * list again.
   */
  async #snapshot (fresh: boolean): Promise<Snapshot> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#snapshotOnce(fresh || attempt > 1)
      } catch (err) {
        if (!(err instanceof VersionGone) || attempt >= MAX_ATTEMPTS) throw err instanceof VersionGone ? this.#o.fail(err.message) : err
      }
    }
  }

  async #snapshotOnce (fresh: boolean): Promise<Snapshot> {
    const versions = await this.#reported(async () => await this.#versions(fresh))
    const next = Math.max(this.#assigned, ...versions.map((v) => v.revision)) + 1
    const enabled = versions.filter((v) => v.status === 'enabled')
    if (enabled.length === 0) return { text: undefined, version: 'empty', nextGeneration: next }
    for (const v of [...enabled].reverse()) {
      const d = await this.#reported(async () => {
        try {
          return await this.#versionText(v.revision)
        } catch (err) {
          if (err instanceof ScwAccessError && err.status === 404) throw new VersionGone(`revision ${v.revision} was deleted while it was being read (a writer kept pruning)`)
          throw err
        }
      })
      if (d.generation === v.revision) return { text: d.text, version: `revision:${v.revision}`, nextGeneration: next }
      if (!this.#ignored.has(v.revision)) {
        this.#ignored.add(v.revision)
        this.#o.onIgnored?.(v.revision, d.generation === undefined
          ? `revision ${v.revision} is not a ${this.#o.kind}`
          : `revision ${v.revision} carries generation ${d.generation}: not written by tollgate at that revision (a concurrent writer's discarded attempt, a copy of an older version, or an upload by hand)`)
      }
    }
    throw this.#o.fail(`none of its ${enabled.length} enabled version(s) is a ${this.#o.kind} written by tollgate ` +
      '(the generation sealed in a version must be its revision): write it with tollgate, not by uploading a file')
  }

  /** Every version, by revision (cached for readers; always fresh for writers). */
  async #versions (fresh: boolean): Promise<Version[]> {
    const now = Date.now()
    const cached = this.#list
    if (!fresh && cached !== undefined && now - cached.at < (this.#o.listCacheMs ?? 500)) return await cached.promise
    const promise = this.#listAll()
    this.#list = { at: now, promise }
    promise.catch(() => { if (this.#list?.promise === promise) this.#list = undefined })
    const versions = await promise
    for (const r of this.#data.keys()) if (!versions.some((v) => v.revision === r)) this.#data.delete(r)
    return versions
  }

  async #listAll (): Promise<Version[]> {
    const id = await this.#secretId()
    const out: Version[] = []
    for (let page = 1; ; page++) {
      const { body } = await this.#call({ method: 'GET', path: `/secrets/${id}/versions`, query: { page: String(page), page_size: String(PAGE_SIZE) }, what: this.#what() })
      const list = Array.isArray(body.versions) ? body.versions as Array<Record<string, unknown>> : []
      for (const v of list) {
        if (typeof v.revision === 'number' && Number.isSafeInteger(v.revision) && typeof v.status === 'string') out.push({ revision: v.revision, status: v.status })
      }
      const total = typeof body.total_count === 'number' ? body.total_count : 0
      if (list.length < PAGE_SIZE || out.length >= total) break
    }
    return out.sort((a, b) => a.revision - b.revision)
  }

  async #versionText (revision: number): Promise<{ text: string, generation: number | undefined }> {
    const have = this.#data.get(revision)
    if (have !== undefined) return have
    const { body } = await this.#call({ method: 'GET', path: `/secrets/${await this.#secretId()}/versions/${revision}/access`, what: this.#what() })
    const data = versionData(body, new URL(this.#o.api.baseUrl).origin)
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data)
    } catch {
      text = ''
    }
    const d = { text, generation: text === '' ? undefined : this.#o.generationOf(text) }
    this.#data.set(revision, d)
    return d
  }

  /** Deletes the versions below the one just written but the newest KEEP_BELOW of them. */
  async #prune (head: number): Promise<void> {
    const versions = await this.#versions(true)
    const below = versions.filter((v) => v.revision < head && v.status !== 'scheduled_for_deletion' && v.status !== 'deleted')
    const id = await this.#secretId()
    for (const v of below.slice(0, Math.max(0, below.length - KEEP_BELOW))) {
      await this.#call({ method: 'DELETE', path: `/secrets/${id}/versions/${v.revision}`, what: this.#what() })
    }
    this.#list = undefined
  }

  /** The secret's id (looked up once by project, folder and name for a by-name location). */
  #secretId (): Promise<string> {
    if (this.#id === undefined) {
      const t = this.#o.target
      this.#id = t.by === 'id' ? Promise.resolve(t.id) : this.#lookup(t)
      this.#id.catch(() => { this.#id = undefined })
    }
    return this.#id
  }

  async #lookup (t: Extract<ScwTarget, { by: 'path' }>): Promise<string> {
    const projectId = t.projectId ?? this.#o.projectId()
    if (projectId === undefined || projectId === '') {
      throw this.#o.fail('names no project, and neither secrets.scaleway.projectId nor SCW_DEFAULT_PROJECT_ID is set')
    }
    const { body } = await this.#call({ method: 'GET', path: '/secrets', query: { project_id: projectId, name: t.name, path: t.path, page_size: String(PAGE_SIZE) }, what: this.#what() })
    const found = (Array.isArray(body.secrets) ? body.secrets as Array<Record<string, unknown>> : [])
      .find((s) => s.name === t.name && (s.path ?? '/') === t.path && typeof s.id === 'string')
    if (found === undefined) {
      throw this.#o.fail(`no secret "${t.name}" in folder ${t.path} of project ${projectId}: create it first ` +
        `(scw secret secret create name=${t.name} path=${t.path} project-id=${projectId} region=${t.region})`)
    }
    return found.id as string
  }

  #what (): string {
    return `${this.#o.field} (${this.location})`
  }

  /** One call with the IAM key; a 401 re-reads the key from its source once and tries again. */
  async #call (call: Omit<ScwCall, 'region'>): Promise<{ status: number, body: Record<string, unknown> }> {
    const key = await this.#o.iamKey()
    const full = { ...call, region: this.#o.target.region }
    try {
      return await scwRequest(this.#o.api, key.value(), full)
    } catch (err) {
      if (err instanceof ScwAccessError && err.status === 401 && await key.refresh()) return await scwRequest(this.#o.api, key.value(), full)
      throw err
    }
  }

  /** Runs a Secret Manager step: its failure becomes the caller's error, and both outcomes are reported. */
  async #reported<T> (step: () => Promise<T>): Promise<T> {
    let out: T
    try {
      out = await step()
    } catch (err) {
      if (err instanceof ScwAccessError) {
        this.#o.onStatus?.(false, err.message)
        throw this.#o.fail(err.message, err)
      }
      throw err
    }
    this.#o.onStatus?.(true)
    return out
  }
}
