// Keys and JWTs through a running gateway: create/revoke/expiry without a restart, scope, owner,
// principals in policies, JWT accepted/refused; the credential is consumed, never forwarded or logged.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWK } from 'jose'
import { startGateway, allLogLines, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { createKey, keysCli, waitFor } from './helpers.js'
import { KEY_PATTERN } from '../../src/credentials/index.js'

const TOKEN = 'upstream-secret-' + randomBytes(8).toString('hex')
const ISS = 'https://idp.e2e.test/'
const AUD = 'tollgate-e2e'

describe('credentials through a running gateway', () => {
  let up: Upstream
  let gw: TestGateway
  let jwksServer: Server
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: TOKEN, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk: JWK = { ...(kp.publicKey.export({ format: 'jwk' }) as JWK), kid: 'e2e-1', alg: 'ES256', use: 'sig' }
  const issued: string[] = []

  async function jwt (claims: Record<string, unknown> = {}, opts: { expSecondsFromNow?: number, aud?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    const t = await new SignJWT({ iss: ISS, aud: opts.aud ?? AUD, sub: 'alice', iat: now, exp: now + (opts.expSecondsFromNow ?? 300), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'e2e-1' })
      .sign(kp.privateKey)
    issued.push(t)
    return t
  }

  async function key (name: string, extra: string[] = []): Promise<string> {
    const k = await createKey({ config: gw.configFile, env } as never, name, extra)
    assert.match(k, KEY_PATTERN)
    issued.push(k)
    return k
  }

  /** GET through the gateway; retries until `want` status (the gateway picks up key files within seconds). */
  async function eventually (path: string, headers: Record<string, string>, want: number): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
    let last: { status: number, body: string, headers: Record<string, unknown> } | undefined
    await waitFor(async () => {
      last = await gw.get(path, { headers })
      return last.status === want
    }, 10_000, `${path} → ${want}`).catch(() => {})
    assert.equal(last?.status, want, last?.body)
    return last!
  }

  before(async () => {
    up = await startUpstream()
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`
    const pki = writePki()
    const container = (path: string, more: Record<string, unknown> = {}): Record<string, unknown> => ({
      upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'private', ...more
    })
    gw = await startGateway({
      env,
      config: {
        secrets: { store: './secrets.store' },
        credentials: {
          keys: './keys.store',
          jwt: { issuers: [{ name: 'idp', issuer: ISS, audience: AUD, jwksUrl, algorithms: ['ES256'] }] }
        },
        containers: {
          api: container('/api', { jwtIssuers: ['idp'] }),
          other: container('/other'),
          onlybot: container('/onlybot', { policies: [{ name: 'bot', principals: ['key:ci-bot'] }] }),
          ops: container('/ops', {
            jwtIssuers: ['idp'],
            policies: [{ name: 'ops-team', principals: ['*'], condition: 'principal.kind == "jwt" && principal.claims.team == "ops"' }]
          }),
          pub: { ...container('/pub'), privacy: 'public' }
        }
      }
    })
  })

  after(async () => {
    await gw?.close()
    await up?.close()
    jwksServer?.closeAllConnections()
    await new Promise<void>((resolve) => jwksServer?.close(() => resolve()))
  })

  test('a key created while the gateway runs is accepted; the credential is swapped for the container token', async () => {
    const k = await key('ci-bot')
    up.received.length = 0
    await eventually('/api/x', { 'x-auth-token': k }, 200)
    const bearer = await gw.get('/api/y', { headers: { authorization: `Bearer ${k}` } })
    assert.equal(bearer.status, 200)
    assert.ok(up.received.length >= 2)
    for (const r of up.received) {
      assert.equal(r.headers['x-auth-token'], TOKEN)
      assert.equal(r.headers.authorization, undefined)
      assert.ok(!JSON.stringify(r.rawHeaders).includes(k), 'the key never reaches the upstream')
    }
  })

  test('unknown, malformed and missing credentials: 401 with a reason and WWW-Authenticate, nothing forwarded', async () => {
    up.received.length = 0
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'credential_missing'],
      [{ 'x-auth-token': 'tgk_0000000000000000_' + 'A'.repeat(43) }, 'credential_unknown'],
      [{ 'x-auth-token': 'not a key' }, 'credential_malformed']
    ]
    for (const [headers, reason] of cases) {
      const r = await gw.get('/api/x', { headers })
      assert.equal(r.status, 401, reason)
      assert.equal(r.json().reason, reason)
      assert.equal(r.json().error, 'unauthorized')
      assert.match(String(r.headers['www-authenticate']), /^Bearer /)
      if (headers['x-auth-token'] !== undefined) assert.ok(!r.body.includes(headers['x-auth-token']))
    }
    assert.equal(up.received.length, 0)
  })

  test('a scoped key is refused on other containers', async () => {
    const k = await key('scoped', ['--containers', 'other'])
    await eventually('/other/x', { 'x-auth-token': k }, 200)
    const r = await gw.get('/api/x', { headers: { 'x-auth-token': k } })
    assert.equal(r.status, 401)
    assert.equal(r.json().reason, 'credential_out_of_scope')
  })

  test('principals in policies: key:NAME; the owner key bypasses', async () => {
    const bot = issued[0]!
    await eventually('/onlybot/x', { 'x-auth-token': bot }, 200)
    const other = await key('someone-else')
    const denied = await eventually('/onlybot/x', { 'x-auth-token': other }, 403)
    assert.equal(JSON.parse(denied.body).reason, 'policy_denied')
    const owner = await key('admin', ['--owner'])
    const r = await eventually('/onlybot/x', { 'x-auth-token': owner }, 200)
    assert.equal(r.status, 200)
  })

  test('revocation takes effect without a restart', async () => {
    const k = await key('short-lived')
    await eventually('/api/x', { 'x-auth-token': k }, 200)
    const rev = await keysCli(['revoke', 'short-lived', '--config', gw.configFile], env)
    assert.equal(rev.code, 0, rev.stderr)
    const r = await eventually('/api/x', { 'x-auth-token': k }, 401)
    assert.equal(JSON.parse(r.body).reason, 'credential_revoked')
  })

  test('expiry takes effect on time', async () => {
    const k = await key('expiring', ['--expires-at', new Date(Date.now() + 2500).toISOString()])
    await eventually('/api/x', { 'x-auth-token': k }, 200)
    const r = await eventually('/api/x', { 'x-auth-token': k }, 401)
    assert.equal(JSON.parse(r.body).reason, 'credential_expired')
  })

  test('JWTs: accepted where the issuer is; refused elsewhere, expired, wrong aud, alg none', async () => {
    up.received.length = 0
    const good = await jwt()
    assert.equal((await gw.get('/api/x', { headers: { authorization: `Bearer ${good}` } })).status, 200)
    assert.equal((await gw.get('/api/x', { headers: { 'x-auth-token': good } })).status, 200)
    for (const r of up.received) assert.ok(!JSON.stringify(r.rawHeaders).includes(good), 'the JWT never reaches the upstream')
    const cases: Array<[string, string, string]> = [
      ['/other/x', good, 'credential_unknown'],
      ['/api/x', await jwt({}, { expSecondsFromNow: -600 }), 'credential_expired'],
      ['/api/x', await jwt({}, { aud: 'someone-else' }), 'credential_invalid']
    ]
    const [h, p] = good.split('.') as [string, string]
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`
    cases.push(['/api/x', none, 'credential_invalid'])
    cases.push(['/api/x', `${h}.${p}.${'A'.repeat(86)}`, 'credential_invalid'])
    for (const [path, token, reason] of cases) {
      const r = await gw.get(path, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(r.status, 401, `${reason}: ${r.body}`)
      assert.equal(r.json().reason, reason)
      assert.ok(!r.body.includes(token))
    }
  })

  test('JWT claims in conditions', async () => {
    assert.equal((await gw.get('/ops/x', { headers: { authorization: `Bearer ${await jwt({ team: 'ops' })}` } })).status, 200)
    const r = await gw.get('/ops/x', { headers: { authorization: `Bearer ${await jwt({ team: 'dev' })}` } })
    assert.equal(r.status, 403)
    assert.equal(r.json().reason, 'policy_denied')
  })

  test('public containers ignore client credentials and still strip them', async () => {
    up.received.length = 0
    const r = await gw.get('/pub/x', { headers: { 'x-auth-token': 'garbage', authorization: 'Bearer garbage' } })
    assert.equal(r.status, 200)
    assert.equal(up.received[0]!.headers['x-auth-token'], TOKEN)
    assert.ok(!JSON.stringify(up.received[0]!.rawHeaders).includes('garbage'))
  })

  test('no key or JWT ever appears in a log line', () => {
    const logs = allLogLines.join('\n')
    assert.ok(issued.length > 5)
    for (const c of issued) assert.ok(!logs.includes(c), 'credential in the logs')
  })
})
