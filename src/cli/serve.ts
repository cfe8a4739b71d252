// `tollgate serve --config FILE [--workers N|auto] [--port-from-env]`: run the gateway in the
// foreground. SIGHUP reloads the config (a failing reload keeps the old config serving, logged and
// counted); SIGTERM/SIGINT drain, then exit 0.
//
// One process by default. With more than one worker the process becomes a node:cluster primary
// (src/server/cluster.ts) that owns the admin listener and supervises workers; each worker runs this
// same command and lands in `runGateway` with `worker: true`.
import cluster from 'node:cluster'
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client'
import { buildApp } from '../app.js'
import { loadConfig, type LoadedConfig } from '../config/load.js'
import { ConfigError, TollgateError } from '../errors.js'
import { createLogger, type Logger } from '../observability/logger.js'
import { createMetrics } from '../observability/metrics.js'
import { availableCpus, masterKeysFromPrimary, runPrimary, WORKER_READY } from '../server/cluster.js'
import { MasterKeys } from '../secrets/custody.js'
import { clientKind } from '../proxy/transport.js'
import { oneLine, parseFlags, usage, type Io } from './io.js'

export const SERVE_USAGE = `usage: tollgate serve --config FILE [--workers N|auto] [--port-from-env]
  run the gateway in the foreground: SIGHUP reloads the config, SIGTERM drains then exits 0
  --workers N|auto   worker processes (default server.workers, else 1)
  --port-from-env    the plain listener binds $PORT (Scaleway Serverless Containers, Cloud Run, Knative)`

export async function serve (args: string[], io: Io): Promise<number> {
  // SIGHUP's default action ends the process: while starting and while draining, a reload request
  // is ignored instead (the config is read at start anyway).
  process.on('SIGHUP', ignore)
  if (!cluster.isWorker) return await start(args, io)
  try {
    return await start(args, io)
  } finally {
    // A worker's IPC channel would keep it alive after it stopped (or failed to start): let go.
    if (process.connected) process.disconnect()
  }
}

async function start (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    config: { type: 'string' },
    workers: { type: 'string' },
    'port-from-env': { type: 'boolean' }
  }, SERVE_USAGE)
  if (values.config === undefined) throw usage('serve needs --config FILE')
  const file = values.config
  const portFromEnv = values['port-from-env'] === true
  // The master key is taken out of the environment before anything else reads it (config
  // interpolation, `${env:…}` references, workers forked from here); workers get it over IPC.
  const warnings: string[] = []
  const masterKeys = MasterKeys.take(io.env, {
    warn: cluster.isWorker ? undefined : (m) => warnings.push(m),
    transfer: cluster.isWorker ? await masterKeysFromPrimary() : undefined
  })
  const load = async (): Promise<LoadedConfig> => withPortFromEnv(await loadConfig(file, io.env), portFromEnv ? io.env.PORT : undefined)
  const config = await load()

  if (cluster.isWorker) return await runGateway(config, load, io, true, masterKeys, [])
  const workers = workerCount(values.workers ?? config.server.workers)
  if (workers > 1) {
    const logger = createLogger(config.server.logLevel)
    for (const w of warnings) logger.warn({}, w)
    return await runPrimary({ config, workers, logger, env: io.env, args: ['serve', ...args], masterKeys })
  }
  return await runGateway(config, load, io, false, masterKeys, warnings)
}

function ignore (): void {}

/** --workers / server.workers: a number, or "auto" (the CPUs this process may use). Default 1. */
export function workerCount (v: string | number | undefined): number {
  if (v === undefined) return 1
  if (v === 'auto') return availableCpus()
  const n = typeof v === 'number' ? v : /^\d{1,3}$/.test(v) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 256) throw usage(`--workers: expected 1-256 or "auto", got ${JSON.stringify(v)}`)
  return n
}

/**
 * --port-from-env: when PORT is set (Scaleway Serverless Containers, Cloud Run, Knative…), the plain
 * listener binds $PORT, on server.listen.http.host when the config has a plain listener, else on
 * 0.0.0.0. The platform's edge terminates TLS and forwards plain HTTP, so the config must say
 * `httpOption: enabled` (a redirect there would loop). Without PORT: the config as written.
 */
