// The encrypted local secret store (`secrets.store` in config, `${secret:NAME}` in references).
//
// One JSON document; every value sealed with AES-256-GCM under a key derived from the master key
// and the store's random id, with a random 96-bit IV per write, a 16-byte tag, and the store id,
// the entry name and its timestamps bound as additional data (a value cannot be moved to another
// name, nor into another store). A whole-document HMAC, checked before anything is decrypted,
// covers the header too: the store id and a generation that every write raises by one, so a reader
// that remembers the highest generation it accepted (src/files/integrity.ts) refuses an older copy.
// Parsing and verifying work on text, wherever it came from (a file today: FileState; the same
// bytes can live in a Secret Manager secret); writers go through the backend's read-modify-write
// (lock, re-read, compare-and-swap). Version 1 files (no id, no generation) are read and become
// version 2 on their first write. The master key can be rotated (`rotate()`). See docs/secrets.md.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { TollgateError } from '../errors.js'
import { FileState, nextGeneration, type StateBackend } from '../files/state.js'
import { HighWater, IntegrityError } from '../files/integrity.js'
import { SECRET_NAME } from './refs.js'
import { stateBackend, type ScwStateContext } from './scaleway-state.js'

export const STORE_FORMAT = 'tollgate-secret-store'
export const STORE_VERSION = 2
const CIPHER = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
const STORE_ID_BYTES = 16
/** Scaleway Secret Manager's own limit; a token is far smaller. */
export const MAX_VALUE_BYTES = 64 * 1024
/** Largest store read: far above any real store, small enough that a wrong file cannot exhaust memory. */
export const MAX_STORE_BYTES = 8 * 1024 * 1024
export const STORE_ID = /^[0-9a-f]{32}$/

export interface SecretEntryInfo { name: string, createdAt: string, updatedAt: string }

interface Entry extends SecretEntryInfo { value: string }

interface SealedEntry extends SecretEntryInfo { iv: string, tag: string, data: string }

/** A parsed (not yet verified) store document, either version. */
interface StoreDoc {
  format: typeof STORE_FORMAT
  version: 1 | 2
  cipher: typeof CIPHER
  /** Version 2 only. */
  storeId: string | undefined
  keyId: string
  /** 0 for version 1. */
  generation: number
  entries: SealedEntry[]
  mac: string
}

/** What a verified store holds. */
export interface OpenedStore {
  storeId: string | undefined
  generation: number
  keyId: string
  version: 1 | 2
  entries: Map<string, Entry>
}

/** The keys derived from one master key for one store. */
interface Keyring { id: string, master: Buffer }

function derive (master: Buffer, salt: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, `tollgate/secret-store/${info}`, length))
}

function keyring (master: Buffer): Keyring {
  if (!Buffer.isBuffer(master) || master.length !== KEY_BYTES) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `the master key must be ${KEY_BYTES} bytes`)
  }
  return { id: derive(master, Buffer.alloc(0), 'key-id', 8).toString('hex'), master }
}

/** Encryption and MAC keys of one store: version 2 salts them with the store id (HKDF). */
function storeKeys (k: Keyring, version: 1 | 2, storeId: string | undefined): { enc: Buffer, mac: Buffer } {
  if (version === 1) return { enc: derive(k.master, Buffer.alloc(0), 'v1/enc', 32), mac: derive(k.master, Buffer.alloc(0), 'v1/mac', 32) }
  const salt = Buffer.from(storeId!, 'hex')
  return { enc: derive(k.master, salt, 'v2/enc', 32), mac: derive(k.master, salt, 'v2/mac', 32) }
}

/** The key id a master key is known by in store files (safe to print: a one-way derivation). */
export function masterKeyId (master: Buffer): string {
  return keyring(master).id
}

function aad (d: Pick<StoreDoc, 'version' | 'storeId' | 'keyId'>, e: SecretEntryInfo): Buffer {
  const head = d.version === 1 ? [STORE_FORMAT, 1, d.keyId] : [STORE_FORMAT, 2, d.storeId, d.keyId]
  return Buffer.from(JSON.stringify([...head, e.name, e.createdAt, e.updatedAt]), 'utf8')
}

