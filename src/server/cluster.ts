// `tollgate serve --workers N`: a node:cluster primary in front of N gateway workers.
//
// - The workers share the public listeners (the primary accepts and hands connections out
//   round-robin); each worker loads the config, resolves its secrets and serves on its own.
// - The primary owns the admin listener: /healthz (the primary is alive), /readyz (at least one
//   worker serving, 503 while draining), /metrics (every worker's registry summed by prom-client's
//   AggregatorRegistry, plus the primary's own worker metrics).
// - Startup: one worker first (a bad config or an unreachable secret fails once, with one error),
//   then the others. A worker that fails before the cluster was ever ready stops the whole start.
// - Supervision: a worker that exits unasked is restarted with exponential backoff (reset once a
//   worker has run for a while).
// - SIGHUP is passed to every serving worker (each reloads; a failure keeps its old config).
//   SIGTERM/SIGINT: /readyz turns 503, every worker answers with Connection: close for
//   server.shutdownDelay, then drains (up to server.drainTimeout), then the primary exits 0. A
//   worker still there 5 s after the deadline is killed.
import cluster, { type Worker } from 'node:cluster'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { Server } from 'node:http'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { LoadedConfig } from '../config/load.js'
import type { Logger } from '../observability/logger.js'
import { createAdminServer } from '../observability/admin.js'
import { listenOn } from './listen.js'
import type { MasterKeys, MasterKeysTransfer } from '../secrets/custody.js'

/** IPC message a worker sends once its listeners are bound. */
export const WORKER_READY = 'tollgate:ready'
/** IPC: a starting worker asks for the master keys, the primary answers with them. */
const NEED_MASTER_KEYS = 'tollgate:need-master-keys'
const MASTER_KEYS = 'tollgate:master-keys'

export interface Backoff {
  /** First restart delay (ms); doubled for each crash in a row. */
  initialMs: number
  maxMs: number
  /** A worker that ran this long before exiting restarts with the initial delay again. */
  stableMs: number
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 30_000, stableMs: 30_000 }

export interface PrimaryOptions {
  config: LoadedConfig
  workers: number
  logger: Logger
  env: NodeJS.ProcessEnv
  /** Arguments each worker runs the CLI with (default: this process's own). */
  args?: string[]
  /** Inline master keys are handed to each worker over IPC, never through its environment. */
  masterKeys?: MasterKeys
  backoff?: Partial<Backoff>
}

interface Slot {
  worker: Worker | undefined
  ready: boolean
  startedAt: number
  crashes: number
  timer: NodeJS.Timeout | undefined
}

/** The CPUs this process may use: os.availableParallelism(), capped by a cgroup CPU quota (containers). */
export function availableCpus (): number {
  const cpus = availableParallelism()
  return Math.max(1, Math.min(cpus, cgroupCpuLimit() ?? cpus))
}

function cgroupCpuLimit (): number | undefined {
  const read = (f: string): string | undefined => {
    try { return readFileSync(f, 'utf8').trim() } catch { return undefined }
  }
  const v2 = read('/sys/fs/cgroup/cpu.max') // "max 100000" or "150000 100000"
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/)
    return quota === 'max' ? undefined : Math.max(1, Math.floor(Number(quota) / Number(period)))
  }
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'))
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'))
  return quota > 0 && period > 0 ? Math.max(1, Math.floor(quota / period)) : undefined
}

