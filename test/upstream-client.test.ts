// tollgate's own HTTP/1.1 upstream client (src/proxy/client.ts), from the upstream's side: what a
// pool of keep-alive connections must get right that a single request does not show — reuse, a
// connection the upstream closed meanwhile, the upstream's keep-alive hint, and a request head that
// no configured value can split.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { createServer as createHttpServer, type Server } from 'node:http'
import { connect as h2connect } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { testCa } from './helpers/pki.js'
import { startGateway, type TestGateway } from './helpers/gateway.js'
import { startRecordingUpstream, rawExchange, statuses, eventually, type RecordingUpstream, type ConnectionBehaviour } from './helpers/raw.js'
import { parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/errors.js'
import { nativeParser } from '../src/proxy/client.js'
import { clientKind } from '../src/proxy/transport.js'

const TOKEN = 'scw-client-' + Math.random().toString(36).slice(2)

/** Answers each request head with 200 `seen: <request line> #<n on this connection>` and `extra` head fields. */
function answering (extra = '', onRequest?: (socket: Socket, n: number, head: string) => boolean): ConnectionBehaviour {
  return (socket) => {
    let buf = ''
    let n = 0
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.slice(0, end)
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        const length = m === null ? 0 : Number(m[1])
        if (buf.length < end + 4 + length) return
        buf = buf.slice(end + 4 + length)
        n++
        if (onRequest?.(socket, n, head) === false) return
        const body = `seen: ${head.slice(0, head.indexOf('\r\n'))} #${n}`
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n${extra}content-length: ${body.length}\r\n\r\n${body}`)
      }
    })
  }
}

test('this Node has the parser binding, so the default client is tollgate\'s own (not a silent fallback to undici)', () => {
  assert.equal(typeof nativeParser, 'function')
  const c = parseConfig(`
server:
  listen: { https: { host: 127.0.0.1, port: 8443 } }
  tls: { cert: cert.pem, key: key.pem }
containers:
  a: { upstream: 'http://127.0.0.1:1', match: { path: / }, token: '\${env:T}' }
`, { file: '/etc/tollgate/tollgate.yaml', env: { T: 't' } })
  assert.equal(c.server.upstream.client, 'tollgate')
  assert.equal(clientKind(c.server.upstream), 'tollgate')
  assert.equal(clientKind({ ...c.server.upstream, client: 'undici' }), 'undici')
})

test('pipelining above 1 is refused with tollgate\'s client, naming the field', () => {
  const text = (client: string): string => `
server:
  listen: { https: { host: 127.0.0.1, port: 8443 } }
  tls: { cert: cert.pem, key: key.pem }
  upstream: { pipelining: 4${client} }
containers:
  a: { upstream: 'http://127.0.0.1:1', match: { path: / }, token: '\${env:T}' }
`
  assert.throws(() => parseConfig(text(''), { file: '/x.yaml', env: { T: 't' } }), (err: unknown) =>
    err instanceof ConfigError && err.path === 'server.upstream.pipelining' && /client: undici/.test(err.message))
  assert.equal(parseConfig(text(', client: undici'), { file: '/x.yaml', env: { T: 't' } }).server.upstream.pipelining, 4)
})

for (const client of ['tollgate', 'undici'] as const) {
  describe(`upstream connections (${client} client)`, () => {
    const ups: Record<string, RecordingUpstream> = {}
    let gw: TestGateway
    before(async () => {
      ups.plain = await startRecordingUpstream(answering())
      // Closes every connection at its second request, unanswered: a keep-alive connection the
      // upstream closed while the gateway still held it (the race every pooled client meets).
      ups.stale = await startRecordingUpstream(answering('', (socket, n) => {
        if (n === 1) return true
        socket.destroy()
        return false
      }))
      ups.hint = await startRecordingUpstream(answering('keep-alive: timeout=2\r\n'))
      ups.victim = await startRecordingUpstream(answering())
      // A response head in three writes, with 40 fields (the parser hands them over in pieces).
      ups.split = await startRecordingUpstream((socket) => {
        socket.once('data', () => {
          const fields = Array.from({ length: 40 }, (_, i) => `x-f${i}: v${i}\r\n`).join('')
          socket.write('HTTP/1.1 200 OK\r\nx-first: 1\r\n')
          setTimeout(() => socket.write(fields), 30)
          setTimeout(() => socket.write('x-last: 2\r\ncontent-length: 2\r\n\r\nok'), 60)
        })
      })
      const c = (upstream: string, path: string, token = '${env:UPSTREAM_TOKEN}'): Record<string, unknown> =>
        ({ upstream, match: { path }, token, privacy: 'public' })
      gw = await startGateway({
        env: { ...process.env, UPSTREAM_TOKEN: TOKEN, SPLIT_TOKEN: 'abc\r\nx-injected: yes' },
        config: {
          server: { httpOption: 'enabled', logLevel: 'silent', accessLog: false, upstream: { client, keepAliveTimeout: 4000 } },
          containers: {
            plain: c(ups.plain.url, '/plain'),
            stale: c(ups.stale.url, '/stale'),
            hint: c(ups.hint.url, '/hint'),
            victim: c(ups.victim.url, '/victim', '${env:SPLIT_TOKEN}'),
            split: c(ups.split.url, '/split')
          }
        }
      })
    })
    after(async () => {
      await gw.close()
      for (const u of Object.values(ups)) await u.close()
    })

    const send = async (method: string, path: string, body = ''): Promise<string> => (await rawExchange({ port: gw.addr.http!.port, waitMs: 3000 },
      `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${body !== '' ? `Content-Length: ${body.length}\r\n` : ''}\r\n${body}`)).data

    test('sequential requests share one keep-alive connection to the upstream', async () => {
      for (let i = 1; i <= 20; i++) {
        const r = await send('GET', `/plain/${i}`)
        assert.deepEqual(statuses(r), [200])
        assert.ok(r.endsWith(`seen: GET /plain/${i} HTTP/1.1 #${i}`), r.slice(-60))
      }
      assert.equal(ups.plain.connections.length, 1)
    })

    // undici does not re-send (its answer is a 502 there, like the POST below).
    if (client === 'tollgate') {
      test('a GET on a connection the upstream had closed is sent once more on a new one', async () => {
        assert.ok((await send('GET', '/stale/one')).endsWith('#1'))
        const r = await send('GET', '/stale/two')
        assert.deepEqual(statuses(r), [200], r)
        assert.ok(r.endsWith('seen: GET /stale/two HTTP/1.1 #1'), 'answered on a fresh connection')
        assert.equal(ups.stale.connections.length, 2)
      })
    }

    test('a POST on such a connection is not sent again (it may have been processed): 502', async () => {
      assert.ok((await send('GET', '/stale/three')).endsWith('#1'))
      const before = ups.stale.connections.length
      const r = await send('POST', '/stale/four', 'data')
      assert.deepEqual(statuses(r), [502], r)
      assert.match(r, /"reason":"upstream_unreachable"/)
      assert.equal(ups.stale.connections.length, before, 'no new connection, no second POST')
      assert.equal(ups.stale.text().split('POST /stale/four').length - 1, 1)
    })

    if (client === 'tollgate') {
      test('the upstream\'s Keep-Alive timeout hint: the idle connection is closed a second before the upstream would', async () => {
        assert.deepEqual(statuses(await send('GET', '/hint/x')), [200])
        const idleFrom = Date.now()
        assert.ok(await eventually(() => ups.hint.open() === 0, 3000), 'closed by the gateway')
        // keepAliveTimeout is 4 s; the hint (2 s, less a second) closes it well before that.
        assert.ok(Date.now() - idleFrom < 2500, `closed after ${Date.now() - idleFrom} ms`)
      })
    }

    test('a response head spread over several reads (and over 32 fields) arrives whole', async () => {
      const r = await send('GET', '/split/x')
      assert.deepEqual(statuses(r), [200], r)
      assert.match(r, /\r\nx-first: 1\r\n/)
      for (let i = 0; i < 40; i++) assert.ok(r.includes(`\r\nx-f${i}: v${i}\r\n`), `x-f${i}`)
      assert.match(r, /\r\nx-last: 2\r\n/)
      assert.ok(r.endsWith('\r\n\r\nok'))
    })

    test('a token with a line break cannot split the request head: nothing reaches the upstream', async () => {
      const r = await send('GET', '/victim/x')
      assert.equal(statuses(r).length, 1)
      assert.ok(statuses(r)[0] >= 500, r)
      // Both clients refuse the value before writing anything: a gateway fault, not the container's.
      assert.match(r, /"reason":"internal_error"/)
      assert.ok(!r.includes('x-injected'))
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.ok(!ups.victim.text().includes('x-injected'), 'no injected field upstream')
      assert.ok(!ups.victim.text().includes('GET /victim/x'), 'no request upstream at all')
    })
  })
}

