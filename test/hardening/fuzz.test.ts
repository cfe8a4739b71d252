// Property-based fuzzing (fast-check): request targets, header values and policy conditions. Each
// property asserts no crash and a fail-closed outcome; seeds are random, failures print theirs.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { canonicalTarget } from '../../src/proxy/target.js'
import { extractCredential } from '../../src/credentials/authenticate.js'
import { compileContainerPolicy } from '../../src/policy/index.js'
import { ANONYMOUS, type RequestFacts } from '../../src/policy/types.js'
import { ConfigError } from '../../src/errors.js'
import type { TestGateway } from '../helpers/gateway.js'
import { rawExchange, statuses, type RecordingUpstream } from '../helpers/raw.js'
import { startRuleGateway, OFFICE_RULE, type RuleGateway } from './setup.js'

/** Pieces that matter to a path parser, glued at random. */
const PATH_PIECES = [
  '/', '/', '/', '.', '..', '%', '%2e', '%2E', '%2f', '%2F', '%5c', '%5C', '%00', '%3b', '%25', '%c0%ae', '%e0%80%ae',
  '%c3%a9', '%C3', '%ed%a0%80', '%41', '%7e', '%zz', '%2', 'a', 'Z', '0', '~', '-', '_', 'é', '\ud800', '😀',
  ';', '\\', '?', '#', '|', '^', '"', '{', '}', ' ', '\t', '\r', '\n', '\u0000', ':', '@', '!', '$', '&', "'", '(', '+', ',', '='
]
const pathLike = fc.oneof(
  fc.array(fc.constantFrom(...PATH_PIECES), { maxLength: 24 }).map((p) => p.join('')),
  fc.array(fc.constantFrom(...PATH_PIECES), { maxLength: 24 }).map((p) => '/' + p.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => '/' + s)
)

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

