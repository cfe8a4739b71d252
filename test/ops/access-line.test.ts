// The access line is built by hand (src/observability/access.ts); it must be the line pino itself
// would write for the same fields, whatever the strings in it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import pino from 'pino'
import { createObserver, centis, jsonString } from '../../src/observability/access.js'
import { createLogger } from '../../src/observability/logger.js'
import { ANONYMOUS } from '../../src/policy/index.js'
import type { ExchangeRecord } from '../../src/exchange.js'

test('jsonString is JSON.stringify for any string (quotes, control characters, lone surrogates)', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()), (s) => {
    assert.equal(jsonString(s), JSON.stringify(s))
  }), { numRuns: 5000 })
})

test('centis prints milliseconds as String(Math.round(ms * 100) / 100) does', () => {
  const want = (v: number): string => String(Math.round(v * 100) / 100)
  fc.assert(fc.property(fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }),
    fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 1000), fc.double({ min: 1e13, max: 1e300, noNaN: true }), fc.double({ min: 1e12, max: 1e14, noNaN: true })), (v) => {
    assert.equal(centis(v), want(v))
  }), { numRuns: 20000 })
  for (const v of [0, 0.004, 0.005, 0.05, 0.1, 1, 7.96, 8.5, 10.005, 99.999, 72334791460554.6, 9999999999999.99, 1e13]) assert.equal(centis(v), want(v), String(v))
})

test('the hand-built access line is the line pino writes for the same fields', () => {
  const lines = (withPinoPath: boolean): string[] => {
    const out: string[] = []
    const destination = { write: (s: string) => { out.push(s) } }
    // A mixin makes the observer log through pino itself (its framing would skip it).
    const logger = withPinoPath
      ? pino({ level: 'info', base: { name: 'tollgate' }, timestamp: pino.stdTimeFunctions.isoTime, mixin: () => ({}) }, destination)
      : createLogger('info', destination)
    const observer = createObserver({ logger, accessLog: true })
    for (const x of exchanges()) observer.done(x)
    return out
  }
  const fields = (line: string): Record<string, unknown> => {
    const o = JSON.parse(line) as Record<string, unknown>
    delete o.time
    delete o.ms // measured at the call
    return o
  }
  const fast = lines(false)
  const slow = lines(true)
  assert.equal(fast.length, slow.length)
  assert.ok(fast.length >= 6)
  for (let i = 0; i < fast.length; i++) {
    assert.ok(fast[i].endsWith('\n'))
    assert.deepEqual(fields(fast[i]), fields(slow[i]), fast[i])
    assert.match(fast[i], /^\{"level":30,"time":"\d{4}-\d\d-\d\dT[\d:.]+Z","name":"tollgate","type":/)
  }
})

function exchanges (): ExchangeRecord[] {
  const base: ExchangeRecord = {
    requestId: '8749e043-758a-4b12-9410-1a27325f0977',
    start: performance.now() - 7.96,
    method: 'GET',
    path: '/hello/bench',
    host: 'api.example.com',
    ip: '198.51.100.7',
    container: 'hello',
    reason: 'allowed',
    allowed: true,
    rule: 'office-hours',
    principal: ANONYMOUS,
    status: 200,
    bytes: 18,
    upstreamStart: 1,
    upstreamEnd: 4.53,
    injected: true,
    rotated: false,
    scheme: 'https'
  }
  return [
    base,
    { ...base, path: '/a"b\\c\u0001\u2028é\ud800', rule: 'rule "x"\n' },
    { ...base, container: undefined, rule: undefined, reason: 'no_route', allowed: false, status: 404, upstreamEnd: 0, bytes: Number.NaN },
    { ...base, principal: { kind: 'jwt', id: 'sub "with" quotes\u0000', owner: false, claims: {} }, reason: 'allowed' },
    { ...base, reason: 'policy_denied', allowed: false, status: 403 },
    { ...base, host: '[::1]', ip: '::1', method: 'DELETE', start: performance.now() - 123456.789 }
  ]
}
