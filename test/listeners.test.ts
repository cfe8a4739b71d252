// Listeners: HTTP/2 by ALPN next to HTTP/1.1 on the TLS port; the plain listener with httpOption enabled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import { request as httpRequest } from 'node:http'
import { startGateway } from './helpers/gateway.js'
import { startUpstream } from './helpers/upstream.js'
import { writePki, testCa } from './helpers/pki.js'

const TOKEN = 'h2-token-' + Math.random().toString(36).slice(2)

test('HTTP/2 clients are served on the TLS port; the upstream sees the same hygiene and one token', async () => {
  const up = await startUpstream()
  const pki = writePki()
  const gw = await startGateway({
    env: { ...process.env, T: TOKEN },
    config: { containers: { hello: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/' }, token: '${env:T}', privacy: 'public' } } }
  })
  const session = h2connect(gw.url, { ca: testCa().cert })
  try {
    const res = await new Promise<{ status: number, body: string, headers: Record<string, unknown> }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/h2/x?q=1', 'x-auth-token': 'client', 'content-type': 'text/plain' })
      let body = ''
      let headers: Record<string, unknown> = {}
      req.on('response', (h) => { headers = h })
      req.on('data', (d) => { body += d })
      req.on('end', () => resolve({ status: Number(headers[':status']), body, headers }))
      req.on('error', reject)
      req.end('hello over h2')
    })
    assert.equal(res.status, 200)
    assert.match(String(res.headers['strict-transport-security']), /max-age/)
    const seen = up.received.at(-1)
    assert.equal(seen?.url, '/h2/x?q=1')
    assert.equal(seen?.method, 'POST')
    assert.equal(seen?.body, 'hello over h2')
    assert.equal(seen?.headers['x-auth-token'], TOKEN)
    assert.equal(seen?.headers['x-forwarded-proto'], 'https')
    assert.ok(!Object.keys(seen?.headers ?? {}).some((k) => k.startsWith(':')), 'no pseudo-header upstream')
    // A denied/unknown route over h2 gets the JSON answer too.
    const nf = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/../x' })
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
      req.end()
    })
    assert.equal(nf, 400)
  } finally {
    session.close()
    await gw.close()
    await up.close()
  }
})

test('httpOption enabled serves plain HTTP too, with X-Forwarded-Proto http and no HSTS', async () => {
  const up = await startUpstream()
  const pki = writePki()
  const gw = await startGateway({
    env: { ...process.env, T: TOKEN },
    config: {
      server: { httpOption: 'enabled' },
      containers: { hello: { upstream: up.url, upstreamCa: pki.ca, match: { path: '/' }, token: '${env:T}', privacy: 'public' } }
    }
  })
  try {
    const res = await new Promise<{ status: number, hsts: unknown }>((resolve, reject) => {
      httpRequest(gw.httpUrl + '/plain', (r) => { r.resume(); resolve({ status: r.statusCode ?? 0, hsts: r.headers['strict-transport-security'] }) }).on('error', reject).end()
    })
    assert.equal(res.status, 200)
    assert.equal(res.hsts, undefined)
    assert.equal(up.received.at(-1)?.headers['x-forwarded-proto'], 'http')
    assert.equal(up.received.at(-1)?.headers['x-auth-token'], TOKEN)
  } finally {
    await gw.close()
    await up.close()
  }
})
