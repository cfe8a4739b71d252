// A loopback autocannon run with the details the reload and drain tests need: every response's
// status as it arrives, and every connection error with its code and time.
import { createRequire } from 'node:module'

export interface LoadResult {
  /** autocannon's own counters. */
  non2xx: number
  errors: number
  timeouts: number
  ok: number
  /** Responses by status, as they arrived. */
  statuses: Map<number, number>
  /** Connection errors: code and when (ms since the start). */
  connErrors: Array<{ code: string, at: number }>
  /** Times (ms since the start) of every 2xx response. */
  okTimes: number[]
}

export interface LoadRun {
  /** Resolves when the run is over (duration reached, or `stop()`). */
  done: Promise<LoadResult>
  stop (): void
  readonly startedAt: number
}

interface Instance {
  on (event: 'response', fn: (client: unknown, status: number) => void): void
  on (event: 'reqError', fn: (err: Error & { code?: string }) => void): void
  stop (): void
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: Record<string, any>) => void) => Instance

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

export function load (opts: { url: string, connections: number, durationS: number, timeoutS?: number }): LoadRun {
  const startedAt = Date.now()
  const statuses = new Map<number, number>()
  const connErrors: LoadResult['connErrors'] = []
  const okTimes: number[] = []
  let instance: Instance | undefined
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = autocannon({
      url: opts.url,
      connections: opts.connections,
      duration: opts.durationS,
      timeout: opts.timeoutS ?? 10
    }, (err, res) => {
      if (err !== null) return reject(err)
      resolve({ non2xx: res.non2xx, errors: res.errors, timeouts: res.timeouts, ok: res['2xx'], statuses, connErrors, okTimes })
    })
    instance.on('response', (_c, status) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status >= 200 && status < 300) okTimes.push(Date.now() - startedAt)
    })
    instance.on('reqError', (err) => { connErrors.push({ code: err.code ?? err.message, at: Date.now() - startedAt }) })
  })
  return { done, startedAt, stop: () => instance?.stop() }
}
