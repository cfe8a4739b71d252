// Failing and hostile upstreams: each failure maps to a clean 502/504 before the response started,
// or to a cut stream once its body has started; the gateway stays healthy, the next request works,
// and no socket is left behind (counted on the upstream side and in this process).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startRecordingUpstream, rawExchange, statuses, eventually, openSockets, type RecordingUpstream, type ConnectionBehaviour } from '../helpers/raw.js'
import { testCa, writePki } from '../helpers/pki.js'
import { createDevCa } from '../../src/tls/devcert.js'
import { connect as h2connect, constants as h2constants } from 'node:http2'

const TOKEN = 'scw-failures-' + Math.random().toString(36).slice(2)
// Short upstream idle time too: undici opens a fresh (idle) connection after destroying one.
const UPSTREAM = { connectTimeout: 500, timeout: 500, bodyTimeout: 500, keepAliveTimeout: 1000 }

/** Waits for a whole request head, then does `then` with the socket. */
const afterHead = (then: (s: Socket) => void): ConnectionBehaviour => (socket) => {
  let buf = ''
  let done = false
  socket.on('data', (d: Buffer) => {
    buf += d.toString('latin1')
    if (!done && buf.includes('\r\n\r\n')) { done = true; then(socket) }
  })
}

const BEHAVIOURS: Record<string, ConnectionBehaviour> = {
  silent: () => { /* reads, never answers */ },
  eof: afterHead((s) => s.end()),
  resetBeforeHead: afterHead((s) => s.resetAndDestroy()),
  resetMidBody: afterHead((s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000))
    setTimeout(() => s.resetAndDestroy(), 50)
  }),
  garbageStatus: afterHead((s) => s.write('HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n')),
  notHttp: afterHead((s) => s.write('SSH-2.0-OpenSSH_9.6\r\n\r\n')),
  oversizeHeaders: afterHead((s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`)),
  clAndTe: afterHead((s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')),
  duplicateCl: afterHead((s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!')),
  stalledBody: afterHead((s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n')),
  shortBody: afterHead((s) => { s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b'); s.end() })
}

/** Streams `x` for ever (until the socket closes), honouring backpressure; counts what it wrote. */
function endless (stats: { written: number }): ConnectionBehaviour {
  return afterHead((s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n')
    const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`
    const pump = (): void => {
      while (!s.destroyed) {
        stats.written += 0x10000
        if (!s.write(chunk)) { s.once('drain', pump); return }
      }
    }
    pump()
  })
}

