// The keys file against someone who can write it but not read the secret store (a ConfigMap editor,
// a backup restore): a running gateway refuses an edited, older or unprotected file and keeps its
// last good keys; a restart refuses it too.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { createKey, envResolver, keysCli, waitFor } from '../credentials/helpers.js'
import { createAuthenticator } from '../../src/credentials/index.js'

const TOKEN = 'keys-integrity-upstream-' + randomBytes(6).toString('hex')

describe('a keys file changed behind tollgate\'s back, on a running gateway', () => {
  let up: Upstream
  let gw: TestGateway
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: TOKEN, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
  let keysFile = ''

  before(async () => {
    up = await startUpstream()
    const pki = writePki()
    const container = (path: string): Record<string, unknown> => ({ upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'private' })
    gw = await startGateway({
      env,
      config: {
        secrets: { store: './secrets.store' },
        credentials: { keys: './keys.store' },
        containers: { api: container('/api'), other: container('/other') }
      }
    })
    keysFile = join(gw.dir, 'keys.store')
  })

  after(async () => {
    await gw?.close()
    await up?.close()
  })

  const key = async (name: string, extra: string[] = []): Promise<string> => await createKey({ config: gw.configFile, env } as never, name, extra)
  const status = async (path: string, k: string): Promise<{ status: number, reason?: string }> => {
    const r = await gw.get(path, { headers: { 'x-auth-token': k } })
    return { status: r.status, reason: r.status === 200 ? undefined : r.json().reason }
  }
  const refusals = (reason: string): number => gw.logs.filter((l) => l.msg === 'keys file refused; keeping the last good keys' && l.reason === reason).length

  /** Waits until the gateway has refused a new keys file (or, on a gateway that does not, until `path` answers otherwise). */
  async function settle (reason: string, before: number, path: string, k: string, want: number): Promise<void> {
    await waitFor(async () => refusals(reason) > before || (await status(path, k)).status !== want, 8000, 'the gateway to read the file').catch(() => {})
  }

  async function refusalsMetric (reason: string): Promise<number> {
    const m = new RegExp(`^tollgate_state_refusals_total\\{file="credentials\\.keys",reason="${reason}"\\} (\\d+)$`, 'm').exec(await gw.app.metrics.text())
    return m === null ? 0 : Number(m[1])
  }

  test('a revoked key edited back to life (unrevoked, every container, owner) stays refused; the refusal is logged at error and counted', async () => {
    const k = await key('ci-bot', ['--containers', 'api'])
    await waitFor(async () => (await status('/api/x', k)).status === 200, 8000, 'the new key')
    assert.equal((await keysCli(['revoke', 'ci-bot', '--config', gw.configFile], env)).code, 0)
    await waitFor(async () => (await status('/api/x', k)).reason === 'credential_revoked', 8000, 'the revocation')

    const good = await readFile(keysFile)
    const doc = JSON.parse(good.toString('utf8'))
    const rec = doc.keys.find((r: { name: string }) => r.name === 'ci-bot')
    Object.assign(rec, { revokedAt: null, containers: null, owner: true })
    const before = refusals('tampered')
    await writeFile(keysFile, JSON.stringify(doc, null, 2) + '\n')
    await settle('tampered', before, '/other/x', k, 401)

    assert.deepEqual(await status('/other/x', k), { status: 401, reason: 'credential_revoked' }, 'not widened to another container')
    assert.deepEqual(await status('/api/x', k), { status: 401, reason: 'credential_revoked' }, 'not revived')
    const line = gw.logs.find((l) => l.msg === 'keys file refused; keeping the last good keys' && l.reason === 'tampered')
    assert.ok(line !== undefined, 'logged')
    assert.equal(line.level, 50, 'at error')
    assert.equal(line.code, 'TG_ERR_KEYS_INTEGRITY')
    assert.match(String((line.err as { message: string }).message), /integrity check/)
    assert.ok(await refusalsMetric('tampered') >= 1, 'counted')
    await writeFile(keysFile, good) // the operator puts the last good file back
  })

  test('a restored older keys file (from before a revocation) stays refused', async () => {
    const k = await key('deploy-bot')
    await waitFor(async () => (await status('/api/x', k)).status === 200, 8000, 'the new key')
    const older = await readFile(keysFile)
    assert.equal((await keysCli(['revoke', 'deploy-bot', '--config', gw.configFile], env)).code, 0)
    await waitFor(async () => (await status('/api/x', k)).reason === 'credential_revoked', 8000, 'the revocation')

    const good = await readFile(keysFile)
    const before = refusals('rollback')
    await writeFile(keysFile, older)
    await settle('rollback', before, '/api/x', k, 401)
    assert.deepEqual(await status('/api/x', k), { status: 401, reason: 'credential_revoked' })
    const line = gw.logs.find((l) => l.reason === 'rollback')
    assert.equal(line?.level, 50)
    assert.equal(line?.code, 'TG_ERR_ROLLBACK')
    assert.match(String((line?.err as { message: string }).message), /generation \d+, older than generation \d+/)
    assert.ok(await refusalsMetric('rollback') >= 1)
    const served = /^tollgate_state_generation\{file="credentials\.keys"\} (\d+)$/m.exec(await gw.app.metrics.text())
    assert.equal(Number(served?.[1]), JSON.parse(good.toString('utf8')).generation, 'the generation served is exposed')
    await writeFile(keysFile, good)
  })

  test('a keys file put back in the old unprotected format is refused, by the running gateway and after a restart', async () => {
    const k = await key('old-format-bot')
    await waitFor(async () => (await status('/api/x', k)).status === 200, 8000, 'the new key')
    assert.equal((await keysCli(['revoke', 'old-format-bot', '--config', gw.configFile], env)).code, 0)
    await waitFor(async () => (await status('/api/x', k)).reason === 'credential_revoked', 8000, 'the revocation')
    const good = await readFile(keysFile)
    const v2 = JSON.parse(good.toString('utf8'))
    const v1 = { format: 'tollgate-keys', version: 1, pepperId: v2.pepperId, keys: v2.keys.map((r: { name: string, revokedAt: string | null }) => r.name === 'old-format-bot' ? { ...r, revokedAt: null } : r) }
    const before = refusals('downgrade')
    await writeFile(keysFile, JSON.stringify(v1, null, 2))
    await settle('downgrade', before, '/api/x', k, 401)
    assert.deepEqual(await status('/api/x', k), { status: 401, reason: 'credential_revoked' })
    assert.ok(refusals('downgrade') > before)

    // a gateway starting now (no memory of what it saw) refuses it as well: the store says the file was upgraded
    await assert.rejects(createAuthenticator({
      credentials: { keys: keysFile },
      containers: { api: {} },
      baseDir: gw.dir,
      resolver: envResolver({}),
      storeFile: join(gw.dir, 'secrets.store'),
      env
    }), (err: Error & { code?: string }) => err.code === 'TG_ERR_KEYS_INTEGRITY' && /format version 1/.test(err.message))
    await writeFile(keysFile, good)
  })

  test('no key ever appears in a log line', () => {
    const text = JSON.stringify(gw.logs)
    assert.ok(!/tgk_[0-9a-f]{16}_[0-9A-Za-z]{43}/.test(text))
  })
})
