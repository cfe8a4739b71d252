// Store and keys-file formats (version 2): generations, store ids, strict parsing, size limits,
// and the high-water marks readers keep.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_STORE_BYTES, SecretStore } from '../../src/secrets/store.js'
import { createSecretResolver } from '../../src/secrets/index.js'
import { HighWater } from '../../src/files/integrity.js'
import { MAX_KEYS_BYTES, parseKeysFile, readKeysFile } from '../../src/credentials/keyfile.js'
import { ensurePepper } from '../../src/credentials/pepper.js'
import { PEPPER_SECRET_NAME } from '../../src/credentials/keyformat.js'
import { tempDir } from '../secrets/helpers.js'
import { createKey, fixture } from '../credentials/helpers.js'
import { ROOT } from '../helpers/root.js'

const doc = async (file: string): Promise<Record<string, any>> => JSON.parse(await readFile(file, 'utf8'))

test('every write raises the store generation by one and keeps its random id; a master-key rotation too', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const s = await SecretStore.open(file, key)
  assert.equal(s.generation, 0)
  assert.equal(s.storeId, undefined)
  await s.set('a', 'one')
  const first = await doc(file)
  assert.equal(first.version, 2)
  assert.equal(first.generation, 1)
  assert.match(first.storeId, /^[0-9a-f]{32}$/)
  await s.set('b', 'two')
  await s.remove('a')
  assert.equal((await doc(file)).generation, 3)
  const newKey = randomBytes(32)
  await s.rotate(newKey)
  const rotated = await doc(file)
  assert.deepEqual([rotated.generation, rotated.storeId], [4, first.storeId])
  assert.equal((await SecretStore.open(file, newKey)).get('b'), 'two')
  // another store gets another id
  const other = await SecretStore.open(join(dir, 'other.store'), key)
  await other.set('a', 'one')
  assert.notEqual(other.storeId, first.storeId)
})

test('a reader that saw a newer store refuses an older one, another store, or none at all', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const writer = await SecretStore.open(file, key)
  await writer.set('a', 'one')
  const gen1 = await readFile(file)
  await writer.set('a', 'two')
  const marks = new HighWater()
  const reader = await SecretStore.open(file, key, { highWater: marks })
  assert.equal(reader.generation, 2)

  await writeFile(file, gen1)
  await assert.rejects(reader.reload(), { code: 'TG_ERR_ROLLBACK', reason: 'rollback' })
  assert.equal(reader.get('a'), 'two', 'the last good contents stay')
  // a new reader sharing the marks (a gateway after a SIGHUP) refuses it too
  await assert.rejects(SecretStore.open(file, key, { highWater: marks }), /generation 1, older than generation 2/)

  const other = join(dir, 'other.store')
  await (await SecretStore.open(other, key)).set('a', 'other')
  for (let i = 0; i < 3; i++) await (await SecretStore.open(other, key)).set('a', `other-${i}`) // a higher generation does not help
  await writeFile(file, await readFile(other))
  await assert.rejects(reader.reload(), { code: 'TG_ERR_ROLLBACK', reason: 'other_store' })
  assert.equal(reader.get('a'), 'two')

  await rm(file)
  await assert.rejects(reader.reload(), /now missing\) has generation 0, older than generation 2/)
  assert.equal(reader.get('a'), 'two')
})

