// WebSocket tunnels over time: the caps (global and per client IP), the idle timeout (and Node's
// request timeouts, which must not cut a tunnel), backpressure with a reader that stops reading,
// HTTP/2 extended CONNECT (RFC 8441), and a config reload that keeps open tunnels.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import { parse, stringify } from 'yaml'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { testCa, writePki } from '../helpers/pki.js'
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstream.js'
import { waitFor } from '../credentials/helpers.js'
import { loadConfig } from '../../src/config/load.js'
import { clientFrame, closed, echo, handshake, isOpen, openWs, rawSocket, readFrames, type Opened } from './helpers.js'

const TOKEN = 'scw-ws-life-' + randomBytes(8).toString('hex')
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function outBytes (gw: TestGateway, container: string): Promise<number> {
  const m = new RegExp(`tollgate_websocket_bytes_total\\{container="${container}",direction="out"\\} (\\d+)`).exec(await gw.app.metrics.text())
  return Number(m?.[1] ?? 0)
}

describe('WebSocket tunnels: caps, timeouts, backpressure, HTTP/2, reload', () => {
  let up: WsUpstream
  let gw: TestGateway
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: TOKEN }
  let wss: string

  before(async () => {
    up = await startWsUpstream()
    const pki = writePki()
    const container = (path: string, more: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', websocket: true, ...more })
    gw = await startGateway({
      env,
      config: {
        server: {
          httpOption: 'enabled',
          websocket: { maxTunnels: 3, maxTunnelsPerIp: 2, idleTimeout: 1000 },
          // Node's request timers must not apply to a connection that became a tunnel.
          limits: { headersTimeout: 400, requestTimeout: 800 }
        },
        containers: {
          pub: container('/pub'),
          priv: container('/priv', { privacy: 'private' }),
          nows: container('/nows', { websocket: false }),
          reload: container('/reload'),
          // The container's certificate is signed by the test CA, which only upstreamCa makes trusted.
          untrusted: { upstream: up.url, match: { path: '/untrusted' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', websocket: true }
        }
      }
    })
    wss = `wss://localhost:${gw.addr.https.port}`
  })
  after(async () => {
    await gw?.close()
    await up?.close()
  })

  test('the upgrade to the container is TLS-verified like every forward: an untrusted certificate is 502, nothing sent', async () => {
    const before = up.upgrades.length
    const r = await openWs(`${wss}/untrusted/x`)
    assert.ok(!isOpen(r))
    assert.equal(r.status, 502)
    assert.equal(JSON.parse(r.body).reason, 'upstream_unreachable')
    assert.equal(up.upgrades.length, before, 'no upgrade request (and no token) reached the container')
  })

  test('caps: past maxTunnelsPerIp a client IP gets 429, past maxTunnels everyone gets 503; a closed tunnel frees its place', async () => {
    const a = await openWs(`${wss}/pub/cap-a`) as Opened
    const b = await openWs(`${wss}/pub/cap-b`) as Opened
    assert.ok(isOpen(a) && isOpen(b))
    const third = await openWs(`${wss}/pub/cap-c`)
    assert.ok(!isOpen(third))
    assert.equal(third.status, 429)
    assert.deepEqual(JSON.parse(third.body).reason, 'websocket_ip_limit')
    const other = await openWs(`${wss}/pub/cap-d`, { localAddress: '127.0.0.2' }) as Opened
    assert.ok(isOpen(other), 'another client IP still gets one')
    const full = await openWs(`${wss}/pub/cap-e`, { localAddress: '127.0.0.3' })
    assert.ok(!isOpen(full))
    assert.equal(full.status, 503)
    assert.equal(JSON.parse(full.body).reason, 'websocket_limit')
    a.ws.close()
    await closed(a.ws)
    await waitFor(async () => isOpen(await openWs(`${wss}/pub/cap-f`, { localAddress: '127.0.0.3' }).then((r) => { if (isOpen(r)) r.ws.close(); return r })), 3000, 'a freed place')
    for (const o of [b, other]) { o.ws.close(); await closed(o.ws) }
    await waitFor(async () => /tollgate_websocket_tunnels\{container="pub"\} 0/.test(await gw.app.metrics.text()), 3000, 'no tunnel left')
  })

  test('idle timeout: traffic keeps a tunnel open past Node\'s request timeouts; silence closes it (closedBy idle)', async () => {
    const r = await openWs(`${wss}/pub/idle`) as Opened
    assert.ok(isOpen(r))
    const start = Date.now()
    let n = 0
    let last = 0
    while (Date.now() - start < 2500) {
      assert.equal(await echo(r.ws, `ping ${n}`), `ping ${n}`)
      last = Date.now() // the gateway saw the reply pass just before this
      n++
      await sleep(150)
    }
    await closed(r.ws)
    assert.ok(Date.now() - last >= 900, `closed by the idle timer, not before (${Date.now() - last} ms after the last byte)`)
    await waitFor(() => gw.logs.some((l) => l.type === 'access' && l.path === '/pub/idle'), 3000, 'the access line')
    assert.equal(gw.logs.find((l) => l.type === 'access' && l.path === '/pub/idle')?.closedBy, 'idle')
  })

  test('backpressure: a client that stops reading stops the gateway reading the container; everything arrives once it reads again', async () => {
    const total = 48 * 1024 * 1024
    const s = await rawSocket(gw.addr.https.port, true)
    const before = await outBytes(gw, 'pub')
    let head = ''
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer): void => {
        head += d.toString('latin1')
        if (!head.includes('\r\n\r\n')) return
        s.off('data', onData)
        s.pause()
        resolve()
      }
      s.on('data', onData)
      s.write(handshake(`/pub/flood/${total}`))
    })
    assert.match(head, /^HTTP\/1\.1 101 /)
    // Stalled: what the gateway took from the container stops growing, far below what it offers.
    let last = -1
    await waitFor(async () => {
      const now = await outBytes(gw, 'pub')
      const stalled = now === last
      last = now
      return stalled && now > before
    }, 10_000, 'the relay to stall')
    await sleep(300)
    const held = (await outBytes(gw, 'pub')) - before
    assert.equal((await outBytes(gw, 'pub')) - before, held, 'nothing more is read while the client does not read')
    assert.ok(held < 24 * 1024 * 1024, `bounded: ${held} bytes relayed while the client read nothing`)
    assert.ok(!up.flood.done, 'the container is held back too')
    // Reading again: every byte arrives (payload plus frame headers).
    let got = Buffer.byteLength(head, 'latin1') - head.indexOf('\r\n\r\n') - 4
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        got += d.length
        if (got >= total) resolve()
      })
      s.resume()
    })
    assert.ok(up.flood.done)
    s.destroy()
  })

  test('HTTP/2 extended CONNECT (RFC 8441): echo, token injected, denials are 401/403 JSON, a container without websocket: true answers 405', async () => {
    const session = http2.connect(`https://localhost:${gw.addr.https.port}`, { ca: testCa().cert })
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve))
      assert.equal(settings.enableConnectProtocol, true)
      const connect = (path: string, extra: Record<string, string> = {}): http2.ClientHttp2Stream => session.request({
        ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path, ':authority': 'localhost', 'sec-websocket-version': '13', ...extra
      }, { endStream: false })
      const answer = async (st: http2.ClientHttp2Stream): Promise<number> => await new Promise((resolve) => st.once('response', (h) => resolve(Number(h[':status']))))

      const before = up.upgrades.length
      const st = connect('/pub/h2?q=1', { 'sec-websocket-protocol': 'chat' })
      assert.equal(await answer(st), 200)
      let buf = Buffer.alloc(0)
      const frame = new Promise<string>((resolve) => {
        st.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d])
          const { frames } = readFrames(buf)
          if (frames.length > 0) resolve(frames[0][1].toString())
        })
      })
      st.write(clientFrame('over h2'))
      assert.equal(await frame, 'over h2')
      const u = up.upgrades[before]
      assert.equal(u.url, '/pub/h2?q=1')
      assert.equal(u.headers['x-auth-token'], TOKEN)
      assert.equal(u.headers.upgrade, 'websocket')
      assert.match(String(u.headers['sec-websocket-key']), /^[A-Za-z0-9+/]{22}==$/)
      assert.equal(u.headers['sec-websocket-protocol'], 'chat')
      st.write(clientFrame(Buffer.from([0x03, 0xe8]), 8))
      await new Promise((resolve) => st.once('close', resolve))
      await waitFor(() => gw.logs.some((l) => l.type === 'access' && l.path === '/pub/h2'), 3000, 'the access line')
      const line = gw.logs.find((l) => l.type === 'access' && l.path === '/pub/h2') as Record<string, any>
      assert.equal(line.status, 200)
      assert.equal(line.method, 'GET')
      assert.equal(line.closeCode, 1000)

      const denied = connect('/priv/h2')
      assert.equal(await answer(denied), 401)
      denied.close()
      const refused = connect('/nows/h2')
      assert.equal(await answer(refused), 405)
      refused.close()
      // A CONNECT without :protocol is refused as before.
      const plain = session.request({ ':method': 'CONNECT', ':authority': 'localhost:443' }, { endStream: false })
      assert.equal(await answer(plain), 405)
      plain.close()
    } finally {
      session.close()
    }
  })

  test('a config reload keeps open tunnels on the runtime they opened on; new upgrades get the new config', async () => {
    const r = await openWs(`${wss}/reload/kept`) as Opened
    assert.ok(isOpen(r))
    assert.equal(await echo(r.ws, 'before'), 'before')
    const doc = parse(readFileSync(gw.configFile, 'utf8'))
    doc.containers.reload.websocket = false
    writeFileSync(gw.configFile, stringify(doc))
    await gw.app.reload(await loadConfig(gw.configFile, env))
    assert.equal(await echo(r.ws, 'after the reload'), 'after the reload')
    const next = await openWs(`${wss}/reload/new`)
    assert.ok(!isOpen(next) && next.status === 200, 'a new upgrade is now served as plain HTTP')
    r.ws.close()
    await closed(r.ws)
  })
})
