// tollgate as a Fastify plugin, on real sockets: a real Fastify app with its own routes and hooks,
// tollgate registered from a YAML file, real upstreams (TLS with the test CA, one with a
// certificate no configured CA signed, one that never answers, one that is not there), real
// clients. The same wire rules as `tollgate serve`: decisions, reason ids, injection, stripping.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startPluginApp, type PluginApp } from './helpers.js'
import { freePort, startUpstream, type Upstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { registerSecretValue } from '../helpers/gateway.js'
import { createKey, waitFor } from '../credentials/helpers.js'
import { createDevCa } from '../../src/tls/devcert.js'

const TOKEN = 'scw-fastify-' + randomBytes(8).toString('hex')
const OFFICE = 'inIpRange(request.ip, "198.51.100.0/24")'

describe('tollgate/fastify in a real Fastify app', () => {
  let up: Upstream
  let rogue: Upstream
  let silent: Upstream
  let t: PluginApp
  const seen: Array<{ url: string, tollgate: unknown }> = []
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: TOKEN, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }

  before(async () => {
    up = await startUpstream({
      handler: (req, res, body) => {
        if (req.url?.startsWith('/pub/open/status/') === true) {
          res.writeHead(Number(req.url.slice(17)), { 'content-type': 'text/plain' })
          res.end('status')
          return
        }
        const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body })
        // What a careless container might send back: its token, hop-by-hop fields, its own request id.
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-auth-token': TOKEN,
          'keep-alive': 'timeout=5',
          'x-request-id': 'upstream-id',
          'x-upstream': 'yes',
          'set-cookie': ['a=1', 'b=2']
        })
        res.end(out)
      }
    })
    rogue = await startUpstream({ cert: createDevCa('a CA nobody configured').issue(['localhost', '127.0.0.1']) })
    silent = await startUpstream({ handler: () => {} })
    const pki = writePki()
    const down = await freePort()
    const container = (path: string, more: Record<string, unknown> = {}): Record<string, unknown> => ({
      upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', ...more
    })
    t = await startPluginApp({
      env,
      config: {
        secrets: { store: './secrets.store' },
        credentials: { keys: './keys.store' },
        containers: {
          pub: container('/pub', {
            bodyLimit: 64,
            policies: [{ name: 'open', condition: 'request.path.startsWith("/pub/open")' }, { name: 'office', condition: OFFICE }]
          }),
          priv: container('/priv', { privacy: 'private' }),
          hosted: container('/api', { match: { host: 'api.example.test', path: '/api' } }),
          rogue: { upstream: rogue.url.replace('localhost', '127.0.0.1'), upstreamCa: pki.ca, match: { path: '/rogue' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' },
          noca: { upstream: up.url.replace('localhost', '127.0.0.1'), match: { path: '/noca' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' },
          slow: { upstream: silent.url, upstreamCa: pki.ca, match: { path: '/slow' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', timeout: 300 },
          down: { upstream: `http://127.0.0.1:${down}`, match: { path: '/down' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' }
        }
      },
      setup: (app) => {
        app.get('/own', async (request) => ({ own: true, tollgate: request.tollgate }))
        app.addHook('onRequest', async (request, reply) => {
          if (request.headers['x-app-block'] === '1') return await reply.code(418).send({ blockedBy: 'app' })
        })
        app.addHook('preHandler', async (request) => { seen.push({ url: request.url, tollgate: request.tollgate }) })
        app.addHook('onSend', async (_request, reply, payload) => {
          reply.header('x-app-onsend', '1')
          return payload
        })
      }
    })
  })

  after(async () => {
    await t?.close()
    await up?.close()
    await rogue?.close()
    await silent?.close()
  })

  test('allowed: the canonical path goes upstream with the container token, X-Forwarded-* and the upstream Host; the response head is relayed without hop-by-hop fields or an X-Auth-Token', async () => {
    const r = await t.get('/pub/%6fpen/x?a=1&b=%2F', { headers: { 'user-agent': 'tests' } })
    assert.equal(r.status, 200, r.body)
    const got = r.json()
    assert.equal(got.url, '/pub/open/x?a=1&b=%2F')
    assert.equal(got.headers['x-auth-token'], TOKEN)
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(got.headers['x-forwarded-proto'], 'http')
    assert.equal(got.headers['x-forwarded-host'], `localhost:${t.port}`)
    assert.equal(got.headers.host, `localhost:${up.port}`)
    assert.equal(got.headers['user-agent'], 'tests')
    assert.match(got.headers['x-request-id'], /^[0-9a-f-]{36}$/)
    assert.equal(r.headers['x-request-id'], got.headers['x-request-id'], 'the gateway\'s request id, not the upstream\'s')
    assert.equal(r.headers['x-auth-token'], undefined, 'the token never goes back to the client')
    assert.equal(r.headers['keep-alive'] === 'timeout=5', false)
    assert.equal(r.headers['x-upstream'], 'yes')
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'])
    assert.equal(r.headers['x-app-onsend'], '1')
  })

  test('denied: 403 JSON with the reason id, no condition text; nothing reaches the upstream', async () => {
    const before = up.received.length
    const r = await t.get('/pub/admin')
    assert.equal(r.status, 403)
    const body = r.json()
    assert.deepEqual(Object.keys(body).sort(), ['error', 'reason', 'requestId'])
    assert.equal(body.error, 'forbidden')
    assert.equal(body.reason, 'policy_denied')
    assert.equal(body.requestId, r.headers['x-request-id'])
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8')
    assert.ok(!r.body.includes('inIpRange'))
    assert.equal(up.received.length, before)
  })

  test('a private container without a credential: 401 credential_missing with WWW-Authenticate; an unknown key: 401 credential_unknown', async () => {
    const before = up.received.length
    const missing = await t.get('/priv/x')
    assert.equal(missing.status, 401)
    assert.equal(missing.json().reason, 'credential_missing')
    assert.match(String(missing.headers['www-authenticate']), /^Bearer realm="tollgate"/)
    const unknown = await t.get('/priv/x', { headers: { 'x-auth-token': 'tg_' + 'a'.repeat(43) } })
    assert.equal(unknown.status, 401)
    assert.ok(['credential_unknown', 'credential_malformed'].includes(unknown.json().reason), unknown.body)
    assert.equal(up.received.length, before)
  })

  test('the container token is injected and the client\'s credential stripped: exactly one X-Auth-Token upstream, no Authorization', async () => {
    const key = await createKey({ config: t.configFile, env } as never, 'fastify-client')
    registerSecretValue(key)
    let r: Awaited<ReturnType<PluginApp['get']>> | undefined
    // The keys file is picked up within a second or two.
    await waitFor(async () => (r = await t.get('/priv/x', { headers: { authorization: `Bearer ${key}`, 'X-AUTH-TOKEN': key } })).status === 200, 10_000, 'the new key')
    const got = r!.json()
    assert.equal(got.headers['x-auth-token'], TOKEN)
    assert.equal(got.headers.authorization, undefined)
    assert.equal((got.rawHeaders as string[]).filter((h) => h.toLowerCase() === 'x-auth-token').length, 1)
    assert.ok(!JSON.stringify(got).includes(key), 'the key never reaches the upstream')
    // A public container ignores client credentials and strips them all the same.
    const pub = await t.get('/pub/open', { headers: { 'x-auth-token': ['client-1', 'client-2'], 'X-Auth-Token': 'client-3' } })
    assert.equal(pub.status, 200)
    const raw = pub.json().rawHeaders as string[]
    const tokens = raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === 'x-auth-token')
    assert.deepEqual(tokens, [TOKEN])
    const line = t.logs.find((l) => l.type === 'decision' && l.principal === 'key:fastify-client')
    assert.ok(line !== undefined, 'the decision line names the principal, through the app\'s logger')
    assert.equal(line.credentialInjected, true)
  })

  test('no container for the host and path: tollgate\'s 404 no_route', async () => {
    const r = await t.get('/api/x')
    assert.equal(r.status, 404)
    assert.equal(r.json().reason, 'no_route')
    const hosted = await t.get('/api/x', { headers: { host: 'api.example.test' } })
    assert.equal(hosted.status, 200)
    assert.equal(hosted.json().headers['x-forwarded-host'], 'api.example.test')
  })

  test('request.tollgate: the decision and principal reach the app\'s hooks; null on the app\'s own routes', async () => {
    seen.length = 0
    const own = await t.get('/own')
    assert.deepEqual(own.json(), { own: true, tollgate: null })
    const ok = await t.get('/pub/open/hook')
    assert.equal(ok.status, 200)
    const s = seen.find((e) => e.url === '/pub/open/hook')
    assert.ok(s !== undefined, 'the app\'s preHandler ran on the tollgate route')
    const tg = s.tollgate as Record<string, any>
    assert.equal(tg.decision, 'allow')
    assert.equal(tg.reason, 'allowed')
    assert.equal(tg.rule, 'open')
    assert.equal(tg.container, 'pub')
    assert.equal(tg.ip, '127.0.0.1')
    assert.equal(tg.principal.kind, 'anonymous')
    assert.equal(tg.requestId, ok.headers['x-request-id'])
    assert.ok(Object.isFrozen(tg))
    assert.ok(!JSON.stringify(tg).includes(TOKEN), 'the app sees the decision, never the upstream head')
  })

  test('the app\'s own onRequest hooks run first; tollgate\'s answers go through Fastify\'s reply (onSend hooks run)', async () => {
    const before = up.received.length
    const blocked = await t.get('/pub/open', { headers: { 'x-app-block': '1' } })
    assert.equal(blocked.status, 418)
    assert.deepEqual(blocked.json(), { blockedBy: 'app' })
    const denied = await t.get('/pub/admin')
    assert.equal(denied.status, 403)
    assert.equal(denied.headers['x-app-onsend'], '1')
    assert.equal(up.received.length, before)
  })

  test('an upstream whose certificate no configured CA signed: 502, and the upstream never saw the token', async () => {
    for (const path of ['/rogue/x', '/noca/x']) {
      const before = { rogue: rogue.received.length, up: up.received.length }
      const r = await t.get(path)
      assert.equal(r.status, 502, `${path}: ${r.body}`)
      assert.equal(r.json().reason, 'upstream_unreachable')
      assert.equal(rogue.received.length, before.rogue, 'no request was ever sent over the unverified connection')
      assert.equal(up.received.length, before.up)
    }
    assert.ok(t.logs.some((l) => l.msg === 'upstream failure' && l.container === 'rogue'))
  })

  test('an upstream that does not answer in time: 504 upstream_timeout; one that is not there: 502', async () => {
    const slow = await t.get('/slow/x')
    assert.equal(slow.status, 504)
    assert.equal(slow.json().reason, 'upstream_timeout')
    const down = await t.get('/down/x')
    assert.equal(down.status, 502)
    assert.equal(down.json().reason, 'upstream_unreachable')
  })

  test('bodies: Content-Length bodies stream upstream, chunked ones are read whole first; past the container\'s limit: 413', async () => {
    const r = await t.get('/pub/open/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    assert.equal(r.status, 200)
    assert.equal(r.json().body, '{"a":1}')
    assert.equal(r.json().headers['content-length'], '7')
    const chunked = await request(t.url + '/pub/open/chunked', {
      dispatcher: t.agent,
      method: 'PUT',
      body: Readable.from(['hel', 'lo'])
    })
    const got = await chunked.body.json() as Record<string, any>
    assert.equal(chunked.statusCode, 200)
    assert.equal(got.body, 'hello')
    assert.equal(got.headers['content-length'], '5', 'a body read whole goes with its length')
    const before = up.received.length
    const big = await t.get('/pub/open/big', { method: 'POST', body: 'x'.repeat(65) })
    assert.equal(big.status, 413)
    assert.equal(big.json().reason, 'payload_too_large')
    assert.equal(up.received.length, before)
  })

  test('Fastify answers 415 to a Content-Type that is not a media type, before the forward', async () => {
    const before = up.received.length
    const r = await t.get('/pub/open/ct', { method: 'POST', headers: { 'content-type': 'not a media type' }, body: 'x' })
    assert.equal(r.status, 415)
    assert.equal(up.received.length, before)
  })

  test('an upstream 503 is relayed as it came, never retried', async () => {
    const before = up.received.length
    const r = await t.get('/pub/open/status/503')
    assert.equal(r.status, 503)
    assert.equal(r.body, 'status')
    assert.equal(up.received.length, before + 1)
  })

  test('a path @fastify/reply-from reads as a traversal (a segment starting with "..") is refused 400, nothing forwarded', async () => {
    const before = up.received.length
    const r = await t.get('/pub/open/..hidden')
    assert.equal(r.status, 400)
    assert.equal(r.json().reason, 'path_not_canonical')
    assert.equal(up.received.length, before)
  })

  test('access and decision lines go through the app\'s logger', () => {
    const access = t.logs.filter((l) => l.type === 'access' && l.container === 'pub' && l.status === 200)
    assert.ok(access.length > 0)
    assert.ok(access.every((l) => typeof l.bytes === 'number' && l.bytes > 0 && typeof l.upstreamMs === 'number'), JSON.stringify(access[0]))
    assert.ok(t.logs.some((l) => l.type === 'decision' && l.reason === 'policy_denied'))
  })
})
