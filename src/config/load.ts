// Config loading: YAML → ${env:}/${file:} interpolation → schema defaults and validation →
// semantic checks → relative paths resolved → deep-frozen. Every error names the field path.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath, isAbsolute } from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { parseCidr } from '../ip/index.js'
import { ConfigSchema, EmbeddedConfigSchema, type Config, type EmbeddedConfig } from './schema.js'
import { withDefaults, firstSchemaError } from './schema-values.js'
import { deepFreeze } from './freeze.js'
import type { PolicyOptions } from '../policy/index.js'
import { ConfigError, TollgateError, errnoCode, formatPath } from '../errors.js'
import { checkHeaderRules } from '../proxy/header-rules.js'
import { checkCors } from '../cors/cors.js'
import { checkRateLimits, checkRateLimitServer } from '../limits/limits.js'
import { isReservedEnv, parseSecretRef } from '../secrets/refs.js'
import { checkSecretsConfig, checkStateLocation } from '../secrets/schema.js'
import { SCW_LOCATION_PREFIX } from '../secrets/refs.js'
import { isLoopbackHost } from '../secrets/url.js'
import { forbiddenFileProblem } from '../secrets/custody.js'

export type { Config, EmbeddedConfig, ContainerConfig, LimitsConfig, UpstreamConfig, HstsConfig } from './schema.js'

export type LoadedConfig = Readonly<Config> & {
  /** Folder of the config file: relative paths in the file are relative to it. */
  readonly baseDir: string
  /** The config file ('' for a config given as an object). */
  readonly file: string
}

/**
 * A config whose listeners are someone else's (EmbeddedConfigSchema): what the runtime reads, and
 * what the Fastify plugin and the secrets, keys and policy commands load. A LoadedConfig is one.
 */
export type RuntimeConfig = Readonly<EmbeddedConfig> & {
  readonly baseDir: string
  readonly file: string
}

/**
 * Fields whose value is a secret reference resolved (and refreshed) by the secret resolver at run
 * time, not interpolated at load: `${env:…}` and `${file:…}` stay as written there.
 */
export const SECRET_FIELDS: RegExp[] = [/^containers\.[^.]+\.token$/, /\.hmacSecret$/, /^secrets\.scaleway\.secretKey$/]

const REF = /\$\{(env|file|secret|scw):([^}]*)\}/g
const WHOLE_REF = /^\$\{(env|file|secret|scw):([^}]+)\}$/
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/** `tollgate serve`'s config file: its own listeners and TLS are required. */
export async function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  return parseConfig(await readConfigFile(file), { file, env })
}

export function parseConfig (text: string, opts: { file: string, env?: NodeJS.ProcessEnv }): LoadedConfig {
  const file = resolvePath(opts.file)
  return validate(ConfigSchema, readYaml(text, file), file, dirname(file), opts.env ?? process.env) as LoadedConfig
}

/** A config file where the listeners are someone else's: `server:`, its `listen` and `tls` may be absent. */
export async function loadEmbeddedConfig (file: string, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeConfig> {
  const abs = resolvePath(file)
  return validate(EmbeddedConfigSchema, readYaml(await readConfigFile(abs), abs), abs, dirname(abs), env)
}

/**
 * The same from a value already parsed (the Fastify plugin's `config: { … }`): validated, defaulted,
 * `${env:}`/`${file:}` interpolated exactly as a file's. Relative paths are relative to `baseDir`.
 */
export function embeddedConfig (value: unknown, opts: { baseDir: string, env?: NodeJS.ProcessEnv }): RuntimeConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('', 'the config must be an object (or a file path)')
  return validate(EmbeddedConfigSchema, value, '', resolvePath(opts.baseDir), opts.env ?? process.env)
}

async function readConfigFile (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new TollgateError('TG_ERR_CONFIG_READ', `cannot read config ${file}: ${errnoCode(err)}`)
  }
}

