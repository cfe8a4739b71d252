// Behind an edge (Scaleway's, a Kubernetes ingress): no certificate at all, and rolling deploys
// without a reset — server.shutdownDelay keeps accepting and answering with `Connection: close`
// before the listeners close, and a connection accepted before the close is always answered.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { runTollgate, scrape, value, eventually, msg } from '../ops/helpers.js'
import { cli } from './helpers.js'

function edgeConfig (upstream: string, server: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-edge-'))
  const file = join(dir, 'tollgate.yaml')
  writeFileSync(file, stringify({
    server: {
      listen: { http: { host: '127.0.0.1', port: 0 } },
      httpOption: 'enabled',
      trustedProxies: ['127.0.0.0/8'],
      admin: { host: '127.0.0.1', port: 0 },
      ...server
    },
    containers: { app: { upstream, match: { path: '/' }, token: '${env:APP_TOKEN}', privacy: 'public' } }
  }))
  return file
}

test('edge mode: no HTTPS listener and no certificate anywhere; plain HTTP from the edge is served', async (t) => {
  const up = await startUpstream({ tls: false })
  t.after(async () => await up.close())
  const file = edgeConfig(up.url)
  const checked = await cli(['check', '--config', file], { APP_TOKEN: 'edge-token' })
  assert.equal(checked.status, 0, checked.stderr)
  const g = runTollgate(['serve', '--config', file], { APP_TOKEN: 'edge-token' })
  t.after(async () => { g.kill(); await g.exited })
  const l = await g.waitFor(msg('tollgate listening'), 20_000, 'listening')
  assert.equal(l.https, undefined, 'no HTTPS listener')
  const res = await fetch(`http://127.0.0.1:${l.http.port as number}/hello`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } })
  assert.equal(res.status, 200)
  const seen = JSON.parse(await res.text()) as { headers: Record<string, string> }
  assert.equal(seen.headers['x-auth-token'], 'edge-token')
  assert.equal(seen.headers['x-forwarded-proto'], 'https', 'the scheme the edge saw')
  assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9')
})

test('edge mode is only for httpOption: enabled; an HTTPS listener needs its certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-edge-'))
  const write = (server: Record<string, unknown>): string => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(file, stringify({ server, containers: { app: { upstream: 'https://app.example.com', match: { path: '/' }, token: '${env:T}', privacy: 'public' } } }))
    return file
  }
  const redirected = await cli(['check', '--config', write({ listen: { http: { port: 8080 } }, httpOption: 'redirected' })], { T: 'x' })
  assert.equal(redirected.status, 2)
  assert.equal(redirected.stderr, 'tollgate: server.listen.https: required unless server.httpOption is "enabled" (behind an edge that ends TLS)\n')
  const noCert = await cli(['check', '--config', write({ listen: { https: { port: 8443 } } })], { T: 'x' })
  assert.equal(noCert.status, 2)
  assert.match(noCert.stderr, /^tollgate: server\.tls: missing: the HTTPS listener needs \{ cert, key \}/)
})

/** One request on a new connection (Connection: close); its status and Connection header, or the error code. */
async function once (port: number): Promise<{ status?: number, connection?: string, error?: string }> {
  return await new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/load', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }))
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    req.end()
  })
}

test('zero resets across a SIGTERM under new-connection-per-request load, with server.shutdownDelay', { timeout: 60_000 }, async (t) => {
  const up = await startUpstream({ tls: false })
  t.after(async () => await up.close())
  const DELAY = 2000
  const g = runTollgate(['serve', '--config', edgeConfig(up.url, { shutdownDelay: DELAY, drainTimeout: 5000 })], { APP_TOKEN: 'x' })
  t.after(() => g.kill('SIGKILL'))
  const port = (await g.waitFor(msg('tollgate listening'), 20_000, 'listening')).http.port as number

  // Load: 8 loops, each a new connection per request, as a load balancer's health-checked pool
  // sends them; SIGTERM mid-run; the loops stop a second into the delay (the load balancer has seen
  // /readyz turn 503 by then), well before the listener closes.
  const results: Array<Awaited<ReturnType<typeof once>> & { afterTerm: boolean }> = []
  let termAt = 0
  let stopAt = Number.POSITIVE_INFINITY
  const loop = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      const startedAfterTerm = termAt > 0
      results.push({ ...await once(port), afterTerm: startedAfterTerm })
    }
  }
  const loops = Array.from({ length: 8 }, loop)
  await new Promise((resolve) => setTimeout(resolve, 800))
  termAt = Date.now()
  g.kill('SIGTERM')
  stopAt = termAt + DELAY - 1000
  await Promise.all(loops)
  const { code } = await g.exited
  assert.equal(code, 0)

  const failed = results.filter((r) => r.error !== undefined || r.status !== 200)
  assert.deepEqual(failed.slice(0, 5), [], `every request answered (${failed.length} of ${results.length} not)`)
  const after = results.filter((r) => r.afterTerm)
  assert.ok(after.length > 20, `requests went on during the delay (${after.length})`)
  assert.ok(after.every((r) => r.connection === 'close'), 'answered with Connection: close')
  assert.ok(g.lines.some((l) => l.msg === 'shutting down: answering with Connection: close, then draining' && l.shutdownDelayMs === DELAY))
  t.diagnostic(`${results.length} requests, ${after.length} after SIGTERM, 0 resets`)
})

test('a connection accepted just before the listener closed gets its request answered', { timeout: 60_000 }, async (t) => {
  const up = await startUpstream({ tls: false })
  t.after(async () => await up.close())
  const g = runTollgate(['serve', '--config', edgeConfig(up.url, { drainTimeout: 5000 })], { APP_TOKEN: 'x' })
  t.after(() => g.kill('SIGKILL'))
  const l = await g.waitFor(msg('tollgate listening'), 20_000, 'listening')
  const port = l.http.port as number
  const admin = `http://127.0.0.1:${l.admin.port as number}`

  // Connected and accepted by the gateway (it counts the connection), but no request sent yet.
  const socket = connect({ host: '127.0.0.1', port })
  let data = ''
  let ended = false
  socket.on('data', (d: Buffer) => { data += d.toString('latin1') })
  socket.on('end', () => { ended = true })
  const error = new Promise<string | undefined>((resolve) => { socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code)); socket.on('close', () => resolve(undefined)) })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  await eventually(async () => assert.equal(value(await scrape(admin), 'tollgate_open_connections', { listener: 'http' }), 1))

  // SIGTERM: the listener closes (nothing new is accepted) and the drain starts …
  g.kill('SIGTERM')
  await g.waitFor(msg('draining'), 10_000, 'the drain')
  await eventually(async () => {
    const refused = await new Promise<string | undefined>((resolve) => {
      const probe = connect({ host: '127.0.0.1', port })
      probe.on('connect', () => { probe.destroy(); resolve(undefined) })
      probe.on('error', (err: NodeJS.ErrnoException) => resolve(err.code))
    })
    assert.equal(refused, 'ECONNREFUSED', 'the listener is closed')
  })
  // … and the request on the connection accepted before is answered, then the connection closed.
  socket.write('GET /late HTTP/1.1\r\nHost: localhost\r\n\r\n')
  assert.equal(await error, undefined, 'no reset')
  assert.match(data, /^HTTP\/1\.1 200 OK\r\n/)
  assert.match(data, /\r\nconnection: close\r\n/i)
  assert.ok(ended, 'closed cleanly after the answer')
  assert.equal((await g.exited).code, 0)
})
