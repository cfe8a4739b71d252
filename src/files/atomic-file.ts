// Crash-safe, multi-process-safe writes of a small state file (the secret store, the keys file):
// - `acquireLock(file)`: `<file>.lock`, created complete with link(2) so no reader sees it half
//   written. A lock whose process is dead, or older than LOCK_STALE_MS, is stale. Breaking it is
//   serialised by a second lock (`<file>.lock.break`), under which the breaker checks that the lock
//   file is still the very one it judged stale (same inode, same nonce) before removing it; so a
//   crowd of contenders facing one stale lock never removes a fresh lock some of them just took.
//   Release removes the lock only while it is still its own.
// - `writeFileAtomic(file, text)`: temp file in the same folder, mode 0600, fsync; then, when asked,
//   a last check that the lock is still held and that the file is still the one that was read
//   (compare-and-swap: a WriteConflict otherwise); rename over the file; fsync of the folder. A crash
//   leaves the old file or the new one, never a mix; `cleanLeftovers` removes a crashed writer's temp files.
// - `readSnapshot(file)`: the text (size-limited) and a stamp of the file it came from.
// Errors are built by the caller's `fail(message, cause)`, so they carry the caller's code and prefix.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { link, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export type FailFn = (message: string, cause?: unknown) => Error

export const LOCK_TIMEOUT_MS = 15_000
/** A lock older than this, or held by a dead process, is broken. Writers hold it for milliseconds. */
export const LOCK_STALE_MS = 30_000
/** The breaker lock is held for two file-system calls; older than this, its holder is gone. */
const BREAK_STALE_MS = 5_000

export function errnoCode (err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errnoCode(err) === 'EPERM'
  }
}

/** What a lock file says, and which file it is. */
interface LockState {
  /** `dev:ino` of the lock file: a lock replaced by another has another identity. */
  id: string
  nonce: string
  pid: number | undefined
  host: string | undefined
  ageMs: number
}

async function readLock (path: string): Promise<LockState | undefined> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch {
    return undefined // gone (or unreadable): the caller retries
  }
  try {
    const st = await fh.stat()
    const text = await fh.readFile('utf8')
    let info: { pid?: unknown, host?: unknown, nonce?: unknown } = {}
    try { info = JSON.parse(text) as typeof info } catch { /* a hand-made or damaged lock: judged by its age */ }
    return {
      id: `${st.dev}:${st.ino}`,
      nonce: typeof info.nonce === 'string' ? info.nonce : '',
      pid: typeof info.pid === 'number' ? info.pid : undefined,
      host: typeof info.host === 'string' ? info.host : undefined,
      ageMs: Date.now() - st.mtimeMs
    }
  } catch {
    return undefined
  } finally {
    await fh.close().catch(() => {})
  }
}

function isStale (l: LockState, staleMs: number): boolean {
  if (l.ageMs > staleMs) return true
  // a pid names a process of this machine only; a lock from another host ages out
  return l.pid !== undefined && l.pid !== process.pid && (l.host === undefined || l.host === hostname()) && !pidAlive(l.pid)
}