function readYaml (text: string, file: string): unknown {
  let raw: unknown
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 100 })
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message.split('\n')[0] : String(err)
    throw new TollgateError('TG_ERR_CONFIG_READ', `${file}: not valid YAML: ${msg}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('', `${file}: the config must be a YAML mapping`)
  }
  return raw
}

function validate (schema: typeof ConfigSchema | typeof EmbeddedConfigSchema, raw: unknown, file: string, baseDir: string, env: NodeJS.ProcessEnv): RuntimeConfig {
  const value = withDefaults(schema, interpolate(raw, [], baseDir, env))
  const first = firstSchemaError(schema, value)
  if (first !== undefined) throw new ConfigError(pointerToPath(first.path), describe(first))
  const config = value as unknown as EmbeddedConfig
  checkSemantics(config, schema === ConfigSchema)
  resolvePaths(config, baseDir)
  readIpLists(config, baseDir)
  return deepFreeze(Object.assign(config, { baseDir, file })) as RuntimeConfig
}

function interpolate (node: unknown, path: Array<string | number>, baseDir: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof node === 'string') return interpolateString(node, path, baseDir, env)
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, [...path, i], baseDir, env))
  if (node !== null && typeof node === 'object') {
    // A config given as an object may hold what YAML cannot (a Date, a Map, a class instance).
    const proto = Object.getPrototypeOf(node) as unknown
    if (proto !== Object.prototype && proto !== null) throw new ConfigError(formatPath(path), 'expected a plain value (string, number, boolean, list or mapping)')
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
        throw new ConfigError(formatPath([...path, k]), 'reserved key')
      }
      // An object's `key: undefined` (`upstreamCa: process.env.CA` with CA unset) is an absent key, as in JSON.
      if (v !== undefined) out[k] = interpolate(v, [...path, k], baseDir, env)
    }
    return out
  }
  if (node !== null && typeof node !== 'number' && typeof node !== 'boolean') {
    throw new ConfigError(formatPath(path), 'expected a plain value (string, number, boolean, list or mapping)')
  }
  return node
}

function interpolateString (s: string, path: Array<string | number>, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (!s.includes('${')) return s
  const where = formatPath(path)
  if (SECRET_FIELDS.some((re) => re.test(where))) {
    if (!WHOLE_REF.test(s)) throw new ConfigError(where, 'expected exactly one secret reference: ${secret:NAME}, ${env:NAME}, ${file:PATH} or ${scw:REGION/SECRET_ID}')
    try {
      parseSecretRef(s)
    } catch (err) {
      throw new ConfigError(where, (err as Error).message)
    }
    return s
  }
  return s.replace(REF, (_m, kind: string, arg: string) => {
    if (kind === 'env') {
      // the master key (and its file, the previous and the new one) never goes into the config
      if (isReservedEnv(arg) && /^TOLLGATE_(NEW_)?MASTER_KEY/i.test(arg)) {
        throw new ConfigError(where, `\${env:${arg}} is refused: the master key is tollgate's own and never part of the config`)
      }
      const v = env[arg]
      if (v === undefined) throw new ConfigError(where, `environment variable ${arg} is not set`, 'TG_ERR_CONFIG_INTERPOLATION')
      return v
    }
    if (kind === 'file') {
      const p = isAbsolute(arg) ? arg : resolvePath(baseDir, arg)
      const forbidden = forbiddenFileProblem(p, env)
      if (forbidden !== undefined) throw new ConfigError(where, forbidden, 'TG_ERR_CONFIG_INTERPOLATION')
      try {
        return readFileSync(p, 'utf8').replace(/\r?\n$/, '')
      } catch (err) {
        throw new ConfigError(where, `cannot read ${p}: ${errnoCode(err)}`, 'TG_ERR_CONFIG_INTERPOLATION')
      }
    }
    throw new ConfigError(where, `\${${kind}:…} references are only allowed in secret fields (a container's token)`)
  })
}

function pointerToPath (pointer: string): string {
  const segs = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  return formatPath(segs.map((s) => (/^\d+$/.test(s) ? Number(s) : s)))
}

function describe (err: { message: string, schema: unknown, value: unknown }): string {
  const schema = err.schema as { anyOf?: Array<{ const?: unknown }>, type?: string }
  if (err.message === 'Unexpected property') return 'unknown key'
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s) => s.const !== undefined)) {
    return `expected one of ${schema.anyOf.map((s) => JSON.stringify(s.const)).join(', ')}, got ${JSON.stringify(err.value)}`
  }
  if (err.value === undefined) return `missing (${err.message.toLowerCase()})`
  return `${err.message.toLowerCase()}, got ${JSON.stringify(err.value)}`
}

