// A Runtime is one loaded config made ready to serve: routes, compiled policies, resolved tokens,
// upstream pools. Built off the hot path; swapped atomically on reload (a request keeps the Runtime
// it started with); closed once the requests that hold it are done. The standalone server and the
// Fastify plugin build theirs here; they differ only in what a container's upstream is (tollgate's
// transport, or the undici pool @fastify/reply-from forwards over).
import { policyOptions, type RuntimeConfig } from './config/load.js'
import { buildRouter, type Routable, type Router } from './proxy/router.js'
import { createTransport, readCa, type UpstreamOptions } from './proxy/transport.js'
import { createTunnels, type Tunnels } from './websocket/tunnels.js'
import type { TunnelTarget } from './websocket/tunnel.js'
import type { Transport } from './proxy/client.js'
import { ipMatcher, type IpMatcher } from './identity/index.js'
import { compileContainerPolicy, type ContainerPolicy } from './policy/index.js'
import { createSecretResolver, type MasterKeys, type SecretEvents } from './secrets/index.js'
import type { SecretHandle, SecretResolver } from './secrets/types.js'
import type { HighWater } from './files/integrity.js'
import { authenticatorForConfig, validateCredentialsConfig, type TollgateAuthenticator } from './credentials/index.js'
import type { Authenticator } from './credentials/types.js'
import { withField } from './errors.js'
import type { Logger } from './observability/logger.js'
import type { Privacy } from './policy/types.js'
import { compileHeaderRules, type HeaderRules } from './proxy/header-rules.js'
import { compileCors, CORS_FIELDS, type CorsPolicy } from './cors/cors.js'
import { buildRateLimits, RATE_LIMIT_FIELDS, type ContainerLimits, type RateLimitDeps, type RuntimeLimits } from './limits/limits.js'

/** What a runtime holds per container to reach its upstream: closed with the runtime. */
export interface Upstream {
  /** Finishes the requests in flight, then closes every connection. */
  close (): Promise<void>
  /** Closes every connection now. */
  destroy (): Promise<void>
}

export interface ContainerRuntime<U extends Upstream = Transport> extends Routable {
  readonly privacy: Privacy
  readonly policy: ContainerPolicy
  readonly token: SecretHandle
  /** Whether the token's source can change (a 401/403 from upstream then triggers one refresh). */
  readonly tokenRefreshable: boolean
  /** The connection pool to the container's origin. */
  readonly upstream: U
  /** Host header for the upstream (its own name, with port when not the default). */
  readonly upstreamHost: string
  readonly bodyLimit: number
  readonly timeout: number
  /** Remove `prefix` from the path sent upstream. */
  readonly stripPrefix: boolean
  /** `headers.request`, compiled; undefined when there is none. */
  readonly requestRules: HeaderRules | undefined
  /** `headers.response` and the fields tollgate owns (CORS, RateLimit), compiled; undefined when none. */
  readonly responseRules: HeaderRules | undefined
  readonly cors: CorsPolicy | undefined
  readonly limits: ContainerLimits | undefined
  /** `websocket: true`: upgrades are tunnelled to the container. */
  readonly websocket: boolean
  /** Where a tunnel's upgrade request goes (own connection, TLS verified with the same CA); set when `websocket`. */
  readonly tunnelTarget: TunnelTarget | undefined
}

export interface Runtime<U extends Upstream = Transport> {
  readonly config: RuntimeConfig
  readonly router: Router<ContainerRuntime<U>>
  readonly containers: ReadonlyArray<ContainerRuntime<U>>
  readonly trusted: IpMatcher
  /** Per-socket peer info is cached; a new Runtime (maybe new trusted proxies) invalidates it. */
  readonly peerCacheGeneration: number
  readonly authenticator: Authenticator | undefined
  readonly hsts: string | undefined
  readonly maxHeaderCount: number
  readonly logger: Logger
  /** Open WebSocket tunnels: the app's one registry, shared by every runtime (a tunnel outlives a reload). */
  readonly tunnels: Tunnels
  /** Whether the rate-limit Redis answers (undefined: none in use). */
  rateLimitStoreReady (): boolean | undefined
  close (): Promise<void>
}

