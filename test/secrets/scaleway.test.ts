import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecretResolver, type SecretResolverOptions } from '../../src/secrets/index.js'
import { parseSecretRef } from '../../src/secrets/refs.js'
import { FakeSecretManager } from '../helpers/scaleway-secret-manager.js'
import { assertNoLeak, recorder, tempDir, unresolved, waitFor } from './helpers.js'

const PROJECT = '11111111-2222-4333-8444-555555555555'

async function setup (t: { after: (fn: () => Promise<void>) => void }, secrets: Record<string, unknown> = {}, extra: Partial<SecretResolverOptions> = {}) {
  const sm = await FakeSecretManager.start()
  const key = sm.addKey()
  const rec = recorder()
  const env: NodeJS.ProcessEnv = { SCW_SECRET_KEY: key }
  const resolver = createSecretResolver({
    baseDir: '/',
    env,
    secrets: { ...secrets, scaleway: { baseUrl: sm.url, timeout: 1000, ...(secrets.scaleway as object ?? {}) } },
    logger: rec.logger,
    events: rec.events,
    ...extra
  })
  t.after(async () => { await resolver.close(); await sm.close() })
  return { sm, key, rec, env, resolver }
}

test('reference forms: by id, by path with or without a project, pinned revision', () => {
  const id = randomUUID()
  assert.deepEqual(parseSecretRef(`\${scw:fr-par/${id}}`), { kind: 'scw', target: { by: 'id', region: 'fr-par', revision: 'latest_enabled', id } })
  assert.deepEqual(parseSecretRef(`\${scw:nl-ams/${PROJECT}/prod/api/token@3}`),
    { kind: 'scw', target: { by: 'path', region: 'nl-ams', revision: '3', projectId: PROJECT, path: '/prod/api', name: 'token' } })
  assert.deepEqual(parseSecretRef('${scw:pl-waw/token}'),
    { kind: 'scw', target: { by: 'path', region: 'pl-waw', revision: 'latest_enabled', projectId: undefined, path: '/', name: 'token' } })
  for (const bad of ['${scw:fr-par}', '${scw:FR-PAR/x}', '${scw:fr-par//x}', '${scw:fr-par/x@0}', '${scw:fr-par/x@v1}', '${scw:fr-par/a b}']) {
    assert.throws(() => parseSecretRef(bad), Error, bad)
  }
})

test('by id: the latest enabled version, base64-decoded, one trailing newline dropped, X-Auth-Token sent', async (t) => {
  const { sm, resolver, rec, key } = await setup(t)
  const s = sm.createSecret({ projectId: PROJECT, name: 'upstream-token', value: 'scw-value-1\n' })
  sm.addVersion(s.id, 'scw-value-disabled', { enabled: false })
  const h = await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  assert.equal(h.value(), 'scw-value-1')
  assert.deepEqual(sm.requests.map((r) => [r.path, r.auth]),
    [[`/secret-manager/v1beta1/regions/fr-par/secrets/${s.id}/versions/latest_enabled/access`, 'ok']])
  const pinned = await resolver.resolve(`\${scw:fr-par/${s.id}@2}`, 'containers.b.token').catch((e: Error) => e.message)
  assert.match(String(pinned), /404/)
  assertNoLeak(rec.lines, ['scw-value-1', key])
})

test('by path: explicit project, configured project, SCW_DEFAULT_PROJECT_ID; folders', async (t) => {
  const { sm, resolver, env } = await setup(t, { scaleway: { projectId: PROJECT } })
  sm.createSecret({ projectId: PROJECT, name: 'token', path: '/prod/api', value: 'by-path-1' })
  sm.createSecret({ projectId: PROJECT, name: 'root-token', value: 'by-path-2' })
  assert.equal((await resolver.resolve(`\${scw:fr-par/${PROJECT}/prod/api/token}`, 'a')).value(), 'by-path-1')
  assert.equal((await resolver.resolve('${scw:fr-par/root-token}', 'b')).value(), 'by-path-2')
  const q = sm.requests.at(-1)!.query
  assert.deepEqual(q, { project_id: PROJECT, secret_name: 'root-token', secret_path: '/' })

  const other = randomUUID()
  sm.createSecret({ projectId: other, name: 'x', value: 'by-path-3' })
  const r2 = createSecretResolver({ baseDir: '/', env: { ...env, SCW_DEFAULT_PROJECT_ID: other }, secrets: { scaleway: { baseUrl: sm.url } } })
  t.after(() => r2.close())
  assert.equal((await r2.resolve('${scw:fr-par/x}', 'c')).value(), 'by-path-3')
  const r3 = createSecretResolver({ baseDir: '/', env, secrets: { scaleway: { baseUrl: sm.url } } })
  t.after(() => r3.close())
  await assert.rejects(r3.resolve('${scw:fr-par/x}', 'd'), unresolved('projectId', 'SCW_DEFAULT_PROJECT_ID'))
})

