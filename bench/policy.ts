// Policy engine throughput: decisions per second on one core, through the public API
// (compileContainerPolicy → decide), a fresh RequestFacts object for every decision.
//
//   npx tsx bench/policy.ts            (or: npx tsc -p . && node dist/bench/policy.js)
//   BENCH_SECONDS=0.3 npx tsx bench/policy.ts   shorter samples while iterating
//
// Each figure is the median of 5 samples of BENCH_SECONDS (default 1 s) after a warm-up. Targets
// (issue 3): business hours && office IP ≥ 200,000/s; 10,000-CIDR allow-list ≥ 100,000/s.
import { Environment } from '@marcbachmann/cel-js'
import { compileCondition, compileContainerPolicy, requestVariable, type ContainerPolicy, type Principal, type RequestFacts } from '../src/policy/index.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1)
const SAMPLES = 5

const BH = 'request.time.getDayOfWeek() != 0 && request.time.getDayOfWeek() != 6 && ' +
  'request.time.getHours("Europe/Paris") >= 9 && request.time.getHours("Europe/Paris") < 18'
const OFFICE = 'inIpRange(request.ip, "198.51.100.0/24")'

// Monday 2026-03-30 09:30 Paris (07:30Z): every clause of BH runs and is true.
const T0 = Date.UTC(2026, 2, 30, 7, 30)
const ANON: Principal = Object.freeze({ kind: 'anonymous', id: '', owner: false, claims: Object.freeze({}) })

function facts (i: number, ip: string): RequestFacts {
  return {
    ip,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) InternalAdminTool/1.0',
    time: new Date(T0 + (i & 0xffff) * 7), // moves within the same working hour
    method: 'GET',
    path: '/hello/world',
    host: 'api.example.com',
    headers: { host: 'api.example.com', 'user-agent': 'Mozilla/5.0', accept: '*/*' }
  }
}

interface Case { name: string, target?: number, run: (i: number) => boolean, policy?: ContainerPolicy }

function measure (c: Case): { median: number, min: number, max: number, allowed: number } {
  let i = 0
  let allowed = 0
  const sample = (ms: number): number => {
    const end = performance.now() + ms
    let n = 0
    while (performance.now() < end) {
      for (let k = 0; k < 1000; k++) if (c.run(i++)) allowed++
      n += 1000
    }
    return n / (ms / 1000)
  }
  sample(300) // warm-up
  const rates: number[] = []
  for (let s = 0; s < SAMPLES; s++) rates.push(sample(SECONDS * 1000))
  rates.sort((a, b) => a - b)
  return { median: rates[SAMPLES >> 1], min: rates[0], max: rates[SAMPLES - 1], allowed }
}

// Inputs prepared up front so the loop measures decide(), not string building.
const officeIps = Array.from({ length: 4096 }, (_, k) => k % 4 === 0 ? `203.0.113.${k & 255}` : `198.51.100.${k & 255}`)
const rnd = (seed: number) => () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0)
const next = rnd(42)
const allowCidrs = Array.from({ length: 10_000 }, () => `${10 + (next() % 200)}.${next() % 256}.${next() % 256}.0/24`)
const listIps = Array.from({ length: 4096 }, (_, k) => {
  if (k % 2 === 0) return allowCidrs[k % allowCidrs.length].replace('.0/24', `.${k & 255}`) // in the list
  return `${10 + (next() % 200)}.${next() % 256}.${next() % 256}.${next() % 256}` // mostly not
})

