// `npm run bench`: tollgate against its peers, on loopback, with autocannon.
//
// Every server runs in its own process (one process each, no cluster) and so does every load
// generator run. Rounds are interleaved (each round visits every target, in a rotated order) and the
// figures are medians over rounds; ratios are taken within this one run. Results: a table on stdout,
// bench/results/<stamp>.json (+ latest.json; both kept out of git), bench/results/latest.svg (chart)
// and latest.md.
//
//   npm run bench                               main + scaling + soak + websocket (≈ 9 min on 2 cores)
//   npm run bench -- --only main --rounds 3     a subset (main, scaling, soak), fewer rounds
//   npm run bench -- --profile                  also writes a CPU profile of the main tollgate
//   npm run bench:soak                          the soak alone
//
// Options: --rounds N (5) --duration S (5) --warmup S (3) --connections N (64)
//   --soak-requests N (1000000) --only LIST (main,scaling,soak,websocket) --profile --access-log file|null (file)
//   --upstream JSON  (server.upstream overrides for every tollgate, e.g. '{"client":"undici"}')
//   --targets LIST   (only these target ids, e.g. tollgate-http,bare)
//   --variant JSON   (adds targets tollgate-variant, -variant2, …: the main tollgate with these
//                     server.upstream settings; an object or an array of objects)
//   --compare DIR    (adds target tollgate-compare: the same config served by another built checkout,
//                     e.g. a git worktree of the previous commit, to A/B a code change)
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, statSync, truncateSync, writeFileSync, rmSync, readdirSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { freePort, freePorts, start, startRedisServer, waitForPort, rssOf, cpuMsOf, type Proc } from './lib/procs.js'
import { writePki, writeGatewayConfig, maxLiteralCidrs, CLIENT_HEADERS, SEED_CONDITION, type GatewayShape, type Pki } from './lib/configs.js'
import type { LoadOptions, LoadResult } from './lib/load.js'
import type { WsLoadOptions, WsLoadResult } from './lib/ws-load.js'
import { median, summarize, renderTable, renderSvg, renderMarkdown, type BenchReport, type Sample, type SoakReport, type WebSocketReport } from './lib/report.js'
import { summarizeProfile } from './lib/profile.js'

const here = dirname(fileURLToPath(import.meta.url)) // dist/bench
const root = resolve(here, '..', '..')
const resultsDir = join(root, 'bench', 'results')

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    'soak-requests': { type: 'string', default: '1000000' },
    only: { type: 'string', default: 'main,scaling,soak,websocket' },
    profile: { type: 'boolean', default: false },
    'access-log': { type: 'string', default: 'file' },
    upstream: { type: 'string' },
    targets: { type: 'string' },
    variant: { type: 'string' },
    compare: { type: 'string' }
  }
})
const ROUNDS = Number(args.rounds)
const DURATION = Number(args.duration)
const WARMUP = Number(args.warmup)
const CONNECTIONS = Number(args.connections)
const SOAK_REQUESTS = Number(args['soak-requests'])
const ONLY = new Set(String(args.only).split(','))
const UPSTREAM_OVERRIDES = args.upstream !== undefined ? JSON.parse(args.upstream) as Record<string, unknown> : undefined
const TOKEN = 'bench-container-secret-' + Math.random().toString(36).slice(2)

interface Target {
  id: string
  label: string
  group: 'main' | 'scaling'
  url: string
  proc: Proc
  headers: Record<string, string>
  /** tollgate only: where its stdout (the access log) goes. */
  log?: string
}

const procs: Proc[] = []
let stopping = false

async function stopAll (): Promise<void> {
  stopping = true
  await Promise.allSettled(procs.map(async (p) => await p.stop()))
}
process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)) })

function node (script: string): string {
  return join(here, script)
}

