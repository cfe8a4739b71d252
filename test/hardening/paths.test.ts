// Policy bypass by path tricks. One container at "/" whose rules open `/public…` to everyone and
// the rest to the office range only; tests connect from 127.0.0.1 (not the office). Every spelling
// below is either refused (400/405), denied (403), or allowed — and then the upstream receives the
// canonical path the condition was decided on. Nothing outside `/public` ever reaches it.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect, constants as h2 } from 'node:http2'
import type { TestGateway } from '../helpers/gateway.js'
import { rawExchange, statuses, type RecordingUpstream } from '../helpers/raw.js'
import { startRuleGateway, type RuleGateway } from './setup.js'
import { testCa } from '../helpers/pki.js'

const TOKEN = 'scw-paths-' + Math.random().toString(36).slice(2)

interface Row {
  target: string
  method?: string
  /** Expected status; 0 = the connection is closed without an answer; -1 = the HTTP/2 stream is reset. */
  status: number
  /** For 200: the path (and query) the upstream must receive. */
  forwarded?: string
  reason?: string
}

const ALLOWED = (target: string, forwarded: string): Row => ({ target, status: 200, forwarded })
const DENIED = (target: string): Row => ({ target, status: 403, reason: 'policy_denied' })
const REFUSED = (target: string, reason = 'path_not_canonical'): Row => ({ target, status: 400, reason })

export const MATRIX: Row[] = [
  ALLOWED('/public', '/public'),
  ALLOWED('/public/x?a=1&b=%2F', '/public/x?a=1&b=%2F'),
  ALLOWED('/%70ublic/x', '/public/x'),
  ALLOWED('/%70%75%62%6c%69%63', '/public'),
  ALLOWED('/public/%7e%41', '/public/~A'),
  ALLOWED('/public/caf%c3%a9', '/public/caf%C3%A9'),
  ALLOWED('/public/a|b', '/public/a%7Cb'),
  ALLOWED('/public/a"b', '/public/a%22b'),
  ALLOWED('/public/a{b}', '/public/a%7Bb%7D'),
  ALLOWED('/public?/../admin', '/public?/../admin'),
  ALLOWED('/public/...', '/public/...'),
  ALLOWED('/public/x%3Fy', '/public/x%3Fy'),
  ALLOWED('/public%252F..%252Fadmin', '/public%252F..%252Fadmin'),
  DENIED('/admin'),
  DENIED('/'),
  DENIED('/PUBLIC/x'),
  DENIED('/%50ublic/x'),
  DENIED('/admin?/public'),
  DENIED('/admin/public'),
  DENIED('/%61dmin'),
  REFUSED('/public/../admin'),
  REFUSED('/public/./admin'),
  REFUSED('/public/..'),
  REFUSED('/public/.'),
  REFUSED('/./admin'),
  REFUSED('/public/%2e%2e/admin'),
  REFUSED('/public/.%2e/admin'),
  REFUSED('/public/%2E%2E%2Fadmin'),
  REFUSED('/public%2F..%2Fadmin'),
  REFUSED('/public%2f..%2fadmin'),
  REFUSED('/public%5C..%5Cadmin'),
  REFUSED('/public\\..\\admin'),
  REFUSED('/public\\admin'),
  REFUSED('/public%00'),
  REFUSED('/public/%00/../admin'),
  REFUSED('/public;/../admin'),
  REFUSED('/public;x=1'),
  REFUSED('/public%3B/../admin'),
  REFUSED('//admin'),
  REFUSED('/public//admin'),
  REFUSED('/%2Fadmin'),
  REFUSED('/public/%c0%ae%c0%ae/admin'),
  REFUSED('/public/%e0%80%ae%e0%80%ae/admin'),
  REFUSED('/public/%c0%af'),
  REFUSED('/public/%ed%a0%80'),
  REFUSED('/public%23/../admin'),
  REFUSED('/public/%zz'),
  REFUSED('/public%'),
  REFUSED('/public%0d%0aX-Injected:%20x'),
  REFUSED('/public%09'),
  // Absolute-form (RFC 9112 §3.2.2): its authority stands for Host, which must then say the same.
  ALLOWED('http://localhost/public', '/public'),
  ALLOWED('HTTPS://LOCALHOST/%70ublic?q', '/public?q'),
  DENIED('http://localhost/admin'),
  REFUSED('http://localhost/public/../admin'),
  REFUSED('http://evil.example/admin', 'header_duplicate_host'),
  REFUSED('http://evil.example/public', 'header_duplicate_host'),
  REFUSED('ftp://localhost/public', 'bad_request'),
  REFUSED('http://user@localhost/public', 'header_duplicate_host'),
  { target: 'public', status: 400 }, // llhttp
  { target: '*', method: 'OPTIONS', status: 405, reason: 'method_not_allowed' },
  { target: '/public', method: 'TRACE', status: 405, reason: 'method_not_allowed' },
  // Node hands CONNECT to a 'connect' listener, of which there is none: the socket is closed.
  { target: 'localhost:443', method: 'CONNECT', status: 0 },
  { target: '/public', method: 'CONNECT', status: 0 }
]

