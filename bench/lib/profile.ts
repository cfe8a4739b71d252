// Reads a V8 .cpuprofile (`node --cpu-prof`) and says where the busy time went: self time by
// function and by area (node's http/net internals, the upstream client, undici, pino, the policy engine, tollgate's own
// code, GC). Idle samples are left out of every percentage.
//
//   node dist/bench/lib/profile.js FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

export interface ProfileSummary {
  /** Samples not idle. */
  busySamples: number
  areas: Array<{ area: string, percent: number }>
  functions: Array<{ fn: string, where: string, percent: number }>
}

export function areaOf (url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)') return 'V8/native (program)'
  if (url === '') return 'native'
  if (url.startsWith('node:internal/http') || url.startsWith('node:_http') || url.startsWith('node:http')) return 'node http'
  if (url.startsWith('node:internal/tls') || url.startsWith('node:_tls') || url.startsWith('node:tls')) return 'node tls'
  if (url.startsWith('node:')) return 'node other (net, streams, timers)'
  if (url.includes('/node_modules/undici/')) return 'undici'
  // tollgate's own HTTP client; llhttp's native parse time is charged to the JS function that calls it.
  if (url.includes('/src/proxy/client.')) return 'upstream client (incl. llhttp)'
  if (url.includes('/node_modules/pino') || url.includes('/node_modules/sonic-boom/') || url.includes('/node_modules/fast-redact/') ||
    url.includes('/node_modules/@pinojs/') || url.includes('/node_modules/quick-format-unescaped/')) return 'pino (access log)'
  if (url.includes('/node_modules/@marcbachmann/cel-js/') || url.includes('/src/policy/')) return 'policy (CEL)'
  if (url.includes('/node_modules/ipaddr.js/') || url.includes('/src/identity/')) return 'identity (IP)'
  if (url.includes('/node_modules/')) return 'other packages'
  if (url.includes('/src/observability/')) return 'observer (access line)'
  if (url.includes('/src/')) return 'tollgate pipeline'
  if (url.includes('/bench/')) return 'bench shim (clock)'
  return 'other'
}

export function summarizeProfile (file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] }
  const byArea = new Map<string, number>()
  const byFn = new Map<string, { fn: string, where: string, hits: number }>()
  let busy = 0
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0
    const { functionName, url, lineNumber } = n.callFrame
    if (hits === 0 || functionName === '(idle)') continue
    busy += hits
    const area = areaOf(url, functionName)
    byArea.set(area, (byArea.get(area) ?? 0) + hits)
    const short = url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '').replace(/^file:\/\/.*\/(bin|bench)\//, '$1/')
    const key = `${functionName}@${short}:${lineNumber + 1}`
    const f = byFn.get(key) ?? { fn: functionName || '(anonymous)', where: `${short}:${lineNumber + 1}`, hits: 0 }
    f.hits += hits
    byFn.set(key, f)
  }
  const pct = (h: number): number => Math.round(h / Math.max(1, busy) * 1000) / 10
  return {
    busySamples: busy,
    areas: [...byArea].sort((a, b) => b[1] - a[1]).map(([area, h]) => ({ area, percent: pct(h) })),
    functions: [...byFn.values()].sort((a, b) => b.hits - a.hits).slice(0, top).map((f) => ({ fn: f.fn, where: f.where, percent: pct(f.hits) }))
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/lib/profile.js FILE.cpuprofile [TOP]\n')
    process.exit(2)
  }
  const s = summarizeProfile(file, Number(process.argv[3] ?? 30))
  process.stdout.write(`${s.busySamples} busy samples\n\nby area (self time, % of busy):\n`)
  for (const a of s.areas) process.stdout.write(`  ${a.percent.toFixed(1).padStart(5)} %  ${a.area}\n`)
  process.stdout.write('\nby function (self time):\n')
  process.stdout.on('error', () => process.exit(0))
  for (const f of s.functions) process.stdout.write(`  ${f.percent.toFixed(1).padStart(5)} %  ${f.fn}  ${f.where}\n`)
}
