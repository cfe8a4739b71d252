// Config schema for rate limits: `server.rateLimit` (where counters live) and
// `containers.NAME.rateLimit` (the limits). Reference: docs/traffic.md.
import { Type, type Static } from '@sinclair/typebox'
import { NAME_PATTERN } from '../credentials/schema.js'

const strict = { additionalProperties: false } as const

/** A window: a whole number of seconds, minutes, hours or one day at most (`10s`, `1m`, `1h`, `1d`). */
export const PER_PATTERN = '^[1-9][0-9]{0,4}[smhd]$'
/** `ip`, `principal`, or `header:NAME` (a field name, any case). */
export const BY_PATTERN = "^(ip|principal|header:[A-Za-z0-9!#$%&'*+.^`|~-]+)$"

export const RateLimitServerSchema = Type.Object({
  /** redis:// or rediss:// URL; counters are then shared by every replica. Absent: this process only. */
  redis: Type.Optional(Type.String({ minLength: 1 })),
  /** Bound on one Redis call (ms); past it, or with Redis down, the request goes through (fail open). */
  timeout: Type.Integer({ minimum: 10, maximum: 10000, default: 200 }),
  /** Prefix of every Redis key (several tollgate deployments on one Redis keep apart). */
  keyPrefix: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'tollgate' })
}, { ...strict, default: {} })

export const RateLimitRuleSchema = Type.Object({
  /** Names the limit in the decision log and in metrics. */
  name: Type.String({ pattern: NAME_PATTERN }),
  /** Requests allowed per window and key. */
  requests: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  per: Type.String({ pattern: PER_PATTERN }),
  by: Type.String({ pattern: BY_PATTERN, default: 'ip' })
}, strict)

export const ContainerRateLimitSchema = Type.Array(RateLimitRuleSchema, { minItems: 1, maxItems: 16 })

export type RateLimitServerConfig = Static<typeof RateLimitServerSchema>
export type RateLimitRuleConfig = Static<typeof RateLimitRuleSchema>
