// Rotation in flight: the container's key is rotated at Scaleway; tollgate still holds the old value.
// The upstream's 401/403 makes tollgate refresh the token from its source once (one fetch for a
// burst) and retry idempotent, body-less requests once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type TestGateway } from './helpers/gateway.js'
import { startUpstream, type Upstream } from './helpers/upstream.js'
import { writePki } from './helpers/pki.js'
import { FakeSecretManager } from './helpers/scaleway-secret-manager.js'

interface Rotation {
  sm: FakeSecretManager
  gw: TestGateway
  oldToken: string
  newToken: string
  /** Rotates the key: the container only accepts the new one, and Secret Manager holds it. */
  rotate: () => void
  /** The container accepts only this token from now on. */
  accept: (token: string) => void
}

/**
 * A container behind a `${scw:…}` token and an upstream that answers 200 to the accepted token and
 * 403 otherwise (judged when the request arrives). `delay(path, ok)` holds an answer back (ms).
 */
async function withRotation (run: (r: Rotation) => Promise<void>, delay: (path: string, ok: boolean) => number = () => 0): Promise<void> {
  const sm = await FakeSecretManager.start()
  const iamKey = sm.addKey()
  const oldToken = 'old-' + Math.random().toString(36).slice(2)
  const newToken = 'new-' + Math.random().toString(36).slice(2)
  const secret = sm.createSecret({ name: 'reports-token', value: oldToken })
  let accepted = oldToken
  const up: Upstream = await startUpstream({
    handler: (req, res) => {
      const ok = req.headers['x-auth-token'] === accepted
      const answer = (): void => {
        res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' })
        res.end(ok ? '{"ok":true}' : '{"message":"forbidden"}')
      }
      const ms = delay(req.url ?? '', ok)
      if (ms > 0) setTimeout(answer, ms)
      else answer()
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
    await run({
      sm,
      gw,
      oldToken,
      newToken,
      rotate: () => {
        sm.addVersion(secret.id, newToken, { disablePrevious: true })
        accepted = newToken
      },
      accept: (token) => { accepted = token }
    })
  } finally {
    await gw.close()
    await up.close()
    await sm.close()
  }
}

test('an upstream 403 after a rotation triggers one coalesced refresh and one retry', async () => {
  await withRotation(async ({ sm, gw, oldToken, newToken, rotate, accept }) => {
    assert.equal((await gw.get('/a')).status, 200)
    const fetchesBefore = sm.accessCount()
    rotate()
    const burst = await Promise.all(Array.from({ length: 5 }, async (_, i) => await gw.get(`/b${i}`)))
    assert.deepEqual(burst.map((r) => r.status), [200, 200, 200, 200, 200])
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'one refresh for the whole burst')
    const rotated = gw.logs.filter((l) => l.type === 'decision' && l.tokenRotated === true)
    assert.ok(rotated.length >= 1, 'a rotation is visible in the decision log')
    // A POST with a body is not retried: the client sees the upstream's 403.
    accept('yet-another')
    const post = await gw.get('/c', { method: 'POST', body: 'x=1', headers: { 'content-type': 'text/plain' } })
    assert.equal(post.status, 403)
    for (const line of gw.logs) {
      const s = JSON.stringify(line)
      assert.ok(!s.includes(oldToken) && !s.includes(newToken), 'no token value in any log line')
    }
  })
})

test('a straggler answered 403 after the token was already refreshed is retried with the new token, without a second fetch', async () => {
  // /slow with the old token answers 1.5 s late: after the /fast request's refresh and after the
  // resolver's 1 s refresh cooldown (which alone would not spare a second fetch).
  await withRotation(async ({ sm, gw, rotate }) => {
    assert.equal((await gw.get('/warm')).status, 200)
    const fetchesBefore = sm.accessCount()
    rotate()
    const slow = gw.get('/slow')
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal((await gw.get('/fast')).status, 200)
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'the fast request refreshed the token')
    assert.equal((await slow).status, 200)
    assert.equal(sm.accessCount() - fetchesBefore, 1, 'the straggler reused the refreshed token')
  }, (path, ok) => path === '/slow' && !ok ? 1500 : 0)
})
