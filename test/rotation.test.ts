// Rotation in flight: the container's key is rotated at Scaleway; tollgate still holds the old value.
// The upstream's 401/403 makes tollgate refresh the token from its source once (one fetch for a
// burst) and retry idempotent, body-less requests once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway } from './helpers/gateway.js'
import { startUpstream } from './helpers/upstream.js'
import { writePki } from './helpers/pki.js'
import { FakeSecretManager } from './helpers/scaleway-secret-manager.js'

test('an upstream 403 after a rotation triggers one coalesced refresh and one retry', async () => {
  const sm = await FakeSecretManager.start()
  const iamKey = sm.addKey()
  const oldToken = 'old-' + Math.random().toString(36).slice(2)
  const newToken = 'new-' + Math.random().toString(36).slice(2)
  const secret = sm.createSecret({ name: 'reports-token', value: oldToken })
  let accepted = oldToken
  const up = await startUpstream({
    handler: (req, res) => {
      const ok = req.headers['x-auth-token'] === accepted
      res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' })
      res.end(ok ? '{"ok":true}' : '{"message":"forbidden"}')
    }
  })
  const pki = writePki()
  const gw = await startGateway({
    env: { ...process.env, SCW_SECRET_KEY: iamKey },
    config: {
      secrets: { ttl: 600000, refreshAhead: 0, scaleway: { baseUrl: sm.url } },
      containers: {
        reports: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/' }, token: `\${scw:fr-par/${secret.id}}`, privacy: 'public' }
      }
    }
  })
  try {
    assert.equal((await gw.get('/a')).status, 200)
    const fetchesBefore = sm.accessCount()
    // Rotate: the container now only accepts the new key, and Secret Manager holds it.
    sm.addVersion(secret.id, newToken, { disablePrevious: true })
    accepted = newToken
    const burst = await Promise.all(Array.from({ length: 5 }, async (_, i) => await gw.get(`/b${i}`)))
    assert.deepEqual(burst.map((r) => r.status), [200, 200, 200, 200, 200])
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'one refresh for the whole burst')
    const rotated = gw.logs.filter((l) => l.type === 'decision' && l.tokenRotated === true)
    assert.ok(rotated.length >= 1, 'a rotation is visible in the decision log')
    // A POST with a body is not retried: the client sees the upstream's 403.
    accepted = 'yet-another'
    const post = await gw.get('/c', { method: 'POST', body: 'x=1', headers: { 'content-type': 'text/plain' } })
    assert.equal(post.status, 403)
    for (const line of gw.logs) {
      const s = JSON.stringify(line)
      assert.ok(!s.includes(oldToken) && !s.includes(newToken), 'no token value in any log line')
    }
  } finally {
    await gw.close()
    await up.close()
    await sm.close()
  }
})

test('a straggler answered 403 after the token was already refreshed is retried with the new token, without a second fetch', async () => {
  const sm = await FakeSecretManager.start()
  const iamKey = sm.addKey()
  const oldToken = 'old-' + Math.random().toString(36).slice(2)
  const newToken = 'new-' + Math.random().toString(36).slice(2)
  const secret = sm.createSecret({ name: 'slow-token', value: oldToken })
  let accepted = oldToken
  const up = await startUpstream({
    handler: (req, res) => {
      // Judged on arrival; /slow answers 1.5 s later: after the /fast request's refresh and after
      // the resolver's 1 s refresh cooldown (which alone would not spare a second fetch).
      const ok = req.headers['x-auth-token'] === accepted
      const answer = (): void => {
        res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' })
        res.end(ok ? '{"ok":true}' : '{"message":"forbidden"}')
      }
      if (req.url === '/slow' && !ok) setTimeout(answer, 1500)
      else answer()
    }
  })
  const pki = writePki()
  const gw = await startGateway({
    env: { ...process.env, SCW_SECRET_KEY: iamKey },
    config: {
      secrets: { ttl: 600000, refreshAhead: 0, scaleway: { baseUrl: sm.url } },
      containers: {
        slow: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/' }, token: `\${scw:fr-par/${secret.id}}`, privacy: 'public' }
      }
    }
  })
  try {
    assert.equal((await gw.get('/warm')).status, 200)
    const fetchesBefore = sm.accessCount()
    sm.addVersion(secret.id, newToken, { disablePrevious: true })
    accepted = newToken
    const slow = gw.get('/slow')
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal((await gw.get('/fast')).status, 200)
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'the fast request refreshed the token')
    assert.equal((await slow).status, 200)
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'the straggler reused the refreshed token')
  } finally {
    await gw.close()
    await up.close()
    await sm.close()
  }
})
