// Files written by the previous version (format 1, test/fixtures/legacy-v1, made by the unchanged
// code with throwaway keys) are served as they are, and become version 2 on their first write
// without losing a secret or a key.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from '../helpers/root.js'
import { captureLogger, envResolver, fixture, keysCli } from '../credentials/helpers.js'
import { createAuthenticator, type TollgateAuthenticator } from '../../src/credentials/index.js'
import { SecretStore } from '../../src/secrets/store.js'
import { runSecrets } from '../../src/cli/secrets.js'
import { captureIo } from '../helpers/io.js'
import { Readable } from 'node:stream'
import type { AuthOutcome } from '../../src/credentials/types.js'

const LEGACY = join(ROOT, 'test', 'fixtures', 'legacy-v1')

interface Legacy { masterKey: string, secrets: Record<string, string>, keys: Record<string, string>, revoked: string[] }

async function legacyCopy (t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string, config: string, fx: Legacy, env: NodeJS.ProcessEnv }> {
  const f = await fixture({ containers: ['api', 'other'] })
  t.after(f.cleanup)
  for (const name of ['secrets.store', 'keys.store']) await copyFile(join(LEGACY, name), join(f.dir, name))
  const fx = JSON.parse(await readFile(join(LEGACY, 'fixture.json'), 'utf8')) as Legacy
  return { dir: f.dir, config: f.config, fx, env: { TOLLGATE_MASTER_KEY: fx.masterKey } }
}

async function auth (dir: string, env: NodeJS.ProcessEnv, logger = captureLogger()): Promise<TollgateAuthenticator> {
  return await createAuthenticator({
    credentials: { keys: './keys.store' },
    containers: { api: { privacy: 'private' }, other: { privacy: 'private' } },
    baseDir: dir,
    resolver: envResolver({}),
    storeFile: './secrets.store',
    env,
    logger,
    keysPollMs: 0
  })
}

/** Every legacy key answers as it did: ci-bot on api only, admin everywhere (owner), old-bot revoked. */
function assertLegacyKeys (a: TollgateAuthenticator, fx: Legacy): void {
  const out = (k: string, c: string): AuthOutcome => a.authenticate(k, c) as AuthOutcome
  assert.equal(out(fx.keys['ci-bot']!, 'api').ok, true)
  assert.deepEqual(out(fx.keys['ci-bot']!, 'other'), { ok: false, reason: 'credential_out_of_scope' })
  const admin = out(fx.keys.admin!, 'other')
  assert.ok(admin.ok && admin.principal.owner)
  assert.deepEqual(out(fx.keys['old-bot']!, 'api'), { ok: false, reason: 'credential_revoked' })
}

async function secretsCli (args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<{ code: number, stderr: string }> {
  const io = captureIo()
  const code = await runSecrets(args, { stdin: Readable.from([Buffer.from(stdin)]), stdout: io.stdout, stderr: io.stderr, env })
  return { code, stderr: io.err() }
}

test('version 1 files made by the previous version are served as they are (and the log says they are unprotected)', async (t) => {
  const { dir, fx, env } = await legacyCopy(t)
  const store = await SecretStore.open(join(dir, 'secrets.store'), Buffer.from(fx.masterKey, 'base64'))
  for (const [name, value] of Object.entries(fx.secrets)) assert.equal(store.get(name), value)
  assert.equal(store.generation, 0)
  const logger = captureLogger()
  const a = await auth(dir, env, logger)
  try {
    assertLegacyKeys(a, fx)
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /format version 1/.test(l.msg ?? '')))
  } finally { await a.close() }
})

test('the first keys write upgrades the keys file and the store to version 2, losing no key and no secret', async (t) => {
  const { dir, config, fx, env } = await legacyCopy(t)
  const r = await keysCli(['create', '--name', 'new-bot', '--config', config], env)
  assert.equal(r.code, 0, r.stderr)
  const newKey = r.stdout.trimEnd().split('\n').pop()!
  const keys = JSON.parse(await readFile(join(dir, 'keys.store'), 'utf8'))
  assert.equal(keys.version, 2)
  assert.equal(keys.generation, 1)
  assert.match(keys.mac, /^[A-Za-z0-9+/]{43}=$/)
  assert.deepEqual(keys.keys.map((k: { name: string }) => k.name), ['ci-bot', 'admin', 'old-bot', 'new-bot'])

  const storeDoc = JSON.parse(await readFile(join(dir, 'secrets.store'), 'utf8'))
  assert.equal(storeDoc.version, 2, 'the store recorded the upgrade, and is version 2 now')
  const store = await SecretStore.open(join(dir, 'secrets.store'), Buffer.from(fx.masterKey, 'base64'))
  for (const [name, value] of Object.entries(fx.secrets)) assert.equal(store.get(name), value, name)

  const a = await auth(dir, env)
  try {
    assertLegacyKeys(a, fx)
    assert.equal((a.authenticate(newKey, 'other') as AuthOutcome).ok, true)
  } finally { await a.close() }

  // the old version 1 file put back now is refused: the store says the file was upgraded
  await copyFile(join(LEGACY, 'keys.store'), join(dir, 'keys.store'))
  await assert.rejects(auth(dir, env), { code: 'TG_ERR_KEYS_INTEGRITY' })
  const again = await keysCli(['revoke', 'ci-bot', '--config', config], env)
  assert.equal(again.code, 1)
  assert.match(again.stderr, /format version 1/)
})

test('a secrets write upgrades the store to version 2 with every secret, under the same master key', async (t) => {
  const { dir, config, fx, env } = await legacyCopy(t)
  const r = await secretsCli(['set', 'added', '--config', config], env, 'added-value')
  assert.equal(r.code, 0, r.stderr)
  const storeDoc = JSON.parse(await readFile(join(dir, 'secrets.store'), 'utf8'))
  assert.deepEqual([storeDoc.version, storeDoc.generation], [2, 1])
  const store = await SecretStore.open(join(dir, 'secrets.store'), Buffer.from(fx.masterKey, 'base64'))
  for (const [name, value] of Object.entries(fx.secrets)) assert.equal(store.get(name), value, name)
  assert.equal(store.get('added'), 'added-value')
  // the keys file is still version 1, and still serves every key (its upgrade comes with its own first write)
  const a = await auth(dir, env)
  try { assertLegacyKeys(a, fx) } finally { await a.close() }
})
