import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecretResolver, isSecretRef, SecretStore } from '../../src/secrets/index.js'
import { assertNoLeak, recorder, tempDir, unresolved, waitFor } from './helpers.js'

test('${env:…}: value, refresh re-reads, missing or empty fails naming the reference and the field', async (t) => {
  const env: NodeJS.ProcessEnv = { TOKEN_A: 'env-value-1', EMPTY: '' }
  const r = createSecretResolver({ baseDir: '/', env, refreshCooldown: 0 })
  t.after(() => r.close())
  const h = await r.resolve('${env:TOKEN_A}', 'containers.a.token')
  assert.equal(h.ref, '${env:TOKEN_A}')
  assert.equal(h.value(), 'env-value-1')
  assert.equal(await h.refresh(), false)
  env.TOKEN_A = 'env-value-2'
  assert.equal(await h.refresh(), true)
  assert.equal(h.value(), 'env-value-2')
  await assert.rejects(r.resolve('${env:NOPE}', 'containers.b.token'), unresolved('containers.b.token', '${env:NOPE}', 'not set'))
  await assert.rejects(r.resolve('${env:EMPTY}', 'containers.c.token'), unresolved('${env:EMPTY}', 'empty'))
})

test('invalid references are refused with the syntax', async () => {
  const r = createSecretResolver({ baseDir: '/', env: {} })
  for (const ref of ['plain', '${vault:x}', '${env:1BAD}', '${secret:a b}', '${scw:paris/x}', '${scw:fr-par/}', '${scw:fr-par/id@v2}']) {
    await assert.rejects(r.resolve(ref, 'containers.x.token'), unresolved('containers.x.token'))
  }
  await r.close()
  assert.equal(isSecretRef('${scw:fr-par/x}'), true)
  assert.equal(isSecretRef('plain'), false)
})

test('${file:…}: relative to the config folder, one trailing newline dropped, changes picked up', async (t) => {
  const dir = await tempDir(t)
  const rec = recorder()
  await writeFile(join(dir, 'token'), 'file-value-1\n\n')
  const r = createSecretResolver({ baseDir: dir, secrets: { pollInterval: 50 }, env: {}, logger: rec.logger, events: rec.events })
  t.after(() => r.close())
  const h = await r.resolve('${file:token}', 'containers.a.token')
  assert.equal(h.value(), 'file-value-1\n')

  await writeFile(join(dir, 'token'), 'file-value-2\r\n')
  await waitFor('the new file value', () => h.value() === 'file-value-2')
  assert.deepEqual(rec.events_.filter((e) => e[0] === 'rotated'), [['rotated', '${file:token}']])

  // gone: the last good value stays, a warning and an event say so (without the value)
  await unlink(join(dir, 'token'))
  await waitFor('a refresh failure', () => rec.events_.some((e) => e[0] === 'refreshFailed'))
  assert.equal(h.value(), 'file-value-2')
  assert.equal(await h.refresh(), false)
  assert.ok(rec.lines.some((l) => l.includes('"level":"warn"') && l.includes('${file:token}') && l.includes('ENOENT')))

  await writeFile(join(dir, 'token'), 'file-value-3')
  await waitFor('recovery', () => h.value() === 'file-value-3')
  assertNoLeak(rec.lines.concat(rec.events_.map((e) => JSON.stringify(e))), ['file-value-1', 'file-value-2', 'file-value-3'])
})

test('${file:…}: a Kubernetes-style ..data symlink swap is picked up', { skip: process.platform === 'win32' }, async (t) => {
  const dir = await tempDir(t)
  const mount = join(dir, 'mount')
  await mkdir(join(mount, '..2024_01_01'), { recursive: true })
  await writeFile(join(mount, '..2024_01_01', 'token'), 'k8s-value-1')
  await symlink('..2024_01_01', join(mount, '..data'))
  await symlink('..data/token', join(mount, 'token'))

  // the folder watch notices within milliseconds on Linux; the 1 s poll is the fallback elsewhere
  const r = createSecretResolver({ baseDir: dir, secrets: { pollInterval: 1000 }, env: {} })
  t.after(() => r.close())
  const h = await r.resolve('${file:mount/token}', 'containers.a.token')
  assert.equal(h.value(), 'k8s-value-1')

  // what the kubelet does: new timestamped dir, new ..data_tmp link, rename over ..data, old dir removed
  await mkdir(join(mount, '..2024_01_02'))
  await writeFile(join(mount, '..2024_01_02', 'token'), 'k8s-value-2')
  await symlink('..2024_01_02', join(mount, '..data_tmp'))
  await rename(join(mount, '..data_tmp'), join(mount, '..data'))
  await rm(join(mount, '..2024_01_01'), { recursive: true })
  await waitFor('the swapped value', () => h.value() === 'k8s-value-2', 3000)
})