test('startup failures name the reference and the cause: 401, 403, 404, 429, 500, slow, down', async (t) => {
  const { sm, resolver, key, rec } = await setup(t, { scaleway: { timeout: 300 } })
  const s = sm.createSecret({ projectId: PROJECT, name: 'n', value: 'never-shown' })
  const ref = `\${scw:fr-par/${s.id}}`
  const messages: string[] = []
  const check = (...words: string[]) => (err: unknown): boolean => {
    messages.push((err as Error).message)
    return unresolved('containers.a.token', ref, ...words)(err)
  }

  sm.keys.get(key)!.access = false
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('403', 'SecretManagerSecretAccess'))
  sm.keys.get(key)!.access = true
  sm.keys.get(key)!.expired = true
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('401', 'expired', 'secrets.scaleway.secretKey'))
  sm.keys.get(key)!.expired = false
  await assert.rejects(resolver.resolve(`\${scw:fr-par/${randomUUID()}}`, 'containers.a.token'), (err) => { messages.push((err as Error).message); return /404/.test((err as Error).message) })
  sm.rateLimit(1, 7)
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('429', 'resets in 7s'))
  sm.failNext(500)
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('500'))
  sm.delay = 2000
  const started = Date.now()
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('within 300 ms'))
  assert.ok(Date.now() - started < 1500, 'the timeout is enforced')
  sm.delay = 0
  await sm.stop()
  await assert.rejects(resolver.resolve(ref, 'containers.a.token'), check('cannot reach', 'ECONNREFUSED'))
  await sm.listen()
  assert.equal((await resolver.resolve(ref, 'containers.a.token')).value(), 'never-shown')
  assertNoLeak(messages.concat(rec.lines), ['never-shown', key])
})

test('a by-path 500 is reported as Scaleway\'s missing-secret quirk', async (t) => {
  const { sm, resolver } = await setup(t)
  sm.failNext(500)
  await assert.rejects(resolver.resolve(`\${scw:fr-par/${PROJECT}/missing}`, 'a'), unresolved('500', 'missing secret'))
})

test('background refresh before expiry picks up a new version without a restart', async (t) => {
  const { sm, resolver, rec } = await setup(t, { ttl: 1000, refreshAhead: 800 })
  const s = sm.createSecret({ projectId: PROJECT, name: 'rot', value: 'bg-value-1' })
  const h = await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  sm.addVersion(s.id, 'bg-value-2', { disablePrevious: true })
  await waitFor('the background refresh', () => h.value() === 'bg-value-2', 3000)
  assert.ok(rec.events_.some((e) => e[0] === 'rotated' && e[1] === `\${scw:fr-par/${s.id}}`))
  assert.ok(rec.lines.some((l) => l.includes('secret rotated')))
  assertNoLeak(rec.lines, ['bg-value-1', 'bg-value-2'])
})

test('source down: the last good value is served, a warning and an event say so, recovery is logged', async (t) => {
  const { sm, resolver, rec, key } = await setup(t, { scaleway: { timeout: 300 } }, { refreshCooldown: 0 })
  const s = sm.createSecret({ projectId: PROJECT, name: 'd', value: 'down-value-1' })
  const h = await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  await sm.stop()
  assert.equal(await h.refresh(), false)
  assert.equal(h.value(), 'down-value-1')
  const failed = rec.events_.find((e) => e[0] === 'refreshFailed')
  assert.ok(failed !== undefined)
  assert.match(String(failed[2]), /cannot reach/)
  await sm.listen()
  sm.rateLimit(1)
  assert.equal(await h.refresh(), false)
  sm.delay = 1000
  assert.equal(await h.refresh(), false)
  sm.delay = 0
  sm.failNext(403)
  assert.equal(await h.refresh(), false)
  assert.equal(h.value(), 'down-value-1')
  sm.addVersion(s.id, 'down-value-2')
  assert.equal(await h.refresh(), true)
  assert.equal(h.value(), 'down-value-2')
  assert.ok(rec.lines.some((l) => l.includes('"level":"warn"') && l.includes('serving the last good value')))
  assert.ok(rec.lines.some((l) => l.includes('recovered')))
  assertNoLeak(rec.lines.concat(rec.events_.map((e) => JSON.stringify(e))), ['down-value-1', 'down-value-2', key])
})

