import { test } from 'node:test'
import { captureIo } from '../helpers/io.js'
import { ROOT } from '../helpers/root.js'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runSecrets } from '../../src/cli/secrets.js'
import { SecretStore } from '../../src/secrets/store.js'
import { tempDir } from './helpers.js'

const here = fileURLToPath(import.meta.url)
const compiled = here.endsWith('.js')
const repoRoot = ROOT

interface Run { code: number, stdout: string, stderr: string }

async function cli (args: string[], opts: { env: NodeJS.ProcessEnv, stdin?: string | NodeJS.ReadableStream }): Promise<Run> {
  const io = captureIo()
  const stdin = typeof opts.stdin === 'string' || opts.stdin === undefined ? Readable.from([Buffer.from(opts.stdin ?? '')]) : opts.stdin
  const code = await runSecrets(args, { stdin, stdout: io.stdout, stderr: io.stderr, env: opts.env })
  return { code, stdout: io.out(), stderr: io.err() }
}

/** A config folder with a minimal valid config whose store is ./data/secrets.store. */
async function project (t: Parameters<typeof tempDir>[0], extra = ''): Promise<{ dir: string, config: string, store: string, key: Buffer, env: NodeJS.ProcessEnv }> {
  const dir = await tempDir(t, 'tg-cli-')
  const config = join(dir, 'tollgate.yaml')
  await writeFile(config, `server:
  listen:
    https: { host: 127.0.0.1, port: 0 }
  tls: { cert: ./cert.pem, key: ./key.pem }
secrets:
  store: ./data/secrets.store
${extra}containers:
  hello:
    upstream: http://127.0.0.1:9
    match: { path: /hello }
    privacy: private
    token: \${secret:hello-token}
`)
  const key = randomBytes(32)
  return { dir, config, store: join(dir, 'data', 'secrets.store'), key, env: { TOLLGATE_MASTER_KEY: key.toString('base64') } }
}

function noValue (r: Run, value: string): void {
  assert.ok(!r.stdout.includes(value) && !r.stderr.includes(value), `the value is never printed: ${JSON.stringify(r)}`)
}

