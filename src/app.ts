// buildApp(config): builds the listeners, the runtime and the admin endpoints. Never listens by
// itself: `listen()` does, so tests bind port 0 and read the addresses back. What a config must
// pass first (certificate, stores, keys, references) is src/server/startup.ts, which `tollgate
// check` runs too.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2'
import type { AddressInfo, Server } from 'node:net'
import type { LoadedConfig } from './config/load.js'
import type { Runtime } from './runtime.js'
import { createConnectHandler, createHandler, createUpgradeHandler } from './pipeline.js'
import type { ExchangeRecord, Observer } from './exchange.js'
import { createObserver } from './observability/access.js'
import { createLogger, type Logger } from './observability/logger.js'
import { createMetrics, type Metrics } from './observability/metrics.js'
import { createAdminServer } from './observability/admin.js'
import { trackConnections, type ConnectionTracker } from './server/drain.js'
import { guardConnections } from './server/guards.js'
import { listenOn } from './server/listen.js'
import { createRedirectHandler } from './server/redirect.js'
import type { MasterKeys } from './secrets/index.js'
import { HighWater } from './files/integrity.js'
import { createMemoryCounters } from './limits/store.js'
import { createTunnels } from './websocket/tunnels.js'
import { closeParts, logFindings, startParts, type Parts } from './server/startup.js'

export interface AppOptions {
  logger?: Logger
  env?: NodeJS.ProcessEnv
  /** Extra observers of finished exchanges. */
  sinks?: Array<(x: ExchangeRecord) => void>
  /** Where request, secret, reload and connection metrics go (default: a fresh registry). */
  metrics?: Metrics
  /** Serve server.admin (default true; cluster workers leave it to the primary). */
  admin?: boolean
  /** The master key(s) `tollgate serve` took from its environment (default: read from `env` when needed). */
  masterKeys?: MasterKeys
}

export interface Addresses {
  /** Absent in edge mode (no server.listen.https). */
  https?: AddressInfo
  http?: AddressInfo
  admin?: AddressInfo
}

export interface CloseOptions {
  /**
   * Before the drain, keep accepting and answering (with `Connection: close`) this long, so a load
   * balancer that still sends new connections gets them answered (server.shutdownDelay).
   */
  delayMs?: number
}

export interface App {
  readonly logger: Logger
  readonly metrics: Metrics
  /** The runtime serving new requests now. */
  runtime (): Runtime
  listen (): Promise<Addresses>
  /** Builds a runtime from `config` and swaps it in; on any error the old one keeps serving. */
  reload (config: LoadedConfig): Promise<void>
  /**
   * Turns /readyz to 503 and answers with `Connection: close` for `delayMs`; then stops accepting,
   * drains in-flight requests up to `deadlineMs`, closes idle sockets.
   */
  close (deadlineMs?: number, opts?: CloseOptions): Promise<void>
  readonly ready: boolean
}

type TlsServer = Http2SecureServer | ReturnType<typeof createHttpsServer>