// Both upstream clients: tollgate's own (the default) and undici (`server.upstream.client: undici`).
for (const client of ['tollgate', 'undici'] as const) {
  describe(`failing upstreams (${client} client)`, () => {
    const ups = new Map<string, RecordingUpstream>()
    const endlessStats = { written: 0 }
    let healthy: RecordingUpstream
    let wrongName: Upstream
    let rogue: Upstream
    let deadPort = 0
    let gw: TestGateway
    let socketsBefore = 0

    before(async () => {
      socketsBefore = openSockets()
      healthy = await startRecordingUpstream()
      for (const [name, b] of Object.entries(BEHAVIOURS)) ups.set(name, await startRecordingUpstream(b))
      ups.set('endless', await startRecordingUpstream(endless(endlessStats)))
      // A port with nothing listening.
      const closed = createServer()
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
      deadPort = (closed.address() as AddressInfo).port
      await new Promise<void>((resolve) => closed.close(() => resolve()))
      wrongName = await startUpstream({ cert: testCa().issue(['other.example']) })
      rogue = await startUpstream({ cert: createDevCa('someone else').issue(['localhost']) })
      const pki = writePki()
      const container = (upstream: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
        ({ upstream, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', ...extra })
      const containers: Record<string, unknown> = {
        healthy: container(healthy.url, '/healthy'),
        refused: container(`http://127.0.0.1:${deadPort}`, '/refused'),
        dns: container('http://tollgate-test.invalid', '/dns', { allowPlaintextUpstream: true }),
        wrongname: container(wrongName.url, '/wrongname', { upstreamCa: pki.ca }),
        rogue: container(rogue.url, '/rogue', { upstreamCa: pki.ca })
      }
      for (const name of ups.keys()) containers[name] = container(ups.get(name)!.url, `/${name}`)
      containers.patient = container(ups.get('silent')!.url, '/patient', { timeout: 10_000 })
      gw = await startGateway({
        env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
        config: { server: { httpOption: 'enabled', logLevel: 'silent', accessLog: false, upstream: { ...UPSTREAM, client } }, containers }
      })
    })

    after(async () => {
      await gw.close()
      for (const u of ups.values()) await u.close()
      await healthy.close()
      await wrongName.close()
      await rogue.close()
    })

    /** One request on a fresh connection (Connection: close); what came back and whether it was cut. */
    const call = (path: string, waitMs = 3000): ReturnType<typeof rawExchange> =>
      rawExchange({ port: gw.addr.http!.port, waitMs }, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)

    async function stillHealthy (): Promise<void> {
      const r = await call('/healthy/after')
      assert.deepEqual(statuses(r.data), [200])
      assert.ok(r.data.endsWith('seen: GET /healthy/after HTTP/1.1'), 'the next request gets its own answer')
      assert.equal((await fetch(gw.adminUrl + '/healthz')).status, 200)
    }

    const CLEAN: Array<[name: string, status: number, reason: string]> = [
      ['refused', 502, 'upstream_unreachable'],
      ['dns', 502, 'upstream_unreachable'],
      ['wrongname', 502, 'upstream_unreachable'],
      ['rogue', 502, 'upstream_unreachable'],
      ['silent', 504, 'upstream_timeout'],
      ['eof', 502, 'upstream_unreachable'],
      ['resetBeforeHead', 502, 'upstream_unreachable'],
      ['garbageStatus', 502, 'upstream_bad_response'],
      ['notHttp', 502, 'upstream_bad_response'],
      ['oversizeHeaders', 502, 'upstream_bad_response'],
      ['clAndTe', 502, 'upstream_bad_response'],
      ['duplicateCl', 502, 'upstream_bad_response']
    ]
    for (const [name, status, reason] of CLEAN) {
      test(`${name}: ${status} ${reason}, nothing left open`, async () => {
        const r = await call(`/${name}/x`)
        assert.deepEqual(statuses(r.data), [status], r.data.slice(0, 200))
        assert.match(r.data, new RegExp(`"reason":"${reason}"`))
        assert.ok(!r.data.includes(TOKEN))
        const up = ups.get(name)
        if (up !== undefined) assert.ok(await eventually(() => up.open() === 0), `the gateway closed its ${name} upstream connection`)
        await stillHealthy()
      })
    }

    test('TLS failures: the upstream never receives the request (nor the token)', () => {
      assert.equal(wrongName.received.length, 0)
      assert.equal(rogue.received.length, 0)
    })

    for (const name of ['resetMidBody', 'stalledBody', 'shortBody']) {
      test(`${name}: the body had started, so the client's stream is cut (never completed)`, async () => {
        const r = await call(`/${name}/x`)
        assert.deepEqual(statuses(r.data), [200])
        assert.ok(r.closed, 'the connection is cut')
        const head = r.data.slice(0, r.data.indexOf('\r\n\r\n'))
        const body = r.data.slice(r.data.indexOf('\r\n\r\n') + 4)
        const cl = /\r\ncontent-length: (\d+)/i.exec(head)
        if (cl !== null) assert.ok(body.length < Number(cl[1]), 'fewer bytes than announced')
        else assert.ok(!body.endsWith('0\r\n\r\n'), 'no last chunk')
        assert.ok(await eventually(() => ups.get(name)!.open() === 0))
        await stillHealthy()
      })
    }

    test('over HTTP/2, a body cut upstream resets the client\'s stream', async () => {
      const session = h2connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
      session.on('error', () => {})
      try {
        const outcome = await new Promise<{ status: number, bytes: number, error: string }>((resolve) => {
          let status = 0
          let bytes = 0
          const stream = session.request({ ':path': '/resetMidBody/h2' })
          stream.on('response', (h) => { status = Number(h[':status']) })
          stream.on('data', (d: Buffer) => { bytes += d.length })
          stream.on('error', (err: NodeJS.ErrnoException) => resolve({ status, bytes, error: err.code ?? 'error' }))
          stream.on('end', () => resolve({ status, bytes, error: '' }))
        })
        assert.equal(outcome.status, 200)
        assert.ok(outcome.bytes < 100_000)
        assert.equal(outcome.error, 'ERR_HTTP2_STREAM_ERROR', `the stream is reset, not ended: ${JSON.stringify(outcome)}`)
      } finally {
        session.close()
      }
    })

    test('a response that never ends: backpressure holds it while the client does not read, and the upstream is closed when the client goes', async () => {
      const up = ups.get('endless')!
      const sock = await new Promise<Socket>((resolve) => {
        const s = netConnect({ port: gw.addr.http!.port, host: '127.0.0.1' }, () => resolve(s))
      })
      sock.on('error', () => {})
      sock.write('GET /endless/x HTTP/1.1\r\nHost: localhost\r\n\r\n')
      sock.pause()
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const held = endlessStats.written
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.ok(endlessStats.written - held < 4 * 0x10000, `the upstream is held back while the client does not read (${endlessStats.written - held} more bytes)`)
      assert.ok(endlessStats.written < 64 * 1024 * 1024, `bounded buffering: ${endlessStats.written} bytes`)
      const carrying = up.connections.find((c) => Buffer.concat(c.bytes).toString('latin1').startsWith('GET /endless/x '))
      assert.ok(carrying !== undefined && !carrying.closed)
      sock.destroy()
      assert.ok(await eventually(() => carrying.closed), 'the upstream request is aborted once the client is gone')
      assert.ok(await eventually(() => up.open() === 0), 'and nothing stays open')
      await stillHealthy()
    })

    test('a client that goes away while the upstream thinks: the upstream request is aborted at once, not at its timeout', async () => {
      const up = ups.get('silent')!
      // The upstream connection that carries `path` (an idle pooled one may be reused).
      const carrying = async (path: string): Promise<(typeof up.connections)[number]> => {
        const find = (): (typeof up.connections)[number] | undefined => up.connections.find((c) => Buffer.concat(c.bytes).includes(`GET ${path} `))
        assert.ok(await eventually(() => find() !== undefined), `${path} reached the upstream`)
        return find()!
      }
      // HTTP/1.1: the client hangs up.
      const h1 = netConnect({ port: gw.addr.http!.port, host: '127.0.0.1' }, () => h1.write('GET /patient/h1 HTTP/1.1\r\nHost: localhost\r\n\r\n'))
      h1.on('error', () => {})
      const c1 = await carrying('/patient/h1')
      h1.destroy()
      assert.ok(await eventually(() => c1.closed, 4000), 'aborted when the HTTP/1.1 client left (the timeout is 10 s)')
      // HTTP/2: the client resets its stream.
      const session = h2connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
      session.on('error', () => {})
      const stream = session.request({ ':path': '/patient/h2' })
      stream.on('error', () => {})
      const c2 = await carrying('/patient/h2')
      stream.close(h2constants.NGHTTP2_CANCEL)
      assert.ok(await eventually(() => c2.closed, 4000), 'aborted when the HTTP/2 stream was reset')
      session.close()
      await stillHealthy()
    })

    test('an unsolicited extra response on an idle upstream connection does not reach the next client', async () => {
      let n = 0
      const poison = await startRecordingUpstream(afterHead((s) => {
        n++
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nSECOND')
        // Later requests on this connection (if the pool reused it) are answered properly.
        s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nthird'))
      }))
      const g = await startGateway({
        env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
        config: { server: { httpOption: 'enabled', logLevel: 'silent', accessLog: false, upstream: UPSTREAM }, containers: { p: { upstream: poison.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } } }
      })
      try {
        const one = await rawExchange({ port: g.addr.http!.port }, 'GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
        assert.ok(one.data.endsWith('first') || statuses(one.data)[0] === 502)
        const two = await rawExchange({ port: g.addr.http!.port }, 'GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
        assert.ok(!two.data.includes('SECOND'), 'the queued extra response is never handed to another client')
        assert.ok(n >= 1)
      } finally {
        await g.close()
        await poison.close()
      }
    })

    test('after all of it: no socket left behind in this process', async () => {
    // Everything the failing upstreams had open is closed; what remains is the gateway's own
    // listeners and at most its idle keep-alive connection(s) to the healthy upstream.
      assert.ok(await eventually(() => [...ups.values()].every((u) => u.open() === 0)))
      const grew = async (): Promise<number> => openSockets() - socketsBefore
      assert.ok(await eventually(() => openSockets() - socketsBefore <= 4), `open sockets grew by ${await grew()}`)
    })
  })
}
