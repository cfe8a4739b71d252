// The plugin's config: a YAML file or an object, validated, defaulted and interpolated exactly as
// `tollgate serve`'s file, without the listeners (the app's own). Bad input refuses registration
// with the field's path; the app does not start half-configured.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { stringify } from 'yaml'
import tollgate, { type TollgateConfigInput, type TollgateOptions } from '../../src/fastify/index.js'
import { startUpstream } from '../helpers/upstream.js'
import { localhostCert, writePki, testCa } from '../helpers/pki.js'
import { BIN } from '../helpers/root.js'
import { spawnSync } from 'node:child_process'
import { request, Agent } from 'undici'

const TOKEN = 'cfg-token-' + Math.random().toString(36).slice(2)
const env = { ...process.env, CFG_TOKEN: TOKEN }
type Container = TollgateConfigInput['containers'][string]
const container = (more: Record<string, unknown> = {}): Container =>
  ({ upstream: 'https://127.0.0.1:9', match: { path: '/a' }, token: '${env:CFG_TOKEN}', privacy: 'public', ...more }) as Container

async function refused (opts: Partial<TollgateOptions>, pattern: RegExp, setup?: (app: FastifyInstance) => Promise<void>): Promise<void> {
  const app = Fastify({ logger: false })
  try {
    await assert.rejects(async () => {
      if (setup !== undefined) await setup(app)
      else await app.register(tollgate, { env, ...opts } as TollgateOptions)
      await app.ready()
    }, (err: Error) => {
      assert.match(err.message, pattern)
      return true
    })
  } finally {
    await app.close().catch(() => {})
  }
}

test('a config object: defaults filled, ${env:} from the env option, relative paths from baseDir, undefined values absent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-fastify-cfg-'))
  const pki = writePki(dir)
  const up = await startUpstream()
  const app = Fastify({ logger: false })
  try {
    await app.register(tollgate, {
      env,
      baseDir: dir,
      config: { containers: { a: { upstream: up.url, upstreamCa: './ca.pem', match: { path: '/a' }, token: '${env:CFG_TOKEN}', privacy: 'public', timeout: undefined } } }
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const r = await request(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/a/x`)
    const got = await r.body.json() as { headers: Record<string, string> }
    assert.equal(r.statusCode, 200)
    assert.equal(got.headers['x-auth-token'], TOKEN)
    assert.ok(pki.ca.startsWith(dir))
  } finally {
    await app.close()
    await up.close()
  }
})

test('bad config refuses registration, naming the field', async () => {
  await refused({ config: { containers: { a: container({ upsteam: 'x' }) } } as never }, /containers\.a\.upsteam: unknown key/)
  await refused({ config: { containers: { a: container({ upstream: () => 'x' }) } } as never }, /containers\.a\.upstream: expected a plain value/)
  await refused({ config: { containers: { a: container({ policies: [{ name: 'p', condition: 'request.ip +' }] }) } } }, /containers\.a\.policies\[0\]\.condition/)
  await refused({ config: { containers: { a: container({ token: '${env:NOT_SET_ANYWHERE}' }) } } }, /NOT_SET_ANYWHERE/)
  await refused({ config: { server: { trustedProxies: ['not-an-ip'] }, containers: { a: container() } } }, /server\.trustedProxies\[0\]/)
  await refused({ config: '/nonexistent/tollgate.yaml' }, /cannot read config \/nonexistent\/tollgate\.yaml: ENOENT/)
})

test('two containers of one upstream origin must name the same upstreamCa (one pool per origin)', async () => {
  const pki = writePki()
  await refused({
    config: { containers: { a: container({ upstreamCa: pki.ca }), b: container({ match: { path: '/b' } }) } }
  }, /containers\.b\.upstreamCa: differs from containers\.a\.upstreamCa/)
})

test('registering inside a prefixed context is refused: containers are routed on the app\'s full path', async () => {
  await refused({}, /outside a prefixed context \(here "\/api"\)/, async (app) => {
    await app.register(async (api) => {
      await api.register(tollgate, { env, config: { containers: { a: container() } } })
    }, { prefix: '/api' })
  })
})

test('two registrations (two configs) share the app: each serves its own paths', async () => {
  const up = await startUpstream({ tls: false })
  const app = Fastify({ logger: false })
  try {
    const one = (path: string): TollgateOptions => ({ env, config: { containers: { [path.slice(1)]: container({ upstream: up.url, match: { path } }) } } })
    await app.register(tollgate, one('/one'))
    await app.register(tollgate, one('/two'))
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    for (const path of ['/one/x', '/two/x']) {
      const r = await request(base + path)
      await r.body.text()
      assert.equal(r.statusCode, 200, path)
    }
  } finally {
    await app.close()
    await up.close()
  }
})

test('a plugin config file needs no server: section; tollgate serve refuses the same file (its own listeners are required)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-fastify-cfg-'))
  const file = join(dir, 'tollgate.yaml')
  const up = await startUpstream({ tls: false })
  writeFileSync(file, stringify({ containers: { a: container({ upstream: up.url }) } }))
  const app = Fastify({ logger: false, https: { ...localhostCert() } })
  const agent = new Agent({ connect: { ca: testCa().cert } })
  try {
    await app.register(tollgate, { config: file, env })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const r = await request(`https://localhost:${(app.server.address() as { port: number }).port}/a/x`, { dispatcher: agent })
    const got = await r.body.json() as { headers: Record<string, string> }
    assert.equal(r.statusCode, 200)
    assert.equal(got.headers['x-forwarded-proto'], 'https', 'the scheme is the app\'s listener\'s')
    assert.match(String(r.headers['strict-transport-security']), /^max-age=/, 'HSTS on HTTPS, as tollgate serve sends it')
  } finally {
    await app.close()
    await agent.close()
    await up.close()
  }
  const serve = spawnSync(process.execPath, [BIN, 'check', '--config', file], { encoding: 'utf8', env })
  assert.equal(serve.status, 2)
  assert.match(serve.stderr, /^tollgate: server: /m)
})
