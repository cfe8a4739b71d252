// The README's CLI section runs as printed: every example line, in order, as one shell script, from
// a copy of the checkout's config folder (the lines write the example's secret store and keys file).
// `npx tollgate` resolves to this checkout's bin, as it does in a checkout; one test below runs the
// real npx once to show it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, BIN } from '../helpers/root.js'

/** The indented lines of the README's "## CLI" section that run something (the synopsis block is usage, not commands). */
function readmeCommands (): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## CLI\n')
  assert.ok(start >= 0, 'the README has a CLI section')
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end).split('\n')
    .filter((l) => l.startsWith('    ') && !l.trimStart().startsWith('tollgate ') && !l.trimStart().startsWith('#'))
    .map((l) => l.trim())
}

test('the README\'s CLI examples run as printed and do what they say', { timeout: 120_000 }, () => {
  const lines = readmeCommands()
  assert.ok(lines.length >= 6, `found the examples: ${JSON.stringify(lines)}`)
  for (const l of lines) assert.match(l, /npx tollgate |^export |^mkdir -p config\/tls && openssl req /, l)
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-readme-'))
  cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true, filter: (src) => !/\.(store|key)$/.test(src) && !src.endsWith('/tls') })
  const script = [
    'set -eu',
    `npx () { if [ "$1" = tollgate ]; then shift; "${process.execPath}" "${BIN}" "$@"; else command npx "$@"; fi; }`,
    ...lines
  ].join('\n')
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', SCW_SECRET_KEY: 'readme-iam-secret-key-value', STATUS_CONTAINER_TOKEN: 'x' }
  const r = spawnSync('sh', ['-c', script], { cwd: dir, env, encoding: 'utf8', timeout: 110_000 })
  assert.equal(r.status, 0, `exit ${String(r.status)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
  assert.equal(r.stderr, 'tollgate: warning: containers.reports.policies[1].principals[0]: rule "internal-tool": "key:admin-tool" names no key in the keys file (tollgate keys create --name admin-tool)\n',
    'the one warning the README announces')
  assert.match(r.stdout, /^tollgate \d+\.\d+\.\d+\n/, '--version')
  assert.match(r.stdout, /^ok: config\/tollgate\.example\.yaml: 3 containers; every condition compiles, every secret reference resolves, the certificate matches its key, the secret store opens, the keys file verifies; WebSocket: live$/m, 'check')
  assert.match(r.stdout, /^allow: the condition is true/m, 'policy eval')
  assert.match(r.stdout, /^created secret reports-token in /m, 'secrets set')
  assert.match(r.stdout, /^container: reports \(private; match reports\.example\.com \/\)$/m, 'policy test routes')
  assert.match(r.stdout, /^principal: key:ci-bot \[--token\]$/m, 'policy test authenticated the key keys create printed')
  assert.match(r.stdout, /^decision: +allow \(reason allowed, rule "office-hours"\)$/m, 'policy test allows')
  assert.ok(!r.stdout.includes('readme-iam-secret-key-value'), 'the secret value is never printed')
})

test('npx tollgate runs this checkout\'s CLI', { timeout: 60_000 }, () => {
  const r = spawnSync('npx', ['--no-install', 'tollgate', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 55_000 })
  assert.equal(r.status, 0, r.stderr)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  assert.equal(r.stdout, `tollgate ${pkg.version}\n`)
})
