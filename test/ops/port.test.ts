// --port-from-env (Scaleway Serverless Containers pass PORT; TLS ends at their edge) and --workers parsing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { request } from 'undici'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { parseConfig } from '../../src/config/load.js'
import { withPortFromEnv, workerCount } from '../../src/cli/serve.js'
import { availableCpus } from '../../src/server/cluster.js'
import { runTollgate, serveSetup, writeServeConfig } from './helpers.js'

const BASE = {
  server: {
    listen: { https: { host: '127.0.0.1', port: 8443 }, http: { host: '127.0.0.1', port: 8080 } },
    tls: { cert: 'c.pem', key: 'k.pem' },
    httpOption: 'enabled',
    admin: { host: '127.0.0.1', port: 9100 }
  },
  containers: { a: { upstream: 'https://a.example.com', match: { path: '/' }, token: '${env:T}' } }
}
const cfg = (server: Record<string, unknown> = {}): ReturnType<typeof parseConfig> =>
  parseConfig(stringify({ ...BASE, server: { ...BASE.server, ...server } }), { file: '/etc/tollgate/tollgate.yaml', env: {} })

test('PORT replaces the port of the plain listener (0.0.0.0 when the config has none); absent, the config is used as written', () => {
  const c = withPortFromEnv(cfg(), '8081')
  assert.deepEqual(c.server.listen.http, { host: '127.0.0.1', port: 8081 })
  const none = withPortFromEnv(cfg({ listen: { https: BASE.server.listen.https } }), '8081')
  assert.deepEqual(none.server.listen.http, { host: '0.0.0.0', port: 8081 })
  assert.deepEqual(c.server.listen.https, BASE.server.listen.https)
  assert.equal(c.file, '/etc/tollgate/tollgate.yaml')
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server))
  const same = cfg()
  assert.equal(withPortFromEnv(same, undefined), same)
  assert.equal(withPortFromEnv(same, ''), same)
})

test('PORT must be a port, httpOption must be enabled, and the admin and TLS ports must differ from it', () => {
  for (const bad of ['http', '0', '65536', '80 ', '-1', '1e3']) {
    assert.throws(() => withPortFromEnv(cfg(), bad), { code: 'TG_ERR_USAGE' }, bad)
  }
  assert.throws(() => withPortFromEnv(cfg({ httpOption: 'redirected' }), '8080'), (err: Error) => err.message.startsWith('server.httpOption: must be "enabled"'))
  assert.throws(() => withPortFromEnv(cfg(), '9100'), /server\.admin\.port: must differ from PORT/)
  assert.throws(() => withPortFromEnv(cfg(), '8443'), /server\.listen\.https\.port: must differ from PORT/)
})

test('--workers: 1 by default, a number, or "auto" (CPUs, capped by a cgroup quota)', () => {
  assert.equal(workerCount(undefined), 1)
  assert.equal(workerCount('3'), 3)
  assert.equal(workerCount(4), 4)
  const auto = workerCount('auto')
  assert.equal(auto, availableCpus())
  assert.ok(auto >= 1)
  for (const bad of ['0', '257', 'two', '1.5', '']) assert.throws(() => workerCount(bad), { code: 'TG_ERR_USAGE' }, bad)
})

test('the binary with --port-from-env serves plain HTTP on $PORT behind a trusted edge; a redirecting config is refused', { timeout: 60_000 }, async () => {
  const up = await startUpstream({ tls: false })
  const setup = serveSetup()
  const file = writeServeConfig(setup, { a: { upstream: up.url, match: { path: '/a' }, token: '${env:PORT_TEST_TOKEN}', privacy: 'public' } }, {
    listen: { https: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 1 } },
    trustedProxies: ['127.0.0.1'],
    logLevel: 'warn'
  })
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const port = (free.address() as AddressInfo).port
  await new Promise<void>((resolve) => free.close(() => resolve()))

  const g = runTollgate(['serve', '--config', file, '--port-from-env'], { PORT: String(port), PORT_TEST_TOKEN: 'port-test-token-x1' })
  try {
    // logLevel warn: no info lines at all, so readiness is polled on the plain port itself.
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await request(`http://127.0.0.1:${port}/a/x`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } })
        .then(async (r) => { const b = await r.body.json() as { headers: Record<string, string> }; assert.equal(b.headers['x-forwarded-for'], '203.0.113.9'); return r.statusCode }, () => 0)
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(status, 200)
    g.kill('SIGTERM')
    assert.deepEqual(await g.exited, { code: 0, signal: null })
    assert.equal(g.lines.filter((l) => l.level < 40).length, 0, 'logLevel warn: no info lines')
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }

  // The config says redirected: refused with the field named (exit 2).
  writeFileSync(file, stringify({ ...BASE, server: { ...BASE.server, tls: { cert: setup.cert, key: setup.key }, httpOption: 'redirected' } }))
  const bad = runTollgate(['serve', '--config', file, '--port-from-env'], { PORT: String(port), T: 'x' })
  assert.deepEqual(await bad.exited, { code: 2, signal: null })
  assert.match(bad.stderr(), /^tollgate: server\.httpOption: must be "enabled"/)
})