async function startServer (name: string, script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<{ proc: Proc, port: number }> {
  const port = await freePort()
  const proc = start({ name, args: [...nodeArgs, node(script)], env: { ...env, PORT: String(port), BENCH_TOKEN: TOKEN } })
  procs.push(proc)
  await waitForPort(proc, port)
  return { proc, port }
}

interface Tollgate { proc: Proc, http: string, https: string, log: string }

async function startTollgate (name: string, dir: string, pki: Pki, upstreamPort: number, shape: GatewayShape, extraNodeArgs: string[] = [], checkout = root): Promise<Tollgate> {
  const [http, https] = await freePorts(2)
  const cfg = writeGatewayConfig(dir, name, pki, { http, https, upstream: upstreamPort }, { upstream: UPSTREAM_OVERRIDES, ...shape })
  const log = args['access-log'] === 'null' ? '/dev/null' : join(dir, `${name}.access.log`)
  const fd = openSync(log, 'a')
  const proc = start({
    name,
    args: [...extraNodeArgs, '--import', node('lib/clock.js'), join(checkout, 'bin', 'tollgate.js'), 'serve', '--config', cfg.file],
    env: { BENCH_TOKEN: TOKEN },
    stdout: fd
  })
  closeSync(fd)
  procs.push(proc)
  await waitForPort(proc, http)
  await waitForPort(proc, https)
  return { proc, http: `http://127.0.0.1:${http}/hello/bench`, https: `https://localhost:${https}/hello/bench`, log }
}

let caAgent: Agent | undefined

/** One request through the target: it must answer 200 (the upstream checks the injected token). */
async function probe (t: Target): Promise<void> {
  const res = await request(t.url, { headers: t.headers, dispatcher: caAgent })
  const body = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`${t.label}: probe answered ${res.statusCode}: ${body.slice(0, 200)}`)
}

