// Every command answers --help (usage on stdout, exit 0) and a bad flag with one line and exit 2.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { main } from '../../src/cli/main.js'
import { captureIo } from '../helpers/io.js'
import { BIN } from '../helpers/root.js'

async function run (args: string[]): Promise<{ code: number, out: string, err: string }> {
  const io = captureIo()
  const code = await main(args, { stdin: process.stdin, stdout: io.stdout, stderr: io.stderr, env: {} })
  return { code, out: io.out(), err: io.err() }
}

const COMMANDS = [
  ['serve'], ['check'], ['demo'], ['policy'], ['policy', 'eval'], ['policy', 'test'],
  ['secrets'], ['secrets', 'set'], ['secrets', 'list'], ['keys'], ['keys', 'create'], ['keys', 'list'], ['keys', 'revoke']
]

for (const cmd of COMMANDS) {
  test(`tollgate ${cmd.join(' ')} --help prints its usage and exits 0`, async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run([...cmd, flag])
      assert.equal(r.err, '', r.err)
      assert.equal(r.code, 0)
      assert.match(r.out, /^usage:/)
      assert.ok(r.out.includes(`tollgate ${cmd[0]}`), r.out)
    }
  })
}

test('tollgate --help lists every command; tollgate alone prints it and exits 2', async () => {
  const r = await run(['--help'])
  assert.equal(r.code, 0)
  for (const cmd of ['serve', 'check', 'demo', 'policy eval', 'policy test', 'secrets', 'keys create', '--version']) assert.ok(r.out.includes(`tollgate ${cmd}`), cmd)
  assert.equal((await run([])).code, 2)
})

test('a flag a command does not know is one line on stderr and exit 2', async () => {
  for (const cmd of COMMANDS.filter((c) => c.length > 1 || ['serve', 'check', 'demo'].includes(c[0]))) {
    const r = await run([...cmd, '--no-such-flag'])
    assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.err}`)
    assert.equal(r.out, '')
    assert.match(r.err, /^tollgate: .*no-such-flag.*\n$/)
  }
})

test('tollgate --version through the binary', () => {
  const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^tollgate \d+\.\d+\.\d+\n$/)
})

test('serve --help through the binary: the usage, not a parser error', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(r.stdout, /^usage: tollgate serve --config FILE/)
})
