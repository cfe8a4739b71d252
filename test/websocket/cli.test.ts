// `tollgate policy test --websocket` and `tollgate check` know `websocket: true`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { captureIo } from '../helpers/io.js'
import { writePki } from '../helpers/pki.js'
import { runPolicy } from '../../src/cli/policy.js'
import { main } from '../../src/cli/main.js'

function config (server: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-ws-cli-'))
  writePki(dir) // cert.pem, key.pem: check reads them as serve would
  const file = join(dir, 'tollgate.yaml')
  const c = (path: string, more: Record<string, unknown>): Record<string, unknown> => ({ upstream: 'https://c.example', match: { path }, token: '${env:T}', ...more })
  writeFileSync(file, stringify({
    server: { listen: { https: { host: '127.0.0.1', port: 0 } }, tls: { cert: './cert.pem', key: './key.pem' }, ...server },
    containers: {
      chat: c('/chat', { privacy: 'public', websocket: true }),
      feed: c('/feed', { privacy: 'private', websocket: true }),
      api: c('/api', { privacy: 'public' })
    }
  }))
  return file
}

async function policy (args: string[]): Promise<{ code: number, out: string, err: string }> {
  const io = captureIo()
  const code = await runPolicy(['test', ...args], { stdout: io.stdout, stderr: io.stderr, env: process.env })
  return { code, out: io.out(), err: io.err() }
}

test('policy test --websocket: a tunnel, an upgrade served as plain HTTP, a refused handshake, the subprotocol credential', async () => {
  const file = config()
  let r = await policy(['--config', file, '--method', 'GET', '--url', 'https://gw.example/chat/room', '--websocket'])
  assert.equal(r.code, 0)
  assert.match(r.out, /^container: chat \(public; match \* \/chat; websocket\)$/m)
  assert.match(r.out, /^websocket: tunnelled once allowed: the container's 101 is checked/m)

  r = await policy(['--config', file, '--method', 'GET', '--url', 'https://gw.example/api/x', '--websocket', '--json'])
  assert.equal(r.code, 0)
  const report = JSON.parse(r.out)
  assert.equal(report.websocket.tunnel, false)
  assert.match(report.websocket.note, /websocket: false: the upgrade is ignored/)
  assert.equal(report.container.websocket, false)

  r = await policy(['--config', file, '--method', 'POST', '--url', 'https://gw.example/chat/room', '--websocket'])
  assert.equal(r.code, 1)
  assert.match(r.out, /decision: {2}deny \(reason websocket_bad_handshake, HTTP 400\)/)

  r = await policy(['--config', file, '--method', 'GET', '--url', 'https://gw.example/feed/x', '--websocket', '--header', 'Sec-WebSocket-Protocol: tollgate, tollgate.bearer.not-a-key'])
  assert.equal(r.code, 1)
  assert.match(r.out, /^principal: anonymous \[Sec-WebSocket-Protocol \(rejected\)\]$/m)
  assert.match(r.out, /credential_malformed, HTTP 401/)
})

test('check: names the WebSocket containers, and warns when a tunnel cap can never be reached', async () => {
  let io = captureIo()
  assert.equal(await main(['check', '--config', config()], { stdin: process.stdin, stdout: io.stdout, stderr: io.stderr, env: { ...process.env, T: 'x' } }), 0)
  assert.match(io.out(), /; WebSocket: chat, feed\n$/)
  assert.equal(io.err(), '')

  io = captureIo()
  const file = config({ limits: { maxConnectionsPerIp: 10 }, websocket: { maxTunnelsPerIp: 50 } })
  assert.equal(await main(['check', '--config', file], { stdin: process.stdin, stdout: io.stdout, stderr: io.stderr, env: { ...process.env, T: 'x' } }), 0)
  assert.match(io.err(), /^tollgate: warning: server\.websocket\.maxTunnelsPerIp \(50\) is above server\.limits\.maxConnectionsPerIp \(10\)/)

  io = captureIo()
  const bad = config({ websocket: { maxTunnels: 0 } })
  assert.equal(await main(['check', '--config', bad], { stdin: process.stdin, stdout: io.stdout, stderr: io.stderr, env: { ...process.env, T: 'x' } }), 2)
  assert.match(io.err(), /server\.websocket\.maxTunnels/)
})
