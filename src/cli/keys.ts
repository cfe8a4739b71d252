// `tollgate keys create|list|revoke`: manage tollgate keys (docs/credentials.md). The key itself is
// printed once, by `create`, alone on the last line of stdout (or written to `--output FILE`);
// nothing else ever prints it. Every write verifies the keys file first and seals it again (MAC,
// next generation) with the pepper from the secret store, so every write needs the master key.
import { open, unlink } from 'node:fs/promises'
import { ConfigError, TollgateError } from '../errors.js'
import { loadEmbeddedConfig, type RuntimeConfig } from '../config/load.js'
import { SecretStore } from '../secrets/store.js'
import { masterKeysFromEnv } from '../secrets/custody.js'
import { KEY_NAME, mutateKeysFile, readKeysFile, verifyKeysFile, type KeyRecord, type KeysFile, type KeysWriterSecrets } from '../credentials/keyfile.js'
import { generateKey, hashKey } from '../credentials/keyformat.js'
import { ensurePepper, keysSecretsOf, markKeysFileUpgraded } from '../credentials/pepper.js'
import { isHelp, parseFlags, runCommand, usage, type Io } from './io.js'
import { stateAccess, type StateAccess } from './state.js'

export type KeysIo = Pick<Io, 'stdout' | 'stderr' | 'env'>

export const KEYS_USAGE = `usage:
  tollgate keys create --name N --config FILE [--containers a,b] [--expires-at ISO8601] [--owner] [--output FILE]
                       prints the key once (alone on the last line of stdout; with --output, to FILE, mode 0600)
  tollgate keys list --config FILE [--json]
  tollgate keys revoke NAME --config FILE`

/** `2026-12-31`, `2026-12-31T18:00:00Z`, `2026-12-31T18:00+02:00`: a date, or a time with a zone. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

export function parseExpiry (text: string, now = Date.now()): string {
  const t = ISO_8601.test(text) ? Date.parse(text) : Number.NaN
  if (!Number.isFinite(t)) throw usage(`--expires-at: expected an ISO 8601 date or a date-time with a zone (e.g. 2026-12-31T23:59:59Z), got ${JSON.stringify(text)}`)
  if (t <= now) throw usage(`--expires-at: ${text} is in the past`)
  return new Date(t).toISOString()
}

export function status (r: KeyRecord, now = Date.now()): 'active' | 'expired' | 'revoked' {
  if (r.revokedAt !== null) return 'revoked'
  if (r.expiresAt !== null && Date.parse(r.expiresAt) <= now) return 'expired'
  return 'active'
}

export interface KeysContext {
  configFile: string
  /** `credentials.keys`: an absolute path, or a Secret Manager location (`scw:…`). */
  keysFile: string
  storeFile: string | undefined
  storeId: string | undefined
  containers: string[]
  /** Where the bytes of both live; close it when done. */
  state: StateAccess
  /** How soon a running gateway sees a change, for the messages. */
  pickup: string
}

async function keysContext (configFile: string | undefined, env: NodeJS.ProcessEnv): Promise<KeysContext> {
  if (configFile === undefined) throw usage('keys needs --config FILE')
  return keysContextOf(await loadEmbeddedConfig(configFile, env), env)
}

/** The keys file of a loaded config (what every `tollgate keys` command, and the demo, work on). */
export function keysContextOf (config: RuntimeConfig, env: NodeJS.ProcessEnv): KeysContext {
  const keysFile = config.credentials?.keys
  if (keysFile === undefined) throw new ConfigError('credentials.keys', `not set in ${config.file}: name the keys file (e.g. ./keys.store)`)
  const ttl = config.secrets?.ttl ?? 60000
  return {
    configFile: config.file,
    keysFile,
    storeFile: config.secrets?.store,
    storeId: config.secrets?.storeId,
    containers: Object.keys(config.containers),
    state: stateAccess(config, env),
    pickup: keysFile.startsWith('scw:') ? `within secrets.ttl (${Math.round(ttl / 1000)} s) plus one refresh` : 'as soon as it sees the file change (within seconds)'
  }
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}

function warner (io: KeysIo): (message: string) => void {
  return (message) => { io.stderr.write(`tollgate: warning: ${message}\n`) }
}

/** The secret store holding the keys pepper (opened with the master key, and the previous one during a rotation). */
async function openStore (ctx: KeysContext, io: KeysIo): Promise<SecretStore> {
  if (ctx.storeFile === undefined) {
    throw new ConfigError('secrets.store', `not set in ${ctx.configFile}: tollgate keys need the secret store (it holds the keys pepper)`)
  }
  return await SecretStore.open(ctx.storeFile, masterKeysFromEnv(io.env, warner(io)), { storeId: ctx.storeId, upgrade: true, backend: ctx.state.store(ctx.storeFile) })
}