export interface RuntimeDeps {
  logger: Logger
  resolver: SecretResolver
  authenticator?: Authenticator
  /** Memory counters kept across reloads, and metric hooks (default: fresh counters, no hooks). */
  rateLimits?: RateLimitDeps
  /** The app's tunnel registry (default: a fresh one). */
  tunnels?: Tunnels
  /** `tollgate check --offline`: no connection to the rate-limit Redis. */
  offline?: boolean
  /** The containers' policies, when compiled already (compilePolicies). */
  policies?: readonly ContainerPolicy[]
}

/** Every container's policy, compiled (in config order); throws naming the condition's field. */
export function compilePolicies (config: RuntimeConfig): ContainerPolicy[] {
  return Object.keys(config.containers).map((name) => {
    const c = config.containers[name]
    return compileContainerPolicy(name, c.privacy, c.policies, policyOptions(config))
  })
}

let generation = 0

/** Compiles policies first (cheap, most likely to fail), then resolves tokens, then opens pools. */
export async function buildRuntime (config: RuntimeConfig, deps: RuntimeDeps): Promise<Runtime>
export async function buildRuntime<U extends Upstream> (config: RuntimeConfig, deps: RuntimeDeps, open: (o: UpstreamOptions) => U): Promise<Runtime<U>>
export async function buildRuntime (config: RuntimeConfig, deps: RuntimeDeps, open: (o: UpstreamOptions) => Upstream = createTransport): Promise<Runtime<Upstream>> {
  const names = Object.keys(config.containers)
  const policies = deps.policies ?? compilePolicies(config)
  // resolved together; a failure is reported for the first container in config order (one answer per config)
  const settled = await Promise.allSettled(names.map((name) => deps.resolver.resolve(config.containers[name].token, `containers.${name}.token`)))
  const tokens = settled.map((r) => { if (r.status === 'rejected') throw r.reason; return r.value })
  const pools: Upstream[] = []
  let limits: RuntimeLimits | undefined
  try {
    const limitServer = deps.offline === true ? { ...config.server.rateLimit, redis: undefined } : config.server.rateLimit
    limits = await buildRateLimits(config.containers, limitServer, deps.logger, deps.rateLimits)
    const byContainer = limits.byContainer
    const containers = names.map((name, i): ContainerRuntime<Upstream> => {
      const c = config.containers[name]
      const url = new URL(c.upstream)
      const pool = open({ origin: url.origin, caFile: c.upstreamCa, settings: config.server.upstream })
      pools.push(pool)
      const timeout = c.timeout ?? config.server.upstream.timeout
      return {
        name,
        host: c.match.host,
        prefix: c.match.path,
        privacy: c.privacy,
        policy: policies[i],
        token: tokens[i],
        tokenRefreshable: !c.token.startsWith('${env:'),
        upstream: pool,
        upstreamHost: url.host,
        bodyLimit: c.bodyLimit ?? config.server.limits.bodyLimit,
        timeout,
        stripPrefix: c.stripPrefix && c.match.path !== '/',
        requestRules: compileHeaderRules(c.headers?.request),
        responseRules: compileHeaderRules(c.headers?.response, [
          ...(c.cors !== undefined ? CORS_FIELDS : []),
          ...(c.rateLimit !== undefined ? RATE_LIMIT_FIELDS : [])
        ]),
        cors: compileCors(c.cors),
        limits: byContainer.get(name),
        websocket: c.websocket,
        tunnelTarget: c.websocket
          ? { origin: url, ca: readCa(c.upstreamCa), connectTimeout: config.server.upstream.connectTimeout, timeout }
          : undefined
      }
    })
    const held = limits
    limits.commit()
    const hsts = config.server.hsts
    return {
      config,
      router: buildRouter(containers),
      containers,
      trusted: ipMatcher(config.server.trustedProxies),
      peerCacheGeneration: ++generation,
      authenticator: deps.authenticator,
      hsts: hsts.enabled
        ? `max-age=${hsts.maxAge}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`
        : undefined,
      maxHeaderCount: config.server.limits.maxHeaderCount,
      logger: deps.logger,
      tunnels: deps.tunnels ?? createTunnels(),
      rateLimitStoreReady: () => held.storeReady(),
      async close () {
        await Promise.allSettled(pools.map((p) => p.close()))
        held.close()
      }
    }
  } catch (err) {
    await Promise.allSettled(pools.map((p) => p.destroy()))
    limits?.close()
    throw err
  }
}

