// Client authentication for private containers: tollgate keys (sync) and JWTs (async).
// See docs/credentials.md. The pipeline calls `authenticate(credential, container)` for private
// containers only, with the raw credential (X-Auth-Token, or the token of `Authorization: Bearer`).
import { decodeJwt, decodeProtectedHeader, type ProtectedHeaderParameters, type JWTPayload } from 'jose'
import { isAbsolute, resolve } from 'node:path'
import { ConfigError, TollgateError, withField, type ReasonId } from '../errors.js'
import { MasterKeys, masterKeysFromEnv } from '../secrets/custody.js'
import { HighWater } from '../files/integrity.js'
import type { SecretResolver } from '../secrets/types.js'
import { stateContext, type SecretEvents, type SecretsInput } from '../secrets/index.js'
import { SecretsSchema, type SecretsConfig } from '../secrets/schema.js'
import { storeBackend } from '../secrets/store.js'
import { parseStateLocation } from '../secrets/refs.js'
import type { ScwStateContext } from '../secrets/scaleway-state.js'
import { keysBackend } from './keyfile.js'
import { authFailure, type AuthOutcome, type Authenticator } from './types.js'
import type { CredentialsConfig, JwtConfig } from './schema.js'
import { JwtSchema } from './schema.js'
import { KeyIndex } from './keys.js'
import { KEY_PREFIX, parseKey } from './keyformat.js'
import { buildIssuer, checkIssuer, type IssuerVerifier } from './jwt.js'
import { loadKeysSecrets, type KeysSecrets } from './pepper.js'
import { SILENT, type Logger } from './logger.js'
import { withDefaults } from '../config/schema-values.js'

export type { AuthOutcome, Authenticator } from './types.js'
export type { Logger } from './logger.js'
export { CredentialsSchema, ContainerAuthFields } from './schema.js'
export type { CredentialsConfig, JwtConfig, JwtIssuerConfig } from './schema.js'
export { KEY_PATTERN, PEPPER_SECRET_NAME } from './keyformat.js'

/** Longest credential looked at; anything longer is malformed without further work. */
export const MAX_CREDENTIAL_LENGTH = 16 * 1024
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** The per-container fields this module reads. */
export interface ContainerAuthConfig {
  privacy?: string
  jwtIssuers?: readonly string[]
}

export interface CreateAuthenticatorOptions {
  /** The parsed `credentials:` section (absent = no keys, no JWT issuers). */
  credentials: CredentialsConfig | undefined
  /** `containers:` from the config (only `jwtIssuers` is read). */
  containers: Readonly<Record<string, ContainerAuthConfig>>
  /** Folder of the config file: relative paths (keys file, PEM files, store) are relative to it. */
  baseDir: string
  /** The gateway's secret resolver, for `hmacSecret` references. */
  resolver: SecretResolver
  logger?: Logger
  /** `secrets.store`: holds the keys pepper. Needed as soon as the keys file has a key. */
  storeFile?: string
  /**
   * The `secrets:` section: the Secret Manager settings a keys file or store kept there (`scw:…`)
   * is read with, and how often it is checked (`ttl − refreshAhead`).
   */
  secrets?: SecretsInput
  /** Reports of a keys file or store kept in Secret Manager being readable or not (`file` is the config field). */
  sourceStatus?: SecretEvents['sourceStatus']
  /**
   * `tollgate check --offline`: a JWKS is not fetched, and a keys file kept in Secret Manager is
   * not read (the authenticator then has no keys).
   */
  offline?: boolean
  /** `secrets.storeId`: the only store the pepper may come from. */
  storeId?: string
  /** Where TOLLGATE_MASTER_KEY(_FILE) is read from (default process.env) … */
  env?: NodeJS.ProcessEnv
  /** … unless the master key is given directly (or the gateway's custody of it). */
  masterKey?: Buffer | readonly Buffer[] | MasterKeys
  /** Generations of the keys file and the store already accepted (a gateway shares one across reloads). */
  highWater?: HighWater
  /** A refused keys file or store, for the metric (`file` is the config field). */
  refused?: (file: string, reason: string) => void
  /** The generation of the keys file now served, for the metric. */
  generation?: (file: string, generation: number) => void
  /** Stat-poll period of the keys file in ms (fs.watch is used too); default 2000, 0 = no poll. */
  keysPollMs?: number
  /** Clock for key expiry (tests). */
  now?: () => number
}

