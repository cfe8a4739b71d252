// The gateway features (docs/traffic.md) in the Fastify plugin, the pipeline's own steps: CORS
// preflights answered by tollgate, rate limits with their 429 and RateLimit fields, stripPrefix,
// and the container's header rules on the request and on the relayed response.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startPluginApp, type PluginApp } from './helpers.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const TOKEN = 'fastify-features-' + randomBytes(6).toString('hex')
const APP = 'https://app.example.com'

describe('tollgate/fastify: CORS, rate limits, stripPrefix, header rules', () => {
  let up: Upstream
  let t: PluginApp
  before(async () => {
    up = await startUpstream({
      tls: false,
      handler: (req, res) => {
        const out = JSON.stringify({ url: req.url, headers: req.headers })
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600', server: 'container/1.0', vary: 'Accept-Encoding' })
        res.end(out)
      }
    })
    const container = (path: string, more: Record<string, unknown>): Record<string, unknown> =>
      ({ upstream: up.url.replace('localhost', '127.0.0.1'), match: { path }, token: '${env:FEATURES_TOKEN}', privacy: 'public', ...more })
    t = await startPluginApp({
      env: { ...process.env, FEATURES_TOKEN: TOKEN },
      config: {
        containers: {
          app: container('/app', { privacy: 'private', cors: { origins: [APP], methods: ['GET', 'POST'], headers: ['content-type', 'x-auth-token'], credentials: true, maxAge: 600 } }),
          limited: container('/limited', { rateLimit: [{ name: 'per-client', requests: 2, per: '1m', by: 'ip' }] }),
          api: container('/api', {
            stripPrefix: true,
            headers: { request: { set: { 'X-Tenant': 'acme' }, remove: ['cookie'] }, response: { set: { 'cache-control': 'no-store' }, remove: ['server'] } }
          })
        }
      }
    })
  })
  after(async () => {
    await t?.close()
    await up?.close()
  })

  test('a CORS preflight to a private container: 204 from tollgate without a credential, never forwarded; an actual request\'s 401 carries the CORS fields', async () => {
    const before = up.received.length
    const pre = await t.get('/app/items', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    assert.equal(pre.status, 204)
    assert.equal(pre.body, '')
    assert.equal(pre.headers['access-control-allow-origin'], APP)
    assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST')
    assert.equal(pre.headers['access-control-allow-credentials'], 'true')
    assert.equal(pre.headers['access-control-max-age'], '600')
    const actual = await t.get('/app/items', { headers: { origin: APP } })
    assert.equal(actual.status, 401)
    assert.equal(actual.headers['access-control-allow-origin'], APP)
    assert.match(String(actual.headers.vary), /\bOrigin\b/)
    assert.equal(up.received.length, before)
  })

  test('rate limits: RateLimit fields on allowed answers, then 429 rate_limited with Retry-After, never forwarded', async () => {
    const before = up.received.length
    const answers = []
    for (let i = 0; i < 3; i++) answers.push(await t.get('/limited/x'))
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 429])
    assert.deepEqual(answers.slice(0, 2).map((a) => [a.headers['ratelimit-limit'], a.headers['ratelimit-remaining']]), [['2', '1'], ['2', '0']])
    const denied = answers[2]
    assert.equal(denied.json().reason, 'rate_limited')
    assert.equal(denied.json().error, 'too_many_requests')
    const retry = Number(denied.headers['retry-after'])
    assert.ok(retry >= 1 && retry <= 60, String(denied.headers['retry-after']))
    assert.equal(up.received.length, before + 2)
    assert.ok(t.logs.some((l) => l.type === 'decision' && l.reason === 'rate_limited' && l.limit === 'per-client'))
  })

  test('stripPrefix and header rules: the path less its prefix with X-Forwarded-Prefix, the request and response rules applied', async () => {
    const r = await t.get('/api/items?q=1', { headers: { cookie: 'session=1', 'x-tenant': 'client-says' } })
    assert.equal(r.status, 200, r.body)
    const got = r.json()
    assert.equal(got.url, '/items?q=1')
    assert.equal(got.headers['x-forwarded-prefix'], '/api')
    assert.equal(got.headers['x-tenant'], 'acme')
    assert.equal(got.headers.cookie, undefined)
    assert.equal(got.headers['x-auth-token'], TOKEN)
    assert.equal(r.headers['cache-control'], 'no-store')
    assert.equal(r.headers.server, undefined)
    assert.equal(r.headers.vary, 'Accept-Encoding')
  })
})