/** A runtime with the secret resolver and the authenticator it was built with (their watchers and timers). */
export interface RuntimeParts<U extends Upstream = Transport> {
  resolver: SecretResolver
  authenticator: TollgateAuthenticator | undefined
  runtime: Runtime<U>
}

export interface PartsOptions {
  logger: Logger
  env: NodeJS.ProcessEnv
  /** The master key(s) (default: read from `env` when needed). */
  masterKeys?: MasterKeys
  /** The generations of the state files seen (kept across reloads: no going back to an older file). */
  highWater?: HighWater
  /** Secret refreshes and refused or accepted state files (the standalone server's metrics). */
  events?: SecretEvents
  /** Rate-limit counters kept across reloads, and their metric hooks. */
  rateLimits?: RateLimitDeps
  /** The app's WebSocket tunnel registry (kept across reloads). */
  tunnels?: Tunnels
  /** `tollgate check --offline`: no Secret Manager, JWKS or Redis. */
  offline?: boolean
  /** The containers' policies, when compiled already (compilePolicies). */
  policies?: readonly ContainerPolicy[]
}

/**
 * Resolver, authenticator, runtime: on any failure what was built is closed again. What the config
 * points at is checked in an order that names the field to fix: the config alone first (every
 * condition, the JWT issuers' consistency), then the secret store (`secrets.store`), the keys file
 * (`credentials.keys`) and the JWT issuers, then every token (`containers.NAME.token`).
 * `tollgate serve`, `tollgate check` (src/server/startup.ts) and the Fastify plugin all build here.
 */
export async function buildParts (config: RuntimeConfig, opts: PartsOptions): Promise<RuntimeParts>
export async function buildParts<U extends Upstream> (config: RuntimeConfig, opts: PartsOptions, open: (o: UpstreamOptions) => U): Promise<RuntimeParts<U>>
export async function buildParts (config: RuntimeConfig, opts: PartsOptions, open: (o: UpstreamOptions) => Upstream = createTransport): Promise<RuntimeParts<Upstream>> {
  const { logger, env, masterKeys: masterKey, highWater, events, offline } = opts
  const policies = opts.policies ?? compilePolicies(config)
  validateCredentialsConfig(config.credentials, config.containers)
  const resolver = createSecretResolver({ baseDir: config.baseDir, secrets: config.secrets ?? {}, env, logger, events, masterKey, highWater, offline })
  let authenticator: TollgateAuthenticator | undefined
  try {
    try {
      await resolver.openStore()
    } catch (err) {
      throw withField('secrets.store', err)
    }
    authenticator = await authenticatorForConfig(config, resolver, { env, logger, masterKey, highWater, refused: events?.refused, generation: events?.generation, sourceStatus: events?.sourceStatus, offline })
    const runtime = await buildRuntime(config, { logger, resolver, authenticator, rateLimits: opts.rateLimits, tunnels: opts.tunnels, offline, policies }, open)
    return { resolver, authenticator, runtime }
  } catch (err) {
    await closeParts({ resolver, authenticator })
    throw err
  }
}

/** Stops the resolver's refreshes and watches and the authenticator's (the runtime is closed on its own). */
export async function closeParts (p: Pick<RuntimeParts<Upstream>, 'resolver' | 'authenticator'>): Promise<void> {
  await Promise.allSettled([p.resolver.close(), p.authenticator?.close()])
}
