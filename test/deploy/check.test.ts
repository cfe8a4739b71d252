// `tollgate check` is serve's preflight: every case below is something `serve` refuses at start (or
// a network source it cannot reach), and `check` refuses it with exit 2 and one line naming the
// field to fix; what is legal but probably wrong is a warning (exit 0). check and serve run the
// same start-up code (src/server/startup.ts): the cases marked `serve` are run through both.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { stringify } from 'yaml'
import { testCa, localhostCert } from '../helpers/pki.js'
import { createDevCa } from '../../src/tls/devcert.js'
import { SecretStore } from '../../src/secrets/store.js'
import { FakeSecretManager } from '../helpers/scaleway-secret-manager.js'
import { cli, type CliResult } from './helpers.js'

const MASTER = randomBytes(32).toString('base64')

interface Setup { dir: string, env: NodeJS.ProcessEnv }

/** A folder with a valid certificate and key, a store holding `api-token`, a keys file with key `ci`. */
async function setup (): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-check-'))
  writeFileSync(join(dir, 'cert.pem'), localhostCert().cert)
  writeFileSync(join(dir, 'key.pem'), localhostCert().key, { mode: 0o600 })
  writeFileSync(join(dir, 'token.txt'), 'file-token\n')
  const env = { TOLLGATE_MASTER_KEY: MASTER, API_TOKEN: 'env-token' }
  const store = await SecretStore.open(join(dir, 'secrets.store'), Buffer.from(MASTER, 'base64'))
  await store.set('api-token', 'store-token')
  writeFileSync(join(dir, 'base.yaml'), stringify(config()))
  const created = await cli(['keys', 'create', '--name', 'ci', '--config', join(dir, 'base.yaml'), '--output', join(dir, 'ci.key')], env)
  assert.equal(created.status, 0, created.stderr)
  return { dir, env }
}

type Config = Record<string, any>

function config (change: (c: Config) => void = () => {}): Config {
  const c: Config = {
    server: {
      listen: { https: { host: '127.0.0.1', port: 8443 } },
      tls: { cert: './cert.pem', key: './key.pem' }
    },
    secrets: { store: './secrets.store' },
    credentials: { keys: './keys.store' },
    containers: {
      api: {
        upstream: 'https://api.example.com',
        match: { path: '/api' },
        token: '${secret:api-token}',
        privacy: 'private',
        policies: [{ name: 'ci', principals: ['key:ci'] }]
      }
    }
  }
  change(c)
  return c
}

async function check (s: Setup, c: Config, extra: string[] = [], env: NodeJS.ProcessEnv = s.env): Promise<CliResult> {
  const file = join(s.dir, `check-${randomBytes(4).toString('hex')}.yaml`)
  writeFileSync(file, stringify(c))
  return await cli(['check', '--config', file, ...extra], env)
}

