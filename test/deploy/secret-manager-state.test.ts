// The store and the keys file kept in Secret Manager, against what that API allows: no
// compare-and-swap (a concurrent version is detected by its revision and the change re-applied), a
// writer with Secret Manager rights but no master key (who can add, disable and delete versions),
// and a 64 KiB limit per version.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { waitFor } from '../credentials/helpers.js'
import { SecretStore, storeBackend } from '../../src/secrets/store.js'
import { createSecretResolver, stateContext } from '../../src/secrets/index.js'
import { withDefaults } from '../../src/config/schema-values.js'
import { SecretsSchema, type SecretsConfig } from '../../src/secrets/schema.js'
import { cli, sharedState, type SharedState } from './helpers.js'

function backendFor (s: SharedState, location: string): ReturnType<typeof storeBackend> {
  const secrets = withDefaults(SecretsSchema, { scaleway: { baseUrl: s.sm.url } }) as SecretsConfig
  const resolver = createSecretResolver({ baseDir: '/', secrets, env: s.env })
  return storeBackend(location, stateContext({ secrets, resolver, env: s.env }))
}

test('a version created by another writer between the read and the write is detected by its revision; the change is re-applied on top, nothing is lost', async (t) => {
  const s = await sharedState()
  t.after(async () => await s.sm.close())
  const master = Buffer.from(s.env.TOLLGATE_MASTER_KEY!, 'base64')
  const location = `scw:fr-par/${s.store.id}`
  const a = await SecretStore.open(location, master, { backend: backendFor(s, location) })
  const b = await SecretStore.open(location, master, { backend: backendFor(s, location) })
  await a.set('first', 'one') // revision 1

  // While A's version is on its way, B writes (and lands on the revision A predicted).
  let slipped = false
  s.sm.beforeCreateVersion = async () => {
    if (slipped) return
    slipped = true
    await b.set('from-b', 'two')
  }
  await a.set('from-a', 'three')
  s.sm.beforeCreateVersion = undefined
  assert.ok(slipped)

  const versions = s.sm.secrets.get(s.store.id)!.versions
  // 1: first (pruned once 4 landed); 2: B's; 3: A's attempt, sealed as generation 2 but given
  // revision 3 (the conflict: discarded and deleted); 4: A's change again, on top of B's
  assert.deepEqual(versions.map((v) => [v.revision, v.status]), [[1, 'scheduled_for_deletion'], [2, 'enabled'], [3, 'scheduled_for_deletion'], [4, 'enabled']])
  const c = await SecretStore.open(location, master, { backend: backendFor(s, location) })
  assert.deepEqual(c.list().map((e) => e.name), ['first', 'from-a', 'from-b'], 'both writers\' changes are there')
  assert.equal(c.generation, 4, 'the generation is the revision')
})

test('a store that would not fit in a Secret Manager version (64 KiB) is refused, naming the field; nothing is written', async (t) => {
  const s = await sharedState()
  t.after(async () => await s.sm.close())
  const { writeSharedConfig } = await import('./helpers.js')
  const file = writeSharedConfig(s, 'http://127.0.0.1:9')
  const big = 'x'.repeat(40 * 1024)
  assert.equal((await cli(['secrets', 'set', 'one', '--config', file], s.env, big)).status, 0)
  const versions = s.sm.secrets.get(s.store.id)!.versions.length
  const r = await cli(['secrets', 'set', 'two', '--config', file], s.env, big)
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^tollgate: secret store scw:fr-par\/[0-9a-f-]+: would be \d+ bytes, over the 65536-byte limit of a Secret Manager version \(secrets\.store\): nothing was written/)
  assert.equal(s.sm.secrets.get(s.store.id)!.versions.length, versions, 'no version was added')
})

