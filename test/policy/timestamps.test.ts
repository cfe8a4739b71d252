// Timestamp accessors: the conformance table (timestamp-cases.ts, sources cited there) in this
// process and in child processes under other process time zones, plus a property test of the zone
// arithmetic against ICU's own wall clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { CASES } from './timestamp-cases.js'
import { runCases } from './conformance-runner.js'
import { civilFields, localMs, pinZone, resolveZone } from '../../src/policy/time.js'

for (const c of CASES) {
  test(`conformance: ${c.name}`, () => {
    assert.deepEqual(runCases([c]), [])
  })
}

// The same table under process zones whose offsets and DST rules differ from UTC. (npm test runs
// with TZ=UTC; the stock library passed there and failed under these.)
const runnerUrl = new URL(import.meta.url.endsWith('.ts') ? './conformance-runner.ts' : './conformance-runner.js', import.meta.url)
for (const [tz, janOffset] of [['America/New_York', 300], ['Australia/Lord_Howe', -660]] as const) {
  test(`conformance table passes in a child process under TZ=${tz}`, () => {
    const args = import.meta.url.endsWith('.ts') ? ['--import', 'tsx', fileURLToPath(runnerUrl)] : [fileURLToPath(runnerUrl)]
    const r = spawnSync(process.execPath, args, { env: { ...process.env, TZ: tz }, encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, `runner failed: ${r.stdout}${r.stderr}`)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}')
    assert.equal(out.janOffset, janOffset, 'the child really ran under the requested TZ')
    assert.equal(out.passed, CASES.length)
    assert.deepEqual(out.failed, [])
  })
}

const ZONES = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns',
  'Pacific/Chatham', 'Africa/Casablanca', 'Europe/Dublin', 'Pacific/Apia', 'UTC']

const oracleFormats = new Map<string, Intl.DateTimeFormat>()
function oracle (t: number, zone: string): Record<string, number> {
  let f = oracleFormats.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric'
    })
    oracleFormats.set(zone, f)
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]))
  return {
    year: Number(p.year),
    month: Number(p.month) - 1,
    date: Number(p.day),
    dayOfWeek: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday),
    hours: Number(p.hour),
    minutes: Number(p.minute),
    seconds: Number(p.second)
  }
}

test('zone arithmetic agrees with ICU wall-clock fields (random instants, DST-heavy zones)', () => {
  // Instants 1990–2040, and instants within an hour of each zone's transitions in 2026.
  const transitions = ZONES.flatMap((z) => {
    const zone = pinZone(z)
    const out: number[] = []
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 3_600_000) {
      if (zone.offsetAt(t) !== zone.offsetAt(t + 3_600_000)) out.push(t)
    }
    return out
  })
  assert.ok(transitions.length >= 10, 'the sample zones have DST transitions in 2026')
  const instant = fc.oneof(
    fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) }),
    fc.tuple(fc.constantFrom(...transitions), fc.integer({ min: -3_600_000, max: 7_200_000 })).map(([t, d]) => t + d)
  )
  fc.assert(fc.property(instant, fc.constantFrom(...ZONES), (t, z) => {
    const f = civilFields(localMs(t, resolveZone(z)))
    const want = oracle(t, z)
    const got = { year: f.year, month: f.month, date: f.date, dayOfWeek: f.dayOfWeek, hours: f.hours, minutes: f.minutes, seconds: f.seconds }
    assert.deepEqual(got, want, `${new Date(t).toISOString()} in ${z}`)
  }), { numRuns: 3000 })
})

test('fixed offsets follow cel-go: optional sign, minutes 0-59; anything else with ":" is rejected', () => {
  assert.equal(resolveZone('+05:30').offsetAt(0), 5.5 * 3_600_000)
  assert.equal(resolveZone('05:30').offsetAt(0), 5.5 * 3_600_000)
  assert.equal(resolveZone('-02:30').offsetAt(0), -2.5 * 3_600_000)
  assert.equal(resolveZone('-00:00').offsetAt(0), 0)
  for (const bad of ['+5:30', '+05:60', '+05:3', 'Europe:Paris', '+05:30:00', '']) {
    assert.throws(() => resolveZone(bad), RangeError, bad)
  }
  assert.throws(() => resolveZone('Mars/Olympus'), /unknown time zone "Mars\/Olympus"/)
})
