// Access and decision logs: request ids, and no credential or token in any line, whatever happens.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { request } from 'undici'
import { startGateway, registerSecretValue, assertNoSecretInLogs, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { loadConfig } from '../../src/config/load.js'
import { BIN } from '../helpers/root.js'
import { eventually, serveSetup, writeServeConfig } from './helpers.js'

const rnd = (): string => Math.random().toString(36).slice(2)
const TOKEN = 'upstream-token-' + rnd()

describe('request ids', () => {
  let up: Upstream
  let trusting: TestGateway
  let plain: TestGateway
  before(async () => {
    up = await startUpstream({ tls: false })
    const containers = { hello: { upstream: up.url, match: { path: '/hello' }, token: '${env:LOG_TOKEN}', privacy: 'public' } }
    const env = { ...process.env, LOG_TOKEN: TOKEN }
    trusting = await startGateway({ env, config: { server: { trustedProxies: ['127.0.0.1'] }, containers } })
    plain = await startGateway({ env, config: { containers } })
  })
  after(async () => {
    await trusting.close()
    await plain.close()
    await up.close()
  })

  test('X-Request-Id from a trusted proxy is kept: sent upstream, returned, logged', async () => {
    const id = 'edge-' + rnd()
    const r = await trusting.get('/hello/x', { headers: { 'x-request-id': id } })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-request-id'], id)
    assert.equal(r.json().headers['x-request-id'], id)
    const line = await eventually(() => {
      const l = trusting.logs.find((l) => l.type === 'access' && l.requestId === id)
      assert.ok(l)
      return l
    })
    assert.equal(line.path, '/hello/x')
    assert.equal(line.status, 200)
  })

  test('an ill-formed id, or any id from an untrusted peer, is replaced by a generated one', async () => {
    for (const [gw, id] of [[trusting, 'has spaces in it'], [trusting, 'x'.repeat(129)], [plain, 'client-chosen-' + rnd()]] as const) {
      const r = await gw.get('/hello/x', { headers: { 'x-request-id': id } })
      assert.equal(r.status, 200)
      const got = r.headers['x-request-id'] as string
      assert.notEqual(got, id)
      assert.match(got, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.equal(r.json().headers['x-request-id'], got, 'the upstream sees the same id as the client')
    }
  })

  test('a refused request carries its id in the body, the header and the log', async () => {
    const r = await plain.get('/nowhere')
    assert.equal(r.status, 404)
    const id = r.json().requestId as string
    assert.equal(r.headers['x-request-id'], id)
    await eventually(() => assert.ok(plain.logs.some((l) => l.type === 'access' && l.requestId === id && l.reason === 'no_route')))
  })
})

describe('no log line carries a credential or a token', () => {
  test('client credentials, cookies, query tokens and the upstream token never reach the logs, whatever the outcome', async () => {
    const secrets = {
      xAuth: 'client-x-auth-' + rnd(),
      bearer: 'client-bearer-' + rnd(),
      cookie: 'session-cookie-' + rnd(),
      query: 'query-token-' + rnd(),
      basic: Buffer.from('user:basic-pass-' + rnd()).toString('base64')
    }
    for (const v of [...Object.values(secrets), TOKEN]) registerSecretValue(v)
    const up = await startUpstream({ tls: false })
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const dead = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const env = { ...process.env, LOG_TOKEN: TOKEN }
    const c = (upstream: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ upstream, match: { path }, token: '${env:LOG_TOKEN}', privacy: 'public', ...extra })
    const gw = await startGateway({
      env,
      config: {
        server: { logLevel: 'debug' },
        containers: {
          open: c(up.url, '/open'),
          denied: c(up.url, '/denied', { policies: [{ name: 'nobody', condition: 'request.ip == "192.0.2.1"' }] }),
          headers: c(up.url, '/headers', { policies: [{ name: 'hdr', condition: 'request.headers["x-auth-token"] == "never"' }] }),
          priv: c(up.url, '/priv', { privacy: 'private' }),
          dead: c(`http://127.0.0.1:${dead}`, '/dead')
        }
      }
    })
    try {
      const creds = {
        'x-auth-token': secrets.xAuth,
        authorization: `Bearer ${secrets.bearer}`,
        cookie: `sid=${secrets.cookie}`,
        'proxy-authorization': `Basic ${secrets.basic}`
      }
      const statuses: number[] = []
      for (const path of ['/open/a', '/denied/a', '/headers/a', '/priv/a', '/dead/a', '/nowhere', '/open/%2e%2e/x', '/open/a_b']) {
        statuses.push((await gw.get(`${path}?access_token=${secrets.query}&token=${secrets.query}`, { headers: creds })).status)
      }
      // The bearer alone, and X-Auth-Token alone, on the private container.
      statuses.push((await gw.get('/priv/b', { headers: { authorization: `Bearer ${secrets.bearer}` } })).status)
      statuses.push((await gw.get('/priv/b', { headers: { 'x-auth-token': secrets.xAuth } })).status)
      // A header name with "_" (refused, logged).
      statuses.push((await gw.get('/open/c', { headers: { x_auth_token: secrets.xAuth } })).status)
      assert.ok(statuses.includes(200) && statuses.includes(403) && statuses.includes(401) && statuses.includes(502) && statuses.includes(404))
      // A reload that fails, and one that works, log too.
      writeFileSync(join(gw.dir, 'broken.yaml'), 'server: {}\n')
      await assert.rejects(async () => await gw.app.reload(await loadConfig(join(gw.dir, 'broken.yaml'), env)))
      await gw.app.reload(await loadConfig(gw.configFile, env))
      await eventually(() => assert.ok(gw.logs.filter((l) => l.type === 'access').length >= statuses.length))
      const lines = gw.logs.map((l) => JSON.stringify(l))
      assertNoSecretInLogs(lines)
      for (const v of [...Object.values(secrets), TOKEN]) {
        assert.ok(!lines.some((l) => l.includes(v)), 'a credential or token reached a log line')
      }
      // The access line has the path without its query string.
      assert.ok(gw.logs.some((l) => l.type === 'access' && l.path === '/open/a'))
      // Decision lines say whether a token was injected, never which.
      const decision = gw.logs.find((l) => l.type === 'decision' && l.reason === 'policy_denied')
      assert.equal(decision?.credentialInjected, false)
    } finally {
      await gw.close()
      await up.close()
    }
  })
})

describe('where the log is written, and a log write that fails', () => {
  interface Served { child: ChildProcess, stderr: () => string, stop: () => Promise<number | null> }
  /**
   * Runs `body` against `tollgate serve` with its stdout on `stdout` (one public container on a fresh
   * upstream). If the gateway exits before `body` stops it, the test fails at once, with its stderr.
   */
  async function withServe (stdout: 'pipe' | number, server: Record<string, unknown>, body: (g: Served) => Promise<void>): Promise<void> {
    const up = await startUpstream({ tls: false })
    const s = serveSetup()
    writeServeConfig(s, { hello: { upstream: up.url, match: { path: '/hello' }, token: '${env:LOG_TOKEN}', privacy: 'public' } }, server)
    const child = spawn(process.execPath, [BIN, 'serve', '--config', s.file], { env: { ...process.env, LOG_TOKEN: TOKEN }, stdio: ['ignore', stdout, 'pipe'] })
    let err = ''
    child.stderr?.on('data', (d: Buffer) => { err += d.toString() })
    let stopping = false
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const early = exited.then(async (code) => {
      if (!stopping) throw new Error(`tollgate exited (${String(code)}) before the test stopped it; stderr: ${err.slice(0, 500)}`)
      return await new Promise<void>(() => {})
    })
    const stop = async (): Promise<number | null> => {
      stopping = true
      child.kill('SIGTERM')
      return await exited
    }
    try {
      await Promise.race([body({ child, stderr: () => err, stop }), early])
    } finally {
      stopping = true
      child.kill('SIGKILL')
      await up.close()
    }
  }

  const freePort = async (): Promise<number> => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    return port
  }

  const get = async (url: string): Promise<number> => {
    // Short timeouts: a gateway that hangs fails the test in seconds, not after undici's 300 s.
    const r = await request(url, { headersTimeout: 5000, bodyTimeout: 5000 })
    await r.body.dump()
    return r.statusCode
  }

  test('access lines written to a file stdout: there within a second while idle, every one of them at exit', { timeout: 30_000 }, async () => {
    const logFile = join(serveSetup().dir, 'access.log')
    const fd = openSync(logFile, 'w')
    const lines = (): Array<Record<string, any>> => readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
    await withServe(fd, {}, async ({ stop }) => {
      closeSync(fd)
      const started = await eventually(() => {
        const l = lines().find((l) => l.msg === 'tollgate listening')
        assert.ok(l)
        return l
      }, 5000)
      const url = `http://127.0.0.1:${started.http.port as number}`
      for (let i = 0; i < 20; i++) assert.equal(await get(`${url}/hello/idle-${i}`), 200)
      // Fewer than the write threshold: the periodic flush brings them while the gateway idles.
      await eventually(() => assert.equal(lines().filter((l) => l.type === 'access').length, 20), 3000)
      for (let i = 0; i < 5; i++) assert.equal(await get(`${url}/hello/last-${i}`), 200)
      assert.equal(await stop(), 0)
      const all = lines()
      assert.deepEqual(all.filter((l) => l.type === 'access').map((l) => l.path),
        [...Array.from({ length: 20 }, (_, i) => `/hello/idle-${i}`), ...Array.from({ length: 5 }, (_, i) => `/hello/last-${i}`)])
      assert.equal(all[all.length - 1].msg, 'drained; exiting')
      assert.ok(!readFileSync(logFile, 'utf8').includes(TOKEN))
    })
  })

  test('a full disk under the log (ENOSPC on stdout) never stops the gateway: requests served, the loss told on stderr, a clean exit', { timeout: 30_000 }, async () => {
    // Its startup line is lost too, so the plain listener gets a port chosen here.
    const httpPort = await freePort()
    const full = openSync('/dev/full', 'w')
    await withServe(full, { listen: { https: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: httpPort } } }, async ({ stderr, stop }) => {
      closeSync(full)
      await eventually(async () => assert.equal(await get(`http://127.0.0.1:${httpPort}/hello/ready`), 200), 10_000)
      let served = 0
      for (let i = 0; i < 300; i++) {
        if (await get(`http://127.0.0.1:${httpPort}/hello/${i}`) === 200) served++
      }
      assert.equal(served, 300, 'every request was answered while the log could not be written')
      await eventually(() => assert.match(stderr(), /writing the log to stdout failed \(ENOSPC\)/), 3000)
      assert.ok(!stderr().includes(TOKEN))
      assert.equal(await stop(), 0)
    })
  })

  test('a log reader that goes away (EPIPE on stdout) never stops the gateway', { timeout: 30_000 }, async () => {
    await withServe('pipe', {}, async ({ child, stderr, stop }) => {
      let text = ''
      const started = await new Promise<Record<string, any>>((resolve) => {
        child.stdout?.on('data', (d: Buffer) => {
          text += d.toString()
          const line = text.split('\n').find((l) => l.includes('"tollgate listening"'))
          if (line !== undefined) resolve(JSON.parse(line))
        })
      })
      child.stdout?.destroy() // the collector is gone: the next write gets EPIPE
      const url = `http://127.0.0.1:${started.http.port as number}`
      for (let i = 0; i < 300; i++) assert.equal(await get(`${url}/hello/${i}`), 200)
      await new Promise((resolve) => setTimeout(resolve, 1200)) // past a periodic flush
      for (let i = 0; i < 50; i++) assert.equal(await get(`${url}/hello/after-${i}`), 200)
      // The writes did fail (the test is about them), and the loss was told.
      await eventually(() => assert.match(stderr(), /writing the log to stdout failed \(EPIPE\)/), 3000)
      assert.equal(await stop(), 0)
    })
  })
})
