// `tollgate check` and `tollgate policy test` know rate limits, CORS, stripPrefix and header rules:
// check refuses a bad one naming the field (exit 2); policy test shows what CORS and stripPrefix do
// and says a rate limit is not something it can decide.
import { test, describe, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { BIN } from '../helpers/root.js'
import { captureIo } from '../helpers/io.js'
import { writePki } from '../helpers/pki.js'
import { runPolicy } from '../../src/cli/policy.js'

const SERVER = { listen: { https: { port: 8443 } }, tls: { cert: 'cert.pem', key: 'key.pem' } }

function write (config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-features-'))
  writePki(dir) // cert.pem and key.pem: check reads them as serve would
  const file = join(dir, 'tollgate.yaml')
  writeFileSync(file, stringify({ server: SERVER, ...config }))
  return file
}

/** `check --offline`: the Redis of these configs does not exist; everything else is checked. */
function check (file: string): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'check', '--config', file, '--offline'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, T: 'token' } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const app = (extra: Record<string, unknown>): Record<string, unknown> =>
  ({ containers: { app: { upstream: 'http://127.0.0.1:9', match: { path: '/api' }, token: '${env:T}', privacy: 'public', ...extra } } })

describe('tollgate check', () => {
  test('accepts every feature at once', () => {
    const r = check(write({
      server: { ...SERVER, rateLimit: { redis: 'rediss://:pw@redis.internal:6380/2', timeout: 150, keyPrefix: 'prod' } },
      ...app({
        stripPrefix: true,
        // private (no credentials configured: every client is refused, legal): `by: principal` counts keys
        privacy: 'private',
        rateLimit: [{ name: 'per-client', requests: 100, per: '1m', by: 'ip' }, { name: 'per-key', requests: 10, per: '10s', by: 'principal' }, { name: 'per-tenant', requests: 5, per: '1h', by: 'header:X-Tenant' }],
        cors: { origins: ['https://app.example.com'], methods: ['GET', 'POST'], headers: ['content-type'], credentials: true, maxAge: 600 },
        headers: { request: { set: { 'x-tenant': 'acme' }, remove: ['cookie'] }, response: { set: { 'cache-control': 'no-store' }, remove: ['server'] } }
      })
    }))
    assert.equal(r.stderr, '')
    assert.equal(r.status, 0)
  })

  const REFUSED: Array<[string, Record<string, unknown>, RegExp]> = [
    ['origins ["*"] with credentials', app({ cors: { origins: ['*'], credentials: true } }), /^tollgate: containers\.app\.cors\.credentials: origins \["\*"\] with credentials: true is refused/],
    ['"*" among other origins', app({ cors: { origins: ['*', 'https://a.example'] } }), /containers\.app\.cors\.origins: "\*" stands alone/],
    ['an origin with a path', app({ cors: { origins: ['https://app.example.com/x'] } }), /containers\.app\.cors\.origins\[0\]: expected an origin/],
    ['an origin without a scheme', app({ cors: { origins: ['app.example.com'] } }), /containers\.app\.cors\.origins\[0\]: expected an origin/],
    ['an unknown cors key', app({ cors: { origins: ['*'], allowOrigins: ['*'] } }), /containers\.app\.cors\.allowOrigins: unknown key/],
    ['two limits with one name', app({ rateLimit: [{ name: 'a', requests: 1, per: '1s' }, { name: 'a', requests: 2, per: '1m' }] }), /containers\.app\.rateLimit\[1\]\.name: two limits are named "a"/],
    ['a window over a day', app({ rateLimit: [{ name: 'a', requests: 1, per: '2d' }] }), /containers\.app\.rateLimit\[0\]\.per: at most one day/],
    ['a window in weeks', app({ rateLimit: [{ name: 'a', requests: 1, per: '1w' }] }), /containers\.app\.rateLimit\[0\]\.per: /],
    ['zero requests', app({ rateLimit: [{ name: 'a', requests: 0, per: '1s' }] }), /containers\.app\.rateLimit\[0\]\.requests: /],
    ['an unknown key to count by', app({ rateLimit: [{ name: 'a', requests: 1, per: '1s', by: 'cookie' }] }), /containers\.app\.rateLimit\[0\]\.by: /],
    ['a Redis URL that is not redis://', { server: { ...SERVER, rateLimit: { redis: 'http://redis:6379' } }, ...app({}) }, /server\.rateLimit\.redis: expected a redis:\/\/ or rediss:\/\/ URL/],
    ['a header rule on X-Auth-Token', app({ headers: { request: { set: { 'X-Auth-Token': 'x' } } } }), /containers\.app\.headers\.request\.set\.X-Auth-Token: refused/],
    ['a header rule on Transfer-Encoding', app({ headers: { response: { remove: ['Transfer-Encoding'] } } }), /containers\.app\.headers\.response\.remove\[0\]: refused: transfer-encoding is a framing/]
  ]
  for (const [what, config, error] of REFUSED) {
    test(`refuses ${what}, exit 2, one line naming the field`, () => {
      const r = check(write(config))
      assert.equal(r.status, 2, r.stdout + r.stderr)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, error)
      assert.ok(!r.stderr.includes(':pw@'))
    })
  }
})

