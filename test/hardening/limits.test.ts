// Limits and slow clients, on loopback, with short timeouts. Every limit is enforced on the plain
// listener and on HTTP/1.1 over TLS (the HTTP/2 server's fallback, which Node 20 configures apart:
// see app.ts), and the HTTP/2 ones on HTTP/2. Floods are bounded and end by themselves; a normal
// client keeps getting answers while they run.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { connect as h2connect, constants as h2 } from 'node:http2'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startRecordingUpstream, rawExchange, statuses, eventually, type RecordingUpstream } from '../helpers/raw.js'
import { testCa } from '../helpers/pki.js'

const TOKEN = 'scw-limits-' + Math.random().toString(36).slice(2)
const LIMITS = {
  headersTimeout: 1000,
  requestTimeout: 2000,
  keepAliveTimeout: 400,
  tlsHandshakeTimeout: 500,
  maxHeaderSize: 4096,
  maxHeaderCount: 50,
  http2MaxConcurrentStreams: 10,
  http2MaxResets: 50
}
// Node keeps an idle HTTP/1.1 socket 1 s past keepAliveTimeout (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER).
// Upper bounds are generous (the machine may be busy); without enforcement these waits are minutes.
const SLACK = 5000
const IDLE_CLOSE_BY = LIMITS.keepAliveTimeout + 1000 + SLACK
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** A complete answer from the echo upstream (keep-alive: the connection stays open). */
const answered = (d: string): boolean => /\r\n\r\nseen: [^\r]* HTTP\/1\.1$/.test(d)

type Listener = 'http' | 'tls'

/** A connection that writes `head`, then one more byte every `everyMs`, until the server closes it. */
function slowClient (port: number, listener: Listener, head: string, everyMs: number, localAddress?: string): Promise<{ data: string, ms: number }> {
  return new Promise((resolve) => {
    const start = Date.now()
    let data = ''
    let timer: NodeJS.Timeout | undefined
    const onConnect = (): void => {
      s.write(head)
      timer = setInterval(() => { if (s.writable) s.write('a') }, everyMs)
    }
    const s: Socket = listener === 'tls'
      ? tlsConnect({ host: '127.0.0.1', port, ca: testCa().cert, servername: 'localhost', ALPNProtocols: ['http/1.1'], localAddress } as ConnectionOptions, onConnect)
      : netConnect({ host: '127.0.0.1', port, localAddress }, onConnect)
    s.on('data', (d: Buffer) => { data += d.toString('latin1') })
    s.on('error', () => {})
    s.on('close', () => {
      clearInterval(timer)
      resolve({ data, ms: Date.now() - start })
    })
    // Safety net: never outlive the test.
    setTimeout(() => s.destroy(), 30_000).unref()
  })
}

/** One normal request; resolves with its status and how long it took. */
async function normalRequest (gw: TestGateway, path = '/public/normal'): Promise<{ status: number, ms: number }> {
  const start = Date.now()
  const r = await gw.get(path)
  return { status: r.status, ms: Date.now() - start }
}

