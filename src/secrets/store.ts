// The encrypted local secret store (`secrets.store` in config, `${secret:NAME}` in references).
//
// One JSON file; every value sealed with AES-256-GCM under a key derived from the master key, with a
// random 96-bit IV per write, a 16-byte tag, and the entry name (plus its timestamps) bound as
// additional data so a value cannot be moved to another name. A whole-file HMAC catches entries that
// were removed or added by hand. Writes are atomic (temp file, fsync, rename, fsync of the folder),
// the file is mode 0600, and writers serialise on a lock file and re-read under it, so concurrent
// CLI writers cannot lose each other's entries. The format is versioned and names the key id, so the
// master key can be rotated (`rotate()`, `tollgate secrets rotate-master-key`). See docs/secrets.md.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { TollgateError } from '../errors.js'
import { acquireLock, errnoCode, writeFileAtomic } from '../files/atomic-file.js'

export const STORE_FORMAT = 'tollgate-secret-store'
export const STORE_VERSION = 1
const CIPHER = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
/** Scaleway Secret Manager's own limit; a token is far smaller. */
export const MAX_VALUE_BYTES = 64 * 1024
/** Entry names: what `${secret:NAME}` can carry, and safe in a log line. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

export interface SecretEntryInfo { name: string, createdAt: string, updatedAt: string }

interface Entry extends SecretEntryInfo { value: string }

interface SealedEntry extends SecretEntryInfo { iv: string, tag: string, data: string }

interface StoreFile {
  format: typeof STORE_FORMAT
  version: number
  cipher: typeof CIPHER
  keyId: string
  entries: SealedEntry[]
  mac: string
}

/** The keys derived from one master key. */
interface Keyring { id: string, enc: Buffer, mac: Buffer }

function derive (master: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tollgate/secret-store/${info}`, length))
}

function keyring (master: Buffer): Keyring {
  if (!Buffer.isBuffer(master) || master.length !== KEY_BYTES) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `the master key must be ${KEY_BYTES} bytes`)
  }
  return { id: derive(master, 'key-id', 8).toString('hex'), enc: derive(master, 'v1/enc', 32), mac: derive(master, 'v1/mac', 32) }
}

/** The key id a master key is known by in store files (safe to print: a one-way derivation). */
export function masterKeyId (master: Buffer): string {
  return keyring(master).id
}

function aad (keyId: string, e: SecretEntryInfo): Buffer {
  return Buffer.from(JSON.stringify([STORE_FORMAT, STORE_VERSION, keyId, e.name, e.createdAt, e.updatedAt]), 'utf8')
}

function seal (k: Keyring, e: Entry): SealedEntry {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(CIPHER, k.enc, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad(k.id, e))
  const data = Buffer.concat([cipher.update(e.value, 'utf8'), cipher.final()])
  return {
    name: e.name,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64')
  }
}

/** Canonical bytes covered by the file MAC: every field but `mac`, in a fixed order. */
function macInput (f: Omit<StoreFile, 'mac'>): string {
  return JSON.stringify([f.format, f.version, f.cipher, f.keyId,
    f.entries.map((e) => [e.name, e.createdAt, e.updatedAt, e.iv, e.tag, e.data])])
}

function mac (k: Keyring, f: Omit<StoreFile, 'mac'>): Buffer {
  return createHmac('sha256', k.mac).update(macInput(f)).digest()
}

function storeError (file: string, message: string, cause?: unknown): TollgateError {
  return new TollgateError('TG_ERR_SECRET_STORE', `secret store ${file}: ${message}`, cause === undefined ? undefined : { cause })
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

function isB64 (s: unknown, bytes?: number): s is string {
  if (typeof s !== 'string' || !B64.test(s) || s.length % 4 !== 0) return false
  const decoded = Buffer.from(s, 'base64')
  // canonical only: no unused bits set, so every change to the file changes what it means
  return decoded.toString('base64') === s && (bytes === undefined || decoded.length === bytes)
}

/** Parses and checks the shape of a store file; does not decrypt. */
function parseFile (file: string, text: string): StoreFile {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw storeError(file, 'is truncated or not a tollgate secret store (not valid JSON)')
  }
  const o = raw as Partial<StoreFile> | null
  if (o === null || typeof o !== 'object' || o.format !== STORE_FORMAT) {
    throw storeError(file, 'is not a tollgate secret store')
  }
  if (o.version !== STORE_VERSION) {
    throw storeError(file, `has format version ${String(o.version)}; this tollgate reads version ${STORE_VERSION}`)
  }
  if (o.cipher !== CIPHER || typeof o.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(o.keyId) ||
      !isB64(o.mac, 32) || !Array.isArray(o.entries)) {
    throw storeError(file, 'has a malformed header (tampered or truncated)')
  }
  const seen = new Set<string>()
  o.entries.forEach((e: Partial<SealedEntry> | null, i: number) => {
    const name = e !== null && typeof e === 'object' && typeof e.name === 'string' && SECRET_NAME.test(e.name) ? e.name : undefined
    const label = name === undefined ? `entry #${i + 1}` : `entry "${name}"`
    if (name === undefined || typeof e?.createdAt !== 'string' || !ISO.test(e.createdAt) ||
        typeof e.updatedAt !== 'string' || !ISO.test(e.updatedAt) ||
        !isB64(e.iv, IV_BYTES) || !isB64(e.tag, TAG_BYTES) || !isB64(e.data)) {
      throw storeError(file, `${label} is malformed (tampered or truncated)`)
    }
    if (seen.has(name)) throw storeError(file, `${label} appears twice (tampered)`)
    seen.add(name)
  })
  return o as StoreFile
}