describe('fuzz: canonicalTarget', () => {
  test('never throws; what it accepts is canonical, unambiguous and idempotent', () => {
    fc.assert(fc.property(pathLike, (url) => {
      const t = canonicalTarget(url)
      if (t === null) return
      const { path, query } = t
      assert.equal(path.charCodeAt(0), 47)
      assert.ok(!path.includes('//'), 'no empty segment')
      assert.doesNotMatch(path, /[^\x21-\x7e]/, 'printable ASCII only')
      assert.doesNotMatch(path, /[\\;#?"<>^`{|}]/, 'no backslash, ";", "#", "?" or characters that must be escaped')
      assert.doesNotMatch(path, /%(?:2F|5C|00|3B)/i, 'no encoded "/", "\\", NUL or ";"')
      for (const m of path.matchAll(/%(..)/g)) {
        assert.match(m[1], /^[0-9A-F]{2}$/, 'escapes are two upper-case hex digits')
        assert.doesNotMatch(String.fromCharCode(parseInt(m[1], 16)), UNRESERVED, 'unreserved characters are never escaped')
      }
      const decoded = decodeURIComponent(path) // valid UTF-8, or this throws
      const segments = decoded.split('/').slice(1)
      segments.forEach((s, i) => {
        assert.ok(s !== '.' && s !== '..', `no dot segment once decoded: ${JSON.stringify(path)}`)
        assert.ok(s !== '' || i === segments.length - 1 || segments.length === 1, 'no empty segment once decoded')
      })
      assert.ok(query === '' || (query.startsWith('?') && !/[^\x21-\x7e]|#/.test(query)))
      assert.deepEqual(canonicalTarget(path + query), t, 'idempotent')
    }), { numRuns: 3000 })
  })

  test('a segment that decodes to ".." is never accepted, however it is spelled', () => {
    const dot = fc.constantFrom('.', '%2e', '%2E')
    fc.assert(fc.property(fc.constantFrom('/public/', '/'), dot, dot, fc.constantFrom('', '/', '/admin'), (a, d1, d2, b) => {
      assert.equal(canonicalTarget(a + d1 + d2 + b), null)
    }))
  })
})

describe('fuzz: credentials in headers', () => {
  test('extractCredential never throws and refuses ambiguity', () => {
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { minLength: 2, maxLength: 3 }))
    fc.assert(fc.property(fc.option(value, { nil: undefined }), fc.option(fc.string({ maxLength: 60 }), { nil: undefined }), (xat, auth) => {
      const headers: Record<string, string | string[] | undefined> = { 'x-auth-token': xat, authorization: auth }
      const c = extractCredential(headers)
      if (Array.isArray(xat)) assert.equal(c, null, 'several X-Auth-Token lines are ambiguous')
      if (typeof c === 'string') {
        assert.ok(c !== '' && !c.includes(',') && c.trim() === c)
        if (typeof xat === 'string' && /^bearer[ \t]+\S+[ \t]*$/i.test(auth ?? '')) {
          assert.equal(c, xat.trim(), 'both given: they must agree')
        }
      }
    }), { numRuns: 2000 })
  })
})

describe('fuzz: conditions compile or fail as ConfigErrors, and decide fail-closed', () => {
  const TOKENS = [
    'request.ip', 'request.path', 'request.method', 'request.host', 'request.user_agent', 'request.time',
    'request.headers', '["x-a"]', '.x', 'principal', 'principal.id', 'inIpRange(', '"198.51.100.0/24"', '"::/0"', '"bad"',
    ')', '(', '&&', '||', '!', '==', '!=', '<', '.startsWith(', '.endsWith(', '.matches(', '"^a+$"', '"(a+)+$"', 'true', 'false',
    '1', '0', '-1', '1u', '2.5', '+', '-', '*', '/', '%', '[', ']', '{', '}', ':', '?', ',', ' ', 'size(', 'has(', 'int(',
    'string(', 'timestamp(', '"2024-01-01T00:00:00Z"', '.getHours(', '"Europe/Paris"', '"+05:30"', '"Mars/Olympus"',
    'duration(', '"1h"', 'in', '.exists(x, ', 'x', '.all(', '"', "'", '\\', '\n', 'null', 'b"', 'r"'
  ]
  // Well-typed conditions (some of which fail at evaluation: missing header, bad int, x / 0, bad zone).
  const str = fc.oneof(fc.constantFrom('"x-a"', '"/public"', '"^a.*"', '"(a|b)+"', '"12"', '"a"', '""'), fc.string({ maxLength: 8 }).map((x) => JSON.stringify(x)))
  const { bool } = fc.letrec<{ bool: string }>((tie) => ({
    bool: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom('true', 'false'),
      fc.constantFrom('"198.51.100.0/24"', '"::/0"', '"10.0.0.0/8"', '"0.0.0.0/0"').map((c) => `inIpRange(request.ip, ${c})`),
      str.map((x) => `request.path.startsWith(${x})`),
      fc.tuple(str, str).map(([k, v]) => `request.headers[${k}] == ${v}`),
      str.map((x) => `request.user_agent.matches(${x})`),
      fc.tuple(fc.constantFrom('"Europe/Paris"', '"+05:30"', '"UTC"'), fc.integer({ min: -1, max: 25 })).map(([z, h]) => `request.time.getHours(${z}) < ${h}`),
      str.map((x) => `int(${x}) > 0`),
      fc.integer({ min: 0, max: 2 }).map((n) => `1 / ${n} == 0`),
      fc.tuple(tie('bool'), tie('bool')).map(([a, b]) => `(${a}) && (${b})`),
      fc.tuple(tie('bool'), tie('bool')).map(([a, b]) => `(${a}) || (${b})`),
      tie('bool').map((a) => `!(${a})`)
    )
  }))
  const condition = fc.oneof(
    bool,
    fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 12 }).map((t) => t.join('')),
    fc.string({ maxLength: 60 })
  )
  const facts = fc.record({
    ip: fc.oneof(fc.ipV4(), fc.constant('::1'), fc.string({ maxLength: 20 })),
    userAgent: fc.string({ maxLength: 300 }),
    time: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
    method: fc.constantFrom('GET', 'POST', 'DELETE', ''),
    path: fc.string({ maxLength: 30 }),
    host: fc.string({ maxLength: 20 }),
    headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 })), { maxKeys: 4 })
  }) as fc.Arbitrary<RequestFacts>
  const REASONS = new Set(['allowed', 'policy_denied', 'policy_error'])

  test('random sources: compile, or throw ConfigError naming the condition', () => {
    let compiled = 0
    const seen = new Map<string, number>()
    fc.assert(fc.property(condition, fc.array(facts, { minLength: 1, maxLength: 3 }), (src, samples) => {
      let policy
      try {
        policy = compileContainerPolicy('fuzz', 'public', [{ name: 'r', condition: src }])
      } catch (err) {
        assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`)
        assert.equal(err.code, 'TG_ERR_POLICY_INVALID')
        assert.equal(err.path, 'containers.fuzz.policies[0].condition')
        return
      }
      compiled++
      for (const f of samples) {
        const d = policy.decide(f, ANONYMOUS)
        seen.set(d.reason, (seen.get(d.reason) ?? 0) + 1)
        assert.equal(typeof d.allow, 'boolean')
        assert.ok(REASONS.has(d.reason), d.reason)
        assert.equal(d.allow, d.reason === 'allowed', 'allowed only by a granting rule')
        // The same decision again (no hidden state), and explain() agrees.
        assert.deepEqual(policy.decide(f, ANONYMOUS), d)
        assert.equal(policy.explain(f, ANONYMOUS).decision.allow, d.allow)
      }
    }), { numRuns: 600 })
    assert.ok(compiled > 0, 'some random conditions compiled (the property was exercised)')
    assert.deepEqual([...seen.keys()].sort(), [...REASONS].sort(), 'grants, denials and evaluation errors all happened')
  })

  test('a condition that errors at evaluation denies', () => {
    const policy = compileContainerPolicy('fuzz', 'public', [{ name: 'r', condition: 'request.headers["x-a"] == "1"' }])
    fc.assert(fc.property(facts, (f) => {
      const d = policy.decide({ ...f, headers: {} }, ANONYMOUS)
      assert.equal(d.allow, false, 'a missing key is an evaluation error: denied')
    }), { numRuns: 200 })
  })
})

describe('fuzz: header sets through a running gateway', () => {
  const TOKEN = 'scw-fuzz-' + Math.random().toString(36).slice(2)
  let rec: RecordingUpstream
  let gw: TestGateway
  let env: RuleGateway
  before(async () => {
    env = await startRuleGateway({ token: TOKEN, office: `${OFFICE_RULE} || request.headers["x-office"] == "yes"`, server: { logLevel: 'silent' } })
    ;({ gw, rec } = env)
  })
  after(async () => { await env.close() })

  const NAMES = [
    'X-Forwarded-For', 'X-Real-IP', 'Forwarded', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'X-Auth-Token', 'x-auth-token',
    'Authorization', 'Connection', 'TE', 'Upgrade', 'Keep-Alive', 'Proxy-Authorization', 'X-Office', 'X-Custom', 'Cookie',
    'X_Office', 'Expect', 'Content-Length', 'Transfer-Encoding', 'Host', 'User-Agent', 'X-Request-Id'
  ]
  // Field values without CR, LF or NUL (those are framing, covered by the vector matrix).
  const fieldValue = fc.string({ unit: fc.integer({ min: 1, max: 255 }).filter((c) => c !== 10 && c !== 13).map((c) => String.fromCharCode(c)), maxLength: 30 })
  const headerSet = fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.oneof(fieldValue, fc.constantFrom('198.51.100.7', 'x-office', 'close, x-office', 'yes', 'chunked', '0', 'Bearer x'))), { maxLength: 6 })

  test('office-only paths are never served to a client outside the office; nothing crashes', async () => {
    await fc.assert(fc.asyncProperty(headerSet, fc.constantFrom('/admin', '/public/x', '/%61dmin'), async (headers, path) => {
      const mark = rec.chunks.length
      const head = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')
      const hasHost = headers.some(([n]) => n === 'Host')
      const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 5000 }, `GET ${path} HTTP/1.1\r\n${hasHost ? '' : 'Host: localhost\r\n'}${head}Connection: close\r\n\r\n`)
      const status = statuses(r.data).find((s) => s >= 200) ?? 0
      assert.ok(status > 0 && status < 500, `answered, never a 5xx: ${JSON.stringify(r.data.slice(0, 120))}`)
      const seen = rec.text(mark)
      const officeHeader = headers.some(([n, v]) => n === 'X-Office' && v === 'yes')
      if (!path.startsWith('/public') && !officeHeader) {
        assert.notEqual(status, 200)
        assert.equal(seen, '', 'nothing reached the upstream')
      }
      if (status === 200) {
        const upstreamHead = seen.slice(0, seen.indexOf('\r\n\r\n'))
        assert.equal(upstreamHead.match(/^x-auth-token: /gim)?.length, 1)
        assert.ok(upstreamHead.includes(`\r\nx-auth-token: ${TOKEN}`))
        assert.ok(upstreamHead.includes('\r\nx-forwarded-for: 127.0.0.1\r\n'), 'the client IP is the socket peer, whatever the headers say')
      }
    }), { numRuns: 250 })
  })
})
