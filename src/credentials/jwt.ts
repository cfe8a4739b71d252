// JWT issuers: one verifier per `credentials.jwt.issuers[i]`, with exactly one key source (JWKS URL,
// PEM public keys, or an HMAC secret reference) and an algorithm allow-list that never contains
// `none` and never mixes HMAC with public-key algorithms (so an RS256 public key can never be used as
// an HS256 secret).
import { createPublicKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'
import { createLocalJWKSet, jwtVerify, errors, type JWTPayload, type JWTVerifyOptions, type JWSHeaderParameters, type JWK } from 'jose'
import { ConfigError, errnoCode, type ReasonId } from '../errors.js'
import { deepFreeze } from '../config/freeze.js'
import type { Principal } from '../policy/types.js'
import type { SecretHandle, SecretResolver } from '../secrets/types.js'
import { isSecretRef } from '../secrets/types.js'
import { secureUrlProblem } from '../secrets/url.js'
import { authFailure, type AuthOutcome } from './types.js'
import { ASYMMETRIC_ALGORITHMS, DEFAULT_MAX_KEYS_WITHOUT_KID, HMAC_ALGORITHMS, type JwtConfig, type JwtIssuerConfig } from './schema.js'
import { RemoteJwks } from './jwks.js'
import type { Logger } from './logger.js'

/** HS256 needs at least 256 bits of key (RFC 7518 §3.2); shorter secrets are refused at load. */
export const MIN_HMAC_SECRET_BYTES = 32

type KeyInput = Parameters<typeof jwtVerify>[1]

export interface IssuerVerifier {
  readonly name: string
  readonly issuer: string
  readonly global: boolean
  readonly algorithms: ReadonlySet<string>
  /** Verifies a token already routed to this issuer by its `iss`. Never rejects. */
  verify (token: string): Promise<AuthOutcome>
  /** For tests and operators: the remote JWKS, when the issuer uses one. */
  readonly jwks: RemoteJwks | undefined
  close (): void
}

/** Maps a jose (or key import) error to a stable reason id. */
export function reasonFor (err: unknown): ReasonId {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : ''
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'credential_expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      // not yet valid (nbf in the future, beyond the clock skew) is reported as expired-ish
      return (err as errors.JWTClaimValidationFailed).claim === 'nbf' && (err as errors.JWTClaimValidationFailed).reason === 'check_failed'
        ? 'credential_expired'
        : 'credential_invalid'
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_TOLLGATE_JWKS_UNAVAILABLE':
    case 'ERR_TOLLGATE_HMAC_SECRET_SHORT':
      return 'credential_unknown'
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'credential_malformed'
    default:
      return 'credential_invalid'
  }
}

/** The issuer's HMAC secret is (now) shorter than the minimum: no token of it is accepted. */
class HmacSecretTooShort extends Error {
  readonly code = 'ERR_TOLLGATE_HMAC_SECRET_SHORT'
}

/** A claim check tollgate adds to jose's (future `iat`, `maxTokenAge`): `reason` is what the client gets. */
class ClaimRefused extends Error {
  readonly reason: ReasonId
  constructor (reason: ReasonId, message: string) {
    super(message)
    this.reason = reason
  }
}

const KTY_FOR_ALG: Record<string, string> = { RS: 'RSA', PS: 'RSA', ES: 'EC', Ed: 'OKP' }

export interface BuildIssuerOptions {
  config: JwtConfig
  baseDir: string
  resolver: SecretResolver
  logger: Logger
}