/** Exit 2, exactly one line on stderr, naming the field. */
function refused (r: CliResult, line: RegExp): void {
  assert.equal(r.status, 2, `exit 2; stdout ${r.stdout}; stderr ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr)
  assert.match(r.stderr, line)
}

describe('tollgate check refuses what serve refuses, naming the field', () => {
  let s: Setup
  before(async () => { s = await setup() })

  test('the valid config: exit 0, one ok line, nothing on stderr', async () => {
    const r = await check(s, config())
    assert.equal(r.stderr, '')
    assert.equal(r.status, 0)
    assert.match(r.stdout, /^ok: .*check-[0-9a-f]+\.yaml: 1 container; every condition compiles, every secret reference resolves, the certificate matches its key, the secret store opens, the keys file verifies\n$/)
  })

  test('a missing certificate', async () => {
    refused(await check(s, config((c) => { c.server.tls.cert = './missing.pem' })), /^tollgate: server\.tls\.cert: cannot read \/.*\/missing\.pem: ENOENT$/m)
  })

  test('the key file given as the certificate', async () => {
    refused(await check(s, config((c) => { c.server.tls.cert = './key.pem' })), /^tollgate: server\.tls\.cert: \/.*\/key\.pem is not a PEM certificate \(it holds a private key: cert and key swapped\?\)$/m)
  })

  test('a certificate and a key that do not match', async () => {
    const other = createDevCa('another CA').issue(['localhost'])
    writeFileSync(join(s.dir, 'other-key.pem'), other.key)
    refused(await check(s, config((c) => { c.server.tls.key = './other-key.pem' })), /^tollgate: server\.tls\.key: \/.*\/other-key\.pem does not match the certificate in \/.*\/cert\.pem \(subject CN=localhost\)/m)
  })

  test('a certificate that expires within 14 days: a warning, exit 0', async () => {
    const soon = testCa().issue(['localhost'], { days: 5 })
    writeFileSync(join(s.dir, 'soon.pem'), soon.cert)
    writeFileSync(join(s.dir, 'soon-key.pem'), soon.key)
    const r = await check(s, config((c) => { c.server.tls = { cert: './soon.pem', key: './soon-key.pem' } }))
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /^tollgate: warning: server\.tls\.cert: \/.*\/soon\.pem expires in [45] days \(\d{4}-/m)
  })

  test('a store sealed under another master key', async () => {
    refused(await check(s, config(), [], { ...s.env, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }),
      /^tollgate: secrets\.store: secret store \/.*\/secrets\.store: is sealed under master key id [0-9a-f]{16}, not under the given master key/m)
  })

  test('no master key for the store', async () => {
    refused(await check(s, config(), [], { API_TOKEN: 'x' }), /^tollgate: secrets\.store: TOLLGATE_MASTER_KEY is not set/m)
  })

  test('a tampered store', async () => {
    const doc = JSON.parse(readFileSync(join(s.dir, 'secrets.store'), 'utf8')) as { entries: Array<{ createdAt: string }> }
    doc.entries[0]!.createdAt = '2020-01-01T00:00:00.000Z'
    writeFileSync(join(s.dir, 'tampered.store'), JSON.stringify(doc))
    refused(await check(s, config((c) => { c.secrets.store = './tampered.store' })), /^tollgate: secrets\.store: secret store \/.*\/tampered\.store: failed its integrity check/m)
  })

  test('a misspelled ${secret:NAME}', async () => {
    refused(await check(s, config((c) => { c.containers.api.token = '${secret:api-tokn}' })),
      /^tollgate: containers\.api\.token: cannot resolve \$\{secret:api-tokn\}: no secret "api-tokn" in the store/m)
  })

  test('an ${env:NAME} that is not set', async () => {
    refused(await check(s, config((c) => { c.containers.api.token = '${env:NOT_SET_ANYWHERE}' })),
      /^tollgate: containers\.api\.token: cannot resolve \$\{env:NOT_SET_ANYWHERE\}: environment variable NOT_SET_ANYWHERE is not set$/m)
  })

  test('a ${file:PATH} that cannot be read', async () => {
    refused(await check(s, config((c) => { c.containers.api.token = '${file:./no-such-token.txt}' })),
      /^tollgate: containers\.api\.token: cannot resolve \$\{file:\.\/no-such-token\.txt\}: cannot read \/.*\/no-such-token\.txt \(ENOENT\)$/m)
    const ok = await check(s, config((c) => { c.containers.api.token = '${file:./token.txt}' }))
    assert.equal(ok.status, 0, ok.stderr)
  })

  test('a keys file that is not one', async () => {
    writeFileSync(join(s.dir, 'bad-keys.store'), '{"format":"tollgate-keys","version":2,')
    refused(await check(s, config((c) => { c.credentials.keys = './bad-keys.store' })),
      /^tollgate: credentials\.keys: keys file \/.*\/bad-keys\.store: is truncated or not a tollgate keys file/m)
  })

  test('a key:NAME principal that names no key: a warning, exit 0', async () => {
    const r = await check(s, config((c) => { c.containers.api.policies[0].principals = ['key:ci', 'key:cl'] }))
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, 'tollgate: warning: containers.api.policies[0].principals[1]: rule "ci": "key:cl" names no key in the keys file (tollgate keys create --name cl)\n')
  })

  test('a plain http:// upstream that is not loopback, unless allowPlaintextUpstream', async () => {
    refused(await check(s, config((c) => { c.containers.api.upstream = 'http://api.internal:8080' })),
      /^tollgate: containers\.api\.upstream: plain http:\/\/ to api\.internal, which is not loopback, would send the container's token across the network in clear/m)
    const allowed = await check(s, config((c) => { Object.assign(c.containers.api, { upstream: 'http://api.internal:8080', allowPlaintextUpstream: true }) }))
    assert.equal(allowed.status, 0, allowed.stderr)
  })

  test('serve refuses the same, with the same line (one start-up code)', async () => {
    for (const change of [
      (c: Config) => { c.server.tls.cert = './key.pem' },
      (c: Config) => { c.containers.api.token = '${secret:api-tokn}' },
      (c: Config) => { c.credentials.keys = './bad-keys.store' }
    ]) {
      const file = join(s.dir, `serve-${randomBytes(4).toString('hex')}.yaml`)
      writeFileSync(file, stringify(config(change)))
      const checked = await cli(['check', '--config', file], s.env)
      const served = await cli(['serve', '--config', file], s.env)
      assert.equal(checked.status, 2)
      assert.notEqual(served.status, 0)
      assert.equal(served.stderr, checked.stderr, 'the same line')
    }
  })
})

describe('network sources: checked unless --offline', () => {
  let s: Setup
  let jwks: Server
  let deadUrl = ''
  let sm: FakeSecretManager
  before(async () => {
    s = await setup()
    jwks = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [] })) })
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    const dead = createServer()
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve))
    deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/jwks.json`
    await new Promise<void>((resolve) => dead.close(() => resolve()))
    sm = await FakeSecretManager.start()
  })
  after(async () => {
    await new Promise<void>((resolve) => jwks.close(() => resolve()))
    await sm.close()
  })

  const withJwks = (url: string): Config => config((c) => {
    c.credentials.jwt = { issuers: [{ name: 'corp', issuer: 'https://login.example.com/', audience: 'api', jwksUrl: url, global: true }] }
  })

  test('a JWKS that cannot be fetched: refused, unless --offline', async () => {
    refused(await check(s, withJwks(deadUrl)), /^tollgate: credentials\.jwt\.issuers\[0\]\.jwksUrl: the JWKS of issuer "corp" cannot be fetched \(cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\)/m)
    const offline = await check(s, withJwks(deadUrl), ['--offline'])
    assert.equal(offline.status, 0, offline.stderr)
    assert.match(offline.stdout, /\(offline: Secret Manager, JWKS and Redis not contacted\)$/m)
  })

  test('a store in Secret Manager: read unless --offline', async () => {
    const projectId = '11111111-2222-3333-4444-555555555555'
    const secret = sm.createSecret({ projectId, name: 'store' })
    const key = sm.addKey()
    const inSm = (c: Config): void => {
      c.secrets = { store: `scw:fr-par/${secret.id}`, scaleway: { baseUrl: sm.url } }
      delete c.credentials
      c.containers.api.policies = undefined
      c.containers.api.token = '${env:API_TOKEN}'
    }
    const ok = await check(s, config(inSm), [], { ...s.env, SCW_SECRET_KEY: key })
    assert.equal(ok.status, 0, ok.stderr)
    refused(await check(s, config(inSm), [], { ...s.env, SCW_SECRET_KEY: 'not-a-known-key' }),
      /^tollgate: secrets\.store: secret store scw:fr-par\/[0-9a-f-]+: Scaleway denied authentication \(401 denied_authentication, api_key not_found\)/m)
    await sm.stop()
    try {
      refused(await check(s, config(inSm), [], { ...s.env, SCW_SECRET_KEY: key }), /^tollgate: secrets\.store: secret store scw:fr-par\/[0-9a-f-]+: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/m)
      const offline = await check(s, config(inSm), ['--offline'], { ...s.env, SCW_SECRET_KEY: key })
      assert.equal(offline.status, 0, offline.stderr)
    } finally {
      await sm.listen()
    }
  })

  test('rate limits: a Redis that does not answer is a warning (limits fail open); by: principal on a public container is a warning', async () => {
    const r = await check(s, config((c) => {
      c.server.rateLimit = { redis: 'redis://127.0.0.1:1' }
      c.containers.pub = { upstream: 'https://pub.example.com', match: { path: '/pub' }, token: '${env:API_TOKEN}', privacy: 'public', rateLimit: [{ name: 'per-key', requests: 10, per: '1m', by: 'principal' }] }
    }))
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /^tollgate: warning: containers\.pub\.rateLimit\[0\]\.by: limit "per-key" counts by principal on a public container, where no client authenticates: it counts by client IP$/m)
    assert.match(r.stderr, /^tollgate: warning: server\.rateLimit\.redis: Redis does not answer yet: rate limits let requests through until it does \(fail open\)$/m)
  })
})