/** An upstream that reads request bodies slowly (so the gateway's socket fills up) and answers with their length and SHA-256. */
async function slowReader (): Promise<{ url: string, server: Server }> {
  const server = createHttpServer((req, res) => {
    const hash = createHash('sha256')
    let n = 0
    req.pause()
    const pump = (): void => {
      let c: Buffer | null
      while ((c = req.read() as Buffer | null) !== null) { hash.update(c); n += c.length }
      if (!req.readableEnded) setTimeout(pump, 5)
    }
    req.on('readable', () => {})
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`${n} ${hash.digest('hex')} ${req.headers['transfer-encoding'] ?? '-'}`)
    })
    setTimeout(pump, 50)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

for (const client of ['tollgate', 'undici'] as const) {
  test(`chunk framing stays whole under backpressure: an HTTP/2 upload without Content-Length reaches the upstream intact (${client} client)`, async () => {
    const up = await slowReader()
    const gw = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        server: { logLevel: 'silent', accessLog: false, upstream: { client }, limits: { bodyLimit: 16 * 1024 * 1024 } },
        containers: { up: { upstream: up.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } }
      }
    })
    const body = Buffer.alloc(6 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + (i >> 12)) & 255
    const session = h2connect(gw.url, { ca: testCa().cert })
    session.on('error', () => {})
    try {
      const answer = await new Promise<{ status: number, text: string }>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' })
        let status = 0
        let text = ''
        stream.on('response', (h) => { status = Number(h[':status']) })
        stream.on('data', (d: Buffer) => { text += d.toString() })
        stream.on('end', () => resolve({ status, text }))
        stream.on('error', reject)
        // Written in 64 KiB pieces with no length announced: the gateway streams it on.
        let off = 0
        const write = (): void => {
          while (off < body.length) {
            const piece = body.subarray(off, off + 65536)
            off += piece.length
            if (!stream.write(piece)) { stream.once('drain', write); return }
          }
          stream.end()
        }
        write()
      })
      assert.equal(answer.status, 200, answer.text)
      assert.equal(answer.text, `${body.length} ${createHash('sha256').update(body).digest('hex')} chunked`)
    } finally {
      session.close()
      await gw.close()
      await new Promise<void>((resolve) => up.server.close(() => resolve()))
    }
  })
}
