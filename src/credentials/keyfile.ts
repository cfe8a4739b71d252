// The tollgate keys file (`credentials.keys`): JSON, hashes only, written by `tollgate keys`, read
// (and watched) by the gateway. Version 2 carries an HMAC-SHA-256 of the whole document under a key
// derived (HKDF, its own label) from the keys pepper, which lives in the encrypted secret store, and
// a generation raised by one on every write. Someone who can write the file but not read the store
// cannot revive, widen or add a key; a reader that remembers generations refuses an older copy.
// Mode 0600; writes go through the backend's read-modify-write (lock, re-read, compare-and-swap).
//
//   {
//     "format": "tollgate-keys", "version": 2,
//     "pepperId": "<16 hex: fingerprint of the pepper the hashes were made with>",
//     "generation": 7,
//     "keys": [ { "id": "<16 hex>", "name": "ci-bot", "hash": "<base64 HMAC-SHA-256>",
//                 "containers": ["a", "b"] | null, "owner": false,
//                 "createdAt": "<ISO>", "expiresAt": "<ISO>" | null, "revokedAt": "<ISO>" | null } ],
//     "mac": "<base64 HMAC-SHA-256>"
//   }
//
// Version 1 (no generation, no mac) is read, and becomes version 2 on its first write; once the
// secret store says the keys file was upgraded (src/credentials/pepper.ts), a version 1 file is refused.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { TollgateError } from '../errors.js'
import { FileState, nextGeneration, type StateBackend } from '../files/state.js'
import { stateBackend, type ScwStateContext } from '../secrets/scaleway-state.js'
import { IntegrityError } from '../files/integrity.js'
import { NAME_PATTERN } from './schema.js'
import { pepperId } from './keyformat.js'

export const KEYS_FORMAT = 'tollgate-keys'
export const KEYS_VERSION = 2
/** Largest keys file read (hundreds of thousands of keys). */
export const MAX_KEYS_BYTES = 8 * 1024 * 1024
/** Key names: as issuer names; used in policies as `key:NAME`. */
export const KEY_NAME = new RegExp(NAME_PATTERN)

export interface KeyRecord {
  id: string
  name: string
  /** base64 of HMAC-SHA-256(pepper, key). */
  hash: string
  /** Containers the key is valid for; null = every private container. */
  containers: string[] | null
  owner: boolean
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
}

export interface KeysFile {
  format: typeof KEYS_FORMAT
  /** As read (1 or 2; 0: no file yet); every write produces version 2. */
  version: number
  pepperId: string | null
  /** 0 for version 1 or no file. */
  generation: number
  keys: KeyRecord[]
  /** Version 2 only. */
  mac?: string
}

/** What a missing keys file stands for: no keys (version 0: nothing to verify). */
export function emptyKeysFile (): KeysFile {
  return { format: KEYS_FORMAT, version: 0, pepperId: null, generation: 0, keys: [] }
}

export function keysError (location: string, message: string, cause?: unknown): TollgateError {
  return new TollgateError('TG_ERR_KEYS_STORE', `keys file ${location}: ${message}`, cause === undefined ? undefined : { cause })
}

/** The file backend of a keys file: its errors are TG_ERR_KEYS_STORE naming the file. */
export function keysFileState (file: string): StateBackend {
  return new FileState(file, { maxBytes: MAX_KEYS_BYTES, fail: (location) => (message, cause) => keysError(location, message, cause) })
}

/** The backend of `credentials.keys`: a file (absolute path), or a Secret Manager secret (`scw:…`). */
export function keysBackend (location: string, scw: ScwStateContext | undefined): StateBackend {
  return stateBackend(location, scw, {
    field: 'credentials.keys',
    kind: 'tollgate keys file',
    fail: (where) => (message, cause) => keysError(where, message, cause),
    file: keysFileState
  })
}

const HEX16 = /^[0-9a-f]{16}$/
const HASH = /^[A-Za-z0-9+/]{43}=$/
const FIELDS_V1 = ['format', 'version', 'pepperId', 'keys']
const FIELDS_V2 = ['format', 'version', 'pepperId', 'generation', 'keys', 'mac']
const RECORD_FIELDS = ['id', 'name', 'hash', 'containers', 'owner', 'createdAt', 'expiresAt', 'revokedAt']

function isIso (s: unknown): s is string {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(s) && Number.isFinite(Date.parse(s))
}

