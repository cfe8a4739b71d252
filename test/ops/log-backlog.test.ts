// A gateway whose stdout stalls (a stuck log collector) must not grow its memory without bound: the
// log backlog is capped and lines past it are dropped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/root.js'

test('the log backlog is bounded when stdout is never read', { timeout: 60_000 }, async () => {
  const logger = pathToFileURL(join(ROOT, 'dist', 'src', 'observability', 'logger.js')).href
  const script = `
    const { createLogger } = await import(${JSON.stringify(logger)})
    const log = createLogger('info')
    const big = 'x'.repeat(1000)
    const before = process.memoryUsage().rss
    for (let i = 0; i < 100000; i++) log.info({ big, i })
    await new Promise((r) => setTimeout(r, 200))
    process.stderr.write(JSON.stringify({ before, after: process.memoryUsage().rss }) + '\\n')
    process.exit(0)
  `
  // stdout is a pipe nobody reads: after the pipe's own buffer fills, every write stays pending.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => {
    err += d
    // Measured: now let the pipe drain so the child's exit-time flush can finish.
    if (err.includes('"after"')) child.stdout.resume()
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, err)
  const { before, after } = JSON.parse(err.trim().split('\n').pop() ?? '{}') as { before: number, after: number }
  // ~100 MB of log lines were written; the backlog cap is 16 MiB.
  assert.ok(after - before < 64 * 1024 * 1024, `RSS grew by ${Math.round((after - before) / 1048576)} MiB`)
  // The loss is not silent: stderr says it, once.
  assert.equal(err.match(/stdout is not keeping up with the log \(16 MiB backlog\): log lines are being dropped/g)?.length, 1, err)
})

test('lines logged just before process.exit() are all written (the per-turn batch is flushed at exit)', { timeout: 60_000 }, async () => {
  const logger = pathToFileURL(join(ROOT, 'dist', 'src', 'observability', 'logger.js')).href
  const script = `
    const { createLogger } = await import(${JSON.stringify(logger)})
    const log = createLogger('info')
    for (let i = 0; i < 500; i++) log.info({ i }, 'line')
    process.exit(0)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  // 'close': the process exited and its stdout was read to the end.
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0)
  const seen = out.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)
  assert.deepEqual(seen, Array.from({ length: 500 }, (_, i) => i), 'every line, in order')
})
