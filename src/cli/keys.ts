// `tollgate keys create|list|revoke`: manage tollgate keys (docs/credentials.md). The key itself is
// printed once, by `create`, alone on the last line of stdout; nothing else ever prints it.
import { ConfigError, TollgateError } from '../errors.js'
import { loadConfig } from '../config/load.js'
import { masterKeyFromEnv } from '../secrets/store.js'
import { KEY_NAME, mutateKeysFile, readKeysFile, type KeyRecord } from '../credentials/keyfile.js'
import { generateKey, hashKey, pepperId } from '../credentials/keyformat.js'
import { loadPepper } from '../credentials/pepper.js'
import { isHelp, parseFlags, runCommand, usage, type Io } from './io.js'

export type KeysIo = Pick<Io, 'stdout' | 'stderr' | 'env'>

export const KEYS_USAGE = `usage:
  tollgate keys create --name N --config FILE [--containers a,b] [--expires-at ISO8601] [--owner]
                       prints the key once (alone on the last line of stdout)
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

async function keysContext (configFile: string | undefined, env: NodeJS.ProcessEnv): Promise<{ keysFile: string, storeFile: string | undefined, containers: string[] }> {
  if (configFile === undefined) throw usage('keys needs --config FILE')
  const config = await loadConfig(configFile, env)
  const keysFile = config.credentials?.keys
  if (keysFile === undefined) throw new ConfigError('credentials.keys', `not set in ${configFile}: name the keys file (e.g. ./keys.store)`)
  return { keysFile, storeFile: config.secrets?.store, containers: Object.keys(config.containers) }
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}

async function create (args: string[], io: KeysIo): Promise<number> {
  const { values } = parseFlags(args, {
    name: { type: 'string' },
    config: { type: 'string' },
    containers: { type: 'string' },
    'expires-at': { type: 'string' },
    owner: { type: 'boolean', default: false }
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
  if (ctx.storeFile === undefined) {
    throw new ConfigError('secrets.store', `not set in ${values.config!}: tollgate keys need the secret store (it holds the keys pepper)`)
  }
  const storeFile = ctx.storeFile
  const masterKey = masterKeyFromEnv(io.env)
  const key = await mutateKeysFile(ctx.keysFile, async (data) => {
    if (data.keys.some((r) => r.name === name && r.revokedAt === null)) {
      throw usage(`a key named "${name}" already exists (revoke it first: tollgate keys revoke ${name})`)
    }
    // under the keys-file lock, so concurrent creates agree on one pepper
    const pepper = (await loadPepper(storeFile, masterKey, { create: true }))!
    const pid = pepperId(pepper)
    if (data.pepperId !== null && data.pepperId !== pid && data.keys.length > 0) {
      throw new TollgateError('TG_ERR_KEYS_STORE', `keys file ${ctx.keysFile} was written with another pepper than the one in ${storeFile} (wrong secret store or master key?)`)
    }
    data.pepperId = pid
    let generated = generateKey()
    while (data.keys.some((r) => r.id === generated.id)) generated = generateKey()
    data.keys.push({
      id: generated.id,
      name,
      hash: hashKey(pepper, generated.key).toString('base64'),
      containers,
      owner: values.owner === true,
      createdAt: new Date().toISOString(),
      expiresAt,
      revokedAt: null
    })
    return generated.key
  })
  const scope = containers === null ? 'every private container' : `container${containers.length === 1 ? '' : 's'} ${containers.join(', ')}`
  io.stdout.write(`created key "${name}": ${scope}; ${expiresAt === null ? 'no expiry' : `expires ${expiresAt}`}; owner: ${values.owner === true ? 'yes' : 'no'}\n`)
  io.stdout.write('the key is shown only this once (only its hash is kept); clients send it in X-Auth-Token:\n')
  io.stdout.write(key + '\n')
  return 0
}

async function list (args: string[], io: KeysIo): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' }, json: { type: 'boolean', default: false } }, KEYS_USAGE)
  const ctx = await keysContext(values.config, io.env)
  const { data } = await readKeysFile(ctx.keysFile)
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

async function revoke (args: string[], io: KeysIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { config: { type: 'string' }, name: { type: 'string' } }, KEYS_USAGE, 1)
  const name = positionals[0] ?? values.name
  if (name === undefined) throw usage('keys revoke needs a key name: tollgate keys revoke NAME --config FILE')
  const ctx = await keysContext(values.config, io.env)
  const result = await mutateKeysFile(ctx.keysFile, (data) => {
    const rec = data.keys.find((r) => r.name === name && r.revokedAt === null)
    if (rec === undefined) return data.keys.some((r) => r.name === name) ? 'already' : 'missing'
    rec.revokedAt = new Date().toISOString()
    return 'revoked'
  })
  if (result === 'missing') {
    io.stderr.write(`tollgate: no key named ${JSON.stringify(name)} in ${ctx.keysFile}\n`)
    return 1
  }
  if (result === 'already') {
    io.stderr.write(`tollgate: key ${JSON.stringify(name)} is already revoked\n`)
    return 1
  }
  io.stdout.write(`revoked key "${name}"; a running gateway refuses it as soon as it sees the file change (within seconds)\n`)
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
