// Prometheus metrics (prom-client registry, served on the admin listener at /metrics).
//
// The hot path is one `observe(x)` per finished request, called by the Observer. It allocates
// nothing: per-request series live in small preallocated cells (counters are numbers, histograms
// are bucket arrays), found through one Map lookup by container name and an array index by reason
// and status class. prom-client only sees them at scrape time, through the `get()` of the two small
// families below, so exposition, registries and cluster aggregation (AggregatorRegistry) work as
// for any prom-client metric. Every label value comes from a small fixed set: container names from
// config, reason ids from src/errors.ts, status classes, secret references as written in config.
import { Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { REASONS } from '../errors.js'
import type { ExchangeRecord } from '../exchange.js'
import type { Runtime, ContainerRuntime } from '../runtime.js'
import type { ContainerPolicy } from '../policy/index.js'
import type { SecretEvents } from '../secrets/index.js'
import type { RateLimitEvents } from '../limits/store.js'
import type { TunnelEvents } from '../websocket/tunnels.js'
import { packageVersion } from '../version.js'

/** Label value for requests no container matched (or refused before routing). Not a valid container name. */
export const NO_CONTAINER = '-'

const REASON_IDS = Object.keys(REASONS)
const REASON_INDEX: Record<string, number> = Object.create(null)
REASON_IDS.forEach((r, i) => { REASON_INDEX[r] = i })
const OTHER_REASON = REASON_IDS.length
const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx']
const UPSTREAM_REASONS = ['upstream_unreachable', 'upstream_bad_response', 'upstream_timeout', 'upstream_rejected_token']

/** Seconds. Whole request and upstream (time to the upstream's response headers). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Seconds. A compiled CEL condition runs in microseconds. */
export const POLICY_BUCKETS = [0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005]

type Labels = Record<string, string>

export interface CounterCell { readonly labels: Labels, value: number }
export interface HistogramCell { readonly labels: Labels, readonly counts: Float64Array, sum: number, count: number }

function labelsOf (names: readonly string[], values: readonly string[]): Labels {
  const labels: Labels = {}
  names.forEach((n, i) => { labels[n] = values[i] })
  return labels
}

/** A counter family whose cells are plain numbers; prom-client reads them through `get()`. */
class CounterFamily {
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #cells = new Map<string, CounterCell>()
  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  cell (...values: string[]): CounterCell {
    const key = values.join('\u0000')
    let c = this.#cells.get(key)
    if (c === undefined) {
      c = { labels: labelsOf(this.labelNames, values), value: 0 }
      this.#cells.set(key, c)
    }
    return c
  }

  async get (): Promise<object> {
    const values = [...this.#cells.values()].map((c) => ({ labels: c.labels, value: c.value }))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void { for (const c of this.#cells.values()) c.value = 0 }
}

/** A histogram family with non-cumulative bucket counts per cell; cumulated at scrape time. */
class HistogramFamily {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #cells = new Map<string, HistogramCell>()
  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly string[], readonly bounds: readonly number[]) {}

  cell (...values: string[]): HistogramCell {
    const key = values.join('\u0000')
    let c = this.#cells.get(key)
    if (c === undefined) {
      c = { labels: labelsOf(this.labelNames, values), counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }
      this.#cells.set(key, c)
    }
    return c
  }

  async get (): Promise<object> {
    const values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> = []
    for (const c of this.#cells.values()) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += c.counts[i]
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le }, value: acc })
      })
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: '+Inf' }, value: c.count })
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum })
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    for (const c of this.#cells.values()) { c.counts.fill(0); c.sum = 0; c.count = 0 }
  }
}

function observeIn (bounds: readonly number[], c: HistogramCell, v: number): void {
  let i = 0
  while (i < bounds.length && v > bounds[i]) i++
  c.counts[i]++
  c.sum += v
  c.count++
}

/** The cells of one container, created once (first request or first runtime naming it). */
interface ContainerCells {
  readonly name: string
  /** Indexed by reasonIndex * 6 + statusClassIndex; filled on first use. */
  readonly requests: Array<CounterCell | undefined>
  readonly duration: HistogramCell
  readonly upstream: HistogramCell
  readonly policy: HistogramCell
  readonly upstreamErrors: Record<string, CounterCell>
}

