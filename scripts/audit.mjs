// `npm audit --audit-level=high`, for CI. A high or critical advisory fails; an audit service that
// cannot be reached (some registries and mirrors do not serve the audit endpoint) is reported, not
// fatal — the dependency floors are also pinned in package.json and checked by test/supply-chain.test.ts.
import { spawnSync } from 'node:child_process'

const r = spawnSync('npm', ['audit', '--audit-level=high', '--json'], { encoding: 'utf8' })
let report
try { report = JSON.parse(r.stdout) } catch { report = undefined }
const counts = report?.metadata?.vulnerabilities
if (counts === undefined) {
  const why = (report?.error?.summary ?? r.stderr ?? '').split('\n')[0]
  console.log(`npm audit: the audit service did not answer (${why || 'no report'}); skipped`)
  process.exit(0)
}
const high = (counts.high ?? 0) + (counts.critical ?? 0)
console.log(`npm audit: ${high} high/critical, ${counts.moderate ?? 0} moderate, ${counts.low ?? 0} low`)
process.exit(high > 0 ? 1 : 0)
