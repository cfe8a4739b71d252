// What the keys file trusts, kept in the encrypted secret store under reserved names:
// - `tollgate.keys.pepper`: 32 random bytes; key hashes and the keys file's MAC key derive from it.
// - `tollgate.keys.format`: "2" once the keys file carries a MAC. From then on a version 1 keys
//   file (no MAC) is refused, so a keys-file writer cannot strip the MAC by going back a format.
// Both are created only when absent, decided under the store's lock (never overwritten).
import { SecretStore, type StoreOpenOptions } from '../secrets/store.js'
import { TollgateError } from '../errors.js'
import { PEPPER_SECRET_NAME, decodePepper, newPepper } from './keyformat.js'

export const KEYS_FORMAT_SECRET_NAME = 'tollgate.keys.format'

export interface KeysSecrets {
  /** undefined: no key was ever made with this store. */
  pepper: Buffer | undefined
  /** The keys file must be version 2 (it was upgraded, or made as such). */
  macRequired: boolean
}

/** The keys secrets of an opened store. */
export function keysSecretsOf (store: SecretStore): KeysSecrets {
  const value = store.get(PEPPER_SECRET_NAME)
  let pepper: Buffer | undefined
  if (value !== undefined) {
    pepper = decodePepper(value)
    if (pepper === undefined) {
      throw new TollgateError('TG_ERR_KEYS_STORE', `secret store ${store.file}: entry "${PEPPER_SECRET_NAME}" is not a tollgate keys pepper (32 bytes, base64); it is reserved for tollgate keys`)
    }
  }
  return { pepper, macRequired: store.get(KEYS_FORMAT_SECRET_NAME) === '2' }
}

/** Reads the keys secrets from the store file (a missing store has none). */
export async function loadKeysSecrets (storeFile: string, masterKeys: Buffer | readonly Buffer[], opts: StoreOpenOptions = {}): Promise<KeysSecrets> {
  return keysSecretsOf(await SecretStore.open(storeFile, masterKeys, opts))
}

/** The pepper, created (only if absent) on first use. Callers hold the keys-file lock. */
export async function ensurePepper (store: SecretStore): Promise<Buffer> {
  const have = keysSecretsOf(store).pepper
  if (have !== undefined) return have
  const value = await store.setIfAbsent(PEPPER_SECRET_NAME, newPepper().toString('base64'))
  const pepper = decodePepper(value)
  if (pepper === undefined) throw new TollgateError('TG_ERR_KEYS_STORE', `secret store ${store.file}: entry "${PEPPER_SECRET_NAME}" is not a tollgate keys pepper`)
  return pepper
}

/** Records that the keys file is version 2 (after it was written as such). */
export async function markKeysFileUpgraded (store: SecretStore): Promise<void> {
  if (store.get(KEYS_FORMAT_SECRET_NAME) !== '2') await store.set(KEYS_FORMAT_SECRET_NAME, '2')
}
