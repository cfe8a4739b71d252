// The response path (src/pipeline.ts, UpstreamExchange): the upstream's response is written straight
// into the client's, so these check what a stream wrapper used to guarantee: backpressure with a
// slow reader, large bodies intact, the response head filtered in one pass, 1xx not relayed, HEAD.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { startGateway, type TestGateway } from './helpers/gateway.js'
import { startUpstream, type Upstream } from './helpers/upstream.js'

const TOKEN = 'scw-secret-' + Math.random().toString(36).slice(2)
const BIG = Buffer.alloc(8 * 1024 * 1024)
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7919) & 255
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function get (port: number, path: string, opts: { method?: string, slow?: boolean } = {}): Promise<{ res: IncomingMessage, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: 'localhost' } }, (res) => {
      const chunks: Buffer[] = []
      if (opts.slow === true) {
        // Read a little, pause, read again: the gateway's response fills up and must wait.
        res.pause()
        const pump = (): void => {
          const c = res.read() as Buffer | null
          if (c !== null) chunks.push(c)
          if (!res.readableEnded) setTimeout(pump, 2)
        }
        res.on('readable', () => {})
        setTimeout(pump, 50)
      } else {
        res.on('data', (c: Buffer) => chunks.push(c))
      }
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

for (const client of ['tollgate', 'undici'] as const) {
  describe(`forwarding: the response written straight into the client (${client} client)`, () => {
    let up: Upstream
    let gw: TestGateway
    let port: number
    before(async () => {
      up = await startUpstream({
        tls: false,
        handler: (req, res) => {
          if (req.headers['x-auth-token'] !== TOKEN) { res.writeHead(401); res.end(); return }
          if (req.url === '/big/length') {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length })
            res.end(BIG)
          } else if (req.url === '/big/chunked') {
            res.writeHead(200, { 'content-type': 'application/octet-stream' })
            let off = 0
            const step = (): void => {
              while (off < BIG.length) {
                const next = Math.min(off + 65536, BIG.length)
                const ok = res.write(BIG.subarray(off, next))
                off = next
                if (!ok) { res.once('drain', step); return }
              }
              res.end()
            }
            step()
          } else if (req.url === '/head-fields') {
            res.writeEarlyHints({ link: '</style.css>; rel=preload' })
            res.writeHead(200, [
              'Content-Type', 'text/plain',
              'Set-Cookie', 'a=1',
              'Set-Cookie', 'b=2',
              'X-Private-Hop', 'secret-for-the-next-hop',
              'Connection', 'X-Private-Hop',
              'Keep-Alive', 'timeout=5',
              'Content-Length', '2'
            ])
            res.end('ok')
          } else {
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 })
            res.end('hello')
          }
        }
      })
      gw = await startGateway({
        env: { ...process.env, UPSTREAM_TOKEN: TOKEN },
        config: {
          server: { httpOption: 'enabled', upstream: { client } },
          containers: { c: { upstream: up.url, match: { path: '/' }, token: '${env:UPSTREAM_TOKEN}', privacy: 'public' } }
        }
      })
      port = gw.addr.http?.port ?? 0
    })
    after(async () => {
      await gw.close()
      await up.close()
    })

    test('8 MiB with a Content-Length, to a slow reader: intact (backpressure pauses the upstream, then resumes)', async () => {
      const { res, body } = await get(port, '/big/length', { slow: true })
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['content-length'], String(BIG.length))
      assert.equal(body.length, BIG.length)
      assert.equal(sha(body), sha(BIG))
    })

    test('8 MiB chunked, to a slow reader: intact', async () => {
      const { res, body } = await get(port, '/big/chunked', { slow: true })
      assert.equal(res.statusCode, 200)
      assert.equal(sha(body), sha(BIG))
    })

    test('several at once, fast readers: each body intact and its own', async () => {
      const all = await Promise.all([1, 2, 3, 4].map(async (i) => await get(port, i % 2 === 0 ? '/big/length' : '/small')))
      for (const [i, r] of all.entries()) {
        if (i % 2 === 1) assert.equal(sha(r.body), sha(BIG))
        else assert.equal(r.body.toString(), 'hello')
      }
    })

    test('response head: 1xx not relayed, hop-by-hop and Connection-named fields dropped, repeated fields kept, x-request-id added', async () => {
      const { res, body } = await get(port, '/head-fields')
      assert.equal(res.statusCode, 200)
      assert.equal(body.toString(), 'ok')
      assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2'])
      assert.equal(res.headers['x-private-hop'], undefined)
      assert.notEqual(res.headers['keep-alive'], 'timeout=5') // the upstream's; Node adds the gateway's own
      assert.equal(res.headers['content-type'], 'text/plain')
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    })

    test('HEAD: the head alone, then the connection serves the next request', async () => {
      const head = await get(port, '/small', { method: 'HEAD' })
      assert.equal(head.res.statusCode, 200)
      assert.equal(head.res.headers['content-length'], '5')
      assert.equal(head.body.length, 0)
      await sleep(10)
      const after = await get(port, '/small')
      assert.equal(after.body.toString(), 'hello')
    })
  })
}
