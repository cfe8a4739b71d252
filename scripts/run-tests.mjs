// Runs every compiled test file (dist/test/**/*.test.js) in one `node --test` invocation.
// Node 20's runner takes no globs, so the files are listed here.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'

function collect (dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...collect(p))
    else if (entry.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const filter = process.argv.slice(2)
let files = collect('dist/test').sort()
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)))
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TZ: process.env.TZ ?? 'UTC' }
})
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal ? 1 : 0) })
