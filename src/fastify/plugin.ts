// The Fastify plugin's registration: the config loaded and the runtime built as `tollgate serve`
// builds its own (src/runtime.ts: policies, tokens, the secret resolver and the authenticator with
// their watchers), one route per container path, and the pipeline's decide() as each route's
// onRequest hook. The route's handler forwards (src/fastify/forward.ts).
//
// Routing: each container's match.path is claimed as a Fastify route (the path and everything
// under it, every method) for every host; tollgate's own router then picks the container by host
// and canonical path, exactly as the standalone server does, so the container decided on is the
// container forwarded to. A request Fastify's router gives to another route (one of the app's own,
// more specific) never reaches tollgate.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RawServerBase, RouteGenericInterface } from 'fastify'
import replyFrom from '@fastify/reply-from'
import type { Pool } from 'undici'
import type { TLSSocket } from 'node:tls'
import { embeddedConfig, loadEmbeddedConfig, type RuntimeConfig } from '../config/load.js'
import type { ContainerConfig, EmbeddedConfig } from '../config/schema.js'
import { ConfigError, TollgateError, type ReasonId } from '../errors.js'
import { Exchange, type Observer } from '../exchange.js'
import { decide, type Outlet } from '../pipeline.js'
import { buildParts, closeParts, type ContainerRuntime, type Runtime } from '../runtime.js'
import { rejection } from '../reject.js'
import { connectionOf } from '../identity/identify.js'
import { createObserver } from '../observability/access.js'
import type { Logger } from '../observability/logger.js'
import { createUpstreamPool } from '../proxy/transport.js'
import type { Body } from '../proxy/body.js'
import type { Principal } from '../policy/types.js'
import { forwardTo, upstreams, type PluginUpstream } from './forward.js'

/** Everything optional that has a default; the containers as `tollgate serve`'s config file has them. */
type Input<T> = T extends ReadonlyArray<infer E> ? ReadonlyArray<Input<E>> : T extends object ? { [K in keyof T]?: Input<T[K]> } : T

/** A config given as an object: the YAML file's shape (docs/fastify.md). */
export type TollgateConfigInput = Input<Omit<EmbeddedConfig, 'containers'>> & {
  containers: Record<string, Input<ContainerConfig> & Pick<ContainerConfig, 'upstream' | 'token'>>
}

export interface TollgateOptions {
  /** The config: a file (the YAML `tollgate serve` reads; relative paths are relative to its folder) or an object. */
  config: string | TollgateConfigInput
  /** Where `${env:…}` references and TOLLGATE_MASTER_KEY are read (default: process.env). */
  env?: NodeJS.ProcessEnv
  /** A config object's relative paths are relative to this folder (default: the process's working folder). */
  baseDir?: string
}

/** What the app's hooks and handlers see of tollgate's decision (`request.tollgate`). */
export interface TollgateRequest {
  /** tollgate's request id: the X-Request-Id sent upstream and returned, and the one in its JSON answers. */
  readonly requestId: string
  /** The client IP the decision was made on (server.trustedProxies decides which peers may set X-Forwarded-For). */
  readonly ip: string
  /** The container the request was routed to; undefined when it was refused before routing. */
  readonly container: string | undefined
  readonly decision: 'allow' | 'deny'
  /** The stable reason id (docs/errors.md): `allowed`, `owner_bypass`, `policy_denied`, `credential_missing`… */
  readonly reason: ReasonId
  /** The rule that granted the request (or failed to evaluate). */
  readonly rule: string | undefined
  /** Who called: `{ kind: 'anonymous' | 'key' | 'jwt', id, owner, claims }`. */
  readonly principal: Principal
}

/** A request and a reply of any Fastify server (HTTP/1.1, HTTPS, HTTP/2). */
export type AnyRequest = FastifyRequest<RouteGenericInterface, RawServerBase>
export type AnyReply = FastifyReply<RouteGenericInterface, RawServerBase>

/** The plugin's per-request state (the app sees `request.tollgate`, never this: it holds the upstream head). */
export const kPending = Symbol('tollgate.pending')

/** One registration's runtime and observer. */
export interface PluginState {
  readonly rt: Runtime<PluginUpstream>
  readonly observer: Observer
  readonly logger: Logger
}

export class Pending {
  container: ContainerRuntime<PluginUpstream> | undefined = undefined
  /** What goes upstream as the body (sent again on the one retry). */
  body: Body = null
  /** The upstream's 401/403 may be retried once with a renewed token (src/proxy/forward.ts, tokenRetryable). */
  retryable = false
  constructor (readonly state: PluginState, readonly request: AnyRequest, readonly reply: AnyReply,
    readonly done: HookHandlerDoneFunction, readonly x: Exchange) {}
}

type WithPending = AnyRequest & { [kPending]: Pending | null }

