// Medians, ratios, the targets of issue 7, and three renderings of one run: a text table (stdout),
// Markdown (bench/results/latest.md) and an SVG chart (bench/results/latest.svg).
import type { LoadResult } from './load.js'
import type { ProfileSummary } from './profile.js'

export interface Sample extends LoadResult {
  target: string
  round?: number
  /** CPU use during the run, % of one core: the server under test, the upstream, the load generator. */
  cpu: { target: number, upstream: number, load: number }
  /** CPU time the server under test spent per request, µs (less sensitive to a busy machine than rps). */
  cpuUsPerRequest: number
  accessLogBytesPerRequest?: number
}

export interface SoakReport {
  requests: number
  warmupRequests: number
  rps: number
  p99: number
  failed: number
  /** Idle readings (2 s after the warm-up, and after the soak): each lands anywhere on V8's GC sawtooth. */
  rssAfterWarmup: number
  rssAfterSoak: number
  growth: number
  /** Median RSS over the first and the last tenth of the soak's samples (under load): what the target is judged on. */
  rssEarly: number
  rssLate: number
  windowGrowth: number
  series: Array<{ s: number, rss: number }>
}

/** WebSocket echo through tollgate and direct, per message size: medians over the rounds. */
export interface WebSocketReport {
  connections: number
  window: number
  rows: Array<{ target: string, label: string, size: number, rounds: number, mps: number, mbps: number, p50: number, p99: number, errors: number }>
}

export interface BenchReport {
  date: string
  command: string
  node: string
  cpus: number
  cpuModel: string
  loadavgStart: number[]
  loadavgEnd?: number[]
  connections: number
  rounds: number
  duration: number
  condition: string
  upstreamOverrides?: Record<string, unknown>
  samples: Sample[]
  targets: Array<{ id: string, label: string, group: 'main' | 'scaling' }>
  soak?: SoakReport
  websocket?: WebSocketReport
  profile?: { file: string } & ProfileSummary
}

export interface TargetSummary {
  id: string
  label: string
  group: 'main' | 'scaling'
  rounds: number
  rps: number
  rpsMin: number
  rpsMax: number
  p50: number
  p99: number
  /** Ratios of median rps. */
  toBare?: number
  toHello?: number
  cpu: { target: number, upstream: number, load: number }
  cpuUsPerRequest: number
  failed: number
  accessLogBytesPerRequest?: number
}

export interface Check {
  name: string
  want: string
  got: string
  met: boolean | undefined
  /**
   * For a ratio: the same ratio taken round by round (the two targets of a round ran minutes apart
   * at most), as min–max and median. Judged is the ratio of the medians; this shows how far one
   * round's machine state moves it.
   */
  perRound?: string
}

export interface Summary {
  report: BenchReport
  targets: TargetSummary[]
  checks: Check[]
}