test('secrets.storeId: only that store is read; a writer may create it, or upgrade a version 1 store to it', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const pin = randomBytes(16).toString('hex')
  const s = await SecretStore.open(file, key, { storeId: pin })
  await s.set('upstream', 'pinned-value')
  assert.equal((await doc(file)).storeId, pin)

  const staging = join(dir, 'staging.store')
  await (await SecretStore.open(staging, key)).set('upstream', 'staging-value')
  await writeFile(file, await readFile(staging))
  const resolver = createSecretResolver({ baseDir: dir, secrets: { store: './secrets.store', storeId: pin }, env: { TOLLGATE_MASTER_KEY: key.toString('base64') } })
  try {
    await assert.rejects(resolver.resolve('${secret:upstream}', 'containers.api.token'), (err: Error) => {
      assert.match(err.message, /^containers\.api\.token: cannot resolve \$\{secret:upstream\}: .*not the store [0-9a-f]{32} that secrets\.storeId names/)
      assert.ok(!err.message.includes('staging-value'))
      return true
    })
  } finally { await resolver.close() }

  // a version 1 store (no id yet): refused to readers, given the pinned id by its first write
  const legacy = join(ROOT, 'test', 'fixtures', 'legacy-v1')
  const fx = JSON.parse(await readFile(join(legacy, 'fixture.json'), 'utf8')) as { masterKey: string, secrets: Record<string, string> }
  const legacyKey = Buffer.from(fx.masterKey, 'base64')
  await copyFile(join(legacy, 'secrets.store'), file)
  await assert.rejects(SecretStore.open(file, legacyKey, { storeId: pin }), /has no store id \(format version 1\)/)
  const writer = await SecretStore.open(file, legacyKey, { storeId: pin, upgrade: true })
  await writer.set('added', 'x')
  const reader = await SecretStore.open(file, legacyKey, { storeId: pin })
  assert.equal(reader.storeId, pin)
  for (const [name, value] of Object.entries(fx.secrets)) assert.equal(reader.get(name), value)
})

test('unknown fields are refused: store header and entries, keys file header and records', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  await (await SecretStore.open(file, key)).set('a', 'one')
  const good = await doc(file)
  for (const edit of [(d: any) => { d.note = 'x' }, (d: any) => { d.entries[0].owner = true }]) {
    const d = structuredClone(good)
    edit(d)
    await writeFile(file, JSON.stringify(d))
    await assert.rejects(SecretStore.open(file, key), (err: Error & { code?: string }) => err.code === 'TG_ERR_SECRET_STORE' && /unknown field|malformed/.test(err.message))
  }
  const f = await fixture()
  try {
    await createKey(f, 'ci-bot')
    const keys = await doc(f.keysFile)
    for (const edit of [(d: any) => { d.admins = ['ci-bot'] }, (d: any) => { d.keys[0].scopes = ['*'] }]) {
      const d = structuredClone(keys)
      edit(d)
      assert.throws(() => parseKeysFile(f.keysFile, JSON.stringify(d)), (err: Error & { code?: string }) => err.code === 'TG_ERR_KEYS_STORE' && /unknown field/.test(err.message))
    }
  } finally { await f.cleanup() }
})

test('a store or keys file larger than the limit is refused before it is parsed', async (t) => {
  const dir = await tempDir(t)
  const big = join(dir, 'big')
  await writeFile(big, Buffer.alloc(Math.max(MAX_STORE_BYTES, MAX_KEYS_BYTES) + 1, 0x20))
  await assert.rejects(SecretStore.open(big, randomBytes(32)), /larger than 8388608 bytes/)
  await assert.rejects(readKeysFile(big), /larger than 8388608 bytes/)
})

test('an entry copied in from another store under the same master key is refused', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const a = join(dir, 'a.store')
  const b = join(dir, 'b.store')
  await (await SecretStore.open(a, key)).set('token', 'a-value')
  await (await SecretStore.open(b, key)).set('token', 'b-value')
  const da = await doc(a)
  const db = await doc(b)
  da.entries = db.entries
  await writeFile(a, JSON.stringify(da))
  await assert.rejects(SecretStore.open(a, key), /integrity check/)
})

test('the keys pepper is created only if absent, decided under the store\'s lock: a second creator never replaces it', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const one = await SecretStore.open(file, key)
  const two = await SecretStore.open(file, key) // opened before the pepper exists: a stale view
  const p1 = await ensurePepper(one)
  const p2 = await ensurePepper(two)
  assert.ok(p2.equals(p1), 'the second creator got the existing pepper')
  assert.equal((await SecretStore.open(file, key)).get(PEPPER_SECRET_NAME), p1.toString('base64'))
})