async function runLoad (t: Target, opts: Partial<LoadOptions>, others: Proc[] = []): Promise<Sample> {
  const load: LoadOptions = { url: t.url, connections: CONNECTIONS, headers: t.headers, ...opts }
  const before = [t.proc, ...others].map((p) => cpuMsOf(p.pid))
  const t0 = performance.now()
  const child = spawn(process.execPath, [node('lib/load.js'), JSON.stringify(load)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8') })
  const loadCpu = { ms: 0 }
  const timer = setInterval(() => { if (child.pid !== undefined) { const c = cpuMsOf(child.pid); if (Number.isFinite(c)) loadCpu.ms = c } }, 250)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearInterval(timer)
  const wall = performance.now() - t0
  if (code !== 0) throw new Error(`load generator against ${t.label} exited with ${code}`)
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as LoadResult
  const after = [t.proc, ...others].map((p) => cpuMsOf(p.pid))
  const cpu = after.map((a, i) => Math.round((a - before[i]) / wall * 100))
  const cpuUsPerRequest = Math.round((after[0] - before[0]) * 1000 / Math.max(1, r.requests) * 10) / 10
  let logBytes: number | undefined
  if (t.log !== undefined && t.log !== '/dev/null') {
    await sleep(50)
    logBytes = statSync(t.log).size
    truncateSync(t.log, 0) // keeps the disk bounded; the gateway appends (O_APPEND) from 0 again
  }
  return {
    target: t.id,
    ...r,
    cpu: { target: cpu[0], upstream: cpu[1], load: Math.round(loadCpu.ms / wall * 100) },
    cpuUsPerRequest,
    ...(logBytes !== undefined ? { accessLogBytesPerRequest: Math.round(logBytes / Math.max(1, r.requests)) } : {})
  }
}

function line (s: string): void { process.stdout.write(s + '\n') }

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'))
  line(`tollgate bench — node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  line(`autocannon ${CONNECTIONS} connections; ${ROUNDS} interleaved rounds × ${DURATION} s after a ${WARMUP} s warm-up per target; medians`)
  const pki = writePki(dir)
  caAgent = new Agent({ connect: { ca: readFileSync(pki.ca), servername: 'localhost' } })

  const upstream = await startServer('upstream', 'servers/upstream.js', {})
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const targets: Target[] = []
  const headers = CLIENT_HEADERS
  const report: BenchReport = {
    date: new Date().toISOString(),
    command: 'npm run bench' + (process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    loadavgStart: loadavg(),
    connections: CONNECTIONS,
    rounds: ROUNDS,
    duration: DURATION,
    condition: SEED_CONDITION,
    upstreamOverrides: UPSTREAM_OVERRIDES,
    samples: [],
    targets: []
  }

  const main = ONLY.has('main')
  const scaling = ONLY.has('scaling')
  const profileDir = join(resultsDir, 'profiles')
  if (main || scaling) {
    const tg = await startTollgate('tollgate', dir, pki, upstream.port, { containers: 1, cidrs: 1 },
      args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])
    targets.push({ id: 'tollgate-http', label: 'tollgate, full pipeline, HTTP', group: 'main', url: tg.http, proc: tg.proc, headers, log: tg.log })
    if (main) {
      targets.push({ id: 'tollgate-https', label: 'tollgate, full pipeline, HTTPS', group: 'main', url: tg.https, proc: tg.proc, headers, log: tg.log })
      // The full pipeline with a rate limit that counts every request and never trips: in memory,
      // and in a redis-server of the bench's own (one Redis round trip a request).
      const limited = await startTollgate('tollgate-ratelimit', dir, pki, upstream.port, { containers: 1, cidrs: 1, rateLimit: {} })
      targets.push({ id: 'tollgate-ratelimit', label: 'tollgate + rate limit in memory, HTTP', group: 'main', url: limited.http, proc: limited.proc, headers, log: limited.log })
      const redis = await startRedisServer(dir)
      if (redis !== undefined) {
        procs.push(redis.proc)
        const shared = await startTollgate('tollgate-ratelimit-redis', dir, pki, upstream.port, { containers: 1, cidrs: 1, rateLimit: { redis: redis.url } })
        targets.push({ id: 'tollgate-ratelimit-redis', label: 'tollgate + rate limit in Redis, HTTP', group: 'main', url: shared.http, proc: shared.proc, headers, log: shared.log })
      }
      const bare = await startServer('bare', 'servers/bare.js', { UPSTREAM: upstreamUrl })
      targets.push({ id: 'bare', label: 'bare @fastify/http-proxy', group: 'main', url: `http://127.0.0.1:${bare.port}/hello/bench`, proc: bare.proc, headers })
      // The same gateway config the standalone tollgate runs (its listeners are ignored by the plugin).
      const pluginConfig = writeGatewayConfig(dir, 'plugin', pki, { http: 0, https: 0, upstream: upstream.port }, { upstream: UPSTREAM_OVERRIDES, containers: 1, cidrs: 1 })
      const plugin = await startServer('plugin', 'servers/plugin.js', { CONFIG: pluginConfig.file }, ['--import', node('lib/clock.js')])
      targets.push({ id: 'plugin', label: 'tollgate as a Fastify plugin, full pipeline', group: 'main', url: `http://127.0.0.1:${plugin.port}/hello/bench`, proc: plugin.proc, headers })
      const floor = await startServer('floor', 'servers/floor.js', { UPSTREAM: upstreamUrl })
      targets.push({ id: 'floor', label: 'node:http + undici stream, nothing else', group: 'main', url: `http://127.0.0.1:${floor.port}/hello/bench`, proc: floor.proc, headers })
      const floorClient = await startServer('floor-client', 'servers/floor-client.js', { UPSTREAM: upstreamUrl })
      targets.push({ id: 'floor-client', label: 'node:http + tollgate\'s client, nothing else', group: 'main', url: `http://127.0.0.1:${floorClient.port}/hello/bench`, proc: floorClient.proc, headers })
      const floorNet = await startServer('floor-net', 'servers/floor-net.js', { UPSTREAM: upstreamUrl })
      targets.push({ id: 'floor-net', label: 'node:net + llhttp + tollgate\'s client, nothing else', group: 'main', url: `http://127.0.0.1:${floorNet.port}/hello/bench`, proc: floorNet.proc, headers })
      const hello = await startServer('hello', 'servers/hello.js', {})
      targets.push({ id: 'hello', label: 'node:http hello (no forwarding)', group: 'main', url: `http://127.0.0.1:${hello.port}/hello/bench`, proc: hello.proc, headers })
      targets.push({ id: 'direct', label: 'direct to upstream', group: 'main', url: `${upstreamUrl}/hello/bench`, proc: upstream.proc, headers: { ...headers, 'x-auth-token': TOKEN } })
    }
    if (args.variant !== undefined) {
      const parsed = JSON.parse(args.variant) as Record<string, unknown> | Array<Record<string, unknown>>
      for (const [i, settings] of (Array.isArray(parsed) ? parsed : [parsed]).entries()) {
        const id = `tollgate-variant${i === 0 ? '' : i + 1}`
        const v = await startTollgate(id, dir, pki, upstream.port, { containers: 1, cidrs: 1, upstream: { ...UPSTREAM_OVERRIDES, ...settings } })
        targets.push({ id, label: `tollgate ${JSON.stringify(settings)}`, group: 'main', url: v.http, proc: v.proc, headers, log: v.log })
      }
    }
    if (args.compare !== undefined) {
      const other = await startTollgate('tollgate-compare', dir, pki, upstream.port, { containers: 1, cidrs: 1 }, [], resolve(args.compare))
      targets.push({ id: 'tollgate-compare', label: `tollgate from ${args.compare}`, group: 'main', url: other.http, proc: other.proc, headers, log: other.log })
    }
    if (scaling) {
      const many = await startTollgate('tollgate-1000c', dir, pki, upstream.port, { containers: 1000, cidrs: 1 })
      targets.push({ id: 'tollgate-1000c', label: 'tollgate, 1,000 containers', group: 'scaling', url: many.http, proc: many.proc, headers, log: many.log })
      const literal = maxLiteralCidrs()
      const listOne = await startTollgate('tollgate-literal-cidrs', dir, pki, upstream.port, { containers: 1, cidrs: literal, cidrForm: 'literal' })
      targets.push({ id: 'tollgate-literal-cidrs', label: `tollgate, ${literal} CIDRs in the condition`, group: 'scaling', url: listOne.http, proc: listOne.proc, headers, log: listOne.log })
      const list = await startTollgate('tollgate-10000cidr', dir, pki, upstream.port, { containers: 1, cidrs: 10_000, cidrForm: 'ipLists' })
      targets.push({ id: 'tollgate-10000cidr', label: 'tollgate, 10,000 CIDRs (ipLists)', group: 'scaling', url: list.http, proc: list.proc, headers, log: list.log })
    }
  }

  if (args.targets !== undefined) {
    const keep = new Set(args.targets.split(','))
    targets.splice(0, targets.length, ...targets.filter((t) => keep.has(t.id)))
  }
  for (const t of targets) await probe(t)
  if (targets.length > 0) {
    line('warm-up …')
    for (const t of targets) await runLoad(t, { duration: WARMUP }, [upstream.proc])
  }
  for (let r = 0; r < ROUNDS && targets.length > 0; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length])
    for (const t of order) {
      if (stopping) return
      const s = await runLoad(t, { duration: DURATION }, [upstream.proc])
      s.round = r
      report.samples.push(s)
      const bad = s.non2xx + s.errors + s.timeouts
      line(`round ${r + 1}/${ROUNDS}  ${t.label.padEnd(44)} ${Math.round(s.rps).toString().padStart(7)} rps  p50 ${s.p50} ms  p99 ${s.p99} ms` +
        `  cpu ${s.cpu.target}%/${s.cpu.upstream}%/${s.cpu.load}%${bad > 0 ? `  ${bad} FAILED` : ''}`)
    }
  }
  report.targets = targets.map((t) => ({ id: t.id, label: t.label, group: t.group }))

  if (ONLY.has('soak')) report.soak = await soak(dir, pki, upstream.port)
  if (ONLY.has('websocket') && !stopping) report.websocket = await websocket(dir, pki)

  report.loadavgEnd = loadavg()
  await stopAll()
  if (args.profile) {
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort()
    const last = files.at(-1)
    if (last !== undefined) {
      report.profile = { file: join('bench', 'results', 'profiles', last), ...summarizeProfile(join(profileDir, last)) }
    }
  }
  const summary = summarize(report)
  line('')
  line(renderTable(summary))
  mkdirSync(resultsDir, { recursive: true })
  const stamp = report.date.replace(/[:.]/g, '-')
  const json = JSON.stringify({ ...report, summary }, null, 2)
  writeFileSync(join(resultsDir, `${stamp}.json`), json)
  writeFileSync(join(resultsDir, 'latest.json'), json)
  writeFileSync(join(resultsDir, 'latest.svg'), renderSvg(summary))
  writeFileSync(join(resultsDir, 'latest.md'), renderMarkdown(summary))
  line(`\nsaved bench/results/${stamp}.json, latest.json, latest.svg (chart), latest.md`)
  rmSync(dir, { recursive: true, force: true })
  if (summary.checks.some((c) => c.met === false)) process.exitCode = 1
}

