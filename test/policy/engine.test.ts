// compileContainerPolicy: rule semantics (grants only, principals, owner bypass, errors deny),
// the request/principal variables, headers, and the ConfigError contract.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError } from '../../src/errors.js'
import { ANONYMOUS, compileContainerPolicy, type Principal, type RequestFacts } from '../../src/policy/index.js'
import { requestFacts } from '../../src/policy/authorize.js'

const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  ip: '203.0.113.10',
  userAgent: 'curl/8.5.0',
  time: new Date('2026-03-30T07:30:00Z'), // Monday 09:30 in Paris
  method: 'GET',
  path: '/hello/world',
  host: 'api.example.com',
  headers: { host: 'api.example.com', 'user-agent': 'curl/8.5.0' },
  ...over
})
const key = (id: string, owner = false): Principal => ({ kind: 'key', id, owner, claims: {} })
const jwt = (sub: string, claims: Record<string, unknown> = {}): Principal => ({ kind: 'jwt', id: sub, owner: false, claims: { sub, ...claims } })

const BH = 'request.time.getDayOfWeek() != 0 && request.time.getDayOfWeek() != 6 && request.time.getHours("Europe/Paris") >= 9 && request.time.getHours("Europe/Paris") < 18'

test('no rules: public allows everyone; private allows any authenticated principal, not anonymous', () => {
  assert.deepEqual(compileContainerPolicy('c', 'public', undefined).decide(facts(), ANONYMOUS), { allow: true, reason: 'allowed' })
  assert.deepEqual(compileContainerPolicy('c', 'private', []).decide(facts(), key('ci')), { allow: true, reason: 'allowed' })
  assert.deepEqual(compileContainerPolicy('c', 'private', []).decide(facts(), ANONYMOUS), { allow: false, reason: 'credential_missing' })
})

test('the seed conditions decide as Scaleway documents them', () => {
  const p = compileContainerPolicy('c', 'public', [
    { name: 'office', principals: ['*'], condition: 'inIpRange(request.ip, "198.51.100.0/24")' },
    { name: 'tool', principals: ['*'], condition: 'request.user_agent.contains("InternalAdminTool/1.0")' }
  ])
  assert.deepEqual(p.decide(facts({ ip: '198.51.100.77' }), ANONYMOUS), { allow: true, reason: 'allowed', rule: 'office' })
  assert.deepEqual(p.decide(facts({ userAgent: 'x InternalAdminTool/1.0 y' }), ANONYMOUS), { allow: true, reason: 'allowed', rule: 'tool' })
  assert.deepEqual(p.decide(facts(), ANONYMOUS), { allow: false, reason: 'policy_denied' })
  const bh = compileContainerPolicy('c', 'public', [{ name: 'bh', condition: BH }])
  assert.equal(bh.decide(facts(), ANONYMOUS).allow, true)
  assert.equal(bh.decide(facts({ time: new Date('2026-03-30T16:00:00Z') }), ANONYMOUS).allow, false) // 18:00 CEST
  assert.equal(bh.decide(facts({ time: new Date('2026-03-29T09:00:00Z') }), ANONYMOUS).allow, false) // Sunday
})

test('rules only grant: any matching rule with a true condition wins, order does not deny', () => {
  const monday = 'request.time.getDayOfWeek("Europe/Paris") == 1'
  const tuesday = 'request.time.getDayOfWeek("Europe/Paris") == 2'
  const p = compileContainerPolicy('c', 'private', [{ name: 'mon', condition: monday }, { name: 'tue', condition: tuesday }])
  assert.equal(p.decide(facts(), key('a')).rule, 'mon')
  assert.equal(p.decide(facts({ time: new Date('2026-03-31T08:00:00Z') }), key('a')).rule, 'tue')
  assert.equal(p.decide(facts({ time: new Date('2026-04-01T08:00:00Z') }), key('a')).reason, 'policy_denied')
})

test('principals: "*", key:NAME and jwt:SUBJECT; absent principals means "*"', () => {
  const p = compileContainerPolicy('c', 'private', [
    { name: 'ci', principals: ['key:ci'] },
    { name: 'alice', principals: ['jwt:alice@example.com'], condition: 'principal.claims["role"] == "admin"' }
  ])
  assert.deepEqual(p.decide(facts(), key('ci')), { allow: true, reason: 'allowed', rule: 'ci' })
  assert.equal(p.decide(facts(), key('other')).reason, 'policy_denied')
  assert.equal(p.decide(facts(), jwt('ci')).reason, 'policy_denied', 'a JWT whose sub is "ci" is not the key "ci"')
  assert.equal(p.decide(facts(), jwt('alice@example.com', { role: 'admin' })).rule, 'alice')
  assert.equal(p.decide(facts(), jwt('alice@example.com', { role: 'user' })).reason, 'policy_denied')
  const any = compileContainerPolicy('c', 'private', [{ name: 'any' }])
  assert.equal(any.decide(facts(), jwt('bob')).allow, true)
})

test('principal variables: id, kind and claims', () => {
  const p = compileContainerPolicy('c', 'private', [{ name: 'r', condition: 'principal.kind == "jwt" && principal.id.endsWith("@example.com") && "ops" in principal.claims.groups' }])
  assert.equal(p.decide(facts(), jwt('bob@example.com', { groups: ['dev', 'ops'] })).allow, true)
  assert.equal(p.decide(facts(), jwt('bob@example.com', { groups: ['dev'] })).allow, false)
  assert.equal(p.decide(facts(), key('bob@example.com')).allow, false)
})

