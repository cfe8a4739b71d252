// The error catalogue and its documentation stay in step.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { REASONS, ERROR_CODES, formatPath } from '../src/errors.js'
import { ROOT } from './helpers/root.js'

const doc = readFileSync(`${ROOT}/docs/errors.md`, 'utf8')
const documented = (re: RegExp): string[] => [...doc.matchAll(re)].map((m) => m[1])

test('every reason id is documented with its status, and the doc lists no stale one', () => {
  for (const [id, spec] of Object.entries(REASONS)) {
    assert.match(doc, new RegExp(`\\| \`${id}\` \\| ${spec.status} \\|`), `docs/errors.md lacks ${id}`)
  }
  const inDoc = documented(/^\| `([a-z_]+)` \| \d{3} \|/gm)
  assert.deepEqual(inDoc.filter((id) => !(id in REASONS)), [])
})

test('every TG_ERR code is documented, and the doc lists no stale one', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), `docs/errors.md lacks ${code}`)
  const inDoc = documented(/`(TG_ERR_[A-Z_]+)`/g)
  assert.deepEqual(inDoc.filter((c) => !(c in ERROR_CODES)), [])
})

test('reason statuses are what the contract says', () => {
  assert.equal(REASONS.policy_denied.status, 403)
  assert.equal(REASONS.credential_missing.status, 401)
  assert.equal(REASONS.no_route.status, 404)
  assert.equal(REASONS.upstream_unreachable.status, 502)
  assert.equal(REASONS.upstream_timeout.status, 504)
  for (const [id, r] of Object.entries(REASONS)) {
    if (r.status >= 400) assert.notEqual(r.error, '', `${id} needs an error word`)
  }
})

test('config paths render as users write them', () => {
  assert.equal(formatPath(['containers', 'hello', 'policies', 0, 'condition']), 'containers.hello.policies[0].condition')
})
