// The whole path, for real: a TLS gateway (test CA) in front of a TLS upstream, real clients.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { startGateway, type TestGateway } from './helpers/gateway.js'
import { startUpstream, type Upstream } from './helpers/upstream.js'
import { writePki, testCa } from './helpers/pki.js'
import { createDevCa } from '../src/tls/devcert.js'

const TOKEN = 'scw-secret-' + Math.random().toString(36).slice(2)

/** Raw HTTP/1.1 over TLS: returns everything the gateway sent before closing (or the timeout). */
function rawTls (port: number, payload: string, waitMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: testCa().cert, servername: 'localhost' }, () => s.write(payload))
    let out = ''
    s.on('data', (d) => { out += d.toString('latin1') })
    s.on('error', reject)
    s.on('close', () => resolve(out))
    setTimeout(() => { s.destroy(); resolve(out) }, waitMs).unref()
  })
}

describe('gateway end to end', () => {
  let up: Upstream
  let gw: TestGateway
  before(async () => {
    up = await startUpstream()
    const pki = writePki()
    // One upstream behind every container; they differ in match, privacy and policies.
    const container = (match: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ upstream: up.url, upstreamCa: pki.ca, match, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', ...extra })
    gw = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        server: { trustedProxies: ['127.0.0.2', '10.0.0.0/8'] },
        containers: {
          hello: container({ path: '/hello' }, { policies: [{ name: 'loopback', condition: 'inIpRange(request.ip, "127.0.0.0/8")' }] }),
          office: container({ path: '/office' }, { policies: [{ name: 'office', condition: 'inIpRange(request.ip, "198.51.100.0/24")' }] }),
          deep: container({ path: '/hello/deep' }),
          vhost: container({ host: 'api.example.com', path: '/hello' }),
          priv: container({ path: '/private' }, { privacy: 'private' })
        }
      }
    })
  })
  after(async () => {
    await gw.close()
    await up.close()
  })

  test('an allowed request reaches the upstream with exactly one X-Auth-Token, the container secret', async () => {
    up.received.length = 0
    const r = await gw.get('/hello/world?x=1', { headers: { 'x-auth-token': 'client-supplied', 'X-Auth-Token': 'second' } })
    assert.equal(r.status, 200)
    const seen = up.received[0]
    assert.equal(seen.url, '/hello/world?x=1')
    const tokens = seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i].toLowerCase() === 'x-auth-token')
    assert.equal(tokens.length, 1)
    assert.equal(seen.headers['x-auth-token'], TOKEN)
    assert.equal(seen.headers.host, `localhost:${up.port}`)
    assert.equal(seen.headers['x-forwarded-proto'], 'https')
    assert.equal(seen.headers['x-forwarded-host'], `localhost:${gw.addr.https.port}`)
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    assert.match(String(r.headers['strict-transport-security']), /^max-age=31536000/)
    assert.ok(!r.body.includes(TOKEN) || JSON.parse(r.body).headers['x-auth-token'] === TOKEN, 'the echo upstream is the only one that may show it')
  })

  test('a request denied by a condition gets 403 JSON with a stable reason and never reaches the upstream', async () => {
    up.received.length = 0
    const r = await gw.get('/office/reports')
    assert.equal(r.status, 403)
    const body = r.json()
    assert.equal(body.error, 'forbidden')
    assert.equal(body.reason, 'policy_denied')
    assert.match(body.requestId, /^[0-9a-f-]{36}$/)
    assert.equal(r.headers['x-request-id'], body.requestId)
    assert.ok(!r.body.includes('198.51.100'), 'no condition text in the body')
    assert.equal(up.received.length, 0)
  })

  test('routing: segment-bound prefixes, longest wins, host-specific beats hostless, none is 404', async () => {
    up.received.length = 0
    assert.equal((await gw.get('/helloworld')).status, 404)
    assert.equal((await gw.get('/helloworld')).json().reason, 'no_route')
    assert.equal((await gw.get('/hello')).status, 200)
    assert.equal((await gw.get('/hello/deep/x')).status, 200)
    // /hello/deep has no policies, so a non-loopback rule cannot be what allowed it: check the log.
    const deepLine = gw.logs.filter((l) => l.type === 'access' && l.path === '/hello/deep/x').pop()
    assert.equal(deepLine?.container, 'deep')
    const out = await rawTls(gw.addr.https.port, 'GET /hello/x HTTP/1.1\r\nHost: API.example.com\r\nConnection: close\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 200 /)
    const vhostLine = gw.logs.filter((l) => l.type === 'access' && l.host === 'api.example.com').pop()
    assert.equal(vhostLine?.container, 'vhost')
  })

  test('header hygiene seen from the upstream: hop-by-hop, Connection-listed and client forwarding headers are gone', async () => {
    up.received.length = 0
    const out = await rawTls(gw.addr.https.port, [
      'GET /hello HTTP/1.1', 'Host: localhost',
      'Connection: keep-alive, x-auth-token, X-Custom-Drop, close',
      'X-Custom-Drop: bye', 'X-Kept: yes', 'Proxy-Authorization: Basic Zm9vOmJhcg==',
      'Forwarded: for=6.6.6.6', 'X-Real-IP: 6.6.6.6', 'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example', 'X-Forwarded-Proto: http', 'Authorization: Bearer client-credential',
      'Keep-Alive: timeout=5', 'TE: trailers', 'Upgrade: websocket', '', ''
    ].join('\r\n'))
    assert.match(out, /^HTTP\/1\.1 200 /)
    const h = up.received[0].headers
    assert.equal(h['x-auth-token'], TOKEN, 'Connection: x-auth-token cannot remove the injected token')
    assert.equal(h['x-custom-drop'], undefined)
    assert.equal(h['x-kept'], 'yes')
    assert.equal(h['proxy-authorization'], undefined)
    assert.equal(h.forwarded, undefined)
    assert.equal(h['x-real-ip'], undefined)
    assert.equal(h['x-forwarded-for'], '127.0.0.1', 'an untrusted peer cannot set the client IP')
    assert.equal(h['x-forwarded-host'], 'localhost', 'the Host the client asked for, not its X-Forwarded-Host')
    assert.equal(h['x-forwarded-proto'], 'https')
    assert.equal(h.authorization, undefined, 'a Bearer credential is consumed, never forwarded')
    assert.equal(h['keep-alive'], undefined)
    assert.equal(h.te, undefined)
    assert.equal(h.upgrade, undefined)
  })

  test('a header name with "_" is refused with 400 and the connection closed (X_Auth_Token cannot slip through)', async () => {
    up.received.length = 0
    const out = await rawTls(gw.addr.https.port, 'GET /hello HTTP/1.1\r\nHost: localhost\r\nX_Auth_Token: attacker\r\n\r\nGET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 400 /)
    assert.match(out, /"reason":"header_underscore"/)
    assert.equal((out.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'the pipelined request is not served')
    assert.equal(up.received.length, 0)
  })

  test('duplicate Host is refused with 400', async () => {
    up.received.length = 0
    const out = await rawTls(gw.addr.https.port, 'GET /hello HTTP/1.1\r\nHost: localhost\r\nHost: api.example.com\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 400 /)
    assert.equal(up.received.length, 0)
  })

  test('X-Forwarded-For is honoured only from trusted proxies, walked right to left', async () => {
    up.received.length = 0
    // From an untrusted peer (127.0.0.1 is not in trustedProxies): the header is ignored.
    let r = await gw.get('/office', { headers: { 'x-forwarded-for': '198.51.100.7' } })
    assert.equal(r.status, 403)
    // From a trusted peer (127.0.0.2): the first untrusted address from the right is the client.
    const viaProxy = (xff: string, extra = ''): Promise<{ status: number, body: string }> => new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: gw.addr.https.port, ca: testCa().cert, servername: 'localhost', localAddress: '127.0.0.2' } as ConnectionOptions, () => {
        s.write(`GET /office HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: ${xff}\r\n${extra}Connection: close\r\n\r\n`)
      })
      let out = ''
      s.on('data', (d) => { out += d.toString() })
      s.on('end', () => resolve({ status: Number(out.slice(9, 12)), body: out }))
      s.on('error', reject)
    })
    r = await viaProxy('6.6.6.6, 198.51.100.7, 10.1.2.3') as never
    assert.equal(r.status, 200, 'spoofed leftmost entry ignored, 10.1.2.3 is a trusted hop')
    assert.equal(up.received.at(-1)?.headers['x-forwarded-for'], '198.51.100.7')
    r = await viaProxy('198.51.100.7, 6.6.6.6') as never
    assert.equal(r.status, 403, 'the rightmost untrusted address is the client')
    r = await viaProxy('::ffff:198.51.100.9') as never
    assert.equal(r.status, 200, 'IPv4-mapped IPv6 is reported as IPv4')
    // A trusted proxy that ended TLS itself says which scheme the client used.
    r = await viaProxy('198.51.100.7', 'X-Forwarded-Proto: http\r\n') as never
    assert.equal(r.status, 200)
    assert.equal(up.received.at(-1)?.headers['x-forwarded-proto'], 'http')
    assert.doesNotMatch(r.body, /strict-transport-security/i, 'no HSTS on a plain-HTTP client connection')
  })

  test('a private container without a credential answers 401 with WWW-Authenticate', async () => {
    up.received.length = 0
    const r = await gw.get('/private/x')
    assert.equal(r.status, 401)
    assert.equal(r.json().reason, 'credential_missing')
    assert.match(String(r.headers['www-authenticate']), /^Bearer /)
    const r2 = await gw.get('/private/x', { headers: { 'x-auth-token': 'tgk_not-a-real-key' } })
    assert.equal(r2.status, 401)
    assert.ok(!r2.body.includes('tgk_not-a-real-key'), 'the credential is never echoed')
    assert.equal(up.received.length, 0)
    const decision = gw.logs.filter((l) => l.type === 'decision' && l.container === 'priv').pop()
    assert.equal(decision?.auth, 'failed', 'every authentication outcome is in the decision log')
    assert.equal(decision?.credentialInjected, false)
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes('tgk_not-a-real-key')), 'never the credential')
  })

  test('plain HTTP is redirected with 301 to the HTTPS port, path and query kept', async () => {
    const res = await new Promise<{ status: number, location: string }>((resolve, reject) => {
      httpRequest(gw.httpUrl + '/hello/a?b=c', { headers: { host: 'api.example.com:8080' } }, (r) => {
        r.resume()
        resolve({ status: r.statusCode ?? 0, location: String(r.headers.location) })
      }).on('error', reject).end()
    })
    assert.equal(res.status, 301)
    assert.equal(res.location, `https://api.example.com:${gw.addr.https.port}/hello/a?b=c`)
  })

  test('server.redirectPort names the public HTTPS port behind a port mapping', async () => {
    const up2 = await startUpstream({ tls: false })
    const gw2 = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: { server: { redirectPort: 443 }, containers: { a: { upstream: up2.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } } }
    })
    try {
      const location = await new Promise<string>((resolve, reject) => {
        httpRequest(gw2.httpUrl + '/x?y', { headers: { host: 'gw.example.com' } }, (r) => { r.resume(); resolve(String(r.headers.location)) }).on('error', reject).end()
      })
      assert.equal(location, 'https://gw.example.com/x?y')
    } finally {
      await gw2.close()
      await up2.close()
    }
  })

  test('the redirect only goes to configured container hosts (no open redirect)', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      httpRequest(gw.httpUrl + '/x', { headers: { host: 'evil.example' } }, (r) => { r.resume(); resolve(r.statusCode ?? 0) }).on('error', reject).end()
    })
    assert.equal(res, 404)
  })

  test('admin endpoints answer on the admin listener only', async () => {
    const health = await fetch(gw.adminUrl + '/healthz')
    assert.equal(health.status, 200)
    assert.equal((await gw.get('/healthz')).status, 404)
  })

  test('the access log has one line per request and never the token', async () => {
    await gw.get('/hello/logged')
    const line = gw.logs.filter((l) => l.type === 'access' && l.path === '/hello/logged').pop()
    assert.ok(line)
    assert.equal(line.status, 200)
    assert.equal(line.container, 'hello')
    assert.equal(line.decision, 'allow')
    assert.equal(line.rule, 'loopback')
    for (const l of gw.logs) assert.ok(!JSON.stringify(l).includes(TOKEN))
  })
})

