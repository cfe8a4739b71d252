import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import crypto, { randomBytes } from 'node:crypto'
import { syncBuiltinESMExports } from 'node:module'
import { mkdtemp, readFile, rm, stat, writeFile, readdir, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TollgateError } from '../../src/errors.js'
import { SecretStore, masterKeyFromEnv, masterKeyId, parseMasterKey } from '../../src/secrets/store.js'

async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-store-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function isStoreError (file: string, ...words: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TollgateError, `expected a TollgateError, got ${String(err)}`)
    assert.equal(err.code, 'TG_ERR_SECRET_STORE')
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`)
    for (const w of words) assert.ok(err.message.includes(w), `message mentions ${w}: ${err.message}`)
    assert.ok(!err.message.includes('\n'), 'one line')
    return true
  }
}

async function seeded (dir: string, key: Buffer, values: Record<string, string> = { alpha: 'value-one', beta: 'value-two' }): Promise<string> {
  const file = join(dir, 'secrets.store')
  const s = await SecretStore.open(file, key)
  for (const [k, v] of Object.entries(values)) await s.set(k, v)
  return file
}

test('a missing file is an empty store, and opening does not create it', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'nope', 'secrets.store')
  const s = await SecretStore.open(file, randomBytes(32))
  assert.deepEqual(s.list(), [])
  assert.equal(s.get('x'), undefined)
  await assert.rejects(stat(file), { code: 'ENOENT' })
})

test('round trip: set, reopen, get, list (names and timestamps only), update, remove', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'sub', 'secrets.store')
  const s = await SecretStore.open(file, key)
  await s.set('zeta', 'z-value ünïcødé 🔑')
  await s.set('alpha', 'a-value')
  assert.equal(s.get('alpha'), 'a-value')

  const again = await SecretStore.open(file, key)
  assert.equal(again.get('zeta'), 'z-value ünïcødé 🔑')
  assert.equal(again.get('alpha'), 'a-value')
  const list = again.list()
  assert.deepEqual(list.map((e) => e.name), ['alpha', 'zeta'])
  for (const e of list) {
    assert.deepEqual(Object.keys(e).sort(), ['createdAt', 'name', 'updatedAt'])
    assert.ok(!Number.isNaN(Date.parse(e.createdAt)))
  }

  const created = list[0]!.createdAt
  await new Promise((resolve) => setTimeout(resolve, 5))
  await again.set('alpha', 'a-value-2')
  const third = await SecretStore.open(file, key)
  const alpha = third.list().find((e) => e.name === 'alpha')!
  assert.equal(alpha.createdAt, created)
  assert.ok(alpha.updatedAt > created)
  assert.equal(third.get('alpha'), 'a-value-2')

  assert.equal(await third.remove('alpha'), true)
  assert.equal(await third.remove('alpha'), false)
  assert.deepEqual((await SecretStore.open(file, key)).list().map((e) => e.name), ['zeta'])

  const text = await readFile(file, 'utf8')
  assert.ok(!text.includes('a-value') && !text.includes('z-value'), 'no plaintext on disk')
  assert.deepEqual((await readdir(join(dir, 'sub'))).sort(), ['secrets.store'], 'no temp or lock files left behind')
})

test('the file is mode 0600 (even when it was wider before)', { skip: process.platform === 'win32' }, async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  await chmod(file, 0o644)
  await (await SecretStore.open(file, key)).set('gamma', 'g')
  assert.equal((await stat(file)).mode & 0o777, 0o600)
})

test('every write uses a fresh IV', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key, { a: 'same' })
  const iv1 = JSON.parse(await readFile(file, 'utf8')).entries[0].iv
  await (await SecretStore.open(file, key)).set('a', 'same')
  const iv2 = JSON.parse(await readFile(file, 'utf8')).entries[0].iv
  assert.notEqual(iv1, iv2)
})

test('a wrong master key is refused, naming the file and both key ids', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const other = randomBytes(32)
  await assert.rejects(SecretStore.open(file, other), isStoreError(file, masterKeyId(key), masterKeyId(other)))
})

test('a flipped byte anywhere in the file is refused (never a partial store)', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const original = await readFile(file)
  const copy = join(dir, 'copy.store')
  for (let i = 0; i < original.length; i++) {
    const bad = Buffer.from(original)
    bad[i] = bad[i]! ^ 0x01
    await writeFile(copy, bad)
    await assert.rejects(SecretStore.open(copy, key), isStoreError(copy), `byte ${i} (${JSON.stringify(String.fromCharCode(original[i]!))})`)
  }
})

test('a tampered ciphertext is caught by the whole-file MAC, before anything is decrypted', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const doc = JSON.parse(await readFile(file, 'utf8'))
  const beta = doc.entries.find((e: { name: string }) => e.name === 'beta')
  const data = Buffer.from(beta.data, 'base64')
  data[0] = data[0]! ^ 0x80
  beta.data = data.toString('base64')
  await writeFile(file, JSON.stringify(doc))
  const spy = mock.method(crypto, 'createDecipheriv')
  syncBuiltinESMExports()
  try {
    await assert.rejects(SecretStore.open(file, key), isStoreError(file, 'integrity check'))
    assert.equal(spy.mock.callCount(), 0, 'no entry was decrypted')
    // the untampered store decrypts each entry once
    await writeFile(file, (await readFile(file, 'utf8')).replace(beta.data, Buffer.from(data.map((b, i) => i === 0 ? b ^ 0x80 : b)).toString('base64')))
    assert.equal((await SecretStore.open(file, key)).get('beta'), 'value-two')
    assert.equal(spy.mock.callCount(), 2)
  } finally {
    spy.mock.restore()
    syncBuiltinESMExports()
  }
})

test('values cannot be swapped between names (the MAC covers them, and the name is bound as additional data)', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const doc = JSON.parse(await readFile(file, 'utf8'))
  const [a, b] = doc.entries
  for (const f of ['iv', 'tag', 'data']) [a[f], b[f]] = [b[f], a[f]]
  await writeFile(file, JSON.stringify(doc))
  await assert.rejects(SecretStore.open(file, key), isStoreError(file, 'integrity check'))

  // renaming an entry is caught too
  const doc2 = JSON.parse(await readFile(await seeded(await tempDir(t), key), 'utf8'))
  doc2.entries[0].name = 'renamed'
  const file2 = join(dir, 'renamed.store')
  await writeFile(file2, JSON.stringify(doc2))
  await assert.rejects(SecretStore.open(file2, key), isStoreError(file2, 'integrity check'))
})

test('an entry removed by hand fails the file integrity check', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const doc = JSON.parse(await readFile(file, 'utf8'))
  doc.entries.pop()
  await writeFile(file, JSON.stringify(doc))
  await assert.rejects(SecretStore.open(file, key), isStoreError(file, 'integrity'))
})

test('a truncated or empty file is refused', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const text = await readFile(file)
  for (const len of [0, 1, Math.floor(text.length / 2), text.length - 3]) {
    await writeFile(file, text.subarray(0, len))
    await assert.rejects(SecretStore.open(file, key), isStoreError(file, 'truncated'), `length ${len}`)
  }
})

test('a newer format version is refused with a clear message', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const doc = JSON.parse(await readFile(file, 'utf8'))
  doc.version = 3
  await writeFile(file, JSON.stringify(doc))
  await assert.rejects(SecretStore.open(file, key), isStoreError(file, 'version 3'))
})

test('a failed write keeps the store usable and the file unchanged', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const s = await SecretStore.open(file, key)
  await assert.rejects(s.set('bad name', 'x'), { code: 'TG_ERR_USAGE' })
  await assert.rejects(s.set('big', 'x'.repeat(64 * 1024 + 1)), { code: 'TG_ERR_USAGE' })
  assert.equal(s.get('alpha'), 'value-one')
  assert.deepEqual((await SecretStore.open(file, key)).list().map((e) => e.name), ['alpha', 'beta'])
})

test('concurrent writers through separate store objects lose nothing', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const stores = await Promise.all([0, 1, 2, 3].map(() => SecretStore.open(file, key)))
  await Promise.all(stores.flatMap((s, i) => [0, 1, 2, 3, 4].map((j) => s.set(`k${i}-${j}`, `v${i}-${j}`))))
  const final = await SecretStore.open(file, key)
  assert.equal(final.list().length, 20)
  assert.equal(final.get('k3-4'), 'v3-4')
})

test('reload() picks up another writer; a stale lock from a dead process is broken', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = await seeded(dir, key)
  const reader = await SecretStore.open(file, key)
  const writer = await SecretStore.open(file, key)
  await writer.set('gamma', 'g')
  assert.equal(reader.get('gamma'), undefined)
  assert.equal(await reader.reload(), true)
  assert.equal(reader.get('gamma'), 'g')
  assert.equal(await reader.reload(), false)

  await writeFile(`${file}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, at: new Date().toISOString() }))
  await writer.set('delta', 'd')
  assert.equal((await SecretStore.open(file, key)).get('delta'), 'd')
})

