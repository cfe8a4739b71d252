// `tollgate serve` as users run it (the compiled binary), under loopback load:
// SIGHUP reloads without failing a request, SIGTERM drains without failing an accepted one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import http2 from 'node:http2'
import { X509Certificate } from 'node:crypto'
import { Client, request } from 'undici'
import { startUpstream } from '../helpers/upstream.js'
import { testCa } from '../helpers/pki.js'
import { createDevCa } from '../../src/tls/devcert.js'
import { runTollgate, scrape, value, msg, serveSetup, writeServeConfig, type Served } from './helpers.js'
import { load } from './load.js'

const TOKEN = 'serve-token-' + Math.random().toString(36).slice(2)
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

const route = (upstream: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ upstream, match: { path }, token: '${env:SERVE_TOKEN}', privacy: 'public', ...extra })

async function listening (g: Served): Promise<{ https: number, http: number, admin: number }> {
  const l = await g.waitFor(msg('tollgate listening'), 20_000, 'tollgate listening')
  assert.equal(l.upstreamClient, 'tollgate', 'the startup line says which upstream client serves')
  return { https: l.https.port, http: l.http?.port, admin: l.admin?.port }
}

function peerFingerprint (port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      const fp = new X509Certificate(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).fingerprint256
      s.end()
      resolve(fp)
    })
    s.on('error', reject)
  })
}

test('SIGHUP under load: a broken config is refused, a good one swapped in, no request fails, keep-alive stays, new certificate for new handshakes', { timeout: 90_000 }, async (t) => {
  const up = await startUpstream({ tls: false })
  const s = serveSetup()
  writeServeConfig(s, { a: route(up.url, '/a') })
  const g = runTollgate(['serve', '--config', s.file], { SERVE_TOKEN: TOKEN })
  try {
    const ports = await listening(g)
    const base = `https://127.0.0.1:${ports.https}`
    // One keep-alive connection, opened before the reloads.
    let connects = 0
    const kept = new Client(base, { connect: { ca: testCa().cert, servername: 'localhost' }, keepAliveTimeout: 60_000 })
    kept.on('connect', () => { connects++ })
    const viaKept = async (path: string): Promise<number> => {
      const r = await kept.request({ path, method: 'GET' })
      await r.body.text()
      return r.statusCode
    }
    assert.equal(await viaKept('/a/kept'), 200)
    const oldFp = await peerFingerprint(ports.https, testCa().cert)

    const run = load({ url: `${base}/a/load`, connections: 8, durationS: 3 })
    await sleep(700)
    // 1. Broken: a condition that does not compile. Refused, logged, counted; the old config serves on.
    writeServeConfig(s, {
      a: route(up.url, '/a'),
      b: route(up.url, '/b', { policies: [{ name: 'bad', condition: 'request.ip +' }] })
    })
    g.kill('SIGHUP')
    const failed = await g.waitFor(msg('config reload failed; the previous config keeps serving'), 10_000, 'the refused reload')
    assert.match(failed.error, /containers\.b\.policies\[0\]\.condition/)
    const failedAt = Date.now() - run.startedAt
    await sleep(500)

    // 2. Good: a new container, and a certificate from another CA.
    const otherCa = createDevCa('rotated CA')
    const leaf = otherCa.issue(['localhost', '127.0.0.1'])
    const s2 = { ...s, cert: join(s.dir, 'cert2.pem'), key: join(s.dir, 'key2.pem') }
    writeFileSync(s2.cert, leaf.cert)
    writeFileSync(s2.key, leaf.key)
    writeServeConfig(s2, { a: route(up.url, '/a'), b: route(up.url, '/b') })
    g.kill('SIGHUP')
    await g.waitFor(msg('config reloaded'), 10_000, 'the reload')
    const reloadedAt = Date.now() - run.startedAt

    const r = await run.done
    assert.equal(r.non2xx, 0, `non-2xx responses: ${JSON.stringify([...r.statuses])}`)
    assert.equal(r.errors, 0, `errors: ${JSON.stringify(r.connErrors.slice(0, 5))}`)
    assert.equal(r.timeouts, 0)
    assert.ok(r.ok > 100, `only ${r.ok} responses`)
    assert.ok(r.okTimes.some((at) => at > failedAt) && r.okTimes.some((at) => at > reloadedAt), 'requests were served after each reload')
    t.diagnostic(`2xx ${r.ok}; refused reload at ${failedAt} ms, reload at ${reloadedAt} ms`)

    // The new config serves; the kept connection is the same one; new handshakes get the new certificate.
    assert.equal((await request(`http://127.0.0.1:${ports.http}/b/x`)).statusCode, 200)
    assert.equal(await viaKept('/a/kept-again'), 200)
    assert.equal(await viaKept('/b/kept'), 200)
    assert.equal(connects, 1, 'the keep-alive connection survived both reloads')
    const newFp = await peerFingerprint(ports.https, otherCa.cert)
    assert.notEqual(newFp, oldFp)
    assert.equal(newFp, new X509Certificate(leaf.cert).fingerprint256)
    await kept.close()

    const m = await scrape(`http://127.0.0.1:${ports.admin}`)
    assert.equal(value(m, 'tollgate_config_reloads_total', { outcome: 'failure' }), 1)
    assert.equal(value(m, 'tollgate_config_reloads_total', { outcome: 'success' }), 1)
    assert.equal(value(m, 'tollgate_config_last_reload_successful'), 1)
    assert.ok((value(m, 'process_cpu_seconds_total') ?? 0) > 0, 'the CLI exports process metrics')

    g.kill('SIGTERM')
    assert.deepEqual(await g.exited, { code: 0, signal: null })
    assert.ok(!g.stdout().includes(TOKEN) && !g.stderr().includes(TOKEN), 'the upstream token never reaches the output')
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }
})

