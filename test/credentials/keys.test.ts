// tollgate keys: the CLI (create/list/revoke), the keys file (hashes only) and the Authenticator.
import { test, describe, before, after, mock } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { createAuthenticator, KEY_PATTERN, PEPPER_SECRET_NAME, type TollgateAuthenticator } from '../../src/credentials/index.js'
import { digestsEqual, generateKey, hashKey, parseKey, pepperId } from '../../src/credentials/keyformat.js'
import { parseKeysFile } from '../../src/credentials/keyfile.js'
import { SecretStore } from '../../src/secrets/store.js'
import type { AuthOutcome } from '../../src/credentials/types.js'
import { captureLogger, createKey, envResolver, fixture, keysCli, waitFor, type Fixture } from './helpers.js'

function sync (o: AuthOutcome | Promise<AuthOutcome>): AuthOutcome {
  assert.ok(!(o instanceof Promise), 'key verification must be synchronous')
  return o
}

async function authFor (f: Fixture, extra: { now?: () => number, keysPollMs?: number, logger?: ReturnType<typeof captureLogger> } = {}): Promise<TollgateAuthenticator> {
  return await createAuthenticator({
    credentials: { keys: './keys.store' },
    containers: { alpha: { privacy: 'private' }, beta: { privacy: 'private' }, gamma: { privacy: 'private' } },
    baseDir: f.dir,
    resolver: envResolver({}),
    storeFile: './secrets.store',
    env: f.env,
    ...extra
  })
}

describe('key format', () => {
  test('keys are 64 characters, tgk_ prefix, id + base62 secret, all different', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const { key, id } = generateKey()
      assert.match(key, KEY_PATTERN)
      assert.equal(key.length, 64)
      assert.equal(parseKey(key), id)
      seen.add(key)
    }
    assert.equal(seen.size, 200)
  })

  test('parseKey refuses near misses', () => {
    const { key } = generateKey()
    for (const bad of [key.slice(0, -1), key + 'a', key.replace('tgk_', 'tgx_'), key.toUpperCase(), key.slice(0, 20) + '-' + key.slice(21), ' ' + key.slice(1)]) {
      assert.equal(parseKey(bad), undefined, bad.slice(0, 8))
    }
  })

  test('hash depends on the pepper; digests compare in constant time helpers', () => {
    const { key } = generateKey()
    const p1 = crypto.randomBytes(32)
    const p2 = crypto.randomBytes(32)
    assert.equal(hashKey(p1, key).length, 32)
    assert.ok(digestsEqual(hashKey(p1, key), hashKey(p1, key)))
    assert.ok(!digestsEqual(hashKey(p1, key), hashKey(p2, key)))
    assert.ok(!digestsEqual(Buffer.alloc(32), Buffer.alloc(31)))
    assert.notEqual(pepperId(p1), pepperId(p2))
    assert.match(pepperId(p1), /^[0-9a-f]{16}$/)
  })
})

