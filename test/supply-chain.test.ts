// Dependency floors: every installed copy of these packages is at or above the release that fixed the
// advisories listed in docs/security.md (an offline complement to `npm audit`, which CI also runs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers/root.js'

const FLOORS: Record<string, { floor: string, why: string }> = {
  undici: { floor: '7.24.0', why: 'CVE-2026-1525 (duplicate CL/Host smuggling), CVE-2026-2229, CVE-2026-2581' },
  fastify: { floor: '5.12.1', why: 'GHSA-3m5p-2c4r-xxw2 (X-Forwarded-* spoofing), GHSA-w2qp-rph6-63g4' },
  '@fastify/reply-from': { floor: '12.6.4', why: 'GHSA-gwhp-pf74-vj37 (Connection strips added headers), GHSA-v574-6498-x57v' },
  '@fastify/http-proxy': { floor: '11.4.4', why: 'carries the reply-from fix for GHSA-gwhp-pf74-vj37' }
}

function cmp (a: string, b: string): number {
  const pa = a.split(/[.-]/).slice(0, 3).map(Number)
  const pb = b.split(/[.-]/).slice(0, 3).map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}

test('every installed copy of the advisory-bearing packages is at or above its fixed version', () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
  for (const [name, { floor, why }] of Object.entries(FLOORS)) {
    const copies = Object.entries(lock.packages).filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`))
    assert.ok(copies.length > 0, `${name} is not in package-lock.json`)
    for (const [path, meta] of copies) {
      assert.ok(meta.version !== undefined && cmp(meta.version, floor) >= 0, `${path}@${meta.version} is below ${floor} (${why})`)
    }
  }
})

test('the peer ranges of tollgate/fastify start at or above the fixed versions', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }
  for (const name of ['fastify', '@fastify/reply-from', '@fastify/http-proxy']) {
    const range = pkg.peerDependencies[name]
    const m = /^\^(\d+\.\d+\.\d+)$/.exec(range ?? '')
    assert.ok(m !== null, `${name}: a caret range, got ${range}`)
    assert.ok(cmp(m[1], FLOORS[name].floor) >= 0, `${name}@${range} admits versions below ${FLOORS[name].floor} (${FLOORS[name].why})`)
  }
})