test('refresh() is coalesced: a burst of callers causes one fetch', async (t) => {
  const { sm, resolver } = await setup(t, {}, { refreshCooldown: 500 })
  const s = sm.createSecret({ projectId: PROJECT, name: 'c', value: 'burst-1' })
  const h1 = await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  const h2 = await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.b.token')
  assert.equal(sm.accessCount(s.id), 1)
  sm.addVersion(s.id, 'burst-2')
  sm.delay = 100
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? h1 : h2).refresh()))
  assert.equal(sm.accessCount(s.id), 2)
  assert.ok(results.every((r) => r === true))
  assert.equal(h2.value(), 'burst-2')
  // a straggler just after the burst shares its outcome too
  assert.equal(await h1.refresh(), true)
  assert.equal(sm.accessCount(s.id), 2)
})

test('a 429 during background refresh backs off for reset_seconds', async (t) => {
  const { sm, resolver, rec } = await setup(t, { ttl: 1000, refreshAhead: 900 })
  const s = sm.createSecret({ projectId: PROJECT, name: 'r', value: 'rl-1' })
  await resolver.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  sm.rateLimit(1, 1)
  await waitFor('the rate-limited refresh', () => rec.events_.some((e) => e[0] === 'refreshFailed'), 3000)
  const failedAt = Date.now()
  const before = sm.accessCount(s.id)
  await waitFor('the next refresh', () => sm.accessCount(s.id) > before, 3000)
  assert.ok(Date.now() - failedAt >= 900, `waited ${Date.now() - failedAt} ms`)
})

test('a rotated IAM key (file source) is picked up on a 401 and the fetch retried once', async (t) => {
  const dir = await tempDir(t)
  const sm = await FakeSecretManager.start()
  t.after(() => sm.close())
  const key1 = sm.addKey()
  await writeFile(join(dir, 'scw.key'), key1 + '\n')
  const s = sm.createSecret({ projectId: PROJECT, name: 'k', value: 'iam-rot-1' })
  const r = createSecretResolver({
    baseDir: dir,
    env: {},
    secrets: { pollInterval: 600000, scaleway: { baseUrl: sm.url, secretKey: '${file:scw.key}' } },
    refreshCooldown: 0
  })
  t.after(() => r.close())
  const h = await r.resolve(`\${scw:fr-par/${s.id}}`, 'containers.a.token')
  sm.removeKey(key1)
  const key2 = sm.addKey()
  await writeFile(join(dir, 'scw.key'), key2)
  sm.addVersion(s.id, 'iam-rot-2')
  assert.equal(await h.refresh(), true)
  assert.equal(h.value(), 'iam-rot-2')
  assert.deepEqual(sm.requests.slice(-2).map((x) => x.auth), ['unknown', 'ok'])
})

test('the fake server speaks Scaleway\'s error shapes', async (t) => {
  const sm = await FakeSecretManager.start()
  t.after(() => sm.close())
  const key = sm.addKey()
  const get = async (path: string, token?: string) => {
    const res = await fetch(sm.url + path, { headers: token === undefined ? {} : { 'x-auth-token': token } })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  const base = '/secret-manager/v1beta1/regions/fr-par'
  assert.deepEqual((await get(`${base}/secrets/${randomUUID()}/versions/latest/access`)).body.type, 'denied_authentication')
  assert.equal((await get(`${base}/secrets/${randomUUID()}/versions/latest/access`, 'nope')).body.reason, 'not_found')
  assert.deepEqual((await get(`${base}/secrets/not-a-uuid/versions/latest/access`, key)).status, 400)
  const nf = await get(`${base}/secrets/${randomUUID()}/versions/latest/access`, key)
  assert.equal(nf.status, 404)
  assert.equal(nf.body.type, 'not_found')
  sm.rateLimit(1, 3)
  const rl = await get(`${base}/secrets/${randomUUID()}/versions/latest/access`, key)
  assert.equal(rl.status, 429)
  assert.equal(rl.body.reset_seconds, 3)
  const created = await fetch(`${sm.url}${base}/secrets`, { method: 'POST', headers: { 'x-auth-token': key, 'content-type': 'application/json' }, body: JSON.stringify({ project_id: PROJECT, name: 'api' }) })
  const secret = await created.json() as { id: string }
  await fetch(`${sm.url}${base}/secrets/${secret.id}/versions`, { method: 'POST', headers: { 'x-auth-token': key }, body: JSON.stringify({ data: Buffer.from('posted').toString('base64') }) })
  const access = await get(`${base}/secrets/${secret.id}/versions/latest_enabled/access`, key)
  assert.equal(access.status, 200)
  assert.equal(Buffer.from(access.body.data as string, 'base64').toString(), 'posted')
  assert.equal(access.body.revision, 1)
  assert.equal(access.body.secret_id, secret.id)
})