test('rotate() re-seals everything under the new key and keeps timestamps', async (t) => {
  const dir = await tempDir(t)
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32)
  const file = await seeded(dir, oldKey)
  const before = (await SecretStore.open(file, oldKey)).list()
  const s = await SecretStore.open(file, oldKey)
  await s.rotate(newKey)
  assert.equal(s.keyId, masterKeyId(newKey))
  await assert.rejects(SecretStore.open(file, oldKey), isStoreError(file, 'master key'))
  const reopened = await SecretStore.open(file, newKey)
  assert.deepEqual(reopened.list(), before)
  assert.equal(reopened.get('beta'), 'value-two')
  // during a rotation either key opens it
  assert.equal((await SecretStore.open(file, [oldKey, newKey])).get('alpha'), 'value-one')
  await s.set('after', 'x')
  assert.equal((await SecretStore.open(file, newKey)).get('after'), 'x')
})

test('masterKeyFromEnv: base64 or a key file, exactly one, 32 bytes; messages never hold the key', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  assert.deepEqual(masterKeyFromEnv({ TOLLGATE_MASTER_KEY: key.toString('base64') }), key)
  assert.deepEqual(masterKeyFromEnv({ TOLLGATE_MASTER_KEY: ` ${key.toString('base64url')}\n` }), key)
  const keyFile = join(dir, 'master.key')
  await writeFile(keyFile, key.toString('base64') + '\n')
  assert.deepEqual(masterKeyFromEnv({ TOLLGATE_MASTER_KEY_FILE: keyFile }), key)

  const short = randomBytes(31).toString('base64')
  const cases: NodeJS.ProcessEnv[] = [
    {},
    { TOLLGATE_MASTER_KEY: '' },
    { TOLLGATE_MASTER_KEY: short },
    { TOLLGATE_MASTER_KEY: 'not base64 at all, not at all, not at all!!!' },
    { TOLLGATE_MASTER_KEY: key.toString('hex') },
    { TOLLGATE_MASTER_KEY: key.toString('base64'), TOLLGATE_MASTER_KEY_FILE: keyFile },
    { TOLLGATE_MASTER_KEY_FILE: join(dir, 'missing.key') }
  ]
  for (const env of cases) {
    assert.throws(() => masterKeyFromEnv(env), (err: unknown) => {
      assert.ok(err instanceof TollgateError)
      assert.equal(err.code, 'TG_ERR_MASTER_KEY')
      for (const v of Object.values(env)) {
        if (v !== undefined && v.length > 20 && !v.startsWith('/')) assert.ok(!err.message.includes(v.trim()), 'no key material in the message')
      }
      return true
    })
  }
  assert.throws(() => parseMasterKey(short, 'X'), /32/)
})