export function withPortFromEnv (config: LoadedConfig, port: string | undefined): LoadedConfig {
  if (port === undefined || port === '') return config
  const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN
  if (!(n >= 1 && n <= 65535)) throw usage(`PORT: expected a port number, got ${JSON.stringify(port)}`)
  if (config.server.httpOption !== 'enabled') {
    throw new ConfigError('server.httpOption', 'must be "enabled" with --port-from-env: the platform terminates TLS and forwards plain HTTP to $PORT')
  }
  if (config.server.admin?.port === n || config.server.listen.https?.port === n) {
    throw new ConfigError(config.server.admin?.port === n ? 'server.admin.port' : 'server.listen.https.port', `must differ from PORT (${n})`)
  }
  const host = config.server.listen.http?.host ?? '0.0.0.0'
  const server = { ...config.server, listen: { ...config.server.listen, http: { host, port: n } } }
  return Object.freeze({ ...config, server: Object.freeze(server) }) as LoadedConfig
}

/** One gateway process: the whole gateway, or one cluster worker (no admin listener, signals from the primary). */
async function runGateway (config: LoadedConfig, load: () => Promise<LoadedConfig>, io: Io, worker: boolean, masterKeys: MasterKeys, warnings: string[]): Promise<number> {
  let logger: Logger = createLogger(config.server.logLevel)
  for (const w of warnings) logger.warn({}, w)
  let registry: AggregatorRegistry<PrometheusContentType> | undefined
  if (worker) {
    logger = logger.child({ worker: cluster.worker?.id })
    // The primary asks each worker for its registry and aggregates them (AggregatorRegistry).
    registry = new AggregatorRegistry<PrometheusContentType>()
    AggregatorRegistry.setRegistries([registry])
  }
  const metrics = createMetrics({ defaultMetrics: true, registry })
  const app = await buildApp(config, { env: io.env, logger, metrics, admin: !worker, masterKeys })
  const addr = await app.listen()
  logger.info({ https: addr.https, http: addr.http, admin: addr.admin, containers: Object.keys(config.containers), upstreamClient: clientKind(config.server.upstream) }, 'tollgate listening')
  logger.flush()
  if (worker) process.send?.({ type: WORKER_READY })

  let serving = config
  let reloading: Promise<void> = Promise.resolve()
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      const failed = (err: unknown): void => {
        logger.error({ file: config.file, error: oneLine(err), code: (err as TollgateError).code }, 'config reload failed; the previous config keeps serving')
      }
      let next: LoadedConfig
      try {
        next = await load()
      } catch (err) {
        metrics.reloaded(false) // app.reload counts the failures past this point itself
        return failed(err)
      }
      try {
        await app.reload(next)
      } catch (err) {
        return failed(err)
      }
      const stale = restartOnly(serving, next)
      serving = next
      logger.info({ file: config.file, containers: Object.keys(next.containers) }, 'config reloaded')
      if (stale.length > 0) logger.warn({ fields: stale }, 'these settings apply at the next restart only')
    })
  }
  process.on('SIGHUP', onHup)
  return await new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      process.off('SIGHUP', onHup)
      const delayMs = serving.server.shutdownDelay
      logger.info({ signal, shutdownDelayMs: delayMs, deadlineMs: serving.server.drainTimeout }, delayMs > 0 ? 'shutting down: answering with Connection: close, then draining' : 'draining')
      logger.flush()
      app.close(serving.server.drainTimeout, { delayMs }).then(() => {
        logger.info({ signal }, 'drained; exiting')
        logger.flush()
        resolve(0)
      }, (err) => {
        io.stderr.write(`tollgate: ${oneLine(err)}\n`)
        resolve(1)
      })
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    // A worker whose primary is gone drains and exits rather than serving unsupervised.
    if (worker) process.once('disconnect', () => stop('disconnect'))
  })
}

/** Settings read once at start (listeners, admin, limits, workers…) that a reload cannot change. */
function restartOnly (a: LoadedConfig, b: LoadedConfig): string[] {
  const out: string[] = []
  for (const key of ['listen', 'admin', 'http2', 'limits', 'workers', 'accessLog', 'httpOption'] as const) {
    if (JSON.stringify(a.server[key]) !== JSON.stringify(b.server[key])) out.push(`server.${key}`)
  }
  return out
}
