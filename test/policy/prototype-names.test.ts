// A client chooses its header names and an identity provider its claim names: none may change how a
// condition evaluates. cel-js infers an object's CEL type from its `constructor` property, so a
// header or claim named `constructor` once turned every header (claims) condition into
// "Unsupported type: object" → policy_error. Every Object.prototype member name is tried here, as a
// header name and as a claim name (top level and nested), through the engine (the closure path and
// the cel-js path), the CLI's evaluator, and end to end through a live gateway.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import { compileContainerPolicy, ANONYMOUS, type Decision, type Principal, type RequestFacts } from '../../src/policy/index.js'
import { runPolicy } from '../../src/cli/policy.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { captureIo } from '../helpers/io.js'
import { startJwks, type Jwks } from '../helpers/jwks.js'

/** constructor, __proto__, toString, valueOf, hasOwnProperty, isPrototypeOf, __defineGetter__, … */
const NAMES = Object.getOwnPropertyNames(Object.prototype)

/** An object with `name` as an own property (`{ [name]: v }` would call the __proto__ setter). */
function withOwn (base: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = { ...base }
  Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true })
  return o
}

const facts = (headers: Record<string, unknown>): RequestFacts => ({
  ip: '198.51.100.7', userAgent: 'curl/8', time: new Date('2026-03-30T07:30:00Z'), method: 'GET', path: '/x', host: 'h', headers: headers as RequestFacts['headers']
})
const jwt = (claims: Record<string, unknown>): Principal => ({ kind: 'jwt', id: 'alice', owner: false, claims })
const decide = (condition: string, f: RequestFacts, p: Principal = ANONYMOUS): Decision =>
  compileContainerPolicy('c', 'public', [{ name: 'r', condition }]).decide(f, p)

test('Object.prototype member names as header names never change a decision (engine, both paths)', () => {
  assert.ok(NAMES.includes('constructor') && NAMES.includes('__proto__') && NAMES.length >= 12, NAMES.join(' '))
  const teamRule = compileContainerPolicy('c', 'public', [{ name: 'team', condition: '"x-team" in request.headers && request.headers["x-team"] == "blue"' }])
  const closureRule = compileContainerPolicy('c', 'public', [{ name: 'ip', condition: 'inIpRange(request.ip, "198.51.100.0/24") && request.method == "GET"' }])
  assert.ok(closureRule.rules[0].condition?.closure !== undefined, 'the second rule runs on the closure path')
  assert.equal(teamRule.rules[0].condition?.closure, undefined, 'the header rule runs on cel-js')
  for (const name of NAMES) {
    const headers = withOwn({ 'x-team': 'blue' }, name, 'x')
    const f = facts(headers)
    assert.deepEqual(teamRule.decide(f, ANONYMOUS), { allow: true, reason: 'allowed', rule: 'team' }, `header ${name}`)
    assert.deepEqual(teamRule.explain(f, ANONYMOUS).decision, { allow: true, reason: 'allowed', rule: 'team' }, `explain, header ${name}`)
    assert.deepEqual(closureRule.decide(f, ANONYMOUS), { allow: true, reason: 'allowed', rule: 'ip' }, `closure, header ${name}`)
    // The header itself reads as any other header does (header names are lower-case in conditions).
    const lower = JSON.stringify(name.toLowerCase())
    const own = compileContainerPolicy('c', 'public', [{
      name: 'own',
      condition: `${lower} in request.headers && request.headers[${lower}] == "x" && request.headers.size() == 2 && request.headers.all(k, k.size() > 0)`
    }])
    assert.deepEqual(own.decide(f, ANONYMOUS), { allow: true, reason: 'allowed', rule: 'own' }, `reading header ${name}`)
    // Absent, it is absent (no inherited member shows through).
    assert.equal(decide(`!(${lower} in request.headers || ${JSON.stringify(name)} in request.headers)`, facts({ 'x-team': 'blue' })).reason, 'allowed', name)
  }
})

test('Object.prototype member names as JWT claim names (top level and nested) never change a decision', () => {
  const role = compileContainerPolicy('c', 'private', [{ name: 'role', condition: 'principal.claims["role"] == "admin" && principal.claims.org.id == "o1"' }])
  for (const name of NAMES) {
    const claims = withOwn({ sub: 'alice', role: 'admin', org: withOwn({ id: 'o1' }, name, 'x') }, name, 'x')
    assert.deepEqual(role.decide(facts({}), jwt(claims)), { allow: true, reason: 'allowed', rule: 'role' }, `claim ${name}`)
    const n = JSON.stringify(name)
    assert.equal(decide(`principal.claims[${n}] == "x" && principal.claims.org[${n}] == "x" && ${n} in principal.claims`, facts({}), jwt(claims)).reason, 'allowed', `reading claim ${name}`)
    assert.equal(decide(`!(${n} in principal.claims)`, facts({}), jwt({ role: 'admin' })).reason, 'allowed', name)
  }
})