/** `serve`: the config's own listeners are checked too (the plugin's and the CLI's are someone else's). */
function checkSemantics (config: EmbeddedConfig, serve: boolean): void {
  const seen = new Map<string, string>()
  const names = Object.keys(config.containers)
  if (names.length === 0) throw new ConfigError('containers', 'at least one container is required')
  for (const name of names) {
    const c = config.containers[name]
    const at = `containers.${name}`
    if (!CONTAINER_NAME.test(name)) throw new ConfigError(at, 'a container name is 1-63 letters, digits, "_", "-" or "."')
    let url: URL
    try { url = new URL(c.upstream) } catch { throw new ConfigError(`${at}.upstream`, `not a URL: ${JSON.stringify(c.upstream)}`) }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${at}.upstream`, 'expected an https:// (or http://) URL')
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      throw new ConfigError(`${at}.upstream`, 'expected an origin only (scheme, host, optional port), no path, query or credentials')
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !c.allowPlaintextUpstream) {
      throw new ConfigError(`${at}.upstream`, `plain http:// to ${url.hostname}, which is not loopback, would send the container's token across the network in clear: ` +
        `use https:// (or set containers.${name}.allowPlaintextUpstream: true if the network itself is trusted)`)
    }
    const path = c.match.path
    if (!path.startsWith('/') || (path.length > 1 && path.endsWith('/')) || /\/\/|\/\.\.?(\/|$)|[%;\\?#\s]/.test(path)) {
      throw new ConfigError(`${at}.match.path`, 'expected a canonical path prefix like "/" or "/hello" (no trailing "/", no dot segments, no "%", ";", "?", "#")')
    }
    if (c.match.host !== undefined) {
      const host = c.match.host.toLowerCase()
      if (!HOSTNAME.test(host)) throw new ConfigError(`${at}.match.host`, `expected a host name without port, got ${JSON.stringify(c.match.host)}`)
      c.match.host = host
    }
    if (!WHOLE_REF.test(c.token)) {
      throw new ConfigError(`${at}.token`, 'expected a secret reference (${secret:NAME}, ${env:NAME}, ${file:PATH} or ${scw:REGION/SECRET_ID}), never the token itself')
    }
    checkHeaderRules(c.headers, at)
    checkCors(c.cors, at)
    checkRateLimits(c.rateLimit, at)
    const key = `${c.match.host ?? '*'} ${path}`
    const other = seen.get(key)
    if (other !== undefined) throw new ConfigError(`${at}.match`, `same host and path as containers.${other}`)
    seen.set(key, name)
  }
  checkSecretsConfig(config.secrets)
  config.server.trustedProxies.forEach((cidr, i) => {
    try { parseCidr(cidr) } catch { throw new ConfigError(`server.trustedProxies[${i}]`, `not an IP address or CIDR: ${JSON.stringify(cidr)}`) }
  })
  checkRateLimitServer(config.server.rateLimit)
  if (config.server.upstream.pipelining > 1 && config.server.upstream.client !== 'undici') {
    throw new ConfigError('server.upstream.pipelining', 'pipelining above 1 needs server.upstream.client: undici (tollgate\'s own client sends one request per connection at a time)')
  }
  if (config.credentials?.keys !== undefined) checkStateLocation(config.credentials.keys, 'credentials.keys')
  const listen = config.server.listen
  const admin = config.server.admin
  const https = listen?.https
  const http = listen?.http
  if (serve) {
    if (https === undefined) {
      // edge mode: an edge in front (Scaleway's, a Kubernetes ingress) ends TLS and forwards plain HTTP
      if (config.server.httpOption !== 'enabled') throw new ConfigError('server.listen.https', 'required unless server.httpOption is "enabled" (behind an edge that ends TLS)')
      if (http === undefined) throw new ConfigError('server.listen', 'needs a listener: https, or http with server.httpOption "enabled"')
    } else if (config.server.tls === undefined) {
      throw new ConfigError('server.tls', 'missing: the HTTPS listener needs { cert, key } (or leave server.listen.https out behind an edge that ends TLS)')
    }
  }
  if (http !== undefined && http.port !== 0 && http.port === https?.port) throw new ConfigError('server.listen.http.port', 'must differ from server.listen.https.port')
  if (admin !== undefined && admin.port !== 0 && (admin.port === https?.port || admin.port === http?.port)) {
    throw new ConfigError('server.admin.port', 'the admin listener must never share a port with a public listener')
  }
}

function resolvePaths (config: EmbeddedConfig, baseDir: string): void {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolvePath(baseDir, p))
  // a state file kept in Secret Manager (`scw:…`) is not a path
  const location = (p: string): string => (p.startsWith(SCW_LOCATION_PREFIX) ? p : abs(p))
  const tls = config.server.tls
  if (tls !== undefined) {
    tls.cert = abs(tls.cert)
    tls.key = abs(tls.key)
  }
  for (const c of Object.values(config.containers)) {
    if (c.upstreamCa !== undefined) c.upstreamCa = abs(c.upstreamCa)
  }
  if (config.secrets?.store !== undefined) config.secrets.store = location(config.secrets.store)
  if (config.credentials?.keys !== undefined) config.credentials.keys = location(config.credentials.keys)
}

/** `ipLists.NAME: { file }` becomes the list of its lines (blank lines and `#` comments skipped). */
function readIpLists (config: EmbeddedConfig, baseDir: string): void {
  const lists = config.ipLists
  if (lists === undefined) return
  for (const [name, list] of Object.entries(lists)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) throw new ConfigError(`ipLists.${name}`, 'a list name is letters, digits and "_" (it is used as ipLists.NAME in conditions)')
    if (Array.isArray(list)) continue
    const file = isAbsolute(list.file) ? list.file : resolvePath(baseDir, list.file)
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`ipLists.${name}.file`, `cannot read ${file}: ${errnoCode(err)}`)
    }
    lists[name] = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '')
  }
}

/** Policy compile options derived from the config (shared by the runtime, `check` and `policy test`). */
export function policyOptions (config: Pick<Config, 'ipLists'> & Partial<Pick<Config, 'credentials' | 'containers'>>): PolicyOptions {
  const out: PolicyOptions = {}
  if (config.ipLists !== undefined) out.ipLists = config.ipLists as Record<string, string[]>
  if (config.containers !== undefined) {
    // the JWT issuers each container accepts: the global ones and those it names
    const issuers = config.credentials?.jwt?.issuers ?? []
    const byContainer: Record<string, string[]> = {}
    for (const [name, c] of Object.entries(config.containers)) {
      const named = new Set(c.jwtIssuers ?? [])
      byContainer[name] = issuers.filter((i) => i.global === true || named.has(i.name)).map((i) => i.name)
    }
    out.jwtIssuers = byContainer
  }
  return out
}
