// The plugin in an HTTP/2 Fastify app (TLS, HTTP/1.1 by ALPN fallback): the same decisions, the
// same screen on the :path pseudo-header, bodies from HTTP/2 DATA frames, the scheme the listener's.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, constants as h2 } from 'node:http2'
import { startPluginApp, type PluginApp } from './helpers.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { localhostCert, testCa, writePki } from '../helpers/pki.js'
import { PUBLIC_RULE, OFFICE_RULE } from '../hardening/setup.js'

const TOKEN = 'scw-fastify-h2-' + Math.random().toString(36).slice(2)

interface H2Answer { status: number, headers: Record<string, unknown>, body: string }

function h2request (port: number, method: string, path: string, body?: string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://localhost:${port}`, { ca: testCa().cert })
    session.on('error', reject)
    const req = session.request({ [h2.HTTP2_HEADER_METHOD]: method, [h2.HTTP2_HEADER_PATH]: path, 'x-auth-token': 'client-value' }, { endStream: body === undefined })
    let out = ''
    let head: Record<string, unknown> = {}
    req.on('response', (h) => { head = h })
    req.on('data', (d: Buffer) => { out += d.toString('utf8') })
    req.on('end', () => {
      session.close()
      resolve({ status: Number(head[h2.HTTP2_HEADER_STATUS]), headers: head, body: out })
    })
    req.on('error', (err) => { session.destroy(); reject(err) })
    if (body !== undefined) req.end(body)
  })
}

describe('tollgate/fastify in an HTTP/2 app', () => {
  let up: Upstream
  let t: PluginApp
  before(async () => {
    up = await startUpstream()
    const pki = writePki()
    t = await startPluginApp({
      env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
      tls: true,
      fastify: { http2: true, https: { allowHTTP1: true, ...localhostCert() } } as never,
      config: {
        containers: {
          app: {
            upstream: up.url,
            upstreamCa: pki.ca,
            match: { path: '/' },
            token: '${env:UPSTREAM_TOKEN}',
            privacy: 'public',
            policies: [{ name: 'public', condition: PUBLIC_RULE }, { name: 'office', condition: OFFICE_RULE }]
          }
        }
      }
    })
  })
  after(async () => {
    await t?.close()
    await up?.close()
  })

  test('allowed over HTTP/2: the canonical path, the container token only, X-Forwarded-Proto https, HSTS', async () => {
    const r = await h2request(t.port, 'GET', '/%70ublic/x?q=1')
    assert.equal(r.status, 200, r.body)
    const got = JSON.parse(r.body) as { url: string, headers: Record<string, string> }
    assert.equal(got.url, '/public/x?q=1')
    assert.equal(got.headers['x-auth-token'], TOKEN)
    assert.equal(got.headers['x-forwarded-proto'], 'https')
    assert.match(String(r.headers['strict-transport-security']), /^max-age=/)
  })

  test('a body in DATA frames goes upstream', async () => {
    const r = await h2request(t.port, 'POST', '/public/post', 'hello over h2')
    assert.equal(r.status, 200, r.body)
    assert.equal((JSON.parse(r.body) as { body: string }).body, 'hello over h2')
  })

  test('denied and refused over HTTP/2, nothing forwarded', async () => {
    const before = up.received.length
    const denied = await h2request(t.port, 'GET', '/admin')
    assert.equal(denied.status, 403)
    assert.equal((JSON.parse(denied.body) as { reason: string }).reason, 'policy_denied')
    const refused = await h2request(t.port, 'GET', '/public/%2e%2e/admin')
    assert.equal(refused.status, 400)
    assert.equal((JSON.parse(refused.body) as { reason: string }).reason, 'path_not_canonical')
    assert.equal(up.received.length, before)
  })
})
