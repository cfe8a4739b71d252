// The CLI through the real binary (bin/tollgate.js → dist), as users and scripts run it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ROOT, BIN } from './helpers/root.js'

function tollgate (args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('check accepts the annotated example config, with nothing in the environment', () => {
  const r = tollgate(['check', '--config', join(ROOT, 'config', 'tollgate.example.yaml')])
  assert.equal(r.stderr, '')
  assert.equal(r.status, 0)
  assert.match(r.stdout, /^ok: .*3 containers/)
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
    assert.equal(curls.length, 3, out)
    const run = (line: string): string => {
      const args = line.slice('curl '.length).split(' ')
      const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args.filter((a) => a !== '-i')], { encoding: 'utf8', timeout: 15_000 })
      return r.stdout
    }
    assert.equal(run(curls[0]), '200', curls[0])
    assert.equal(run(curls[1]), '403', curls[1])
    assert.equal(run(curls[2]), '301', curls[2])
    const allowed = spawnSync('curl', ['-s', ...curls[0].slice(5).split(' ')], { encoding: 'utf8' }).stdout
    assert.match(allowed, /"x-auth-token": "\[valid token, value hidden\]"/, 'the stand-in got the token and hides its value')
  } finally {
    child.kill('SIGINT')
  }
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  assert.equal(code, 0)
})