/** Checks an issuer's shape (sync; used by `tollgate check` too). Throws ConfigError naming the field. */
export function checkIssuer (cfg: JwtIssuerConfig, where: string): { algorithms: string[], source: 'jwks' | 'pem' | 'hmac' } {
  const sources = [cfg.jwksUrl !== undefined && 'jwksUrl', cfg.publicKeys !== undefined && 'publicKeys', cfg.hmacSecret !== undefined && 'hmacSecret'].filter(Boolean)
  if (sources.length !== 1) {
    throw new ConfigError(where, sources.length === 0
      ? 'needs one key source: jwksUrl, publicKeys or hmacSecret'
      : `has ${sources.join(' and ')}: give exactly one key source`)
  }
  const source = cfg.jwksUrl !== undefined ? 'jwks' : cfg.publicKeys !== undefined ? 'pem' : 'hmac'
  if (cfg.jwksUrl !== undefined) {
    const problem = secureUrlProblem(cfg.jwksUrl)
    if (problem !== undefined) throw new ConfigError(`${where}.jwksUrl`, problem)
  }
  if (cfg.hmacSecret !== undefined && !isSecretRef(cfg.hmacSecret)) {
    throw new ConfigError(`${where}.hmacSecret`, 'must be a secret reference: ${secret:NAME}, ${env:NAME}, ${file:PATH} or ${scw:REGION/SECRET_ID}')
  }
  const allowed: readonly string[] = source === 'hmac' ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS
  const algorithms = cfg.algorithms ?? [...allowed]
  algorithms.forEach((a, i) => {
    if (!allowed.includes(a)) {
      throw new ConfigError(`${where}.algorithms[${i}]`, source === 'hmac'
        ? `${a} is not an HMAC algorithm: an hmacSecret issuer accepts only ${HMAC_ALGORITHMS.join(', ')}`
        : `${a} is an HMAC algorithm: a public-key issuer accepts only ${ASYMMETRIC_ALGORITHMS.join(', ')}`)
    }
  })
  return { algorithms: [...new Set(algorithms)], source }
}

async function loadPem (file: string, where: string): Promise<KeyObject> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(where, `cannot read ${file}: ${errnoCode(err)}`)
  }
  if (/PRIVATE KEY/.test(text)) throw new ConfigError(where, `${file} holds a private key: give the public key (or certificate) only`)
  try {
    return createPublicKey(text)
  } catch {
    throw new ConfigError(where, `${file} is not a PEM public key or certificate`)
  }
}

