// Shared fixtures for the credentials tests: a temp folder with a config, a master key, captured CLI io.
import { randomBytes } from 'node:crypto'
import { captureIo } from '../helpers/io.js'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runKeys } from '../../src/cli/keys.js'
import type { SecretHandle, SecretResolver } from '../../src/secrets/types.js'
import type { Logger } from '../../src/credentials/logger.js'

export interface Fixture {
  dir: string
  config: string
  keysFile: string
  storeFile: string
  env: NodeJS.ProcessEnv
  masterKey: Buffer
  cleanup: () => Promise<void>
}

export const CONTAINERS = ['alpha', 'beta', 'gamma']

export async function fixture (opts: { extraYaml?: string, containers?: string[] } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cred-'))
  const masterKey = randomBytes(32)
  const containers = opts.containers ?? CONTAINERS
  const yaml = [
    'server:',
    '  listen:',
    '    https: { host: 127.0.0.1, port: 0 }',
    '  tls: { cert: ./tls.crt, key: ./tls.key }',
    'secrets:',
    '  store: ./secrets.store',
    'credentials:',
    '  keys: ./keys.store',
    'containers:',
    ...containers.flatMap((c, i) => [
      `  ${c}:`,
      '    upstream: http://127.0.0.1:9',
      `    match: { path: /${c}${i} }`,
      '    token: ${secret:upstream}',
      '    privacy: private'
    ]),
    opts.extraYaml ?? ''
  ].join('\n') + '\n'
  const config = join(dir, 'tollgate.yaml')
  await writeFile(config, yaml)
  return {
    dir,
    config,
    keysFile: join(dir, 'keys.store'),
    storeFile: join(dir, 'secrets.store'),
    env: { TOLLGATE_MASTER_KEY: masterKey.toString('base64') },
    masterKey,
    cleanup: async () => { await rm(dir, { recursive: true, force: true }) }
  }
}

export interface CliResult { code: number, stdout: string, stderr: string }

export async function keysCli (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const io = captureIo()
  const code = await runKeys(args, { stdout: io.stdout, stderr: io.stderr, env })
  return { code, stdout: io.out(), stderr: io.err() }
}

/** Runs `keys create` and returns the printed key (the last line of stdout). */
export async function createKey (f: Fixture, name: string, extra: string[] = []): Promise<string> {
  const r = await keysCli(['create', '--name', name, '--config', f.config, ...extra], f.env)
  if (r.code !== 0) throw new Error(`keys create failed (${r.code}): ${r.stderr}`)
  const lines = r.stdout.trimEnd().split('\n')
  return lines[lines.length - 1]!
}

/** A resolver for tests: `${env:NAME}` from the given map, mutable for rotation tests. */
export function envResolver (values: Record<string, string>): SecretResolver {
  return {
    async resolve (ref: string): Promise<SecretHandle> {
      const m = /^\$\{env:([^}]+)\}$/.exec(ref)
      if (m === null || values[m[1]!] === undefined) throw new Error(`unresolved ${ref}`)
      const name = m[1]!
      return { ref, value: () => values[name]!, refresh: async () => false }
    },
    async close () {}
  }
}

export interface CapturedLogger extends Logger { lines: Array<{ level: string, obj: object, msg?: string }>, text: () => string }

export function captureLogger (): CapturedLogger {
  const lines: CapturedLogger['lines'] = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj, msg }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), text: () => JSON.stringify(lines) }
}

export async function waitFor (check: () => boolean | Promise<boolean>, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