const bhOffice = compileContainerPolicy('bench', 'public', [{ name: 'office-hours', principals: ['*'], condition: `${BH} && ${OFFICE}` }])
const bigList = compileContainerPolicy('bench', 'public', [{ name: 'allow-list', principals: ['*'], condition: 'inIpRange(request.ip, ipLists.allow)' }], { ipLists: { allow: allowCidrs } })
const uaRule = compileContainerPolicy('bench', 'public', [{ name: 'ua', principals: ['*'], condition: 'request.user_agent.contains("InternalAdminTool/1.0") && request.method == "GET" && request.path.startsWith("/hello")' }])
const regexRule = compileContainerPolicy('bench', 'public', [{ name: 're', principals: ['*'], condition: 'request.user_agent.matches("InternalAdminTool/[0-9.]+$")' }])
const headerRule = compileContainerPolicy('bench', 'public', [{ name: 'hdr', principals: ['*'], condition: '"accept" in request.headers && request.headers["accept"] == "*/*"' }])
const literalList = compileContainerPolicy('bench', 'public', [{ name: 'list', principals: ['*'], condition: `inIpRange(request.ip, [${allowCidrs.slice(0, 100).map((c) => `"${c}"`).join(', ')}])` }])

// The stock library on the same condition, for comparison (its zoned accessors are ~200 µs).
const stockEnv = new Environment()
  .registerVariable({ name: 'request', schema: { ip: 'string', time: 'google.protobuf.Timestamp' } } as never)
  .registerFunction('inIpRange(string, string): bool', (ip: string) => ip.startsWith('198.51.100.'))
const stock = stockEnv.parse(`${BH} && ${OFFICE}`) as unknown as (ctx: unknown) => unknown

// The seed condition through the interpreter, as a condition outside the compiled subset would run.
const interpreted = compileCondition(`${BH} && ${OFFICE}`)

const cases: Case[] = [
  { name: 'business hours && office IP (seed conditions)', target: 200_000, policy: bhOffice, run: (i) => bhOffice.decide(facts(i, officeIps[i & 4095]), ANON).allow },
  { name: 'the same, through the cel-js interpreter', run: (i) => interpreted.evaluate({ request: requestVariable(facts(i, officeIps[i & 4095]), false), principal: ANON }) === true },
  { name: '10,000-CIDR allow-list (ipLists)', target: 100_000, policy: bigList, run: (i) => bigList.decide(facts(i, listIps[i & 4095]), ANON).allow },
  { name: '100-CIDR literal list', policy: literalList, run: (i) => literalList.decide(facts(i, listIps[i & 4095]), ANON).allow },
  { name: 'user agent contains && method && path prefix', policy: uaRule, run: (i) => uaRule.decide(facts(i, officeIps[i & 4095]), ANON).allow },
  { name: 'matches() (RE2) on the user agent', policy: regexRule, run: (i) => regexRule.decide(facts(i, officeIps[i & 4095]), ANON).allow },
  { name: 'header read (headers map built per request)', policy: headerRule, run: (i) => headerRule.decide(facts(i, officeIps[i & 4095]), ANON).allow },
  { name: 'stock @marcbachmann/cel-js 8.0.0, same BH && IP (comparison)', run: (i) => stock({ request: { ip: officeIps[i & 4095], time: new Date(T0 + (i & 0xffff) * 7) } }) === true }
]

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
console.log(`node ${process.version}, TZ=${process.env.TZ ?? '(unset)'}, ${SAMPLES} samples × ${SECONDS}s, median [min–max] decisions/s on one core`)
let failed = false
for (const c of cases) {
  const r = measure(c)
  const verdict = c.target === undefined ? '' : r.median >= c.target ? `  ≥ ${fmt(c.target)} ok` : `  < ${fmt(c.target)} BELOW TARGET`
  if (c.target !== undefined && r.median < c.target) failed = true
  // Which path decide() takes: the compiled closure (src/policy/compiled.ts) or the interpreter.
  const path = c.policy === undefined ? '' : c.policy.rules.every((rule) => rule.condition?.closure !== undefined) ? ' (closure)' : ' (cel-js)'
  console.log(`${(c.name + path).padEnd(62)} ${fmt(r.median).padStart(11)}  [${fmt(r.min)}–${fmt(r.max)}]${verdict}`)
}
process.exitCode = failed ? 1 : 0
