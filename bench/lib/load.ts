// The load generator, in its own process: autocannon's programmatic API, one run, the summary
// printed as one JSON line on stdout. The orchestrator (run.ts) spawns one of these per measurement.
//
//   node dist/bench/lib/load.js '{"url":"http://127.0.0.1:8080/hello","connections":64,"duration":5}'
import { createRequire } from 'node:module'

export interface LoadOptions {
  url: string
  connections: number
  /** Seconds; ignored when `amount` is set. */
  duration?: number
  /** Total requests; the run stops after them. */
  amount?: number
  pipelining?: number
  headers?: Record<string, string>
  /** Paths cycled through, one request each (default: the URL's own). */
  paths?: string[]
}

export interface LoadResult {
  url: string
  connections: number
  seconds: number
  requests: number
  /** Requests per second over the whole run (2xx + non-2xx). */
  rps: number
  /** Latency percentiles, ms. */
  p50: number
  p90: number
  p99: number
  max: number
  non2xx: number
  errors: number
  timeouts: number
}

interface AutocannonResult {
  duration: number
  requests: { total: number }
  latency: { p50: number, p90: number, p99: number, max: number }
  non2xx: number
  errors: number
  timeouts: number
  '2xx': number
}

const require = createRequire(import.meta.url)
const autocannon = require('autocannon') as (opts: object) => Promise<AutocannonResult>

async function main (): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as LoadOptions
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    pipelining: o.pipelining ?? 1,
    ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.duration ?? 5 }),
    headers: o.headers ?? {},
    ...(o.paths !== undefined ? { requests: o.paths.map((path) => ({ path })) } : {}),
    timeout: 10,
    // Only a short-lived tool: no progress bar, no render, no result table.
    renderProgressBar: false,
    renderResultsTable: false,
    renderLatencyTable: false
  })
  const out: LoadResult = {
    url: o.url,
    connections: o.connections,
    seconds: r.duration,
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