describe('limits and slow clients', () => {
  let rec: RecordingUpstream
  let gw: TestGateway
  const port = (l: Listener): number => l === 'http' ? gw.addr.http!.port : gw.addr.https.port

  before(async () => {
    rec = await startRecordingUpstream()
    gw = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        server: { httpOption: 'enabled', logLevel: 'warn', accessLog: false, limits: { ...LIMITS, bodyLimit: 1000 } },
        containers: {
          app: { upstream: rec.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' },
          uploads: { upstream: rec.url, match: { path: '/uploads' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', bodyLimit: 5000 }
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await rec.close()
  })

  // The timer-bound tests run side by side (each would otherwise wait its timeout in turn); the
  // floods, which load the CPU, run after them, one at a time.
  describe('timeouts and sizes', { concurrency: true }, () => {
    for (const listener of ['http', 'tls'] as const) {
      describe(`HTTP/1.1 on the ${listener === 'http' ? 'plain' : 'TLS'} listener`, { concurrency: true }, () => {
        test('slow headers: 408 and closed after headersTimeout', async () => {
          const r = await slowClient(port(listener), listener, 'GET /public HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 100)
          assert.ok(r.ms >= LIMITS.headersTimeout - 100 && r.ms < LIMITS.headersTimeout + SLACK, `closed after ${r.ms} ms`)
          assert.match(r.data, /^(?:HTTP\/1\.1 408 |$)/)
        })

        test('slow body: closed after requestTimeout, the upstream request is not completed', async () => {
          const path = `/public/slow-body-${listener}`
          const r = await slowClient(port(listener), listener, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\n`, 100)
          assert.ok(r.ms >= LIMITS.requestTimeout - 100 && r.ms < LIMITS.requestTimeout + SLACK, `closed after ${r.ms} ms`)
          // The upstream connection may have carried other requests before this one (keep-alive reuse).
          const conn = rec.connections.find((c) => Buffer.concat(c.bytes).toString('latin1').includes(`POST ${path} `))
          assert.ok(conn !== undefined, 'the head was streamed upstream')
          const all = Buffer.concat(conn.bytes).toString('latin1')
          const sent = all.slice(all.indexOf(`POST ${path} `))
          assert.ok(sent.length - sent.indexOf('\r\n\r\n') - 4 < 500, 'the upstream never got the whole body')
          assert.ok(await eventually(() => conn.closed), 'and that upstream request was aborted')
        })

        test('idle keep-alive: closed after keepAliveTimeout', async () => {
          const start = Date.now()
          const r = await rawExchange({ port: port(listener), tls: listener === 'tls', waitMs: IDLE_CLOSE_BY + 2000 }, 'GET /public/idle HTTP/1.1\r\nHost: localhost\r\n\r\n')
          assert.deepEqual(statuses(r.data), [200])
          assert.ok(r.closed && Date.now() - start < IDLE_CLOSE_BY, `closed after ${Date.now() - start} ms`)
        })

        test('header block larger than maxHeaderSize: 431', async () => {
          const r = await rawExchange({ port: port(listener), tls: listener === 'tls' }, `GET /public HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(LIMITS.maxHeaderSize)}\r\n\r\n`)
          assert.deepEqual(statuses(r.data), [431])
          assert.ok(r.closed)
        })

        test('header flood: 10,000 one-byte headers are refused (431), more than maxHeaderCount small ones too (400)', async () => {
          const path = `/public/flood-${listener}`
          const flood = await rawExchange({ port: port(listener), tls: listener === 'tls' }, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${'a:b\r\n'.repeat(10_000)}\r\n`)
          assert.deepEqual(statuses(flood.data), [431])
          const many = await rawExchange({ port: port(listener), tls: listener === 'tls' }, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${'x-h: 1\r\n'.repeat(LIMITS.maxHeaderCount)}\r\n`)
          assert.deepEqual(statuses(many.data), [400])
          assert.ok(many.closed)
          assert.ok(!rec.text().includes(path), 'nothing reached the upstream')
          const fine = await rawExchange({ port: port(listener), tls: listener === 'tls', waitMs: 5000, until: answered }, `GET /public HTTP/1.1\r\nHost: localhost\r\n${'x-h: 1\r\n'.repeat(LIMITS.maxHeaderCount - 5)}\r\n`)
          assert.deepEqual(statuses(fine.data), [200])
        })

        test('body larger than the container limit: 413 (declared or streamed); another container has its own limit', async () => {
          const declared = await rawExchange({ port: port(listener), tls: listener === 'tls' }, 'POST /public HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n\r\n' + 'a'.repeat(1001))
          assert.deepEqual(statuses(declared.data), [413])
          assert.ok(declared.closed)
          const path = `/public/streamed-${listener}`
          const chunk = 'a'.repeat(600)
          const streamed = await rawExchange({ port: port(listener), tls: listener === 'tls' }, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`)
          assert.deepEqual(statuses(streamed.data), [413])
          const conn = rec.connections.find((c) => Buffer.concat(c.bytes).toString('latin1').startsWith(`POST ${path} `))
          assert.ok(conn === undefined || !Buffer.concat(conn.bytes).toString('latin1').includes('\r\n0\r\n\r\n'), 'the upstream never got the whole body')
          const ok = await rawExchange({ port: port(listener), tls: listener === 'tls', waitMs: 5000 }, 'POST /uploads/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n' + 'a'.repeat(2000))
          assert.deepEqual(statuses(ok.data), [200])
        })
      })
    }

    test('TLS handshake timeout: a silent or stalled handshake is closed after tlsHandshakeTimeout', async () => {
      for (const bytes of [Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]) {
        const start = Date.now()
        const closed = await new Promise<number>((resolve) => {
          const s = netConnect({ host: '127.0.0.1', port: gw.addr.https.port }, () => { if (bytes.length > 0) s.write(bytes) })
          s.on('error', () => {})
          s.on('close', () => resolve(Date.now() - start))
          setTimeout(() => s.destroy(), 20_000).unref()
        })
        assert.ok(closed >= LIMITS.tlsHandshakeTimeout - 100 && closed < LIMITS.tlsHandshakeTimeout + SLACK, `closed after ${closed} ms`)
      }
    })
  })

  test('1,000 slow-header sockets: all cut after headersTimeout, a normal client is answered meanwhile', async () => {
    const slow: Array<Promise<{ data: string, ms: number }>> = []
    for (let i = 0; i < 1000; i++) {
      // Four loopback sources of 250 sockets each (under the per-IP cap); the normal client is 127.0.0.1.
      slow.push(slowClient(gw.addr.http!.port, 'http', 'GET /public HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 300, `127.0.0.${2 + (i % 4)}`))
    }
    await sleep(200)
    for (let i = 0; i < 10; i++) {
      const r = await normalRequest(gw)
      assert.equal(r.status, 200)
      assert.ok(r.ms < SLACK, `answered in ${r.ms} ms`)
    }
    const results = await Promise.all(slow)
    const late = results.filter((r) => r.ms > LIMITS.headersTimeout + 2 * SLACK)
    assert.equal(late.length, 0, `${late.length} slow sockets outlived headersTimeout`)
    assert.equal((await normalRequest(gw)).status, 200)
  })

  test('idle keep-alive flood over TLS: 300 idle sockets are all closed, a normal client is answered meanwhile', async () => {
    const start = Date.now()
    const idle = Array.from({ length: 300 }, (_, i) => rawExchange({ port: gw.addr.https.port, tls: true, waitMs: IDLE_CLOSE_BY + SLACK, localAddress: `127.0.0.${6 + (i % 3)}` }, 'GET /public/idle HTTP/1.1\r\nHost: localhost\r\n\r\n'))
    await sleep(300)
    const r = await normalRequest(gw)
    assert.equal(r.status, 200)
    const results = await Promise.all(idle)
    assert.ok(results.every((x) => x.closed), 'every idle socket was closed by the server')
    assert.ok(results.every((x) => statuses(x.data)[0] === 200), 'each got its answer first')
    assert.ok(Date.now() - start < IDLE_CLOSE_BY + SLACK, `all closed after ${Date.now() - start} ms`)
  })

  describe('HTTP/2', () => {
    test('the advertised and enforced stream limit is http2MaxConcurrentStreams', async () => {
      const slowUp = await startRecordingUpstream(() => { /* never answers */ })
      const g = await startGateway({
        env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
        config: {
          server: { logLevel: 'silent', accessLog: false, limits: LIMITS, upstream: { timeout: 5000 } },
          containers: { slow: { upstream: slowUp.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } }
        }
      })
      const session = h2connect(`https://localhost:${g.addr.https.port}`, { ca: testCa().cert })
      try {
        await new Promise((resolve) => session.once('remoteSettings', resolve))
        assert.equal(session.remoteSettings.maxConcurrentStreams, LIMITS.http2MaxConcurrentStreams)
        for (let i = 0; i < LIMITS.http2MaxConcurrentStreams + 5; i++) session.request({ ':path': `/s${i}` }).on('error', () => {}).end()
        await eventually(() => slowUp.text().split('GET /s').length - 1 >= LIMITS.http2MaxConcurrentStreams)
        await sleep(200)
        assert.equal(slowUp.text().split('GET /s').length - 1, LIMITS.http2MaxConcurrentStreams, 'no more streams in flight than the limit')
      } finally {
        session.destroy()
        await g.close()
        await slowUp.close()
      }
    })

    test('rapid reset: a session that cancels too many streams gets GOAWAY ENHANCE_YOUR_CALM; others are served', async () => {
      const session = h2connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
      session.on('error', () => {})
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)))
      await new Promise((resolve) => session.once('remoteSettings', resolve))
      for (let i = 0; i < 1000 && !session.closed && !session.destroyed; i++) {
        session.request({ ':path': `/public/rr${i}` }).on('error', () => {}).close(h2.NGHTTP2_CANCEL)
        if (i % 50 === 49) await sleep(5)
      }
      const code = await Promise.race([goaway, sleep(SLACK).then(() => -1)])
      session.destroy()
      assert.equal(code, h2.NGHTTP2_ENHANCE_YOUR_CALM)
      assert.equal((await normalRequest(gw)).status, 200)
    })

    test('a trickling HTTP/2 request body is cut at requestTimeout (Node bounds only HTTP/1.1)', async () => {
      const session = h2connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
      session.on('error', () => {})
      const start = Date.now()
      const req = session.request({ ':method': 'POST', ':path': '/public/h2-trickle', 'content-type': 'text/plain' })
      req.on('error', () => {})
      req.resume()
      const tick = setInterval(() => { if (!req.destroyed) req.write('x') }, 100)
      const closedAfter = await new Promise<number>((resolve) => {
        req.on('close', () => resolve(Date.now() - start))
        setTimeout(() => resolve(-1), LIMITS.requestTimeout + SLACK).unref()
      })
      clearInterval(tick)
      session.destroy()
      assert.ok(closedAfter >= LIMITS.requestTimeout - 100 && closedAfter < LIMITS.requestTimeout + SLACK, `closed after ${closedAfter} ms`)
      assert.equal((await normalRequest(gw)).status, 200)
    })

    test('an idle HTTP/2 session is closed after keepAliveTimeout', async () => {
      const session = h2connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
      session.on('error', () => {})
      const start = Date.now()
      const req = session.request({ ':path': '/public/h2' })
      req.resume()
      await new Promise((resolve) => req.on('close', resolve))
      const closedAfter = await new Promise<number>((resolve) => {
        session.on('close', () => resolve(Date.now() - start))
        setTimeout(() => { session.destroy(); resolve(-1) }, LIMITS.keepAliveTimeout + SLACK + 1000).unref()
      })
      assert.ok(closedAfter > 0 && closedAfter < LIMITS.keepAliveTimeout + SLACK, `closed after ${closedAfter} ms`)
    })
  })
})

describe('connection caps', () => {
  test('maxConnectionsPerIp and maxConnections: extra sockets are dropped, other clients are served', async () => {
    const rec = await startRecordingUpstream()
    const gw = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        server: { httpOption: 'enabled', logLevel: 'silent', accessLog: false, limits: { maxConnectionsPerIp: 5, maxConnections: 12 } },
        containers: { app: { upstream: rec.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } }
      }
    })
    const held: Socket[] = []
    const open = (localAddress: string): Promise<Socket> => new Promise((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: gw.addr.http!.port, localAddress }, () => resolve(s))
      s.on('error', () => {})
      held.push(s)
    })
    const droppedQuickly = (s: Socket): Promise<boolean> => new Promise((resolve) => {
      if (s.destroyed) return resolve(true)
      s.once('close', () => resolve(true))
      setTimeout(() => resolve(false), 500)
    })
    try {
      for (let i = 0; i < 5; i++) await open('127.0.0.2')
      assert.ok(await droppedQuickly(await open('127.0.0.2')), 'the 6th socket from one IP is dropped')
      const other = await rawExchange({ port: gw.addr.http!.port, localAddress: '127.0.0.3' }, 'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
      assert.deepEqual(statuses(other.data), [200], 'another IP is served')
      for (let i = 0; i < 5; i++) await open('127.0.0.4')
      await open('127.0.0.5')
      await open('127.0.0.5')
      assert.ok(await droppedQuickly(await open('127.0.0.6')), 'past maxConnections the socket is dropped')
    } finally {
      for (const s of held) s.destroy()
      await gw.close()
      await rec.close()
    }
  })
})
