// The lock that orders writers of the secret store and the keys file (src/files/atomic-file.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { acquireLock, cleanLeftovers, writeFileAtomic, WriteConflict } from '../../src/files/atomic-file.js'
import { FileState } from '../../src/files/state.js'
import { SecretStore } from '../../src/secrets/store.js'
import { tempDir } from '../secrets/helpers.js'

const fail = (message: string): Error => new Error(message)
/** A pid no process has (above Linux's pid_max ceiling of 2^22). */
const DEAD_PID = 2 ** 22 + 12_345

function staleLock (): string {
  return JSON.stringify({ pid: DEAD_PID, at: new Date().toISOString() })
}

/** acquireLock's release, whichever shape the lock has. */
async function take (file: string): Promise<() => Promise<void>> {
  const lock = await acquireLock(file, fail) as unknown
  return typeof lock === 'function' ? lock as () => Promise<void> : async () => { await (lock as { release: () => Promise<void> }).release() }
}

test('a stale lock broken by 12 contenders at once never gives two holders (20 trials)', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const file = join(dir, 'state.json')
  const overlaps: number[] = []
  for (let trial = 0; trial < 20; trial++) {
    await writeFile(`${file}.lock`, staleLock())
    let holders = 0
    let most = 0
    await Promise.all(Array.from({ length: 12 }, async () => {
      const release = await take(file)
      holders++
      most = Math.max(most, holders)
      // hold it across a few file-system round trips, as a writer does
      await stat(dir)
      await readFile(`${file}.lock`).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3))
      holders--
      await release()
    }))
    if (most > 1) overlaps.push(trial)
  }
  assert.deepEqual(overlaps, [], `two writers held the lock at once in trials ${overlaps.join(', ')}`)
  assert.ok(!existsSync(`${file}.lock`), 'the last holder released it')
})

test('a stale lock broken by 12 contender processes at once never gives two holders (5 trials)', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const file = join(dir, 'state.json')
  const here = fileURLToPath(import.meta.url)
  const child = join(dirname(here), here.endsWith('.js') ? 'lock-child.js' : 'lock-child.ts')
  for (let trial = 0; trial < 5; trial++) {
    const log = join(dir, `log-${trial}`)
    const go = join(dir, `go-${trial}`)
    await writeFile(`${file}.lock`, staleLock())
    const runs = Array.from({ length: 12 }, () => new Promise<number>((resolve, reject) => {
      const p = spawn(process.execPath, [...(here.endsWith('.js') ? [] : ['--import', 'tsx']), child, file, log, go], { stdio: ['ignore', 'ignore', 'inherit'] })
      p.on('error', reject)
      p.on('exit', (code) => resolve(code ?? -1))
    }))
    await new Promise((resolve) => setTimeout(resolve, 300)) // let them all start and wait on the signal
    await writeFile(go, '')
    assert.deepEqual(await Promise.all(runs), Array(12).fill(0))
    const lines = (await readFile(log, 'utf8')).trimEnd().split('\n')
    assert.equal(lines.length, 24)
    for (let i = 0; i < lines.length; i += 2) {
      const pid = lines[i]!.slice(3)
      assert.deepEqual([lines[i], lines[i + 1]], [`in ${pid}`, `out ${pid}`], `trial ${trial}: two holders at once around line ${i + 1}`)
    }
  }
})

test('release removes only its own lock: a holder whose lock was broken leaves the new holder\'s alone', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const file = join(dir, 'state.json')
  const releaseA = await take(file)
  // A's lock goes stale (as if A had died) and B breaks it and takes the lock
  await writeFile(`${file}.lock`, staleLock())
  const releaseB = await take(file)
  await releaseA()
  assert.ok(existsSync(`${file}.lock`), 'B still holds the lock')
  await releaseB()
  assert.ok(!existsSync(`${file}.lock`))
})

test('a writer whose lock was broken writes nothing', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const file = join(dir, 'state.json')
  await writeFile(file, 'before')
  const lock = await acquireLock(file, fail)
  await writeFile(`${file}.lock`, staleLock()) // broken and replaced under the writer
  await assert.rejects(writeFileAtomic(file, 'after', fail, { lock }), /lost its lock/)
  assert.equal(await readFile(file, 'utf8'), 'before')
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), [], 'no temp file left')
})

test('compare-and-swap before the rename: a file changed under a writer is read again and the change applied again', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const file = join(dir, 'list.json')
  await writeFile(file, JSON.stringify(['a']))
  // a direct write (no lock) lands while the writer works
  await assert.rejects(writeFileAtomic(file, 'x', fail, { expect: 'missing' }), (err: unknown) => err instanceof WriteConflict)
  const state = new FileState(file, { maxBytes: 1024, fail: () => fail })
  let runs = 0
  await state.update(async (current) => {
    runs++
    if (runs === 1) await writeFile(file, JSON.stringify(['a', 'rogue']))
    const list = JSON.parse(current.text ?? '[]') as string[]
    return { text: JSON.stringify([...list, 'mine']), result: undefined }
  })
  assert.equal(runs, 2, 'applied again on the new content')
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), ['a', 'rogue', 'mine'], 'neither change is lost')
})

test('the leftovers of a crashed writer (temp files, lock temp files) are removed by the next write', async (t) => {
  const dir = await tempDir(t, 'tg-lock-')
  const key = randomBytes(32)
  const file = join(dir, 'secrets.store')
  const store = await SecretStore.open(file, key)
  await store.set('a', 'one')
  const leftovers = [`.secrets.store.${DEAD_PID}.0123456789ab.tmp`, `secrets.store.lock.${DEAD_PID}.0123456789ab`]
  const unrelated = ['.other.store.1.0123456789ab.tmp', 'notes.txt']
  for (const n of [...leftovers, ...unrelated]) await writeFile(join(dir, n), 'x')
  await store.set('b', 'two')
  const names = await readdir(dir)
  for (const n of leftovers) assert.ok(!names.includes(n), `${n} removed`)
  for (const n of unrelated) assert.ok(names.includes(n), `${n} kept`)
  assert.equal(await cleanLeftovers(file), 0)
})