export async function register (fastify: FastifyInstance, opts: TollgateOptions): Promise<void> {
  if (fastify.prefix !== '') {
    throw new TollgateError('TG_ERR_CONFIG_INVALID', `tollgate/fastify: register the plugin outside a prefixed context (here "${fastify.prefix}"): containers are routed on the app's full path, their match.path`)
  }
  const env = opts.env ?? process.env
  const config = typeof opts.config === 'string'
    ? await loadEmbeddedConfig(opts.config, env)
    : embeddedConfig(opts.config, { baseDir: opts.baseDir ?? process.cwd(), env })
  const logger = fastify.log as unknown as Logger
  const pools = sharedPools(config)
  const parts = await buildParts(config, { logger, env }, (o) => ({
    origin: o.origin,
    pool: pools.get(o.origin) as Pool,
    close: async () => { await pools.get(o.origin)?.close() },
    destroy: async () => { await pools.get(o.origin)?.destroy() }
  }))
  const rt = parts.runtime
  const state: PluginState = { rt, observer: createObserver({ logger, accessLog: config.server.accessLog }), logger }
  fastify.addHook('onClose', async () => {
    await rt.close()
    await closeParts(parts)
  })

  if (!fastify.hasRequestDecorator('tollgate')) fastify.decorateRequest('tollgate', null)
  if (!fastify.hasRequestDecorator(kPending as unknown as string)) fastify.decorateRequest(kPending as unknown as string, null)

  const onRequest = (request: AnyRequest, reply: AnyReply, done: HookHandlerDoneFunction): void => {
    const raw = request.raw
    const x = new Exchange(raw.method ?? 'GET', (connectionOf(raw) as TLSSocket | undefined)?.encrypted === true ? 'https' : 'http')
    const p = new Pending(state, request, reply, done, x)
    ;(request as WithPending)[kPending] = p
    const res = reply.raw
    res.once('close', () => {
      x.closed(res)
      state.observer.done(x)
    })
    try {
      decide(rt, raw, x, p, PLUGIN)
    } catch (err) {
      logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack }, requestId: x.requestId }, 'pipeline failure')
      refuse(p, 'internal_error')
    }
  }

  await fastify.register(async (scope) => {
    // The body goes upstream as it came (src/proxy/body.ts reads the request itself): no parser
    // reads it, none refuses a media type it does not know.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
    await scope.register(replyFrom, { undici: upstreams(pools, config.server.upstream.bodyTimeout), disableRequestLogging: true })
    const methods = scope.supportedMethods
    for (const prefix of new Set(rt.containers.map((c) => c.prefix))) {
      for (const url of prefix === '/' ? ['/', '/*'] : [prefix, prefix + '/*']) {
        scope.route({ method: methods, url, exposeHeadRoute: false, onRequest, handler: forwardTo })
      }
    }
  })
}

/**
 * One undici pool per upstream origin (containers of the same origin share it), with TLS verified
 * and the container's upstreamCa trusted: two containers of one origin must name the same CA.
 */
function sharedPools (config: RuntimeConfig): Map<string, Pool> {
  const cas = new Map<string, { ca: string | undefined, name: string }>()
  for (const [name, c] of Object.entries(config.containers)) {
    const origin = new URL(c.upstream).origin
    const seen = cas.get(origin)
    if (seen === undefined) cas.set(origin, { ca: c.upstreamCa, name })
    else if (seen.ca !== c.upstreamCa) {
      throw new ConfigError(`containers.${name}.upstreamCa`, `differs from containers.${seen.name}.upstreamCa for the same upstream origin (the Fastify plugin keeps one connection pool per origin)`)
    }
  }
  const pools = new Map<string, Pool>()
  for (const [origin, { ca }] of cas) pools.set(origin, createUpstreamPool({ origin, caFile: ca, settings: config.server.upstream }))
  return pools
}

/** The plugin's outlet for the pipeline: refusals go through Fastify's reply, allowed requests on to the route's handler. */
const PLUGIN: Outlet<Pending, PluginUpstream> = {
  refuse (_rt, p, _x, reason) { refuse(p, reason) },
  forward (_rt, p, _x, c) {
    p.container = c
    decided(p)
    p.done()
  },
  gone (p) { return p.reply.sent || p.reply.raw.destroyed }
}

/** Answers with `reason` through Fastify's reply (its onSend and onResponse hooks run), unless an answer has begun. */
export function refuse (p: Pending, reason: ReasonId): void {
  const { reply, x } = p
  const res = reply.raw
  if (reply.sent || res.headersSent || res.destroyed) {
    x.reason = reason
    return
  }
  const r = rejection(x, res, reason, p.state.rt.hsts)
  if (p.request.tollgate === null) decided(p)
  reply.code(r.status).headers(r.headers).send(r.body)
}

/** request.tollgate: what was decided, for the app's own hooks. */
function decided (p: Pending): void {
  const x = p.x
  p.request.tollgate = Object.freeze({
    requestId: x.requestId,
    ip: x.ip,
    container: x.container,
    decision: x.allowed ? 'allow' : 'deny',
    reason: x.reason,
    rule: x.rule,
    principal: x.principal
  })
}

/** The pending state of a request on one of the plugin's routes. */
export function pendingOf (request: AnyRequest): Pending | null {
  return (request as WithPending)[kPending]
}
