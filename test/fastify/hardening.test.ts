// The hardening matrices against the Fastify plugin: the same container at "/" as the standalone
// server's hardening suite (`/public…` open, the rest for the office range only) behind a raw
// recording upstream, in a Fastify app on a plain listener, raw bytes from a raw socket. The path
// matrix, the smuggling matrix and the header rules: every request is refused, denied, or
// allowed with the canonical path; nothing outside `/public` ever reaches the upstream; what is
// pipelined behind a refused request is never served. Where the app's Node server or Fastify's
// router answers before tollgate (a request that never reaches tollgate's routes), the answer is
// theirs, and the upstream sees nothing all the same.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, rawExchange, statuses, startRecordingUpstream, type RecordingUpstream } from '../helpers/raw.js'
import { ACCEPTED, PATH_MATRIX, PIPELINED, VECTORS, materialise, type PathRow } from '../hardening/vectors.js'
import { ruleContainer } from '../hardening/setup.js'
import { startPluginApp, type PluginApp } from './helpers.js'

const TOKEN = 'scw-fastify-hardening-' + Math.random().toString(36).slice(2)

/**
 * Rows the plugin answers otherwise than `tollgate serve`, and why. Each is refused all the same,
 * and nothing reaches the upstream.
 */
const BAD_URL = { status: 400, code: 'FST_ERR_BAD_URL', why: 'Fastify\'s router cannot decode the path: it answers 400 before any route (tollgate\'s included) runs' }
const OTHERWISE: Record<string, Omit<PathRow, 'target'> & { code?: string, why: string }> = {
  'GET /public/...': { status: 400, reason: 'path_not_canonical', why: '@fastify/reply-from refuses a path with a segment that starts or ends with ".." (docs/fastify.md)' },
  'GET /public/%c0%ae%c0%ae/admin': BAD_URL,
  'GET /public/%e0%80%ae%e0%80%ae/admin': BAD_URL,
  'GET /public/%c0%af': BAD_URL,
  'GET /public/%ed%a0%80': BAD_URL,
  'GET /public/%zz': BAD_URL,
  'GET /public%': BAD_URL,
  'GET ftp://localhost/public': BAD_URL
}

/**
 * Vectors the app's Node server answers by itself (no Fastify route runs), keeping the connection
 * open: what is pipelined behind is then served on its own merit (a sound request, decided and
 * forwarded as any). `tollgate serve` sets its own server's options so that it refuses these
 * itself and closes; the plugin leaves the app's server as the app configured it.
 */
const NODE_ANSWERS: Record<string, { status: number, why: string }> = {
  'host-missing': { status: 400, why: 'Node\'s requireHostHeader (default on) answers 400 itself' },
  'expect-unknown': { status: 417, why: 'Node answers an Expect other than 100-continue with 417 itself (no checkExpectation listener)' }
}

/** The final (non-1xx) statuses in a raw exchange. */
function finals (data: string): number[] {
  return statuses(data).filter((s) => s >= 200)
}