/** A fresh tollgate: warm-up, RSS; ≥ 1M requests with RSS sampled every second; RSS again. */
async function soak (dir: string, pki: Pki, upstreamPort: number): Promise<SoakReport> {
  const tg = await startTollgate('tollgate-soak', dir, pki, upstreamPort, { containers: 1, cidrs: 1 })
  const t: Target = { id: 'soak', label: 'tollgate soak', group: 'main', url: tg.http, proc: tg.proc, headers: CLIENT_HEADERS, log: tg.log }
  await probe(t)
  const settle = async (): Promise<number> => { await sleep(2000); return await rssOf(tg.proc.pid) }
  line(`soak: warm-up 100,000 requests, then ${SOAK_REQUESTS.toLocaleString('en-US')} requests`)
  const warm = await runLoad(t, { amount: 100_000 })
  const rssAfterWarmup = await settle()
  const series: Array<{ s: number, rss: number }> = []
  const t0 = performance.now()
  const sampler = setInterval(() => { rssOf(tg.proc.pid).then((rss) => series.push({ s: Math.round((performance.now() - t0) / 100) / 10, rss }), () => {}) }, 1000)
  // The log file grows during the soak (~1 KB per 4 requests): truncate it while it runs.
  const trimmer = setInterval(() => { try { truncateSync(tg.log, 0) } catch {} }, 5000)
  let run: Sample
  try {
    run = await runLoad(t, { amount: SOAK_REQUESTS })
  } finally {
    clearInterval(sampler)
    clearInterval(trimmer)
  }
  const rssAfterSoak = await settle()
  await tg.proc.stop()
  // One RSS reading lands anywhere on V8's GC sawtooth (±15 % on this gateway under load), so the
  // target is judged on the median of the samples over the first and over the last tenth of the run.
  const tenth = Math.max(1, Math.floor(series.length / 10))
  const median = (xs: number[]): number => { const v = [...xs].sort((a, b) => a - b); return v[Math.floor(v.length / 2)] ?? 0 }
  const rssEarly = median(series.slice(0, tenth).map((p) => p.rss))
  const rssLate = median(series.slice(-tenth).map((p) => p.rss))
  const out: SoakReport = {
    requests: run.requests,
    warmupRequests: warm.requests,
    rps: run.rps,
    p99: run.p99,
    failed: run.non2xx + run.errors + run.timeouts,
    rssAfterWarmup,
    rssAfterSoak,
    growth: rssAfterSoak / rssAfterWarmup - 1,
    rssEarly,
    rssLate,
    windowGrowth: rssLate / rssEarly - 1,
    series
  }
  line(`soak: ${out.requests.toLocaleString('en-US')} requests at ${Math.round(out.rps)} rps, RSS (medians of the first/last tenth) ${mb(rssEarly)} → ${mb(rssLate)} MB (${(out.windowGrowth * 100).toFixed(1)} %); idle readings ${mb(rssAfterWarmup)} → ${mb(rssAfterSoak)} MB`)
  return out
}