/** Creates `path` complete (temp file + link), or returns undefined when it exists. */
async function createLockFile (path: string, fail: FailFn): Promise<{ id: string, nonce: string } | undefined> {
  const nonce = randomBytes(12).toString('hex')
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`
  let id: string
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString(), nonce }))
      const st = await fh.stat()
      id = `${st.dev}:${st.ino}`
    } finally {
      await fh.close()
    }
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw fail(`cannot create the lock ${path} (${errnoCode(err) ?? 'error'})`, err)
  }
  try {
    await link(tmp, path)
    return { id, nonce }
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return undefined
    throw fail(`cannot take the lock ${path} (${errnoCode(err) ?? 'error'})`, err)
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** Removes `path` only while it is still the lock `mine` (read back, compared, then unlinked). */
async function removeIfSame (path: string, mine: { id: string, nonce: string }): Promise<boolean> {
  const now = await readLock(path)
  if (now === undefined || now.id !== mine.id || now.nonce !== mine.nonce) return false
  await unlink(path).catch(() => {})
  return true
}

/**
 * Breaks the stale lock `judged`, if it is still the one at `lockPath`. Only the holder of the
 * breaker lock may remove a stale lock, and it re-reads the lock under the breaker: a lock taken
 * meanwhile by another contender has another identity and is left alone.
 */
async function breakStale (lockPath: string, judged: LockState, fail: FailFn): Promise<void> {
  const breakPath = `${lockPath}.break`
  const breaker = await createLockFile(breakPath, fail)
  if (breaker === undefined) {
    // someone is breaking (or died doing so: its breaker lock is stale after a few seconds)
    const other = await readLock(breakPath)
    if (other !== undefined && isStale(other, BREAK_STALE_MS)) {
      // move that exact file aside, then check it is the one judged stale; put back anything else
      const aside = `${breakPath}.${process.pid}.${randomBytes(6).toString('hex')}.stale`
      try {
        await rename(breakPath, aside)
        const moved = await readLock(aside)
        if (moved !== undefined && (moved.id !== other.id || moved.nonce !== other.nonce)) await link(aside, breakPath).catch(() => {})
      } catch { /* vanished meanwhile */ }
      await unlink(aside).catch(() => {})
    }
    return
  }
  try {
    const now = await readLock(lockPath)
    if (now !== undefined && now.id === judged.id && now.nonce === judged.nonce) await unlink(lockPath).catch(() => {})
  } finally {
    await removeIfSame(breakPath, breaker)
  }
}

export interface Lock {
  readonly path: string
  /** Throws (the caller's error) unless the lock file is still this holder's. */
  verify (): Promise<void>
  /** Removes the lock file, only if it is still this holder's. */
  release (): Promise<void>
}

/** Takes `<file>.lock`, waiting up to LOCK_TIMEOUT_MS. */
export async function acquireLock (file: string, fail: FailFn, opts: { timeoutMs?: number, staleMs?: number } = {}): Promise<Lock> {
  const lockPath = `${file}.lock`
  const staleMs = opts.staleMs ?? LOCK_STALE_MS
  const deadline = Date.now() + (opts.timeoutMs ?? LOCK_TIMEOUT_MS)
  let wait = 5
  for (;;) {
    const mine = await createLockFile(lockPath, fail)
    if (mine !== undefined) {
      return {
        path: lockPath,
        async verify () {
          const now = await readLock(lockPath)
          if (now === undefined || now.id !== mine.id || now.nonce !== mine.nonce) {
            throw fail(`lost its lock ${lockPath} (broken as stale by another writer): nothing was written`)
          }
        },
        async release () { await removeIfSame(lockPath, mine) }
      }
    }
    const held = await readLock(lockPath)
    if (held !== undefined && isStale(held, staleMs)) {
      await breakStale(lockPath, held, fail)
      continue
    }
    if (Date.now() > deadline) {
      throw fail(`is locked by another writer (lock file ${lockPath}${held?.pid === undefined ? '' : `, pid ${held.pid}`}); remove it if no tollgate command is running`)
    }
    if (held === undefined) { // released meanwhile (or unreadable): try again at once
      await sleep(1)
      continue
    }
    await sleep(wait + Math.random() * wait)
    wait = Math.min(wait * 2, 100)
  }
}

/** The file changed between the read and the write (compare-and-swap failed): read again, apply again. */
export class WriteConflict extends Error {
  constructor (file: string) {
    super(`${file} changed while it was being updated`)
    this.name = 'WriteConflict'
  }
}

/** What identifies the content of a file at one moment (inode, size, times); `missing` when absent. */
function stampOf (st: { dev: bigint, ino: bigint, size: bigint, mtimeNs: bigint, ctimeNs: bigint }): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}

export async function fileStamp (file: string): Promise<string> {
  try {
    return stampOf(await stat(file, { bigint: true }))
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'missing'
    return `error:${errnoCode(err) ?? 'error'}`
  }
}

export interface FileSnapshot {
  /** undefined: no such file. */
  readonly text: string | undefined
  /** fileStamp() of the file the text was read from. */
  readonly stamp: string
}

/** Reads a whole state file, refusing one larger than `maxBytes`. */
export async function readSnapshot (file: string, maxBytes: number, fail: FailFn): Promise<FileSnapshot> {
  const io = (err: unknown): Error => fail(`cannot be read (${errnoCode(err) ?? 'error'})`, err)
  let fh
  try {
    fh = await open(file, 'r')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { text: undefined, stamp: 'missing' }
    throw io(err)
  }
  try {
    const st = await fh.stat({ bigint: true }).catch((err: unknown) => { throw io(err) })
    if (!st.isFile()) throw fail('is not a regular file')
    if (st.size > BigInt(maxBytes)) throw fail(`is larger than ${maxBytes} bytes: not a tollgate file, or damaged`)
    const buf = Buffer.alloc(Number(st.size) + 1)
    let n = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n).catch((err: unknown) => { throw io(err) })
      if (bytesRead === 0) break
      n += bytesRead
      if (n === buf.length) throw fail('grew while it was being read (written in place by something else?)')
    }
    return { text: buf.subarray(0, n).toString('utf8'), stamp: stampOf(st) }
  } finally {
    await fh.close().catch(() => {})
  }
}

async function fsyncDir (dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r')
    try { await fh.sync() } finally { await fh.close() }
  } catch {
    // not supported everywhere (e.g. Windows); the rename itself is still atomic
  }
}

function tempName (file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
}

export interface WriteOptions {
  /** Compare-and-swap: write only if the file's stamp is still this (`missing` for no file). */
  expect?: string
  /** Write only while this lock is still held. */
  lock?: Lock
}

/** Replaces `file` with `text` atomically, mode 0600. Throws WriteConflict when `expect` no longer holds. */
export async function writeFileAtomic (file: string, text: string, fail: FailFn, opts: WriteOptions = {}): Promise<void> {
  const tmp = tempName(file)
  try {
    try {
      const fh = await open(tmp, 'wx', 0o600)
      try {
        await fh.chmod(0o600)
        await fh.writeFile(text, 'utf8')
        await fh.sync()
      } finally {
        await fh.close()
      }
    } catch (err) {
      throw fail(`cannot be written (${errnoCode(err) ?? 'error'})`, err)
    }
    await opts.lock?.verify()
    if (opts.expect !== undefined && await fileStamp(file) !== opts.expect) throw new WriteConflict(file)
    try {
      await rename(tmp, file)
    } catch (err) {
      throw fail(`cannot be written (${errnoCode(err) ?? 'error'})`, err)
    }
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fsyncDir(dirname(file))
}

function escapeRe (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * Removes what crashed writers of `file` left behind: temp files of the write and of the lock.
 * Called under the lock; a leftover of a live process is kept unless it is older than LOCK_STALE_MS.
 */
export async function cleanLeftovers (file: string): Promise<number> {
  const dir = dirname(file)
  const base = escapeRe(basename(file))
  const patterns = [
    new RegExp(`^\\.${base}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`),
    new RegExp(`^${base}\\.lock(?:\\.break)?\\.(\\d+)\\.[0-9a-f]{12}(?:\\.stale)?$`)
  ]
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  let removed = 0
  for (const name of names) {
    const m = patterns.map((re) => re.exec(name)).find((x) => x !== null)
    if (m === undefined || m === null) continue
    const pid = Number(m[1])
    const path = join(dir, name)
    try {
      const age = Date.now() - (await stat(path)).mtimeMs
      if (pid === process.pid || (pidAlive(pid) && age <= LOCK_STALE_MS)) continue
      await unlink(path)
      removed++
    } catch { /* gone already */ }
  }
  return removed
}

/** Reads a small file as text; undefined when it does not exist. */
export async function readTextIfExists (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw err
  }
}
