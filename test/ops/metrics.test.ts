// /metrics, /healthz and /readyz on the admin listener of a real gateway (in process).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client, request } from 'undici'
import { stringify } from 'yaml'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { freePort, startUpstream, type Upstream } from '../helpers/upstream.js'
import { testCa } from '../helpers/pki.js'
import { loadConfig } from '../../src/config/load.js'
import { createMetrics, NO_CONTAINER } from '../../src/observability/metrics.js'
import type { ExchangeRecord } from '../../src/exchange.js'
import { ANONYMOUS } from '../../src/policy/types.js'
import { scrape, value, eventually, parseExposition } from './helpers.js'

const TOKEN = 'ops-metrics-token-' + Math.random().toString(36).slice(2)

describe('metrics on the admin listener', () => {
  let up: Upstream
  let slow: Upstream
  let gw: TestGateway
  before(async () => {
    up = await startUpstream({ tls: false })
    // undici's timeouts tick at ~0.5 s: answer well after the 100 ms timeout has fired.
    slow = await startUpstream({ tls: false, handler: (_req, res) => { setTimeout(() => { res.writeHead(200); res.end('late') }, 2500) } })
    const down = await freePort()
    const container = (upstream: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ upstream, match: { path }, token: '${env:OPS_TOKEN}', privacy: 'public', ...extra })
    gw = await startGateway({
      env: { ...process.env, OPS_TOKEN: TOKEN },
      config: {
        containers: {
          hello: container(up.url, '/hello', { policies: [{ name: 'loopback', condition: 'inIpRange(request.ip, "127.0.0.0/8")' }] }),
          office: container(up.url, '/office', { policies: [{ name: 'office', condition: 'inIpRange(request.ip, "198.51.100.0/24")' }] }),
          slow: container(slow.url, '/slow', { timeout: 100 }),
          down: container(`http://127.0.0.1:${down}`, '/down')
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await up.close()
    await slow.close()
  })

  test('requests by container, status class and reason; latency, upstream and policy histograms; upstream errors', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await gw.get('/hello/x')).status, 200)
    for (let i = 0; i < 2; i++) assert.equal((await gw.get('/office')).status, 403)
    assert.equal((await gw.get('/nowhere')).status, 404)
    assert.equal((await gw.get('/slow')).status, 504)
    assert.equal((await gw.get('/down')).status, 502)

    const s = await eventually(async () => {
      const s = await scrape(gw.adminUrl)
      assert.equal(value(s, 'tollgate_requests_total', { container: 'down', status_class: '5xx', reason: 'upstream_unreachable' }), 1)
      return s
    })
    const req = (container: string, cls: string, reason: string): number | undefined => value(s, 'tollgate_requests_total', { container, status_class: cls, reason })
    assert.equal(req('hello', '2xx', 'allowed'), 3)
    assert.equal(req('office', '4xx', 'policy_denied'), 2)
    assert.equal(req(NO_CONTAINER, '4xx', 'no_route'), 1)
    assert.equal(req('slow', '5xx', 'upstream_timeout'), 1)
    // Precreated series are there at zero (alerts on increase() need them).
    assert.equal(req('down', '2xx', 'allowed'), 0)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'slow', reason: 'upstream_timeout' }), 1)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'down', reason: 'upstream_unreachable' }), 1)
    assert.equal(value(s, 'tollgate_upstream_errors_total', { container: 'hello', reason: 'upstream_timeout' }), 0)

    assert.equal(value(s, 'tollgate_request_duration_seconds_count', { container: 'hello' }), 3)
    assert.equal(value(s, 'tollgate_request_duration_seconds_bucket', { container: 'hello', le: '+Inf' }), 3)
    assert.equal(value(s, 'tollgate_upstream_duration_seconds_count', { container: 'hello' }), 3)
    assert.equal(value(s, 'tollgate_upstream_duration_seconds_count', { container: 'office' }), 0, 'a denied request never reaches the upstream')
    // The timed-out upstream took at least its 100 ms timeout, and buckets are cumulative.
    assert.ok((value(s, 'tollgate_upstream_duration_seconds_sum', { container: 'slow' }) ?? 0) >= 0.09)
    assert.equal(value(s, 'tollgate_upstream_duration_seconds_bucket', { container: 'slow', le: '0.05' }), 0)
    assert.equal(value(s, 'tollgate_upstream_duration_seconds_bucket', { container: 'slow', le: '60' }), 1)
    assert.equal(value(s, 'tollgate_policy_evaluation_seconds_count', { container: 'hello' }), 3)
    assert.equal(value(s, 'tollgate_policy_evaluation_seconds_count', { container: 'office' }), 2)
    assert.ok((value(s, 'tollgate_policy_evaluation_seconds_sum', { container: 'office' }) ?? 1) < 0.05)
    assert.equal(value(s, 'tollgate_build_info', { version: '0.1.0', node: process.version }), 1)
  })

  test('open connections per listener', async () => {
    const client = new Client(gw.url, { connect: { ca: testCa().cert, servername: 'localhost' } })
    let during: number
    try {
      const res = await client.request({ path: '/hello/keep', method: 'GET' })
      await res.body.text()
      const s = await scrape(gw.adminUrl)
      during = value(s, 'tollgate_open_connections', { listener: 'https' }) ?? 0
      assert.ok(during >= 1)
      assert.equal(value(s, 'tollgate_open_connections', { listener: 'http' }), 0)
    } finally {
      await client.close()
    }
    // (the test gateway's own client may hold keep-alive connections too)
    await eventually(async () => assert.ok((value(await scrape(gw.adminUrl), 'tollgate_open_connections', { listener: 'https' }) ?? 99) <= during - 1))
  })

  test('health, readiness, and nothing else on the admin listener', async () => {
    const get = async (path: string, method = 'GET'): Promise<{ status: number, body: string, type: string }> => {
      const res = await request(gw.adminUrl + path, { method: method as 'GET' })
      return { status: res.statusCode, body: await res.body.text(), type: String(res.headers['content-type']) }
    }
    assert.deepEqual(await get('/healthz'), { status: 200, body: '{"status":"ok"}', type: 'application/json' })
    assert.deepEqual(await get('/readyz'), { status: 200, body: '{"status":"ready"}', type: 'application/json' })
    const m = await get('/metrics')
    assert.match(m.type, /^text\/plain; version=0\.0\.4/)
    assert.equal((await get('/metrics', 'POST')).status, 405)
    assert.equal((await get('/hello')).status, 404)
    // ...and the admin endpoints are not on the public listener: /metrics there is just a path with no container.
    assert.equal((await gw.get('/metrics')).status, 404)
  })
})

