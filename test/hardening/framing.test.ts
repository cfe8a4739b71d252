// Request smuggling and malformed messages, in raw bytes, against a running gateway with a raw
// recording upstream behind it. For every vector (./vectors.ts): 400 (or 413) and the connection
// closed, the request pipelined behind it never served, nothing of it reaches the upstream, and the
// next client gets its own response (the upstream pool is not poisoned). Run on the plain HTTP
// listener (httpOption: enabled) and on HTTP/1.1 over TLS (the HTTP/2 listener's fallback).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { TestGateway } from '../helpers/gateway.js'
import { rawExchange, statuses, eventually, type RecordingUpstream } from '../helpers/raw.js'
import { startRuleGateway, type RuleGateway } from './setup.js'
import { VECTORS, ACCEPTED, PIPELINED, materialise, type RejectedBy, type Vector } from './vectors.js'

const TOKEN = 'scw-framing-' + Math.random().toString(36).slice(2)

describe('framing and headers: the smuggling matrix', () => {
  let rec: RecordingUpstream
  let gw: TestGateway
  let env: RuleGateway

  before(async () => {
    env = await startRuleGateway({ token: TOKEN, server: { limits: { bodyLimit: 1_000_000 } } })
    ;({ gw, rec } = env)
  })
  after(async () => { await env.close() })

  test('the matrix has at least 40 refused vectors, with unique ids', () => {
    assert.ok(VECTORS.length >= 40, `${VECTORS.length} vectors`)
    assert.equal(new Set(VECTORS.map((v) => v.id)).size, VECTORS.length)
  })

  test('the lenient HTTP parser is never enabled', () => {
    assert.ok(!process.execArgv.some((a) => a.startsWith('--insecure-http-parser')))
    assert.ok(!(process.env.NODE_OPTIONS ?? '').includes('--insecure-http-parser'))
    // A message only the lenient parser accepts (CL + TE) is refused on both listeners by the
    // vectors below; the calibration suite shows llhttp itself refuses it with these options.
  })

  for (const listener of ['http', 'tls'] as const) {
    describe(`refused on the ${listener === 'http' ? 'plain HTTP listener' : 'TLS listener (HTTP/1.1)'}`, () => {
      for (const v of VECTORS) {
        test(`${v.id}: ${v.name} [${v.by}]`, async () => {
          await refused(v, listener)
        })
      }
    })
  }

  describe('accepted near the edge: served, and the upstream sees one sound request', () => {
    for (const a of ACCEPTED) {
      test(`${a.id}: ${a.name}`, async () => {
        const mark = rec.chunks.length
        const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 5000, until: (d) => /\r\n\r\nseen: [^\r]* HTTP\/1\.1$/.test(d) }, materialise(a.raw))
        assert.equal(statuses(r.data).find((s) => s >= 200), 200, r.data.slice(0, 200))
        assert.ok(await eventually(() => rec.text(mark).includes(`x-auth-token: ${TOKEN}\r\n`)))
        const seen = rec.text(mark)
        const head = seen.slice(0, seen.indexOf('\r\n\r\n'))
        assert.equal(head.match(/^x-auth-token:/gim)?.length, 1, 'exactly one X-Auth-Token, the container secret')
        assert.doesNotMatch(head, /^(?:upgrade|http2-settings|expect|transfer-encoding: (?!chunked))/im)
        assert.ok(!seen.includes('evil'), 'trailers are not forwarded')
      })
    }
  })

  async function refused (v: Vector, listener: 'http' | 'tls'): Promise<void> {
    const port = listener === 'http' ? gw.addr.http!.port : gw.addr.https.port
    const mark = rec.chunks.length
    const r = await rawExchange({ port, tls: listener === 'tls', waitMs: 3000 }, materialise(v.raw + PIPELINED))
    const finals = statuses(r.data).filter((s) => s >= 200)
    assert.deepEqual(finals, [v.status ?? 400], `one final response with the expected status, nothing for the pipelined request: ${JSON.stringify(r.data.slice(0, 300))}`)
    assert.ok(r.closed, 'the connection is closed')
    // tollgate's refusals carry its request id; Node's own 400 does not.
    if (v.by.startsWith('tollgate')) assert.match(r.data, /\r\nx-request-id: /, 'tollgate answered, not Node')
    else assert.doesNotMatch(r.data, /\r\nx-request-id: /, 'Node answered before tollgate saw a request')

    // The next client gets its own response through the same upstream pool.
    const next = `/public/next-${listener}-${v.id}`
    const n = await rawExchange({ port, tls: listener === 'tls', waitMs: 3000 }, `GET ${next} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    assert.match(n.data, /^HTTP\/1\.1 200 /)
    assert.ok(n.data.endsWith(`seen: GET ${next} HTTP/1.1`), `the next client got its own answer: ${JSON.stringify(n.data.slice(-80))}`)

    // What the upstream received since the vector: the next client's request, and nothing before it…
    const seen = rec.text(mark)
    const at = seen.indexOf(`GET ${next} HTTP/1.1\r\n`)
    assert.ok(at >= 0)
    const leaked = seen.slice(0, at) + seen.slice(seen.indexOf('\r\n\r\n', at) + 4)
    assert.ok(!leaked.includes('pipelined'), 'the pipelined request never reached the upstream')
    assert.equal(leaked, '', 'no byte of the vector reached the upstream (a chunked body is read whole before forwarding)')
  }
})

// The `by` column, checked: a bare node:http server with tollgate's parser options shows who
// refuses what. If a Node upgrade starts refusing (or accepting) a vector, this fails first.
describe('calibration: which vectors Node (llhttp) refuses by itself', () => {
  // Per client port: the requests the handler saw, and whether the parser failed on that connection.
  const seen = new Map<number, { calls: Array<{ url: string, complete: boolean }>, parserError: boolean }>()
  const entry = (port: number | undefined): { calls: Array<{ url: string, complete: boolean }>, parserError: boolean } => {
    let e = seen.get(port ?? 0)
    if (e === undefined) seen.set(port ?? 0, e = { calls: [], parserError: false })
    return e
  }
  const server = createServer({ requireHostHeader: false, insecureHTTPParser: false, joinDuplicateHeaders: false }, (req: IncomingMessage, res: ServerResponse) => {
    const call = { url: req.url ?? '', complete: false }
    entry(req.socket.remotePort).calls.push(call)
    req.on('error', () => {})
    req.on('end', () => { call.complete = true })
    req.resume()
    res.end('ok')
  })
  server.on('checkExpectation', server.listeners('request')[0] as never)
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // (HPE_INVALID_EOF_STATE is the client hanging up mid-body, not a parse error.)
    if (err.code?.startsWith('HPE_') === true && err.code !== 'HPE_INVALID_EOF_STATE') entry(socket.remotePort).parserError = true
    socket.destroy()
  })
  let port = 0
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  test('every vector, each on its own connection', async () => {
    const ports = new Map<string, number>()
    // Each exchange ends when Node closes the connection or answers the vector's request.
    await Promise.all(VECTORS.map((v) => rawExchange({
      port,
      waitMs: 3000,
      until: (d) => d.includes('\r\n\r\nok'),
      onSocket: (s) => s.once('connect', () => ports.set(v.id, s.localPort ?? 0))
    }, materialise(v.raw + PIPELINED))))
    const wrong: string[] = []
    for (const v of VECTORS) {
      // The vector's own request: never handled, handled but cut by a parser error, or accepted whole
      // (a parser error on what follows it, e.g. a body Node did not read as one, does not count).
      const e = entry(ports.get(v.id))
      const first = e.calls.find((c) => c.url !== '/public/pipelined')
      const by = first === undefined ? 'llhttp' : !first.complete && e.parserError ? 'late parser error' : 'tollgate'
      const expected: Record<RejectedBy, string> = { llhttp: 'llhttp', 'llhttp-body': 'late parser error', 'tollgate+llhttp': 'late parser error', tollgate: 'tollgate' }
      if (by !== expected[v.by]) wrong.push(`${v.id}: table says ${v.by}, Node shows ${by}`)
    }
    assert.deepEqual(wrong, [])
  })
})