test('set reads stdin, drops exactly one trailing newline, never prints the value; store is relative to the config', async (t) => {
  const p = await project(t)
  const cases: Array<[string, string]> = [['tok-plain', 'tok-plain'], ['tok-echo\n', 'tok-echo'], ['tok-crlf\r\n', 'tok-crlf'], ['tok-two\n\n', 'tok-two\n']]
  for (const [i, [input, stored]] of cases.entries()) {
    const r = await cli(['set', `name${i}`, '--config', p.config], { env: p.env, stdin: input })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`created secret name${i} in ${p.store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    noValue(r, stored.trim())
    assert.equal((await SecretStore.open(p.store, p.key)).get(`name${i}`), stored)
  }
  const again = await cli(['set', 'name0', '--config', p.config], { env: p.env, stdin: 'tok-new' })
  assert.match(again.stdout, /updated secret name0/)
  assert.equal((await stat(p.store)).mode & 0o777, 0o600)
})

test('a hidden prompt on a terminal: raw mode on, nothing echoed, backspace works', async (t) => {
  const p = await project(t)
  const tty = new PassThrough() as PassThrough & { isTTY: boolean, setRawMode: (on: boolean) => void }
  const modes: boolean[] = []
  tty.isTTY = true
  tty.setRawMode = (on: boolean) => { modes.push(on) }
  setTimeout(() => { tty.write('sek'); tty.write('rit-x\u007f-val\r') }, 20)
  const r = await cli(['set', 'typed', '--config', p.config], { env: p.env, stdin: tty })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(modes, [true, false])
  assert.match(r.stderr, /input hidden/)
  noValue(r, 'sek')
  assert.equal((await SecretStore.open(p.store, p.key)).get('typed'), 'sekrit--val')
})

test('list shows names and timestamps, never values; rm removes', async (t) => {
  const p = await project(t)
  await cli(['set', 'b-token', '--config', p.config], { env: p.env, stdin: 'list-value-b' })
  await cli(['set', 'a-token', '--config', p.config], { env: p.env, stdin: 'list-value-a' })
  const list = await cli(['list', '--config', p.config], { env: p.env })
  assert.equal(list.code, 0)
  const lines = list.stdout.trim().split('\n')
  assert.match(lines[0]!, /^NAME\s+CREATED\s+UPDATED$/)
  assert.match(lines[1]!, /^a-token\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-/)
  assert.match(lines[2]!, /^b-token\s/)
  noValue(list, 'list-value')
  const json = await cli(['list', '--json', '--config', p.config], { env: p.env })
  assert.deepEqual(JSON.parse(json.stdout).map((e: { name: string }) => e.name), ['a-token', 'b-token'])
  noValue(json, 'list-value')

  assert.equal((await cli(['rm', 'a-token', '--config', p.config], { env: p.env })).code, 0)
  const gone = await cli(['rm', 'a-token', '--config', p.config], { env: p.env })
  assert.equal(gone.code, 1)
  assert.match(gone.stderr, /no secret a-token/)
  const empty = await project(t)
  const none = await cli(['list', '--config', empty.config], { env: empty.env })
  assert.equal(none.code, 0)
  assert.equal(none.stdout, '')
})

test('usage and config errors exit 2, other failures exit 1, always one line on stderr', async (t) => {
  const p = await project(t)
  await cli(['set', 'x', '--config', p.config], { env: p.env, stdin: 'exit-code-value' })
  const noStore = await project(t)
  await writeFile(noStore.config, (await readFile(noStore.config, 'utf8')).replace(/secrets:\n {2}store: .*\n/, ''))
  const cases: Array<[string[], NodeJS.ProcessEnv, number, RegExp, string?]> = [
    [[], p.env, 2, /missing subcommand/],
    [['frob', '--config', p.config], p.env, 2, /unknown subcommand "frob"/],
    [['list'], p.env, 2, /--config FILE is required/],
    [['set', '--config', p.config], p.env, 2, /one NAME/],
    [['list', '--bogus', '--config', p.config], p.env, 2, /bogus/],
    [['set', 'bad name', '--config', p.config], p.env, 2, /invalid secret name/, 'v'],
    [['set', 'empty', '--config', p.config], p.env, 2, /empty value/, ''],
    [['set', 'nl-only', '--config', p.config], p.env, 2, /empty value/, '\n'],
    [['list', '--config', join(p.dir, 'missing.yaml')], p.env, 2, /missing\.yaml/],
    [['list', '--config', noStore.config], p.env, 2, /secrets\.store/],
    [['set', 'tollgate.keys.pepper', '--config', p.config], p.env, 2, /--force/, 'x'],
    [['list', '--config', p.config], {}, 1, /TOLLGATE_MASTER_KEY is not set/],
    [['list', '--config', p.config], { TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }, 1, /secrets\.store.*master key|master key/],
    [['rotate-master-key', '--config', p.config], p.env, 2, /TOLLGATE_NEW_MASTER_KEY/]
  ]
  for (const [args, env, code, re, stdin] of cases) {
    const r = await cli(args, { env, stdin })
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re, args.join(' '))
    assert.match(r.stderr, /^tollgate: [^\n]*\n$/, `one line: ${JSON.stringify(r.stderr)}`)
    noValue(r, 'exit-code-value')
  }
})

test('rotate-master-key re-seals under TOLLGATE_NEW_MASTER_KEY; the old key stops working', async (t) => {
  const p = await project(t)
  await cli(['set', 'one', '--config', p.config], { env: p.env, stdin: 'rotate-value-1' })
  await cli(['set', 'two', '--config', p.config], { env: p.env, stdin: 'rotate-value-2' })
  const before = (await SecretStore.open(p.store, p.key)).list()
  const newKey = randomBytes(32)
  const env = { ...p.env, TOLLGATE_NEW_MASTER_KEY: newKey.toString('base64') }
  const r = await cli(['rotate-master-key', '--config', p.config], { env })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /re-sealed 2 secret\(s\)/)
  noValue(r, newKey.toString('base64'))
  noValue(r, p.key.toString('base64'))
  const after = await SecretStore.open(p.store, newKey)
  assert.deepEqual(after.list(), before)
  assert.equal(after.get('two'), 'rotate-value-2')
  assert.equal((await cli(['list', '--config', p.config], { env: p.env })).code, 1)
  assert.equal((await cli(['list', '--config', p.config], { env: { TOLLGATE_MASTER_KEY: newKey.toString('base64') } })).code, 0)
  // re-running after a completed rotation is harmless
  const rerun = await cli(['rotate-master-key', '--config', p.config], { env })
  assert.equal(rerun.code, 0, rerun.stderr)
  assert.equal((await SecretStore.open(p.store, newKey)).get('one'), 'rotate-value-1')
})

/** Runs `node …argv` with `input` on stdin. */
function spawnNode (argv: string[], env: NodeJS.ProcessEnv, input: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    p.stdin.end(input)
  })
}

/** `tollgate secrets …` in a child process, from source (tsx) or from dist, like this file. */
function spawnCli (args: string[], env: NodeJS.ProcessEnv, input: string): Promise<Run> {
  const child = join(dirname(here), compiled ? 'cli-child.js' : 'cli-child.ts')
  return spawnNode([...(compiled ? [] : ['--import', 'tsx']), child, ...args], env, input)
}

test('concurrent CLI writers (separate processes) lose no entry', async (t) => {
  const p = await project(t)
  const n = 6
  const runs = await Promise.all(Array.from({ length: n }, (_, i) => spawnCli(['set', `proc-${i}`, '--config', p.config], p.env, `proc-value-${i}\n`)))
  for (const r of runs) assert.equal(r.code, 0, r.stderr)
  const store = await SecretStore.open(p.store, p.key)
  assert.deepEqual(store.list().map((e) => e.name), Array.from({ length: n }, (_, i) => `proc-${i}`))
  for (let i = 0; i < n; i++) assert.equal(store.get(`proc-${i}`), `proc-value-${i}`)
  assert.ok(!existsSync(`${p.store}.lock`))
})

const binary = join(repoRoot, 'bin', 'tollgate.js')
const built = existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))

test('through the real binary: tollgate secrets set / list', { skip: built ? false : 'needs `npm run build` (dist/src/cli/main.js)' }, async (t) => {
  const p = await project(t)
  const run = (args: string[], input: string): Promise<Run> => spawnNode([binary, 'secrets', ...args], p.env, input)
  const set = await run(['set', 'bin-token', '--config', p.config], 'binary-value\n')
  assert.equal(set.code, 0, set.stderr)
  noValue(set, 'binary-value')
  const list = await run(['list', '--config', p.config], '')
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, /bin-token/)
  noValue(list, 'binary-value')
  assert.equal((await SecretStore.open(p.store, p.key)).get('bin-token'), 'binary-value')
})