test('SIGTERM under load: /readyz 503, every accepted request answered (HTTP/1.1 and HTTP/2), new connections refused, exit 0', { timeout: 90_000 }, async (t) => {
  const up = await startUpstream({
    tls: false,
    handler: (req, res) => {
      setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(req.url) }, req.url?.startsWith('/a/slow') === true ? 1500 : 20)
    }
  })
  const s = serveSetup()
  writeServeConfig(s, { a: route(up.url, '/a') }, { drainTimeout: 15_000 })
  const g = runTollgate(['serve', '--config', s.file], { SERVE_TOKEN: TOKEN })
  try {
    const ports = await listening(g)
    const base = `https://127.0.0.1:${ports.https}`
    const admin = `http://127.0.0.1:${ports.admin}`
    const readyz = async (): Promise<number> => {
      const r = await request(admin + '/readyz')
      await r.body.text()
      return r.statusCode
    }
    assert.equal(await readyz(), 200)

    const run = load({ url: `${base}/a/load`, connections: 16, durationS: 8 })
    await sleep(1200)
    // Slow requests in flight when the signal comes: one over HTTP/2 (node:http2, which honours
    // GOAWAY's last stream id; undici's HTTP/2 client fails streams in flight on any GOAWAY), one
    // over HTTP/1.1.
    const h2 = http2.connect(base, { ca: testCa().cert, servername: 'localhost' })
    const h1 = new Client(base, { connect: { ca: testCa().cert, servername: 'localhost' } })
    const slow = [
      new Promise<{ status: number, body: string, version: string }>((resolve, reject) => {
        const stream = h2.request({ ':path': '/a/slow/0' })
        let status = 0
        let body = ''
        stream.on('response', (h) => { status = Number(h[':status']) })
        stream.on('data', (d: Buffer) => { body += d.toString() })
        stream.on('end', () => resolve({ status, body, version: 'h2' }))
        stream.on('error', reject)
      }),
      (async () => {
        const r = await h1.request({ path: '/a/slow/1', method: 'GET' })
        return { status: r.statusCode, body: await r.body.text(), version: 'h1' }
      })()
    ]
    await sleep(300)
    const sigAt = Date.now() - run.startedAt
    g.kill('SIGTERM')
    await g.waitFor(msg('draining'), 5000, 'draining')
    assert.equal(await readyz(), 503, '/readyz says draining while requests finish')
    // New connections are refused from now on.
    await assert.rejects(request(`http://127.0.0.1:${ports.http}/a/new`), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED')

    for (const r of await Promise.all(slow)) {
      assert.equal(r.status, 200, `${r.version} slow request`)
      assert.match(r.body, /^\/a\/slow\//)
    }
    const exit = await g.exited
    const exitAt = Date.now() - run.startedAt
    run.stop()
    const res = await run.done
    h2.close()
    await h1.close()
    assert.deepEqual(exit, { code: 0, signal: null })
    assert.ok(exitAt - sigAt < 10_000, 'drained well before the deadline')
    const codes = res.connErrors.reduce<Record<string, number>>((acc, e) => { acc[e.code] = (acc[e.code] ?? 0) + 1; return acc }, {})
    t.diagnostic(`2xx ${res.ok}, signal at ${sigAt} ms, exit at ${exitAt} ms, connection errors after the signal: ${JSON.stringify(codes)}`)

    // Every request the gateway accepted was answered 200, and the client got every one of them.
    const access = g.lines.filter((l) => l.type === 'access')
    const bad = access.filter((l) => l.status !== 200)
    assert.deepEqual(bad, [], 'accepted requests that did not end in 200')
    const loadLines = access.filter((l) => l.path === '/a/load').length
    assert.equal(res.non2xx, 0, `non-2xx: ${JSON.stringify([...res.statuses])}`)
    assert.equal(res.timeouts, 0)
    assert.equal(res.ok, loadLines, 'every accepted request reached the client')
    assert.ok(res.ok > 50)
    // Connection errors only after the signal, and only "no one listens" / "closed after Connection: close".
    for (const e of res.connErrors) {
      assert.ok(e.at >= sigAt, `connection error before SIGTERM: ${e.code} at ${e.at} ms`)
      assert.ok(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(e.code), `unexpected error ${e.code}`)
    }
    assert.ok(g.lines.some(msg('drained; exiting')))
    assert.ok(!g.stdout().includes(TOKEN))
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }
})
