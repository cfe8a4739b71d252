// Long runs of the property tests: `npm run fuzz` (all targets) or `npm run fuzz -- --only NAME`.
//   --seconds S   time budget per target (default 300)     --runs N   stop after N cases instead
//   --seed N      replay a seed fast-check printed
// Each target is a module under dist/ exporting `fuzz({ seconds, runs, seed })` that resolves to
// { cases, failures, detail }; a failure prints fast-check's counterexample and exits 1.
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

const TARGETS = {
  policy: 'dist/test/policy/closure-property.js'
}

const { values } = parseArgs({
  options: { only: { type: 'string', multiple: true }, seconds: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' } }
})
const names = values.only ?? Object.keys(TARGETS)
const unknown = names.filter((n) => !Object.hasOwn(TARGETS, n))
if (unknown.length > 0) {
  console.error(`fuzz: unknown target ${unknown.join(', ')} (targets: ${Object.keys(TARGETS).join(', ')})`)
  process.exit(2)
}
const opts = {
  seconds: Number(values.seconds ?? 300),
  runs: values.runs === undefined ? undefined : Number(values.runs),
  seed: values.seed === undefined ? undefined : Number(values.seed)
}
let failed = false
for (const name of names) {
  const mod = await import(pathToFileURL(TARGETS[name]).href)
  const started = performance.now()
  const r = await mod.fuzz(opts)
  const s = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`fuzz ${name}: ${r.cases.toLocaleString('en-US')} cases in ${s} s${r.detail ? ` (${r.detail})` : ''}: ${r.failures === 0 ? 'no failure' : 'FAILED'}`)
  if (r.failures > 0) { failed = true; console.log(r.report) }
}
process.exitCode = failed ? 1 : 0
