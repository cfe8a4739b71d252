// Config schema for the `credentials:` section and per-container auth fields (owned by the credentials room).
// Reference: docs/credentials.md.
import { Type, type Static } from '@sinclair/typebox'

const strict = { additionalProperties: false } as const

/** JWS algorithms tollgate accepts in an allow-list. `none` is not one of them, by construction. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const JWS_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] as const
export type JwsAlgorithm = typeof JWS_ALGORITHMS[number]

/** Keys tried for a token that names no `kid` (each is one signature check). */
export const DEFAULT_MAX_KEYS_WITHOUT_KID = 4

/** Issuer names, key names: safe in a log line and in a policy principal (`key:NAME`). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'

export const JwtIssuerSchema = Type.Object({
  /** How containers refer to this issuer (`containers.NAME.jwtIssuers`) and how logs name it. */
  name: Type.String({ pattern: NAME_PATTERN }),
  /** The exact `iss` claim a token must carry. */
  issuer: Type.String({ minLength: 1 }),
  /** Accepted `aud` value(s): the token's `aud` must contain one of them. */
  audience: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  /** Exactly one key source: a JWKS URL (https, or http on loopback only) … */
  jwksUrl: Type.Optional(Type.String({ minLength: 1 })),
  /** … or PEM public keys / certificates (files, relative to the config file's folder) … */
  publicKeys: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  /** … or an HMAC secret, as a secret reference (`${secret:NAME}`, `${env:NAME}`, `${file:PATH}`, `${scw:…}`). */
  hmacSecret: Type.Optional(Type.String({ minLength: 1 })),
  /** Allow-list; defaults to every asymmetric algorithm (key sources) or HS256/384/512 (hmacSecret). */
  algorithms: Type.Optional(Type.Array(Type.Union(JWS_ALGORITHMS.map((a) => Type.Literal(a))), { minItems: 1 })),
  /** Accept this issuer on every private container (otherwise only where `jwtIssuers` names it). */
  global: Type.Boolean({ default: false }),
  /** Refuse tokens without an `exp` claim. */
  requireExp: Type.Boolean({ default: true }),
  /**
   * Longest a token may live, in seconds: refused when its `exp` is further ahead than this, or its
   * `iat` further back (absent: no limit, like Kong's `maximum_expiration: 0`).
   */
  maxTokenAge: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400 })),
  /** The `typ` header a token must carry (RFC 8725 §3.11), e.g. `at+jwt` (RFC 9068); absent: not checked. */
  typ: Type.Optional(Type.String({ minLength: 1, maxLength: 128 }))
}, strict)

export const JwtSchema = Type.Object({
  /** Tolerance for `exp`/`nbf`/`iat`, in seconds. */
  clockSkewSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
  /** Background refresh period of every JWKS, in seconds. */
  jwksRefreshSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 600 }),
  /** A token with an unknown `kid` triggers a JWKS refetch at most this often, in seconds. */
  jwksCooldownSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  /** Timeout of one JWKS fetch, in milliseconds. */
  jwksTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 5000 }),
  /** A token without `kid` is checked against at most this many keys of its issuer (each try is a signature check). */
  maxKeysWithoutKid: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: DEFAULT_MAX_KEYS_WITHOUT_KID })),
  issuers: Type.Array(JwtIssuerSchema, { default: [] })
}, { ...strict, default: {} })

export const CredentialsSchema = Type.Object({
  /** tollgate keys file (hashes only), managed by `tollgate keys`. */
  keys: Type.Optional(Type.String({ minLength: 1 })),
  /** JWT issuers accepted on private containers. */
  jwt: Type.Optional(JwtSchema)
}, strict)

/** Extra fields allowed under `containers.NAME` for authentication. */
export const ContainerAuthFields = {
  /** Names of `credentials.jwt.issuers` accepted on this container (in addition to the global ones). */
  jwtIssuers: Type.Optional(Type.Array(Type.String({ pattern: NAME_PATTERN }), { minItems: 1 }))
}

export type CredentialsConfig = Static<typeof CredentialsSchema>
export type JwtConfig = Static<typeof JwtSchema>
export type JwtIssuerConfig = Static<typeof JwtIssuerSchema>
