// Secrets and keys change while the Fastify app runs, and the plugin follows without a restart:
// it holds the runtime's secret resolver and authenticator, with their watchers and refreshes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPluginApp } from './helpers.js'
import { startUpstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { registerSecretValue } from '../helpers/gateway.js'
import { FakeSecretManager } from '../helpers/scaleway-secret-manager.js'
import { createKey, keysCli, waitFor } from '../credentials/helpers.js'

function secret (label: string): string {
  const v = `${label}-${randomBytes(8).toString('hex')}`
  registerSecretValue(v)
  return v
}

test('a ${file:} token rewritten while the app runs: the following requests carry the new one', async () => {
  const up = await startUpstream({ tls: false })
  const [first, second] = [secret('file-token-1'), secret('file-token-2')]
  const t = await startPluginApp({
    files: { token: first + '\n' },
    config: {
      secrets: { pollInterval: 50 },
      containers: { app: { upstream: up.url.replace('localhost', '127.0.0.1'), match: { path: '/' }, token: '${file:./token}', privacy: 'public' } }
    }
  })
  try {
    assert.equal((await t.get('/a')).json().headers['x-auth-token'], first)
    writeFileSync(join(t.dir, 'token'), second + '\n')
    await waitFor(async () => (await t.get('/b')).json().headers['x-auth-token'] === second, 10_000, 'the rotated token is sent')
    assert.equal((await t.get('/c')).json().headers['x-auth-token'], second)
  } finally {
    await t.close()
    await up.close()
  }
})

test('a container key rotated at Secret Manager: the upstream\'s 403 makes the plugin refresh the token once and retry', async () => {
  const sm = await FakeSecretManager.start()
  const iamKey = sm.addKey()
  const [oldToken, newToken] = [secret('scw-old'), secret('scw-new')]
  const stored = sm.createSecret({ name: 'reports-token', value: oldToken })
  let accepted = oldToken
  const up = await startUpstream({
    handler: (req, res) => {
      const ok = req.headers['x-auth-token'] === accepted
      res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' })
      res.end(ok ? '{"ok":true}' : '{"message":"forbidden"}')
    }
  })
  const pki = writePki()
  const t = await startPluginApp({
    env: { ...process.env, SCW_SECRET_KEY: iamKey },
    config: {
      secrets: { ttl: 600000, refreshAhead: 0, scaleway: { baseUrl: sm.url } },
      containers: { reports: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/' }, token: `\${scw:fr-par/${stored.id}}`, privacy: 'public' } }
    }
  })
  try {
    assert.equal((await t.get('/a')).status, 200)
    const fetches = sm.accessCount()
    sm.addVersion(stored.id, newToken, { disablePrevious: true })
    accepted = newToken
    const burst = await Promise.all(Array.from({ length: 5 }, async (_, i) => await t.get(`/b${i}`)))
    assert.deepEqual(burst.map((r) => r.status), [200, 200, 200, 200, 200])
    assert.equal(sm.accessCount() - fetches, 1, 'one fetch for the whole burst')
    assert.ok(up.received.filter((r) => r.headers['x-auth-token'] === newToken).length >= 5)
    assert.ok(t.logs.some((l) => l.type === 'decision' && l.tokenRotated === true))
    // A POST is not retried (its body is a stream): the container's refusal is relayed and logged.
    accepted = 'nobody'
    const post = await t.get('/c', { method: 'POST', body: 'x' })
    assert.equal(post.status, 403)
    assert.ok(t.logs.some((l) => l.type === 'decision' && l.reason === 'upstream_rejected_token'))
  } finally {
    await t.close()
    await up.close()
    await sm.close()
  }
})

test('keys created and revoked while the app runs are honoured without a restart', async () => {
  const up = await startUpstream({ tls: false })
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: secret('upstream'), TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
  const t = await startPluginApp({
    env,
    config: {
      secrets: { store: './secrets.store' },
      credentials: { keys: './keys.store' },
      containers: { api: { upstream: up.url.replace('localhost', '127.0.0.1'), match: { path: '/api' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'private' } }
    }
  })
  const status = async (key: string): Promise<{ status: number, reason?: string }> => {
    const r = await t.get('/api/x', { headers: { 'x-auth-token': key } })
    return { status: r.status, reason: r.status === 200 ? undefined : r.json().reason }
  }
  try {
    const key = await createKey({ config: t.configFile, env } as never, 'rotating')
    registerSecretValue(key)
    await waitFor(async () => (await status(key)).status === 200, 10_000, 'a key created while the app runs is accepted')
    const rev = await keysCli(['revoke', 'rotating', '--config', t.configFile], env)
    assert.equal(rev.code, 0, rev.stderr)
    await waitFor(async () => (await status(key)).status === 401, 10_000, 'a revoked key is refused')
    assert.deepEqual(await status(key), { status: 401, reason: 'credential_revoked' })
  } finally {
    await t.close()
    await up.close()
  }
})