/** What mutateKeysFile asks for: the pepper (made on first use when `create`) and the upgrade mark. */
function writerSecrets (store: SecretStore, create: boolean): (data: KeysFile) => Promise<KeysWriterSecrets> {
  return async (data) => {
    await store.reload()
    const s = keysSecretsOf(store)
    const pepper = s.pepper ?? (create ? await ensurePepper(store) : undefined)
    if (pepper === undefined && (data.keys.length > 0 || data.version === 2)) {
      throw new TollgateError('TG_ERR_KEYS_STORE', `secret store ${store.file} has no keys pepper, but the keys file has keys (was the store replaced?)`)
    }
    return { pepper, macRequired: s.macRequired }
  }
}

/** Runs a keys-file change; after a write the store records that the file is version 2. */
async function changeKeys<T> (ctx: KeysContext, io: KeysIo, create: boolean, change: (data: KeysFile, pepper: Buffer | undefined) => T | Promise<T>): Promise<T> {
  const store = await openStore(ctx, io)
  const { result, written } = await mutateKeysFile(ctx.state.keys(ctx.keysFile), writerSecrets(store, create), change)
  if (written) await markKeysFileUpgraded(store)
  return result
}

async function create (args: string[], io: KeysIo): Promise<number> {
  const { values } = parseFlags(args, {
    name: { type: 'string' },
    config: { type: 'string' },
    containers: { type: 'string' },
    'expires-at': { type: 'string' },
    owner: { type: 'boolean', default: false },
    output: { type: 'string' }
  }, KEYS_USAGE)
  const name = values.name
  if (name === undefined) throw usage('keys create needs --name N')
  if (!KEY_NAME.test(name)) throw usage(`--name: a key name is 1-64 letters, digits, "_", "-" or "." (starting with a letter or digit), got ${JSON.stringify(name)}`)
  const expiresAt = values['expires-at'] === undefined ? null : parseExpiry(values['expires-at'])
  const ctx = await keysContext(values.config, io.env)
  let containers: string[] | null = null
  if (values.containers !== undefined) {
    containers = [...new Set(values.containers.split(',').map((s) => s.trim()).filter((s) => s !== ''))]
    if (containers.length === 0) throw usage('--containers: give at least one container name (or leave it out for every container)')
    const unknown = containers.filter((c) => !ctx.containers.includes(c))
    if (unknown.length > 0) throw usage(`--containers: no container named ${unknown.map((c) => JSON.stringify(c)).join(', ')} in ${values.config!}`)
  }
  // the key goes to a new file of its own (never over an existing one), opened before anything is written
  const output = values.output === undefined ? undefined : await openOutput(values.output)
  let key: string
  try {
    key = await addKey(ctx, io, { name, containers, expiresAt, owner: values.owner === true })
  } catch (err) {
    if (output !== undefined) {
      await output.fh.close().catch(() => {})
      await unlink(output.path).catch(() => {})
    }
    throw err
  } finally {
    await ctx.state.close()
  }
  const scope = containers === null ? 'every private container' : `container${containers.length === 1 ? '' : 's'} ${containers.join(', ')}`
  io.stdout.write(`created key "${name}": ${scope}; ${expiresAt === null ? 'no expiry' : `expires ${expiresAt}`}; owner: ${values.owner === true ? 'yes' : 'no'}\n`)
  if (output !== undefined) {
    try {
      await output.fh.writeFile(key + '\n')
      await output.fh.sync()
    } finally {
      await output.fh.close()
    }
    io.stdout.write(`the key was written to ${output.path} (mode 0600), only there (only its hash is kept); clients send it in X-Auth-Token\n`)
    return 0
  }
  if ((io.stdout as { isTTY?: boolean }).isTTY !== true) {
    warner(io)('stdout is not a terminal: the key printed below lands in whatever captures it (a CI log, a file); ' +
      'use --output FILE to write it to a file of its own (mode 0600) instead')
  }
  io.stdout.write('the key is shown only this once (only its hash is kept); clients send it in X-Auth-Token:\n')
  io.stdout.write(key + '\n')
  return 0
}

export interface NewKey { name: string, containers: string[] | null, expiresAt: string | null, owner: boolean }

/**
 * Adds a key to the keys file (a read-modify-write that keeps any concurrent writer's change) and
 * resolves to the key itself, which exists nowhere else: only its hash is stored.
 */
export async function addKey (ctx: KeysContext, io: KeysIo, spec: NewKey): Promise<string> {
  return await changeKeys(ctx, io, true, async (data, pepper) => {
    if (data.keys.some((r) => r.name === spec.name && r.revokedAt === null)) {
      throw usage(`a key named "${spec.name}" already exists (revoke it first: tollgate keys revoke ${spec.name})`)
    }
    let generated = generateKey()
    while (data.keys.some((r) => r.id === generated.id)) generated = generateKey()
    data.keys.push({
      id: generated.id,
      name: spec.name,
      hash: hashKey(pepper!, generated.key).toString('base64'),
      containers: spec.containers,
      owner: spec.owner,
      createdAt: new Date().toISOString(),
      expiresAt: spec.expiresAt,
      revokedAt: null
    })
    return generated.key
  })
}