export async function buildIssuer (cfg: JwtIssuerConfig, index: number, opts: BuildIssuerOptions): Promise<IssuerVerifier> {
  const where = `credentials.jwt.issuers[${index}]`
  const { algorithms, source } = checkIssuer(cfg, where)
  const { config, logger } = opts
  let key: KeyInput
  let jwks: RemoteJwks | undefined
  let handle: SecretHandle | undefined
  if (source === 'jwks') {
    jwks = new RemoteJwks({
      name: cfg.name,
      url: cfg.jwksUrl!,
      refreshMs: config.jwksRefreshSeconds * 1000,
      cooldownMs: config.jwksCooldownSeconds * 1000,
      timeoutMs: config.jwksTimeoutMs,
      logger
    })
    key = jwks.getKey
  } else if (source === 'pem') {
    const jwkKeys: JWK[] = []
    for (const [i, f] of cfg.publicKeys!.entries()) {
      const file = isAbsolute(f) ? f : resolve(opts.baseDir, f)
      const ko = await loadPem(file, `${where}.publicKeys[${i}]`)
      jwkKeys.push(ko.export({ format: 'jwk' }) as JWK)
    }
    const usable = jwkKeys.filter((k) => algorithms.some((a) => KTY_FOR_ALG[a.slice(0, 2)] === k.kty))
    if (usable.length === 0) throw new ConfigError(`${where}.publicKeys`, `no key fits the algorithms ${algorithms.join(', ')}`)
    const set = createLocalJWKSet({ keys: usable })
    // PEM keys carry no kid: match on algorithm and key type only
    key = async (header: JWSHeaderParameters) => await set({ alg: header.alg })
  } else {
    handle = await opts.resolver.resolve(cfg.hmacSecret!, `${where}.hmacSecret`)
    if (Buffer.byteLength(handle.value(), 'utf8') < MIN_HMAC_SECRET_BYTES) {
      throw new ConfigError(`${where}.hmacSecret`, `the secret is shorter than ${MIN_HMAC_SECRET_BYTES} bytes (${cfg.hmacSecret})`)
    }
    const h = handle
    let shortSince: number | undefined
    // read on every verification, so a rotated secret is picked up without a restart; a rotated
    // value below the minimum is refused like the first one (no token of this issuer passes then)
    key = async () => {
      const value = h.value()
      if (Buffer.byteLength(value, 'utf8') < MIN_HMAC_SECRET_BYTES) {
        if (shortSince === undefined || Date.now() - shortSince > 60_000) {
          shortSince = Date.now()
          logger.error({ issuer: cfg.name, ref: cfg.hmacSecret }, `the issuer's hmacSecret is now shorter than ${MIN_HMAC_SECRET_BYTES} bytes: every token of this issuer is refused until it is fixed`)
        }
        throw new HmacSecretTooShort('hmacSecret too short')
      }
      shortSince = undefined
      return new TextEncoder().encode(value)
    }
  }

  const verifyOptions: JWTVerifyOptions = {
    issuer: cfg.issuer,
    audience: cfg.audience,
    algorithms,
    clockTolerance: config.clockSkewSeconds,
    requiredClaims: cfg.requireExp ? ['exp', 'sub'] : ['sub'],
    ...(cfg.typ !== undefined ? { typ: cfg.typ } : {})
  }
  const maxKeysTried = config.maxKeysWithoutKid ?? DEFAULT_MAX_KEYS_WITHOUT_KID

  async function verifyOnce (token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, key, verifyOptions)).payload
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
      // several keys fit (no kid, or PEM keys): try each, up to the bound (each try is a signature check)
      let tried = 0
      for await (const k of err as unknown as AsyncIterable<KeyInput>) {
        if (++tried > maxKeysTried) {
          logger.debug({ issuer: cfg.name, maxKeysWithoutKid: maxKeysTried }, 'JWT without kid: key bound reached')
          break
        }
        try {
          return (await jwtVerify(token, k, verifyOptions)).payload
        } catch (e) {
          if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e
        }
      }
      throw new errors.JWSSignatureVerificationFailed()
    }
  }

  /** What jose does not check: an `iat` in the future, and the token's lifetime against `maxTokenAge`. */
  function checkTimes (payload: JWTPayload): void {
    const now = Math.floor(Date.now() / 1000)
    const skew = config.clockSkewSeconds
    const { iat, exp } = payload
    if (typeof iat === 'number' && iat > now + skew) throw new ClaimRefused('credential_invalid', 'iat in the future')
    const max = cfg.maxTokenAge
    if (max === undefined) return
    if (typeof exp === 'number' && exp - now > max + skew) throw new ClaimRefused('credential_invalid', 'exp beyond maxTokenAge')
    if (typeof iat === 'number' && now - iat > max + skew) throw new ClaimRefused('credential_expired', 'iat older than maxTokenAge')
    if (typeof exp !== 'number' && typeof iat !== 'number') throw new ClaimRefused('credential_invalid', 'no exp nor iat to bound the token age')
  }

  const verifier: IssuerVerifier = {
    name: cfg.name,
    issuer: cfg.issuer,
    global: cfg.global,
    algorithms: new Set(algorithms),
    jwks,
    async verify (token: string): Promise<AuthOutcome> {
      try {
        const payload = await verifyOnce(token)
        if (typeof payload.sub !== 'string' || payload.sub === '') return authFailure('credential_invalid')
        checkTimes(payload)
        const claims = deepFreeze(structuredClone(payload)) as Readonly<Record<string, unknown>>
        const principal: Principal = Object.freeze({ kind: 'jwt', id: payload.sub, issuer: cfg.name, owner: false, claims })
        return { ok: true, principal }
      } catch (err) {
        const reason = err instanceof ClaimRefused ? err.reason : reasonFor(err)
        logger.debug({ issuer: cfg.name, reason, code: (err as { code?: unknown }).code }, 'JWT refused')
        return authFailure(reason)
      }
    },
    close () { jwks?.close() }
  }
  return verifier
}
