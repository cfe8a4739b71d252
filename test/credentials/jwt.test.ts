// JWTs: a real JWKS server on loopback (rotating keys, going down), RS256/ES256/EdDSA/HS256, PEM keys,
// expiry and clock skew, iss/aud, `alg: none`, HS/RS confusion, unknown kid (rate-limited refetch).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { generateKeyPairSync, createHmac, randomBytes, type KeyObject } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWK, type JWTPayload } from 'jose'
import { createAuthenticator, validateCredentialsConfig, type TollgateAuthenticator, type CredentialsConfig } from '../../src/credentials/index.js'
import { RemoteJwks } from '../../src/credentials/jwks.js'
import type { AuthOutcome } from '../../src/credentials/types.js'
import { captureLogger, envResolver, waitFor } from './helpers.js'

type Alg = 'RS256' | 'ES256' | 'EdDSA' | 'PS256'

interface Pair { alg: Alg, kid: string, privateKey: KeyObject, publicKey: KeyObject, jwk: JWK }

function pair (alg: Alg, kid: string): Pair {
  const kp = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...(kp.publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' }
  return { alg, kid, privateKey: kp.privateKey, publicKey: kp.publicKey, jwk }
}

const ISS = 'https://idp.test/'
const AUD = 'tollgate'

async function sign (p: Pair | { alg: 'HS256', secret: Uint8Array }, claims: JWTPayload = {}, opts: { kid?: string | null, exp?: number | null, iss?: string, aud?: string | string[], sub?: string | null, nbf?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const body: JWTPayload = { sub: 'alice', iss: ISS, aud: AUD, iat: now, exp: now + 300, ...claims }
  if (opts.exp !== undefined) { if (opts.exp === null) delete body.exp; else body.exp = opts.exp }
  if (opts.sub !== undefined) { if (opts.sub === null) delete body.sub; else body.sub = opts.sub }
  if (opts.iss !== undefined) body.iss = opts.iss
  if (opts.aud !== undefined) body.aud = opts.aud
  if (opts.nbf !== undefined) body.nbf = opts.nbf
  const header: { alg: string, kid?: string, typ: string } = { alg: p.alg, typ: 'JWT' }
  if ('kid' in p && opts.kid !== null) header.kid = opts.kid ?? p.kid
  return await new SignJWT(body).setProtectedHeader(header).sign('secret' in p ? p.secret : p.privateKey)
}

const b64u = (v: string | Buffer): string => Buffer.from(v).toString('base64url')

/** A JWKS server on loopback whose keys can rotate and which can go down (503) or away (closed). */
class JwksServer {
  keys: JWK[] = []
  status = 200
  hits = 0
  port = 0
  server: Server | undefined

  async start (): Promise<void> {
    this.server = createServer((_req, res) => {
      this.hits++
      if (this.status !== 200) {
        res.writeHead(this.status)
        res.end('down')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: this.keys }))
    })
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  get url (): string { return `http://127.0.0.1:${this.port}/.well-known/jwks.json` }

  async stop (): Promise<void> {
    const s = this.server
    this.server = undefined
    if (s === undefined) return
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}

function expectReason (out: AuthOutcome, reason: string, what = ''): void {
  assert.equal(out.ok, false, `${what}: expected ${reason}, was accepted`)
  assert.equal(!out.ok && out.reason, reason, what)
}

describe('JWT issuers', () => {
  let dir: string
  let jwks: JwksServer
  let auth: TollgateAuthenticator
  const logger = captureLogger()
  const rs = pair('RS256', 'rs-1')
  const es = pair('ES256', 'es-1')
  const ed = pair('EdDSA', 'ed-1')
  const pemA = pair('RS256', 'pem-a')
  const pemB = pair('ES256', 'pem-b')
  const hsSecret = randomBytes(48).toString('base64')
  const hs = { alg: 'HS256' as const, secret: new TextEncoder().encode(hsSecret) }
  const secrets: Record<string, string> = { HS_SECRET: hsSecret }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-jwt-'))
    await writeFile(join(dir, 'a.pem'), pemA.publicKey.export({ type: 'spki', format: 'pem' }))
    await writeFile(join(dir, 'b.pem'), pemB.publicKey.export({ type: 'spki', format: 'pem' }))
    jwks = new JwksServer()
    jwks.keys = [rs.jwk, es.jwk, ed.jwk]
    await jwks.start()
    const credentials: CredentialsConfig = {
      jwt: {
        clockSkewSeconds: 30,
        jwksRefreshSeconds: 600,
        jwksCooldownSeconds: 1,
        jwksTimeoutMs: 2000,
        issuers: [
          { name: 'corp', issuer: ISS, audience: [AUD, 'other'], jwksUrl: jwks.url, global: true, requireExp: true },
          { name: 'pem', issuer: 'https://pem.test/', audience: AUD, publicKeys: ['./a.pem', join(dir, 'b.pem')], global: false, requireExp: true },
          { name: 'hmac', issuer: 'https://hmac.test/', audience: AUD, hmacSecret: '${env:HS_SECRET}', global: false, requireExp: true },
          { name: 'es-only', issuer: 'https://es-only.test/', audience: AUD, jwksUrl: jwks.url, algorithms: ['ES256'], global: false, requireExp: false }
        ]
      }
    }
    auth = await createAuthenticator({
      credentials,
      containers: { alpha: { jwtIssuers: ['pem', 'hmac', 'es-only'] }, beta: {} },
      baseDir: dir,
      resolver: envResolver(secrets),
      logger
    })
  })
  after(async () => {
    await auth.close()
    await jwks.stop()
    await rm(dir, { recursive: true, force: true })
  })

  test('RS256, ES256 and EdDSA tokens from the JWKS are accepted, with the principal and claims', async () => {
    for (const p of [rs, es, ed]) {
      const token = await sign(p, { team: 'ops', groups: ['a', 'b'] })
      const out = await auth.authenticate(token, 'beta')
      assert.ok(out.ok, `${p.alg}: ${JSON.stringify(out)}`)
      assert.equal(out.principal.kind, 'jwt')
      assert.equal(out.principal.id, 'alice')
      assert.equal(out.principal.owner, false)
      assert.equal(out.principal.claims.team, 'ops')
      assert.deepEqual(out.principal.claims.groups, ['a', 'b'])
      assert.ok(Object.isFrozen(out.principal.claims) && Object.isFrozen(out.principal.claims.groups))
    }
  })

  test('authenticate returns a promise for JWTs and never throws', async () => {
    const r = auth.authenticate(await sign(rs), 'beta')
    assert.ok(r instanceof Promise)
    expectReason(await auth.authenticate('aaaa.bbbb.cccc', 'beta'), 'credential_malformed', 'garbage JWT')
    expectReason(await auth.authenticate(`${b64u('{"alg":"RS256"}')}.${b64u('[1]')}.sig`, 'beta'), 'credential_malformed', 'payload not an object')
    expectReason(await auth.authenticate(`${b64u('{}')}.${b64u('{"iss":"x"}')}.sig`, 'beta'), 'credential_malformed', 'no alg')
    expectReason(await auth.authenticate('a.b.c.d.e', 'beta'), 'credential_malformed', 'JWE shape')
  })

  test('HS256 with an HMAC secret reference; only where the issuer is accepted', async () => {
    const token = await sign(hs, {}, { iss: 'https://hmac.test/' })
    const out = await auth.authenticate(token, 'alpha')
    assert.ok(out.ok, JSON.stringify(out))
    expectReason(await auth.authenticate(token, 'beta'), 'credential_unknown', 'issuer not accepted on beta')
    const wrong = await sign({ alg: 'HS256', secret: randomBytes(48) }, {}, { iss: 'https://hmac.test/' })
    expectReason(await auth.authenticate(wrong, 'alpha'), 'credential_invalid', 'wrong HMAC secret')
  })

  test('a rotated HMAC secret is picked up (read on every verification)', async () => {
    const next = randomBytes(48).toString('base64')
    const old = secrets.HS_SECRET!
    secrets.HS_SECRET = next
    try {
      assert.ok((await auth.authenticate(await sign({ alg: 'HS256', secret: new TextEncoder().encode(next) }, {}, { iss: 'https://hmac.test/' }), 'alpha')).ok)
      expectReason(await auth.authenticate(await sign(hs, {}, { iss: 'https://hmac.test/' }), 'alpha'), 'credential_invalid', 'old secret')
    } finally { secrets.HS_SECRET = old }
  })

  test('PEM public keys (several, no kid needed)', async () => {
    for (const p of [pemA, pemB]) {
      const out = await auth.authenticate(await sign(p, {}, { iss: 'https://pem.test/', kid: null }), 'alpha')
      assert.ok(out.ok, `${p.alg}: ${JSON.stringify(out)}`)
      // a kid the PEM files know nothing about does not matter
      assert.ok((await auth.authenticate(await sign(p, {}, { iss: 'https://pem.test/', kid: 'whatever' }), 'alpha')).ok)
    }
    expectReason(await auth.authenticate(await sign(rs, {}, { iss: 'https://pem.test/' }), 'alpha'), 'credential_invalid', 'key not in the PEM files')
  })

  test('expired tokens; the clock skew; not yet valid', async () => {
    const now = Math.floor(Date.now() / 1000)
    expectReason(await auth.authenticate(await sign(rs, {}, { exp: now - 120 }), 'beta'), 'credential_expired', 'expired 2 min ago')
    assert.ok((await auth.authenticate(await sign(rs, {}, { exp: now - 10 }), 'beta')).ok, 'within the 30 s skew')
    expectReason(await auth.authenticate(await sign(rs, {}, { nbf: now + 120 }), 'beta'), 'credential_expired', 'nbf in 2 min')
    assert.ok((await auth.authenticate(await sign(rs, {}, { nbf: now + 10 }), 'beta')).ok, 'nbf within the skew')
  })

  test('exp is required by default; sub is always required', async () => {
    expectReason(await auth.authenticate(await sign(rs, {}, { exp: null }), 'beta'), 'credential_invalid', 'no exp')
    expectReason(await auth.authenticate(await sign(rs, {}, { sub: null }), 'beta'), 'credential_invalid', 'no sub')
    expectReason(await auth.authenticate(await sign(rs, {}, { sub: '' }), 'beta'), 'credential_invalid', 'empty sub')
    // the es-only issuer has requireExp: false
    assert.ok((await auth.authenticate(await sign(es, {}, { exp: null, iss: 'https://es-only.test/' }), 'alpha')).ok)
  })

  test('iss and aud are checked', async () => {
    expectReason(await auth.authenticate(await sign(rs, {}, { aud: 'someone-else' }), 'beta'), 'credential_invalid', 'wrong aud')
    assert.ok((await auth.authenticate(await sign(rs, {}, { aud: ['x', 'other'] }), 'beta')).ok, 'aud list containing an accepted value')
    expectReason(await auth.authenticate(await sign(rs, {}, { iss: 'https://evil.test/' }), 'beta'), 'credential_unknown', 'unknown iss')
    expectReason(await auth.authenticate(await sign(rs, {}, { iss: 'https://idp.test' }), 'beta'), 'credential_unknown', 'iss must match exactly')
  })

  test('the algorithm allow-list is enforced', async () => {
    expectReason(await auth.authenticate(await sign(rs, {}, { iss: 'https://es-only.test/' }), 'alpha'), 'credential_invalid', 'RS256 on an ES256-only issuer')
    assert.ok((await auth.authenticate(await sign(es, {}, { iss: 'https://es-only.test/' }), 'alpha')).ok)
  })

  test('alg: none is refused, with or without a signature', async () => {
    const now = Math.floor(Date.now() / 1000)
    const payload = b64u(JSON.stringify({ sub: 'mallory', iss: ISS, aud: AUD, exp: now + 300 }))
    for (const alg of ['none', 'None', 'NONE']) {
      const h = b64u(JSON.stringify({ alg, typ: 'JWT' }))
      expectReason(await auth.authenticate(`${h}.${payload}.`, 'beta'), 'credential_invalid', `${alg}, empty signature`)
      expectReason(await auth.authenticate(`${h}.${payload}.${b64u('x')}`, 'beta'), 'credential_invalid', `${alg}, junk signature`)
    }
  })

  test('HS/RS confusion: an HS256 token signed with the RSA public key as secret is refused', async () => {
    for (const [p, iss, container] of [[rs, ISS, 'beta'], [pemA, 'https://pem.test/', 'alpha']] as const) {
      for (const form of ['pem', 'der', 'jwk'] as const) {
        const secret = form === 'pem'
          ? Buffer.from(p.publicKey.export({ type: 'spki', format: 'pem' }) as string)
          : form === 'der'
            ? p.publicKey.export({ type: 'spki', format: 'der' })
            : Buffer.from(JSON.stringify(p.jwk))
        const h = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: p.kid }))
        const now = Math.floor(Date.now() / 1000)
        const body = b64u(JSON.stringify({ sub: 'mallory', iss, aud: AUD, exp: now + 300 }))
        const sig = createHmac('sha256', secret).update(`${h}.${body}`).digest('base64url')
        expectReason(await auth.authenticate(`${h}.${body}.${sig}`, container), 'credential_invalid', `${p.kid} ${form}`)
      }
    }
  })

  test('keys named by the token itself (embedded jwk, jku, x5u) are never used', async () => {
    const mallory = pair('RS256', rs.kid)
    const now = Math.floor(Date.now() / 1000)
    for (const extra of [{ jwk: mallory.jwk }, { jku: 'http://127.0.0.1:1/evil.json' }, { x5u: 'http://127.0.0.1:1/evil.pem' }]) {
      const token = await new SignJWT({ sub: 'mallory', iss: ISS, aud: AUD, exp: now + 300 })
        .setProtectedHeader({ alg: 'RS256', kid: rs.kid, ...extra })
        .sign(mallory.privateKey)
      expectReason(await auth.authenticate(token, 'beta'), 'credential_invalid', Object.keys(extra)[0])
    }
  })

  test('tampered tokens are refused', async () => {
    const token = await sign(rs)
    const [h, p, s] = token.split('.') as [string, string, string]
    const forged = b64u(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' }))
    expectReason(await auth.authenticate(`${h}.${forged}.${s}`, 'beta'), 'credential_invalid', 'payload changed')
    const badSig = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11)
    expectReason(await auth.authenticate(`${h}.${p}.${badSig}`, 'beta'), 'credential_invalid', 'signature changed')
  })

  test('tokens are never logged', () => {
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(logger.text()), 'no JWT in any log line')
  })
})