test('${secret:…}: read from the encrypted store, live updates from another writer', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const writer = await SecretStore.open(join(dir, 'secrets.store'), key)
  await writer.set('api-token', 'store-value-1')
  const rec = recorder()
  const r = createSecretResolver({ baseDir: dir, secrets: { store: './secrets.store', pollInterval: 50 }, env: {}, masterKey: key, logger: rec.logger, events: rec.events })
  t.after(() => r.close())
  const h = await r.resolve('${secret:api-token}', 'containers.a.token')
  assert.equal(h.value(), 'store-value-1')
  await writer.set('api-token', 'store-value-2')
  await waitFor('the updated store value', () => h.value() === 'store-value-2')
  await assert.rejects(r.resolve('${secret:missing}', 'containers.b.token'), unresolved('${secret:missing}', 'containers.b.token', 'tollgate secrets set missing'))
  assertNoLeak(rec.lines, ['store-value-1', 'store-value-2'])
})

test('${secret:…}: master key from the environment; wrong key, no store configured, tampered store', async (t) => {
  const dir = await tempDir(t)
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  await (await SecretStore.open(file, key)).set('tok', 'store-secret-value')

  const ok = createSecretResolver({ baseDir: dir, secrets: { store: 'secrets.store' }, env: { TOLLGATE_MASTER_KEY: key.toString('base64') } })
  assert.equal((await ok.resolve('${secret:tok}', 'a')).value(), 'store-secret-value')
  await ok.close()

  const errors: string[] = []
  const collect = (err: unknown): boolean => { errors.push((err as Error).message); return true }
  const wrong = createSecretResolver({ baseDir: dir, secrets: { store: 'secrets.store' }, env: { TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') } })
  await assert.rejects(wrong.resolve('${secret:tok}', 'containers.a.token'), unresolved('${secret:tok}', file, 'master key'))
  await wrong.close()
  const noKey = createSecretResolver({ baseDir: dir, secrets: { store: 'secrets.store' }, env: {} })
  await assert.rejects(noKey.resolve('${secret:tok}', 'containers.a.token'), unresolved('TOLLGATE_MASTER_KEY'))
  await noKey.close()
  const noStore = createSecretResolver({ baseDir: dir, env: {}, masterKey: key })
  await assert.rejects(noStore.resolve('${secret:tok}', 'containers.a.token'), unresolved('secrets.store'))
  await noStore.close()

  await writeFile(file, '{"format":"tollgate-secret-store"')
  const tampered = createSecretResolver({ baseDir: dir, secrets: { store: 'secrets.store' }, env: {}, masterKey: key })
  await assert.rejects(tampered.resolve('${secret:tok}', 'containers.a.token'), collect)
  await tampered.close()
  assert.match(errors[0]!, /truncated/)
  assertNoLeak(errors, ['store-secret-value'])
})

test('one fetch per source: handles on the same reference share it', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 't'), 'shared')
  const rec = recorder()
  const r = createSecretResolver({ baseDir: dir, env: {}, events: rec.events })
  t.after(() => r.close())
  const [a, b] = await Promise.all([r.resolve('${file:t}', 'x'), r.resolve('${file:./t}', 'y')])
  assert.equal(a.value(), 'shared')
  assert.equal(b.value(), 'shared')
  await Promise.all([a.refresh(), a.refresh(), b.refresh()])
  assert.equal(rec.events_.filter((e) => e[0] === 'refreshed').length, 1)
})

test('config checks: refreshAhead below ttl, unknown keys refused with their path', () => {
  assert.throws(() => createSecretResolver({ baseDir: '/', secrets: { ttl: 5000, refreshAhead: 5000 } }), /secrets\.refreshAhead/)
  assert.throws(() => createSecretResolver({ baseDir: '/', secrets: { scaleway: { timeout: 1 } } as never }), /secrets\.scaleway\.timeout/)
})

test('after close(), resolve() fails and refresh() does nothing', async () => {
  const r = createSecretResolver({ baseDir: '/', env: { A: 'x' } })
  const h = await r.resolve('${env:A}', 'a')
  await r.close()
  assert.equal(await h.refresh(), false)
  assert.equal(h.value(), 'x')
  await assert.rejects(r.resolve('${env:A}', 'a'), unresolved('closed'))
})