describe('tollgate keys CLI', () => {
  let f: Fixture
  before(async () => { f = await fixture() })
  after(async () => { await f.cleanup() })

  test('create prints the key once, alone on the last line; only a hash is stored', async () => {
    const r = await keysCli(['create', '--name', 'ci-bot', '--config', f.config, '--containers', 'alpha,beta'], f.env)
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    const key = lines[lines.length - 1]!
    assert.match(key, KEY_PATTERN)
    assert.equal(r.stdout.split(key).length, 2, 'the key appears exactly once in the output')
    // stdout is not a terminal here: one warning line says where the key lands, and offers --output
    assert.match(r.stderr, /^tollgate: warning: stdout is not a terminal.*--output FILE[^\n]*\n$/)
    assert.ok(!r.stderr.includes(key))
    const text = await readFile(f.keysFile, 'utf8')
    assert.ok(!text.includes(key), 'the key is not in the keys file')
    assert.ok(!text.includes(key.slice(21)), 'nor its secret part')
    const data = parseKeysFile(f.keysFile, text)
    assert.equal(data.keys.length, 1)
    assert.deepEqual(data.keys[0]!.containers, ['alpha', 'beta'])
    assert.equal(data.keys[0]!.owner, false)
    assert.equal((await stat(f.keysFile)).mode & 0o777, 0o600)
    // the pepper is in the encrypted store under the reserved name, and the file names its fingerprint
    const store = await SecretStore.open(f.storeFile, f.masterKey)
    const pepper = Buffer.from(store.get(PEPPER_SECRET_NAME)!, 'base64')
    assert.equal(pepper.length, 32)
    assert.equal(data.pepperId, pepperId(pepper))
    assert.equal(data.keys[0]!.hash, hashKey(pepper, key).toString('base64'))
    const storeText = await readFile(f.storeFile, 'utf8')
    assert.ok(!storeText.includes(pepper.toString('base64')), 'the pepper is encrypted at rest')
  })

  test('a second create reuses the pepper; names are unique among live keys', async () => {
    const before = (await SecretStore.open(f.storeFile, f.masterKey)).get(PEPPER_SECRET_NAME)
    await createKey(f, 'deployer', ['--owner', '--expires-at', '2999-01-01T00:00:00Z'])
    assert.equal((await SecretStore.open(f.storeFile, f.masterKey)).get(PEPPER_SECRET_NAME), before)
    const dup = await keysCli(['create', '--name', 'deployer', '--config', f.config], f.env)
    assert.equal(dup.code, 2)
    assert.match(dup.stderr, /already exists/)
    assert.equal(dup.stdout, '')
  })

  test('list shows name, scope, expiry, created, owner, status and never the key', async () => {
    const key = await createKey(f, 'lister')
    const r = await keysCli(['list', '--config', f.config], f.env)
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!r.stdout.includes(key) && !r.stdout.includes(key.slice(4, 20)), 'no key nor key id in list')
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(lines[0]!, /^NAME\s+SCOPE\s+EXPIRES\s+CREATED\s+OWNER\s+STATUS$/)
    assert.match(r.stdout, /ci-bot\s+alpha,beta\s+never\s+\d{4}-\d{2}-\d{2}T\S+\s+no\s+active/)
    assert.match(r.stdout, /deployer\s+\*\s+2999-01-01T00:00:00.000Z\s+\S+\s+yes\s+active/)
    const j = await keysCli(['list', '--config', f.config, '--json'], f.env)
    const rows = JSON.parse(j.stdout) as Array<Record<string, unknown>>
    assert.deepEqual(rows.map((x) => x.name), ['ci-bot', 'deployer', 'lister'])
    assert.deepEqual(Object.keys(rows[0]!).sort(), ['containers', 'createdAt', 'expiresAt', 'name', 'owner', 'revokedAt', 'status'])
    assert.ok(!j.stdout.includes('hash'))
  })

  test('list works without the master key (unchecked, and says so); create and revoke need it (they seal the file)', async () => {
    for (const args of [['create', '--name', 'x'], ['revoke', 'lister']]) {
      const noKey = await keysCli([...args, '--config', f.config], {})
      assert.equal(noKey.code, 1)
      assert.match(noKey.stderr, /TOLLGATE_MASTER_KEY/)
    }
    const l = await keysCli(['list', '--config', f.config], {})
    assert.equal(l.code, 0)
    assert.match(l.stderr, /listed unchecked/)
    assert.equal((await keysCli(['list', '--config', f.config], f.env)).stderr, '', 'with the key: checked, nothing to say')
  })

  test('revoke marks the key revoked; again or unknown → exit 1', async () => {
    const r = await keysCli(['revoke', 'lister', '--config', f.config], f.env)
    assert.equal(r.code, 0, r.stderr)
    const l = await keysCli(['list', '--config', f.config], {})
    assert.match(l.stdout, /lister\s+\*\s+never\s+\S+\s+no\s+revoked \d{4}-/)
    const again = await keysCli(['revoke', 'lister', '--config', f.config], f.env)
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already revoked/)
    const missing = await keysCli(['revoke', 'nobody', '--config', f.config], f.env)
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no key named "nobody"/)
    // the name can be reused after revocation
    await createKey(f, 'lister')
  })

  test('usage errors exit 2 with one line naming the problem', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['create', '--config', f.config], /--name/],
      [['create', '--name', 'a b', '--config', f.config], /--name/],
      [['create', '--name', 'x', '--config', f.config, '--containers', 'alpha,nope'], /no container named "nope"/],
      [['create', '--name', 'x', '--config', f.config, '--expires-at', '2001-01-01T00:00:00Z'], /in the past/],
      [['create', '--name', 'x', '--config', f.config, '--expires-at', 'tomorrow'], /ISO 8601/],
      [['create', '--name', 'x', '--config', f.config, '--expires-at', '2999-01-01T10:00'], /ISO 8601/],
      [['create', '--name', 'x'], /--config/],
      [['create', '--name', 'x', '--config', f.config, '--bogus'], /bogus/],
      [['revoke', '--config', f.config], /key name/],
      [['frobnicate'], /unknown keys command/],
      [['list', '--config', `${f.dir}/nope.yaml`], /cannot read config/]
    ]
    for (const [args, re] of cases) {
      const r = await keysCli(args, f.env)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, re)
      assert.equal(r.stderr.trimEnd().split('\n')[0]!.startsWith('tollgate: '), true)
      assert.equal(r.stdout, '')
    }
  })

  test('a config without credentials.keys is refused', async () => {
    const g = await fixture()
    try {
      const text = (await readFile(g.config, 'utf8')).replace(/credentials:\n {2}keys: \.\/keys\.store\n/, '')
      await writeFile(g.config, text)
      const r = await keysCli(['list', '--config', g.config], g.env)
      assert.equal(r.code, 2)
      assert.match(r.stderr, /credentials\.keys/)
    } finally { await g.cleanup() }
  })

  test('concurrent creates all land and share one pepper', async () => {
    const g = await fixture()
    try {
      const keys = await Promise.all(['k1', 'k2', 'k3', 'k4'].map(async (n) => await createKey(g, n)))
      const data = parseKeysFile(g.keysFile, await readFile(g.keysFile, 'utf8'))
      assert.deepEqual(data.keys.map((k) => k.name).sort(), ['k1', 'k2', 'k3', 'k4'])
      const auth = await authFor(g)
      try {
        for (const [i, k] of keys.entries()) {
          const out = sync(auth.authenticate(k, 'alpha'))
          assert.ok(out.ok, `key ${i}: ${JSON.stringify(out)}`)
        }
      } finally { await auth.close() }
    } finally { await g.cleanup() }
  })
})

