// Runs the timestamp conformance table in this process and prints one JSON line:
// { tz, janOffset, julOffset, passed, failed: [{ name, got }] }. Exit code 0 when every case passes.
// timestamps.test.ts spawns it under other process time zones (TZ=America/New_York, …).
import { compileCondition } from '../../src/policy/index.js'
import { CASES, asCondition, type TimestampCase } from './timestamp-cases.js'

export function runCases (cases: readonly TimestampCase[] = CASES): Array<{ name: string, got: string }> {
  const failed: Array<{ name: string, got: string }> = []
  for (const c of cases) {
    let got: string
    try {
      const v = compileCondition(asCondition(c)).evaluate({ request: {}, principal: {} })
      got = c.want === 'error' ? `no error (${String(v)})` : v === true ? 'ok' : `condition ${String(v)}`
    } catch (err) {
      got = c.want === 'error' ? 'ok' : `error: ${(err as Error).message.split('\n')[0]}`
    }
    if (got !== 'ok') failed.push({ name: c.name, got })
  }
  return failed
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/.*[\\/]/, '/'))
if (isMain) {
  const failed = runCases()
  process.stdout.write(JSON.stringify({
    tz: process.env.TZ,
    janOffset: new Date(2026, 0, 1).getTimezoneOffset(),
    julOffset: new Date(2026, 6, 1).getTimezoneOffset(),
    passed: CASES.length - failed.length,
    failed
  }) + '\n')
  process.exitCode = failed.length === 0 ? 0 : 1
}
