// The tollgate keys file (`credentials.keys`): JSON, hashes only, written by `tollgate keys`, read
// (and watched) by the gateway. Writes are atomic (temp file, fsync, rename) under a lock file, and
// re-read under the lock, so two CLI invocations cannot lose each other's changes. Mode 0600.
//
//   {
//     "format": "tollgate-keys", "version": 1,
//     "pepperId": "<16 hex: fingerprint of the pepper the hashes were made with>",
//     "keys": [ { "id": "<16 hex>", "name": "ci-bot", "hash": "<base64 HMAC-SHA-256>",
//                 "containers": ["a", "b"] | null, "owner": false,
//                 "createdAt": "<ISO>", "expiresAt": "<ISO>" | null, "revokedAt": "<ISO>" | null } ]
//   }
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { TollgateError } from '../errors.js'
import { acquireLock, errnoCode, writeFileAtomic } from '../files/atomic-file.js'
import { NAME_PATTERN } from './schema.js'

export const KEYS_FORMAT = 'tollgate-keys'
export const KEYS_VERSION = 1
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
  version: number
  pepperId: string | null
  keys: KeyRecord[]
}

export function emptyKeysFile (): KeysFile {
  return { format: KEYS_FORMAT, version: KEYS_VERSION, pepperId: null, keys: [] }
}

function keysError (file: string, message: string, cause?: unknown): TollgateError {
  return new TollgateError('TG_ERR_KEYS_STORE', `keys file ${file}: ${message}`, cause === undefined ? undefined : { cause })
}

const HEX16 = /^[0-9a-f]{16}$/
const HASH = /^[A-Za-z0-9+/]{43}=$/

function isIso (s: unknown): s is string {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(s) && Number.isFinite(Date.parse(s))
}

/** Parses and checks a keys file; throws TG_ERR_KEYS_STORE naming the file and the bad record. */
export function parseKeysFile (file: string, text: string): KeysFile {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw keysError(file, 'is truncated or not a tollgate keys file (not valid JSON)')
  }
  const o = raw as Partial<KeysFile> | null
  if (o === null || typeof o !== 'object' || o.format !== KEYS_FORMAT) throw keysError(file, 'is not a tollgate keys file')
  if (o.version !== KEYS_VERSION) throw keysError(file, `has format version ${String(o.version)}; this tollgate reads version ${KEYS_VERSION}`)
  if (!(o.pepperId === null || (typeof o.pepperId === 'string' && HEX16.test(o.pepperId))) || !Array.isArray(o.keys)) {
    throw keysError(file, 'has a malformed header')
  }
  const ids = new Set<string>()
  const active = new Set<string>()
  const keys = o.keys.map((r: Partial<KeyRecord> | null, i: number): KeyRecord => {
    const label = `key #${i + 1}`
    if (r === null || typeof r !== 'object') throw keysError(file, `${label} is not an object`)
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
  return { format: KEYS_FORMAT, version: KEYS_VERSION, pepperId: o.pepperId, keys }
}

/** Reads the keys file; a missing file is an empty one. */
export async function readKeysFile (file: string): Promise<{ data: KeysFile, text: string | undefined }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { data: emptyKeysFile(), text: undefined }
    throw keysError(file, `cannot be read (${errnoCode(err) ?? 'error'})`, err)
  }
  return { data: parseKeysFile(file, text), text }
}

/**
 * Runs `change` on the file as it is on disk now, under the lock, and writes the result when it
 * returns true. `change` may throw (e.g. a usage error) to abort without writing.
 */
export async function mutateKeysFile<T> (file: string, change: (data: KeysFile) => T | Promise<T>): Promise<T> {
  const abs = resolve(file)
  await mkdir(dirname(abs), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw keysError(abs, `cannot create its folder (${errnoCode(err) ?? 'error'})`, err)
  })
  const fail = (message: string, cause?: unknown): TollgateError => keysError(abs, message, cause)
  const release = await acquireLock(abs, fail)
  try {
    const { data } = await readKeysFile(abs)
    const before = JSON.stringify(data)
    const result = await change(data)
    if (JSON.stringify(data) !== before) await writeFileAtomic(abs, JSON.stringify(data, null, 2) + '\n', fail)
    return result
  } finally {
    await release()
  }
}