export interface TollgateAuthenticator extends Authenticator {
  /** Re-read the keys file now (e.g. on SIGHUP); the file watch does this by itself. */
  reloadKeys (): Promise<boolean>
  /**
   * The keys file's keys by name, and whether any key of that name can still authenticate (not
   * revoked nor expired); undefined when no keys file was read (none configured, or offline).
   */
  keyNames (): ReadonlyMap<string, boolean> | undefined
  /** The JWT issuers by name (for tests and diagnostics). */
  readonly issuers: ReadonlyMap<string, IssuerVerifier>
}

const MISSING = authFailure('credential_missing')
const MALFORMED = authFailure('credential_malformed')
const UNKNOWN = authFailure('credential_unknown')
const INVALID = authFailure('credential_invalid')

/** When several issuers share an `iss`, report the most telling failure. */
const RANK: Partial<Record<ReasonId, number>> = { credential_unknown: 1, credential_malformed: 2, credential_invalid: 3, credential_expired: 4 }

function jwtConfigOf (credentials: CredentialsConfig | undefined): JwtConfig {
  return withDefaults(JwtSchema, credentials?.jwt ?? {}) as JwtConfig
}

/**
 * Checks the credentials section against the containers (sync, no I/O): one key source per issuer,
 * algorithm lists that fit it, unique issuer names, and every `containers.NAME.jwtIssuers` entry
 * naming a configured issuer. Throws ConfigError naming the field path. `tollgate check` can call it.
 */
export function validateCredentialsConfig (credentials: CredentialsConfig | undefined, containers: Readonly<Record<string, ContainerAuthConfig>>): void {
  const jwt = jwtConfigOf(credentials)
  const names = new Set<string>()
  jwt.issuers.forEach((iss, i) => {
    const where = `credentials.jwt.issuers[${i}]`
    if (names.has(iss.name)) throw new ConfigError(`${where}.name`, `duplicate issuer name "${iss.name}"`)
    names.add(iss.name)
    checkIssuer(iss, where)
  })
  for (const [name, c] of Object.entries(containers)) {
    c.jwtIssuers?.forEach((n, i) => {
      if (!names.has(n)) {
        throw new ConfigError(`containers.${name}.jwtIssuers[${i}]`, `no issuer named "${n}" in credentials.jwt.issuers`)
      }
    })
  }
}

