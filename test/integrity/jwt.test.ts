// JWT policy gaps: JWKS redirects, future iat, maxTokenAge, typ, the HMAC minimum on rotated values,
// the bound on keys tried without kid, and principals that name their issuer.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { createServer as createHttp, type Server } from 'node:http'
import { createServer as createHttps } from 'node:https'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { SignJWT, type JWK, type JWTPayload } from 'jose'
import { createAuthenticator, type CredentialsConfig, type TollgateAuthenticator } from '../../src/credentials/index.js'
import type { AuthOutcome } from '../../src/credentials/types.js'
import { main } from '../../src/cli/main.js'
import { captureIo } from '../helpers/io.js'
import { localhostCert, testCa, writePki } from '../helpers/pki.js'
import { startGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { captureLogger, envResolver } from '../credentials/helpers.js'

const ISS = 'https://idp.integrity.test/'
const AUD = 'tollgate'

interface Pair { privateKey: KeyObject, publicKey: KeyObject, jwk: JWK }

function es256 (kid: string): Pair {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { ...kp, jwk: { ...(kp.publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256', use: 'sig' } }
}

async function sign (key: KeyObject | Uint8Array, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return await new SignJWT({ sub: 'alice', iss: ISS, aud: AUD, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: key instanceof Uint8Array ? 'HS256' : 'ES256', typ: 'JWT', ...header })
    .sign(key)
}

async function listen (server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

async function close (server: Server | undefined): Promise<void> {
  if (server === undefined) return
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

function reason (o: AuthOutcome | Promise<AuthOutcome>): Promise<string> {
  return Promise.resolve(o).then((x) => (x.ok ? 'ok' : x.reason))
}

async function authWith (issuer: Record<string, unknown>, jwt: Record<string, unknown> = {}, opts: { values?: Record<string, string>, logger?: ReturnType<typeof captureLogger> } = {}): Promise<TollgateAuthenticator> {
  const credentials = { jwt: { ...jwt, issuers: [{ name: 'idp', issuer: ISS, audience: AUD, global: true, ...issuer }] } } as unknown as CredentialsConfig
  return await createAuthenticator({ credentials, containers: { api: { privacy: 'private' } }, baseDir: '/', resolver: envResolver(opts.values ?? {}), logger: opts.logger })
}

describe('a JWKS URL that redirects', () => {
  const legit = es256('legit')
  const attacker = es256('evil')
  const servers: Server[] = []
  let attackerUrl = ''

  before(async () => {
    const evil = createHttp((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [attacker.jwk] })) })
    servers.push(evil)
    attackerUrl = `http://127.0.0.1:${await listen(evil)}/jwks`
  })
  after(async () => { for (const s of servers) await close(s) })

  async function redirector (tls: boolean, to: string): Promise<string> {
    const handler = (_req: unknown, res: import('node:http').ServerResponse): void => { res.writeHead(302, { location: to }); res.end() }
    const s = tls ? createHttps(localhostCert(), handler) as unknown as Server : createHttp(handler)
    servers.push(s)
    return `${tls ? 'https' : 'http'}://localhost:${await listen(s)}/.well-known/jwks.json`
  }

  test('to another host: not followed, the keys found there are never trusted', async () => {
    const logger = captureLogger()
    const auth = await authWith({ jwksUrl: await redirector(false, attackerUrl) }, {}, { logger })
    try {
      assert.equal(await reason(auth.authenticate(await sign(attacker.privateKey, {}, { kid: 'evil' }), 'api')), 'credential_unknown')
      assert.ok(logger.lines.some((l) => l.level === 'warn' && /redirects are not followed/.test(JSON.stringify(l.obj))), logger.text())
    } finally { await auth.close() }
  })

  test('from https to plain http: not followed', async () => {
    const previous = getGlobalDispatcher()
    setGlobalDispatcher(new Agent({ connect: { ca: testCa().cert } })) // the test CA, for the https JWKS
    try {
      const auth = await authWith({ jwksUrl: await redirector(true, attackerUrl) })
      try {
        assert.equal(await reason(auth.authenticate(await sign(attacker.privateKey, {}, { kid: 'evil' }), 'api')), 'credential_unknown')
        assert.equal(await reason(auth.authenticate(await sign(legit.privateKey, {}, { kid: 'legit' }), 'api')), 'credential_unknown')
      } finally { await auth.close() }
    } finally { setGlobalDispatcher(previous) }
  })
})

describe('token times, typ, and keys tried', () => {
  let dir: string
  const keys = Array.from({ length: 6 }, (_, i) => es256(`k${i}`))
  const pems: string[] = []
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tg-jwt-integrity-'))
    for (const [i, k] of keys.entries()) {
      const file = join(dir, `k${i}.pem`)
      await writeFile(file, k.publicKey.export({ type: 'spki', format: 'pem' }))
      pems.push(file)
    }
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  test('an iat in the future beyond the clock skew is refused', async () => {
    const auth = await authWith({ publicKeys: [pems[0]] })
    const now = Math.floor(Date.now() / 1000)
    try {
      assert.equal(await reason(auth.authenticate(await sign(keys[0]!.privateKey, { iat: now + 3600, exp: now + 7200 }), 'api')), 'credential_invalid')
      assert.equal(await reason(auth.authenticate(await sign(keys[0]!.privateKey, { iat: now + 10 }), 'api')), 'ok', 'within the 30 s skew')
    } finally { await auth.close() }
  })

  test('maxTokenAge: an exp too far ahead, or an iat too far back, is refused', async () => {
    const auth = await authWith({ publicKeys: [pems[0]], maxTokenAge: 3600 })
    const loose = await authWith({ publicKeys: [pems[0]], maxTokenAge: 3600, requireExp: false })
    const now = Math.floor(Date.now() / 1000)
    const k = keys[0]!.privateKey
    try {
      assert.equal(await reason(auth.authenticate(await sign(k, { exp: now + 10 * 365 * 86400 }), 'api')), 'credential_invalid', 'a ten-year token')
      assert.equal(await reason(auth.authenticate(await sign(k, { iat: now - 7200, exp: now + 60 }), 'api')), 'credential_expired', 'issued two hours ago')
      assert.equal(await reason(auth.authenticate(await sign(k, { exp: now + 1800 }), 'api')), 'ok')
      const noTimes = await new SignJWT({ sub: 'alice', iss: ISS, aud: AUD }).setProtectedHeader({ alg: 'ES256' }).sign(k)
      assert.equal(await reason(loose.authenticate(noTimes, 'api')), 'credential_invalid', 'nothing bounds its age')
    } finally { await auth.close(); await loose.close() }
  })

  test('typ: checked when configured (RFC 8725), application/ prefix allowed', async () => {
    const auth = await authWith({ publicKeys: [pems[0]], typ: 'at+jwt' })
    const k = keys[0]!.privateKey
    try {
      assert.equal(await reason(auth.authenticate(await sign(k, {}, { typ: 'JWT' }), 'api')), 'credential_invalid')
      assert.equal(await reason(auth.authenticate(await sign(k, {}, { typ: undefined }), 'api')), 'credential_invalid')
      assert.equal(await reason(auth.authenticate(await sign(k, {}, { typ: 'at+jwt' }), 'api')), 'ok')
      assert.equal(await reason(auth.authenticate(await sign(k, {}, { typ: 'application/at+JWT' }), 'api')), 'ok')
    } finally { await auth.close() }
  })

  test('a token without kid is checked against at most maxKeysWithoutKid keys', async () => {
    const bounded = await authWith({ publicKeys: pems }, { maxKeysWithoutKid: 2 })
    const byDefault = await authWith({ publicKeys: pems })
    try {
      assert.equal(await reason(bounded.authenticate(await sign(keys[1]!.privateKey), 'api')), 'ok')
      assert.equal(await reason(bounded.authenticate(await sign(keys[2]!.privateKey), 'api')), 'credential_invalid')
      assert.equal(await reason(bounded.authenticate(await sign(keys[5]!.privateKey), 'api')), 'credential_invalid')
      assert.equal(await reason(byDefault.authenticate(await sign(keys[3]!.privateKey), 'api')), 'ok', 'the default tries 4')
      assert.equal(await reason(byDefault.authenticate(await sign(keys[4]!.privateKey), 'api')), 'credential_invalid')
    } finally { await bounded.close(); await byDefault.close() }
  })

  test('the 32-byte HMAC minimum holds for every rotated value, not only the first', async () => {
    const values: Record<string, string> = { HS: randomBytes(48).toString('base64') }
    const logger = captureLogger()
    const auth = await authWith({ hmacSecret: '${env:HS}' }, {}, { values, logger })
    try {
      assert.equal(await reason(auth.authenticate(await sign(new TextEncoder().encode(values.HS)), 'api')), 'ok')
      values.HS = 'sixteen-bytes-ab' // rotated to a secret anyone can brute-force
      assert.equal(await reason(auth.authenticate(await sign(new TextEncoder().encode(values.HS)), 'api')), 'credential_unknown')
      assert.ok(logger.lines.some((l) => l.level === 'error' && /shorter than 32 bytes/.test(l.msg ?? '')))
      assert.ok(!logger.text().includes('sixteen-bytes-ab'), 'the secret is never logged')
      values.HS = randomBytes(40).toString('base64')
      assert.equal(await reason(auth.authenticate(await sign(new TextEncoder().encode(values.HS)), 'api')), 'ok')
    } finally { await auth.close() }
  })
})

describe('two issuers, one subject', () => {
  const corp = es256('corp')
  const partner = es256('partner')
  let dir: string
  let files: { corp: string, partner: string }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tg-jwt-principals-'))
    files = { corp: join(dir, 'corp.pem'), partner: join(dir, 'partner.pem') }
    await writeFile(files.corp, corp.publicKey.export({ type: 'spki', format: 'pem' }))
    await writeFile(files.partner, partner.publicKey.export({ type: 'spki', format: 'pem' }))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  const issuers = (): unknown[] => [
    { name: 'corp', issuer: 'https://login.corp.test/', audience: AUD, publicKeys: [files.corp] },
    { name: 'partner', issuer: 'https://idp.partner.test/', audience: AUD, publicKeys: [files.partner] }
  ]
  const token = async (who: 'corp' | 'partner', sub: string): Promise<string> => await sign((who === 'corp' ? corp : partner).privateKey, { sub, iss: who === 'corp' ? 'https://login.corp.test/' : 'https://idp.partner.test/' })

  test('jwt:corp/alice grants corp\'s alice, never the partner\'s; a bare jwt:alice means the only issuer', async (t) => {
    const up = await startUpstream()
    t.after(() => up.close())
    const pki = writePki()
    const c = (path: string, more: Record<string, unknown>): Record<string, unknown> => ({ upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UP}', privacy: 'private', ...more })
    const gw = await startGateway({
      env: { ...process.env, UP: 'principals-upstream-token' },
      config: {
        credentials: { jwt: { issuers: issuers() } },
        containers: {
          hr: c('/hr', { jwtIssuers: ['corp', 'partner'], policies: [{ name: 'alice', principals: ['jwt:corp/alice'] }] }),
          solo: c('/solo', { jwtIssuers: ['corp'], policies: [{ name: 'alice', principals: ['jwt:alice'] }] })
        }
      }
    })
    try {
      const get = async (path: string, t: string): Promise<{ status: number, reason?: string }> => {
        const r = await gw.get(path, { headers: { authorization: `Bearer ${t}` } })
        return { status: r.status, reason: r.status === 200 ? undefined : r.json().reason }
      }
      assert.deepEqual(await get('/hr/x', await token('corp', 'alice')), { status: 200, reason: undefined })
      assert.deepEqual(await get('/hr/x', await token('partner', 'alice')), { status: 403, reason: 'policy_denied' }, 'the partner\'s alice is someone else')
      assert.deepEqual(await get('/solo/x', await token('corp', 'alice')), { status: 200, reason: undefined })
      const access = gw.logs.filter((l) => l.type === 'access' && l.container === 'hr').map((l) => l.principal)
      assert.deepEqual(access.slice(0, 2), ['jwt:corp/alice', 'jwt:partner/alice'], 'logs name the issuer too')
    } finally {
      await gw.close()
    }
  })

  test('a bare jwt:SUBJECT on a container that accepts several issuers is refused at load, naming the field', async () => {
    const file = join(dir, 'tollgate.yaml')
    writePki(dir) // check reads the certificate as serve would
    const yaml = (principal: string): string => `server:
  listen:
    https: { host: 127.0.0.1, port: 0 }
  tls: { cert: ./cert.pem, key: ./key.pem }
credentials:
  jwt:
    issuers:
      - { name: corp, issuer: "https://login.corp.test/", audience: ${AUD}, publicKeys: [${files.corp}] }
      - { name: partner, issuer: "https://idp.partner.test/", audience: ${AUD}, publicKeys: [${files.partner}] }
containers:
  hr:
    upstream: https://hr.example.com
    match: { path: /hr }
    token: \${env:UP}
    jwtIssuers: [corp, partner]
    policies:
      - { name: people, principals: ["key:ci", "${principal}"] }
`
    const check = async (principal: string): Promise<{ code: number, err: string }> => {
      await writeFile(file, yaml(principal))
      const io = captureIo()
      const code = await main(['check', '--config', file], { stdin: Readable.from([]), stdout: io.stdout, stderr: io.stderr, env: { UP: 'x' } })
      return { code, err: io.err() }
    }
    const bare = await check('jwt:alice')
    assert.equal(bare.code, 2)
    assert.match(bare.err, /^tollgate: containers\.hr\.policies\[0\]\.principals\[1\]: rule "people": "jwt:alice" names no issuer, and this container accepts 2 \(corp, partner\).*"jwt:corp\/alice" or "jwt:partner\/alice"\n$/)
    const unknown = await check('jwt:vendor/alice')
    assert.equal(unknown.code, 2)
    assert.match(unknown.err, /principals\[1\].*names the issuer "vendor", which this container does not accept/)
    assert.equal((await check('jwt:partner/alice')).code, 0)
    assert.equal((await check('jwt:corp/https://login.corp.test/users/alice')).code, 0, 'a subject may hold "/"')
  })
})