/** Canonical bytes covered by the MAC: every field but `mac`, in a fixed order. */
function macInput (d: Omit<StoreDoc, 'mac'>): string {
  const entries = d.entries.map((e) => [e.name, e.createdAt, e.updatedAt, e.iv, e.tag, e.data])
  return d.version === 1
    ? JSON.stringify([d.format, d.version, d.cipher, d.keyId, entries])
    : JSON.stringify([d.format, d.version, d.cipher, d.storeId, d.keyId, d.generation, entries])
}

function storeError (location: string, message: string, cause?: unknown): TollgateError {
  return new TollgateError('TG_ERR_SECRET_STORE', `secret store ${location}: ${message}`, cause === undefined ? undefined : { cause })
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

function isB64 (s: unknown, bytes?: number): s is string {
  if (typeof s !== 'string' || !B64.test(s) || s.length % 4 !== 0) return false
  const decoded = Buffer.from(s, 'base64')
  // canonical only: no unused bits set, so every change to the file changes what it means
  return decoded.toString('base64') === s && (bytes === undefined || decoded.length === bytes)
}

const FIELDS_V1 = ['format', 'version', 'cipher', 'keyId', 'entries', 'mac']
const FIELDS_V2 = ['format', 'version', 'cipher', 'storeId', 'keyId', 'generation', 'entries', 'mac']
const ENTRY_FIELDS = ['name', 'createdAt', 'updatedAt', 'iv', 'tag', 'data']

function unknownField (o: object, allowed: readonly string[]): string | undefined {
  return Object.keys(o).find((k) => !allowed.includes(k))
}

/** Parses and checks the shape of a store document; decrypts nothing, verifies nothing. */
export function parseStore (location: string, text: string): StoreDoc {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw storeError(location, 'is truncated or not a tollgate secret store (not valid JSON)')
  }
  const o = raw as Record<string, unknown> | null
  if (o === null || typeof o !== 'object' || Array.isArray(o) || o.format !== STORE_FORMAT) {
    throw storeError(location, 'is not a tollgate secret store')
  }
  if (o.version !== 1 && o.version !== 2) {
    throw storeError(location, `has format version ${String(o.version)}; this tollgate reads versions 1 and ${STORE_VERSION}`)
  }
  const version = o.version
  const extra = unknownField(o, version === 1 ? FIELDS_V1 : FIELDS_V2)
  if (extra !== undefined) throw storeError(location, `has an unknown field ${JSON.stringify(extra.slice(0, 40))} (tampered, or written by another program)`)
  if (o.cipher !== CIPHER || typeof o.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(o.keyId) ||
      !isB64(o.mac, 32) || !Array.isArray(o.entries) ||
      (version === 2 && (typeof o.storeId !== 'string' || !STORE_ID.test(o.storeId) ||
        typeof o.generation !== 'number' || !Number.isSafeInteger(o.generation) || o.generation < 1))) {
    throw storeError(location, 'has a malformed header (tampered or truncated)')
  }
  const seen = new Set<string>()
  const entries = (o.entries as unknown[]).map((e: unknown, i: number): SealedEntry => {
    const r = e as Partial<SealedEntry> | null
    const name = r !== null && typeof r === 'object' && typeof r.name === 'string' && SECRET_NAME.test(r.name) ? r.name : undefined
    const label = name === undefined ? `entry #${i + 1}` : `entry "${name}"`
    if (name === undefined || typeof r?.createdAt !== 'string' || !ISO.test(r.createdAt) ||
        typeof r.updatedAt !== 'string' || !ISO.test(r.updatedAt) ||
        !isB64(r.iv, IV_BYTES) || !isB64(r.tag, TAG_BYTES) || !isB64(r.data) || unknownField(r, ENTRY_FIELDS) !== undefined) {
      throw storeError(location, `${label} is malformed (tampered or truncated)`)
    }
    if (seen.has(name)) throw storeError(location, `${label} appears twice (tampered)`)
    seen.add(name)
    return { name, createdAt: r.createdAt, updatedAt: r.updatedAt, iv: r.iv, tag: r.tag, data: r.data }
  })
  return {
    format: STORE_FORMAT,
    version,
    cipher: CIPHER,
    storeId: version === 2 ? o.storeId as string : undefined,
    keyId: o.keyId,
    generation: version === 2 ? o.generation as number : 0,
    entries,
    mac: o.mac as string
  }
}

