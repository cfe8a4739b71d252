// app.close() releases what the plugin holds: its upstream pools and their sockets, the secret
// resolver's watches, polls and refresh timers, the keys file's watch and poll. Run in a process of
// its own (close-child.ts), which must then end by itself: nothing tollgate made is left, not even
// an unref'd timer or a non-persistent watch (async_hooks sees those; Node's resource list does not).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'close-child.js')

test('after app.close(), no handle, timer or watch the plugin made is left, and the process ends by itself', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [CHILD], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8') })
  child.stderr.on('data', (d: Buffer) => { err += d.toString('utf8') })
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(-1) }, 45_000)
    child.once('exit', (c) => { clearTimeout(timer); resolve(c) })
  })
  assert.equal(code, 0, `the process ended by itself, without process.exit (stderr: ${err.slice(0, 1000)})`)
  const report = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { before: string[], after: string[], active: string[], baseline: string[] }
  // Before close the plugin held all of these (else the check below proves nothing).
  for (const type of ['FSEVENTWRAP', 'Timeout', 'TCPWRAP']) assert.ok(report.before.includes(type), `${type} held before close: ${JSON.stringify(report.before)}`)
  assert.deepEqual(report.after, [], 'nothing made since registration is left')
  for (const r of report.active) assert.ok(report.baseline.includes(r), `${r} keeps the loop alive after close`)
})
