// `tollgate demo` (what `npm start` runs): a development CA and certificate on first run (in the
// ignored .tollgate/ folder), a stand-in private container on loopback, and the gateway on
// config/demo.yaml in front of it. The demo's state lives in .tollgate/demo too: a master key, the
// encrypted store (holding the stand-in's token, new every run) and the keys file, with one
// tollgate key, `demo-client`, written to a file of its own. Prints curl lines that work as
// printed: allowed, denied by a condition, redirected, and the private container without a key
// (401) and with the demo's key (200). Ctrl-C exits 0.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { parseDocument } from 'yaml'
import { buildApp } from '../app.js'
import { parseConfig, type LoadedConfig } from '../config/load.js'
import { createDevCa } from '../tls/devcert.js'
import { createStandInContainer } from '../demo/standin.js'
import { SecretStore } from '../secrets/store.js'
import { MasterKeys, masterKeysFromEnv } from '../secrets/custody.js'
import { parseFlags, type Io } from './io.js'
import { addKey, keysContextOf, revokeKey } from './keys.js'
import { readKeysFile } from '../credentials/keyfile.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export const DEMO_USAGE = `usage: tollgate demo [--https-port N] [--http-port N] [--admin-port N]
  what \`npm start\` runs: a stand-in private container and the gateway in front of it, on loopback`

export async function demo (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    'https-port': { type: 'string' }, 'http-port': { type: 'string' }, 'admin-port': { type: 'string' }
  }, DEMO_USAGE)
  const dir = join(ROOT, '.tollgate', 'demo')
  const caFile = ensureDevCertificates(dir)

  const token = 'demo-' + randomBytes(24).toString('base64url')
  const upstream = createStandInContainer(token)
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

  const file = join(ROOT, 'config', 'demo.yaml')
  const doc = parseDocument(readFileSync(file, 'utf8'))
  for (const [flag, path] of [['https-port', ['server', 'listen', 'https', 'port']], ['http-port', ['server', 'listen', 'http', 'port']], ['admin-port', ['server', 'admin', 'port']]] as const) {
    const v = values[flag]
    if (typeof v === 'string') doc.setIn([...path], Number(v))
  }
  // The demo's own master key (a file: the store and keys stay readable across runs), never the caller's.
  const env: NodeJS.ProcessEnv = { ...io.env, DEMO_UPSTREAM: upstreamUrl, DEMO_CONTAINER_TOKEN: token }
  for (const v of Object.keys(env)) if (/^TOLLGATE_(NEW_)?MASTER_KEY/.test(v)) delete env[v]
  env.TOLLGATE_MASTER_KEY_FILE = ensureMasterKey(dir)
  const config = parseConfig(doc.toString(), { file, env })
  const keyFile = await ensureDemoState(config, env, dir, token)
  const app = await buildApp(config, { env, masterKeys: MasterKeys.take({ ...env }) })
  let addr
  try {
    addr = await app.listen()
  } catch (err) {
    await app.close(0)
    upstream.close()
    throw err
  }
  const https = addr.https?.port ?? 8443
  const http = addr.http?.port
  io.stdout.write([
    '',
    'tollgate demo: a stand-in private container on ' + upstreamUrl + ' (it answers 403 without its token),',
    'and tollgate in front of it, injecting the token after deciding each request.',
    '',
    '  # allowed (the condition admits this machine); the container echoes what it received:',
    `  curl --cacert ${caFile} https://localhost:${https}/hello/world`,
    '',
    '  # denied by a condition (office network during Paris business hours only): 403 policy_denied',
    `  curl --cacert ${caFile} https://localhost:${https}/office`,
    '',
    '  # plain HTTP is redirected to HTTPS: 301',
    `  curl -i http://localhost:${http ?? 8080}/hello`,
    '',
    '  # a private container: without a tollgate key, 401 credential_missing',
    `  curl --cacert ${caFile} https://localhost:${https}/private/hello`,
    '',
    `  # with the tollgate key "demo-client" the demo created (kept in ${keyFile}, mode 0600): 200`,
    `  curl --cacert ${caFile} -H "X-Auth-Token: $(cat ${keyFile})" https://localhost:${https}/private/hello`,
    '',
    '  # the keys behind it (the encrypted store and the keys file are in .tollgate/demo/):',
    `  DEMO_UPSTREAM=${upstreamUrl} TOLLGATE_MASTER_KEY_FILE=${env.TOLLGATE_MASTER_KEY_FILE} npx tollgate keys list --config ${file}`,
    '',
    `  # health and readiness (admin listener, loopback only): curl http://127.0.0.1:${addr.admin?.port ?? 9090}/readyz`,
    '',
    'Ctrl-C stops the demo.',
    ''
  ].join('\n'))

  return await new Promise<number>((resolve) => {
    const stop = (): void => {
      app.close(2000).finally(() => {
        upstream.closeAllConnections()
        upstream.close(() => resolve(0))
      })
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}

/** The demo's master key file, made once (mode 0600). */
function ensureMasterKey (dir: string): string {
  const keyFile = join(dir, 'master.key')
  if (!existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // a new master key makes any store and keys file left from before unreadable: start afresh
    for (const f of ['secrets.store', 'keys.store', 'demo-client.key']) rmSync(join(dir, f), { force: true })
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 })
  }
  return keyFile
}

/**
 * Puts this run's stand-in token in the store, and makes sure the key "demo-client" exists and is
 * in demo-client.key (a new one when the file or the key is gone); returns that file. Everything
 * goes through the code `tollgate secrets set` and `tollgate keys create` run.
 */
async function ensureDemoState (config: LoadedConfig, env: NodeJS.ProcessEnv, dir: string, token: string): Promise<string> {
  const storeFile = config.secrets?.store
  if (storeFile === undefined) throw new Error('config/demo.yaml names no secrets.store')
  const store = await SecretStore.open(storeFile, masterKeysFromEnv(env), { storeId: config.secrets?.storeId, upgrade: true })
  await store.set('demo-container-token', token)
  const keyFile = join(dir, 'demo-client.key')
  const quiet = { stdout: { write: () => true }, stderr: { write: () => true }, env } as unknown as Parameters<typeof addKey>[1]
  const ctx = keysContextOf(config, env)
  try {
    const { data } = await readKeysFile(ctx.keysFile, ctx.state.keys(ctx.keysFile))
    if (existsSync(keyFile) && data.keys.some((r) => r.name === 'demo-client' && r.revokedAt === null)) return keyFile
    await revokeKey(ctx, quiet, 'demo-client')
    rmSync(keyFile, { force: true })
    const key = await addKey(ctx, quiet, { name: 'demo-client', containers: ['private'], expiresAt: null, owner: false })
    writeFileSync(keyFile, key + '\n', { mode: 0o600 })
    return keyFile
  } finally {
    await ctx.state.close()
  }
}

/** Makes (once) a development CA and a certificate for localhost; returns the CA file to trust. */
function ensureDevCertificates (dir: string): string {
  const caFile = join(dir, 'ca.pem')
  const certFile = join(dir, 'server.pem')
  const keyFile = join(dir, 'server-key.pem')
  if (existsSync(caFile) && existsSync(certFile) && existsSync(keyFile)) return caFile
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const ca = createDevCa('tollgate demo CA')
  const leaf = ca.issue(['localhost', '127.0.0.1', '::1'])
  writeFileSync(caFile, ca.cert)
  writeFileSync(certFile, leaf.cert + ca.cert)
  writeFileSync(keyFile, leaf.key, { mode: 0o600 })
  return caFile
}
