// The error catalogue and its documentation stay in step.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { REASONS, ERROR_CODES, FORWARD_FAILURES, forwardFailureReason, formatPath } from '../src/errors.js'
import { renderReason } from '../src/reject.js'
import { ROOT } from './helpers/root.js'

const doc = readFileSync(`${ROOT}/docs/errors.md`, 'utf8')
const documented = (re: RegExp): string[] => [...doc.matchAll(re)].map((m) => m[1])

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

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

test('every UPSTREAM code in the source is in the catalogue, documented with its reason; none is stale', () => {
  const used = new Set<string>()
  for (const file of sources(join(ROOT, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(UPSTREAM_[A-Z_]+)'/g)) used.add(m[1])
  }
  assert.ok(used.size >= 5, 'the scan found the codes the transports use')
  for (const code of used) assert.ok(code in FORWARD_FAILURES, `${code} is used in src/ but not in FORWARD_FAILURES`)
  for (const [code, spec] of Object.entries(FORWARD_FAILURES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| \`${spec.reason}\` \\|`), `docs/errors.md lacks ${code}`)
    assert.equal(forwardFailureReason(code), spec.reason)
  }
  const inDoc = documented(/^\| `(UPSTREAM_[A-Z_]+)` \|/gm)
  assert.deepEqual(inDoc.filter((c) => !(c in FORWARD_FAILURES)), [])
  assert.equal(forwardFailureReason('ECONNREFUSED'), 'upstream_unreachable')
  assert.equal(forwardFailureReason('HPE_INVALID_CONSTANT'), 'upstream_bad_response')
  assert.equal(forwardFailureReason(undefined), 'upstream_unreachable')
})

test('reason statuses are what the contract says; what tollgate renders has an error word', () => {
  assert.equal(REASONS.policy_denied.status, 403)
  assert.equal(REASONS.credential_missing.status, 401)
  assert.equal(REASONS.no_route.status, 404)
  assert.equal(REASONS.upstream_unreachable.status, 502)
  assert.equal(REASONS.upstream_timeout.status, 504)
  for (const [id, r] of Object.entries(REASONS)) {
    const logged = (r as { logged?: true }).logged === true
    if (r.status >= 400 && !logged) assert.notEqual(r.error, '', `${id} needs an error word`)
    if (logged) assert.equal(r.error, '', `${id} is never rendered: no error word`)
  }
})

test('a rendered answer is the JSON the contract names, with no-store and the request id', () => {
  const r = renderReason('credential_missing', 'req-1', 'max-age=1')
  assert.equal(r.status, 401)
  assert.deepEqual(JSON.parse(r.body), { error: 'unauthorized', reason: 'credential_missing', requestId: 'req-1' })
  assert.equal(r.headers['content-length'], Buffer.byteLength(r.body))
  assert.equal(r.headers['cache-control'], 'no-store')
  assert.equal(r.headers['x-request-id'], 'req-1')
  assert.equal(r.headers['strict-transport-security'], 'max-age=1')
  assert.match(String(r.headers['www-authenticate']), /error_description="credential_missing"/)
  assert.equal(renderReason('no_route', 'r', undefined).headers['www-authenticate'], undefined)
})

test('config paths render as users write them', () => {
  assert.equal(formatPath(['containers', 'hello', 'policies', 0, 'condition']), 'containers.hello.policies[0].condition')
})