describe('tollgate/fastify: the hardening matrices', () => {
  let rec: RecordingUpstream
  let t: PluginApp
  before(async () => {
    rec = await startRecordingUpstream()
    t = await startPluginApp({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        server: { accessLog: false },
        containers: { app: { ...ruleContainer(rec.url), bodyLimit: 1024 } }
      }
    })
  })
  after(async () => {
    const lines = [...rec.text().matchAll(/(?:^|\r\n\r\n)([A-Z]+) (\S+) HTTP\/1\.1\r\n/g)].map((m) => m[2])
    await t?.close()
    await rec?.close()
    assert.ok(lines.length > 0)
    for (const path of lines) assert.match(path, /^\/public(?:[/?%]|$)/, `the upstream only ever sees /public…: ${path}`)
  })

  describe('paths', () => {
    for (const row of PATH_MATRIX) {
      const method = row.method ?? 'GET'
      const expected: Omit<PathRow, 'target'> & { code?: string } = OTHERWISE[`${method} ${row.target}`] ?? row
      test(`${method} ${row.target} → ${expected.status === 0 ? 'closed' : expected.status}`, async () => {
        const mark = rec.chunks.length
        const r = await rawExchange({ port: t.port, waitMs: 3000 }, `${method} ${row.target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
        assert.ok(r.closed)
        assert.deepEqual(statuses(r.data), expected.status === 0 ? [] : [expected.status], r.data.slice(0, 300))
        if (expected.reason !== undefined) assert.match(r.data, new RegExp(`"reason":"${expected.reason}"`))
        if (expected.code !== undefined) assert.match(r.data, new RegExp(`"code":"${expected.code}"`))
        const seen = rec.text(mark)
        if (expected.forwarded === undefined) assert.equal(seen, '', 'nothing reached the upstream')
        else {
          assert.ok(seen.startsWith(`${method} ${expected.forwarded} HTTP/1.1\r\n`), `the upstream got the canonical path: ${JSON.stringify(seen.slice(0, 80))}`)
          assert.ok(seen.includes(`\r\nx-auth-token: ${TOKEN}\r\n`))
        }
      })
    }
  })

  describe('framing: refused, nothing forwarded, nothing pipelined behind served', () => {
    for (const v of VECTORS) {
      const node = NODE_ANSWERS[v.id]
      test(`${v.id}: ${v.name}${node !== undefined ? ' (the app\'s server answers)' : ''}`, async () => {
        const mark = rec.chunks.length
        const r = await rawExchange({ port: t.port, waitMs: 3000, until: node === undefined ? undefined : (d) => finals(d).length === 2 }, materialise(v.raw) + materialise(PIPELINED))
        if (node !== undefined) {
          assert.equal(finals(r.data)[0], node.status, r.data.slice(0, 300))
          // Node has parsed the pipelined request already: it may be forwarded (even when Node closes
          // the connection before its answer), alone and sound.
          await eventually(() => rec.text(mark) !== '', 1000)
          const seen = rec.text(mark)
          assert.ok(seen === '' || /^GET \/public\/pipelined HTTP\/1\.1\r\n(?:(?!\r\n\r\n)[^])*\r\n\r\n$/.test(seen), `only the pipelined request, on its own: ${JSON.stringify(seen)}`)
          return
        }
        assert.deepEqual(finals(r.data), [v.status ?? 400], `one answer, the pipelined request never served: ${JSON.stringify(r.data.slice(0, 300))}`)
        assert.ok(r.closed, 'the connection is closed')
        assert.equal(rec.text(mark), '', 'nothing reached the upstream')
      })
    }
  })

  describe('accepted near the edge: served, and the upstream sees one sound request', () => {
    for (const a of ACCEPTED) {
      test(`${a.id}: ${a.name}`, async () => {
        const mark = rec.chunks.length
        const r = await rawExchange({ port: t.port, waitMs: 5000, until: (d) => /\r\n\r\nseen: [^\r]* HTTP\/1\.1$/.test(d) }, materialise(a.raw))
        assert.deepEqual(finals(r.data), [200], r.data.slice(0, 300))
        const seen = rec.text(mark)
        assert.equal([...seen.matchAll(/\r\nx-auth-token: /gi)].length, 1, 'exactly one X-Auth-Token upstream')
        assert.ok(seen.includes(`\r\nx-auth-token: ${TOKEN}\r\n`))
        assert.ok(!/\r\n(upgrade|http2-settings|te|transfer-encoding: chunked\r\n.*\r\nhost: evil)/i.test(seen.split('\r\n\r\n')[0]))
      })
    }
  })

  describe('header rules', () => {
    test('Connection: x-auth-token, x-forwarded-for, x-forwarded-proto cannot strip what tollgate adds', async () => {
      const mark = rec.chunks.length
      const r = await rawExchange({ port: t.port, until: (d) => d.includes('seen: ') },
        'GET /public/conn HTTP/1.1\r\nHost: localhost\r\nConnection: x-auth-token, x-forwarded-for, x-forwarded-proto, x-request-id\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n')
      assert.deepEqual(statuses(r.data), [200])
      const head = rec.text(mark).split('\r\n\r\n')[0] + '\r\n'
      assert.ok(head.includes(`\r\nx-auth-token: ${TOKEN}\r\n`))
      assert.ok(head.includes('\r\nx-forwarded-for: 127.0.0.1\r\n'), 'the one trusted client IP, not what the client wrote')
      assert.ok(head.includes('\r\nx-forwarded-proto: http\r\n'))
      assert.ok(/\r\nx-request-id: [0-9a-f-]{36}\r\n/.test(head))
      assert.ok(!head.includes('198.51.100.7'))
    })

    test('an office X-Forwarded-For from an untrusted peer opens nothing', async () => {
      const mark = rec.chunks.length
      const r = await rawExchange({ port: t.port, waitMs: 3000 }, 'GET /admin HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.7\r\nForwarded: for=198.51.100.7\r\nConnection: close\r\n\r\n')
      assert.deepEqual(statuses(r.data), [403])
      assert.equal(rec.text(mark), '')
    })

    for (const [name, raw, reason] of [
      ['X_Auth_Token (underscore alias)', 'X_Auth_Token: attacker\r\n', 'header_underscore'],
      ['X-Forwarded_For (underscore alias)', 'X-Forwarded_For: 198.51.100.7\r\n', 'header_underscore'],
      ['a second Host', 'Host: other.example\r\n', 'header_duplicate_host']
    ]) {
      test(`${name}: 400 ${reason}, the connection closed, nothing forwarded`, async () => {
        const mark = rec.chunks.length
        const r = await rawExchange({ port: t.port, waitMs: 3000 }, `GET /public/h HTTP/1.1\r\nHost: localhost\r\n${raw}\r\n` + materialise(PIPELINED))
        assert.deepEqual(statuses(r.data), [400], r.data.slice(0, 300))
        assert.match(r.data, new RegExp(`"reason":"${reason}"`))
        assert.match(r.data, /\r\nconnection: close\r\n/i)
        assert.ok(r.closed)
        assert.equal(rec.text(mark), '')
      })
    }
  })
})
