// `tollgate secrets set|list|rm|rotate-master-key … --config FILE`. No command prints a value.
import type { ReadStream } from 'node:tty'
import { TollgateError } from '../errors.js'
import { loadEmbeddedConfig } from '../config/load.js'
import { stateAccess, type StateAccess } from './state.js'
import { MAX_VALUE_BYTES, SecretStore, masterKeyId } from '../secrets/store.js'
import { masterKeyFromEnv, masterKeysFromEnv, NEW_KEY_VAR, PREVIOUS_KEY_VAR } from '../secrets/custody.js'
import { isHelp, parseFlags, runCommand, usage, type Io } from './io.js'

export type SecretsIo = Io

export const SECRETS_USAGE = `usage:
  tollgate secrets set NAME --config FILE        value from stdin (hidden on a terminal; one trailing newline dropped)
  tollgate secrets list --config FILE [--json]   names and timestamps, never values
  tollgate secrets rm NAME --config FILE
  tollgate secrets rotate-master-key --config FILE
                                                 re-seal under TOLLGATE_NEW_MASTER_KEY (or _FILE); without it, re-seal a store
                                                 still under TOLLGATE_MASTER_KEY_PREVIOUS under TOLLGATE_MASTER_KEY`

/** Names under this prefix belong to tollgate itself (e.g. the keys pepper). */
const RESERVED = 'tollgate.'

/** Runs `tollgate secrets …` (`args` is everything after `secrets`). Returns the exit code. */
export async function runSecrets (args: string[], io: SecretsIo): Promise<number> {
  return await runCommand(io, async () => await run(args, io))
}

async function run (args: string[], io: SecretsIo): Promise<number> {
  if (isHelp(args[0])) {
    io.stdout.write(SECRETS_USAGE + '\n')
    return 0
  }
  const { values, positionals } = parseFlags(args, {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
    force: { type: 'boolean' }
  }, SECRETS_USAGE, Infinity)
  const [command, ...rest] = positionals
  const arity: Record<string, number> = { set: 1, list: 0, ls: 0, rm: 1, remove: 1, 'rotate-master-key': 0 }
  if (command === undefined || !(command in arity)) {
    throw usage(`secrets: ${command === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(command)}`} (set, list, rm, rotate-master-key)`)
  }
  if (rest.length !== arity[command]) {
    throw usage(`secrets ${command}: expected ${arity[command] === 1 ? 'one NAME' : 'no arguments'}, got ${rest.length === 0 ? 'none' : rest.length}`)
  }
  if (values.config === undefined) throw usage(`secrets ${command}: --config FILE is required`)
  const { file, storeId, state } = await storeOf(values.config, io.env)
  try {
    return await runOn(command, rest, values, io, file, storeId, state)
  } finally {
    await state.close()
  }
}

async function runOn (command: string, rest: string[], values: { json?: boolean, force?: boolean }, io: SecretsIo, file: string, storeId: string | undefined, state: StateAccess): Promise<number> {
  const warn = (m: string): void => { io.stderr.write(`tollgate: warning: ${m}\n`) }
  const backend = state.store(file)
  const open = async (): Promise<SecretStore> => await SecretStore.open(file, masterKeysFromEnv(io.env, warn), { storeId, upgrade: true, backend })

  switch (command) {
    case 'set': {
      const name = rest[0]!
      checkReserved(name, values.force === true, 'set')
      const store = await open()
      const value = await readValue(io, name)
      const existed = store.has(name)
      await store.set(name, value)
      io.stdout.write(`${existed ? 'updated' : 'created'} secret ${name} in ${file}\n`)
      return 0
    }
    case 'list': case 'ls': {
      const store = await open()
      const entries = store.list()
      if (values.json === true) {
        io.stdout.write(JSON.stringify(entries) + '\n')
        return 0
      }
      if (entries.length === 0) {
        io.stderr.write(`no secrets in ${file}\n`)
        return 0
      }
      io.stderr.write(`store ${file}: id ${store.storeId ?? '(none yet: format version 1, upgraded by the next write)'}, generation ${store.generation}, master key id ${store.keyId}\n`)
      const width = Math.max(4, ...entries.map((e) => e.name.length))
      io.stdout.write(`${'NAME'.padEnd(width)}  ${'CREATED'.padEnd(24)}  UPDATED\n`)
      for (const e of entries) io.stdout.write(`${e.name.padEnd(width)}  ${e.createdAt.padEnd(24)}  ${e.updatedAt}\n`)
      return 0
    }
    case 'rm': case 'remove': {
      const name = rest[0]!
      checkReserved(name, values.force === true, 'rm')
      const store = await open()
      if (!await store.remove(name)) {
        io.stderr.write(`tollgate: no secret ${name} in ${file}\n`)
        return 1
      }
      io.stdout.write(`removed secret ${name} from ${file}\n`)
      return 0
    }
    default: { // rotate-master-key
      const oldKeys = masterKeysFromEnv(io.env, warn)
      let newKey: Buffer
      const hasNew = [NEW_KEY_VAR, `${NEW_KEY_VAR}_FILE`].some((v) => io.env[v] !== undefined && io.env[v] !== '')
      const hasPrevious = [PREVIOUS_KEY_VAR, `${PREVIOUS_KEY_VAR}_FILE`].some((v) => io.env[v] !== undefined && io.env[v] !== '')
      if (hasNew) {
        newKey = masterKeyFromEnv(io.env, NEW_KEY_VAR, warn)
      } else if (hasPrevious) {
        newKey = oldKeys[0]! // the gateways already hold TOLLGATE_MASTER_KEY (new) and _PREVIOUS (old)
      } else {
        throw usage(`secrets rotate-master-key: set ${NEW_KEY_VAR} (or ${NEW_KEY_VAR}_FILE), or TOLLGATE_MASTER_KEY to the new key and ${PREVIOUS_KEY_VAR} (or _FILE) to the old one`)
      }
      const newId = masterKeyId(newKey)
      if (hasNew && masterKeyId(oldKeys[0]!) === newId) throw usage(`secrets rotate-master-key: ${NEW_KEY_VAR} is the same key as TOLLGATE_MASTER_KEY`)
      const store = await SecretStore.open(file, [...oldKeys, newKey], { storeId, upgrade: true, backend })
      if (store.list().length === 0) {
        io.stderr.write(`tollgate: ${file} holds no secrets; nothing to rotate\n`)
        return 1
      }
      const oldId = store.sealedKeyId
      await store.rotate(newKey)
      io.stdout.write(`re-sealed ${store.list().length} secret(s) in ${file} under master key id ${newId} (was ${oldId}); ` +
        (hasNew ? 'set TOLLGATE_MASTER_KEY to the new key wherever tollgate runs (from a file: TOLLGATE_MASTER_KEY_FILE)\n' : `gateways holding both keys read it already; ${PREVIOUS_KEY_VAR} can go\n`))
      return 0
    }
  }
}

function checkReserved (name: string, force: boolean, verb: string): void {
  if (name.startsWith(RESERVED) && !force) {
    throw usage(`secrets ${verb}: names starting with "${RESERVED}" are tollgate's own (e.g. the keys pepper); add --force if you really mean it`)
  }
}

