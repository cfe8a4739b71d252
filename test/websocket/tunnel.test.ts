// WebSockets through a running gateway (RFC 6455 over HTTP/1.1 on both listeners), against a real
// `ws` upstream over verified TLS: the upgrade request runs the whole pipeline (a denied one gets
// the usual 401/403 JSON and never a 101), the container's token is injected and the client's
// credentials never forwarded, the container's 101 is checked before anything reaches the client,
// and what is not a tunnel stays plain HTTP.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startGateway, allLogLines, type TestGateway } from '../helpers/gateway.js'
import { writePki } from '../helpers/pki.js'
import { rawExchange, statuses } from '../helpers/raw.js'
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstream.js'
import { createKey, waitFor } from '../credentials/helpers.js'
import { closed, echo, handshake, isOpen, openWs, type Opened } from './helpers.js'

const TOKEN = 'scw-ws-token-' + randomBytes(8).toString('hex')

describe('WebSocket tunnels over HTTP/1.1', () => {
  let up: WsUpstream
  let gw: TestGateway
  let key: string
  const env: NodeJS.ProcessEnv = { ...process.env, UPSTREAM_TOKEN: TOKEN, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
  let wss: string
  let ws: string

  before(async () => {
    up = await startWsUpstream()
    const pki = writePki()
    const container = (path: string, more: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ upstream: up.url, upstreamCa: pki.ca, match: { path }, token: '${env:UPSTREAM_TOKEN}', privacy: 'private', websocket: true, ...more })
    gw = await startGateway({
      env,
      config: {
        server: { httpOption: 'enabled' },
        secrets: { store: './secrets.store' },
        credentials: { keys: './keys.store' },
        containers: {
          chat: container('/chat'),
          office: container('/office', { policies: [{ name: 'office', principals: ['*'], condition: 'inIpRange(request.ip, "10.0.0.0/8")' }] }),
          pub: container('/pub', { privacy: 'public' }),
          nows: container('/nows', { privacy: 'public', websocket: false }),
          strip: container('/strip', {
            privacy: 'public',
            stripPrefix: true,
            rateLimit: [{ name: 'ws', requests: 2, per: '1m', by: 'ip' }],
            headers: { response: { set: { 'x-rule': 'on' } } }
          })
        }
      }
    })
    wss = `wss://localhost:${gw.addr.https.port}`
    ws = `ws://127.0.0.1:${gw.addr.http!.port}`
    key = await createKey({ config: gw.configFile, env } as never, 'ws-client')
    // The gateway picks up a key created while it runs within its poll interval.
    await waitFor(async () => (await gw.get('/chat/probe', { headers: { 'x-auth-token': key } })).status !== 401, 10_000, 'the new key')
  })
  after(async () => {
    await gw?.close()
    await up?.close()
  })

  const lastUpgrade = (): WsUpstream['upgrades'][number] => up.upgrades[up.upgrades.length - 1]

  test('echo through the TLS listener: the container gets exactly its token, the client\'s credential never, X-Forwarded-* set', async () => {
    const before = up.upgrades.length
    const r = await openWs(`${wss}/chat/room?x=1`, { headers: { 'x-auth-token': key, 'x-forwarded-for': '6.6.6.6' } })
    assert.ok(isOpen(r), JSON.stringify(r))
    assert.equal(await echo(r.ws, 'hello over tls'), 'hello over tls')
    assert.equal(await echo(r.ws, Buffer.alloc(100_000, 1)), Buffer.alloc(100_000, 1).toString())
    r.ws.close()
    await closed(r.ws)
    assert.equal(up.upgrades.length, before + 1)
    const u = lastUpgrade()
    assert.equal(u.url, '/chat/room?x=1')
    const raw = u.rawHeaders
    const tokens = raw.filter((_v, i) => i % 2 === 0 && raw[i].toLowerCase() === 'x-auth-token').length
    assert.equal(tokens, 1, 'exactly one X-Auth-Token')
    assert.equal(u.headers['x-auth-token'], TOKEN)
    assert.ok(!raw.join('\n').includes(key), 'the client key never reaches the container')
    assert.equal(u.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(u.headers['x-forwarded-proto'], 'https')
    assert.equal(u.headers['x-forwarded-host'], `localhost:${gw.addr.https.port}`)
    assert.equal(u.headers.host, new URL(up.url).host)
    assert.equal(u.headers.upgrade, 'websocket')
    assert.match(String(u.headers.connection), /upgrade/i)
  })

  test('echo through the plain listener (httpOption: enabled), Authorization: Bearer', async () => {
    const r = await openWs(`${ws}/chat/over-http`, { headers: { authorization: `Bearer ${key}` } })
    assert.ok(isOpen(r), JSON.stringify(r))
    assert.equal(await echo(r.ws, 'hello over http'), 'hello over http')
    r.ws.close()
    await closed(r.ws)
    const u = lastUpgrade()
    assert.equal(u.headers['x-auth-token'], TOKEN)
    assert.equal(u.headers.authorization, undefined, 'a Bearer credential is consumed')
    assert.equal(u.headers['x-forwarded-proto'], 'http')
  })

  test('no credential: 401 JSON, never a 101, the container never asked', async () => {
    const before = up.upgrades.length
    for (const base of [wss, ws]) {
      const r = await openWs(`${base}/chat/x`)
      assert.ok(!isOpen(r))
      assert.equal(r.status, 401)
      assert.equal(JSON.parse(r.body).reason, 'credential_missing')
    }
    const raw = await rawExchange({ port: gw.addr.https.port, tls: true, waitMs: 3000 }, handshake('/chat/x'))
    assert.deepEqual(statuses(raw.data), [401], raw.data)
    assert.match(raw.data, /\r\nconnection: close\r\n/i)
    assert.ok(raw.closed, 'the connection is closed after the answer')
    assert.equal(up.upgrades.length, before, 'nothing reached the container')
  })

  test('denied by a condition: 403 policy_denied, never a 101', async () => {
    const before = up.upgrades.length
    const r = await openWs(`${wss}/office/x`, { headers: { 'x-auth-token': key } })
    assert.ok(!isOpen(r))
    assert.equal(r.status, 403)
    assert.deepEqual(JSON.parse(r.body), { error: 'forbidden', reason: 'policy_denied', requestId: JSON.parse(r.body).requestId })
    const raw = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000 }, handshake('/office/x', [`X-Auth-Token: ${key}`]))
    assert.deepEqual(statuses(raw.data), [403])
    assert.equal(up.upgrades.length, before)
  })

  test('a browser\'s credential as a subprotocol: consumed, never forwarded nor logged; the other subprotocols go on', async () => {
    const before = up.upgrades.length
    const r = await openWs(`${wss}/chat/browser`, { protocols: ['chat.v2', `tollgate.bearer.${key}`] })
    assert.ok(isOpen(r), JSON.stringify(r))
    assert.equal(r.protocol, 'chat.v2', 'the container selected a subprotocol the client offered')
    assert.equal(await echo(r.ws, 'from a browser'), 'from a browser')
    r.ws.close()
    await closed(r.ws)
    const u = up.upgrades[before]
    assert.equal(u.headers['sec-websocket-protocol'], 'chat.v2')
    assert.equal(u.headers['x-auth-token'], TOKEN)
    assert.ok(!u.rawHeaders.join('\n').includes(key))

    // The credential and `tollgate` alone: the container gets no Sec-WebSocket-Protocol and selects
    // none; the gateway's 101 selects `tollgate` (a browser fails a 101 that selects none).
    const alone = await openWs(`${wss}/chat/alone`, { protocols: ['tollgate', `tollgate.bearer.${key}`] })
    assert.ok(isOpen(alone), JSON.stringify(alone))
    assert.equal(alone.protocol, 'tollgate')
    alone.ws.close()
    await closed(alone.ws)
    assert.equal(lastUpgrade().headers['sec-websocket-protocol'], undefined)

    // A wrong one is refused; two different credentials are ambiguous.
    const wrong = await openWs(`${wss}/chat/x`, { protocols: ['tollgate.bearer.tgk_0000000000000000_' + 'a'.repeat(43)] })
    assert.ok(!isOpen(wrong) && wrong.status === 401)
    const two = await openWs(`${wss}/chat/x`, { protocols: [`tollgate.bearer.${key}`], headers: { 'x-auth-token': 'tgk_0000000000000000_' + 'b'.repeat(43) } })
    assert.ok(!isOpen(two) && two.status === 401 && JSON.parse(two.body).reason === 'credential_malformed')
    await waitFor(() => allLogLines.some((l) => l.includes('"path":"/chat/browser"')), 3000, 'the access line')
    assert.ok(!allLogLines.some((l) => l.includes(key)), 'the key is in no log line')
  })

  test('the subprotocol credential is never forwarded on a plain request either', async () => {
    const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000, until: (d) => d.includes('not a websocket') },
      `GET /nows/plain HTTP/1.1\r\nHost: localhost\r\nSec-WebSocket-Protocol: a, tollgate.bearer.${key}\r\nConnection: close\r\n\r\n`)
    assert.deepEqual(statuses(r.data), [200])
    const seen = up.plain[up.plain.length - 1]
    assert.equal(seen.headers['sec-websocket-protocol'], 'a')
  })

  test('the 101 is the gateway\'s: the container\'s X-Auth-Token never returned, its other fields relayed, one request id', async () => {
    const r = await rawExchange({ port: gw.addr.https.port, tls: true, waitMs: 3000, until: (d) => d.includes('\r\n\r\n') }, handshake('/pub/head'))
    assert.deepEqual(statuses(r.data), [101], r.data)
    const head = r.data.slice(0, r.data.indexOf('\r\n\r\n'))
    assert.doesNotMatch(head, /x-auth-token/i)
    assert.match(head, /\r\nx-upstream: yes/i)
    assert.match(head, /\r\nupgrade: websocket/i)
    assert.match(head, /\r\nconnection: upgrade/i)
    assert.equal(head.match(/^x-request-id:/gim)?.length, 1)
    assert.match(head, /\r\nstrict-transport-security: /i)
  })

  test('Connection: upgrade, x-auth-token cannot strip the injected token; a client X-Auth-Token on a public container never reaches it', async () => {
    const before = up.upgrades.length
    const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000, until: (d) => d.includes('\r\n\r\n') },
      handshake('/pub/conn', ['Connection: x-auth-token', 'X-Auth-Token: client-value']))
    assert.deepEqual(statuses(r.data), [101], r.data)
    const u = up.upgrades[before]
    assert.equal(u.headers['x-auth-token'], TOKEN)
    assert.equal(u.rawHeaders.filter((v) => v.toLowerCase() === 'x-auth-token').length, 1)
    assert.ok(!u.rawHeaders.includes('client-value'))
  })

  test('Upgrade on a container without websocket: true is ignored: plain HTTP, Connection: close, never a 101', async () => {
    const plainBefore = up.plain.length
    const upgradesBefore = up.upgrades.length
    for (const [port, tls] of [[gw.addr.http!.port, false], [gw.addr.https.port, true]] as const) {
      const r = await rawExchange({ port, tls, waitMs: 3000 }, handshake('/nows/plain') + 'GET /nows/pipelined HTTP/1.1\r\nHost: localhost\r\n\r\n')
      assert.deepEqual(statuses(r.data), [200], r.data)
      assert.match(r.data, /\r\nconnection: close\r\n/i)
      assert.ok(r.data.includes('not a websocket'))
      assert.ok(r.closed)
    }
    assert.equal(up.upgrades.length, upgradesBefore, 'no upgrade reached the container')
    const seen = up.plain.slice(plainBefore)
    assert.equal(seen.length, 2, 'the pipelined request was never served')
    for (const s of seen) {
      assert.equal(s.headers.upgrade, undefined)
      assert.doesNotMatch(String(s.headers.connection ?? ''), /upgrade/i)
      assert.equal(s.headers['x-auth-token'], TOKEN)
    }
    // A websocket client sees a failed handshake, as before WebSockets existed in tollgate.
    const r = await openWs(`${wss}/nows/x`)
    assert.ok(!isOpen(r) && r.status === 200)
  })

  test('smuggling through Upgrade: an upgrade announcing a body is refused (Node 20 and 26 read such bytes differently)', async () => {
    const before = { plain: up.plain.length, upgrades: up.upgrades.length }
    const smuggled = 'GET /nows/admin HTTP/1.1\r\nHost: localhost\r\n\r\n'
    const vectors = [
      `POST /nows/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
      `POST /chat/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
      handshake('/pub/x', [`Content-Length: ${smuggled.length}`]) + smuggled
    ]
    for (const v of vectors) {
      for (const [port, tls] of [[gw.addr.http!.port, false], [gw.addr.https.port, true]] as const) {
        const r = await rawExchange({ port, tls, waitMs: 3000 }, v)
        assert.deepEqual(statuses(r.data), [400], r.data)
        assert.ok(r.closed)
      }
    }
    assert.equal(up.plain.length, before.plain, 'nothing reached the container')
    assert.equal(up.upgrades.length, before.upgrades)
  })

  test('a malformed handshake to a websocket container: 400 websocket_bad_handshake', async () => {
    const bad = [
      'GET /pub/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
      'GET /pub/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      'GET /pub/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n',
      handshake('/pub/x', [], 'PUT')
    ]
    for (const b of bad) {
      const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000 }, b)
      assert.deepEqual(statuses(r.data), [400], r.data)
      assert.equal(JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4)).reason, 'websocket_bad_handshake')
    }
  })

  test('a hostile container answering 101 with a wrong Sec-WebSocket-Accept: 502, nothing of its answer reaches the client', async () => {
    for (const [port, tls] of [[gw.addr.http!.port, false], [gw.addr.https.port, true]] as const) {
      const r = await rawExchange({ port, tls, waitMs: 3000 }, handshake('/pub/bad-accept'))
      assert.deepEqual(statuses(r.data), [502], r.data)
      // (the request id is a random UUID: "101" alone would match it now and then)
      assert.doesNotMatch(r.data, /upstream-leak|hello|HTTP\/1\.1 101|switching protocols|sec-websocket-accept/i)
      assert.equal(JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4)).reason, 'upstream_bad_response')
      assert.ok(r.closed)
    }
  })

  test('the container refuses the upgrade: its answer relayed as a plain response, without its X-Auth-Token', async () => {
    const r = await rawExchange({ port: gw.addr.https.port, tls: true, waitMs: 3000 }, handshake('/pub/refuse'))
    assert.deepEqual(statuses(r.data), [403], r.data)
    assert.doesNotMatch(r.data, /x-auth-token|upstream-leak/i)
    assert.ok(r.data.endsWith('{"error":"container says no"}'))
    await waitFor(() => gw.logs.some((l) => l.type === 'access' && l.path === '/pub/refuse' && l.reason === 'upstream_rejected_token'), 3000, 'the access line')
  })

  test('access line when the tunnel closes: 101, duration, bytes both ways, who closed it; metrics count it', async () => {
    const r = await openWs(`${wss}/pub/accounted`) as Opened
    assert.ok(isOpen(r))
    await echo(r.ws, 'x'.repeat(1000))
    const open = await gw.app.metrics.text()
    assert.match(open, /tollgate_websocket_tunnels\{container="pub"\} 1/)
    r.ws.close(4001, 'leaving')
    await closed(r.ws)
    await waitFor(() => gw.logs.some((l) => l.type === 'access' && l.path === '/pub/accounted'), 3000, 'the access line')
    const line = gw.logs.find((l) => l.type === 'access' && l.path === '/pub/accounted') as Record<string, any>
    assert.equal(line.status, 101)
    assert.equal(line.upgrade, 'websocket')
    assert.equal(line.decision, 'allow')
    assert.ok(line.bytesIn > 1000 && line.bytes > 1000, JSON.stringify(line))
    assert.equal(line.closedBy, 'client', 'the client sent the first Close frame')
    assert.equal(line.closeCode, 4001)
    assert.equal(typeof line.ms, 'number')
    await waitFor(async () => /tollgate_websocket_tunnels\{container="pub"\} 0/.test(await gw.app.metrics.text()), 3000, 'the gauge back to 0')
    const text = await gw.app.metrics.text()
    assert.match(text, /tollgate_websocket_bytes_total\{container="pub",direction="in"\} [1-9]\d{3,}/)
    assert.match(text, /tollgate_websocket_bytes_total\{container="pub",direction="out"\} [1-9]\d{3,}/)
    assert.match(text, /tollgate_websocket_tunnels_closed_total\{container="pub",cause="client"\} [1-9]/)
    assert.match(text, /tollgate_requests_total\{container="pub",status_class="1xx",reason="allowed"\} [1-9]/)
  })

  test('the other steps apply to upgrades: stripPrefix, response header rules, rate limits (429, never a 101)', async () => {
    const before = up.upgrades.length
    for (let i = 0; i < 2; i++) {
      const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000, until: (d) => d.includes('\r\n\r\n') }, handshake('/strip/room?n=1'))
      assert.deepEqual(statuses(r.data), [101], r.data)
      assert.match(r.data, /\r\nx-rule: on\r\n/i)
      assert.match(r.data, /\r\nratelimit-remaining: \d/i)
    }
    assert.equal(up.upgrades[before].url, '/room?n=1')
    assert.equal(up.upgrades[before].headers['x-forwarded-prefix'], '/strip')
    const limited = await rawExchange({ port: gw.addr.http!.port, waitMs: 3000 }, handshake('/strip/room'))
    assert.deepEqual(statuses(limited.data), [429], limited.data)
    assert.match(limited.data, /"reason":"rate_limited"/)
    assert.equal(up.upgrades.length, before + 2)
  })

  test('the container closing the tunnel: the client sees its close frame, the line says upstream', async () => {
    const r = await openWs(`${wss}/pub/closing`) as Opened
    assert.ok(isOpen(r))
    r.ws.send('bye')
    assert.equal(await closed(r.ws), 1000)
    await waitFor(() => gw.logs.some((l) => l.type === 'access' && l.path === '/pub/closing'), 3000, 'the access line')
    const line = gw.logs.find((l) => l.type === 'access' && l.path === '/pub/closing')
    assert.equal(line?.closedBy, 'upstream')
    assert.equal(line?.closeCode, 1000)
  })
})
