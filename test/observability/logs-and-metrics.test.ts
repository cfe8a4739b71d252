// The access line and the metrics say what happened: the bytes a client got whatever the framing,
// a client that left, a container that refused tollgate's own token, and the redirect listener.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
import { request } from 'undici'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { eventually, scrape, value } from '../ops/helpers.js'

const TOKEN = 'truth-token-' + Math.random().toString(36).slice(2)
const CHUNKS = ['first;', 'second chunk;', 'x'.repeat(5000)]
const CHUNKED_BYTES = CHUNKS.reduce((n, c) => n + Buffer.byteLength(c), 0)

describe('access lines and metrics tell the truth', () => {
  let up: Upstream
  let gw: TestGateway
  /** Requests the upstream holds without answering, by path, until the test ends them. */
  const held = new Map<string, () => void>()
  const arrived = new Map<string, () => void>()

  before(async () => {
    up = await startUpstream({
      tls: false,
      handler: (req, res) => {
        const path = req.url ?? ''
        if (path.startsWith('/chunked')) {
          res.writeHead(200, { 'content-type': 'text/plain' }) // no Content-Length: chunked
          for (const c of CHUNKS) res.write(c)
          res.end()
        } else if (path.startsWith('/sized')) {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 })
          res.end('sized')
        } else if (path.startsWith('/held')) {
          held.set(path, () => { res.writeHead(200); res.end('late') })
          arrived.get(path)?.()
        } else if (path.startsWith('/refuse')) {
          res.writeHead(403, { 'content-type': 'application/json' })
          res.end('{"message":"forbidden by the container"}')
        } else {
          res.writeHead(200)
          res.end('ok')
        }
      }
    })
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'tollgate-truth-')), 'token')
    writeFileSync(tokenFile, TOKEN)
    gw = await startGateway({
      env: { ...process.env, TRUTH_TOKEN: TOKEN },
      config: {
        containers: {
          app: { upstream: up.url, match: { path: '/' }, token: '${env:TRUTH_TOKEN}', privacy: 'public' },
          // A token whose source can change: a 401/403 makes tollgate refresh it once and retry.
          refreshable: { upstream: up.url, match: { path: '/refuse-refreshable' }, token: `\${file:${tokenFile}}`, privacy: 'public' }
        }
      }
    })
  })
  after(async () => {
    for (const release of held.values()) release()
    await gw.close()
    await up.close()
  })

  const accessLine = async (path: string): Promise<Record<string, unknown>> => await eventually(() => {
    const line = gw.logs.find((l) => l.type === 'access' && l.path === path)
    assert.ok(line, `an access line for ${path}`)
    return line
  })

  test('bytes counts the body a client got: chunked, sized, HEAD', async () => {
    const chunked = await gw.get('/chunked/a')
    assert.equal(chunked.status, 200)
    assert.equal(chunked.headers['content-length'], undefined, 'the upstream answered chunked')
    assert.equal(Buffer.byteLength(chunked.body), CHUNKED_BYTES)
    assert.equal((await accessLine('/chunked/a')).bytes, CHUNKED_BYTES)

    assert.equal((await gw.get('/sized/a')).body, 'sized')
    assert.equal((await accessLine('/sized/a')).bytes, 5)

    assert.equal((await gw.get('/sized/head', { method: 'HEAD' })).status, 200)
    assert.equal((await accessLine('/sized/head')).bytes, 0, 'a HEAD answer has no body')
  })

  test('a client that leaves is logged 499 with reason client_closed, and counted with status_class "other"', async () => {
    const path = '/held/leaver'
    const reached = new Promise<void>((resolve) => arrived.set(path, resolve))
    const ac = new AbortController()
    const pending = request(gw.url + path, { dispatcher: gw.agent, signal: ac.signal }).catch((err: Error) => err)
    await reached // the upstream has the request: the client leaves now
    ac.abort()
    assert.ok((await pending) instanceof Error)
    const line = await accessLine(path)
    assert.equal(line.status, 499)
    assert.equal(line.reason, 'client_closed')
    assert.equal(line.decision, 'allow', 'the policy had let it through')
    const s = await scrape(gw.adminUrl)
    assert.equal(value(s, 'tollgate_requests_total', { container: 'app', status_class: 'other', reason: 'client_closed' }), 1)
    assert.equal(value(s, 'tollgate_requests_total', { container: 'app', status_class: '4xx', reason: 'client_closed' }), undefined)
  })

  test('a container that refuses the injected token: its answer is relayed, the logs and metrics name it', async () => {
    const before = up.received.length
    const r = await gw.get('/refuse/x')
    assert.equal(r.status, 403)
    assert.equal(r.json().message, 'forbidden by the container', 'the container\'s own answer is relayed')
    assert.equal(up.received.length - before, 1, 'an ${env:} token cannot change: no retry')
    const line = await accessLine('/refuse/x')
    assert.equal(line.status, 403)
    assert.equal(line.reason, 'upstream_rejected_token')
    const decision = await eventually(() => {
      const d = gw.logs.find((l) => l.type === 'decision' && l.reason === 'upstream_rejected_token' && l.requestId === line.requestId)
      assert.ok(d)
      return d
    })
    assert.equal(decision.credentialInjected, true)

    // A refreshable token: one refresh and one retry (the rotation path), then the same verdict.
    const before2 = up.received.length
    assert.equal((await gw.get('/refuse-refreshable')).status, 403)
    assert.equal(up.received.length - before2, 2, 'sent once more after the refresh')
    assert.equal((await accessLine('/refuse-refreshable')).reason, 'upstream_rejected_token')

    const s = await scrape(gw.adminUrl)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'app', reason: 'upstream_rejected_token' }), 1)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'refreshable', reason: 'upstream_rejected_token' }), 1)
    assert.equal(value(s, 'tollgate_requests_total', { container: 'app', status_class: '4xx', reason: 'upstream_rejected_token' }), 1)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'app', reason: 'upstream_timeout' }), 0, 'precreated beside it')
  })

  test('the redirect listener writes an access line and counts each request', async () => {
    const res = await new Promise<{ status: number, location: unknown }>((resolve, reject) => {
      httpRequest(gw.httpUrl + '/somewhere?q=1', { headers: { host: 'localhost' } }, (r) => {
        r.resume()
        resolve({ status: r.statusCode ?? 0, location: r.headers.location })
      }).on('error', reject).end()
    })
    assert.equal(res.status, 301)
    assert.equal(res.location, `https://localhost:${gw.addr.https.port}/somewhere?q=1`)
    const line = await accessLine('/somewhere')
    assert.equal(line.status, 301)
    assert.equal(line.reason, 'redirected')
    assert.equal(line.host, 'localhost')
    assert.equal(line.container, undefined)
    const s = await scrape(gw.adminUrl)
    assert.equal(value(s, 'tollgate_requests_total', { container: '-', status_class: '3xx', reason: 'redirected' }), 1)
  })
})
