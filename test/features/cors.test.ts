// CORS (containers.NAME.cors) on a real gateway: preflights answered by tollgate without a credential
// and never forwarded, other origins without Access-Control-Allow-*, actual answers (the container's
// and tollgate's own 401/429) with the CORS fields and Vary: Origin.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2'
import { request } from 'undici'
import { testCa } from '../helpers/pki.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { eventually } from '../ops/helpers.js'

const TOKEN = 'cors-token-' + randomBytes(6).toString('hex')
const APP = 'https://app.example.com'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

const ACA = (h: Answer['headers']): string[] => Object.keys(h).filter((k) => k.startsWith('access-control-')).sort()
const varyOf = (h: Answer['headers']): string => ([] as string[]).concat(h.vary ?? []).join(', ')

describe('CORS', () => {
  let up: Upstream
  let gw: TestGateway

  async function send (path: string, opts: { method?: string, headers?: Record<string, string>, https?: boolean } = {}): Promise<Answer> {
    if (opts.https === true) {
      const r = await gw.get(path, { method: opts.method, headers: opts.headers })
      return { status: r.status, headers: r.headers, body: r.body }
    }
    const res = await request(gw.httpUrl + path, { method: (opts.method ?? 'GET') as 'GET', headers: { host: 'localhost', ...opts.headers } })
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
  }

  const preflight = (origin: string, extra: Record<string, string> = {}): Record<string, string> =>
    ({ origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-auth-token', ...extra })

  before(async () => {
    up = await startUpstream({
      tls: false,
      handler: (req, res) => {
        if (req.headers['x-auth-token'] !== TOKEN) { res.writeHead(401); res.end(); return }
        // A container with CORS fields of its own, and a Vary of its own.
        res.writeHead(200, { 'content-type': 'text/plain', vary: 'Accept-Encoding', 'access-control-allow-origin': 'https://evil.example', 'access-control-allow-credentials': 'true' })
        res.end('ok')
      }
    })
    gw = await startGateway({
      env: { ...process.env, CORS_TOKEN: TOKEN },
      config: {
        server: { httpOption: 'enabled' },
        containers: {
          app: {
            upstream: up.url,
            match: { path: '/app' },
            token: '${env:CORS_TOKEN}',
            privacy: 'private',
            cors: { origins: [APP, 'HTTPS://Admin.Example.com:443'], methods: ['GET', 'POST'], headers: ['content-type', 'authorization', 'x-auth-token'], exposeHeaders: ['x-request-id', 'ratelimit-remaining'], credentials: true, maxAge: 600 }
          },
          open: {
            upstream: up.url,
            match: { path: '/open' },
            token: '${env:CORS_TOKEN}',
            privacy: 'public',
            cors: { origins: ['*'] }
          },
          limited: {
            upstream: up.url,
            match: { path: '/limited' },
            token: '${env:CORS_TOKEN}',
            privacy: 'public',
            cors: { origins: ['*'] },
            rateLimit: [{ name: 'tiny', requests: 1, per: '1m' }]
          },
          plain: { upstream: up.url, match: { path: '/plain' }, token: '${env:CORS_TOKEN}', privacy: 'private' },
          bare: { upstream: up.url, match: { path: '/bare' }, token: '${env:CORS_TOKEN}', privacy: 'public' }
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await up.close()
  })

  test('a preflight to a private container, without any credential: 204 from tollgate, never forwarded', async () => {
    const before = up.received.length
    for (const https of [false, true]) {
      const a = await send('/app/items', { method: 'OPTIONS', headers: preflight(APP), https })
      assert.equal(a.status, 204)
      assert.equal(a.body, '')
      assert.equal(a.headers['access-control-allow-origin'], APP)
      assert.equal(a.headers['access-control-allow-methods'], 'GET, POST')
      assert.equal(a.headers['access-control-allow-headers'], 'content-type, authorization, x-auth-token')
      assert.equal(a.headers['access-control-allow-credentials'], 'true')
      assert.equal(a.headers['access-control-max-age'], '600')
      assert.match(varyOf(a.headers), /\bOrigin\b/)
      assert.equal(a.headers['www-authenticate'], undefined)
      assert.ok(a.headers['x-request-id'] !== undefined)
    }
    assert.equal(up.received.length, before, 'no preflight reached the container')
    const line = gw.logs.find((l) => l.type === 'access' && l.reason === 'cors_preflight')
    assert.ok(line !== undefined)
    assert.deepEqual({ status: line.status, decision: line.decision, container: line.container }, { status: 204, decision: 'allow', container: 'app' })
  })

  test('over HTTP/2: the preflight\'s 204 and a relayed answer with both Vary fields', async () => {
    const session = h2connect(gw.url, { ca: testCa().cert, servername: 'localhost' })
    const h2 = async (headers: Record<string, string>): Promise<IncomingHttpHeaders> => await new Promise((resolve, reject) => {
      const stream = session.request(headers)
      stream.on('response', (h) => { stream.resume(); stream.on('end', () => resolve(h)) })
      stream.on('error', reject)
      stream.end()
    })
    try {
      const pre = await h2({ ':method': 'OPTIONS', ':path': '/app/items', ...preflight(APP) })
      assert.equal(pre[':status'], 204)
      assert.equal(pre['access-control-allow-origin'], APP)
      const relayed = await h2({ ':method': 'GET', ':path': '/open/h2', origin: APP })
      assert.equal(relayed[':status'], 200)
      assert.equal(relayed['access-control-allow-origin'], '*')
      assert.match(String(relayed.vary), /Accept-Encoding/)
      assert.match(String(relayed.vary), /\bOrigin\b/)
    } finally {
      session.close()
    }
  })

  test('config origins are compared as browsers send them (lower case, no default port)', async () => {
    const a = await send('/app/items', { method: 'OPTIONS', headers: preflight('https://admin.example.com') })
    assert.equal(a.headers['access-control-allow-origin'], 'https://admin.example.com')
  })

  test('a preflight from another origin: 204 with no Access-Control-Allow-*, never forwarded, a decision line', async () => {
    const before = up.received.length
    const a = await send('/app/items', { method: 'OPTIONS', headers: preflight('https://evil.example') })
    assert.equal(a.status, 204)
    assert.deepEqual(ACA(a.headers), [])
    assert.match(varyOf(a.headers), /\bOrigin\b/)
    assert.equal(up.received.length, before)
    const line = await eventually(() => {
      const l = gw.logs.find((e) => e.type === 'decision' && e.requestId === a.headers['x-request-id'])
      assert.ok(l !== undefined)
      return l
    })
    assert.deepEqual({ decision: line.decision, reason: line.reason }, { decision: 'deny', reason: 'cors_origin_denied' })
  })

  test('an OPTIONS that is no preflight (no Access-Control-Request-Method) goes through the pipeline: 401 on a private container', async () => {
    const a = await send('/app/items', { method: 'OPTIONS', headers: { origin: APP } })
    assert.equal(a.status, 401)
    assert.equal(a.headers['access-control-allow-origin'], APP, 'tollgate\'s 401 carries the CORS fields: the browser app can read it')
  })

  test('an actual request from an allowed origin, without a credential: tollgate\'s 401 carries the CORS fields (credentials, exposed headers) and Vary: Origin', async () => {
    const denied = await send('/app/items', { headers: { origin: APP } })
    assert.equal(denied.status, 401)
    assert.equal(JSON.parse(denied.body).reason, 'credential_missing')
    assert.equal(denied.headers['access-control-allow-origin'], APP)
    assert.equal(denied.headers['access-control-allow-credentials'], 'true')
    assert.equal(denied.headers['access-control-expose-headers'], 'x-request-id, ratelimit-remaining')
    assert.match(varyOf(denied.headers), /\bOrigin\b/)
  })

  test('an actual request from an allowed origin to a public container: ACAO "*" for origins ["*"], the container\'s own CORS fields dropped, both Vary kept', async () => {
    const a = await send('/open/x', { headers: { origin: 'https://anyone.example' } })
    assert.equal(a.status, 200)
    assert.equal(a.body, 'ok')
    assert.equal(a.headers['access-control-allow-origin'], '*')
    assert.equal(a.headers['access-control-allow-credentials'], undefined, 'the container\'s own field is not relayed')
    assert.match(varyOf(a.headers), /Accept-Encoding/)
    assert.match(varyOf(a.headers), /\bOrigin\b/)
  })

  test('tollgate\'s 429 carries the CORS fields too', async () => {
    assert.equal((await send('/limited/y', { headers: { origin: 'https://anyone.example' } })).status, 200)
    const a = await send('/limited/y', { headers: { origin: 'https://anyone.example' } })
    assert.equal(a.status, 429)
    assert.equal(a.headers['access-control-allow-origin'], '*')
    assert.ok(a.headers['retry-after'] !== undefined)
  })

  test('a preflight is answered before the rate limit: it never spends a client\'s budget', async () => {
    // The one request of the minute is spent (the test above): a counted preflight would get a 429.
    const a = await send('/limited/z', { method: 'OPTIONS', headers: preflight('https://anyone.example') })
    assert.equal(a.status, 204)
    assert.equal(a.headers['access-control-allow-origin'], '*')
    assert.equal(a.headers['ratelimit-limit'], undefined)
  })

  test('an actual request from another origin goes on (CORS is the browser\'s rule), without Access-Control-Allow-*', async () => {
    const a = await send('/app/items', { headers: { origin: 'https://evil.example' } })
    assert.equal(a.status, 401)
    assert.deepEqual(ACA(a.headers), [])
    assert.match(varyOf(a.headers), /\bOrigin\b/)
  })

  test('no Origin at all: Vary: Origin, nothing else', async () => {
    const a = await send('/app/items')
    assert.deepEqual(ACA(a.headers), [])
    assert.match(varyOf(a.headers), /\bOrigin\b/)
  })

  test('a container without cors is unchanged: a preflight to a private one is a 401, the container\'s CORS fields are relayed', async () => {
    const pre = await send('/plain/x', { method: 'OPTIONS', headers: preflight(APP) })
    assert.equal(pre.status, 401)
    assert.deepEqual(ACA(pre.headers), [])
    const relayed = await send('/bare/x', { headers: { origin: APP } })
    assert.equal(relayed.headers['access-control-allow-origin'], 'https://evil.example')
    assert.equal(varyOf(relayed.headers), 'Accept-Encoding')
  })
})
