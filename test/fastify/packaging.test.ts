// How the plugin ships: `tollgate/fastify` through package.json `exports` (code and types), the
// Fastify conventions (fastify-plugin metadata: a name and a fastify range), fastify and its
// proxy packages as optional peers, and a standalone server that loads none of them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { request } from 'undici'
import { ROOT } from '../helpers/root.js'
import { startUpstream } from '../helpers/upstream.js'
import { runTollgate, msg, serveSetup, writeServeConfig } from '../ops/helpers.js'

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, any>
const PEERS = ['fastify', '@fastify/reply-from', '@fastify/http-proxy']

test('package.json: ./fastify is exported with its types; the CLI bin is kept; fastify and its proxy packages are optional peers and dev dependencies', () => {
  assert.deepEqual(pkg.exports['./fastify'], { types: './dist/src/fastify/index.d.ts', default: './dist/src/fastify/index.js' })
  assert.equal(pkg.bin.tollgate, 'bin/tollgate.js')
  for (const name of PEERS) {
    assert.ok(pkg.peerDependencies[name] !== undefined, `${name} is a peer`)
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional (the standalone server needs none)`)
    assert.ok(pkg.devDependencies[name] !== undefined, `${name} stays a dev dependency (tests, bench)`)
    assert.equal(pkg.dependencies[name], undefined, `${name} is not a dependency of the standalone server`)
  }
  assert.ok(pkg.dependencies['fastify-plugin'] !== undefined)
})

test('tollgate/fastify resolves through the package\'s exports, as an app imports it: a fastify-plugin named tollgate with a fastify range', async () => {
  const mod = await import('tollgate/fastify' as string) as { default: Record<symbol, unknown>, tollgate: unknown }
  assert.equal(typeof mod.default, 'function')
  assert.equal(mod.tollgate, mod.default)
  assert.equal(mod.default[Symbol.for('skip-override')], true, 'registered at the app\'s level: request.tollgate is the app\'s decorator')
  assert.equal(mod.default[Symbol.for('fastify.display-name')], 'tollgate')
  assert.equal((mod.default[Symbol.for('plugin-meta')] as { fastify: string }).fastify, '>=5.12.1 <6')
  const types = readFileSync(join(ROOT, pkg.exports['./fastify'].types), 'utf8')
  assert.match(types, /tollgate: TollgateRequest \| null/)
  assert.match(types, /FastifyPluginAsync<TollgateOptions>/)
  // Deep imports are closed to users; the tests and the bench import by relative path.
  assert.throws(() => import.meta.resolve('tollgate/dist/src/app.js'), /ERR_PACKAGE_PATH_NOT_EXPORTED|not exported|not defined by "exports"/)
})

/** A loader hook that appends every module URL the process resolves to `log`. */
function resolveLogger (dir: string, log: string): string {
  writeFileSync(join(dir, 'hooks.mjs'), [
    "import { appendFileSync } from 'node:fs'",
    'let log',
    'export function initialize (data) { log = data.log }',
    'export async function resolve (specifier, context, next) {',
    '  const r = await next(specifier, context)',
    "  appendFileSync(log, r.url + '\\n')",
    '  return r',
    '}'
  ].join('\n'))
  const register = join(dir, 'register.mjs')
  writeFileSync(register, `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { log: ${JSON.stringify(log)} } })\n`)
  return register
}

const FASTIFY_MODULE = /\/node_modules\/(?:fastify|@fastify\/[^/]+|fastify-plugin|avvio|find-my-way)\//

test('tollgate serve loads no fastify module (a loader hook lists what it resolves); an app importing tollgate/fastify does', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-loaded-'))
  const log = join(dir, 'serve.log')
  const register = resolveLogger(dir, log)
  const up = await startUpstream({ tls: false })
  const s = serveSetup()
  writeServeConfig(s, { app: { upstream: up.url, match: { path: '/' }, token: '${env:SERVE_TOKEN}', privacy: 'public' } })
  const g = runTollgate(['serve', '--config', s.file], { SERVE_TOKEN: 'loaded-' + Math.random().toString(36).slice(2), NODE_OPTIONS: `--import ${register}` })
  try {
    const l = await g.waitFor(msg('tollgate listening'), 20_000, 'tollgate listening')
    const r = await request(`http://127.0.0.1:${l.http.port}/x`)
    await r.body.text()
    assert.equal(r.statusCode, 200)
  } finally {
    g.kill('SIGTERM')
    await g.exited
    await up.close()
  }
  const served = readFileSync(log, 'utf8').split('\n').filter((u) => u !== '')
  assert.ok(served.some((u) => u.endsWith('/dist/src/pipeline.js')), 'the hook saw the gateway\'s own modules')
  assert.deepEqual(served.filter((u) => FASTIFY_MODULE.test(u)), [])

  // The control: the same hook in a process that imports the plugin sees fastify's modules.
  const appLog = join(dir, 'app.log')
  const app = join(ROOT, 'dist', 'test', 'fastify', 'import-plugin.mjs')
  writeFileSync(app, "await import('tollgate/fastify')\n")
  const run = spawnSync(process.execPath, ['--import', resolveLogger(dir, appLog), app], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  assert.ok(existsSync(appLog))
  assert.ok(readFileSync(appLog, 'utf8').split('\n').some((u) => FASTIFY_MODULE.test(u)), 'the hook does see fastify when it is loaded')
})