describe('Authenticator: tollgate keys', () => {
  let f: Fixture
  let auth: TollgateAuthenticator
  let now = Date.now()
  const keys: Record<string, string> = {}
  before(async () => {
    f = await fixture()
    keys.plain = await createKey(f, 'plain')
    keys.scoped = await createKey(f, 'scoped', ['--containers', 'beta'])
    keys.owner = await createKey(f, 'boss', ['--owner'])
    keys.expiring = await createKey(f, 'expiring', ['--expires-at', new Date(Date.now() + 3_600_000).toISOString()])
    keys.revoked = await createKey(f, 'gone')
    assert.equal((await keysCli(['revoke', 'gone', '--config', f.config], f.env)).code, 0)
    auth = await authFor(f, { now: () => now })
  })
  after(async () => { await auth.close(); await f.cleanup() })

  test('a valid key yields its principal, synchronously', () => {
    const out = sync(auth.authenticate(keys.plain!, 'alpha'))
    assert.deepEqual(out, { ok: true, principal: { kind: 'key', id: 'plain', owner: false, claims: {} } })
    assert.ok(Object.isFrozen(out.ok && out.principal))
  })

  test('--owner keys carry the owner flag', () => {
    const out = sync(auth.authenticate(keys.owner!, 'gamma'))
    assert.ok(out.ok)
    assert.equal(out.principal.owner, true)
    assert.equal(out.principal.id, 'boss')
  })

  test('a scoped key works on its containers only', () => {
    assert.ok(sync(auth.authenticate(keys.scoped!, 'beta')).ok)
    assert.deepEqual(sync(auth.authenticate(keys.scoped!, 'alpha')), { ok: false, reason: 'credential_out_of_scope' })
    assert.deepEqual(sync(auth.authenticate(keys.scoped!, 'no-such-container')), { ok: false, reason: 'credential_out_of_scope' })
  })

  test('expired keys are refused from their expiry on', () => {
    assert.ok(sync(auth.authenticate(keys.expiring!, 'alpha')).ok)
    now = Date.now() + 3_600_000 + 1000
    try {
      assert.deepEqual(sync(auth.authenticate(keys.expiring!, 'alpha')), { ok: false, reason: 'credential_expired' })
      assert.ok(sync(auth.authenticate(keys.plain!, 'alpha')).ok, 'keys without expiry never expire')
    } finally { now = Date.now() }
  })

  test('revoked keys are refused as revoked', () => {
    assert.deepEqual(sync(auth.authenticate(keys.revoked!, 'alpha')), { ok: false, reason: 'credential_revoked' })
  })

  test('unknown keys: a fresh key, or a real key id with a wrong secret', () => {
    assert.deepEqual(sync(auth.authenticate(generateKey().key, 'alpha')), { ok: false, reason: 'credential_unknown' })
    const k = keys.plain!
    const flipped = k.slice(0, 40) + (k[40] === 'a' ? 'b' : 'a') + k.slice(41)
    assert.deepEqual(sync(auth.authenticate(flipped, 'alpha')), { ok: false, reason: 'credential_unknown' })
    // a revoked key's id with a wrong secret is unknown, not revoked (nothing is learnt about the id)
    const r = keys.revoked!
    assert.deepEqual(sync(auth.authenticate(r.slice(0, 63) + (r[63] === 'a' ? 'b' : 'a'), 'alpha')), { ok: false, reason: 'credential_unknown' })
  })

  test('malformed credentials; missing; huge; never throws', () => {
    for (const bad of ['tgk_', 'tgk_short', keys.plain! + 'x', 'hello', 'Bearer ' + keys.plain!, 'a.b', '\u0000', 'x'.repeat(100_000)]) {
      assert.deepEqual(sync(auth.authenticate(bad, 'alpha')), { ok: false, reason: 'credential_malformed' }, bad.slice(0, 12))
    }
    assert.deepEqual(sync(auth.authenticate('', 'alpha')), { ok: false, reason: 'credential_missing' })
  })

  test('hashes are compared with crypto.timingSafeEqual, for unknown ids too', () => {
    const spy = mock.method(crypto, 'timingSafeEqual')
    syncBuiltinESMExports()
    try {
      auth.authenticate(generateKey().key, 'alpha')
      auth.authenticate(keys.plain!.slice(0, 63) + (keys.plain!.endsWith('a') ? 'b' : 'a'), 'alpha')
      auth.authenticate(keys.plain!, 'alpha')
      assert.equal(spy.mock.callCount(), 3)
      for (const call of spy.mock.calls) {
        const [a, b] = call.arguments as unknown as [Buffer, Buffer]
        assert.equal(a.length, 32)
        assert.equal(b.length, 32)
      }
    } finally {
      spy.mock.restore()
      syncBuiltinESMExports()
    }
  })
})

