// The pipeline: the only code that knows the order of a request's steps.
//
//   identity → target, header screen, host → route → websocket → cors → limit (ip, header)
//   → authenticate → authorize → limit (principal) → inject → forward
//
// Each step lives in the room named after it and reads and fills the request's Exchange
// (src/exchange.ts); a step that refuses the request (or answers it itself: a CORS preflight)
// returns the reason. A step that may wait (a JWT to verify, a rate-limit counter in Redis)
// returns a promise; one that has nothing to do for the container (no cors, no rateLimit: decided
// at load) returns at once. decide() runs the steps up to the forward and hands the outcome to an
// Outlet: the standalone server's (below) answers on Node's own request/response objects (HTTP/1.1
// and HTTP/2 compat alike) with reject() and forwards with tollgate's transport; the Fastify
// plugin's (src/fastify/) answers through Fastify's reply and forwards with @fastify/reply-from.
// Upgrade requests to the standalone server (HTTP/1.1 `Upgrade`, HTTP/2 extended CONNECT) enter
// the same handler with their connection (createUpgradeHandler, createConnectHandler): the
// websocket step says whether they become a tunnel, which the forward step then opens. A reload
// swaps the Runtime; a request keeps the one it started with.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2'
import type { Socket } from 'node:net'
import type { ReasonId } from './errors.js'
import { Exchange, type Handover, type Observer, type Scheme, type UpgradeKind } from './exchange.js'
import type { Runtime, ContainerRuntime, Upstream } from './runtime.js'
import { reject } from './reject.js'
import { connectionOf, identify, peerOf } from './identity/identify.js'
import { readHost, readTarget, screenHeaders, type RequestHead } from './proxy/request.js'
import { route } from './proxy/router.js'
import { admit, authenticate } from './credentials/authenticate.js'
import type { AuthOutcome } from './credentials/types.js'
import { authorize, requestFacts } from './policy/authorize.js'
import { inject } from './proxy/inject.js'
import { cors } from './cors/cors.js'
import { limitClient, limitPrincipal } from './limits/limits.js'
import { forward } from './proxy/forward.js'
import type { Transport } from './proxy/client.js'
import { websocket } from './websocket/handshake.js'
import { countReset, isRefused } from './server/guards.js'
import { upgradeResponse } from './server/upgrade.js'

export type { Exchange, ExchangeRecord, Observer } from './exchange.js'

export type Req = IncomingMessage | Http2ServerRequest
export type Res = ServerResponse | Http2ServerResponse

/** Where decide() hands a request's outcome: `T` is what the caller answers through. */
export interface Outlet<T, U extends Upstream = Transport> {
  /** The request is refused with `reason` (or answered by tollgate itself: a CORS preflight). */
  refuse (rt: Runtime<U>, to: T, x: Exchange, reason: ReasonId): void
  /** The request is allowed and its upstream head injected: it goes to container `c`. */
  forward (rt: Runtime<U>, to: T, x: Exchange, c: ContainerRuntime<U>): void
  /** The client went away (asked after a step that waited). */
  gone (to: T): boolean
}

/** The request as decide() reads it. */
export type DecidedRequest = RequestHead & Parameters<typeof connectionOf>[0]

export function createHandler (getRuntime: () => Runtime, observer: Observer, scheme: Scheme) {
  return function handle (req: Req, res: Res, upgrade?: UpgradeKind, handover?: Handover): void {
    const rt = getRuntime()
    // An HTTP/2 WebSocket (CONNECT with :protocol) is the HTTP/1.1 handshake's GET to every step.
    const x = new Exchange(upgrade === 'http2' ? 'GET' : req.method ?? 'GET', scheme)
    x.upgrade = upgrade
    x.handover = handover
    const session = (req as Http2ServerRequest).stream?.session // gone from the stream once it closes
    // 'close' follows 'finish' (HTTP/1.1 and HTTP/2 alike) and also comes when the client went away
    // first: one listener per request is enough.
    res.once('close', () => {
      if (x.closed(res)) {
        x.upstream?.cancel()
        if (session !== undefined) countReset(session, rt.config.server.limits.http2MaxResets, rt.logger)
      }
      observer.done(x)
    })
    try {
      decide(rt, req, x, res, SERVER)
    } catch (err) {
      rt.logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack }, requestId: x.requestId }, 'pipeline failure')
      reject(x, res, 'internal_error', rt.hsts)
    }
  }
}

/**
 * HTTP/1.1 upgrade requests (the server's 'upgrade' event): Node hands the connection over once the
 * head is read; the request runs through the same handler and is answered on that connection.
 */
export function createUpgradeHandler (getRuntime: () => Runtime, observer: Observer, scheme: Scheme) {
  const handle = createHandler(getRuntime, observer, scheme)
  return function onUpgrade (req: IncomingMessage, socket: Socket, head: Buffer): void {
    const res = upgradeResponse(req, socket, getRuntime().config.server.limits.requestTimeout)
    handle(req, res, 'http1', { socket, head })
  }
}