/** Decrypts and authenticates a whole parsed file, or throws naming the file (and the entry). */
function openFile (file: string, f: StoreFile, keys: Keyring[]): Map<string, Entry> {
  const k = keys.find((x) => x.id === f.keyId)
  if (k === undefined) {
    throw storeError(file, `is sealed under master key id ${f.keyId}, not under the given master key ` +
      `(id ${keys.map((x) => x.id).join(', ')}): wrong TOLLGATE_MASTER_KEY?`)
  }
  const out = new Map<string, Entry>()
  for (const e of f.entries) {
    let value: string
    try {
      const decipher = createDecipheriv(CIPHER, k.enc, Buffer.from(e.iv, 'base64'), { authTagLength: TAG_BYTES })
      decipher.setAAD(aad(k.id, e))
      decipher.setAuthTag(Buffer.from(e.tag, 'base64'))
      const plain = Buffer.concat([decipher.update(Buffer.from(e.data, 'base64')), decipher.final()])
      value = new TextDecoder('utf-8', { fatal: true }).decode(plain)
    } catch {
      throw storeError(file, `entry "${e.name}" failed authentication (tampered, moved from another name, or sealed under another key)`)
    }
    out.set(e.name, { name: e.name, createdAt: e.createdAt, updatedAt: e.updatedAt, value })
  }
  const expected = mac(k, f)
  if (!timingSafeEqual(expected, Buffer.from(f.mac, 'base64'))) {
    throw storeError(file, 'failed its integrity check (entries added, removed or reordered outside tollgate)')
  }
  return out
}

function validateName (name: string): void {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new TollgateError('TG_ERR_USAGE', `invalid secret name ${JSON.stringify(String(name)).slice(0, 140)}: ` +
      'use 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)')
  }
}

async function readText (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw storeError(file, `cannot be read (${errnoCode(err) ?? 'error'})`, err)
  }
}

export class SecretStore {
  readonly file: string
  #keys: Keyring[]
  #entries: Map<string, Entry>
  #stamp: string
  #queue: Promise<unknown> = Promise.resolve()

  private constructor (file: string, keys: Keyring[], entries: Map<string, Entry>, stamp: string) {
    this.file = file
    this.#keys = keys
    this.#entries = entries
    this.#stamp = stamp
  }

  /**
   * Opens (decrypts and verifies) the whole store. A missing file is an empty store; anything else
   * that does not verify throws TG_ERR_SECRET_STORE naming the file (and the entry). `masterKey` may be
   * a list (current key first, then previous ones) so a store can be read during a key rotation;
   * writes always seal under the first.
   */
  static async open (file: string, masterKey: Buffer | readonly Buffer[]): Promise<SecretStore> {
    const abs = resolve(file)
    const keys = (Buffer.isBuffer(masterKey) ? [masterKey] : [...masterKey]).map(keyring)
    if (keys.length === 0) throw new TollgateError('TG_ERR_MASTER_KEY', 'no master key given')
    const { entries, stamp } = await SecretStore.#load(abs, keys)
    return new SecretStore(abs, keys, entries, stamp)
  }