test('tollgate policy eval reads a header named constructor or __proto__ like any other', async () => {
  for (const name of ['constructor', '__proto__', 'toString']) {
    const io = captureIo()
    const code = await runPolicy(['eval', '--condition', `request.headers["x-team"] == "blue" && request.headers[${JSON.stringify(name.toLowerCase())}] == "x"`, '--header', 'X-Team: blue', '--header', `${name}: x`], { stdout: io.stdout, stderr: io.stderr })
    assert.equal(code, 0, `${name}: ${io.out()}${io.err()}`)
  }
})

describe('a header or claim named constructor / __proto__ through a running gateway', () => {
  let up: Upstream
  let gw: TestGateway
  let jwks: Jwks
  const ISS = 'https://idp.proto.test/'

  async function token (claims: Record<string, unknown>): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return await new SignJWT({ iss: ISS, aud: 'tg', sub: 'alice', iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: jwks.kid }).sign(jwks.privateKey)
  }

  before(async () => {
    up = await startUpstream()
    jwks = await startJwks()
    const pki = writePki()
    const env = { ...process.env, UPSTREAM_TOKEN: 'up-' + randomBytes(8).toString('hex'), TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
    const base = { upstream: up.url, upstreamCa: pki.ca, token: '${env:UPSTREAM_TOKEN}' }
    gw = await startGateway({
      env,
      config: {
        secrets: { store: './secrets.store' },
        credentials: {
          keys: './keys.store',
          jwt: { issuers: [{ name: 'idp', issuer: ISS, audience: 'tg', jwksUrl: jwks.url, algorithms: ['ES256'] }] }
        },
        containers: {
          team: { ...base, match: { path: '/team' }, privacy: 'public', policies: [{ name: 'team', condition: '"x-team" in request.headers && request.headers["x-team"] == "blue"' }] },
          own: { ...base, match: { path: '/own' }, privacy: 'public', policies: [{ name: 'own', condition: 'request.headers["constructor"] == "x"' }] },
          role: { ...base, match: { path: '/role' }, privacy: 'private', jwtIssuers: ['idp'], policies: [{ name: 'role', condition: 'principal.claims["role"] == "admin"' }] }
        }
      }
    })
  })

  after(async () => {
    await gw?.close()
    await up?.close()
    await jwks?.close()
  })

  test('header names: the team condition still allows; a constructor header reads as a header', async () => {
    for (const name of NAMES.filter((n) => !n.includes('_')).concat('Constructor')) {
      const r = await gw.get('/team/x', { headers: withOwn({ 'x-team': 'blue' }, name, 'x') as Record<string, string> })
      assert.equal(r.status, 200, `${name}: ${r.body}`)
    }
    // A name with "_" (__proto__, __defineGetter__, …) never reaches a condition: refused up front.
    for (const name of NAMES.filter((n) => n.includes('_'))) {
      const r = await gw.get('/team/x', { headers: withOwn({ 'x-team': 'blue' }, name, 'x') as Record<string, string> })
      assert.equal(r.status, 400, `${name}: ${r.body}`)
      assert.equal(r.json().reason, 'header_underscore', name)
    }
    assert.equal((await gw.get('/team/x', { headers: { 'x-team': 'red', constructor: 'x' } })).status, 403)
    assert.equal((await gw.get('/own/x', { headers: { constructor: 'x' } })).status, 200)
    const denied = await gw.get('/own/x', { headers: { constructor: 'y' } })
    assert.equal(denied.status, 403)
    assert.equal(denied.json().reason, 'policy_denied')
  })

  test('claim names: a JWT with constructor and __proto__ claims is decided on its role claim', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const admin = await gw.get('/role/x', { headers: { authorization: `Bearer ${await token(withOwn({ role: 'admin' }, name, 'x'))}` } })
      assert.equal(admin.status, 200, `${name}: ${admin.body}`)
      const user = await gw.get('/role/x', { headers: { authorization: `Bearer ${await token(withOwn({ role: 'user' }, name, { nested: true }))}` } })
      assert.equal(user.status, 403, `${name}: ${user.body}`)
      assert.equal(user.json().reason, 'policy_denied', name)
    }
  })
})
