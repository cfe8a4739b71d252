// The one config schema. Defaults live here (TypeBox `default`) and nowhere else; unknown keys are
// refused everywhere (additionalProperties: false). Rooms own their fragments (secrets, credentials).
import { Type, type Static } from '@sinclair/typebox'
import { SecretsSchema } from '../secrets/schema.js'
import { CredentialsSchema, ContainerAuthFields } from '../credentials/schema.js'
import { RateLimitServerSchema, ContainerRateLimitSchema } from '../limits/schema.js'
import { CorsSchema } from '../cors/schema.js'

const strict = { additionalProperties: false } as const

const Port = Type.Integer({ minimum: 0, maximum: 65535 })
const Listen = Type.Object({
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  port: Port
}, strict)

const Hsts = Type.Object({
  enabled: Type.Boolean({ default: true }),
  maxAge: Type.Integer({ minimum: 0, default: 31536000 }),
  includeSubDomains: Type.Boolean({ default: false }),
  preload: Type.Boolean({ default: false })
}, { ...strict, default: {} })

/** Limits and timeouts (milliseconds / bytes). Defaults follow security.md §4's suggested gateway settings. */
export const LimitsSchema = Type.Object({
  maxHeaderSize: Type.Integer({ minimum: 1024, maximum: 65536, default: 16384 }),
  maxHeaderCount: Type.Integer({ minimum: 8, maximum: 1000, default: 100 }),
  bodyLimit: Type.Integer({ minimum: 0, default: 10 * 1024 * 1024 }),
  headersTimeout: Type.Integer({ minimum: 100, default: 15000 }),
  requestTimeout: Type.Integer({ minimum: 100, default: 120000 }),
  keepAliveTimeout: Type.Integer({ minimum: 100, default: 65000 }),
  tlsHandshakeTimeout: Type.Integer({ minimum: 100, default: 10000 }),
  maxConnections: Type.Integer({ minimum: 1, default: 10000 }),
  maxConnectionsPerIp: Type.Integer({ minimum: 1, default: 1000 }),
  maxRequestsPerSocket: Type.Integer({ minimum: 0, default: 0 }),
  http2MaxConcurrentStreams: Type.Integer({ minimum: 1, default: 100 }),
  /** HTTP/2 streams one session may cancel before their response, per 10 s; past it: GOAWAY (rapid-reset guard). */
  http2MaxResets: Type.Integer({ minimum: 1, default: 200 })
}, { ...strict, default: {} })

const Upstream = Type.Object({
  connectTimeout: Type.Integer({ minimum: 10, default: 5000 }),
  /** Time to the upstream's response headers; over it → 504. */
  timeout: Type.Integer({ minimum: 10, default: 30000 }),
  /** Idle time between two body chunks of the upstream response. */
  bodyTimeout: Type.Integer({ minimum: 10, default: 30000 }),
  /**
   * The HTTP/1.1 client: tollgate's own (Node's llhttp over node:net/tls; the default) or undici
   * (needed for pipelining > 1). docs/load-testing.md says why there are two.
   */
  client: Type.Union([Type.Literal('tollgate'), Type.Literal('undici')], { default: 'tollgate' }),
  connections: Type.Integer({ minimum: 1, default: 64 }),
  /** Requests in flight per upstream connection; more than 1 needs `client: undici`. */
  pipelining: Type.Integer({ minimum: 0, maximum: 16, default: 1 }),
  keepAliveTimeout: Type.Integer({ minimum: 100, default: 4000 }),
  maxResponseHeaderSize: Type.Integer({ minimum: 1024, default: 16384 })
}, { ...strict, default: {} })

/** Header rules of one direction: `remove` these fields, `set` these (replacing any value the message had). */
const HeaderRules = Type.Object({
  set: Type.Optional(Type.Record(Type.String(), Type.String())),
  remove: Type.Optional(Type.Array(Type.String({ minLength: 1 })))
}, strict)

export const HeadersSchema = Type.Object({
  /** Applied to the request sent to the container, after tollgate's own header hygiene. */
  request: Type.Optional(HeaderRules),
  /** Applied to the container's response, after tollgate's own response hygiene. */
  response: Type.Optional(HeaderRules)
}, strict)

/**
 * WebSocket tunnels (containers with `websocket: true`): caps on open tunnels, the idle timeout, and
 * whether HTTP/2 clients may open them (RFC 8441 extended CONNECT). Read per upgrade: a reload applies.
 */
const WebSocketSchema = Type.Object({
  /** Open tunnels in this process; past it an upgrade is refused with 503 (websocket_limit). */
  maxTunnels: Type.Integer({ minimum: 1, default: 5000 }),
  /** Open tunnels per client IP in this process; past it 429 (websocket_ip_limit). */
  maxTunnelsPerIp: Type.Integer({ minimum: 1, default: 100 }),
  /** No byte either way for this long (ms) closes a tunnel (Envoy's stream_idle_timeout default). */
  idleTimeout: Type.Integer({ minimum: 100, default: 300000 }),
  /** Advertise SETTINGS_ENABLE_CONNECT_PROTOCOL on the HTTP/2 listener (read at start). */
  http2: Type.Boolean({ default: true })
}, { ...strict, default: {} })

export const PolicyRuleSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  principals: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  condition: Type.Optional(Type.String({ minLength: 1 }))
}, strict)

