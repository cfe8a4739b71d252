// Conditions compiled to closures (src/policy/compiled.ts) against the CEL interpreter they stand in
// for (the property is in closure-property.ts; its long run is `npm run fuzz -- --only policy`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { activationOf, compileCondition, compileContainerPolicy, ANONYMOUS, type RequestFacts } from '../../src/policy/index.js'
import { closureProperty } from './closure-property.js'

function outcome (f: () => unknown): unknown {
  try { return f() } catch { return 'error' }
}

test('compiled conditions agree with the CEL interpreter (generated conditions and requests)', () => {
  const stats = { compiled: 0, requests: 0 }
  fc.assert(closureProperty(stats), { numRuns: 1500 })
  assert.ok(stats.compiled > 1000, `only ${stats.compiled} generated conditions were compiled`)
})

test('the seed conditions compile to closures', () => {
  for (const src of [
    'request.time.getDayOfWeek() != 0 && request.time.getDayOfWeek() != 6 && request.time.getHours("Europe/Paris") >= 9 && request.time.getHours("Europe/Paris") < 18 && inIpRange(request.ip, "198.51.100.0/24") && request.user_agent.contains("InternalAdminTool/1.0")',
    'inIpRange(request.ip, ["198.51.100.0/24", "203.0.113.0/24"]) || request.user_agent.startsWith("curl/")',
    'request.method in ["GET", "HEAD"] && request.path.startsWith("/public/")'
  ]) assert.ok(compileCondition(src).closure !== undefined, src)
  assert.ok(compileCondition('inIpRange(request.ip, ipLists.office)', { ipLists: { office: ['10.0.0.0/8'] } }).closure !== undefined)
})

test('an invalid request time is an error on the compiled path too, absorbed by && and || as CEL does', () => {
  const f: RequestFacts = { ip: '198.51.100.7', userAgent: 'x', time: new Date(Number.NaN), method: 'GET', path: '/', host: 'h', headers: {} }
  const cases: Array<[string, unknown]> = [
    ['request.time.getHours() == 1', 'error'],
    ['request.time.getHours() == 1 && false', false],
    ['false && request.time.getHours() == 1', false],
    ['true && request.time.getHours() == 1', 'error'],
    ['request.time.getHours() == 1 || true', true],
    ['request.time.getHours() == 1 || false', 'error'],
    ['!(request.time.getHours() == 1)', 'error'],
    ['request.time.getHours() == 1 ? true : false', 'error']
  ]
  for (const [src, want] of cases) {
    const c = compileCondition(src)
    assert.ok(c.closure !== undefined, src)
    assert.equal(outcome(() => c.closure?.(f, ANONYMOUS)), want, src)
    assert.equal(outcome(() => c.evaluate(activationOf(f, ANONYMOUS))), want, src)
  }
  // And the engine denies with policy_error, as for any evaluation error.
  const policy = compileContainerPolicy('c', 'public', [{ name: 'hours', condition: 'request.time.getHours("Europe/Paris") >= 9' }])
  assert.deepEqual(policy.decide(f, ANONYMOUS), { allow: false, reason: 'policy_error', rule: 'hours' })
  assert.equal(policy.explain(f, ANONYMOUS).rules[0].error, 'invalid timestamp')
})
