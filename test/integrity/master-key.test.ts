// Custody of the master key: never a config value or a token, out of the environment once read
// (cluster workers never get it there), a previous key during a rotation, a warning for an open
// key file; and the Secret Manager endpoint, which receives the IAM key, https only.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseConfig, loadConfig } from '../../src/config/load.js'
import { MasterKeys } from '../../src/secrets/custody.js'
import { SecretStore } from '../../src/secrets/store.js'
import { createSecretResolver } from '../../src/secrets/index.js'
import { main } from '../../src/cli/main.js'
import { runSecrets } from '../../src/cli/secrets.js'
import { captureIo } from '../helpers/io.js'
import { startGateway, registerSecretValue } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { writePki } from '../helpers/pki.js'
import { runTollgate, msg, serveSetup, writeServeConfig } from '../ops/helpers.js'
import { tempDir } from '../secrets/helpers.js'
import { waitFor } from '../credentials/helpers.js'
import { Readable } from 'node:stream'

const CONFIG = (token: string, extra = ''): string => `server:
  listen:
    https: { host: 127.0.0.1, port: 0 }
  tls: { cert: ./tls.crt, key: ./tls.key }
${extra}containers:
  api:
    upstream: https://api.example.com
    match: { path: /api }
    token: ${token}
`

test('${env:TOLLGATE_MASTER_KEY} (or any ${env:TOLLGATE_*}) as a token is refused at load, naming the field', async (t) => {
  const key = randomBytes(32).toString('base64')
  const env = { TOLLGATE_MASTER_KEY: key, TOLLGATE_ANYTHING: 'x' }
  for (const name of ['TOLLGATE_MASTER_KEY', 'TOLLGATE_MASTER_KEY_PREVIOUS', 'TOLLGATE_ANYTHING']) {
    assert.throws(() => parseConfig(CONFIG(`\${env:${name}}`), { file: '/etc/tollgate/tollgate.yaml', env }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TG_ERR_CONFIG_INVALID')
      assert.match(err.message, new RegExp(`^containers\\.api\\.token: ${name}: TOLLGATE_\\* variables are tollgate's own`))
      assert.ok(!err.message.includes(key))
      return true
    })
  }
  // and `tollgate check` refuses it (exit 2, one line naming the field)
  const dir = await tempDir(t)
  const file = join(dir, 'tollgate.yaml')
  await writeFile(file, CONFIG('${env:TOLLGATE_MASTER_KEY}'))
  const io = captureIo()
  assert.equal(await main(['check', '--config', file], { stdin: Readable.from([]), stdout: io.stdout, stderr: io.stderr, env }), 2)
  assert.match(io.err(), /^tollgate: containers\.api\.token: /)
  // a hmacSecret or the Secret Manager key cannot name it either
  assert.throws(() => parseConfig(CONFIG('${env:UP}', 'secrets:\n  scaleway: { secretKey: "${env:TOLLGATE_MASTER_KEY}" }\n'), { file: '/x/t.yaml', env }), { message: /^secrets\.scaleway\.secretKey: / })
})

