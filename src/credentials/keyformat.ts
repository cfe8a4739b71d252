// tollgate keys: the wire format of a key and how it is hashed.
//
//   tgk_<id: 16 lower-case hex>_<secret: 43 base62>        (64 characters, ~256 bits of secret)
//
// The `tgk_` prefix lets secret scanners find leaked keys (regex: `tgk_[0-9a-f]{16}_[0-9A-Za-z]{43}`).
// The id is a lookup handle (it is part of the key, so it is never printed on its own either). Only
// HMAC-SHA-256(pepper, whole key) is stored; the pepper lives in the encrypted secret store, so a stolen
// keys file alone cannot be brute-forced, and digests are compared with crypto.timingSafeEqual.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const KEY_PREFIX = 'tgk_'
export const KEY_LENGTH = 64
export const KEY_PATTERN = /^tgk_([0-9a-f]{16})_[0-9A-Za-z]{43}$/
/** The reserved secret-store entry holding the pepper (32 random bytes, base64). */
export const PEPPER_SECRET_NAME = 'tollgate.keys.pepper'
export const PEPPER_BYTES = 32

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

function base62 (length: number): string {
  let out = ''
  // rejection sampling keeps every character uniform: bytes ≥ 248 (= 4·62) are dropped
  while (out.length < length) {
    for (const b of randomBytes(length)) {
      if (b < 248 && out.length < length) out += BASE62[b % 62]
    }
  }
  return out
}

/** A fresh key and its id. */
export function generateKey (): { key: string, id: string } {
  const id = randomBytes(8).toString('hex')
  return { key: `${KEY_PREFIX}${id}_${base62(43)}`, id }
}

/** The key id of a well-formed key, or undefined when the string is not a tollgate key. */
export function parseKey (credential: string): string | undefined {
  if (credential.length !== KEY_LENGTH) return undefined
  const m = KEY_PATTERN.exec(credential)
  return m === null ? undefined : m[1]
}

/** HMAC-SHA-256(pepper, key): what the keys file stores (base64). */
export function hashKey (pepper: Buffer, key: string): Buffer {
  return createHmac('sha256', pepper).update('tollgate/key/v1\0').update(key, 'utf8').digest()
}

/** Constant-time comparison of two digests (any lengths: a length mismatch is just false). */
export function digestsEqual (a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    // compare anyway so the time taken does not depend on where the inputs differ
    timingSafeEqual(a, a)
    return false
  }
  return timingSafeEqual(a, b)
}

/**
 * A short, one-way fingerprint of the pepper stored in the keys file, so that a keys file used with
 * another secret store (another pepper) is reported instead of silently refusing every key.
 */
export function pepperId (pepper: Buffer): string {
  return createHmac('sha256', pepper).update('tollgate/keys/pepper-id').digest('hex').slice(0, 16)
}

export function newPepper (): Buffer {
  return randomBytes(PEPPER_BYTES)
}

export function decodePepper (value: string): Buffer | undefined {
  const s = value.trim()
  if (!/^[A-Za-z0-9+/]{43}=$/.test(s)) return undefined
  const b = Buffer.from(s, 'base64')
  return b.length === PEPPER_BYTES ? b : undefined
}
