// A Runtime is one loaded config made ready to serve: routes, compiled policies, resolved tokens,
// upstream pools. Built off the hot path; swapped atomically on reload (a request keeps the Runtime
// it started with); closed once the requests that hold it are done.
import { policyOptions, type LoadedConfig } from './config/load.js'
import { buildRouter, type Routable, type Router } from './proxy/router.js'
import { createTransport } from './proxy/transport.js'
import type { Transport } from './proxy/client.js'
import { ipMatcher, type IpMatcher } from './identity/index.js'
import { compileContainerPolicy, type ContainerPolicy } from './policy/index.js'
import type { SecretHandle, SecretResolver } from './secrets/types.js'
import type { Authenticator } from './credentials/types.js'
import type { Logger } from './observability/logger.js'
import type { Privacy } from './policy/types.js'
import { compileHeaderRules, type HeaderRules } from './proxy/header-rules.js'
import { compileCors, CORS_FIELDS, type CorsPolicy } from './cors/cors.js'
import { buildRateLimits, RATE_LIMIT_FIELDS, type ContainerLimits, type RateLimitDeps, type RuntimeLimits } from './limits/limits.js'

export interface ContainerRuntime extends Routable {
  readonly privacy: Privacy
  readonly policy: ContainerPolicy
  readonly token: SecretHandle
  /** Whether the token's source can change (a 401/403 from upstream then triggers one refresh). */
  readonly tokenRefreshable: boolean
  /** The connection pool to the container's origin. */
  readonly upstream: Transport
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
}

export interface Runtime {
  readonly config: LoadedConfig
  readonly router: Router<ContainerRuntime>
  readonly containers: readonly ContainerRuntime[]
  readonly trusted: IpMatcher
  /** Per-socket peer info is cached; a new Runtime (maybe new trusted proxies) invalidates it. */
  readonly peerCacheGeneration: number
  readonly authenticator: Authenticator | undefined
  readonly hsts: string | undefined
  readonly maxHeaderCount: number
  readonly logger: Logger
  close (): Promise<void>
}

export interface RuntimeDeps {
  logger: Logger
  resolver: SecretResolver
  authenticator?: Authenticator
  /** Memory counters kept across reloads, and metric hooks (default: fresh counters, no hooks). */
  rateLimits?: RateLimitDeps
}

let generation = 0

/** Compiles policies first (cheap, most likely to fail), then resolves tokens, then opens pools. */
export async function buildRuntime (config: LoadedConfig, deps: RuntimeDeps): Promise<Runtime> {
  const names = Object.keys(config.containers)
  const policies = names.map((name) => {
    const c = config.containers[name]
    return compileContainerPolicy(name, c.privacy, c.policies, policyOptions(config))
  })
  const tokens = await Promise.all(names.map((name) => deps.resolver.resolve(config.containers[name].token, `containers.${name}.token`)))
  const pools: Transport[] = []
  let limits: RuntimeLimits | undefined
  try {
    limits = await buildRateLimits(config.containers, config.server.rateLimit, deps.logger, deps.rateLimits)
    const byContainer = limits.byContainer
    const containers = names.map((name, i): ContainerRuntime => {
      const c = config.containers[name]
      const url = new URL(c.upstream)
      const pool = createTransport({ origin: url.origin, caFile: c.upstreamCa, settings: config.server.upstream })
      pools.push(pool)
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
        timeout: c.timeout ?? config.server.upstream.timeout,
        stripPrefix: c.stripPrefix && c.match.path !== '/',
        requestRules: compileHeaderRules(c.headers?.request),
        responseRules: compileHeaderRules(c.headers?.response, [
          ...(c.cors !== undefined ? CORS_FIELDS : []),
          ...(c.rateLimit !== undefined ? RATE_LIMIT_FIELDS : [])
        ]),
        cors: compileCors(c.cors),
        limits: byContainer.get(name)
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