/**
 * `secrets.store` from the config (an absolute path: relative paths are relative to the config
 * file's folder; or a Secret Manager location), `secrets.storeId`, and the access to it.
 */
async function storeOf (configFile: string, env: NodeJS.ProcessEnv): Promise<{ file: string, storeId: string | undefined, state: StateAccess }> {
  const config = await loadEmbeddedConfig(configFile, env)
  const store = config.secrets?.store
  if (store === undefined) throw new TollgateError('TG_ERR_CONFIG_INVALID', `secrets.store: not set in ${config.file}`)
  return { file: store, storeId: config.secrets?.storeId, state: stateAccess(config, env) }
}

/**
 * The value: typed with echo off on a terminal, or piped. From a pipe exactly one trailing newline
 * (`\n` or `\r\n`) is dropped, so `echo "$TOKEN" | tollgate secrets set …` stores the token alone; a
 * value that must end in a newline is piped with one extra.
 */
async function readValue (io: SecretsIo, name: string): Promise<string> {
  const tty = io.stdin as Partial<ReadStream>
  let value: string
  if (tty.isTTY === true && typeof tty.setRawMode === 'function') {
    value = await readHidden(tty as ReadStream, io.stderr, `value for ${name} (input hidden, Enter to finish): `)
  } else {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of io.stdin) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk as Buffer
      size += b.length
      if (size > MAX_VALUE_BYTES + 2) throw usage(`secrets set: the value is larger than ${MAX_VALUE_BYTES} bytes`)
      chunks.push(b)
    }
    try {
      value = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
    } catch {
      throw usage('secrets set: the value on stdin is not UTF-8 text')
    }
    if (value.endsWith('\r\n')) value = value.slice(0, -2)
    else if (value.endsWith('\n')) value = value.slice(0, -1)
  }
  if (value === '') throw usage('secrets set: empty value (pipe the value on stdin, e.g. `printf %s "$TOKEN" | tollgate secrets set NAME --config FILE`)')
  return value
}

/** Reads one line from a terminal in raw mode: nothing is echoed. Ctrl-C / Ctrl-D abort. */
function readHidden (stdin: ReadStream, stderr: NodeJS.WritableStream, prompt: string): Promise<string> {
  stderr.write(prompt)
  return new Promise((resolve, reject) => {
    let value = ''
    const done = (err?: Error): void => {
      stdin.setRawMode(false)
      stdin.removeListener('data', onData)
      stdin.pause()
      stderr.write('\n')
      if (err !== undefined) reject(err)
      else resolve(value)
    }
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003' || ch === '\u0004') return done(usage('secrets set: cancelled'))
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('')
        else if (ch >= ' ') value += ch
      }
    }
    stdin.setRawMode(true)
    stdin.on('data', onData)
    stdin.resume()
  })
}
