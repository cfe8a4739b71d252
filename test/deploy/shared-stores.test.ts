// Many replicas, one set of keys: the secret store and the keys file kept in (a local server
// speaking) Scaleway Secret Manager's API, shared by several `tollgate serve` processes and written
// by the CLI as a process. A key created is accepted by every replica, a revoked one refused by every
// replica within the poll interval, and when Secret Manager is down the last good copy serves
// while the log and the metric say so.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startUpstream } from '../helpers/upstream.js'
import { scrape, value, eventually, total } from '../ops/helpers.js'
import { callWith, cli, serveGateway, sharedState, stop, writeSharedConfig, type Gateway } from './helpers.js'

const TTL = 2000
const REFRESH_AHEAD = 1000
/** A change must show within one poll interval (ttl − refreshAhead) plus one refresh; this is that, with room for a loaded machine. */
const WITHIN = TTL + 1500

test('three gateway processes share keys through Secret Manager: created → accepted by all, revoked → refused by all within the poll interval, Secret Manager down → the last good copy serves', { timeout: 120_000 }, async (t) => {
  const s = await sharedState()
  const up = await startUpstream({ tls: false })
  t.after(async () => { await up.close(); await s.sm.close() })
  const file = writeSharedConfig(s, up.url, { ttl: TTL, refreshAhead: REFRESH_AHEAD })
  // one replica names the secrets by project, folder and name instead of by id
  const byName = writeSharedConfig(s, up.url, { ttl: TTL, refreshAhead: REFRESH_AHEAD, name: 'by-name.yaml', byName: true })

  // The operator's first steps, against empty secrets: the container's token, the first key.
  const set = await cli(['secrets', 'set', 'api-token', '--config', file], s.env, 'the-container-token\n')
  assert.equal(set.status, 0, set.stderr)
  const alice = await createKey(file, s.env, s.dir, 'alice')

  const gateways: Gateway[] = []
  t.after(async () => { for (const g of gateways) await stop(g) })
  for (const f of [file, file, byName]) gateways.push(await serveGateway(f, s.env))
  const statuses = async (key: string | undefined): Promise<string[]> =>
    await Promise.all(gateways.map(async (g) => { const r = await callWith(g.http, '/api/x', key); return `${r.status}${r.reason === undefined ? '' : ` ${r.reason}`}` }))

  assert.deepEqual(await statuses(alice), ['200', '200', '200'], 'the first key, accepted by every replica')
  assert.deepEqual(await statuses(undefined), Array(3).fill('401 credential_missing'))
  assert.equal(up.received.at(-1)?.headers['x-auth-token'], 'the-container-token', 'the token came from the store in Secret Manager')

  // A key created while they run: every replica accepts it within the poll interval.
  const bob = await createKey(file, s.env, s.dir, 'bob')
  let since = Date.now()
  await eventually(async () => assert.deepEqual(await statuses(bob), ['200', '200', '200']), WITHIN)
  const created = Date.now() - since

  // Revoked: every replica refuses it within the poll interval (the others keep working).
  const revoke = await cli(['keys', 'revoke', 'alice', '--config', file], s.env)
  assert.equal(revoke.status, 0, revoke.stderr)
  assert.match(revoke.stdout, /revoked key "alice"; a running gateway refuses it within secrets\.ttl \(2 s\) plus one refresh/)
  since = Date.now()
  await eventually(async () => assert.deepEqual(await statuses(alice), Array(3).fill('401 credential_revoked')), WITHIN)
  const revoked = Date.now() - since
  assert.deepEqual(await statuses(bob), ['200', '200', '200'])
  t.diagnostic(`created key seen by all in ${created} ms, revocation in ${revoked} ms (poll every ${TTL - REFRESH_AHEAD} ms)`)

  // Nothing changed: a check is one list call per store per replica, no data fetched again.
  const before = s.sm.accessCount()
  await new Promise((resolve) => setTimeout(resolve, 2 * (TTL - REFRESH_AHEAD) + 300))
  assert.equal(s.sm.accessCount(), before, 'unchanged secrets are not fetched again')
  assert.ok(s.sm.callCount('GET', '/versions') > 0, 'changes are looked for by listing versions')

  // Secret Manager down: the last good keys and token keep serving; log and metric say so.
  await s.sm.stop()
  for (const g of gateways) {
    await g.served.waitFor((l) => l.msg === 'Secret Manager cannot be read; the last good copy keeps serving' && l.file === 'credentials.keys', 3 * TTL, 'the outage warning')
  }
  assert.deepEqual(await statuses(bob), ['200', '200', '200'], 'the last good copy serves')
  assert.deepEqual(await statuses(alice), Array(3).fill('401 credential_revoked'), 'and it is the copy with the revocation')
  for (const g of gateways) {
    const m = await scrape(g.admin)
    assert.equal(value(m, 'tollgate_state_source_up', { file: 'credentials.keys' }), 0)
    assert.equal(value(m, 'tollgate_state_source_up', { file: 'secrets.store' }), 0, 'the store too (its references are checked as well)')
    assert.ok(total(m, 'tollgate_state_source_failures_total', { file: 'credentials.keys' }) >= 1)
  }
  // Back: the metric and the log say so, and changes flow again.
  await s.sm.listen()
  for (const g of gateways) {
    await g.served.waitFor((l) => l.msg === 'Secret Manager answers again' && l.file === 'credentials.keys', 3 * TTL, 'the recovery line')
    await eventually(async () => assert.equal(value(await scrape(g.admin), 'tollgate_state_source_up', { file: 'credentials.keys' }), 1), WITHIN)
  }
  const carol = await createKey(file, s.env, s.dir, 'carol')
  await eventually(async () => assert.deepEqual(await statuses(carol), ['200', '200', '200']), WITHIN)

  for (const g of gateways) {
    assert.ok(!g.served.stdout().includes(alice) && !g.served.stdout().includes('the-container-token'), 'no key or token in the logs')
  }
})

test('concurrent writers never lose a change: six `keys create` processes at once all land', { timeout: 60_000 }, async (t) => {
  const s = await sharedState()
  t.after(async () => await s.sm.close())
  const file = writeSharedConfig(s, 'http://127.0.0.1:9')
  const names = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']
  const results = await Promise.all(names.map(async (n) => await cli(['keys', 'create', '--name', n, '--config', file, '--output', join(s.dir, `${n}.key`)], s.env)))
  for (const r of results) assert.equal(r.status, 0, r.stderr)
  const list = await cli(['keys', 'list', '--config', file, '--json'], s.env)
  assert.equal(list.status, 0, list.stderr)
  assert.deepEqual((JSON.parse(list.stdout) as Array<{ name: string }>).map((k) => k.name).sort(), names)
  const conflicts = s.sm.callCount('DELETE', '') // every discarded attempt, and the pruning
  t.diagnostic(`${s.sm.callCount('POST', '/versions')} versions created for 6 keys and a pepper; ${conflicts} deletions`)
  const versions = s.sm.secrets.get(s.keys.id)!.versions.filter((v) => v.status !== 'scheduled_for_deletion')
  assert.ok(versions.length <= 3, `old versions are deleted (Scaleway keeps at most 20): ${versions.length} left`)
})

async function createKey (file: string, env: NodeJS.ProcessEnv, dir: string, name: string): Promise<string> {
  const out = join(dir, `${name}.key`)
  const r = await cli(['keys', 'create', '--name', name, '--config', file, '--output', out], env)
  assert.equal(r.status, 0, r.stderr)
  return readFileSync(out, 'utf8').trim()
}