/**
 * WebSocket echo: the same load (connections × messages in flight, two message sizes) through
 * tollgate's plain listener (the full pipeline decides the upgrade, then the tunnel pipes) and
 * straight to the echo server, rounds interleaved; medians of messages/s and MB/s.
 */
async function websocket (dir: string, pki: Pki): Promise<WebSocketReport> {
  const echo = await startServer('ws-echo', 'servers/ws-echo.js', {})
  const tg = await startTollgate('tollgate-ws', dir, pki, echo.port, { containers: 1, cidrs: 1, websocket: true })
  const wsTargets = [
    { id: 'tollgate-ws', label: 'tollgate, full pipeline, ws://', url: tg.http.replace(/^http/, 'ws'), headers: CLIENT_HEADERS, proc: tg.proc },
    { id: 'direct-ws', label: 'direct to the echo server', url: `ws://127.0.0.1:${echo.port}/hello/bench`, headers: { ...CLIENT_HEADERS, 'x-auth-token': TOKEN }, proc: echo.proc }
  ].filter((t) => args.targets === undefined || args.targets.split(',').includes(t.id))
  const sizes = [128, 65536]
  const base = { connections: 16, window: 16 }
  const results: Array<{ target: string, size: number, r: WsLoadResult }> = []
  const one = async (t: typeof wsTargets[number], size: number, duration: number): Promise<WsLoadResult> => {
    const o: WsLoadOptions = { ...base, url: t.url, headers: t.headers, size, duration }
    const child = spawn(process.execPath, [node('lib/ws-load.js'), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8') })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    if (code !== 0) throw new Error(`ws load against ${t.label} exited with ${code}`)
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as WsLoadResult
  }
  line(`websocket: warm-up, then ${ROUNDS} rounds × ${DURATION} s per target and message size`)
  for (const t of wsTargets) await one(t, sizes[0], Math.min(WARMUP, 2))
  for (let r = 0; r < ROUNDS; r++) {
    const order = wsTargets.map((_, i) => wsTargets[(i + r) % wsTargets.length])
    for (const t of order) {
      for (const size of sizes) {
        if (stopping) break
        const res = await one(t, size, DURATION)
        results.push({ target: t.id, size, r: res })
        line(`round ${r + 1}/${ROUNDS}  ${t.label.padEnd(34)} ${String(size).padStart(6)} B  ${Math.round(res.mps).toString().padStart(8)} msg/s  ${res.mbps.toFixed(1).padStart(7)} MB/s${res.errors > 0 ? `  ${res.errors} errors` : ''}`)
      }
    }
  }
  await tg.proc.stop()
  await echo.proc.stop()
  const rows = wsTargets.flatMap((t) => sizes.map((size) => {
    const rs = results.filter((x) => x.target === t.id && x.size === size).map((x) => x.r)
    return { target: t.id, label: t.label, size, rounds: rs.length, mps: median(rs.map((x) => x.mps)), mbps: median(rs.map((x) => x.mbps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((n, x) => n + x.errors, 0) }
  }))
  return { ...base, rows }
}

function mb (b: number): string { return (b / 1048576).toFixed(1) }

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  await stopAll()
  process.exitCode = 1
})
