// `tollgate serve --workers 2`: a node:cluster primary supervising two gateway workers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request } from 'undici'
import { parse, stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { runTollgate, scrape, value, msg, serveSetup, writeServeConfig } from './helpers.js'

const TOKEN = 'cluster-token-' + Math.random().toString(36).slice(2)

function config (containers: Record<string, unknown>): string {
  return writeServeConfig(serveSetup(), containers, { drainTimeout: 5000 })
}

/** GET on a fresh connection (the cluster hands connections out round-robin). */
function freshGet (port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

test('two workers: aggregated metrics, a killed worker is restarted, SIGHUP reaches both, SIGTERM drains both and exits 0', { timeout: 120_000 }, async () => {
  const up = await startUpstream({ tls: false })
  const route = (path: string): Record<string, unknown> => ({ upstream: up.url, match: { path }, token: '${env:CLUSTER_TOKEN}', privacy: 'public' })
  const file = config({ a: route('/a') })
  const g = runTollgate(['serve', '--config', file, '--workers', '2'], { CLUSTER_TOKEN: TOKEN })
  try {
    const primary = await g.waitFor(msg('tollgate primary: admin listener up, starting workers'), 20_000, 'the primary')
    const admin = `http://127.0.0.1:${primary.admin.port as number}`
    await g.waitFor(msg('tollgate cluster ready'), 40_000, 'both workers')
    const listening = g.lines.filter(msg('tollgate listening'))
    assert.equal(listening.length, 2)
    const http = listening[0].http.port as number
    assert.equal(listening[1].http.port, http, 'the workers share the listeners')
    const readyz = async (): Promise<number> => { const r = await request(admin + '/readyz'); await r.body.text(); return r.statusCode }
    assert.equal(await readyz(), 200)

    for (let i = 0; i < 20; i++) assert.equal(await freshGet(http, `/a/${i}`), 200)
    const m1 = await scrape(admin)
    assert.equal(value(m1, 'tollgate_requests_total', { container: 'a', status_class: '2xx', reason: 'allowed' }), 20, 'summed over the workers')
    assert.equal(value(m1, 'tollgate_request_duration_seconds_count', { container: 'a' }), 20)
    assert.equal(value(m1, 'tollgate_workers', { state: 'ready' }), 2)
    assert.equal(value(m1, 'tollgate_worker_restarts_total'), 0)
    assert.equal(value(m1, 'tollgate_build_info', { version: '0.1.0', node: process.version }), 1, 'one build, not one per worker')
    const servedBy = new Set(g.lines.filter((l) => l.type === 'access').map((l) => l.worker))
    assert.equal(servedBy.size, 2, 'both workers served')

    // A worker dies: the other serves on, the primary restarts it.
    const victim = g.lines.filter(msg('worker ready'))[0]
    process.kill(victim.pid, 'SIGKILL')
    const exited = await g.waitFor((l) => l.msg === 'worker exited; restarting it' && l.pid === victim.pid, 10_000, 'the crash report')
    assert.equal(exited.signal, 'SIGKILL')
    assert.ok(exited.restartInMs >= 100 && exited.restartInMs <= 1000)
    assert.equal(await readyz(), 200, 'still ready: one worker serves')
    for (let i = 0; i < 4; i++) assert.equal(await freshGet(http, `/a/during-${i}`), 200)
    const again = await g.waitFor((l) => l.msg === 'worker ready' && l.pid !== victim.pid && l.worker > 2, 30_000, 'the restarted worker')
    assert.notEqual(again.pid, victim.pid)
    const m2 = await scrape(admin)
    assert.equal(value(m2, 'tollgate_worker_restarts_total'), 1)
    assert.equal(value(m2, 'tollgate_workers', { state: 'ready' }), 2)

    // SIGHUP to the primary: every worker reloads.
    writeFileSync(file, stringify({ ...parse(readFileSync(file, 'utf8')), containers: { a: route('/a'), b: route('/b') } }))
    const before = g.lines.filter(msg('config reloaded')).length
    g.kill('SIGHUP')
    await g.waitFor(() => g.lines.filter(msg('config reloaded')).length >= before + 2, 20_000, 'two reloads')
    const reloaders = new Set(g.lines.filter(msg('config reloaded')).map((l) => l.worker))
    assert.equal(reloaders.size, 2)
    for (let i = 0; i < 6; i++) assert.equal(await freshGet(http, `/b/${i}`), 200)
    assert.equal(value(await scrape(admin), 'tollgate_config_reloads_total', { outcome: 'success' }), 2)

    // SIGTERM: /readyz 503 while the workers drain, then exit 0.
    g.kill('SIGTERM')
    await g.waitFor(msg('draining workers'), 5000, 'the primary draining')
    const exit = await g.exited
    assert.deepEqual(exit, { code: 0, signal: null })
    assert.equal(g.lines.filter(msg('drained; exiting')).length, 2)
    assert.ok(g.lines.some(msg('tollgate primary: every worker is gone; exiting')))
    assert.ok(!g.stdout().includes(TOKEN))
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }
})

test('a worker that cannot start stops the whole start, once, with its exit code', { timeout: 60_000 }, async () => {
  const file = config({ a: { upstream: 'http://127.0.0.1:9', match: { path: '/a' }, token: '${env:TG_TEST_UNSET_TOKEN}', privacy: 'public' } })
  const env = { ...process.env }
  delete env.TG_TEST_UNSET_TOKEN
  const g = runTollgate(['serve', '--config', file, '--workers', '3'], env)
  try {
    const timer = setTimeout(() => g.kill('SIGKILL'), 30_000)
    const exit = await g.exited
    clearTimeout(timer)
    assert.deepEqual(exit, { code: 1, signal: null })
    const errors = g.stderr().trim().split('\n')
    assert.equal(errors.length, 1, g.stderr())
    assert.match(errors[0], /^tollgate: .*TG_TEST_UNSET_TOKEN/)
    assert.equal(g.lines.filter((l) => l.msg === 'worker ready').length, 0)
  } finally {
    g.kill('SIGKILL')
  }
})