describe('upstream failures', () => {
  test('refused → 502, slow → 504, untrusted certificate → 502 and nothing received', async () => {
    // A port with nothing listening.
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const deadPort = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const slow = await startUpstream({ tls: false, handler: () => { /* never answers */ } })
    const otherCa = createDevCa('someone else')
    const rogue = await startUpstream({ cert: otherCa.issue(['localhost']) })
    const gw = await startGateway({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      config: {
        containers: {
          dead: { upstream: `http://127.0.0.1:${deadPort}`, match: { path: '/dead' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' },
          slow: { upstream: slow.url, match: { path: '/slow' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public', timeout: 300 },
          rogue: { upstream: rogue.url, match: { path: '/rogue' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' }
        }
      }
    })
    try {
      const dead = await gw.get('/dead')
      assert.equal(dead.status, 502)
      assert.equal(dead.json().reason, 'upstream_unreachable')
      const s = await gw.get('/slow')
      assert.equal(s.status, 504)
      assert.equal(s.json().reason, 'upstream_timeout')
      const r = await gw.get('/rogue')
      assert.equal(r.status, 502)
      assert.equal(rogue.received.length, 0, 'the token never went to an unverified upstream')
      // The gateway is still healthy.
      assert.equal((await gw.get('/dead')).status, 502)
    } finally {
      await gw.close()
      await slow.close()
      await rogue.close()
    }
  })
})