export interface Metrics {
  readonly registry: Registry
  /** Observer sink: called once per finished request. */
  observe (x: ExchangeRecord): void
  /** Hooks for the secret resolver (refreshes, failures, rotations). */
  readonly secretEvents: SecretEvents
  /** Hooks for the rate-limit store (failed calls: requests let through). */
  readonly rateLimitEvents: RateLimitEvents
  /** Hooks for WebSocket tunnels (open, closed by cause, bytes each way). */
  readonly tunnelEvents: TunnelEvents
  /** A config reload finished (ok) or was refused (the old config keeps serving). */
  reloaded (ok: boolean): void
  /** Called on every new Runtime: precreates its series and times its policy evaluations. */
  instrument (rt: Runtime): void
  /** Reports a listener's open connections at scrape time. */
  connections (listener: string, count: () => number): void
  /** Prometheus text exposition. */
  text (): Promise<string>
  readonly contentType: string
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics (once per process: the CLI turns them on, tests leave them off). */
  defaultMetrics?: boolean
  /** Registry to fill (a cluster worker passes the one it hands to AggregatorRegistry). */
  registry?: Registry
}

export function createMetrics (opts: MetricsOptions = {}): Metrics {
  const registry = opts.registry ?? new Registry()
  const register = (m: CounterFamily | HistogramFamily): void => registry.registerMetric(m as unknown as Metric)

  const requests = new CounterFamily('tollgate_requests_total',
    'Finished requests by container ("-" when none matched), status class and decision reason id.', ['container', 'status_class', 'reason'])
  const duration = new HistogramFamily('tollgate_request_duration_seconds',
    'Whole request: from the request to the end of the response (or the client going away).', ['container'], LATENCY_BUCKETS)
  const upstream = new HistogramFamily('tollgate_upstream_duration_seconds',
    'Upstream: from sending the request to the container to its response headers (or the failure).', ['container'], LATENCY_BUCKETS)
  const policy = new HistogramFamily('tollgate_policy_evaluation_seconds',
    'Policy decision time per request (rules and CEL conditions).', ['container'], POLICY_BUCKETS)
  const upstreamErrors = new CounterFamily('tollgate_upstream_errors_total',
    'Requests the upstream failed: upstream_unreachable (502), upstream_bad_response (502), upstream_timeout (504), upstream_rejected_token (the container answered 401/403 to its own token).', ['container', 'reason'])
  const secretRefreshes = new CounterFamily('tollgate_secret_refreshes_total',
    'Secret fetches from their source by reference (as written in config) and outcome; on failure the last good value is served.', ['secret', 'outcome'])
  const secretRotations = new CounterFamily('tollgate_secret_rotations_total',
    'Secret values that changed after the first resolution, by reference.', ['secret'])
  const reloads = new CounterFamily('tollgate_config_reloads_total',
    'Config reloads (SIGHUP) by outcome; on failure the previous config keeps serving.', ['outcome'])
  const rateLimited = new CounterFamily('tollgate_rate_limited_total',
    'Requests answered 429 by container and rate limit (its name in config).', ['container', 'limit'])
  const rateLimitStoreErrors = new CounterFamily('tollgate_rate_limit_store_errors_total',
    'Rate-limit counter calls to Redis that failed or timed out; each let its request through without that limit (fail open).', [])
  const refusals = new CounterFamily('tollgate_state_refusals_total',
    'A secret store or keys file refused (rollback, other_store, tampered, downgrade, unreadable); the last good copy keeps serving.', ['file', 'reason'])
  const REFUSAL_REASONS = ['rollback', 'other_store', 'tampered', 'downgrade', 'unreadable']
  const tunnelBytes = new CounterFamily('tollgate_websocket_bytes_total',
    'Bytes through WebSocket tunnels, counted as they pass: direction "in" (client to container) and "out" (container to client).', ['container', 'direction'])
  const tunnelsClosed = new CounterFamily('tollgate_websocket_tunnels_closed_total',
    'WebSocket tunnels closed, by who or what closed them first: client, upstream, idle, shutdown.', ['container', 'cause'])
  for (const m of [requests, duration, upstream, policy, upstreamErrors, secretRefreshes, secretRotations, reloads, rateLimited, rateLimitStoreErrors, refusals, tunnelBytes, tunnelsClosed]) register(m)
  const storeErrors = rateLimitStoreErrors.cell()
  const reloadOk = reloads.cell('success')
  const reloadFailed = reloads.cell('failure')

  let lastReloadOk = 1
  let lastReloadAt = Date.now() / 1000
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_config_last_reload_successful',
    help: 'Whether the last config reload succeeded (1) or was refused (0).',
    registers: [registry],
    aggregator: 'min',
    collect () { this.set(lastReloadOk) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_config_last_reload_success_timestamp_seconds',
    help: 'When the serving config was loaded (start or last successful reload), Unix seconds.',
    registers: [registry],
    aggregator: 'max',
    collect () { this.set(lastReloadAt) }
  })
  const generations = new Map<string, number>()
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_state_generation',
    help: 'Generation of the secret store / keys file served (0: format version 1). A drop across restarts is a restored older file.',
    labelNames: ['file'],
    registers: [registry],
    aggregator: 'min',
    collect () { for (const [file, n] of generations) this.set({ file }, n) }
  })
  const openTunnels = new Map<string, number>()
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_websocket_tunnels',
    help: 'Open WebSocket tunnels by container.',
    labelNames: ['container'],
    registers: [registry],
    collect () { for (const [container, n] of openTunnels) this.set({ container }, n) }
  })
  const sources = new Map<string, number>()
  const sourceFailures = new CounterFamily('tollgate_state_source_failures_total',
    'Checks of a secret store or keys file kept in Scaleway Secret Manager that could not read it; the last good copy keeps serving.', ['file'])
  register(sourceFailures)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_state_source_up',
    help: 'Whether the last check of a secret store or keys file kept in Scaleway Secret Manager could read it (1) or not (0: the last good copy serves).',
    labelNames: ['file'],
    registers: [registry],
    aggregator: 'min',
    collect () { for (const [file, up] of sources) this.set({ file }, up) }
  })
  const listeners = new Map<string, () => number>()
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_open_connections',
    help: 'Open client connections by public listener.',
    labelNames: ['listener'],
    registers: [registry],
    collect () { for (const [listener, count] of listeners) this.set({ listener }, count()) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'tollgate_build_info',
    help: 'Always 1; labels carry the tollgate and Node.js versions.',
    labelNames: ['version', 'node'],
    registers: [registry],
    aggregator: 'first',
    collect () { this.set({ version: packageVersion(), node: process.version }, 1) }
  })
  if (opts.defaultMetrics === true) collectDefaultMetrics({ register: registry })

  const byContainer = new Map<string, ContainerCells>()
  const cellsFor = (name: string): ContainerCells => {
    let c = byContainer.get(name)
    if (c === undefined) {
      const errors: Record<string, CounterCell> = {}
      if (name !== NO_CONTAINER) for (const r of UPSTREAM_REASONS) errors[r] = upstreamErrors.cell(name, r)
      c = {
        name,
        requests: new Array((REASON_IDS.length + 1) * STATUS_CLASSES.length),
        duration: duration.cell(name),
        upstream: upstream.cell(name),
        policy: policy.cell(name),
        upstreamErrors: errors
      }
      byContainer.set(name, c)
    }
    return c
  }
  const requestCell = (c: ContainerCells, reason: number, cls: number): CounterCell => {
    const i = reason * STATUS_CLASSES.length + cls
    let cell = c.requests[i]
    if (cell === undefined) {
      cell = requests.cell(c.name, STATUS_CLASSES[cls], reason === OTHER_REASON ? 'other' : REASON_IDS[reason])
      c.requests[i] = cell
    }
    return cell
  }
  const secretCells = (ref: string): void => {
    secretRefreshes.cell(ref, 'success')
    secretRefreshes.cell(ref, 'failure')
    secretRotations.cell(ref)
  }

  return {
    registry,
    contentType: registry.contentType,
    observe (x) {
      const c = cellsFor(x.container ?? NO_CONTAINER)
      const reason = REASON_INDEX[x.reason] ?? OTHER_REASON
      // A client that left got no status of its own (the access line's 499 is nginx's convention).
      const cls = x.reason !== 'client_closed' && x.status >= 100 && x.status < 600 ? (x.status / 100) | 0 : 0
      requestCell(c, reason, cls).value++
      const end = performance.now()
      // A tunnel's lifetime is not a request's latency (its bytes and close cause have their own series).
      if (x.tunnel === undefined) observeIn(LATENCY_BUCKETS, c.duration, (end - x.start) / 1000)
      if (x.upstreamStart > 0) observeIn(LATENCY_BUCKETS, c.upstream, ((x.upstreamEnd > 0 ? x.upstreamEnd : end) - x.upstreamStart) / 1000)
      const err = c.upstreamErrors[x.reason]
      if (err !== undefined) err.value++
      else if (x.limit !== undefined) rateLimited.cell(c.name, x.limit).value++
    },
    secretEvents: {
      refreshed (ref) { secretRefreshes.cell(ref, 'success').value++ },
      refreshFailed (ref) { secretRefreshes.cell(ref, 'failure').value++ },
      rotated (ref) { secretRotations.cell(ref).value++ },
      refused (file, reason) { refusals.cell(file, reason).value++ },
      generation (file, n) { generations.set(file, n) },
      sourceStatus (file, ok) {
        sources.set(file, ok ? 1 : 0)
        if (!ok) sourceFailures.cell(file).value++
      }
    },
    rateLimitEvents: {
      storeFailed () { storeErrors.value++ }
    },
    tunnelEvents: {
      counters: (container) => ({ in: tunnelBytes.cell(container, 'in'), out: tunnelBytes.cell(container, 'out') }),
      opened (container) { openTunnels.set(container, (openTunnels.get(container) ?? 0) + 1) },
      closed (container, cause) {
        openTunnels.set(container, (openTunnels.get(container) ?? 1) - 1)
        tunnelsClosed.cell(container, cause).value++
      }
    },
    reloaded (ok) {
      if (ok) {
        reloadOk.value++
        lastReloadOk = 1
        lastReloadAt = Date.now() / 1000
      } else {
        reloadFailed.value++
        lastReloadOk = 0
      }
    },
    instrument (rt) {
      const files = [rt.config.secrets?.store !== undefined && 'secrets.store', rt.config.credentials?.keys !== undefined && 'credentials.keys']
      for (const file of files) if (file !== false) for (const reason of REFUSAL_REASONS) refusals.cell(file, reason)
      for (const container of rt.containers) {
        const c = cellsFor(container.name)
        requestCell(c, REASON_INDEX.allowed, 2)
        requestCell(c, REASON_INDEX.policy_denied, 4)
        secretCells(container.token.ref)
        timePolicy(container, c.policy)
        for (const l of [...(container.limits?.early ?? []), ...(container.limits?.late ?? [])]) rateLimited.cell(container.name, l.name)
        if (container.websocket) {
          if (!openTunnels.has(container.name)) openTunnels.set(container.name, 0)
          tunnelBytes.cell(container.name, 'in')
          tunnelBytes.cell(container.name, 'out')
        }
      }
    },
    connections (listener, count) { listeners.set(listener, count) },
    async text () { return await registry.metrics() }
  }
}

/** Wraps a container's policy so each decision is timed into `cell` (two clock reads, one bucket walk). */
function timePolicy (container: ContainerRuntime, cell: HistogramCell): void {
  const inner: ContainerPolicy = container.policy
  const timed: ContainerPolicy = {
    rules: inner.rules,
    explain: (facts, principal) => inner.explain(facts, principal),
    decide (facts, principal) {
      const t = performance.now()
      try {
        return inner.decide(facts, principal)
      } finally {
        observeIn(POLICY_BUCKETS, cell, (performance.now() - t) / 1000)
      }
    }
  }
  ;(container as { policy: ContainerPolicy }).policy = timed
}