/**
 * Verifies a parsed document (the whole-document MAC first, before anything is decrypted), then
 * decrypts every entry. Throws TG_ERR_SECRET_STORE naming the location; never returns half a store.
 */
export function openStore (location: string, d: StoreDoc, masterKeys: readonly Buffer[]): OpenedStore {
  const keys = masterKeys.map(keyring)
  const k = keys.find((x) => x.id === d.keyId)
  if (k === undefined) {
    throw storeError(location, `is sealed under master key id ${d.keyId}, not under the given master key ` +
      `(id ${keys.map((x) => x.id).join(', ')}): wrong TOLLGATE_MASTER_KEY?`)
  }
  const { enc, mac } = storeKeys(k, d.version, d.storeId)
  const expected = createHmac('sha256', mac).update(macInput(d)).digest()
  if (!timingSafeEqual(expected, Buffer.from(d.mac, 'base64'))) {
    throw storeError(location, 'failed its integrity check (edited, reordered, or put together outside tollgate)')
  }
  const entries = new Map<string, Entry>()
  for (const e of d.entries) {
    let value: string
    try {
      const decipher = createDecipheriv(CIPHER, enc, Buffer.from(e.iv, 'base64'), { authTagLength: TAG_BYTES })
      decipher.setAAD(aad(d, e))
      decipher.setAuthTag(Buffer.from(e.tag, 'base64'))
      const plain = Buffer.concat([decipher.update(Buffer.from(e.data, 'base64')), decipher.final()])
      value = new TextDecoder('utf-8', { fatal: true }).decode(plain)
    } catch {
      throw storeError(location, `entry "${e.name}" failed authentication (tampered, moved from another name, or sealed under another key)`)
    }
    entries.set(e.name, { name: e.name, createdAt: e.createdAt, updatedAt: e.updatedAt, value })
  }
  return { storeId: d.storeId, generation: d.generation, keyId: d.keyId, version: d.version, entries }
}

/** Seals `entries` as a version 2 document under `master`. */
export function sealStore (entries: Iterable<Entry>, master: Buffer, storeId: string, generation: number): string {
  const k = keyring(master)
  const { enc, mac } = storeKeys(k, 2, storeId)
  const head = { version: 2 as const, storeId, keyId: k.id }
  const sealed = [...entries]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e): SealedEntry => {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv(CIPHER, enc, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(aad(head, e))
      const data = Buffer.concat([cipher.update(e.value, 'utf8'), cipher.final()])
      return { name: e.name, createdAt: e.createdAt, updatedAt: e.updatedAt, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') }
    })
  const body: Omit<StoreDoc, 'mac'> = { format: STORE_FORMAT, version: 2, cipher: CIPHER, storeId, keyId: k.id, generation, entries: sealed }
  const doc = { ...body, mac: createHmac('sha256', mac).update(macInput(body)).digest('base64') }
  return JSON.stringify(doc, null, 2) + '\n'
}

export function newStoreId (): string {
  return randomBytes(STORE_ID_BYTES).toString('hex')
}

function validateName (name: string): void {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new TollgateError('TG_ERR_USAGE', `invalid secret name ${JSON.stringify(String(name)).slice(0, 140)}: ` +
      'use 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)')
  }
}

/** The file backend of a store: its errors are TG_ERR_SECRET_STORE naming the file. */
export function storeFileState (file: string): StateBackend {
  return new FileState(file, { maxBytes: MAX_STORE_BYTES, fail: (location) => (message, cause) => storeError(location, message, cause) })
}

/** The backend of `secrets.store`: a file (absolute path), or a Secret Manager secret (`scw:…`). */
export function storeBackend (location: string, scw: ScwStateContext | undefined): StateBackend {
  return stateBackend(location, scw, {
    field: 'secrets.store',
    kind: 'tollgate secret store',
    fail: (where) => (message, cause) => storeError(where, message, cause),
    file: storeFileState
  })
}

