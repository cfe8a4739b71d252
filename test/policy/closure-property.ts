// The closure compiler's property (src/policy/compiled.ts against the CEL interpreter it stands
// in for): generated conditions over generated requests must give the same value, or both an
// error. compiled.test.ts runs it briefly in npm test; `npm run fuzz -- --only policy` runs it long.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { activationOf, compileCondition, ANONYMOUS, type Principal, type RequestFacts } from '../../src/policy/index.js'

const ACCESSORS = ['getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfYear', 'getDayOfWeek',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds']
const ZONES = ['', '"Europe/Paris"', '"UTC"', '"America/New_York"', '"Australia/Lord_Howe"', '"Asia/Kathmandu"', '"+05:45"', '"-08:00"', '"00:00"']
const STRING_FIELDS = ['request.ip', 'request.user_agent', 'request.method', 'request.path', 'request.host', 'request["path"]', 'principal.id', 'principal.kind']
const WORDS = ['', 'GET', 'POST', '/api', '/api/v1', 'InternalAdminTool/1.0', 'Tool', 'curl/8', 'example.com', '198.51.100.7', 'key', 'anonymous', 'ops', 'é', '/']
const CIDRS = ['198.51.100.0/24', '10.0.0.0/8', '2001:db8::/32', '::ffff:198.51.100.0/120', '0.0.0.0/0', '203.0.113.9/32']

const str = fc.constantFrom(...WORDS).map((w) => JSON.stringify(w))
const intLit = fc.oneof(
  fc.integer({ min: -3, max: 400 }).map((n) => n < 0 ? `-${-n}` : String(n)),
  fc.constantFrom('9223372036854775807', '9007199254740993', '-9007199254740993', '2026')
)
const accessor = fc.tuple(fc.constantFrom(...ACCESSORS), fc.constantFrom(...ZONES)).map(([a, z]) => `request.time.${a}(${z})`)
const OPS = ['==', '!=', '<', '<=', '>', '>=']

/** Leaves in the compiled subset. */
const inside = fc.oneof(
  fc.tuple(accessor, fc.constantFrom(...OPS), fc.oneof(intLit, accessor)).map(([a, op, b]) => `${a} ${op} ${b}`),
  fc.tuple(intLit, fc.constantFrom(...OPS), accessor).map(([a, op, b]) => `${a} ${op} ${b}`),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.constantFrom('==', '!='), fc.oneof(str, fc.constantFrom(...STRING_FIELDS))).map(([a, op, b]) => `${a} ${op} ${b}`),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.constantFrom('contains', 'startsWith', 'endsWith'), fc.oneof(str, fc.constantFrom(...STRING_FIELDS))).map(([a, f, b]) => `${a}.${f}(${b})`),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.array(str, { minLength: 0, maxLength: 4 })).map(([a, l]) => `${a} in [${l.join(', ')}]`),
  fc.array(fc.constantFrom(...CIDRS), { minLength: 1, maxLength: 3 }).map((l) => l.length === 1 ? `inIpRange(request.ip, "${l[0]}")` : `inIpRange(request.ip, [${l.map((c) => `"${c}"`).join(', ')}])`),
  fc.constantFrom('true', 'false')
)
/** Leaves outside it: the whole condition is left to cel-js. */
const outside = fc.constantFrom(
  'request.path.matches("^/api/")',
  'size(request.user_agent) > 10',
  '"x-env" in request.headers',
  'request.time > timestamp("2026-01-01T00:00:00Z")',
  'request.time.getHours() == int("9")',
  'request.method in ["GET", request.host]',
  'inIpRange(request.ip, request.host)',
  '[1, 2].exists(x, x == request.time.getHours())',
  '9223372036854775807 > 9223372036854775806'
)