/**
 * CONNECT (the server's 'connect' event): an HTTP/2 extended CONNECT for a WebSocket (RFC 8441) is
 * an upgrade, any other HTTP/2 CONNECT a request the target step refuses (405); an HTTP/1.1 CONNECT
 * is dropped, as Node drops it when nobody listens.
 */
export function createConnectHandler (getRuntime: () => Runtime, observer: Observer, scheme: Scheme) {
  const handle = createHandler(getRuntime, observer, scheme)
  return function onConnect (req: Req, resOrSocket: Http2ServerResponse | Socket): void {
    if (!(resOrSocket instanceof Http2ServerResponse)) {
      resOrSocket.destroy()
      return
    }
    handle(req, resOrSocket, req.headers[':protocol'] === 'websocket' ? 'http2' : undefined)
  }
}

/** The standalone server's outlet: answers on Node's response, forwards with tollgate's transport. */
const SERVER: Outlet<Res> = {
  refuse (rt, res, x, reason) { reject(x, res, reason, rt.hsts) },
  forward (rt, res, x, c) { forward(x, c, rt, res.req, res) },
  gone (res) { return res.writableEnded || res.destroyed }
}

/** Every step up to the forward, in order; the outcome goes to `out`. */
export function decide<T, U extends Upstream> (rt: Runtime<U>, req: DecidedRequest, x: Exchange, to: T, out: Outlet<T, U>): void {
  const socket = connectionOf(req)
  if (socket === undefined) return
  if (isRefused(socket)) {
    // Pipelined behind a request refused with close: never served.
    x.reason = 'bad_request'
    x.cut = true
    socket.destroySoon()
    return
  }
  const headers = req.headers
  identify(x, peerOf(socket, rt.trusted, rt.peerCacheGeneration), headers, rt.trusted)
  const refused = readTarget(x, req.url ?? '') ??
    screenHeaders(x, req, rt.maxHeaderCount) ??
    readHost(x, (headers.host ?? headers[':authority']) as string | undefined)
  if (refused !== undefined) return out.refuse(rt, to, x, refused)

  const c = route(x, rt.router)
  if (c === undefined) return out.refuse(rt, to, x, 'no_route')
  const unfit = websocket(x, c, headers)
  if (unfit !== undefined) return out.refuse(rt, to, x, unfit)

  const preflight = cors(x, c.cors, headers)
  if (preflight !== undefined) return out.refuse(rt, to, x, preflight)

  const counted = limitClient(x, c.limits, headers)
  if (counted === undefined) return identified(rt, req, x, c, to, out)
  whenCounted(rt, x, counted, to, out, () => { identified(rt, req, x, c, to, out) })
}

function identified<T, U extends Upstream> (rt: Runtime<U>, req: DecidedRequest, x: Exchange, c: ContainerRuntime<U>, to: T, out: Outlet<T, U>): void {
  if (out.gone(to)) return // the client left while its limits were counted
  const outcome = authenticate(x, c.privacy, rt.authenticator, req.headers)
  if (outcome instanceof Promise) {
    outcome.then((o) => { authorized(rt, req, x, c, o, to, out) }, () => { out.refuse(rt, to, x, 'credential_invalid') })
    return
  }
  authorized(rt, req, x, c, outcome, to, out)
}

function authorized<T, U extends Upstream> (rt: Runtime<U>, req: DecidedRequest, x: Exchange, c: ContainerRuntime<U>, outcome: AuthOutcome | undefined, to: T, out: Outlet<T, U>): void {
  let refused: ReasonId | undefined = admit(x, outcome)
  if (refused !== undefined) return out.refuse(rt, to, x, refused)
  if (out.gone(to)) return // the client left while a JWT was being verified
  refused = authorize(x, c.policy, requestFacts(x, req.headers))
  if (refused !== undefined) return out.refuse(rt, to, x, refused)
  const counted = limitPrincipal(x, c.limits, req.headers)
  if (counted === undefined) return allowed(rt, x, c, to, out)
  whenCounted(rt, x, counted, to, out, () => { allowed(rt, x, c, to, out) })
}

function allowed<T, U extends Upstream> (rt: Runtime<U>, x: Exchange, c: ContainerRuntime<U>, to: T, out: Outlet<T, U>): void {
  if (out.gone(to)) return // the client left while its limits were counted
  inject(x, c)
  out.forward(rt, to, x, c)
}

/**
 * Goes on once a rate-limit step's counters answered: `next` when the request is within its
 * limits, the 429 otherwise. The steps never reject by design: a rejection is a bug, never forwarded.
 */
function whenCounted<T, U extends Upstream> (rt: Runtime<U>, x: Exchange, counted: Promise<ReasonId | undefined>, to: T, out: Outlet<T, U>, next: () => void): void {
  counted.then((r) => { r === undefined ? next() : out.refuse(rt, to, x, r) }, (err: unknown) => {
    rt.logger.error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack }, requestId: x.requestId }, 'pipeline failure')
    out.refuse(rt, to, x, 'internal_error')
  })
}