describe('a Secret Manager writer without the master key, against a running gateway', () => {
  let s: SharedState
  let up: Upstream
  let gw: TestGateway
  let configFile = ''
  let key = ''

  before(async () => {
    s = await sharedState()
    up = await startUpstream()
    const pki = writePki()
    gw = await startGateway({
      env: { ...process.env, ...s.env, UPSTREAM: 'upstream-token' },
      config: {
        secrets: { store: `scw:fr-par/${s.store.id}`, ttl: 1500, refreshAhead: 1000, scaleway: { baseUrl: s.sm.url } },
        credentials: { keys: `scw:fr-par/${s.keys.id}` },
        containers: { api: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/api' }, token: '${env:UPSTREAM}', privacy: 'private' } }
      }
    })
    configFile = gw.configFile
  })
  after(async () => {
    await gw?.close()
    await up?.close()
    await s?.sm.close()
  })

  const status = async (k: string): Promise<string> => {
    const r = await gw.get('/api/x', { headers: { 'x-auth-token': k } })
    return r.status === 200 ? '200' : `${r.status} ${r.json().reason as string}`
  }
  const refusals = (reason: string): number => gw.logs.filter((l) => l.msg === 'keys file refused; keeping the last good keys' && l.reason === reason).length
  const keysVersions = (): Array<{ revision: number, status: string }> => s.sm.secrets.get(s.keys.id)!.versions

  test('keys are created and revoked through Secret Manager; the gateway follows', async () => {
    const out = join(s.dir, 'ci.key')
    const r = await cli(['keys', 'create', '--name', 'ci', '--config', configFile, '--output', out], { ...s.env, UPSTREAM: 'x' })
    assert.equal(r.status, 0, r.stderr)
    key = readFileSync(out, 'utf8').trim()
    await waitFor(async () => await status(key) === '200', 8000, 'the new key')
    const rev = await cli(['keys', 'revoke', 'ci', '--config', configFile], { ...s.env, UPSTREAM: 'x' })
    assert.equal(rev.status, 0, rev.stderr)
    await waitFor(async () => await status(key) === '401 credential_revoked', 8000, 'the revocation')
  })

  test('a version edited to revive the key (no master key: its MAC fails) is refused; the key stays revoked', async () => {
    const latest = keysVersions().filter((v) => v.status === 'enabled').at(-1)!
    const doc = JSON.parse(s.sm.versionText(s.keys.id, latest.revision)!) as { generation: number, keys: Array<{ revokedAt: string | null }> }
    doc.keys[0]!.revokedAt = null
    doc.generation = s.sm.secrets.get(s.keys.id)!.nextRevision // even sealed as the right generation
    const before = refusals('tampered')
    s.sm.addVersion(s.keys.id, JSON.stringify(doc))
    await waitFor(() => refusals('tampered') > before, 8000, 'the refusal')
    assert.equal(await status(key), '401 credential_revoked')
    const line = gw.logs.find((l) => l.msg === 'keys file refused; keeping the last good keys' && l.reason === 'tampered')!
    assert.equal(line.code, 'TG_ERR_KEYS_INTEGRITY')
    s.sm.deleteVersion(s.keys.id, s.sm.secrets.get(s.keys.id)!.nextRevision - 1)
  })

  test('an older version added again (a replay: its generation is not its revision) is never taken', async () => {
    const versions = keysVersions().filter((v) => v.status === 'enabled')
    assert.ok(versions.length >= 2, 'the version before the revocation is still there')
    const older = s.sm.versionText(s.keys.id, versions[0]!.revision)!
    const replayed = s.sm.addVersion(s.keys.id, older)
    await new Promise((resolve) => setTimeout(resolve, 1500)) // more than one poll
    assert.equal(await status(key), '401 credential_revoked', 'the key is not revived')
    assert.ok(gw.logs.some((l) => l.msg === 'Secret Manager version ignored' && l.revision === replayed), 'the ignored version is reported')
    s.sm.deleteVersion(s.keys.id, replayed)
  })

  test('disabling the newest version (so an older one is the newest valid) is refused as a rollback', async () => {
    const enabled = keysVersions().filter((v) => v.status === 'enabled')
    const before = refusals('rollback')
    s.sm.setVersionStatus(s.keys.id, enabled.at(-1)!.revision, 'disabled')
    await waitFor(() => refusals('rollback') > before, 8000, 'the rollback refusal')
    assert.equal(await status(key), '401 credential_revoked')
    const m = /^tollgate_state_refusals_total\{file="credentials\.keys",reason="rollback"\} (\d+)$/m.exec(await gw.app.metrics.text())
    assert.ok(m !== null && Number(m[1]) >= 1, 'counted')
  })
})
