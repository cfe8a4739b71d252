// `tollgate serve` (the compiled binary) with an open WebSocket tunnel: SIGTERM drains, the tunnel
// keeps working until the drain deadline, is cut then (closedBy shutdown), and the process exits 0.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startWsUpstream } from '../helpers/ws-upstream.js'
import { runTollgate, msg, serveSetup, writeServeConfig } from '../ops/helpers.js'
import { closed, echo, isOpen, openWs, type Opened } from './helpers.js'

const TOKEN = 'ws-shutdown-' + Math.random().toString(36).slice(2)
const DRAIN_MS = 1500

test('SIGTERM: an open tunnel works on through the drain and is closed at its deadline; exit 0', { timeout: 60_000 }, async () => {
  const up = await startWsUpstream({ tls: false })
  const s = serveSetup()
  writeServeConfig(s, {
    live: { upstream: up.url, match: { path: '/live' }, token: '${env:WS_TOKEN}', privacy: 'public', websocket: true }
  }, { drainTimeout: DRAIN_MS })
  const g = runTollgate(['serve', '--config', s.file], { WS_TOKEN: TOKEN })
  try {
    const l = await g.waitFor(msg('tollgate listening'), 20_000, 'tollgate listening')
    const r = await openWs(`ws://127.0.0.1:${l.http.port}/live/socket`) as Opened
    assert.ok(isOpen(r), JSON.stringify(r))
    assert.equal(await echo(r.ws, 'before'), 'before')
    assert.equal(up.upgrades[0].headers['x-auth-token'], TOKEN)

    const sent = Date.now()
    const closing = closed(r.ws)
    g.kill('SIGTERM')
    await g.waitFor(msg('draining'), 10_000, 'the drain')
    assert.equal(await echo(r.ws, 'during the drain'), 'during the drain')
    await closing
    const after = Date.now() - sent
    assert.ok(after >= DRAIN_MS - 50, `cut at the deadline, not before (${after} ms)`)
    const exit = await g.exited
    assert.equal(exit.code, 0)
    const line = g.lines.find((x) => x.type === 'access' && x.path === '/live/socket')
    assert.equal(line?.status, 101)
    assert.equal(line?.closedBy, 'shutdown')
    assert.ok(!g.stdout().includes(TOKEN), 'the token is in no log line')
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }
})