export interface Cond { src: string, compiled: boolean }
const condition: fc.Arbitrary<Cond> = fc.letrec<{ c: Cond }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    inside.map((src) => ({ src, compiled: true })),
    fc.integer({ min: 0, max: 9 }).chain((n) => n === 0 ? outside.map((src) => ({ src, compiled: false })) : inside.map((src) => ({ src, compiled: true }))),
    fc.tuple(tie('c'), fc.constantFrom('&&', '||', '==', '!='), tie('c')).map(([a, op, b]) => ({ src: `(${a.src}) ${op} (${b.src})`, compiled: a.compiled && b.compiled })),
    tie('c').map((a) => ({ src: `!(${a.src})`, compiled: a.compiled })),
    fc.tuple(tie('c'), tie('c'), tie('c')).map(([a, b, c]) => ({ src: `(${a.src}) ? (${b.src}) : (${c.src})`, compiled: a.compiled && b.compiled && c.compiled }))
  )
})).c

const MIN_TS = -62135596800000
const MAX_TS = 253402300799999
// DST transitions and day/year edges of the zones above, ± a second.
const EDGES = ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-03-08T07:00:00Z', '2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z',
  '2026-12-31T23:59:59.999Z', '2024-02-29T12:00:00Z', '1970-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']
  .map((s) => Date.parse(s))
const time = fc.oneof(
  fc.integer({ min: MIN_TS, max: MAX_TS }),
  fc.tuple(fc.constantFrom(...EDGES), fc.integer({ min: -1000, max: 1000 })).map(([t, d]) => Math.min(MAX_TS, Math.max(MIN_TS, t + d))),
  fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') }),
  fc.constant(Number.NaN)
).map((t) => new Date(t))

const facts: fc.Arbitrary<RequestFacts> = fc.record({
  ip: fc.constantFrom('198.51.100.7', '10.1.2.3', '203.0.113.9', '2001:db8::1', '::1', '::ffff:198.51.100.7', 'not-an-ip', ''),
  userAgent: fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 300 })),
  time,
  method: fc.constantFrom('GET', 'POST', 'DELETE'),
  path: fc.constantFrom('/', '/api', '/api/v1/x', '/other'),
  host: fc.constantFrom('example.com', 'api.example.com'),
  headers: fc.constant({ 'x-env': 'prod' })
})
const principal: fc.Arbitrary<Principal> = fc.oneof(
  fc.constant(ANONYMOUS),
  fc.constantFrom('ops', 'key', 'ci').map((id) => ({ kind: 'key' as const, id, owner: false, claims: {} }))
)

function outcome (f: () => unknown): unknown {
  try { return f() } catch { return 'error' }
}

/** The property; `stats.compiled` counts the generated conditions that had a closure. */
export function closureProperty (stats: { compiled: number, requests: number }): fc.IPropertyWithHooks<[Cond, Array<[RequestFacts, Principal]>]> {
  return fc.property(condition, fc.array(fc.tuple(facts, principal), { minLength: 1, maxLength: 8 }), (cond, requests) => {
    const c = compileCondition(cond.src)
    assert.equal(c.closure !== undefined, cond.compiled, `closure presence for ${cond.src}`)
    if (c.closure === undefined) return
    stats.compiled++
    for (const [f, p] of requests) {
      stats.requests++
      const want = outcome(() => c.evaluate(activationOf(f, p)))
      const got = outcome(() => (c.closure as NonNullable<typeof c.closure>)(f, p))
      assert.deepEqual(got, want, `${cond.src} at ${Number.isNaN(f.time.getTime()) ? 'NaN' : f.time.toISOString()} ip=${f.ip} ua=${JSON.stringify(f.userAgent)}`)
    }
  })
}

/** `npm run fuzz -- --only policy`: the property for a time budget (or a number of runs). */
export function fuzz (opts: { seconds: number, runs?: number, seed?: number }): { cases: number, failures: number, detail: string, report?: string } {
  const stats = { compiled: 0, requests: 0 }
  const r = fc.check(closureProperty(stats), {
    numRuns: opts.runs ?? Number.MAX_SAFE_INTEGER,
    ...(opts.runs === undefined ? { interruptAfterTimeLimit: opts.seconds * 1000 } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {})
  })
  return {
    cases: r.numRuns,
    failures: r.failed ? 1 : 0,
    detail: `${stats.compiled.toLocaleString('en-US')} conditions compiled to closures, ${stats.requests.toLocaleString('en-US')} requests compared, seed ${r.seed}`,
    ...(r.failed ? { report: fc.defaultReportMessage(r) ?? '' } : {})
  }
}