export function median (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function summarize (report: BenchReport): Summary {
  const byId = new Map<string, TargetSummary>()
  for (const t of report.targets) {
    const ss = report.samples.filter((s) => s.target === t.id)
    if (ss.length === 0) continue
    const logs = ss.map((s) => s.accessLogBytesPerRequest).filter((x): x is number => x !== undefined)
    byId.set(t.id, {
      id: t.id,
      label: t.label,
      group: t.group,
      rounds: ss.length,
      rps: median(ss.map((s) => s.rps)),
      rpsMin: Math.min(...ss.map((s) => s.rps)),
      rpsMax: Math.max(...ss.map((s) => s.rps)),
      p50: median(ss.map((s) => s.p50)),
      p99: median(ss.map((s) => s.p99)),
      cpu: {
        target: median(ss.map((s) => s.cpu.target)),
        upstream: median(ss.map((s) => s.cpu.upstream)),
        load: median(ss.map((s) => s.cpu.load))
      },
      cpuUsPerRequest: median(ss.map((s) => s.cpuUsPerRequest)),
      failed: ss.reduce((n, s) => n + s.non2xx + s.errors + s.timeouts, 0),
      ...(logs.length > 0 ? { accessLogBytesPerRequest: median(logs) } : {})
    })
  }
  const bare = byId.get('bare')
  const hello = byId.get('hello')
  for (const t of byId.values()) {
    if (bare !== undefined) t.toBare = t.rps / bare.rps
    if (hello !== undefined) t.toHello = t.rps / hello.rps
  }
  const tg = byId.get('tollgate-http')
  const https = byId.get('tollgate-https')
  const checks: Check[] = []
  /** a.rps / b.rps against `want`; with no `want`, shown for information (never met nor missed). */
  const ratio = (name: string, want: number | undefined, a: TargetSummary | undefined, b: TargetSummary | undefined): void => {
    if (a === undefined || b === undefined) return
    const r = a.rps / b.rps
    const perRound = roundRatios(report.samples, a.id, b.id)
    checks.push({
      name,
      want: want === undefined ? 'none set' : `≥ ${want.toFixed(2)}×`,
      got: `${r.toFixed(2)}×`,
      met: want === undefined ? undefined : r >= want,
      ...(perRound.length > 1 ? { perRound: `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}, median ${median(perRound).toFixed(2)}` } : {})
    })
  }
  ratio('full pipeline vs bare baseline (rps)', 1.6, tg, bare)
  ratio('full pipeline vs node:http hello (rps)', 0.45, tg, hello)
  if (tg !== undefined && bare !== undefined) {
    checks.push({ name: 'full pipeline p99 vs bare p99', want: `≤ ${bare.p99} ms`, got: `${tg.p99} ms`, met: tg.p99 <= bare.p99 })
  }
  ratio('tollgate as a Fastify plugin vs bare baseline (rps)', 0.9, byId.get('plugin'), bare)
  ratio('1 → 1,000 containers (rps kept)', 0.9, byId.get('tollgate-1000c'), tg)
  const literal = byId.get('tollgate-literal-cidrs')
  ratio(`1 → ${literal?.label.match(/\d+/)?.[0] ?? 'n'} CIDRs, literal list in the condition (rps kept)`, 0.9, literal, tg)
  ratio('1 → 10,000 CIDRs, one ipLists allow-list (rps kept)', 0.9, byId.get('tollgate-10000cidr'), tg)
  ratio('HTTPS vs plain HTTP, keep-alive (rps)', 0.8, https, tg)
  ratio('with a rate limit in memory vs without (rps kept)', undefined, byId.get('tollgate-ratelimit'), tg)
  ratio('with a rate limit in Redis vs without (rps kept)', undefined, byId.get('tollgate-ratelimit-redis'), tg)
  if (report.soak !== undefined) {
    const g = report.soak.windowGrowth
    checks.push({ name: `RSS at the end of a ${Math.round(report.soak.requests / 1000)}k-request soak vs right after warm-up (median of each tenth)`, want: '≤ +10 %', got: `${g >= 0 ? '+' : ''}${(g * 100).toFixed(1)} %`, met: g <= 0.1 && report.soak.failed === 0 })
  }
  for (const t of byId.values()) {
    if (t.failed > 0) checks.push({ name: `${t.label}: every response 2xx`, want: '0 failed', got: `${t.failed} failed`, met: false })
  }
  return { report, targets: [...byId.values()], checks }
}

/** a.rps / b.rps for every round in which both ran. */
function roundRatios (samples: readonly Sample[], a: string, b: string): number[] {
  const byRound = new Map<number, Sample>()
  for (const s of samples) if (s.target === b && s.round !== undefined) byRound.set(s.round, s)
  const out: number[] = []
  for (const s of samples) {
    const other = s.target === a && s.round !== undefined ? byRound.get(s.round) : undefined
    if (other !== undefined) out.push(s.rps / other.rps)
  }
  return out
}

const n0 = (x: number): string => Math.round(x).toLocaleString('en-US')
const r2 = (x: number | undefined): string => x === undefined ? '' : x.toFixed(2)
const ms = (x: number): string => Number.isInteger(x) ? String(x) : x.toFixed(2)

function rows (s: Summary): string[][] {
  const head = ['target', 'rps (median)', 'min–max', 'p50 ms', 'p99 ms', '× bare', '× hello', 'µs CPU/req', 'cpu % gw/up/load']
  return [head, ...s.targets.map((t) => [
    t.label, n0(t.rps), `${n0(t.rpsMin)}–${n0(t.rpsMax)}`, ms(t.p50), ms(t.p99), r2(t.toBare), r2(t.toHello), t.cpuUsPerRequest.toFixed(1),
    `${t.cpu.target}/${t.cpu.upstream}/${t.cpu.load}`
  ])]
}

export function renderTable (s: Summary): string {
  const rs = rows(s)
  const widths = rs[0].map((_, i) => Math.max(...rs.map((r) => r[i].length)))
  const fmt = (r: string[]): string => r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join('  ')
  const out = [fmt(rs[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rs.slice(1).map(fmt), '']
  for (const c of s.checks) out.push(`${c.met === true ? 'MET    ' : c.met === false ? 'NOT MET' : '  ?    '}  ${c.name}: ${c.got} (target ${c.want}${c.perRound !== undefined ? `; round by round ${c.perRound}` : ''})`)
  const soak = s.report.soak
  if (soak !== undefined) {
    out.push(`soak: ${n0(soak.requests)} requests at ${n0(soak.rps)} rps (p99 ${ms(soak.p99)} ms, ${soak.failed} failed); RSS first tenth ${mb(soak.rssEarly)} MB, last tenth ${mb(soak.rssLate)} MB (medians); idle readings ${mb(soak.rssAfterWarmup)} → ${mb(soak.rssAfterSoak)} MB`)
  }
  out.push(...websocketLines(s.report.websocket))
  return out.join('\n')
}

/** The WebSocket echo rows: messages/s and MB/s through tollgate and direct, and tollgate's ratio. */
export function websocketLines (w: WebSocketReport | undefined): string[] {
  if (w === undefined || w.rows.length === 0) return []
  const out = ['', `WebSocket echo (${w.connections} connections × ${w.window} messages in flight; medians):`]
  for (const r of w.rows) {
    const direct = w.rows.find((d) => d.target === 'direct-ws' && d.size === r.size)
    const ratio = r.target !== 'direct-ws' && direct !== undefined ? `  ${r2(r.mps / direct.mps)} × direct` : ''
    out.push(`  ${r.label.padEnd(34)} ${String(r.size).padStart(6)} B  ${n0(r.mps).padStart(8)} msg/s  ${r.mbps.toFixed(1).padStart(7)} MB/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms${r.errors > 0 ? `  ${r.errors} errors` : ''}${ratio}`)
  }
  return out
}

const mb = (b: number): string => (b / 1048576).toFixed(1)

export function renderMarkdown (s: Summary): string {
  const r = s.report
  const rs = rows(s)
  const out = [
    `Run of ${r.date} — \`${r.command}\``,
    '',
    `node ${r.node}, ${r.cpus} × ${r.cpuModel}, load average at start ${r.loadavgStart.map((l) => l.toFixed(1)).join(' ')}; ` +
      `autocannon, ${r.connections} connections, ${r.rounds} interleaved rounds × ${r.duration} s, medians.`,
    '',
    '| ' + rs[0].join(' | ') + ' |',
    '|' + rs[0].map((_, i) => i === 0 ? '---' : '---:').join('|') + '|',
    ...rs.slice(1).map((row) => '| ' + row.join(' | ') + ' |'),
    '',
    '| target (issue 7) | wanted | this run | round by round | |',
    '|---|---|---|---|---|',
    ...s.checks.map((c) => `| ${c.name} | ${c.want} | ${c.got} | ${c.perRound ?? ''} | ${c.met === true ? 'met' : c.met === false ? '**not met**' : '?'} |`)
  ]
  const soak = r.soak
  if (soak !== undefined) {
    out.push('', `Soak: ${n0(soak.requests)} requests (after ${n0(soak.warmupRequests)} of warm-up) at ${n0(soak.rps)} rps, p99 ${ms(soak.p99)} ms, ${soak.failed} failed; ` +
      `RSS under load ${mb(soak.rssEarly)} MB over the first tenth → ${mb(soak.rssLate)} MB over the last tenth (medians of the per-second samples); ` +
      `idle readings ${mb(soak.rssAfterWarmup)} MB after warm-up → ${mb(soak.rssAfterSoak)} MB after the soak (single readings: anywhere on the GC sawtooth).`)
  }
  const ws = websocketLines(r.websocket)
  if (ws.length > 0) out.push('', '```', ...ws.slice(1), '```')
  return out.join('\n') + '\n'
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A self-contained SVG: rps bars with min–max whiskers, p50/p99 bars, the soak's RSS over time. */
export function renderSvg (s: Summary): string {
  const W = 960
  const labelW = 300
  const barW = W - labelW - 140
  const rowH = 26
  const parts: string[] = []
  let y = 0
  const text = (x: number, yy: number, t: string, extra = ''): void => { parts.push(`<text x="${x}" y="${yy}" ${extra}>${esc(t)}</text>`) }
  const colour = (id: string): string => id.startsWith('tollgate') ? '#2b6cb0' : id === 'bare' ? '#c05621' : '#718096'

  y += 28
  text(16, y, `tollgate bench — ${s.report.date.slice(0, 16).replace('T', ' ')} UTC, ${s.report.cpus} CPUs, autocannon ${s.report.connections} connections, medians of ${s.report.rounds} interleaved rounds`, 'font-size="15" font-weight="bold"')
  y += 26
  text(16, y, 'Requests per second (bar: median; line: min–max over rounds; label: × bare @fastify/http-proxy)', 'font-size="13"')
  y += 10
  const maxRps = Math.max(...s.targets.map((t) => t.rpsMax), 1)
  for (const t of s.targets) {
    y += rowH
    const w = t.rps / maxRps * barW
    text(16, y - 8, t.label, 'font-size="12"')
    parts.push(`<rect x="${labelW}" y="${y - 20}" width="${w.toFixed(1)}" height="16" fill="${colour(t.id)}"/>`)
    const x1 = labelW + t.rpsMin / maxRps * barW
    const x2 = labelW + t.rpsMax / maxRps * barW
    parts.push(`<line x1="${x1.toFixed(1)}" y1="${y - 12}" x2="${x2.toFixed(1)}" y2="${y - 12}" stroke="#1a202c" stroke-width="1.5"/>`)
    text(labelW + Math.max(w, x2 - labelW) + 6, y - 8, `${n0(t.rps)}${t.toBare !== undefined ? `  (${t.toBare.toFixed(2)}×)` : ''}`, 'font-size="12"')
  }

  y += 40
  text(16, y, 'Latency, ms (light: p50, dark: p99)', 'font-size="13"')
  y += 10
  const maxLat = Math.max(...s.targets.map((t) => t.p99), 1)
  for (const t of s.targets) {
    y += rowH
    text(16, y - 8, t.label, 'font-size="12"')
    parts.push(`<rect x="${labelW}" y="${y - 20}" width="${(t.p99 / maxLat * barW).toFixed(1)}" height="16" fill="#4a5568"/>`)
    parts.push(`<rect x="${labelW}" y="${y - 20}" width="${(t.p50 / maxLat * barW).toFixed(1)}" height="16" fill="#a0aec0"/>`)
    text(labelW + t.p99 / maxLat * barW + 6, y - 8, `p50 ${ms(t.p50)} · p99 ${ms(t.p99)}`, 'font-size="12"')
  }

  y += 40
  text(16, y, 'Targets (issue 7)', 'font-size="13"')
  for (const c of s.checks) {
    y += 20
    text(24, y, `${c.met === true ? '✔' : c.met === false ? '✘' : '?'}  ${c.name}: ${c.got} (target ${c.want})`, `font-size="12" fill="${c.met === true ? '#276749' : c.met === false ? '#c53030' : '#4a5568'}"`)
  }

  const soak = s.report.soak
  if (soak !== undefined && soak.series.length > 1) {
    y += 40
    const base = soak.rssEarly
    text(16, y, `Soak: tollgate RSS while serving ${n0(soak.requests)} requests (MB; dashed: first-tenth median + 10 %)`, 'font-size="13"')
    const h = 140
    const top = y + 14
    const xs = soak.series
    const maxS = Math.max(...xs.map((p) => p.s), 1)
    const lo = Math.min(...xs.map((p) => p.rss), base) * 0.95
    const hi = Math.max(...xs.map((p) => p.rss), base * 1.1) * 1.02
    const px = (sec: number): number => labelW + sec / maxS * barW
    const py = (rss: number): number => top + h - (rss - lo) / (hi - lo) * h
    parts.push(`<rect x="${labelW}" y="${top}" width="${barW}" height="${h}" fill="none" stroke="#cbd5e0"/>`)
    parts.push(`<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="${xs.map((p) => `${px(p.s).toFixed(1)},${py(p.rss).toFixed(1)}`).join(' ')}"/>`)
    const limit = py(base * 1.1)
    parts.push(`<line x1="${labelW}" y1="${limit.toFixed(1)}" x2="${labelW + barW}" y2="${limit.toFixed(1)}" stroke="#c53030" stroke-dasharray="4 4"/>`)
    text(labelW - 8, top + 10, `${mb(hi)}`, 'font-size="11" text-anchor="end"')
    text(labelW - 8, top + h, `${mb(lo)}`, 'font-size="11" text-anchor="end"')
    text(labelW + barW, top + h + 16, `${Math.round(maxS)} s`, 'font-size="11" text-anchor="end"')
    text(16, top + 40, `first tenth: ${mb(base)} MB`, 'font-size="12"')
    text(16, top + 60, `last tenth: ${mb(soak.rssLate)} MB`, 'font-size="12"')
    y = top + h + 30
  }
  y += 20
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="system-ui, sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
}