export async function buildApp (config: LoadedConfig, opts: AppOptions = {}): Promise<App> {
  const env = opts.env ?? process.env
  const logger = opts.logger ?? createLogger(config.server.logLevel)
  const metrics = opts.metrics ?? createMetrics()
  // Shared by every config this app loads: the master keys; the generations of the state files seen
  // (a reload can never go back to an older store or keys file than one already served); the memory
  // rate-limit counters (a limit that did not change keeps its counts); the WebSocket tunnel
  // registry (an open tunnel outlives reloads).
  const startup = { env, logger, metrics, masterKeys: opts.masterKeys, highWater: new HighWater(), counters: createMemoryCounters(), tunnels: createTunnels(metrics.tunnelEvents) }
  const started = await startParts(config, startup)
  logFindings(logger, started)
  let current: Runtime = started.runtime
  let parts: Parts = { resolver: started.resolver, authenticator: started.authenticator }
  let draining = false
  let listening = false
  const observer: Observer = createObserver({ logger, accessLog: config.server.accessLog, sinks: [metrics.observe, ...(opts.sinks ?? [])] })
  const getRuntime = (): Runtime => current

  const limits = config.server.limits
  const common = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // Node checks the two timeouts above only every connectionsCheckingInterval (default 30 s).
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(Math.min(limits.headersTimeout, limits.requestTimeout) / 4))),
    // Node's own missing-Host 400 goes on parsing what is pipelined behind it and serves it; the
    // pipeline refuses a missing Host itself and drops the rest of the connection.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false
  }
  // The HTTPS listener; none in edge mode (an edge in front ends TLS and forwards plain HTTP).
  let https: TlsServer | undefined
  const conns: ConnectionTracker[] = []
  if (config.server.listen.https !== undefined && started.tls !== undefined) {
    const tls = { cert: started.tls.cert, key: started.tls.key }
    const httpsHandler = createHandler(getRuntime, observer, 'https')
    const server: TlsServer = config.server.http2
      ? createSecureServer({
        ...tls,
        ...common,
        allowHTTP1: true,
        handshakeTimeout: limits.tlsHandshakeTimeout,
        settings: {
          maxConcurrentStreams: limits.http2MaxConcurrentStreams,
          maxHeaderListSize: limits.maxHeaderSize,
          // RFC 8441: WebSockets over HTTP/2 (extended CONNECT), for containers with websocket: true.
          enableConnectProtocol: config.server.websocket.http2
        },
        maxSessionInvalidFrames: 100,
        maxSessionRejectedStreams: 100,
        unknownProtocolTimeout: limits.tlsHandshakeTimeout
      } as Parameters<typeof createSecureServer>[0], httpsHandler)
      : createHttpsServer({ ...tls, ...common, handshakeTimeout: limits.tlsHandshakeTimeout }, httpsHandler as never)
    if (config.server.http2) {
      // Node 20's createSecureServer({ allowHTTP1 }) ignores the HTTP/1 options above: its HTTP/1.1
      // connections got headersTimeout 60 s, requestTimeout 300 s checked every 30 s, no keep-alive
      // timeout at all, a 16 KiB header limit. Its HTTP/1.1 connection listener reads them from the
      // server object, so they are set there. Idle HTTP/2 sessions are closed (GOAWAY) likewise.
      Object.assign(server, common)
      server.on('session', (session: ServerHttp2Session) => session.setTimeout(limits.keepAliveTimeout, () => session.close()))
    }
    // Node answers an Expect other than 100-continue with 417 and keeps the connection; the pipeline refuses it and closes.
    server.on('checkExpectation', httpsHandler)
    server.on('upgrade', createUpgradeHandler(getRuntime, observer, 'https'))
    if (config.server.http2) server.on('connect', createConnectHandler(getRuntime, observer, 'https'))
    if (limits.maxRequestsPerSocket > 0) (server as unknown as HttpServer).maxRequestsPerSocket = limits.maxRequestsPerSocket
    guardConnections(server as Server, limits, logger)
    server.on('tlsClientError', () => { /* handshake failures and timeouts: the socket is already destroyed */ })
    const tracker = trackConnections(server, { tls: true })
    conns.push(tracker)
    metrics.connections('https', () => tracker.size)
    https = server
  }

  let http: HttpServer | undefined
  if (config.server.listen.http !== undefined) {
    const plain = config.server.httpOption === 'enabled'
      ? createHandler(getRuntime, observer, 'http')
      : createRedirectHandler(getRuntime, observer, () => getRuntime().config.server.redirectPort ?? (https?.address() as AddressInfo | null)?.port ?? config.server.listen.https?.port ?? 443)
    http = createHttpServer({ ...common }, plain as never)
    http.on('checkExpectation', plain)
    // Redirected: an upgrade request is a request like any other (Node serves it through 'request': a 301).
    if (config.server.httpOption === 'enabled') http.on('upgrade', createUpgradeHandler(getRuntime, observer, 'http'))
    if (limits.maxRequestsPerSocket > 0) http.maxRequestsPerSocket = limits.maxRequestsPerSocket
    guardConnections(http, limits, logger)
    const plainConns = trackConnections(http, { tls: false })
    conns.push(plainConns)
    metrics.connections('http', () => plainConns.size)
  }

  let admin: HttpServer | undefined
  if (config.server.admin !== undefined && opts.admin !== false) {
    admin = createAdminServer({
      readiness: () => draining ? 'draining' : listening ? 'ready' : 'starting',
      metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() })
    }, (err) => logger.error({ error: err.message }, 'metrics collection failed'))
  }

  const app: App = {
    logger,
    metrics,
    runtime: getRuntime,
    get ready () { return listening && !draining },
    async listen () {
      const l = config.server.listen
      const out: Addresses = {}
      if (https !== undefined && l.https !== undefined) out.https = await listenOn(https, l.https.host, l.https.port)
      if (http !== undefined && l.http !== undefined) out.http = await listenOn(http, l.http.host, l.http.port)
      if (admin !== undefined && config.server.admin !== undefined) out.admin = await listenOn(admin, config.server.admin.host, config.server.admin.port)
      listening = true
      return out
    },
    async reload (next) {
      try {
        await swap(next)
        metrics.reloaded(true)
      } catch (err) {
        metrics.reloaded(false)
        throw err
      }
    },
    async close (deadlineMs = config.server.drainTimeout, closeOpts = {}) {
      draining = true
      // First, for shutdownDelay: still accepting, every answer says Connection: close (HTTP/2: a
      // GOAWAY), so clients and load balancers move on while nothing is refused.
      const delayMs = closeOpts.delayMs ?? 0
      if (delayMs > 0) {
        for (const c of conns) c.lastCalls()
        await new Promise((resolve) => setTimeout(resolve, delayMs))
      }
      // Then stop accepting; in-flight requests finish (HTTP/1.1 with Connection: close, HTTP/2 after
      // a GOAWAY), a connection accepted but not yet read is served once; idle keep-alive sockets
      // close now. What is left at the deadline is cut.
      for (const c of conns) c.drain()
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs) })
      await Promise.race([Promise.all(conns.map(async (c) => await c.settled())), deadline])
      clearTimeout(timer)
      // WebSocket tunnels run until the deadline, then are cut (their access lines say `shutdown`).
      startup.tunnels.closeAll()
      for (const c of conns) c.destroyAll()
      await current.close()
      await closeParts(parts)
      if (admin !== undefined) {
        admin.closeAllConnections()
        await new Promise<void>((resolve) => admin?.close(() => resolve()))
      }
      logger.flush?.()
    }
  }

  async function swap (next: LoadedConfig): Promise<void> {
    // Everything is checked and built before anything is swapped: a failure keeps the old config.
    const built = await startParts(next, startup)
    logFindings(logger, built)
    const old = current
    const oldParts = parts
    current = built.runtime
    parts = { resolver: built.resolver, authenticator: built.authenticator }
    // Certificates are re-read on every reload: new handshakes get them, open connections keep theirs.
    if (https !== undefined && built.tls !== undefined) {
      ;(https as unknown as { setSecureContext: (o: object) => void }).setSecureContext({ cert: built.tls.cert, key: built.tls.key })
    }
    // Requests that started on the old runtime finish on it; its pools close once they drain.
    old.close().then(async () => await closeParts(oldParts), () => {})
    logger.level = next.server.logLevel
  }
  return app
}
