// Config schema for the `secrets:` section (owned by the secrets room). Durations are milliseconds.
import { Type, type Static } from '@sinclair/typebox'
import { ConfigError } from '../errors.js'
import { secureUrlProblem } from './url.js'

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
  /** Encrypted store file (relative to the config file's folder). */
  store: Type.Optional(Type.String({ minLength: 1 })),
  /** The store's id (`tollgate secrets list` prints it): any other store at that path is refused. */
  storeId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
  /** How long a value fetched from Scaleway Secret Manager counts as fresh. */
  ttl: Type.Integer({ minimum: 1000, default: 300000 }),
  /** Refresh this long before `ttl` runs out, in the background (must be below ttl). */
  refreshAhead: Type.Integer({ minimum: 0, default: 60000 }),
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
}
