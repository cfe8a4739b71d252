// The CLI through the real binary (bin/tollgate.js → dist), as users and scripts run it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ROOT, BIN } from './helpers/root.js'
import { localhostCert } from './helpers/pki.js'

function tollgate (args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null, stdout: string, stderr: string } {
  const all: NodeJS.ProcessEnv = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === '') delete all[k] // '' = not set
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: all, timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('check on the annotated example config names what is missing, one thing at a time, then accepts it', () => {
  // a copy of the config folder, as an operator has it before the first deploy
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'))
  cpSync(join(ROOT, 'config'), dir, { recursive: true, filter: (src) => !/\.(store|key)$/.test(src) })
  const file = join(dir, 'tollgate.example.yaml')
  const env: NodeJS.ProcessEnv = { TOLLGATE_MASTER_KEY: '', STATUS_CONTAINER_TOKEN: '' }
  const step = (line: RegExp): void => {
    const r = tollgate(['check', '--config', file], env)
    assert.equal(r.status, 2, r.stdout + r.stderr)
    assert.match(r.stderr, line)
  }
  step(/^tollgate: server\.tls\.cert: cannot read .*\/tls\/tls\.crt: ENOENT\n$/)
  mkdirSync(join(dir, 'tls'))
  writeFileSync(join(dir, 'tls', 'tls.crt'), localhostCert().cert)
  writeFileSync(join(dir, 'tls', 'tls.key'), localhostCert().key, { mode: 0o600 })
  step(/^tollgate: secrets\.store: TOLLGATE_MASTER_KEY is not set/)
  env.TOLLGATE_MASTER_KEY = randomBytes(32).toString('base64')
  step(/^tollgate: containers\.reports\.token: cannot resolve \$\{secret:reports-token\}: no secret "reports-token" in the store/)
  assert.equal(spawnSync(process.execPath, [BIN, 'secrets', 'set', 'reports-token', '--config', file], { input: 'iam-secret-key\n', env: { ...process.env, ...env } }).status, 0)
  step(/^tollgate: containers\.status\.token: cannot resolve \$\{env:STATUS_CONTAINER_TOKEN\}: environment variable STATUS_CONTAINER_TOKEN is not set/)
  env.STATUS_CONTAINER_TOKEN = 'status-token'
  const r = tollgate(['check', '--config', file], env)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^ok: .*3 containers; every condition compiles, every secret reference resolves, the certificate matches its key, the secret store opens, the keys file verifies; WebSocket: live\n$/)
  assert.equal(r.stderr, 'tollgate: warning: containers.reports.policies[1].principals[0]: rule "internal-tool": "key:admin-tool" names no key in the keys file (tollgate keys create --name admin-tool)\n')
})

test('check refuses a bad config with exit 2 and one line naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, `server:
  listen: { https: { port: 8443 } }
  tls: { cert: c.pem, key: k.pem }
containers:
  hello:
    upstream: https://example.com
    match: { path: /hello }
    token: \${env:T}
    policies:
      - name: office
        condition: inIpRange(request.ip, "198.51.100.0/24") && request.ip + 1
`)
  const r = tollgate(['check', '--config', file])
  assert.equal(r.status, 2)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /containers\.hello\.policies\[0\]\.condition: /)
  writeFileSync(file, 'server: {}\ncontainers: {}\nwhat: 1\n')
  const r2 = tollgate(['check', '--config', file])
  assert.equal(r2.status, 2)
  assert.match(r2.stderr, /^tollgate: (server|what|containers)/)
})

test('unknown commands and flags are usage errors (exit 2)', () => {
  assert.equal(tollgate(['frobnicate']).status, 2)
  assert.equal(tollgate(['check', '--nope']).status, 2)
})

const hasCurl = spawnSync('curl', ['--version']).status === 0

test('the demo starts, prints curl lines that work as printed, and Ctrl-C exits 0', { timeout: 60_000, skip: hasCurl ? false : 'curl is not installed' }, async () => {
  const child = spawn(process.execPath, [BIN, 'demo', '--https-port', '0', '--http-port', '0', '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.resume()
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('demo did not print its curl lines: ' + out)), 30_000)
      const check = (): void => { if (out.includes('Ctrl-C')) { clearTimeout(t); resolve() } }
      child.stdout.on('data', check)
      child.on('exit', (code) => reject(new Error(`demo exited early (${code}): ${out}`)))
    })
    const curls = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('curl '))
    assert.equal(curls.length, 5, out)
    // each line as a shell runs it (the last reads the demo's key with $(cat …)), status code only
    const run = (line: string): string => spawnSync('sh', ['-c', `${line.replace(/ -i /, ' ')} -s -o /dev/null -w '%{http_code}'`], { encoding: 'utf8', timeout: 15_000 }).stdout
    assert.equal(run(curls[0]), '200', curls[0])
    assert.equal(run(curls[1]), '403', curls[1])
    assert.equal(run(curls[2]), '301', curls[2])
    assert.equal(run(curls[3]), '401', `a private container without a key: ${curls[3]}`)
    assert.equal(run(curls[4]), '200', `with the key the demo created: ${curls[4]}`)
    assert.match(curls[4], /-H "X-Auth-Token: \$\(cat \/.*\/demo-client\.key\)"/, 'the key itself is not printed')
    assert.doesNotMatch(out, /tgk_[0-9a-f]{16}_/, 'no key in the output')
    const allowed = spawnSync('curl', ['-s', ...curls[0].slice(5).split(' ')], { encoding: 'utf8' }).stdout
    assert.match(allowed, /"x-auth-token": "\[valid token, value hidden\]"/, 'the stand-in got the token and hides its value')
    const privateAnswer = spawnSync('sh', ['-c', `${curls[4]} -s`], { encoding: 'utf8' }).stdout
    assert.match(privateAnswer, /"x-auth-token": "\[valid token, value hidden\]"/, 'the token from the store reached the private container')
    const refused = spawnSync('sh', ['-c', `${curls[3]} -s`], { encoding: 'utf8' }).stdout
    assert.match(refused, /"reason":"credential_missing"/)
    const list = out.split('\n').map((l) => l.trim()).find((l) => l.includes(' npx tollgate keys list '))
    assert.ok(list !== undefined, out)
    const listed = spawnSync('sh', ['-c', list.replace('npx tollgate', `"${process.execPath}" "${BIN}"`)], { encoding: 'utf8' })
    assert.equal(listed.status, 0, listed.stderr)
    assert.match(listed.stdout, /^demo-client +private +never .* no +active$/m, 'the printed keys list line works and shows the demo key')
  } finally {
    child.kill('SIGINT')
  }
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  assert.equal(code, 0)
})
