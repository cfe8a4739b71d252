// The keys pepper: 32 random bytes kept in the encrypted secret store under a reserved name.
import { SecretStore } from '../secrets/store.js'
import { TollgateError } from '../errors.js'
import { PEPPER_SECRET_NAME, decodePepper, newPepper } from './keyformat.js'

/**
 * Reads the pepper from the secret store; with `create`, makes it on first use. Callers that create
 * must hold the keys-file lock, which serialises every pepper creation.
 */
export async function loadPepper (storeFile: string, masterKey: Buffer, opts: { create: boolean }): Promise<Buffer | undefined> {
  const store = await SecretStore.open(storeFile, masterKey)
  const value = store.get(PEPPER_SECRET_NAME)
  if (value !== undefined) {
    const pepper = decodePepper(value)
    if (pepper === undefined) {
      throw new TollgateError('TG_ERR_KEYS_STORE', `secret store ${store.file}: entry "${PEPPER_SECRET_NAME}" is not a tollgate keys pepper (32 bytes, base64); it is reserved for tollgate keys`)
    }
    return pepper
  }
  if (!opts.create) return undefined
  await store.set(PEPPER_SECRET_NAME, newPepper().toString('base64'))
  // read back what is on disk now, in case another writer raced the store
  await store.reload()
  const stored = store.get(PEPPER_SECRET_NAME)
  const pepper = stored === undefined ? undefined : decodePepper(stored)
  if (pepper === undefined) throw new TollgateError('TG_ERR_KEYS_STORE', `secret store ${store.file}: could not create entry "${PEPPER_SECRET_NAME}"`)
  return pepper
}