test('owner exception: bypasses conditions and principals with owner_bypass', () => {
  const p = compileContainerPolicy('c', 'private', [{ name: 'office', principals: ['key:ci'], condition: 'inIpRange(request.ip, "198.51.100.0/24")' }])
  assert.deepEqual(p.decide(facts(), key('boss', true)), { allow: true, reason: 'owner_bypass' })
  assert.deepEqual(p.decide(facts(), key('boss', false)), { allow: false, reason: 'policy_denied' })
})

test('evaluation errors deny with policy_error naming the rule; another rule may still grant', () => {
  const p = compileContainerPolicy('c', 'public', [
    { name: 'hdr', condition: 'request.headers["x-team"] == "blue"' },
    { name: 'claims', condition: 'principal.claims.level > 3' }
  ])
  assert.deepEqual(p.decide(facts(), ANONYMOUS), { allow: false, reason: 'policy_error', rule: 'hdr' })
  const q = compileContainerPolicy('c', 'public', [
    { name: 'hdr', condition: 'request.headers["x-team"] == "blue"' },
    { name: 'ok', condition: 'request.method == "GET"' }
  ])
  assert.deepEqual(q.decide(facts(), ANONYMOUS), { allow: true, reason: 'allowed', rule: 'ok' })
})

test('plain JS errors (invalid Date, RangeError) deny and never throw', () => {
  const p = compileContainerPolicy('c', 'public', [{ name: 'bh', condition: BH }])
  assert.deepEqual(p.decide(facts({ time: new Date(Number.NaN) }), ANONYMOUS), { allow: false, reason: 'policy_error', rule: 'bh' })
  const zone = compileContainerPolicy('c', 'public', [{ name: 'z', condition: 'request.time.getHours(request.headers["x-tz"]) > 1' }])
  assert.deepEqual(zone.decide(facts({ headers: { 'x-tz': 'Mars/Olympus' } }), ANONYMOUS), { allow: false, reason: 'policy_error', rule: 'z' })
  assert.equal(zone.decide(facts({ headers: { 'x-tz': '+05:30' } }), ANONYMOUS).allow, true)
  const broken = { ...facts(), headers: null } as unknown as RequestFacts
  assert.equal(compileContainerPolicy('c', 'public', [{ name: 'h', condition: '"a" in request.headers' }]).decide(broken, ANONYMOUS).allow, false)
})

test('headers: lower-case names, arrays joined, built only when a condition reads them', () => {
  const p = compileContainerPolicy('c', 'public', [{ name: 'cookies', condition: 'request.headers["set-cookie"] == "a=1, b=2" && request.headers["x-a"] == "v"' }])
  assert.equal(p.decide(facts({ headers: { 'set-cookie': ['a=1', 'b=2'], 'X-A': 'v' } }), ANONYMOUS).allow, true)
  const reads = compileContainerPolicy('c', 'public', [{ name: 'ip', condition: 'request.ip == "203.0.113.10"' }])
  // A condition that does not read headers never touches them (a throwing getter proves it).
  const trap = new Proxy({}, { get () { throw new Error('headers read') }, ownKeys () { throw new Error('headers read') } })
  assert.equal(reads.decide(facts({ headers: trap as RequestFacts['headers'] }), ANONYMOUS).allow, true)
  assert.equal(p.decide(facts({ headers: trap as RequestFacts['headers'] }), ANONYMOUS).reason, 'policy_error')
})

test('request.user_agent is cut at 255 characters (as Scaleway reports it) where facts are built', () => {
  const p = compileContainerPolicy('c', 'public', [{ name: 'ua', condition: 'size(request.user_agent) == 255 && request.user_agent.endsWith("a")' }])
  const built = requestFacts({ ip: '203.0.113.10', method: 'GET', path: '/', host: 'h' }, { 'user-agent': 'a'.repeat(255) + 'TAIL' })
  assert.equal(built.userAgent.length, 255)
  assert.equal(p.decide(built, ANONYMOUS).allow, true)
  assert.equal(requestFacts({ ip: '203.0.113.10', method: 'GET', path: '/', host: 'h' }, {}).userAgent, '')
})

test('request variables: method, path, host', () => {
  const p = compileContainerPolicy('c', 'public', [{ name: 'r', condition: 'request.method == "POST" && request.path.startsWith("/hello/") && request.host == "api.example.com"' }])
  assert.equal(p.decide(facts({ method: 'POST' }), ANONYMOUS).allow, true)
  assert.equal(p.decide(facts(), ANONYMOUS).allow, false)
})

test('invalid conditions are ConfigErrors naming container, rule index, rule name and column', () => {
  const err = (rules: Parameters<typeof compileContainerPolicy>[2]): ConfigError => {
    try {
      compileContainerPolicy('hello', 'public', rules)
    } catch (e) {
      assert.ok(e instanceof ConfigError)
      return e
    }
    assert.fail('expected a ConfigError')
  }
  const e = err([{ name: 'ok', condition: 'true' }, { name: 'office', condition: 'inIpRange(request.ip, "198.51.100.0/33")' }])
  assert.equal(e.code, 'TG_ERR_POLICY_INVALID')
  assert.equal(e.path, 'containers.hello.policies[1].condition')
  assert.match(e.message, /^containers\.hello\.policies\[1\]\.condition: rule "office": column 23: invalid CIDR/)
  assert.equal(e.message.includes('\n'), false)
  const p = err([{ name: 'who', principals: ['*', 'user:bob'] }])
  assert.equal(p.path, 'containers.hello.policies[0].principals[1]')
  assert.match(p.message, /"user:bob" is not a principal/)
  assert.match(err([{ name: 'k', principals: ['key:'] }]).message, /a key name is/)
})
