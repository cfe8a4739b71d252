// The master key in a tollgate process: where it is read from, and how little it is left lying around.
//
// - `TOLLGATE_MASTER_KEY` (base64) or `TOLLGATE_MASTER_KEY_FILE` (a file holding it): exactly one.
//   `TOLLGATE_MASTER_KEY_PREVIOUS` / `_PREVIOUS_FILE` may add the key a store is still sealed under
//   during a rotation, so a gateway reads the store before and after `rotate-master-key`.
// - `tollgate serve` takes the keys once (`MasterKeys.take`) and deletes the inline variables from
//   its environment: no `${env:…}` reference, child process or diagnostic report sees them again.
//   (The kernel keeps the environment the process started with in /proc/PID/environ, and a
//   container runtime shows what it was given: the key file is the way to keep it out of both.)
//   A key file is re-read whenever a store is opened (start, SIGHUP), so replacing the file's content
//   is picked up by a reload. Cluster workers get inline keys from the primary over IPC.
// - A key file readable or writable by others, or by a group not the process's own, is reported
//   (a warning, not a refusal).
// Messages never contain a key.
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { TollgateError } from '../errors.js'

const KEY_BYTES = 32
const KEY_B64 = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/

export const MASTER_KEY_VAR = 'TOLLGATE_MASTER_KEY'
export const PREVIOUS_KEY_VAR = 'TOLLGATE_MASTER_KEY_PREVIOUS'
export const NEW_KEY_VAR = 'TOLLGATE_NEW_MASTER_KEY'

/** Decodes a base64 (or base64url) 32-byte master key; `source` names where it came from. */
export function parseMasterKey (text: string, source: string): Buffer {
  const s = text.trim()
  if (!KEY_B64.test(s)) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `${source} must be 32 random bytes in base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`)
  }
  const key = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64')
  if (key.length !== KEY_BYTES) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `${source} must decode to ${KEY_BYTES} bytes`)
  }
  return key
}

function errnoCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'error'
}

export type Warn = (message: string) => void

/**
 * Reads a key file, warning when others may read or write it, or a group other than the process's
 * own (a Kubernetes Secret volume with `fsGroup` is group-readable by the pod's own group: fine).
 */
function readKeyFile (fileVar: string, path: string, warn: Warn | undefined): Buffer {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new TollgateError('TG_ERR_MASTER_KEY', `${fileVar}: cannot read ${path} (${errnoCode(err)})`)
  }
  if (warn !== undefined && process.platform !== 'win32') {
    try {
      const st = statSync(path)
      const mode = st.mode & 0o777
      const foreignGroup = (mode & 0o060) !== 0 && st.gid !== process.getgid?.()
      if ((mode & 0o006) !== 0 || foreignGroup) {
        warn(`${fileVar} (${path}) is readable or writable by ${(mode & 0o006) !== 0 ? 'others' : 'another group'} (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`)
      }
    } catch { /* read just above; a race with a delete is not worth a second error */ }
  }
  return parseMasterKey(text, `${fileVar} (${path})`)
}

/** One key variable pair (`NAME` / `NAME_FILE`): undefined when neither is set. */
type KeySpec = { kind: 'inline', key: Buffer } | { kind: 'file', fileVar: string, path: string }

function specFromEnv (env: NodeJS.ProcessEnv, prefix: string): KeySpec | undefined {
  const inline = env[prefix]
  const fileVar = `${prefix}_FILE`
  const path = env[fileVar]
  const hasInline = inline !== undefined && inline !== ''
  const hasFile = path !== undefined && path !== ''
  if (hasInline && hasFile) throw new TollgateError('TG_ERR_MASTER_KEY', `set ${prefix} or ${fileVar}, not both`)
  if (hasInline) return { kind: 'inline', key: parseMasterKey(inline, prefix) }
  if (hasFile) return { kind: 'file', fileVar, path }
  return undefined
}

function keyOf (spec: KeySpec, warn: Warn | undefined): Buffer {
  return spec.kind === 'inline' ? spec.key : readKeyFile(spec.fileVar, spec.path, warn)
}

function notSet (prefix: string): TollgateError {
  return new TollgateError('TG_ERR_MASTER_KEY', `${prefix} is not set (32 random bytes in base64, e.g. from \`openssl rand -base64 32\`; or ${prefix}_FILE)`)
}

/**
 * The master key: `TOLLGATE_MASTER_KEY` (base64, 32 bytes) or `TOLLGATE_MASTER_KEY_FILE` (a file
 * holding the same; relative to the working directory). Exactly one must be set. TG_ERR_MASTER_KEY
 * otherwise. The message never contains the key.
 */