/** Revokes the active key named `name`: 'revoked', or why not ('already' revoked, 'missing'). */
export async function revokeKey (ctx: KeysContext, io: KeysIo, name: string): Promise<'revoked' | 'already' | 'missing'> {
  return await changeKeys(ctx, io, false, (data) => {
    const rec = data.keys.find((r) => r.name === name && r.revokedAt === null)
    if (rec === undefined) return data.keys.some((r) => r.name === name) ? 'already' : 'missing'
    rec.revokedAt = new Date().toISOString()
    return 'revoked'
  })
}

/** Creates the --output file: exclusive (an existing file or a symlink is refused), mode 0600. */
async function openOutput (path: string): Promise<{ path: string, fh: Awaited<ReturnType<typeof open>> }> {
  try {
    return { path, fh: await open(path, 'wx', 0o600) }
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw usage(`--output: cannot create ${path} (${code === 'EEXIST' ? 'it already exists; the key is never written over a file' : String(code ?? 'error')})`)
  }
}

async function list (args: string[], io: KeysIo): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' }, json: { type: 'boolean', default: false } }, KEYS_USAGE)
  const ctx = await keysContext(values.config, io.env)
  const data = await verifiedKeys(ctx, io).finally(async () => await ctx.state.close())
  const now = Date.now()
  const keys = [...data.keys].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.createdAt < b.createdAt ? -1 : 1))
  if (values.json === true) {
    io.stdout.write(JSON.stringify(keys.map((r) => ({
      name: r.name,
      containers: r.containers,
      expiresAt: r.expiresAt,
      createdAt: r.createdAt,
      owner: r.owner,
      status: status(r, now),
      revokedAt: r.revokedAt
    })), null, 2) + '\n')
    return 0
  }
  if (keys.length === 0) {
    io.stdout.write(`no keys in ${ctx.keysFile}\n`)
    return 0
  }
  io.stdout.write(table([
    ['NAME', 'SCOPE', 'EXPIRES', 'CREATED', 'OWNER', 'STATUS'],
    ...keys.map((r) => [
      r.name,
      r.containers === null ? '*' : r.containers.join(','),
      r.expiresAt ?? 'never',
      r.createdAt,
      r.owner ? 'yes' : 'no',
      status(r, now) + (r.revokedAt === null ? '' : ` ${r.revokedAt}`)
    ])
  ]))
  return 0
}

/**
 * The keys file, checked against the store when the master key is at hand (a tampered file is an
 * error); without the master key it is listed unchecked, and stderr says so.
 */
async function verifiedKeys (ctx: KeysContext, io: KeysIo): Promise<KeysFile> {
  const { data } = await readKeysFile(ctx.keysFile, ctx.state.keys(ctx.keysFile))
  const keyless = ['TOLLGATE_MASTER_KEY', 'TOLLGATE_MASTER_KEY_FILE'].every((v) => io.env[v] === undefined || io.env[v] === '')
  if (keyless || ctx.storeFile === undefined) {
    if (data.keys.length > 0) io.stderr.write('tollgate: note: without TOLLGATE_MASTER_KEY (and secrets.store) the keys file is listed unchecked\n')
    return data
  }
  const s = keysSecretsOf(await openStore(ctx, io))
  if (data.version === 2) {
    if (s.pepper === undefined) throw new TollgateError('TG_ERR_KEYS_INTEGRITY', `keys file ${ctx.keysFile}: the secret store has no keys pepper to check it with`)
    verifyKeysFile(ctx.keysFile, data, s.pepper)
  } else if (data.keys.length > 0 && s.macRequired) {
    throw new TollgateError('TG_ERR_KEYS_INTEGRITY', `keys file ${ctx.keysFile}: is format version 1 (no integrity check), but it was already upgraded to version 2: refused`)
  }
  return data
}

async function revoke (args: string[], io: KeysIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { config: { type: 'string' }, name: { type: 'string' } }, KEYS_USAGE, 1)
  const name = positionals[0] ?? values.name
  if (name === undefined) throw usage('keys revoke needs a key name: tollgate keys revoke NAME --config FILE')
  const ctx = await keysContext(values.config, io.env)
  const result = await revokeKey(ctx, io, name).finally(async () => await ctx.state.close())
  if (result === 'missing') {
    io.stderr.write(`tollgate: no key named ${JSON.stringify(name)} in ${ctx.keysFile}\n`)
    return 1
  }
  if (result === 'already') {
    io.stderr.write(`tollgate: key ${JSON.stringify(name)} is already revoked\n`)
    return 1
  }
  io.stdout.write(`revoked key "${name}"; a running gateway refuses it ${ctx.pickup}\n`)
  return 0
}

/** `tollgate keys …` (args after `keys`). Returns the exit code: 0 ok, 1 failed, 2 usage or config error. */
export async function runKeys (args: string[], io: KeysIo): Promise<number> {
  const [sub, ...rest] = args
  return await runCommand(io, async () => {
    switch (sub) {
      case 'create': return await create(rest, io)
      case 'list': return await list(rest, io)
      case 'revoke': return await revoke(rest, io)
      default:
        if (sub === undefined || isHelp(sub)) {
          io.stdout.write(KEYS_USAGE + '\n')
          return sub === undefined ? 2 : 0
        }
        throw usage(`unknown keys command ${JSON.stringify(sub)} (create, list, revoke)`)
    }
  })
}
