// Shared bits for the secrets tests.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { TollgateError } from '../../src/errors.js'
import type { SecretEvents, SecretLogger } from '../../src/secrets/index.js'

export async function tempDir (t: { after: (fn: () => Promise<void>) => void }, prefix = 'tg-secrets-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A logger and event hooks that record everything, to check what was said (and that no value leaked). */
export function recorder (): { logger: SecretLogger, events: Required<SecretEvents>, lines: string[], events_: Array<[string, string, unknown?]> } {
  const lines: string[] = []
  const events_: Array<[string, string, unknown?]> = []
  const log = (level: string) => (obj: Record<string, unknown>, msg: string): void => { lines.push(JSON.stringify({ level, ...obj, msg })) }
  return {
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    events: {
      refreshed: (ref, changed) => { events_.push(['refreshed', ref, changed]) },
      refreshFailed: (ref, reason) => { events_.push(['refreshFailed', ref, reason]) },
      rotated: (ref) => { events_.push(['rotated', ref]) },
      refused: (file, reason) => { events_.push(['refused', file, reason]) },
      generation: (file, n) => { events_.push(['generation', file, n]) },
      sourceStatus: (file, ok) => { events_.push(['sourceStatus', file, ok]) }
    },
    lines,
    events_
  }
}

export async function waitFor (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Asserts that none of `values` appears in any of `texts`. */
export function assertNoLeak (texts: string[], values: string[]): void {
  for (const text of texts) {
    for (const v of values) {
      if (text.includes(v)) throw new Error(`a secret value leaked into: ${text.replace(v, '<VALUE>')}`)
    }
  }
}

/** assert.rejects predicate: TG_ERR_SECRET_UNRESOLVED whose message mentions every word. */
export function unresolved (...words: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TollgateError, String(err))
    assert.equal(err.code, 'TG_ERR_SECRET_UNRESOLVED')
    for (const w of words) assert.ok(err.message.includes(w), `"${err.message}" mentions ${w}`)
    return true
  }
}