describe('tollgate policy test', () => {
  let file: string
  before(() => {
    file = write({
      containers: {
        app: {
          upstream: 'http://127.0.0.1:9',
          match: { path: '/api' },
          token: '${env:T}',
          privacy: 'private',
          stripPrefix: true,
          cors: { origins: ['https://app.example.com'], methods: ['GET', 'POST'], credentials: true },
          rateLimit: [{ name: 'per-client', requests: 100, per: '1m' }]
        },
        site: { upstream: 'http://127.0.0.1:9', match: { path: '/' }, token: '${env:T}', privacy: 'public', stripPrefix: true, rateLimit: [{ name: 'per-client', requests: 5, per: '1s' }] }
      }
    })
  })

  async function policyTest (args: string[]): Promise<{ code: number, out: string, err: string }> {
    const io = captureIo()
    const code = await runPolicy(['test', '--config', file, ...args], { stdout: io.stdout, stderr: io.stderr, env: {} })
    return { code, out: io.out(), err: io.err() }
  }

  const PREFLIGHT = ['--method', 'OPTIONS', '--url', 'https://x.example/api/items', '--header', 'Access-Control-Request-Method: POST']

  test('a preflight from an allowed origin: answered 204 by tollgate, no credential needed, not forwarded', async () => {
    const r = await policyTest([...PREFLIGHT, '--header', 'Origin: https://app.example.com'])
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /^cors: +preflight from https:\/\/app\.example\.com, answered 204 by tollgate with access-control-allow-origin: https:\/\/app\.example\.com; access-control-allow-methods: GET, POST; access-control-allow-credentials: true$/m)
    assert.match(r.out, /^decision: +allow \(reason cors_preflight\)$/m)
    assert.match(r.out, /never reaches the container/)
    const json = JSON.parse((await policyTest([...PREFLIGHT, '--header', 'Origin: https://app.example.com', '--json'])).out)
    assert.deepEqual(json.decision, { allow: true, reason: 'cors_preflight', status: 204 })
    assert.equal(json.cors.fields['access-control-allow-origin'], 'https://app.example.com')
  })

  test('a preflight from another origin: 204 without Access-Control-Allow-*, exit 1', async () => {
    const r = await policyTest([...PREFLIGHT, '--header', 'Origin: https://evil.example', '--json'])
    assert.equal(r.code, 1)
    const json = JSON.parse(r.out)
    assert.deepEqual(json.decision, { allow: false, reason: 'cors_origin_denied', status: 204 })
    assert.deepEqual(Object.keys(json.cors.fields).filter((k: string) => k.startsWith('access-control-')), [])
  })

  test('an actual request: the CORS fields it gets; the rate limits named and said to be undecidable offline', async () => {
    const r = await policyTest(['--method', 'GET', '--url', 'https://x.example/api/items', '--header', 'Origin: https://app.example.com'])
    assert.equal(r.code, 1, 'no credential: 401')
    assert.match(r.out, /^cors: +origin https:\/\/app\.example\.com allowed: every answer carries access-control-allow-origin: https:\/\/app\.example\.com; access-control-allow-credentials: true$/m)
    assert.match(r.out, /^limits: +per-client \(100 per 1m by ip\): not decided offline: the counters live in the running gateway/m)
    assert.match(r.out, /^decision: +deny \(reason credential_missing, HTTP 401\)$/m)
  })

  test('stripPrefix: the path the container receives', async () => {
    const r = await policyTest(['--method', 'GET', '--url', 'https://x.example/docs/a?x=1'])
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /^upstream: +GET \/docs\/a\?x=1$/m, 'a "/" prefix removes nothing')
    const json = JSON.parse((await policyTest(['--method', 'GET', '--url', 'https://x.example/docs/a?x=1', '--json'])).out)
    assert.deepEqual(json.upstream, { path: '/docs/a?x=1' })
    assert.deepEqual(json.rateLimits.limits, [{ name: 'per-client', requests: 5, per: '1s', by: 'ip' }])
  })
})

describe('tollgate policy test, stripPrefix on an allowed request', () => {
  test('/api/items reaches the container as /items, with X-Forwarded-Prefix', async () => {
    const file = write(app({ stripPrefix: true }))
    const io = captureIo()
    const code = await runPolicy(['test', '--config', file, '--method', 'GET', '--url', 'https://x.example/%61pi/items?q=1'], { stdout: io.stdout, stderr: io.stderr, env: {} })
    assert.equal(code, 0, io.err())
    assert.match(io.out(), /^upstream: +GET \/items\?q=1 \(stripPrefix removed \/api; X-Forwarded-Prefix: \/api\)$/m)
  })
})
