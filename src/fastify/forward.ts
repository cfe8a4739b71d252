// The Fastify plugin's forward step: the request the pipeline decided and injected goes upstream
// through @fastify/reply-from, over the runtime's undici pools (TLS verified, the container's
// upstreamCa; reply-from's own undici options would not verify the certificate). What goes and
// what comes back are tollgate's, not reply-from's defaults: the upstream head is the one the
// screen and inject steps built (never the client's credential, exactly one X-Auth-Token), the
// path is the one inject set (the canonical one the policy decided on, less the match prefix under
// stripPrefix), the response head goes through the same hygiene and header rules as the standalone
// server's (src/proxy/response.ts), failures answer with the same reasons, and reply-from never
// retries on its own.
import { Readable } from 'node:stream'
import type { Dispatcher, Pool } from 'undici'
import type { ContainerRuntime, Upstream } from '../runtime.js'
import { READ_WHOLE, readWholeBody, requestBody, type Body } from '../proxy/body.js'
import { renewToken, tokenRefused, tokenRetryable, upstreamFailed } from '../proxy/forward.js'
import { responseHead } from '../proxy/response.js'
import { upstreamFailureCode } from '../proxy/transport.js'
import { pendingOf, refuse, type AnyReply, type AnyRequest, type Pending } from './plugin.js'

/** A container's upstream, as the plugin's runtime holds it: its origin, and the pool shared by that origin's containers. */
export interface PluginUpstream extends Upstream {
  readonly origin: string
  readonly pool: Pool
}

type RequestCallback = (err: Error | null, data: Dispatcher.ResponseData) => void

/**
 * What reply-from forwards over (it takes any object with undici's `request`): each request goes to
 * its origin's pool, with tollgate's idle body timeout (reply-from would set the container's
 * response-head timeout for both).
 */
export function upstreams (pools: ReadonlyMap<string, Pool>, bodyTimeout: number): { request: Dispatcher['request'] } {
  return {
    request (opts: Dispatcher.RequestOptions, cb?: RequestCallback) {
      const pool = pools.get(String(opts.origin))
      if (pool === undefined || cb === undefined) throw new Error(`tollgate/fastify: no upstream pool for ${String(opts.origin)}`)
      opts.bodyTimeout = bodyTimeout
      pool.request(opts, cb)
    }
  } as { request: Dispatcher['request'] }
}

/** The route's handler: the body (within the container's limit), then the forward. */
export function forwardTo (request: AnyRequest, _reply: AnyReply): void {
  const p = pendingOf(request)
  const c = p?.container
  if (p === null || c === undefined) throw new Error('tollgate/fastify: a request reached the handler undecided')
  const limit = c.bodyLimit
  const body = requestBody(p.x.method, request.raw, limit, p.state.rt.config.server.limits.requestTimeout)
  if (body === READ_WHOLE) {
    return readWholeBody(request.raw, limit, (reason, whole) => {
      if (reason !== undefined) return refuse(p, reason)
      send(p, whole, 0)
    })
  }
  if (typeof body === 'string') return refuse(p, body)
  send(p, body, 0)
}

function send (p: Pending, body: Body, attempt: number): void {
  const { request, reply, x } = p
  const c = p.container!
  p.body = body
  p.retryable = tokenRetryable(x, c, body, attempt)
  x.upstreamStart = performance.now()
  let opts = optionsFor(c, p.state.rt.config.server.upstream.timeout)
  if (body instanceof Readable) request.body = body
  // A body read whole (chunked HTTP/1.1) goes as it is; reply-from would JSON-encode it from request.body.
  else if (body !== null) opts = { ...opts, body, contentType: 'application/octet-stream' }
  try {
    reply.from(c.upstream.origin + x.upstreamPath, opts)
  } catch (err) {
    // reply-from refuses a path it reads as a traversal: a segment that starts or ends with ".."
    // (a name like "..." or "..x", which the canonical target allows; real dot segments never get here).
    refuse(p, (err as { statusCode?: number }).statusCode === 400 ? 'path_not_canonical' : 'internal_error')
  }
}