function unknownField (o: object, allowed: readonly string[]): string | undefined {
  return Object.keys(o).find((k) => !allowed.includes(k))
}

/** Parses and checks a keys file's shape (no MAC check); throws TG_ERR_KEYS_STORE naming the file and the bad record. */
export function parseKeysFile (file: string, text: string): KeysFile {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw keysError(file, 'is truncated or not a tollgate keys file (not valid JSON)')
  }
  const o = raw as Partial<KeysFile> | null
  if (o === null || typeof o !== 'object' || Array.isArray(o) || o.format !== KEYS_FORMAT) throw keysError(file, 'is not a tollgate keys file')
  if (o.version !== 1 && o.version !== 2) throw keysError(file, `has format version ${String(o.version)}; this tollgate reads versions 1 and ${KEYS_VERSION}`)
  const extra = unknownField(o, o.version === 1 ? FIELDS_V1 : FIELDS_V2)
  if (extra !== undefined) throw keysError(file, `has an unknown field ${JSON.stringify(extra.slice(0, 40))} (tampered, or written by another program)`)
  if (!(o.pepperId === null || (typeof o.pepperId === 'string' && HEX16.test(o.pepperId))) || !Array.isArray(o.keys)) {
    throw keysError(file, 'has a malformed header')
  }
  if (o.version === 2 && (typeof o.pepperId !== 'string' || typeof o.generation !== 'number' || !Number.isSafeInteger(o.generation) ||
      o.generation < 1 || typeof o.mac !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(o.mac))) {
    throw keysError(file, 'has a malformed header (pepperId, generation or mac)')
  }
  const ids = new Set<string>()
  const active = new Set<string>()
  const keys = o.keys.map((r: Partial<KeyRecord> | null, i: number): KeyRecord => {
    const label = `key #${i + 1}`
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw keysError(file, `${label} is not an object`)
    const field = unknownField(r, RECORD_FIELDS)
    if (field !== undefined) throw keysError(file, `${label}: unknown field ${JSON.stringify(field.slice(0, 40))}`)
    if (typeof r.id !== 'string' || !HEX16.test(r.id)) throw keysError(file, `${label}: bad id`)
    if (typeof r.name !== 'string' || !KEY_NAME.test(r.name)) throw keysError(file, `${label}: bad name`)
    if (typeof r.hash !== 'string' || !HASH.test(r.hash)) throw keysError(file, `${label} ("${r.name}"): bad hash`)
    if (!(r.containers === null || (Array.isArray(r.containers) && r.containers.length > 0 && r.containers.every((c) => typeof c === 'string' && c !== '')))) {
      throw keysError(file, `${label} ("${r.name}"): containers must be null or a non-empty list of names`)
    }
    if (typeof r.owner !== 'boolean') throw keysError(file, `${label} ("${r.name}"): owner must be true or false`)
    if (!isIso(r.createdAt)) throw keysError(file, `${label} ("${r.name}"): bad createdAt`)
    if (!(r.expiresAt === null || isIso(r.expiresAt))) throw keysError(file, `${label} ("${r.name}"): bad expiresAt`)
    if (!(r.revokedAt === null || isIso(r.revokedAt))) throw keysError(file, `${label} ("${r.name}"): bad revokedAt`)
    if (ids.has(r.id)) throw keysError(file, `${label} ("${r.name}"): duplicate id`)
    ids.add(r.id)
    if (r.revokedAt === null) {
      if (active.has(r.name)) throw keysError(file, `${label}: two unrevoked keys are named "${r.name}"`)
      active.add(r.name)
    }
    return {
      id: r.id,
      name: r.name,
      hash: r.hash,
      containers: r.containers === null ? null : [...r.containers],
      owner: r.owner,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      revokedAt: r.revokedAt
    }
  })
  return {
    format: KEYS_FORMAT,
    version: o.version,
    pepperId: o.pepperId,
    generation: o.version === 2 ? o.generation! : 0,
    keys,
    ...(o.version === 2 ? { mac: o.mac! } : {})
  }
}

function macKey (pepper: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', pepper, Buffer.alloc(0), 'tollgate/keys-file/v2/mac', 32))
}