export async function createAuthenticator (opts: CreateAuthenticatorOptions): Promise<TollgateAuthenticator> {
  const logger = opts.logger ?? SILENT
  validateCredentialsConfig(opts.credentials, opts.containers)
  const jwtConfig = jwtConfigOf(opts.credentials)
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.baseDir, p))

  const issuers = new Map<string, IssuerVerifier>()
  let keys: KeyIndex | undefined
  try {
    for (const [i, cfg] of jwtConfig.issuers.entries()) {
      issuers.set(cfg.name, await buildIssuer(cfg, i, { config: jwtConfig, baseDir: opts.baseDir, resolver: opts.resolver, logger }))
    }
    if (opts.offline !== true) await Promise.all([...issuers.values()].map(async (v) => await v.jwks?.start()))

    const keysLocation = opts.credentials?.keys === undefined ? undefined : parseStateLocation(opts.credentials.keys)
    if (keysLocation !== undefined && !(opts.offline === true && keysLocation.kind === 'scw')) {
      const secrets = withDefaults(SecretsSchema, opts.secrets ?? {}) as SecretsConfig
      const scw: ScwStateContext = stateContext({ secrets, resolver: opts.resolver, env: opts.env ?? process.env, logger, events: { sourceStatus: opts.sourceStatus } })
      const storeLocation = opts.storeFile === undefined ? undefined : parseStateLocation(opts.storeFile)
      const storeAt = storeLocation === undefined ? undefined : storeLocation.kind === 'file' ? abs(storeLocation.path) : storeLocation.location
      const highWater = opts.highWater ?? new HighWater()
      const getPepper = async (): Promise<KeysSecrets> => {
        if (storeAt === undefined) {
          throw new TollgateError('TG_ERR_KEYS_STORE', 'the keys file has keys but secrets.store is not set: the keys pepper lives in the secret store')
        }
        const m = opts.masterKey
        const masterKeys = m instanceof MasterKeys ? m.keys() : m ?? masterKeysFromEnv(opts.env ?? process.env)
        return await loadKeysSecrets(storeAt, masterKeys, { highWater, storeId: opts.storeId, backend: storeBackend(storeAt, scw) })
      }
      const backend = keysBackend(keysLocation.kind === 'file' ? abs(keysLocation.path) : keysLocation.location, scw)
      try {
        keys = await KeyIndex.open({
          file: backend.location,
          backend,
          getPepper,
          logger,
          highWater,
          refused: (reason) => opts.refused?.('credentials.keys', reason),
          accepted: (generation) => opts.generation?.('credentials.keys', generation),
          // a keys file in Secret Manager is checked like any value there: once per ttl − refreshAhead
          pollMs: keysLocation.kind === 'scw' ? secrets.ttl - secrets.refreshAhead : opts.keysPollMs,
          now: opts.now
        })
      } catch (err) {
        // the field to fix: a keys file that cannot be read or verified (its pepper's store was opened before)
        throw withField('credentials.keys', err)
      }
    }
  } catch (err) {
    for (const v of issuers.values()) v.close()
    throw err
  }

  // per container: global issuers plus the ones it names, in config order
  const globals = [...issuers.values()].filter((v) => v.global)
  const byContainer = new Map<string, IssuerVerifier[]>()
  for (const [name, c] of Object.entries(opts.containers)) {
    const named = new Set(c.jwtIssuers ?? [])
    byContainer.set(name, [...issuers.values()].filter((v) => v.global || named.has(v.name)))
  }

  async function verifyJwt (token: string, container: string): Promise<AuthOutcome> {
    let header: ProtectedHeaderParameters
    let payload: JWTPayload
    try {
      header = decodeProtectedHeader(token)
      payload = decodeJwt(token)
    } catch {
      return MALFORMED
    }
    if (typeof header.alg !== 'string' || header.alg === '') return MALFORMED
    if (typeof payload.iss !== 'string') return UNKNOWN
    const iss = payload.iss
    const candidates = (byContainer.get(container) ?? globals).filter((v) => v.issuer === iss)
    if (candidates.length === 0) return UNKNOWN
    let best: AuthOutcome = UNKNOWN
    for (const v of candidates) {
      // the allow-list is checked before any key is looked at (jose checks it again)
      const out = v.algorithms.has(header.alg) ? await v.verify(token) : INVALID
      if (out.ok) return out
      if ((RANK[out.reason] ?? 0) > (RANK[best.ok ? 'credential_unknown' : best.reason] ?? 0)) best = out
    }
    return best
  }

  return {
    issuers,
    authenticate (credential: string, container: string): AuthOutcome | Promise<AuthOutcome> {
      try {
        if (typeof credential !== 'string' || credential === '') return MISSING
        if (credential.length > MAX_CREDENTIAL_LENGTH) return MALFORMED
        if (credential.startsWith(KEY_PREFIX)) {
          if (keys !== undefined) return keys.verify(credential, container)
          return parseKey(credential) === undefined ? MALFORMED : UNKNOWN
        }
        if (JWT_SHAPE.test(credential)) {
          return verifyJwt(credential, container).catch((err: unknown) => {
            logger.error({ err: { message: err instanceof Error ? err.message : 'error' } }, 'JWT verification failed unexpectedly')
            return INVALID
          })
        }
        return MALFORMED
      } catch (err) {
        logger.error({ err: { message: err instanceof Error ? err.message : 'error' } }, 'authentication failed unexpectedly')
        return INVALID
      }
    },
    async reloadKeys (): Promise<boolean> {
      return keys === undefined ? false : await keys.reload()
    },
    keyNames () {
      return keys?.names()
    },
    async close (): Promise<void> {
      for (const v of issuers.values()) v.close()
      await keys?.close()
    }
  }
}

/** The authenticator a loaded config describes (the gateway's runtime and `tollgate policy test` share it). */
export async function authenticatorForConfig (
  config: { credentials?: CredentialsConfig, containers: Readonly<Record<string, ContainerAuthConfig>>, baseDir: string, secrets?: SecretsInput },
  resolver: SecretResolver,
  opts: Pick<CreateAuthenticatorOptions, 'env' | 'logger' | 'keysPollMs' | 'masterKey' | 'highWater' | 'refused' | 'generation' | 'sourceStatus' | 'offline'> = {}
): Promise<TollgateAuthenticator> {
  return await createAuthenticator({
    credentials: config.credentials,
    containers: config.containers,
    baseDir: config.baseDir,
    resolver,
    storeFile: config.secrets?.store,
    storeId: config.secrets?.storeId,
    secrets: config.secrets,
    ...opts
  })
}
