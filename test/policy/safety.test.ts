// Load-time safety: every limit is a compile error with a column; evaluation cannot blow up.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileCondition, ConditionError, LIMITS } from '../../src/policy/index.js'

function rejects (src: string, pattern: RegExp, column?: number): ConditionError {
  try {
    compileCondition(src)
  } catch (err) {
    assert.ok(err instanceof ConditionError, `not a ConditionError: ${String(err)}`)
    assert.match(err.message, pattern)
    if (column !== undefined) assert.equal(err.column, column, err.message)
    assert.equal(err.message.includes('\n'), false, 'one line')
    return err
  }
  assert.fail(`compiled: ${src.slice(0, 80)}`)
}

const run = (src: string, request: Record<string, unknown> = {}): unknown =>
  compileCondition(src).evaluate({ request: { ip: '203.0.113.10', user_agent: '', time: new Date(0), method: 'GET', path: '/', host: 'h', headers: {}, ...request }, principal: {} })

test('length: 2,048 characters at most (Scaleway cap)', () => {
  const ok = `request.ip == "${'a'.repeat(LIMITS.maxLength - 16)}"`
  assert.equal(ok.length, 2048)
  compileCondition(ok)
  rejects(ok + ' ', /2049 characters long; the limit is 2048/)
})

test('syntax, unknown variables and type errors carry the column (and the line when multi-line)', () => {
  rejects('request.ip ==', /column 14: syntax error/, 14)
  rejects('reqest.ip == "a"', /Unknown variable: reqest/, 1)
  rejects('request.nope == "a"', /No such key: nope/)
  rejects('request.ip + 1 == 2', /no such overload: string \+ int/)
  const e = rejects('request.ip == "a"\n  && request.time.getHours("Europe/Pari") > 1', /line 2, column 28: unknown time zone "Europe\/Pari"/)
  assert.equal(e.line, 2)
})

test('the result must be bool', () => {
  rejects('1 + 1', /must evaluate to bool, not int/)
  rejects('request.ip', /must evaluate to bool, not string/)
  rejects('', /empty/)
})

test('AST size, nesting depth and literal sizes are capped', () => {
  rejects(`${'1 + '.repeat(600)}1 == 0`, /AST nodes|limit/i)
  rejects(`${'!'.repeat(200)}true`, /nests deeper than 64/)
  rejects(`${'('.repeat(40)}true${')'.repeat(40)}`, /limit|depth/i)
  rejects(`[${Array(600).fill('1').join(',')}].size() > 0`, /limit|list/i)
  // Deep enough to overflow cel-js's recursive evaluator if it were let through.
  rejects(`${'true && '.repeat(250)}true`, /nests deeper than 64|AST nodes/)
})

test('cel.bind is refused; comprehensions may not nest', () => {
  rejects('cel.bind(x, [1], x.size() > 0)', /cel\.bind\(\) is not allowed/, 1)
  rejects('[1, 2].all(x, [3].exists(y, y > x))', /inside another comprehension/, 15)
  rejects('[1].map(x, [1].map(y, y)).size() > 0', /inside another comprehension/)
  assert.equal(run('[1, 2, 3].exists(x, x == 2) && [1].all(x, x > 0)'), true)
  assert.equal(run('request.headers.all(k, k.startsWith("x-"))', { headers: { 'x-a': '1', 'x-b': '2' } }), true)
  assert.equal(run('request.headers.filter(k, k.startsWith("x-")).all(k, k.size() == 3)', { headers: { 'x-a': '1', b: '2' } }), true)
  assert.equal(run('[1, 2].map(x, x * 2).size() == 2'), true)
  // Each stage doubles every element: 20 stages are 2^20-element values (and 2,048 characters allow more).
  rejects(`["a"].map(y, [y, y])${'.map(y, y + y)'.repeat(20)}.size() > 0`, /the result of map\(\) cannot feed map\(\)/, 1)
  rejects('[1].map(x, [x, x]).filter(y, true).exists(z, true)', /the result of map\(\) cannot feed exists\(\)/)
})

test('matches(): literal RE2 patterns only, vetted at load, linear time', () => {
  rejects('request.user_agent.matches(request.path)', /needs a string literal pattern/, 28)
  rejects('matches(request.user_agent, request.path)', /needs a string literal pattern/)
  rejects('request.user_agent.matches("(a")', /invalid RE2 pattern: .*missing closing \)/, 28)
  rejects('request.user_agent.matches("(a)\\\\1")', /invalid RE2 pattern/)
  rejects('request.user_agent.matches("(?=a)b")', /invalid RE2 pattern/)
  // RE2 semantics, not JS RegExp
  assert.equal(run('request.user_agent.matches("(?i)^internaladmintool")', { user_agent: 'InternalAdminTool/1.0' }), true)
  assert.equal(run('request.user_agent.matches("\\\\Aabc\\\\z")', { user_agent: 'abc' }), true)
  assert.equal(run('request.user_agent.matches("^\\\\pL$")', { user_agent: 'é' }), true)
  assert.equal(run('matches(request.user_agent, "^a+$")', { user_agent: 'aaa' }), true)
  // The classic ReDoS pattern: exponential for a backtracking engine (~1 s at 26 characters),
  // immediate with RE2. 100,000 characters would never finish with JS RegExp.
  assert.equal(run('request.user_agent.matches("^(a+)+$")', { user_agent: 'a'.repeat(100_000) + '!' }), false)
})

test('zone literals must exist; computed zones are resolved at evaluation (errors deny)', () => {
  rejects('request.time.getHours("Europe/Pari") > 1', /column 23: unknown time zone "Europe\/Pari"/, 23)
  rejects('request.time.getHours("+5:30") > 1', /invalid time zone offset/)
  rejects('request.time.getHours("+05:75") > 1', /invalid time zone offset/)
  assert.equal(run('request.time.getHours(request.path.substring(1)) == 5', { path: '/+05:30' }), true)
  assert.throws(() => run('request.time.getHours(request.path) == 5', { path: 'Nowhere/Land' }), /unknown time zone/)
})

test('inIpRange: literal CIDRs are checked at load', () => {
  rejects('inIpRange(request.ip, "198.51.100.0/33")', /column 23: invalid CIDR "198.51.100.0\/33"/, 23)
  rejects('inIpRange(request.ip, "198.51.100/24")', /invalid CIDR/)
  rejects('inIpRange(request.ip, ["10.0.0.0/8", "nope"])', /invalid CIDR "nope"/, 38)
  rejects('inIpRange(request.ip, ipLists.office)', /unknown IP list "office"/)
  assert.throws(() => compileCondition('inIpRange(request.ip, ipLists.x)', { ipLists: { x: ['10.0.0.0/8', 'bad'] } }), /ipLists\.x: invalid CIDR "bad"/)
})

test('errors never leak internal names (tg__ rebinding)', () => {
  const e = rejects('"x".getHours("Europe/Paris") == 1', /no matching overload/)
  assert.equal(e.message.includes('tg__'), false, e.message)
  assert.equal(e.message.includes('tollgate.'), false, e.message)
})
