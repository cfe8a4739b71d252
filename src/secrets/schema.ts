// Config schema for the `secrets:` section (owned by the secrets room). Durations are milliseconds.
import { Type, type Static } from '@sinclair/typebox'
import { ConfigError } from '../errors.js'
import { secureUrlProblem } from './url.js'
import { parseStateLocation, SCW_LOCATION_PREFIX } from './refs.js'

const strict = { additionalProperties: false } as const

/** Scaleway Secret Manager, for `${scw:…}` references. */
export const ScalewaySecretsSchema = Type.Object({
  /** API origin: https:// (plain http:// only on loopback, for a local test server). */
  baseUrl: Type.String({ minLength: 1, default: 'https://api.scaleway.com' }),
  /**
   * The IAM secret key sent as X-Auth-Token, as a reference (`${env:…}`, `${file:…}` or `${secret:…}`),
   * never inline. Needs SecretManagerSecretAccess on the secrets' project.
   */
  secretKey: Type.String({ minLength: 1, default: '${env:SCW_SECRET_KEY}' }),
  /** Project of `${scw:REGION/path/name}` references that do not name one. */
  projectId: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })),
  /** Whole-request deadline for one access call. */
  timeout: Type.Integer({ minimum: 100, maximum: 120000, default: 5000 })
}, { ...strict, default: {} })

export const SecretsSchema = Type.Object({
  /**
   * The encrypted store: a file (relative to the config file's folder), or `scw:REGION/SECRET_ID`
   * (or `scw:REGION/[PROJECT_ID/][FOLDER/]NAME`): the same bytes kept as a Secret Manager secret.
   */
  store: Type.Optional(Type.String({ minLength: 1 })),
  /** The store's id (`tollgate secrets list` prints it): any other store at that path is refused. */
  storeId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
  /**
   * How long a value (or a store, or a keys file) fetched from Scaleway Secret Manager counts as
   * fresh: a key revoked by any operator is refused by every replica within this plus one refresh.
   */
  ttl: Type.Integer({ minimum: 1000, default: 60000 }),
  /** Refresh this long before `ttl` runs out, in the background (must be below ttl). */
  refreshAhead: Type.Integer({ minimum: 0, default: 15000 }),
  /** How often `${file:…}` files and the store are checked for changes (a folder watch also triggers checks). */
  pollInterval: Type.Integer({ minimum: 50, maximum: 600000, default: 1000 }),
  scaleway: ScalewaySecretsSchema
}, { ...strict, default: {} })

export type SecretsConfig = Static<typeof SecretsSchema>
export type ScalewaySecretsConfig = Static<typeof ScalewaySecretsSchema>

/** Checks beyond the schema (sync, no I/O; `tollgate check` runs it too). Throws ConfigError naming the field. */
export function checkSecretsConfig (secrets: Partial<SecretsConfig> | undefined): void {
  const baseUrl = secrets?.scaleway?.baseUrl
  if (baseUrl !== undefined) {
    // the IAM secret key goes there in X-Auth-Token: never in clear over a network
    const problem = secureUrlProblem(baseUrl)
    if (problem !== undefined) throw new ConfigError('secrets.scaleway.baseUrl', problem)
  }
  if (secrets?.store !== undefined) checkStateLocation(secrets.store, 'secrets.store')
  // the key that reads a store kept in Secret Manager cannot come from that store
  if (secrets?.store?.startsWith(SCW_LOCATION_PREFIX) === true && secrets.scaleway?.secretKey?.startsWith('${secret:') === true) {
    throw new ConfigError('secrets.scaleway.secretKey', 'cannot be a ${secret:…} reference while secrets.store is in Secret Manager (the key is what reads the store): use ${env:…} or ${file:…}')
  }
  if (secrets?.ttl !== undefined && secrets.refreshAhead !== undefined && secrets.refreshAhead >= secrets.ttl) {
    throw new ConfigError('secrets.refreshAhead', `must be below secrets.ttl (${secrets.ttl})`)
  }
}

/** A `scw:…` location of a state file must name a secret; a file path is checked when it is read. */
export function checkStateLocation (value: string, field: string): void {
  if (!value.startsWith(SCW_LOCATION_PREFIX)) return
  try {
    parseStateLocation(value)
  } catch (err) {
    throw new ConfigError(field, `expected a file path, or scw:REGION/SECRET_ID (or scw:REGION/[PROJECT_ID/][FOLDER/]NAME): ${(err as Error).message}`)
  }
}
