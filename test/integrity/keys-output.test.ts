// `tollgate keys create` off a terminal: a warning that the key lands in whatever captures stdout,
// and `--output FILE` (mode 0600, a new file only) to keep it out of logs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { KEY_PATTERN } from '../../src/credentials/index.js'
import { runKeys } from '../../src/cli/keys.js'
import { captureIo } from '../helpers/io.js'
import { fixture, keysCli } from '../credentials/helpers.js'

test('keys create --output FILE writes the key to a new 0600 file, never to stdout', async () => {
  const f = await fixture()
  try {
    const out = join(f.dir, 'ci-bot.key')
    const r = await keysCli(['create', '--name', 'ci-bot', '--config', f.config, '--output', out], f.env)
    assert.equal(r.code, 0, r.stderr)
    const key = (await readFile(out, 'utf8')).trimEnd()
    assert.match(key, KEY_PATTERN)
    assert.equal((await stat(out)).mode & 0o777, 0o600)
    assert.ok(!r.stdout.includes(key) && !r.stderr.includes(key), 'not printed')
    assert.match(r.stdout, /written to .*ci-bot\.key \(mode 0600\)/)
    assert.equal(r.stderr, '', 'no terminal warning: the key does not go to stdout')

    // never over an existing file; nothing is created then
    const taken = join(f.dir, 'taken.key')
    await writeFile(taken, 'keep me')
    const again = await keysCli(['create', '--name', 'deployer', '--config', f.config, '--output', taken], f.env)
    assert.equal(again.code, 2)
    assert.match(again.stderr, /--output: cannot create .*taken\.key \(it already exists/)
    assert.equal(await readFile(taken, 'utf8'), 'keep me')
    assert.ok(!(await keysCli(['list', '--config', f.config], f.env)).stdout.includes('deployer'))

    // a failed create removes the file it opened
    const dup = join(f.dir, 'dup.key')
    const failed = await keysCli(['create', '--name', 'ci-bot', '--config', f.config, '--output', dup], f.env)
    assert.equal(failed.code, 2)
    await assert.rejects(stat(dup), { code: 'ENOENT' })
  } finally { await f.cleanup() }
})

test('keys create on a terminal prints the key alone on the last line, without the warning', async () => {
  const f = await fixture()
  try {
    const io = captureIo()
    Object.assign(io.stdout, { isTTY: true })
    assert.equal(await runKeys(['create', '--name', 'tty-bot', '--config', f.config], { stdout: io.stdout, stderr: io.stderr, env: f.env }), 0)
    assert.equal(io.err(), '')
    assert.match(io.out().trimEnd().split('\n').pop()!, KEY_PATTERN)
  } finally { await f.cleanup() }
})