describe('reloads and secrets in metrics', () => {
  test('a refused reload is counted and the old config keeps serving; a good one swaps, in-flight requests finish on the old', async () => {
    const up = await startUpstream({ tls: false, handler: (req, res) => { setTimeout(() => { res.writeHead(200); res.end(req.url) }, req.url === '/a/slow' ? 500 : 0) } })
    const gw = await startGateway({
      env: { ...process.env, OPS_TOKEN: TOKEN },
      config: { containers: { a: { upstream: up.url, match: { path: '/a' }, token: '${env:OPS_TOKEN}', privacy: 'public' } } }
    })
    try {
      const raw = (await import('node:fs')).readFileSync(gw.configFile, 'utf8')
      const { parse } = await import('yaml')
      const base = parse(raw)
      const write = async (cfg: unknown): Promise<Awaited<ReturnType<typeof loadConfig>>> => {
        writeFileSync(gw.configFile, stringify(cfg))
        return await loadConfig(gw.configFile, { ...process.env, OPS_TOKEN: TOKEN })
      }
      const s0 = await scrape(gw.adminUrl)
      assert.equal(value(s0, 'tollgate_config_reloads_total', { outcome: 'success' }), 0)
      assert.equal(value(s0, 'tollgate_config_reloads_total', { outcome: 'failure' }), 0)
      assert.equal(value(s0, 'tollgate_config_last_reload_successful'), 1)

      // Refused: the certificate file is gone. The old config still serves.
      const broken = structuredClone(base)
      broken.server.tls.cert = join(gw.dir, 'missing.pem')
      broken.containers.b = { upstream: up.url, match: { path: '/b' }, token: '${env:OPS_TOKEN}', privacy: 'public' }
      await assert.rejects(gw.app.reload(await write(broken)), /TG_ERR_TLS|server\.tls\.cert/)
      assert.equal((await gw.get('/a/x')).status, 200)
      assert.equal((await gw.get('/b/x')).status, 404)
      const s1 = await scrape(gw.adminUrl)
      assert.equal(value(s1, 'tollgate_config_reloads_total', { outcome: 'failure' }), 1)
      assert.equal(value(s1, 'tollgate_config_last_reload_successful'), 0)

      // Accepted: /a goes away, /b appears. A request that started on the old config finishes on it.
      const inFlight = gw.get('/a/slow')
      await new Promise((resolve) => setTimeout(resolve, 100))
      const next = structuredClone(base)
      delete next.containers.a
      next.containers.b = { upstream: up.url, match: { path: '/b' }, token: '${env:OPS_TOKEN}', privacy: 'public' }
      const before = Date.now() / 1000
      await gw.app.reload(await write(next))
      assert.equal((await gw.get('/b/x')).status, 200)
      assert.equal((await gw.get('/a/x')).status, 404)
      const r = await inFlight
      assert.equal(r.status, 200)
      assert.equal(r.body, '/a/slow')
      const s2 = await scrape(gw.adminUrl)
      assert.equal(value(s2, 'tollgate_config_reloads_total', { outcome: 'success' }), 1)
      assert.equal(value(s2, 'tollgate_config_last_reload_successful'), 1)
      assert.ok((value(s2, 'tollgate_config_last_reload_success_timestamp_seconds') ?? 0) >= Math.floor(before))
    } finally {
      await gw.close()
      await up.close()
    }
  })

  test('secret refreshes, rotations and failures are counted by reference, never by value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-ops-secret-'))
    const file = join(dir, 'token')
    const first = 'file-token-one-' + Math.random().toString(36).slice(2)
    const second = 'file-token-two-' + Math.random().toString(36).slice(2)
    writeFileSync(file, first)
    const up = await startUpstream({ tls: false })
    const ref = '${file:' + file + '}'
    const gw = await startGateway({
      config: {
        secrets: { pollInterval: 50 },
        containers: { a: { upstream: up.url, match: { path: '/a' }, token: ref, privacy: 'public' } }
      }
    })
    try {
      const s0 = await scrape(gw.adminUrl)
      assert.equal(value(s0, 'tollgate_secret_rotations_total', { secret: ref }), 0)
      assert.equal(value(s0, 'tollgate_secret_refreshes_total', { secret: ref, outcome: 'failure' }), 0)
      writeFileSync(file, second)
      const s1 = await eventually(async () => {
        const s = await scrape(gw.adminUrl)
        assert.equal(value(s, 'tollgate_secret_rotations_total', { secret: ref }), 1)
        return s
      }, 5000)
      assert.ok((value(s1, 'tollgate_secret_refreshes_total', { secret: ref, outcome: 'success' }) ?? 0) >= 1)
      rmSync(file)
      const s2 = await eventually(async () => {
        const s = await scrape(gw.adminUrl)
        assert.ok((value(s, 'tollgate_secret_refreshes_total', { secret: ref, outcome: 'failure' }) ?? 0) >= 1)
        return s
      }, 5000)
      const text = [...s2.keys()].join('\n')
      assert.ok(!text.includes(first) && !text.includes(second), 'no secret value in any series')
      // The last good value is still injected.
      const echoed = await gw.get('/a/x')
      assert.equal(echoed.status, 200)
      assert.equal(echoed.json().headers['x-auth-token'], second)
    } finally {
      await gw.close()
      await up.close()
    }
  })
})