test('the master key variables cannot be interpolated anywhere in the config; other TOLLGATE_* settings can', () => {
  const key = randomBytes(32).toString('base64')
  const env = { TOLLGATE_MASTER_KEY: key, TOLLGATE_NEW_MASTER_KEY: key, UP: 'x', TOLLGATE_TLS_CERT: 'cert.pem' }
  for (const name of ['TOLLGATE_MASTER_KEY', 'TOLLGATE_NEW_MASTER_KEY', 'TOLLGATE_MASTER_KEY_FILE']) {
    const text = CONFIG('${env:UP}').replace('match: { path: /api }', `match: { path: /api, host: "\${env:${name}}" }`)
    assert.throws(() => parseConfig(text, { file: '/x/t.yaml', env }), (err: Error) => {
      assert.match(err.message, /^containers\.api\.match\.host: .* the master key is tollgate's own/)
      assert.ok(!err.message.includes(key))
      return true
    })
  }
  const ok = parseConfig(CONFIG('${env:UP}').replace('./tls.crt', '"${env:TOLLGATE_TLS_CERT}"'), { file: '/x/t.yaml', env })
  assert.equal(ok.server.tls?.cert, '/x/cert.pem')
})

test('${file:…} cannot read the master key file or /proc (where an inline key stays): as a token, or in the config', async (t) => {
  const dir = await tempDir(t)
  const keyFile = join(dir, 'master.key')
  const key = randomBytes(32).toString('base64')
  await writeFile(keyFile, key, { mode: 0o600 })
  await symlink(keyFile, join(dir, 'innocent.txt'))
  const env = { TOLLGATE_MASTER_KEY_FILE: keyFile }
  const resolver = createSecretResolver({ baseDir: dir, env })
  try {
    for (const ref of ['${file:./master.key}', '${file:innocent.txt}', '${file:/proc/self/environ}']) {
      await assert.rejects(resolver.resolve(ref, 'containers.api.token'), (err: Error) => {
        assert.match(err.message, /refused$/)
        assert.ok(!err.message.includes(key))
        return true
      }, ref)
    }
  } finally { await resolver.close() }
  const text = CONFIG('${env:UP}').replace('match: { path: /api }', 'match: { path: /api, host: "${file:./innocent.txt}" }')
  assert.throws(() => parseConfig(text, { file: join(dir, 't.yaml'), env: { ...env, UP: 'x' } }), (err: Error) => {
    assert.match(err.message, /^containers\.api\.match\.host: .*is the master key file \(TOLLGATE_MASTER_KEY_FILE\): refused/)
    assert.ok(!err.message.includes(key))
    return true
  })
})

test('MasterKeys.take reads the keys once and deletes the inline variables; key files stay paths, read again each time, and an open one is reported', async (t) => {
  const dir = await tempDir(t)
  const current = randomBytes(32)
  const previous = randomBytes(32)
  const env: NodeJS.ProcessEnv = { TOLLGATE_MASTER_KEY: current.toString('base64'), TOLLGATE_MASTER_KEY_PREVIOUS: previous.toString('base64'), TOLLGATE_NEW_MASTER_KEY: 'whatever', OTHER: 'kept' }
  const keys = MasterKeys.take(env)
  assert.deepEqual(env, { OTHER: 'kept' })
  assert.deepEqual(keys.keys(), [current, previous])
  assert.deepEqual(keys.transfer(), { current: current.toString('base64'), previous: previous.toString('base64') })

  const file = join(dir, 'master.key')
  await writeFile(file, current.toString('base64') + '\n', { mode: 0o644 })
  await chmod(file, 0o644)
  const warnings: string[] = []
  const fromFile = MasterKeys.take({ TOLLGATE_MASTER_KEY_FILE: file }, { warn: (m) => warnings.push(m) })
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]!, /TOLLGATE_MASTER_KEY_FILE \(.*master\.key\) is readable or writable by others \(mode 0644\): chmod 600 it/)
  assert.ok(!warnings[0]!.includes(current.toString('base64')))
  const next = randomBytes(32)
  await writeFile(file, next.toString('base64'))
  assert.deepEqual(fromFile.keys(), [next], 'a replaced key file is read again (a reload picks it up)')
  assert.deepEqual(fromFile.transfer(), { current: undefined, previous: undefined }, 'file keys never travel')
  const quiet: string[] = []
  for (const mode of [0o600, 0o400, 0o440]) { // 0440: group-readable by the process's own group (a Kubernetes Secret with fsGroup)
    await chmod(file, mode)
    MasterKeys.take({ TOLLGATE_MASTER_KEY_FILE: file }, { warn: (m) => quiet.push(m) })
  }
  assert.deepEqual(quiet, [])
  assert.equal(MasterKeys.take({}).configured, false)
  assert.throws(() => MasterKeys.take({ TOLLGATE_MASTER_KEY: 'short' }), { code: 'TG_ERR_MASTER_KEY' })
})

