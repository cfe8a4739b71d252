// Crash-safe, multi-process-safe writes of a small state file (the secret store; reusable by any
// other tollgate-managed file such as the keys file):
// - `acquireLock(file)`: `<file>.lock`, created complete with link(2) so no reader sees it half
//   written; broken when its process is dead or it is older than LOCK_STALE_MS.
// - `writeFileAtomic(file, text)`: temp file in the same folder, mode 0600, fsync, rename over the
//   file, fsync of the folder. A crash leaves the old file or the new one, never a mix.
// Errors are built by the caller's `fail(message, cause)`, so they carry the caller's code and prefix.
import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export type FailFn = (message: string, cause?: unknown) => Error

export const LOCK_TIMEOUT_MS = 15_000
/** A lock older than this, or held by a dead process, is broken. Writers hold it for milliseconds. */
export const LOCK_STALE_MS = 30_000

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

async function lockIsStale (lockPath: string): Promise<boolean> {
  try {
    const [st, text] = await Promise.all([stat(lockPath), readFile(lockPath, 'utf8')])
    if (Date.now() - st.mtimeMs > LOCK_STALE_MS) return true
    const pid = (JSON.parse(text) as { pid?: unknown }).pid
    return typeof pid === 'number' && pid !== process.pid && !pidAlive(pid)
  } catch {
    return false // vanished or being replaced: just retry
  }
}

/** Takes `<file>.lock`, waiting up to LOCK_TIMEOUT_MS. Resolves to the release function. */
export async function acquireLock (file: string, fail: FailFn): Promise<() => Promise<void>> {
  const lockPath = `${file}.lock`
  const tmp = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}`
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, at: new Date().toISOString() }))
    } finally {
      await fh.close()
    }
  } catch (err) {
    throw fail(`cannot create the lock ${lockPath} (${errnoCode(err) ?? 'error'})`, err)
  }
  const deadline = Date.now() + LOCK_TIMEOUT_MS
  let wait = 5
  try {
    for (;;) {
      try {
        await link(tmp, lockPath)
        break
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw fail(`cannot take the lock ${lockPath} (${errnoCode(err) ?? 'error'})`, err)
      }
      if (await lockIsStale(lockPath)) {
        await unlink(lockPath).catch(() => {})
        continue
      }
      if (Date.now() > deadline) {
        throw fail(`is locked by another writer (lock file ${lockPath}); remove it if no tollgate command is running`)
      }
      await sleep(wait + Math.random() * wait)
      wait = Math.min(wait * 2, 100)
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return async () => { await unlink(lockPath).catch(() => {}) }
}

async function fsyncDir (dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r')
    try { await fh.sync() } finally { await fh.close() }
  } catch {
    // not supported everywhere (e.g. Windows); the rename itself is still atomic
  }
}

/** Replaces `file` with `text` atomically, mode 0600. */
export async function writeFileAtomic (file: string, text: string, fail: FailFn): Promise<void> {
  const dir = dirname(file)
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.chmod(0o600)
      await fh.writeFile(text, 'utf8')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw fail(`cannot be written (${errnoCode(err) ?? 'error'})`, err)
  }
  await fsyncDir(dir)
}
