// The pipeline: the only code that knows the order of a request's steps.
//
//   identity → target, header screen, host → route → cors → limit (ip, header) → authenticate
//   → authorize → limit (principal) → inject → forward
//
// Each step lives in the room named after it and reads and fills the request's Exchange
// (src/exchange.ts); a step that refuses the request (or answers it itself: a CORS preflight)
// returns the reason, answered by reject() (src/reject.ts). A step that may wait (a JWT to verify,
// a rate-limit counter in Redis) returns a promise; one that has nothing to do for the container
// (no cors, no rateLimit: decided at load) returns at once. The handler runs on Node's own
// request/response objects (HTTP/1.1 and HTTP/2 compat alike). A reload swaps the Runtime; a
// request keeps the one it started with.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import type { Socket } from 'node:net'
import type { ReasonId } from './errors.js'
import { Exchange, type Observer, type Scheme } from './exchange.js'
import type { Runtime, ContainerRuntime } from './runtime.js'
import { reject } from './reject.js'
import { identify, peerOf } from './identity/identify.js'
import { readHost, readTarget, screenHeaders } from './proxy/request.js'
import { route } from './proxy/router.js'
import { admit, authenticate } from './credentials/authenticate.js'
import type { AuthOutcome } from './credentials/types.js'
import { authorize, requestFacts } from './policy/authorize.js'
import { inject } from './proxy/inject.js'
import { cors } from './cors/cors.js'
import { limitClient, limitPrincipal } from './limits/limits.js'
import { forward } from './proxy/forward.js'
import { countReset, isRefused } from './server/guards.js'

export type { Exchange, ExchangeRecord, Observer } from './exchange.js'

export type Req = IncomingMessage | Http2ServerRequest
export type Res = ServerResponse | Http2ServerResponse

export function createHandler (getRuntime: () => Runtime, observer: Observer, scheme: Scheme) {
  return function handle (req: Req, res: Res): void {
    const rt = getRuntime()
    const x = new Exchange(req.method ?? 'GET', scheme)
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
      run(rt, req, res, x)
    } catch (err) {
      rt.logger.error({ err: { message: (err as Error).message, stack: (err as Error).stack }, requestId: x.requestId }, 'pipeline failure')
      reject(x, res, 'internal_error', rt.hsts)
    }
  }
}

function run (rt: Runtime, req: Req, res: Res, x: Exchange): void {
  const h2 = (req as Http2ServerRequest).stream
  const socket = (h2 === undefined ? req.socket : h2.session?.socket) as Socket | undefined
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
  if (refused !== undefined) return reject(x, res, refused, rt.hsts)

  const c = route(x, rt.router)
  if (c === undefined) return reject(x, res, 'no_route', rt.hsts)

  const preflight = cors(x, c.cors, headers)
  if (preflight !== undefined) return reject(x, res, preflight, rt.hsts)

  const counted = limitClient(x, c.limits, headers)
  if (counted === undefined) return identified(rt, req, res, x, c)
  whenCounted(rt, res, x, counted, () => { identified(rt, req, res, x, c) })
}

function identified (rt: Runtime, req: Req, res: Res, x: Exchange, c: ContainerRuntime): void {
  if (res.writableEnded || res.destroyed) return // the client left while its limits were counted
  const outcome = authenticate(x, c.privacy, rt.authenticator, req.headers)
  if (outcome instanceof Promise) {
    outcome.then((o) => { authorized(rt, req, res, x, c, o) }, () => { reject(x, res, 'credential_invalid', rt.hsts) })
    return
  }
  authorized(rt, req, res, x, c, outcome)
}

function authorized (rt: Runtime, req: Req, res: Res, x: Exchange, c: ContainerRuntime, outcome: AuthOutcome | undefined): void {
  let refused: ReasonId | undefined = admit(x, outcome)
  if (refused !== undefined) return reject(x, res, refused, rt.hsts)
  if (res.writableEnded || res.destroyed) return // the client left while a JWT was being verified
  refused = authorize(x, c.policy, requestFacts(x, req.headers))
  if (refused !== undefined) return reject(x, res, refused, rt.hsts)
  const counted = limitPrincipal(x, c.limits, req.headers)
  if (counted === undefined) return allowed(rt, req, res, x, c)
  whenCounted(rt, res, x, counted, () => { allowed(rt, req, res, x, c) })
}

function allowed (rt: Runtime, req: Req, res: Res, x: Exchange, c: ContainerRuntime): void {
  if (res.writableEnded || res.destroyed) return // the client left while its limits were counted
  inject(x, c)
  forward(x, c, rt, req, res)
}

/**
 * Goes on once a rate-limit step's counters answered: `next` when the request is within its
 * limits, the 429 otherwise. The steps never reject by design: a rejection is a bug, never forwarded.
 */
function whenCounted (rt: Runtime, res: Res, x: Exchange, counted: Promise<ReasonId | undefined>, next: () => void): void {
  counted.then((r) => { r === undefined ? next() : reject(x, res, r, rt.hsts) }, (err: unknown) => {
    rt.logger.error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack }, requestId: x.requestId }, 'pipeline failure')
    reject(x, res, 'internal_error', rt.hsts)
  })
}