test('serve --workers 2: the key is in no worker\'s environment; workers serve the store\'s token and reload on SIGHUP', { skip: process.platform !== 'linux' ? 'reads /proc' : false, timeout: 120_000 }, async (t) => {
  const up = await startUpstream({ tls: false })
  t.after(() => up.close())
  const s = serveSetup()
  const key = randomBytes(32)
  const store = join(s.dir, 'secrets.store')
  const token = 'cluster-store-token-' + randomBytes(6).toString('hex')
  await (await SecretStore.open(store, key)).set('upstream', token)
  const file = writeServeConfig(s, { a: { upstream: up.url, match: { path: '/a' }, token: '${secret:upstream}', privacy: 'public' } }, { drainTimeout: 3000 })
  await writeFile(file, (await readFile(file, 'utf8')) + 'secrets:\n  store: ./secrets.store\n')
  const g = runTollgate(['serve', '--config', file, '--workers', '2'], { TOLLGATE_MASTER_KEY: key.toString('base64') })
  try {
    await g.waitFor(msg('tollgate cluster ready'), 60_000, 'both workers')
    const port = g.lines.find(msg('tollgate listening'))!.http.port as number
    const workers = g.lines.filter(msg('worker ready')).map((l) => l.pid as number)
    assert.equal(workers.length, 2)
    for (const pid of workers) {
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8')
      assert.ok(!environ.includes('TOLLGATE_MASTER_KEY=') && !environ.includes(key.toString('base64')), `worker ${pid} was given the key in its environment`)
    }
    const get = async (): Promise<string> => {
      up.received.length = 0
      const res = await fetch(`http://127.0.0.1:${port}/a/x`, { headers: { connection: 'close' } })
      await res.text()
      assert.equal(res.status, 200)
      return up.received[0]!.headers['x-auth-token'] as string
    }
    assert.equal(await get(), token)
    g.child.kill('SIGHUP')
    await waitFor(() => g.lines.filter(msg('config reloaded')).length >= 2, 20_000, 'both workers to reload')
    assert.equal(g.lines.filter(msg('config reload failed; the previous config keeps serving')).length, 0, g.stdout().slice(-2000))
    const rotated = token + '-rotated'
    await (await SecretStore.open(store, key)).set('upstream', rotated)
    await waitFor(async () => (await get()) === rotated && (await get()) === rotated, 20_000, 'the workers to read the rotated store')
    assert.ok(!g.stdout().includes(key.toString('base64')) && !g.stderr().includes(key.toString('base64')), 'the key is never logged')
  } finally {
    g.kill('SIGTERM')
    await g.exited
  }
})

test('TOLLGATE_MASTER_KEY_PREVIOUS: a gateway holding both keys serves, and reloads, before and after rotate-master-key', async (t) => {
  const dir = await tempDir(t)
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32)
  const store = join(dir, 'secrets.store')
  const v1 = 'previous-key-token-' + randomBytes(6).toString('hex')
  registerSecretValue(v1)
  await (await SecretStore.open(store, oldKey)).set('upstream', v1)
  const up = await startUpstream()
  t.after(() => up.close())
  const pki = writePki()
  // the gateways were deployed with the new key first, and the old one as the previous key
  const env: NodeJS.ProcessEnv = { TOLLGATE_MASTER_KEY: newKey.toString('base64'), TOLLGATE_MASTER_KEY_PREVIOUS: oldKey.toString('base64') }
  const served = { ...env }
  const gw = await startGateway({
    env: served,
    app: { masterKeys: MasterKeys.take(served) },
    config: {
      secrets: { store, pollInterval: 100 },
      containers: { api: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/api' }, token: '${secret:upstream}', privacy: 'public' } }
    }
  })
  try {
    const sent = async (): Promise<string> => {
      up.received.length = 0
      assert.equal((await gw.get('/api/x')).status, 200)
      return up.received[0]!.headers['x-auth-token'] as string
    }
    assert.equal(await sent(), v1)
    const io = captureIo()
    const code = await runSecrets(['rotate-master-key', '--config', gw.configFile], { stdin: Readable.from([]), stdout: io.stdout, stderr: io.stderr, env })
    assert.equal(code, 0, io.err())
    assert.match(io.out(), /re-sealed 1 secret\(s\)/)
    await assert.rejects(SecretStore.open(store, oldKey), /master key/, 'the old key no longer opens it')
    // a reload between the rotation and any restart works
    await gw.app.reload(await loadConfig(gw.configFile, served))
    const v2 = v1 + '-after'
    registerSecretValue(v2)
    await (await SecretStore.open(store, newKey)).set('upstream', v2)
    await waitFor(async () => (await sent()) === v2, 8000, 'the value written under the new key')
    assert.ok(!gw.logs.some((l) => l.msg === 'secret refresh failed; serving the last good value'), 'never failed to read the store')
  } finally {
    await gw.close()
  }
})

test('secrets.scaleway.baseUrl: https, or plain http on loopback only (the IAM key is sent there)', () => {
  const env = { UP: 'x' }
  for (const bad of ['http://api.scaleway.com', 'http://10.0.0.5:8080', 'ftp://api.scaleway.com', 'https://user:pw@api.scaleway.com']) {
    assert.throws(() => parseConfig(CONFIG('${env:UP}', `secrets:\n  scaleway: { baseUrl: "${bad}" }\n`), { file: '/x/t.yaml', env }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TG_ERR_CONFIG_INVALID')
      assert.match(err.message, /^secrets\.scaleway\.baseUrl: /)
      return true
    }, bad)
  }
  for (const good of ['https://api.scaleway.com', 'http://127.0.0.1:9999', 'http://localhost:1', 'http://[::1]:2']) {
    assert.doesNotThrow(() => parseConfig(CONFIG('${env:UP}', `secrets:\n  scaleway: { baseUrl: "${good}" }\n`), { file: '/x/t.yaml', env }), good)
  }
})