describe('paths: bypass matrix against a path-based rule', () => {
  let rec: RecordingUpstream
  let gw: TestGateway
  let env: RuleGateway
  before(async () => {
    env = await startRuleGateway({ token: TOKEN })
    ;({ gw, rec } = env)
  })
  after(async () => {
    // Whatever happened above: every request the upstream ever saw is inside the rule.
    const lines = [...rec.text().matchAll(/(?:^|\r\n\r\n)([A-Z]+) (\S+) HTTP\/1\.1\r\n/g)].map((m) => m[2])
    await env.close()
    assert.ok(lines.length > 0)
    for (const path of lines) assert.match(path, /^\/public(?:[/?%]|$)/, `the upstream only ever sees /public…: ${path}`)
  })

  for (const listener of ['http', 'tls'] as const) {
    describe(`HTTP/1.1 on the ${listener === 'http' ? 'plain' : 'TLS'} listener`, () => {
      for (const row of MATRIX) {
        const method = row.method ?? 'GET'
        test(`${method} ${row.target} → ${row.status === 0 ? 'closed' : row.status}`, async () => {
          const mark = rec.chunks.length
          const port = listener === 'http' ? gw.addr.http!.port : gw.addr.https.port
          const r = await rawExchange({ port, tls: listener === 'tls', waitMs: 3000 }, `${method} ${row.target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
          assert.ok(r.closed)
          assert.deepEqual(statuses(r.data), row.status === 0 ? [] : [row.status], r.data.slice(0, 200))
          if (row.reason !== undefined) assert.match(r.data, new RegExp(`"reason":"${row.reason}"`))
          checkUpstream(mark, method, row)
        })
      }
    })
  }

  describe('HTTP/2 (the :path pseudo-header, which llhttp never sees)', () => {
    const H2_ROWS: Row[] = [
      ALLOWED('/%70ublic/x', '/public/x'),
      ALLOWED('/public/caf\u00e9', '/public/caf%C3%A9'),
      ALLOWED('/public/a^b', '/public/a%5Eb'),
      DENIED('/admin'),
      REFUSED('/public/../admin'),
      REFUSED('/public%2F..%2Fadmin'),
      REFUSED('//admin'),
      REFUSED('/public\\..\\admin'),
      // nghttp2 resets the stream for a :path with whitespace, a lone surrogate or no leading "/".
      { target: '/public/a b', status: -1 },
      { target: '/public/a\tb', status: -1 },
      { target: '/public/\ud800', status: -1 },
      { target: '/public?a b', status: -1 },
      { target: 'public', status: -1 },
      { target: '*', method: 'OPTIONS', status: 405 },
      { target: '/public', method: 'TRACE', status: 405 }
    ]
    for (const row of H2_ROWS) {
      const method = row.method ?? 'GET'
      test(`${method} ${JSON.stringify(row.target)} → ${row.status === -1 ? 'stream reset' : row.status}`, async () => {
        const mark = rec.chunks.length
        const status = await h2request(gw.addr.https.port, method, row.target).catch((err: NodeJS.ErrnoException) => {
          assert.equal(err.code, 'ERR_HTTP2_STREAM_ERROR')
          return -1
        })
        assert.equal(status, row.status)
        checkUpstream(mark, method, row)
      })
    }
  })

  function checkUpstream (mark: number, method: string, row: Row): void {
    const seen = rec.text(mark)
    if (row.forwarded === undefined) {
      assert.equal(seen, '', 'nothing reached the upstream')
      return
    }
    assert.ok(seen.startsWith(`${method} ${row.forwarded} HTTP/1.1\r\n`), `the upstream got the canonical path: ${JSON.stringify(seen.slice(0, 80))}`)
    assert.ok(seen.includes(`\r\nx-auth-token: ${TOKEN}\r\n`))
  }
})

/** One HTTP/2 request with a raw :path; resolves with the status. */
function h2request (port: number, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://localhost:${port}`, { ca: testCa().cert })
    session.on('error', reject)
    const req = session.request({ [h2.HTTP2_HEADER_METHOD]: method, [h2.HTTP2_HEADER_PATH]: path })
    req.on('response', (headers) => {
      resolve(Number(headers[h2.HTTP2_HEADER_STATUS]))
      req.resume()
      req.on('close', () => session.close())
    })
    req.on('error', (err) => { session.destroy(); reject(err) })
    req.end()
  })
}