export interface StoreOpenOptions {
  /** Where the bytes live (default: the file at the given path). */
  backend?: StateBackend
  /**
   * The generations (and the store id) already accepted; an older store, or another one, is refused
   * (TG_ERR_ROLLBACK). A gateway shares one across reloads; default: this object's own.
   */
  highWater?: HighWater
  /** Refuse any store whose id is not this one (`secrets.storeId`). */
  storeId?: string
  /**
   * A writer (the CLI): a version 1 store, which has no id yet, may be opened under `storeId` and
   * gets that id with its first write. Readers (the gateway) refuse it.
   */
  upgrade?: boolean
}

export class SecretStore {
  readonly file: string
  readonly #backend: StateBackend
  readonly #highWater: HighWater
  readonly #pin: string | undefined
  readonly #upgrade: boolean
  #masters: Buffer[]
  #entries: Map<string, Entry> = new Map()
  #text: string | undefined = '\0'
  #storeId: string | undefined
  #sealedKeyId: string | undefined
  #generation = 0
  #queue: Promise<unknown> = Promise.resolve()

  private constructor (backend: StateBackend, masters: Buffer[], opts: StoreOpenOptions) {
    this.#backend = backend
    this.file = backend.location
    this.#masters = masters
    this.#highWater = opts.highWater ?? new HighWater()
    this.#pin = opts.storeId
    this.#upgrade = opts.upgrade === true
  }

  /**
   * Opens (verifies and decrypts) the whole store. Nothing there yet is an empty store; anything
   * else that does not verify throws TG_ERR_SECRET_STORE naming the location (TG_ERR_ROLLBACK for an
   * older or foreign store). `masterKey` may be a list (current key first, then previous ones) so a
   * store can be read during a key rotation; writes always seal under the first.
   */
  static async open (file: string, masterKey: Buffer | readonly Buffer[], opts: StoreOpenOptions = {}): Promise<SecretStore> {
    const masters = Buffer.isBuffer(masterKey) ? [masterKey] : [...masterKey]
    if (masters.length === 0) throw new TollgateError('TG_ERR_MASTER_KEY', 'no master key given')
    masters.forEach(keyring) // checks the lengths
    const store = new SecretStore(opts.backend ?? storeFileState(file), masters, opts)
    await store.reload()
    return store
  }

