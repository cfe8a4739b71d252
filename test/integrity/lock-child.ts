// One contender for the lock test: waits for the start signal, takes `<file>.lock`, writes
// "in"/"out" lines around its turn (O_APPEND), releases. Used by lock.test.ts to race processes.
import { appendFileSync, existsSync } from 'node:fs'
import { acquireLock } from '../../src/files/atomic-file.js'

const [file, log, go] = process.argv.slice(2) as [string, string, string]
while (!existsSync(go)) await new Promise((resolve) => setTimeout(resolve, 2))
const lock = await acquireLock(file, (message) => new Error(message)) as unknown
appendFileSync(log, `in ${process.pid}\n`)
await new Promise((resolve) => setTimeout(resolve, 5))
appendFileSync(log, `out ${process.pid}\n`)
if (typeof lock === 'function') await (lock as () => Promise<void>)()
else await (lock as { release: () => Promise<void> }).release()