describe('the metrics sink itself', () => {
  test('an unknown reason or a status out of range lands in "other" series; the exposition stays valid', async () => {
    const m = createMetrics()
    const x: ExchangeRecord = {
      ...{ requestId: 'r', start: performance.now() - 5, method: 'GET', path: '/', host: 'h', ip: '127.0.0.1', container: undefined },
      ...{ reason: 'not_a_reason' as never, rule: undefined, principal: ANONYMOUS, status: 0, bytes: 0, upstreamStart: 0, upstreamEnd: 0 },
      ...{ allowed: false, injected: false, rotated: false, scheme: 'https' as const }
    }
    m.observe(x)
    m.observe({ ...x, reason: 'allowed', allowed: true, status: 204, container: 'c', upstreamStart: x.start, upstreamEnd: x.start + 1 })
    m.reloaded(false)
    const s = parseExposition(await m.text())
    assert.equal(value(s, 'tollgate_requests_total', { container: NO_CONTAINER, status_class: 'other', reason: 'other' }), 1)
    assert.equal(value(s, 'tollgate_requests_total', { container: 'c', status_class: '2xx', reason: 'allowed' }), 1)
    assert.equal(value(s, 'tollgate_upstream_duration_seconds_bucket', { container: 'c', le: '0.001' }), 1)
    assert.equal(value(s, 'tollgate_request_duration_seconds_count', { container: NO_CONTAINER }), 1)
    assert.equal(value(s, 'tollgate_config_reloads_total', { outcome: 'failure' }), 1)
  })
})