describe('Authenticator: a running gateway sees key changes without a restart', () => {
  for (const mode of ['fs.watch', 'poll'] as const) {
    test(`create then revoke is picked up (${mode})`, async () => {
      const f = await fixture()
      const logger = captureLogger()
      const first = await createKey(f, 'first')
      const auth = await authFor(f, { keysPollMs: mode === 'poll' ? 200 : 60_000, logger })
      try {
        assert.ok(sync(auth.authenticate(first, 'alpha')).ok)
        const second = await createKey(f, 'second')
        await waitFor(() => sync(auth.authenticate(second, 'alpha')).ok, 8000, 'the new key to be accepted')
        assert.equal((await keysCli(['revoke', 'first', '--config', f.config], f.env)).code, 0)
        await waitFor(() => {
          const o = sync(auth.authenticate(first, 'alpha'))
          return !o.ok && o.reason === 'credential_revoked'
        }, 8000, 'the revoked key to be refused')
        assert.ok(sync(auth.authenticate(second, 'alpha')).ok)
        assert.ok(!logger.text().includes(first) && !logger.text().includes(second), 'keys never logged')
      } finally { await auth.close(); await f.cleanup() }
    })
  }

  test('the first key created after start (no pepper at start) is picked up', async () => {
    const f = await fixture()
    const auth = await authFor(f, { keysPollMs: 200 })
    try {
      const k = await createKey(f, 'late')
      await waitFor(() => sync(auth.authenticate(k, 'alpha')).ok, 8000, 'the late key')
    } finally { await auth.close(); await f.cleanup() }
  })

  test('a broken keys file keeps the last good keys (and says so); a broken file at start is fatal', async () => {
    const f = await fixture()
    const logger = captureLogger()
    const k = await createKey(f, 'stays')
    const auth = await authFor(f, { logger })
    try {
      await writeFile(f.keysFile, '{"format":"tollgate-keys","version":1,"keys":[{"trunc')
      assert.equal(await auth.reloadKeys(), false)
      assert.ok(sync(auth.authenticate(k, 'alpha')).ok)
      assert.ok(logger.lines.some((l) => l.level === 'error' && /keeping the last good keys/.test(l.msg ?? '')))
      await assert.rejects(authFor(f), (err: Error & { code?: string }) => err.code === 'TG_ERR_KEYS_STORE' && /keys\.store/.test(err.message))
    } finally { await auth.close(); await f.cleanup() }
  })

  test('a keys file used with another secret store is refused at start (it was sealed with another pepper)', async () => {
    const f = await fixture()
    await createKey(f, 'orphan')
    const other = await fixture()
    try {
      await createKey(other, 'unrelated') // gives `other` a pepper of its own
      await assert.rejects(createAuthenticator({
        credentials: { keys: f.keysFile },
        containers: { alpha: {} },
        baseDir: other.dir,
        resolver: envResolver({}),
        storeFile: other.storeFile,
        env: other.env
      }), (err: Error & { code?: string }) => err.code === 'TG_ERR_KEYS_INTEGRITY' && /another pepper/.test(err.message) && err.message.includes(f.keysFile))
    } finally { await f.cleanup(); await other.cleanup() }
  })

  test('keys present but no secrets.store: refused at start, naming the problem', async () => {
    const f = await fixture()
    try {
      await createKey(f, 'k')
      await assert.rejects(createAuthenticator({
        credentials: { keys: './keys.store' }, containers: {}, baseDir: f.dir, resolver: envResolver({}), env: f.env
      }), /secrets\.store is not set/)
      // no keys file at all is fine (no keys yet), and tgk_ credentials are simply unknown
      const g = await fixture()
      try {
        const auth = await authFor(g)
        assert.deepEqual(sync(auth.authenticate(generateKey().key, 'alpha')), { ok: false, reason: 'credential_unknown' })
        await auth.close()
      } finally { await g.cleanup() }
    } finally { await f.cleanup() }
  })

  test('without credentials.keys, tgk_ credentials are unknown (or malformed)', async () => {
    const auth = await createAuthenticator({ credentials: undefined, containers: {}, baseDir: '/', resolver: envResolver({}) })
    assert.deepEqual(sync(auth.authenticate(generateKey().key, 'a')), { ok: false, reason: 'credential_unknown' })
    assert.deepEqual(sync(auth.authenticate('tgk_nope', 'a')), { ok: false, reason: 'credential_malformed' })
    await auth.close()
  })
})
