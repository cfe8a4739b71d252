// buildApp(config): builds the listeners, the runtime and the admin endpoints. Never listens by
// itself: `listen()` does, so tests bind port 0 and read the addresses back.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2'
import type { AddressInfo, Server } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { LoadedConfig } from './config/load.js'
import { TollgateError, errnoCode } from './errors.js'
import { buildParts, closeParts, type Runtime, type RuntimeParts } from './runtime.js'
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
import { createMemoryCounters, type MemoryCounters } from './limits/store.js'
import { createTunnels, type Tunnels } from './websocket/tunnels.js'

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

/** What every config this app loads shares: the master keys, and the generations of the state files seen. */
interface Custody { masterKeys: MasterKeys | undefined, highWater: HighWater }

export interface Addresses {
  https: AddressInfo
  http?: AddressInfo
  admin?: AddressInfo
}

export interface App {
  readonly logger: Logger
  readonly metrics: Metrics
  /** The runtime serving new requests now. */
  runtime (): Runtime
  listen (): Promise<Addresses>
  /** Builds a runtime from `config` and swaps it in; on any error the old one keeps serving. */
  reload (config: LoadedConfig): Promise<void>
  /** Stops accepting, drains in-flight requests up to `deadlineMs`, closes idle sockets. */
  close (deadlineMs?: number): Promise<void>
  readonly ready: boolean
}

type TlsServer = Http2SecureServer | ReturnType<typeof createHttpsServer>

export async function buildApp (config: LoadedConfig, opts: AppOptions = {}): Promise<App> {
  const env = opts.env ?? process.env
  const logger = opts.logger ?? createLogger(config.server.logLevel)
  const metrics = opts.metrics ?? createMetrics()
  // Memory rate-limit counters outlive reloads (a limit that did not change keeps its counts).
  const counters = createMemoryCounters()
  // Survives reloads: a reload can never go back to an older store or keys file than one already served.
  const custody: Custody = { masterKeys: opts.masterKeys, highWater: new HighWater() }
  // One tunnel registry for the process: an open WebSocket tunnel outlives reloads.
  const tunnels = createTunnels(metrics.tunnelEvents)
  const { resolver, authenticator, runtime: first } = await instrumentedParts(config, logger, env, metrics, counters, custody, tunnels)
  let current: Runtime = first
  let parts = { resolver, authenticator }
  let draining = false
  let listening = false
  const observer: Observer = createObserver({ logger, accessLog: config.server.accessLog, sinks: [metrics.observe, ...(opts.sinks ?? [])] })
  const getRuntime = (): Runtime => current

  const limits = config.server.limits
  const tls = loadTls(config)
  const httpsHandler = createHandler(getRuntime, observer, 'https')
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
  const https: TlsServer = config.server.http2
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
    Object.assign(https, common)
    https.on('session', (session: ServerHttp2Session) => session.setTimeout(limits.keepAliveTimeout, () => session.close()))
  }
  // Node answers an Expect other than 100-continue with 417 and keeps the connection; the pipeline refuses it and closes.
  https.on('checkExpectation', httpsHandler)
  https.on('upgrade', createUpgradeHandler(getRuntime, observer, 'https'))
  if (config.server.http2) https.on('connect', createConnectHandler(getRuntime, observer, 'https'))
  if (limits.maxRequestsPerSocket > 0) (https as unknown as HttpServer).maxRequestsPerSocket = limits.maxRequestsPerSocket
  guardConnections(https as Server, limits, logger)
  https.on('tlsClientError', () => { /* handshake failures and timeouts: the socket is already destroyed */ })
  const conns: ConnectionTracker[] = [trackConnections(https, { tls: true })]
  metrics.connections('https', () => conns[0].size)

  let http: HttpServer | undefined
  if (config.server.listen.http !== undefined) {
    const plain = config.server.httpOption === 'enabled'
      ? createHandler(getRuntime, observer, 'http')
      : createRedirectHandler(getRuntime, observer, () => getRuntime().config.server.redirectPort ?? (https.address() as AddressInfo | null)?.port ?? config.server.listen.https.port)
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
      const out: Addresses = { https: await listenOn(https, l.https.host, l.https.port) }
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
    async close (deadlineMs = config.server.drainTimeout) {
      draining = true
      // Stop accepting; in-flight requests finish (HTTP/1.1 with Connection: close, HTTP/2 after a
      // GOAWAY); idle keep-alive sockets close now. What is left at the deadline is cut.
      for (const c of conns) c.drain()
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs) })
      await Promise.race([Promise.all(conns.map(async (c) => await c.settled())), deadline])
      clearTimeout(timer)
      // WebSocket tunnels run until the deadline, then are cut (their access lines say `shutdown`).
      tunnels.closeAll()
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
    // Fail before anything is swapped: unreadable or mismatched certificate and key.
    const nextTls = loadTls(next)
    try {
      createSecureContext(nextTls)
    } catch (err) {
      throw new TollgateError('TG_ERR_TLS', `server.tls: ${(err as Error).message}`)
    }
    const built = await instrumentedParts(next, logger, env, metrics, counters, custody, tunnels)
    const old = current
    const oldParts = parts
    current = built.runtime
    parts = { resolver: built.resolver, authenticator: built.authenticator }
    // Certificates are re-read on every reload: new handshakes get them, open connections keep theirs.
    ;(https as unknown as { setSecureContext: (o: object) => void }).setSecureContext(nextTls)
    // Requests that started on the old runtime finish on it; its pools close once they drain.
    old.close().then(async () => await closeParts(oldParts), () => {})
    logger.level = next.server.logLevel
  }
  return app
}

async function instrumentedParts (config: LoadedConfig, logger: Logger, env: NodeJS.ProcessEnv, metrics: Metrics, counters: MemoryCounters, custody: Custody, tunnels: Tunnels): Promise<RuntimeParts> {
  const parts = await buildParts(config, {
    logger,
    env,
    masterKeys: custody.masterKeys,
    highWater: custody.highWater,
    events: metrics.secretEvents,
    rateLimits: { memory: counters, events: metrics.rateLimitEvents },
    tunnels
  })
  metrics.instrument(parts.runtime)
  return parts
}

function loadTls (config: LoadedConfig): { cert: Buffer, key: Buffer } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file)
    } catch (err) {
      throw new TollgateError('TG_ERR_TLS', `server.tls.${what}: cannot read ${file}: ${errnoCode(err)}`)
    }
  }
  return { cert: read(config.server.tls.cert, 'cert'), key: read(config.server.tls.key, 'key') }
}