export async function runPrimary (opts: PrimaryOptions): Promise<number> {
  const { config, logger } = opts
  const backoff = { ...DEFAULT_BACKOFF, ...opts.backoff }
  if (opts.args !== undefined) cluster.setupPrimary({ args: opts.args })

  const slots: Slot[] = Array.from({ length: opts.workers }, () => ({ worker: undefined, ready: false, startedAt: 0, crashes: 0, timer: undefined }))
  let stopping = false
  let started = false

  // Metrics: the workers' registries, summed; and the primary's own.
  const aggregator = new AggregatorRegistry()
  const own = new Registry()
  const restarts = new Counter({ name: 'tollgate_worker_restarts_total', help: 'Workers restarted after exiting unasked.', registers: [own] })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_workers',
    help: 'Worker processes by state (configured, ready).',
    labelNames: ['state'],
    registers: [own],
    collect () {
      this.set({ state: 'configured' }, slots.length)
      this.set({ state: 'ready' }, slots.filter((s) => s.ready).length)
    }
  })

  let admin: Server | undefined
  if (config.server.admin !== undefined) {
    admin = createAdminServer({
      readiness: () => stopping ? 'draining' : slots.some((s) => s.ready) ? 'ready' : 'starting',
      async metrics () {
        const [workers, mine] = await Promise.all([aggregator.clusterMetrics(), own.metrics()])
        return { contentType: own.contentType, body: workers + mine }
      }
    }, (err) => logger.error({ error: err.message }, 'metrics collection failed'))
    const addr = await listenOn(admin, config.server.admin.host, config.server.admin.port)
    logger.info({ admin: addr, workers: slots.length }, 'tollgate primary: admin listener up, starting workers')
  }

  return await new Promise<number>((resolve) => {
    let exitCode = 0
    let hardStop: NodeJS.Timeout | undefined

    const fork = (slot: Slot): void => {
      slot.ready = false
      slot.startedAt = Date.now()
      const w = cluster.fork(opts.env)
      slot.worker = w
      w.on('message', (m: unknown) => {
        if ((m as { type?: unknown } | null)?.type === NEED_MASTER_KEYS) {
          w.send({ type: MASTER_KEYS, ...opts.masterKeys?.transfer() })
          return
        }
        if ((m as { type?: unknown } | null)?.type !== WORKER_READY || slot.worker !== w) return
        slot.ready = true
        logger.info({ worker: w.id, pid: w.process.pid }, 'worker ready')
        if (!started) {
          const waiting = slots.filter((s) => s.worker === undefined)
          for (const s of waiting) fork(s)
          if (slots.every((s) => s.ready)) {
            started = true
            logger.info({ workers: slots.length }, 'tollgate cluster ready')
          }
        }
        if (stopping) w.process.kill('SIGTERM')
      })
      w.on('exit', (code, signal) => onExit(slot, w, code, signal))
    }

    const onExit = (slot: Slot, w: Worker, code: number | null, signal: string | null): void => {
      if (slot.worker !== w) return
      slot.worker = undefined
      slot.ready = false
      if (stopping) return finishIfDone()
      if (!started) {
        logger.error({ worker: w.id, code, signal }, 'a worker failed to start; stopping')
        exitCode = code !== null && code !== 0 ? code : 1
        return stop('startup failure')
      }
      slot.crashes = Date.now() - slot.startedAt >= backoff.stableMs ? 1 : slot.crashes + 1
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (slot.crashes - 1))
      restarts.inc()
      logger.warn({ worker: w.id, pid: w.process.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it')
      slot.timer = setTimeout(() => {
        slot.timer = undefined
        if (!stopping) fork(slot)
      }, delay)
    }

    const finishIfDone = (): void => {
      if (!stopping || slots.some((s) => s.worker !== undefined)) return
      clearTimeout(hardStop)
      process.off('SIGHUP', onHup)
      const done = (): void => {
        logger.info({ exitCode }, 'tollgate primary: every worker is gone; exiting')
        logger.flush()
        resolve(exitCode)
      }
      if (admin === undefined) return done()
      admin.closeAllConnections()
      admin.close(done)
    }

    const stop = (why: string): void => {
      if (stopping) return
      stopping = true
      logger.info({ signal: why, deadlineMs: config.server.drainTimeout }, 'draining workers')
      for (const s of slots) {
        clearTimeout(s.timer)
        s.timer = undefined
        // A worker still starting gets SIGTERM once it reports ready (its handler is installed then).
        if (s.worker !== undefined && s.ready) s.worker.process.kill('SIGTERM')
      }
      hardStop = setTimeout(() => {
        for (const s of slots) {
          if (s.worker === undefined) continue
          logger.error({ worker: s.worker.id }, 'worker still running past the drain deadline; killing it')
          s.worker.process.kill('SIGKILL')
        }
      }, config.server.shutdownDelay + config.server.drainTimeout + 5000)
      hardStop.unref()
      finishIfDone()
    }

    const onHup = (): void => {
      const ready = slots.filter((s) => s.ready && s.worker !== undefined)
      logger.info({ workers: ready.length }, 'SIGHUP: every serving worker reloads its config')
      for (const s of ready) s.worker?.process.kill('SIGHUP')
    }

    process.on('SIGHUP', onHup)
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    fork(slots[0])
  })
}

/**
 * In a worker: asks the primary for the inline master keys (they are not in a worker's environment).
 * Resolves to nothing after a few seconds without an answer (a worker of an older primary).
 */
export async function masterKeysFromPrimary (timeoutMs = 10_000): Promise<MasterKeysTransfer> {
  if (process.send === undefined) return {}
  return await new Promise((resolve) => {
    const done = (t: MasterKeysTransfer): void => {
      clearTimeout(timer)
      process.off('message', onMessage)
      resolve(t)
    }
    const onMessage = (m: unknown): void => {
      const msg = m as { type?: unknown, current?: unknown, previous?: unknown } | null
      if (msg?.type !== MASTER_KEYS) return
      done({
        current: typeof msg.current === 'string' ? msg.current : undefined,
        previous: typeof msg.previous === 'string' ? msg.previous : undefined
      })
    }
    const timer = setTimeout(() => done({}), timeoutMs)
    process.on('message', onMessage)
    process.send!({ type: NEED_MASTER_KEYS })
  })
}