describe('JWKS cache: rotation, unknown kid, server down', () => {
  let jwks: JwksServer
  before(async () => { jwks = new JwksServer(); await jwks.start() })
  after(async () => { await jwks.stop() })

  async function authWith (cooldownSeconds: number, logger = captureLogger()): Promise<TollgateAuthenticator> {
    return await createAuthenticator({
      credentials: {
        jwt: {
          clockSkewSeconds: 30,
          jwksRefreshSeconds: 600,
          jwksCooldownSeconds: cooldownSeconds,
          jwksTimeoutMs: 1000,
          issuers: [{ name: 'corp', issuer: ISS, audience: AUD, jwksUrl: jwks.url, global: true, requireExp: true }]
        }
      },
      containers: {},
      baseDir: '/',
      resolver: envResolver({}),
      logger
    })
  }

  test('a rotated key (unknown kid) triggers one refetch; more unknown kids within the cooldown do not', async () => {
    const k1 = pair('RS256', 'k1')
    const k2 = pair('ES256', 'k2')
    jwks.keys = [k1.jwk]
    jwks.status = 200
    const auth = await authWith(3600)
    try {
      const hits0 = jwks.hits
      assert.ok((await auth.authenticate(await sign(k1), 'x')).ok)
      assert.equal(jwks.hits, hits0, 'cached: no fetch per token')
      // the issuer rotates: k2 appears; the cooldown since the start fetch is long, so…
      jwks.keys = [k1.jwk, k2.jwk]
      expectReason(await auth.authenticate(await sign(k2), 'x'), 'credential_unknown', 'within the cooldown, no refetch')
      assert.equal(jwks.hits, hits0)
    } finally { await auth.close() }

    const auth2 = await authWith(1)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const hits1 = jwks.hits
      const k3 = pair('ES256', 'k3')
      jwks.keys = [k1.jwk, k2.jwk, k3.jwk]
      // many concurrent tokens with a new kid: one fetch between them
      const outs = await Promise.all(Array.from({ length: 10 }, async () => await auth2.authenticate(await sign(k3), 'x')))
      assert.ok(outs.every((o) => o.ok), JSON.stringify(outs))
      assert.equal(jwks.hits, hits1 + 1, 'one refetch')
      // a kid nobody knows, right after: refused without another fetch (rate limit)
      const stranger = pair('ES256', 'stranger')
      expectReason(await auth2.authenticate(await sign(stranger), 'x'), 'credential_unknown', 'unknown kid')
      expectReason(await auth2.authenticate(await sign(stranger), 'x'), 'credential_unknown', 'unknown kid again')
      assert.equal(jwks.hits, hits1 + 1, 'no refetch within the cooldown')
      await new Promise((resolve) => setTimeout(resolve, 1100))
      expectReason(await auth2.authenticate(await sign(stranger), 'x'), 'credential_unknown', 'unknown kid after the cooldown')
      assert.equal(jwks.hits, hits1 + 2, 'one refetch after the cooldown')
      // a removed key stops working once the set is refetched
      jwks.keys = [k3.jwk]
      await auth2.issuers.get('corp')!.jwks!.refresh()
      expectReason(await auth2.authenticate(await sign(k1), 'x'), 'credential_unknown', 'key removed from the JWKS')
      assert.ok((await auth2.authenticate(await sign(k3), 'x')).ok)
    } finally { await auth2.close() }
  })

  test('when the JWKS server fails or goes away, the last good keys are kept', async () => {
    const k = pair('RS256', 'stay')
    jwks.keys = [k.jwk]
    jwks.status = 200
    const logger = captureLogger()
    const auth = await authWith(1, logger)
    const remote = auth.issuers.get('corp')!.jwks!
    try {
      assert.ok((await auth.authenticate(await sign(k), 'x')).ok)
      jwks.status = 503
      assert.equal(await remote.refresh(), false)
      assert.ok((await auth.authenticate(await sign(k), 'x')).ok, 'still accepted while the server answers 503')
      await jwks.stop()
      assert.equal(await remote.refresh(), false)
      assert.ok((await auth.authenticate(await sign(k), 'x')).ok, 'still accepted while the server is gone')
      assert.ok(logger.lines.some((l) => l.level === 'warn' && /keeping the last good keys/.test(l.msg ?? '')))
      // garbage from the server does not replace the good set either
      await jwks.start()
      jwks.status = 200
      const saved = jwks.keys
      jwks.keys = [{ kty: 'oct', k: 'c2VjcmV0' }]
      assert.equal(await remote.refresh(), false)
      assert.ok((await auth.authenticate(await sign(k), 'x')).ok, 'a set of only symmetric keys is ignored')
      jwks.keys = saved
    } finally {
      jwks.status = 200
      if (jwks.server === undefined) await jwks.start()
      await auth.close()
    }
  })

  test('a JWKS server down at start: tokens refused, then accepted once it is back', async () => {
    const k = pair('EdDSA', 'late')
    jwks.keys = [k.jwk]
    jwks.status = 503
    const auth = await authWith(1)
    try {
      expectReason(await auth.authenticate(await sign(k), 'x'), 'credential_unknown', 'no keys yet')
      jwks.status = 200
      await new Promise((resolve) => setTimeout(resolve, 1100))
      assert.ok((await auth.authenticate(await sign(k), 'x')).ok, 'fetched on demand after the cooldown')
    } finally { jwks.status = 200; await auth.close() }
  })

  test('background refresh picks up new keys without any request', async () => {
    const k1 = pair('ES256', 'bg1')
    const k2 = pair('ES256', 'bg2')
    jwks.keys = [k1.jwk]
    const remote = new RemoteJwks({ name: 'bg', url: jwks.url, refreshMs: 100, cooldownMs: 3_600_000, timeoutMs: 1000, logger: captureLogger() })
    try {
      await remote.start()
      const fetches = remote.fetches
      jwks.keys = [k1.jwk, k2.jwk]
      await waitFor(() => remote.fetches >= fetches + 2, 5000, 'background refreshes')
      const key = await remote.getKey({ alg: 'ES256', kid: 'bg2' }, { payload: '', signature: '' })
      assert.ok(key !== undefined)
    } finally { remote.close() }
  })
})

