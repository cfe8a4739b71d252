// The secret store against someone who can write the file but has no master key: an older copy put
// back, or a whole store of another deployment sealed under the same master key, is refused by a
// running gateway, which keeps sending the current token upstream.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startGateway, registerSecretValue, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { waitFor } from '../credentials/helpers.js'
import { SecretStore } from '../../src/secrets/store.js'
import { loadConfig } from '../../src/config/load.js'

const secret = (label: string): string => {
  const v = `store-integrity-${label}-${randomBytes(6).toString('hex')}`
  registerSecretValue(v)
  return v
}

describe('a secret store replaced behind tollgate\'s back, on a running gateway', () => {
  let up: Upstream
  let gw: TestGateway
  const masterKey = randomBytes(32)
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_MASTER_KEY: masterKey.toString('base64') }
  let storeFile = ''
  let current = ''

  before(async () => {
    up = await startUpstream()
    const pki = writePki()
    storeFile = join(pki.dir, 'secrets.store')
    current = secret('v1')
    await (await SecretStore.open(storeFile, masterKey)).set('upstream', current)
    gw = await startGateway({
      env,
      config: {
        secrets: { store: storeFile, pollInterval: 100 },
        containers: { api: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/api' }, token: '${secret:upstream}', privacy: 'public' } }
      }
    })
  })

  after(async () => {
    await gw?.close()
    await up?.close()
  })

  /** The token the upstream receives for one request now. */
  async function sent (): Promise<string | undefined> {
    up.received.length = 0
    const r = await gw.get('/api/x')
    assert.equal(r.status, 200, r.body)
    return up.received[0]?.headers['x-auth-token'] as string | undefined
  }
  const refusals = (reason: string): number => gw.logs.filter((l) => l.msg === 'secret store refused; serving the last good values' && l.reason === reason).length

  /** Waits until the gateway refused the new store (or, on a gateway that does not, until it sends another token). */
  async function settle (reason: string, before: number): Promise<void> {
    await waitFor(async () => refusals(reason) > before || await sent() !== current, 8000, 'the gateway to read the store').catch(() => {})
  }

  async function refusalsMetric (reason: string): Promise<number> {
    const m = new RegExp(`^tollgate_state_refusals_total\\{file="secrets\\.store",reason="${reason}"\\} (\\d+)$`, 'm').exec(await gw.app.metrics.text())
    return m === null ? 0 : Number(m[1])
  }

  async function rotateTo (value: string): Promise<void> {
    await (await SecretStore.open(storeFile, masterKey)).set('upstream', value)
    current = value
    await waitFor(async () => await sent() === value, 8000, 'the rotated token')
  }

  test('an older copy of the store put back is refused: the upstream keeps getting the current token', async () => {
    assert.equal(await sent(), current)
    const older = await readFile(storeFile)
    await rotateTo(secret('v2'))
    const before = refusals('rollback')
    await writeFile(storeFile, older)
    await settle('rollback', before)
    assert.equal(await sent(), current, 'the old token is never sent again')
    const generation = /^tollgate_state_generation\{file="secrets\.store"\} (\d+)$/m.exec(await gw.app.metrics.text())
    assert.equal(Number(generation?.[1]), 2, 'the generation served (not the one on disk) is exposed')
    const line = gw.logs.find((l) => l.reason === 'rollback' && l.msg === 'secret store refused; serving the last good values')
    assert.equal(line?.level, 50, 'logged at error')
    assert.equal(line?.code, 'TG_ERR_ROLLBACK')
    assert.ok(await refusalsMetric('rollback') >= 1, 'counted')
    // the mark survives a reload (SIGHUP): the new config is refused, the old one keeps serving
    await assert.rejects(gw.app.reload(await loadConfig(gw.configFile, env)), /generation 1, older than generation 2/)
    assert.equal(await sent(), current)
  })

  test('a whole store of another deployment, sealed under the same master key, is refused', async () => {
    const staging = join(gw.dir, 'staging.store')
    await (await SecretStore.open(staging, masterKey)).set('upstream', secret('staging'))
    const before = refusals('other_store')
    await writeFile(storeFile, await readFile(staging))
    await settle('other_store', before)
    assert.equal(await sent(), current)
    assert.ok(await refusalsMetric('other_store') >= 1)
  })

  test('a store deleted after it was served is refused as a rollback to "empty"', async () => {
    const missing = (): boolean => gw.logs.some((l) => l.reason === 'rollback' && /now missing/.test(String((l.err as { message?: string } | undefined)?.message)))
    await rm(storeFile)
    await waitFor(missing, 8000, 'the refusal of the missing store')
    assert.equal(await sent(), current)
  })
})