export const ContainerSchema = Type.Object({
  upstream: Type.String({ minLength: 1 }),
  /**
   * Allow a plain `http://` upstream that is not on loopback: the container's token would cross
   * the network in clear. Refused at load unless this says true.
   */
  allowPlaintextUpstream: Type.Boolean({ default: false }),
  upstreamCa: Type.Optional(Type.String({ minLength: 1 })),
  match: Type.Object({
    host: Type.Optional(Type.String({ minLength: 1 })),
    path: Type.String({ minLength: 1, default: '/' })
  }, strict),
  token: Type.String({ minLength: 1 }),
  privacy: Type.Union([Type.Literal('public'), Type.Literal('private')], { default: 'private' }),
  policies: Type.Optional(Type.Array(PolicyRuleSchema)),
  /** Per-container override of limits.bodyLimit. */
  bodyLimit: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Per-container override of upstream.timeout. */
  timeout: Type.Optional(Type.Integer({ minimum: 10 })),
  /** Remove the matched match.path prefix before forwarding (`/api/x` → `/x`, `/api` → `/`). */
  stripPrefix: Type.Boolean({ default: false }),
  /** Each limit counts separately; any exhausted one answers 429. */
  rateLimit: Type.Optional(ContainerRateLimitSchema),
  /** CORS, answered by tollgate itself (preflights never need a credential). */
  cors: Type.Optional(CorsSchema),
  headers: Type.Optional(HeadersSchema),
  /** `Upgrade: websocket` is proxied (decided, authenticated and injected like any request). */
  websocket: Type.Boolean({ default: false }),
  ...ContainerAuthFields
}, strict)

/** The `server:` section's fields. */
const ServerFields = {
  listen: Type.Object({
    /** Optional when httpOption is `enabled` (edge mode: an edge in front ends TLS). */
    https: Type.Optional(Listen),
    http: Type.Optional(Listen)
  }, strict),
  /** Needed by the HTTPS listener only. */
  tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, strict)),
  httpOption: Type.Union([Type.Literal('redirected'), Type.Literal('enabled')], { default: 'redirected' }),
  /** The HTTPS port clients reach (e.g. 443 in front of a Service mapping it to 8443); the redirect targets it. Default: the HTTPS listener's port. */
  redirectPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  trustedProxies: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  admin: Type.Optional(Listen),
  http2: Type.Boolean({ default: true }),
  hsts: Hsts,
  limits: LimitsSchema,
  upstream: Upstream,
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  accessLog: Type.Boolean({ default: true }),
  websocket: WebSocketSchema,
  /** Drain deadline on SIGTERM (ms). */
  drainTimeout: Type.Integer({ minimum: 0, default: 30000 }),
  /**
   * On SIGTERM, keep accepting and answering (with `Connection: close`) this long (ms) before the
   * listeners close and the drain starts: time for a load balancer to stop sending new connections.
   */
  shutdownDelay: Type.Integer({ minimum: 0, maximum: 600000, default: 0 }),
  /** Worker processes (`tollgate serve --workers` overrides): a number, or "auto" for the CPUs this
   * process may use (cgroup quota aware). Absent: 1, a single process (see docs/operations.md). */
  workers: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')])),
  /** Where rate-limit counters live: this process (default) or a Redis shared by every replica. */
  rateLimit: RateLimitServerSchema
}

/** Everything but `server:`, the same for the server and for the Fastify plugin. */
const SharedSections = {
  secrets: Type.Optional(SecretsSchema),
  credentials: Type.Optional(CredentialsSchema),
  /**
   * Named CIDR allow-lists, usable in conditions as `inIpRange(request.ip, ipLists.NAME)`: a list,
   * or `{ file: PATH }` with one address or CIDR per line (`#` comments). Matched in time that does
   * not grow with the list.
   */
  ipLists: Type.Optional(Type.Record(Type.String(), Type.Union([
    Type.Array(Type.String({ minLength: 1 })),
    Type.Object({ file: Type.String({ minLength: 1 }) }, strict)
  ]))),
  containers: Type.Record(Type.String(), ContainerSchema)
}

/** `tollgate serve`: its own listeners (an HTTPS one needs `tls`; edge mode has none: load.ts). */
export const ConfigSchema = Type.Object({
  server: Type.Object(ServerFields, strict),
  ...SharedSections
}, strict)

/**
 * Where the listeners are someone else's (the Fastify plugin inside a user's app; the CLI commands
 * that only manage secrets, keys and policies): `server:` may be absent, and so may its `listen`
 * and `tls`.
 */
export const EmbeddedConfigSchema = Type.Object({
  server: Type.Object({
    ...ServerFields,
    listen: Type.Optional(ServerFields.listen)
  }, { ...strict, default: {} }),
  ...SharedSections
}, strict)

export type Config = Static<typeof ConfigSchema>
export type EmbeddedConfig = Static<typeof EmbeddedConfigSchema>
export type ContainerConfig = Static<typeof ContainerSchema>
export type LimitsConfig = Static<typeof LimitsSchema>
export type UpstreamConfig = Static<typeof Upstream>
export type HstsConfig = Static<typeof Hsts>
export type HeadersConfig = Static<typeof HeadersSchema>
export type WebSocketConfig = Static<typeof WebSocketSchema>
export { Upstream as UpstreamSchema, Hsts as HstsSchema }