describe('credentials config validation', () => {
  const base = { name: 'x', issuer: ISS, audience: AUD, global: false, requireExp: true }
  const cases: Array<[string, CredentialsConfig, Record<string, { jwtIssuers?: string[] }>, RegExp]> = [
    ['no key source', { jwt: { issuers: [{ ...base }] } as never }, {}, /credentials\.jwt\.issuers\[0\]: needs one key source/],
    ['two key sources', { jwt: { issuers: [{ ...base, jwksUrl: 'https://a/', publicKeys: ['a.pem'] }] } as never }, {}, /exactly one key source/],
    ['plain http JWKS', { jwt: { issuers: [{ ...base, jwksUrl: 'http://idp.example.com/jwks' }] } as never }, {}, /jwksUrl: must be https/],
    ['HS256 with public keys', { jwt: { issuers: [{ ...base, publicKeys: ['a.pem'], algorithms: ['RS256', 'HS256'] }] } as never }, {}, /algorithms\[1\]: HS256 is an HMAC algorithm/],
    ['RS256 with an HMAC secret', { jwt: { issuers: [{ ...base, hmacSecret: '${env:X}', algorithms: ['RS256'] }] } as never }, {}, /algorithms\[0\]: RS256 is not an HMAC algorithm/],
    ['literal HMAC secret', { jwt: { issuers: [{ ...base, hmacSecret: 'hunter2' }] } as never }, {}, /hmacSecret: must be a secret reference/],
    ['duplicate names', { jwt: { issuers: [{ ...base, jwksUrl: 'https://a/' }, { ...base, jwksUrl: 'https://b/' }] } as never }, {}, /issuers\[1\]\.name: duplicate/],
    ['unknown issuer on a container', { jwt: { issuers: [{ ...base, jwksUrl: 'https://a/' }] } as never }, { hello: { jwtIssuers: ['x', 'y'] } }, /containers\.hello\.jwtIssuers\[1\]: no issuer named "y"/]
  ]
  for (const [what, creds, containers, re] of cases) {
    test(what, () => {
      assert.throws(() => validateCredentialsConfig(creds, containers), (err: Error & { code?: string }) => {
        assert.match(err.message, re)
        assert.equal(err.code, 'TG_ERR_CONFIG_INVALID')
        assert.ok(!err.message.includes('hunter2'))
        return true
      })
    })
  }

  test('loopback http JWKS and a full valid section pass', () => {
    validateCredentialsConfig({ jwt: { issuers: [{ ...base, jwksUrl: 'http://127.0.0.1:1/jwks' }, { ...base, name: 'y', jwksUrl: 'http://[::1]:1/jwks' }] } as never }, { a: { jwtIssuers: ['x'] } })
    validateCredentialsConfig(undefined, { a: {} })
  })

  test('PEM problems and short HMAC secrets are refused at start, naming the field, never the value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-jwtcfg-'))
    try {
      const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      await writeFile(join(dir, 'priv.pem'), kp.privateKey.export({ type: 'pkcs8', format: 'pem' }))
      await writeFile(join(dir, 'junk.pem'), 'not a key')
      const mk = (issuer: Record<string, unknown>): Promise<unknown> => createAuthenticator({
        credentials: { jwt: { issuers: [{ ...base, ...issuer }] } as never },
        containers: {},
        baseDir: dir,
        resolver: envResolver({ SHORT: 'tooshort-secret' })
      })
      await assert.rejects(mk({ publicKeys: ['./priv.pem'] }), /publicKeys\[0\]: .*private key/)
      await assert.rejects(mk({ publicKeys: ['./junk.pem'] }), /publicKeys\[0\]: .*not a PEM public key/)
      await assert.rejects(mk({ publicKeys: ['./missing.pem'] }), /publicKeys\[0\]: cannot read/)
      await assert.rejects(mk({ hmacSecret: '${env:SHORT}' }), (err: Error) => /shorter than 32 bytes/.test(err.message) && !err.message.includes('tooshort-secret'))
    } finally { await rm(dir, { recursive: true, force: true }) }
  })
})