export function masterKeyFromEnv (env: NodeJS.ProcessEnv = process.env, prefix = MASTER_KEY_VAR, warn?: Warn): Buffer {
  const spec = specFromEnv(env, prefix)
  if (spec === undefined) throw notSet(prefix)
  return keyOf(spec, warn)
}

/** The keys to open a store with: the current one, then `TOLLGATE_MASTER_KEY_PREVIOUS` when set. */
export function masterKeysFromEnv (env: NodeJS.ProcessEnv = process.env, warn?: Warn): Buffer[] {
  const current = masterKeyFromEnv(env, MASTER_KEY_VAR, warn)
  const previous = specFromEnv(env, PREVIOUS_KEY_VAR)
  return previous === undefined ? [current] : [current, keyOf(previous, warn)]
}

/** What may be handed from a cluster primary to its workers: inline keys only (files are re-read by path). */
export interface MasterKeysTransfer { current?: string, previous?: string }

/** The master keys a gateway process holds. */
export class MasterKeys {
  readonly #current: KeySpec | undefined
  readonly #previous: KeySpec | undefined

  private constructor (current: KeySpec | undefined, previous: KeySpec | undefined) {
    this.#current = current
    this.#previous = previous
  }

  /**
   * Reads the key variables of `env` and deletes the inline ones from it (`TOLLGATE_MASTER_KEY`,
   * `…_PREVIOUS`, `TOLLGATE_NEW_MASTER_KEY`); `_FILE` paths stay (they are not secret). Inline keys
   * a cluster primary sent fill in for variables this process does not have. Throws
   * TG_ERR_MASTER_KEY for a key that is set but invalid; warns about a too-open key file.
   */
  static take (env: NodeJS.ProcessEnv, opts: { warn?: Warn, transfer?: MasterKeysTransfer } = {}): MasterKeys {
    try {
      const fromTransfer = (b64: string | undefined): KeySpec | undefined => b64 === undefined ? undefined : { kind: 'inline', key: parseMasterKey(b64, 'the master key from the primary') }
      const current = specFromEnv(env, MASTER_KEY_VAR) ?? fromTransfer(opts.transfer?.current)
      const previous = specFromEnv(env, PREVIOUS_KEY_VAR) ?? fromTransfer(opts.transfer?.previous)
      const keys = new MasterKeys(current, previous)
      keys.keys(opts.warn) // a key file that cannot be read or parsed fails now, not at first use
      return keys
    } catch (err) {
      if (!(err instanceof TollgateError && err.code === 'TG_ERR_MASTER_KEY' && /is not set/.test(err.message))) throw err
      return new MasterKeys(undefined, undefined)
    } finally {
      for (const v of [MASTER_KEY_VAR, PREVIOUS_KEY_VAR, NEW_KEY_VAR]) delete env[v]
    }
  }

  /** Whether a current key is configured at all. */
  get configured (): boolean {
    return this.#current !== undefined
  }

  /** Current key first, then the previous one. Key files are read again on each call. */
  keys (warn?: Warn): Buffer[] {
    if (this.#current === undefined) throw notSet(MASTER_KEY_VAR)
    const out = [keyOf(this.#current, warn)]
    if (this.#previous !== undefined) out.push(keyOf(this.#previous, warn))
    return out
  }

  /** The inline keys, for a cluster worker (which cannot see them in its environment any more). */
  transfer (): MasterKeysTransfer {
    const b64 = (s: KeySpec | undefined): string | undefined => s?.kind === 'inline' ? s.key.toString('base64') : undefined
    return { current: b64(this.#current), previous: b64(this.#previous) }
  }
}

/**
 * Why `${file:PATH}` may not read `path`, or undefined: the master key files named in `env`, and
 * /proc (a process's memory and its initial environment, where an inline master key stays).
 */
export function forbiddenFileProblem (path: string, env: NodeJS.ProcessEnv): string | undefined {
  const real = (p: string): string => {
    try { return realpathSync(p) } catch { return resolve(p) }
  }
  const target = real(path)
  if (target === '/proc' || target.startsWith('/proc/')) return `${path} is under /proc (process memory and environment): refused`
  for (const v of [MASTER_KEY_VAR, PREVIOUS_KEY_VAR, NEW_KEY_VAR].map((p) => `${p}_FILE`)) {
    const keyFile = env[v]
    if (keyFile !== undefined && keyFile !== '' && real(keyFile) === target) return `${path} is the master key file (${v}): refused`
  }
  return undefined
}
