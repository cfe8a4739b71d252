// stripPrefix and header rules (containers.NAME.stripPrefix, .headers) on a real gateway, and every
// rule tollgate refuses at load (a rule on X-Auth-Token, Host, Forwarded / X-Forwarded-*, or a
// framing or hop-by-hop field would reopen what the hardening suite closed).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream, type Received } from '../helpers/upstream.js'
import { rawExchange } from '../helpers/raw.js'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

const TOKEN = 'rules-token-' + randomBytes(6).toString('hex')

describe('stripPrefix and header rules', () => {
  let up: Upstream
  let gw: TestGateway

  before(async () => {
    up = await startUpstream({
      tls: false,
      handler: (req, res) => {
        const out = JSON.stringify({ url: req.url })
        res.writeHead(200, [
          'Content-Type', 'application/json',
          'Content-Length', String(Buffer.byteLength(out)),
          'Cache-Control', 'public, max-age=3600',
          'Server', 'container/1.0',
          'X-Powered-By', 'tests'
        ])
        res.end(out)
      }
    })
    const token = '${env:RULES_TOKEN}'
    gw = await startGateway({
      env: { ...process.env, RULES_TOKEN: TOKEN },
      config: {
        server: { httpOption: 'enabled' },
        containers: {
          api: {
            upstream: up.url,
            match: { path: '/api' },
            token,
            privacy: 'public',
            stripPrefix: true,
            headers: {
              request: { set: { 'X-Tenant': 'acme' }, remove: ['cookie'] },
              response: { set: { 'cache-control': 'no-store' }, remove: ['Server'] }
            }
          },
          deep: { upstream: up.url, match: { path: '/v1/deep' }, token, privacy: 'public', stripPrefix: true },
          kept: { upstream: up.url, match: { path: '/kept' }, token, privacy: 'public' },
          root: { upstream: up.url, match: { path: '/' }, token, privacy: 'public', stripPrefix: true }
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await up.close()
  })

  /** Sends raw bytes (so nothing normalises the target) and returns what the container received. */
  async function through (target: string, extra: string[] = []): Promise<{ status: number, head: string, received: Received }> {
    const n = up.received.length
    const r = await rawExchange({ port: gw.addr.http?.port ?? 0, waitMs: 5000 }, [`GET ${target} HTTP/1.1`, 'Host: localhost', ...extra, 'Connection: close', '', ''].join('\r\n'))
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(r.data)?.[1])
    assert.equal(up.received.length, n + 1, `${target} reached the container once`)
    return { status, head: r.data.slice(0, r.data.indexOf('\r\n\r\n')), received: up.received[n] }
  }

  test('stripPrefix: the match prefix is removed on segment bounds from the canonical path; the query stays; X-Forwarded-Prefix names it', async () => {
    const cases: Array<[string, string]> = [
      ['/api/items?q=1', '/items?q=1'],
      ['/api', '/'],
      ['/api?q=1', '/?q=1'],
      ['/api/', '/'],
      ['/%61pi/items', '/items'], // canonical path first: /%61pi is /api
      ['/v1/deep/x/y', '/x/y']
    ]
    for (const [sent, want] of cases) {
      const { status, received } = await through(sent)
      assert.equal(status, 200, sent)
      assert.equal(received.url, want, `${sent} reaches the container as ${want}`)
      assert.equal(received.headers['x-forwarded-prefix'], sent.includes('deep') ? '/v1/deep' : '/api')
    }
  })

  test('stripPrefix never strips a partial segment: /apix is another route, sent whole', async () => {
    const { received } = await through('/apix/items')
    assert.equal(received.url, '/apix/items', 'routed to "/" (stripPrefix on "/" removes nothing)')
    assert.equal(received.headers['x-forwarded-prefix'], undefined)
  })

  test('without stripPrefix the path is sent as routed, and a client\'s X-Forwarded-Prefix is never passed on', async () => {
    const { received } = await through('/kept/x', ['X-Forwarded-Prefix: /evil'])
    assert.equal(received.url, '/kept/x')
    assert.equal(received.headers['x-forwarded-prefix'], undefined)
    const stripped = await through('/api/x', ['X-Forwarded-Prefix: /evil'])
    assert.deepEqual(stripped.received.headers['x-forwarded-prefix'], '/api')
  })

  test('request rules: set replaces every value the client sent (any case, any count); remove drops; the container still gets exactly its own X-Auth-Token', async () => {
    const { received } = await through('/api/x', ['x-tenant: evil', 'X-TENANT: evil2', 'Cookie: session=1', 'X-Auth-Token: client-credential'])
    assert.equal(received.headers['x-tenant'], 'acme')
    assert.equal(received.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-tenant').length, 1)
    assert.equal(received.headers.cookie, undefined)
    assert.equal(received.headers['x-auth-token'], TOKEN)
    assert.equal(received.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-auth-token').length, 1)
  })

  test('response rules: set replaces the container\'s value, remove drops; other fields pass', async () => {
    const { head } = await through('/api/x')
    assert.match(head, /\r\ncache-control: no-store\r\n/i)
    assert.doesNotMatch(head, /max-age=3600/)
    assert.doesNotMatch(head, /\r\nserver:/i)
    assert.match(head, /\r\nx-powered-by: tests\r\n/i)
    const other = await through('/kept/x')
    assert.match(other.head, /\r\ncache-control: public, max-age=3600\r\n/i, 'rules are per container')
  })
})

describe('header rules refused at load, naming the field', () => {
  const base = (container: Record<string, unknown>): string => JSON.stringify({
    server: { listen: { https: { port: 0 } }, tls: { cert: 'c.pem', key: 'k.pem' } },
    containers: { app: { upstream: 'http://127.0.0.1:9', match: { path: '/' }, token: '${env:T}', ...container } }
  })
  const refused = (container: Record<string, unknown>, path: RegExp, why: RegExp): void => {
    assert.throws(() => parseConfig(base(container), { file: '/tmp/t.yaml', env: {} }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.match(err.path, path)
      assert.match(err.message, why)
      return true
    })
  }

  const REQUEST_REFUSED = ['X-Auth-Token', 'x-auth-token', 'Host', 'Forwarded', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-Prefix', 'X-Real-IP',
    'X-Request-Id', 'Content-Length', 'Transfer-Encoding', 'Connection', 'TE', 'Upgrade', 'Keep-Alive', 'Trailer', 'Proxy-Authorization', 'Proxy-Connection', 'Expect', 'HTTP2-Settings']
  for (const name of REQUEST_REFUSED) {
    test(`request set and remove of ${name}`, () => {
      refused({ headers: { request: { set: { [name]: 'x' } } } }, new RegExp(`^containers\\.app\\.headers\\.request\\.set\\.${name}$`), /refused/)
      refused({ headers: { request: { remove: ['ok-field', name] } } }, /^containers\.app\.headers\.request\.remove\[1\]$/, /refused/)
    })
  }

  const RESPONSE_REFUSED = ['X-Auth-Token', 'Host', 'Forwarded', 'X-Forwarded-For', 'X-Forwarded-Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Keep-Alive', 'Upgrade', 'Trailer', 'TE', 'Proxy-Authenticate',
    'X-Request-Id', 'Strict-Transport-Security', 'Access-Control-Allow-Origin', 'RateLimit-Remaining']
  for (const name of RESPONSE_REFUSED) {
    test(`response set and remove of ${name}`, () => {
      refused({ headers: { response: { set: { [name]: 'x' } } } }, new RegExp(`^containers\\.app\\.headers\\.response\\.set\\.${name}$`), /refused/)
      refused({ headers: { response: { remove: [name] } } }, /^containers\.app\.headers\.response\.remove\[0\]$/, /refused/)
    })
  }

  test('what a request rule may do that a response rule may not', () => {
    assert.doesNotThrow(() => parseConfig(base({ headers: { request: { set: { 'Access-Control-Allow-Origin': 'x', 'Strict-Transport-Security': 'y' }, remove: ['authorization', 'cookie'] } } }), { file: '/tmp/t.yaml', env: {} }))
  })

  test('names that are no field names, a "_", values with control characters, a field both set and removed', () => {
    refused({ headers: { request: { set: { 'x tenant': 'a' } } } }, /request\.set\.x tenant$/, /not a header field name/)
    refused({ headers: { request: { set: { x_tenant: 'a' } } } }, /request\.set\.x_tenant$/, /"_"/)
    refused({ headers: { request: { set: { 'x-tenant': 'a\r\nx-auth-token: stolen' } } } }, /request\.set\.x-tenant$/, /control characters/)
    refused({ headers: { response: { set: { 'x-a': 'a\u0000' } } } }, /response\.set\.x-a$/, /control characters/)
    refused({ headers: { request: { set: { 'X-Tenant': 'a', 'x-tenant': 'b' } } } }, /request\.set\.x-tenant$/, /set twice/)
    refused({ headers: { request: { set: { 'x-tenant': 'a' }, remove: ['X-Tenant'] } } }, /request\.remove\[0\]$/, /also set/)
    refused({ headers: { request: { add: { 'x-a': 'b' } } } }, /request\.add$/, /unknown key/)
  })
})
