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
import { ALLOWED, DENIED, REFUSED, PATH_MATRIX as MATRIX, type PathRow as Row } from './vectors.js'
import { testCa } from '../helpers/pki.js'

const TOKEN = 'scw-paths-' + Math.random().toString(36).slice(2)

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