  static async #load (file: string, keys: Keyring[]): Promise<{ entries: Map<string, Entry>, stamp: string }> {
    const text = await readText(file)
    if (text === undefined) return { entries: new Map(), stamp: 'missing' }
    const f = parseFile(file, text)
    return { entries: openFile(file, f, keys), stamp: f.mac }
  }

  /** The key id of the master key this store writes under. */
  get keyId (): string {
    return this.#keys[0]!.id
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
   * Re-reads the file if another process changed it. Resolves true when the contents changed; throws
   * TG_ERR_SECRET_STORE (and keeps the current contents) if the new file does not verify.
   */
  async reload (): Promise<boolean> {
    return await this.#serial(async () => {
      const { entries, stamp } = await SecretStore.#load(this.file, this.#keys)
      if (stamp === this.#stamp) return false
      this.#entries = entries
      this.#stamp = stamp
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

  /** Resolves false when there was no such entry. */
  async remove (name: string): Promise<boolean> {
    validateName(name)
    return await this.#mutate((entries) => entries.delete(name))
  }

  /**
   * Re-seals every entry under `newMasterKey` (timestamps kept) and writes under it from now on.
   * Other processes holding the old key can no longer read the file once this returns.
   */
  async rotate (newMasterKey: Buffer): Promise<void> {
    const next = keyring(newMasterKey)
    await this.#mutate(() => true, next)
    this.#keys = [next, ...this.#keys.filter((k) => k.id !== next.id)]
  }

  /** Runs `change` on the entries as they are on disk now, under the lock; writes if it returns true. */
  async #mutate (change: (entries: Map<string, Entry>) => boolean, sealUnder?: Keyring): Promise<boolean> {
    return await this.#serial(async () => {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 })
      const release = await acquireLock(this.file, (message, cause) => storeError(this.file, message, cause))
      try {
        const { entries } = await SecretStore.#load(this.file, this.#keys)
        const changed = change(entries)
        if (changed) {
          const stamp = await this.#write(entries, sealUnder ?? this.#keys[0]!)
          this.#stamp = stamp
        }
        this.#entries = entries
        return changed
      } finally {
        await release()
      }
    })
  }

  async #write (entries: Map<string, Entry>, k: Keyring): Promise<string> {
    const sealed = [...entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => seal(k, e))
    const body = { format: STORE_FORMAT, version: STORE_VERSION, cipher: CIPHER, keyId: k.id, entries: sealed } as const
    const file: StoreFile = { ...body, mac: mac(k, body).toString('base64') }
    await writeFileAtomic(this.file, JSON.stringify(file, null, 2) + '\n', (message, cause) => storeError(this.file, message, cause))
    return file.mac
  }

  /** One operation at a time within this process (the lock file orders processes). */
  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }
}

const KEY_B64 = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/

/** Decodes a base64 (or base64url) 32-byte master key; `source` names where it came from. */
export function parseMasterKey (text: string, source: string): Buffer {
  const s = text.trim()
  if (!KEY_B64.test(s)) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `${source} must be 32 random bytes in base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`)
  }
  const key = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64')
  if (key.length !== KEY_BYTES) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `${source} must decode to ${KEY_BYTES} bytes`)
  }
  return key
}

/**
 * The master key: `TOLLGATE_MASTER_KEY` (base64, 32 bytes) or `TOLLGATE_MASTER_KEY_FILE` (a file
 * holding the same; relative to the working directory). Exactly one must be set. TG_ERR_MASTER_KEY
 * otherwise. The message never contains the key.
 */
export function masterKeyFromEnv (env: NodeJS.ProcessEnv = process.env, prefix = 'TOLLGATE_MASTER_KEY'): Buffer {
  const inline = env[prefix]
  const fileVar = `${prefix}_FILE`
  const path = env[fileVar]
  const hasInline = inline !== undefined && inline !== ''
  const hasFile = path !== undefined && path !== ''
  if (hasInline && hasFile) throw new TollgateError('TG_ERR_MASTER_KEY', `set ${prefix} or ${fileVar}, not both`)
  if (hasInline) return parseMasterKey(inline, prefix)
  if (hasFile) {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new TollgateError('TG_ERR_MASTER_KEY', `${fileVar}: cannot read ${path} (${errnoCode(err) ?? 'error'})`)
    }
    return parseMasterKey(text, `${fileVar} (${path})`)
  }
  throw new TollgateError('TG_ERR_MASTER_KEY', `${prefix} is not set (32 random bytes in base64, e.g. from \`openssl rand -base64 32\`; or ${fileVar})`)
}