const EMPTY = Object.freeze({})

const withTimeout = new WeakMap<ContainerRuntime<PluginUpstream>, ReplyOptions>()

/**
 * The options for a container: the shared ones, or (a container with its own `timeout`) a copy with
 * that response-head timeout, made once. The pools' own is the config's `server.upstream.timeout`.
 */
function optionsFor (c: ContainerRuntime<PluginUpstream>, poolTimeout: number): ReplyOptions {
  if (c.timeout === poolTimeout) return OPTIONS
  let opts = withTimeout.get(c)
  if (opts === undefined) withTimeout.set(c, opts = { ...OPTIONS, timeout: c.timeout })
  return opts
}

type ReplyOptions = NonNullable<Parameters<AnyReply['from']>[1]>

const OPTIONS: ReplyOptions = {
  // The upstream head as the screen and inject steps built it; reply-from's copy of the client's is dropped.
  rewriteRequestHeaders: (request) => fields(pendingOf(request)!.x.upstreamHeaders),
  // The query as it came (reply-from would rebuild it through URL parsing).
  queryString: (_search, _url, request) => pendingOf(request)!.x.query.slice(1),
  // The response head is written by relay() below.
  rewriteHeaders: () => EMPTY,
  onResponse: relay,
  onError: failed,
  // reply-from would retry a GET answered 503 up to 10 times: tollgate relays what the upstream said.
  retryDelay: () => null
}

/** A flat name/value list as a header object (repeated names as arrays), with no prototype a name could reach. */
function fields (list: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null)
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]
    const had = out[k]
    const v = list[i + 1]
    if (had === undefined) out[k] = v
    else if (Array.isArray(had)) had.push(v)
    else out[k] = [had, v]
  }
  return out
}

type Relayed = Parameters<NonNullable<typeof OPTIONS.onResponse>>[2]

/** The upstream answered: relay it (head through the standalone server's hygiene), or retry once after a 401/403 with a renewed token. */
function relay (request: AnyRequest, reply: AnyReply, res: Relayed): void {
  const p = pendingOf(request)!
  const x = p.x
  const stream = res.stream as unknown as Readable
  if (reply.sent) {
    // reply-from already answered (an invalid status code).
    stream.destroy()
    return
  }
  x.upstreamEnd = performance.now()
  const status = res.statusCode
  if (tokenRefused(x, status, p.retryable)) {
    stream.resume()
    renewToken(x, p.container!).then(() => send(p, p.body, 1), () => {})
    return
  }
  const raw: string[] = []
  // (reply-from's types leave out the undici response's headers.)
  const headers = (res as unknown as { headers: Record<string, string | string[] | undefined> }).headers
  for (const k of Object.keys(headers)) {
    const v = headers[k]
    if (Array.isArray(v)) for (const one of v) raw.push(k, one)
    else if (v !== undefined) raw.push(k, v)
  }
  reply.code(status).headers(fields(responseHead(raw, x, p.state.rt.hsts, p.container!.responseRules)))
  // Counted as it is piped into the response (after the app's onSend hooks, which may replace the
  // stream): a reader added before would start the stream flowing while no one else reads it.
  reply.raw.once('pipe', (piped: Readable) => piped.on('data', (chunk: Buffer) => { x.bytes += chunk.length }))
  reply.send(stream)
}

/** The forward failed before a response head: the standalone server's reason (502, 504, 413…), through Fastify's reply. */
function failed (reply: AnyReply, { error }: { error: Error }): void {
  const p = pendingOf(reply.request)!
  // reply-from wraps undici's error (cause); an upstream status Fastify cannot send is its own Bad Gateway.
  const code = (error as { code?: string }).code === 'FST_REPLY_FROM_BAD_GATEWAY'
    ? 'UPSTREAM_BAD_RESPONSE'
    : upstreamFailureCode((error.cause as Error | undefined) ?? error)
  refuse(p, upstreamFailed(p.x, p.container!, p.state.logger, code))
}