/** Canonical bytes covered by the MAC: every field but `mac`, in a fixed order. */
function macOf (pepper: Buffer, d: Pick<KeysFile, 'pepperId' | 'generation' | 'keys'>): Buffer {
  const input = JSON.stringify([KEYS_FORMAT, 2, d.pepperId, d.generation,
    d.keys.map((r) => [r.id, r.name, r.hash, r.containers, r.owner, r.createdAt, r.expiresAt, r.revokedAt])])
  return createHmac('sha256', macKey(pepper)).update(input).digest()
}

/**
 * Checks a parsed version 2 file against the pepper: made with this pepper, and its MAC verifies.
 * Throws IntegrityError (TG_ERR_KEYS_INTEGRITY) otherwise.
 */
export function verifyKeysFile (file: string, d: KeysFile, pepper: Buffer): void {
  if (d.version !== 2 || d.mac === undefined) throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'downgrade', `keys file ${file}: has no integrity check (format version 1)`)
  if (d.pepperId !== pepperId(pepper)) {
    throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'tampered', `keys file ${file}: was made with another pepper than the one in the secret store (wrong secrets.store or master key?): refused`)
  }
  if (!timingSafeEqual(macOf(pepper, d), Buffer.from(d.mac, 'base64'))) {
    throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'tampered', `keys file ${file}: failed its integrity check (edited outside tollgate): refused`)
  }
}

/** Seals `d` as a version 2 document with the given generation. */
export function sealKeysFile (d: Pick<KeysFile, 'keys'>, pepper: Buffer, generation: number): string {
  const body = { format: KEYS_FORMAT, version: KEYS_VERSION, pepperId: pepperId(pepper), generation, keys: d.keys }
  return JSON.stringify({ ...body, mac: macOf(pepper, body).toString('base64') }, null, 2) + '\n'
}

/** Reads and parses the keys file (no MAC check); a missing file is an empty one. */
export async function readKeysFile (file: string, backend: StateBackend = keysFileState(file)): Promise<{ data: KeysFile, text: string | undefined }> {
  const { text } = await backend.read()
  return { data: text === undefined ? emptyKeysFile() : parseKeysFile(backend.location, text), text }
}

/** The secrets a writer of the keys file needs (src/credentials/pepper.ts). */
export interface KeysWriterSecrets {
  /** undefined: the store has no pepper yet (nothing can be verified or written then). */
  pepper: Buffer | undefined
  /** The store says the keys file was upgraded to version 2: a version 1 file there is not trusted. */
  macRequired: boolean
}

/**
 * Read-modify-write of the keys file: `change` runs on the file as it is now (verified: a file that
 * fails its check is never written over), and the result is sealed as version 2 with the next
 * generation when the keys changed. `secrets()` is asked under the lock (it may create the pepper).
 * `change` may throw (e.g. a usage error) to abort without writing, and may run more than once.
 */
export async function mutateKeysFile<T> (
  backend: StateBackend,
  secrets: (data: KeysFile) => Promise<KeysWriterSecrets>,
  change: (data: KeysFile, pepper: Buffer | undefined) => T | Promise<T>
): Promise<{ result: T, written: boolean }> {
  const file = backend.location
  let written = false
  const result = await backend.update(async (current) => {
    const data = current.text === undefined ? emptyKeysFile() : parseKeysFile(file, current.text)
    const s = await secrets(data)
    const noPepper = (): TollgateError => new TollgateError('TG_ERR_KEYS_STORE', `keys file ${file}: the secret store has no keys pepper (was the store replaced?)`)
    if (data.version === 2) {
      if (s.pepper === undefined) throw noPepper()
      verifyKeysFile(file, data, s.pepper)
    } else if (data.keys.length > 0) {
      if (s.macRequired) {
        throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'downgrade', `keys file ${file}: is format version 1 (no integrity check), but this store's keys file ` +
          'was already upgraded to version 2: refused (an old copy, or written by hand)')
      }
      if (s.pepper !== undefined && data.pepperId !== null && data.pepperId !== pepperId(s.pepper)) {
        throw new IntegrityError('TG_ERR_KEYS_INTEGRITY', 'tampered', `keys file ${file}: was written with another pepper than the one in the secret store (wrong secret store or master key?)`)
      }
    }
    const before = JSON.stringify(data.keys)
    const out = await change(data, s.pepper)
    written = JSON.stringify(data.keys) !== before
    if (written && s.pepper === undefined) throw noPepper()
    return { text: written ? sealKeysFile(data, s.pepper!, nextGeneration(current, data.generation)) : undefined, result: out }
  })
  return { result, written }
}
