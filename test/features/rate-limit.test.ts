// Rate limits (containers.NAME.rateLimit) on a real gateway: 429 after N with Retry-After and
// RateLimit-*, counted by IP, principal or header, in memory and in a real redis-server; two gateway
// processes sharing one limit through Redis; Redis killed or frozen mid-run without a hang.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { parse, stringify } from 'yaml'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { createKey } from '../credentials/helpers.js'
import { eventually, msg, runTollgate, scrape, serveSetup, total, value, writeServeConfig, type Served } from '../ops/helpers.js'
import { loadConfig } from '../../src/config/load.js'

const TOKEN = 'rl-token-' + randomBytes(6).toString('hex')
const env = { ...process.env, RL_TOKEN: TOKEN }

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function get (base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(base + path, { headers: { host: 'localhost', ...headers } })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

const container = (up: Upstream, path: string, extra: Record<string, unknown>): Record<string, unknown> =>
  ({ upstream: up.url, match: { path }, token: '${env:RL_TOKEN}', privacy: 'public', ...extra })

describe('rate limits in memory', () => {
  let up: Upstream
  let gw: TestGateway
  let keyA: string
  let keyB: string

  before(async () => {
    up = await startUpstream({ tls: false })
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-rl-'))
    const stores = { secrets: { store: join(dir, 'secrets.store') }, credentials: { keys: join(dir, 'keys.store') } }
    const keysEnv = { ...env, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
    const keysConfig = join(dir, 'keys.yaml')
    writeFileSync(keysConfig, stringify({ server: { listen: { https: { port: 0 } }, tls: { cert: 'c.pem', key: 'k.pem' } }, ...stores, containers: { x: { upstream: up.url, match: { path: '/' }, token: '${env:RL_TOKEN}' } } }))
    keyA = await createKey({ config: keysConfig, env: keysEnv } as never, 'alice')
    keyB = await createKey({ config: keysConfig, env: keysEnv } as never, 'bob')
    gw = await startGateway({
      env: keysEnv,
      config: {
        server: { httpOption: 'enabled' },
        ...stores,
        containers: {
          byip: container(up, '/byip', { rateLimit: [{ name: 'per-client', requests: 3, per: '1m', by: 'ip' }] }),
          two: container(up, '/two', { rateLimit: [{ name: 'burst', requests: 2, per: '10s' }, { name: 'hourly', requests: 5, per: '1h' }] }),
          byheader: container(up, '/byheader', { rateLimit: [{ name: 'per-tenant', requests: 1, per: '1m', by: 'header:X-Tenant' }] }),
          private: container(up, '/private', { privacy: 'private', rateLimit: [{ name: 'per-key', requests: 2, per: '1m', by: 'principal' }] }),
          guarded: container(up, '/guarded', { privacy: 'private', rateLimit: [{ name: 'guess', requests: 2, per: '1m', by: 'ip' }] }),
          denying: container(up, '/denying', {
            privacy: 'private',
            policies: [{ name: 'reads', condition: 'request.method == "GET"' }],
            rateLimit: [{ name: 'per-key', requests: 1, per: '1m', by: 'principal' }]
          }),
          free: container(up, '/free', {})
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await up.close()
  })

  test('429 after N by IP, with Retry-After and RateLimit-*; allowed answers carry RateLimit-* too', async () => {
    const seen: Answer[] = []
    for (let i = 0; i < 4; i++) seen.push(await get(gw.httpUrl, '/byip/x'))
    assert.deepEqual(seen.map((a) => a.status), [200, 200, 200, 429])
    assert.deepEqual(seen.slice(0, 3).map((a) => [a.headers['ratelimit-limit'], a.headers['ratelimit-remaining']]), [['3', '2'], ['3', '1'], ['3', '0']])
    for (const a of seen.slice(0, 3)) {
      const reset = Number(a.headers['ratelimit-reset'])
      assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset is the seconds left in the window, got ${reset}`)
      assert.equal(a.headers['retry-after'], undefined)
    }
    const denied = seen[3]
    const body = JSON.parse(denied.body)
    assert.deepEqual({ error: body.error, reason: body.reason }, { error: 'too_many_requests', reason: 'rate_limited' })
    assert.equal(body.requestId, denied.headers['x-request-id'])
    assert.equal(denied.headers['ratelimit-limit'], '3')
    assert.equal(denied.headers['ratelimit-remaining'], '0')
    const retry = Number(denied.headers['retry-after'])
    assert.ok(retry >= 1 && retry <= 60, `Retry-After in seconds, got ${String(denied.headers['retry-after'])}`)
    assert.equal(denied.headers['ratelimit-reset'], denied.headers['retry-after'])
    assert.equal(up.received.filter((r) => r.url === '/byip/x').length, 3, 'the 429 never reached the container')
    const line = await eventually(() => {
      const l = gw.logs.find((e) => e.type === 'decision' && e.requestId === denied.headers['x-request-id'])
      assert.ok(l !== undefined)
      return l
    })
    assert.deepEqual({ decision: line.decision, reason: line.reason, limit: line.limit, container: line.container }, { decision: 'deny', reason: 'rate_limited', limit: 'per-client', container: 'byip' })
    const m = await scrape(gw.adminUrl)
    assert.equal(value(m, 'tollgate_rate_limited_total', { container: 'byip', limit: 'per-client' }), 1)
    assert.equal(value(m, 'tollgate_rate_limited_total', { container: 'two', limit: 'hourly' }), 0, 'every limit has its series from the start')
    assert.equal(total(m, 'tollgate_requests_total', { container: 'byip', reason: 'rate_limited' }), 1)
  })

  test('a container without limits gets no RateLimit fields', async () => {
    const a = await get(gw.httpUrl, '/free/x')
    assert.equal(a.status, 200)
    assert.equal(a.headers['ratelimit-limit'], undefined)
  })

  test('two limits: each counts; the tightest is reported; either exhausted answers 429 naming it', async () => {
    const a1 = await get(gw.httpUrl, '/two/x')
    assert.deepEqual([a1.headers['ratelimit-limit'], a1.headers['ratelimit-remaining']], ['2', '1'], 'burst (1 left) is tighter than hourly (4 left)')
    await get(gw.httpUrl, '/two/x')
    const a3 = await get(gw.httpUrl, '/two/x')
    assert.equal(a3.status, 429)
    assert.equal(a3.headers['ratelimit-limit'], '2')
    const line = await eventually(() => {
      const l = gw.logs.find((e) => e.type === 'decision' && e.requestId === a3.headers['x-request-id'])
      assert.ok(l !== undefined)
      return l
    })
    assert.equal(line.limit, 'burst')
  })

  test('by header: each value has its own budget; without the header, the client IP is the key', async () => {
    assert.equal((await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'acme' })).status, 200)
    assert.equal((await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'acme' })).status, 429)
    assert.equal((await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'globex' })).status, 200)
    assert.equal((await get(gw.httpUrl, '/byheader/x')).status, 200)
    assert.equal((await get(gw.httpUrl, '/byheader/x')).status, 429)
  })

  test('by principal: each key has its own budget; counted after authorization', async () => {
    const a = (key: string): Record<string, string> => ({ 'x-auth-token': key })
    assert.deepEqual([
      (await get(gw.httpUrl, '/private/x', a(keyA))).status,
      (await get(gw.httpUrl, '/private/x', a(keyA))).status,
      (await get(gw.httpUrl, '/private/x', a(keyA))).status,
      (await get(gw.httpUrl, '/private/x', a(keyB))).status
    ], [200, 200, 429, 200])
    // A request the policy denies costs the principal nothing (Kong counts after its ACL).
    const post = await request(gw.httpUrl + '/denying/x', { method: 'POST', headers: a(keyB), body: '' })
    await post.body.text()
    assert.equal(post.statusCode, 403)
    assert.equal((await get(gw.httpUrl, '/denying/x', a(keyB))).status, 200, 'the 403 did not spend bob\'s one request')
    assert.equal((await get(gw.httpUrl, '/denying/x', a(keyB))).status, 429)
  })

  test('by IP counts before authentication: 401s spend the budget of a client guessing credentials', async () => {
    assert.equal((await get(gw.httpUrl, '/guarded/x')).status, 401)
    const second = await get(gw.httpUrl, '/guarded/x', { 'x-auth-token': 'tg_guess' })
    assert.equal(second.status, 401)
    assert.equal(second.headers['ratelimit-remaining'], '0', 'tollgate\'s own answers carry the RateLimit fields')
    const third = await get(gw.httpUrl, '/guarded/x', { 'x-auth-token': keyA })
    assert.equal(third.status, 429, 'even with a good key: the IP spent its budget')
  })

  test('a reload keeps the counts of an unchanged limit and starts a changed one afresh', async () => {
    const file = gw.configFile
    const before = await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'reload' })
    assert.equal(before.status, 200)
    await gw.app.reload(await loadConfig(file, env))
    assert.equal((await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'reload' })).status, 429, 'the same limit after a reload: still spent')
    const changed = parse(readFileSync(file, 'utf8'))
    changed.containers.byheader.rateLimit[0].requests = 2
    writeFileSync(file, stringify(changed))
    await gw.app.reload(await loadConfig(file, env))
    const fresh = await get(gw.httpUrl, '/byheader/x', { 'x-tenant': 'reload' })
    assert.deepEqual([fresh.status, fresh.headers['ratelimit-limit'], fresh.headers['ratelimit-remaining']], [200, '2', '1'], 'a resized limit counts afresh')
  })
})

describe('rate limits in Redis', () => {
  let redis: TestRedis
  let up: Upstream
  before(async () => {
    redis = await startRedis()
    up = await startUpstream({ tls: false })
  })
  after(async () => {
    await up.close()
    await redis.stop()
  })

  test('counters live in Redis under the key prefix, with the window as TTL', async () => {
    const gw = await startGateway({
      env,
      config: {
        server: { httpOption: 'enabled', rateLimit: { redis: redis.url, keyPrefix: 'tg-test' } },
        containers: { c: container(up, '/', { rateLimit: [{ name: 'per-client', requests: 2, per: '1m' }] }) }
      }
    })
    try {
      assert.deepEqual([(await get(gw.httpUrl, '/a')).status, (await get(gw.httpUrl, '/a')).status, (await get(gw.httpUrl, '/a')).status], [200, 200, 429])
      const key = 'tg-test:rl:c:per-client:60:ip:127.0.0.1'
      assert.match(await redis.command('GET', key), /^\$1\r\n3\r\n$/, 'three requests counted in Redis')
      const ttl = Number(/^:(-?\d+)/.exec(await redis.command('TTL', key))?.[1])
      assert.ok(ttl > 0 && ttl <= 60, `the key expires with its window, TTL ${ttl}`)
    } finally {
      await gw.close()
      await redis.command('FLUSHALL')
    }
  })

  test('the same semantics in memory and in Redis: the same answers, field for field, to the same requests', async () => {
    const limits = [{ name: 'burst', requests: 2, per: '10s' }, { name: 'minute', requests: 3, per: '1m' }]
    const start = async (server: Record<string, unknown>): Promise<TestGateway> => await startGateway({
      env, config: { server: { httpOption: 'enabled', ...server }, containers: { c: container(up, '/', { rateLimit: limits }) } }
    })
    const seen: string[][] = []
    for (const gw of [await start({}), await start({ rateLimit: { redis: redis.url } })]) {
      try {
        const out: string[] = []
        for (let i = 0; i < 4; i++) {
          const a = await get(gw.httpUrl, '/same')
          const reset = Number(a.headers['ratelimit-reset'])
          const window = reset > 0 && reset <= 10 ? '≤10s' : reset > 50 && reset <= 60 ? '≤60s' : `reset ${reset}`
          out.push(`${a.status} ${String(a.headers['ratelimit-limit'])} ${String(a.headers['ratelimit-remaining'])} ${window} ${a.headers['retry-after'] === undefined ? '-' : 'retry'}`)
        }
        seen.push(out)
      } finally {
        await gw.close()
      }
    }
    // Third request: burst is spent (429, back in ≤ 10 s); fourth: both are, and the answer names the
    // one that resets last.
    assert.deepEqual(seen[0], ['200 2 1 ≤10s -', '200 2 0 ≤10s -', '429 2 0 ≤10s retry', '429 3 0 ≤60s retry'], 'memory')
    assert.deepEqual(seen[1], seen[0], 'Redis answers as memory does')
    await redis.command('FLUSHALL')
  })

  test('two gateway processes share one limit through Redis', { timeout: 60_000 }, async () => {
    const s = serveSetup()
    writeServeConfig(s, { c: container(up, '/', { rateLimit: [{ name: 'shared', requests: 5, per: '1m' }] }) }, { rateLimit: { redis: redis.url } })
    const gateways: Served[] = [runTollgate(['serve', '--config', s.file], { RL_TOKEN: TOKEN }), runTollgate(['serve', '--config', s.file], { RL_TOKEN: TOKEN })]
    try {
      const ports = await Promise.all(gateways.map(async (g) => (await g.waitFor(msg('tollgate listening'), 20_000, 'tollgate listening')).http.port as number))
      assert.notEqual(ports[0], ports[1])
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await get(`http://127.0.0.1:${ports[i % 2]}`, '/shared')).status)
      // Alone, each process would allow 5: together they allowed 5 in all.
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429])
    } finally {
      for (const g of gateways) g.kill()
      await Promise.all(gateways.map(async (g) => await g.exited))
      await redis.command('FLUSHALL')
    }
  })
})

describe('Redis failing mid-run: requests keep being answered (fail open), never a hang', () => {
  let up: Upstream
  before(async () => { up = await startUpstream({ tls: false }) })
  after(async () => { await up.close() })

  /** Each request must be answered within this (the per-call bound is 200 ms; the rest is slack for a loaded machine). */
  const PROMPT_MS = 3000

  async function timed (base: string, path: string): Promise<Answer> {
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(), PROMPT_MS)
    try {
      const res = await request(base + path, { headers: { host: 'localhost' }, signal: ac.signal })
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
    } catch (err) {
      throw new Error(`${path} was not answered within ${PROMPT_MS} ms: ${(err as Error).message}`)
    } finally {
      clearTimeout(timer)
    }
  }

  /** A gateway whose one container allows `requests` a minute per IP, counted in the Redis at `url`, calls bounded at 200 ms. */
  async function redisGateway (url: string, requests: number): Promise<TestGateway> {
    return await startGateway({
      env,
      config: {
        server: { httpOption: 'enabled', rateLimit: { redis: url, timeout: 200 } },
        containers: { c: container(up, '/', { rateLimit: [{ name: 'per-client', requests, per: '1m' }] }) }
      }
    })
  }

  test('redis-server killed: every request answered promptly and let through, a metric and a warning say so', async () => {
    const redis = await startRedis()
    const gw = await redisGateway(redis.url, 2)
    try {
      assert.deepEqual([(await timed(gw.httpUrl, '/k')).status, (await timed(gw.httpUrl, '/k')).status, (await timed(gw.httpUrl, '/k')).status], [200, 200, 429])
      await redis.kill()
      const after: Answer[] = []
      for (let i = 0; i < 5; i++) after.push(await timed(gw.httpUrl, '/k'))
      assert.deepEqual(after.map((a) => a.status), [200, 200, 200, 200, 200], 'Redis down: the limit is not enforced (fail open)')
      assert.equal(after[0].headers['ratelimit-limit'], undefined, 'no RateLimit fields without a count')
      const m = await scrape(gw.adminUrl)
      assert.ok((value(m, 'tollgate_rate_limit_store_errors_total') ?? 0) >= 5, 'each failed call is counted')
      const warning = gw.logs.find((l) => String(l.msg).startsWith('rate-limit store failing'))
      assert.ok(warning !== undefined, 'a warning says the limits are not enforced')
      assert.equal(warning.store, `127.0.0.1:${redis.port}`)
      assert.ok(gw.logs.filter((l) => String(l.msg).startsWith('rate-limit store failing')).length <= 2, 'the warning is not repeated per request')
    } finally {
      await gw.close()
      await redis.stop()
    }
  })

  test('redis-server frozen (SIGSTOP, connections open, no answer): each call gives up after the timeout', async () => {
    const redis = await startRedis()
    const gw = await redisGateway(redis.url, 100)
    try {
      assert.equal((await timed(gw.httpUrl, '/f')).status, 200)
      redis.pause()
      const answers = await Promise.all([1, 2, 3].map(async () => await timed(gw.httpUrl, '/f')))
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200])
      const m = await scrape(gw.adminUrl)
      assert.ok((value(m, 'tollgate_rate_limit_store_errors_total') ?? 0) >= 3)
      redis.resume()
      // Back: counted again.
      await eventually(async () => {
        const a = await timed(gw.httpUrl, '/f')
        assert.equal(a.headers['ratelimit-limit'], '100')
      }, 10_000)
    } finally {
      redis.resume()
      await gw.close()
      await redis.stop()
    }
  })

  test('Redis unreachable at start: the gateway starts, serves, and warns', async () => {
    const redis = await startRedis()
    const url = redis.url
    await redis.stop()
    const gw = await redisGateway(url, 1)
    try {
      assert.deepEqual([(await timed(gw.httpUrl, '/u')).status, (await timed(gw.httpUrl, '/u')).status], [200, 200])
      assert.ok(gw.logs.some((l) => String(l.msg).startsWith('rate-limit store failing')))
    } finally {
      await gw.close()
    }
  })
})