  /**
   * Parses, verifies and checks the generation of `text`; does not change this object. A store that
   * does not exist yet is empty; a writer may turn a version 1 store (no id) into the pinned one.
   */
  #verify (text: string | undefined, forWrite = false): OpenedStore {
    const opened: OpenedStore = text === undefined
      ? { storeId: undefined, generation: 0, keyId: keyring(this.#masters[0]!).id, version: 2, entries: new Map() }
      : openStore(this.file, parseStore(this.file, text), this.#masters)
    if (this.#pin !== undefined && opened.storeId !== this.#pin && !(opened.storeId === undefined && (text === undefined || forWrite || this.#upgrade))) {
      throw new IntegrityError('TG_ERR_ROLLBACK', 'other_store', `secret store ${this.file}: ` +
        `${opened.storeId === undefined ? 'has no store id (format version 1)' : `is store ${opened.storeId}`}, not the store ${this.#pin} that secrets.storeId names: refused`)
    }
    // a store that disappears after one was read is a rollback to "empty" (generation 0)
    this.#highWater.check(this.file, { id: opened.storeId, generation: opened.generation }, `secret store ${this.file}${text === undefined ? ' (now missing)' : ''}`)
    return opened
  }

  #accept (text: string | undefined, opened: OpenedStore): void {
    this.#highWater.record(this.file, { id: opened.storeId, generation: opened.generation })
    this.#entries = opened.entries
    this.#storeId = opened.storeId
    this.#sealedKeyId = opened.keyId
    this.#generation = opened.generation
    this.#text = text
  }

  /** The key id of the master key this store writes under. */
  get keyId (): string {
    return keyring(this.#masters[0]!).id
  }

  /** The key id of the master key the store is sealed under now (as last read or written). */
  get sealedKeyId (): string {
    return this.#sealedKeyId ?? this.keyId
  }

  /** The store's random id (undefined until the first write of a version 1 or missing store). */
  get storeId (): string | undefined {
    return this.#storeId
  }

  /** Raised by one on every write; 0 for a missing or version 1 store. */
  get generation (): number {
    return this.#generation
  }

  get (name: string): string | undefined {
    return this.#entries.get(name)?.value
  }

  has (name: string): boolean {
    return this.#entries.has(name)
  }

  /** Names and timestamps, sorted by name. Never values. */
  list (): SecretEntryInfo[] {
    return [...this.#entries.values()]
      .map(({ name, createdAt, updatedAt }) => ({ name, createdAt, updatedAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /**
   * Re-reads the store if it changed. Resolves true when the contents changed; throws (and keeps
   * the current contents) when the new one does not verify, is older, or is another store.
   */
  async reload (): Promise<boolean> {
    return await this.#serial(async () => {
      const { text } = await this.#backend.read()
      if (text === this.#text) return false
      this.#accept(text, this.#verify(text))
      return true
    })
  }

  async set (name: string, value: string): Promise<void> {
    validateName(name)
    if (typeof value !== 'string') throw new TollgateError('TG_ERR_USAGE', `secret "${name}": the value must be a string`)
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
      throw new TollgateError('TG_ERR_USAGE', `secret "${name}": the value is larger than ${MAX_VALUE_BYTES} bytes`)
    }
    await this.#mutate((entries) => {
      const now = new Date().toISOString()
      const old = entries.get(name)
      entries.set(name, { name, createdAt: old?.createdAt ?? now, updatedAt: now, value })
      return true
    })
  }

  /**
   * Stores `value` under `name` only if there is no such entry yet (decided under the lock, on the
   * store as it is now). Resolves to the value the store holds afterwards.
   */
  async setIfAbsent (name: string, value: string): Promise<string> {
    validateName(name)
    await this.#mutate((entries) => {
      if (entries.has(name)) return false
      const now = new Date().toISOString()
      entries.set(name, { name, createdAt: now, updatedAt: now, value })
      return true
    })
    return this.get(name)!
  }

  /** Resolves false when there was no such entry. */
  async remove (name: string): Promise<boolean> {
    validateName(name)
    return await this.#mutate((entries) => entries.delete(name))
  }

  /**
   * Re-seals every entry under `newMasterKey` (timestamps and store id kept) and writes under it
   * from now on. Readers holding only the old key can no longer read the store once this returns.
   */
  async rotate (newMasterKey: Buffer): Promise<void> {
    keyring(newMasterKey)
    await this.#mutate(() => true, newMasterKey)
    this.#masters = [newMasterKey, ...this.#masters.filter((k) => !k.equals(newMasterKey))]
  }

  /** Runs `change` on the entries as they are now (under the backend's lock); writes if it returns true. */
  async #mutate (change: (entries: Map<string, Entry>) => boolean, sealUnder?: Buffer): Promise<boolean> {
    return await this.#serial(async () => {
      let next: { text: string | undefined, opened: OpenedStore } | undefined
      const changed = await this.#backend.update(async (current) => {
        const opened = this.#verify(current.text, true)
        if (!change(opened.entries)) {
          next = { text: current.text, opened }
          return { text: undefined, result: false }
        }
        const storeId = opened.storeId ?? this.#pin ?? newStoreId()
        const generation = nextGeneration(current, opened.generation)
        const text = sealStore(opened.entries.values(), sealUnder ?? this.#masters[0]!, storeId, generation)
        next = { text, opened: { ...opened, storeId, generation, version: 2, keyId: keyring(sealUnder ?? this.#masters[0]!).id } }
        return { text, result: true }
      })
      if (next !== undefined) this.#accept(next.text, next.opened)
      return changed
    })
  }

  /** One operation at a time within this process (the backend's lock orders processes). */
  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }
}

export { masterKeyFromEnv, parseMasterKey } from './custody.js'
export { SECRET_NAME } from './refs.js'
