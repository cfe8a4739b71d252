// The WebSocket load generator, in its own process: N connections, each keeping `window` messages of
// `size` bytes in flight (a new one sent as each echo comes back), for `duration` seconds. Prints one
// JSON line: echoed messages per second, payload MB/s (one way), round-trip percentiles.
//
//   node dist/bench/lib/ws-load.js '{"url":"ws://127.0.0.1:8080/hello/ws","connections":16,"window":16,"size":1024,"duration":5}'
import WebSocket from 'ws'

export interface WsLoadOptions {
  url: string
  connections: number
  window: number
  size: number
  duration: number
  headers?: Record<string, string>
}

export interface WsLoadResult {
  url: string
  size: number
  seconds: number
  messages: number
  /** Echoed messages per second. */
  mps: number
  /** Echoed payload, MB (10^6 bytes) per second, one way. */
  mbps: number
  /** Round trip of one message, ms. */
  p50: number
  p99: number
  errors: number
}

async function main (): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as WsLoadOptions
  const payload = Buffer.alloc(o.size, 97)
  const rtts: number[] = []
  let messages = 0
  let errors = 0
  let running = true
  const sockets = await Promise.all(Array.from({ length: o.connections }, async () => await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(o.url, { headers: o.headers, perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode ?? 0}`)))
  })))
  const t0 = performance.now()
  for (const ws of sockets) {
    const sent: number[] = []
    ws.on('message', () => {
      const at = sent.shift()
      if (at !== undefined) rtts.push(performance.now() - at)
      messages++
      if (!running) return
      sent.push(performance.now())
      ws.send(payload)
    })
    ws.on('error', () => { errors++ })
    for (let i = 0; i < o.window; i++) {
      sent.push(performance.now())
      ws.send(payload)
    }
  }
  await new Promise((resolve) => setTimeout(resolve, o.duration * 1000))
  running = false
  const seconds = (performance.now() - t0) / 1000
  for (const ws of sockets) ws.terminate()
  rtts.sort((a, b) => a - b)
  const pct = (p: number): number => Math.round((rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))] ?? 0) * 100) / 100
  const out: WsLoadResult = {
    url: o.url,
    size: o.size,
    seconds,
    messages,
    mps: messages / seconds,
    mbps: messages * o.size / seconds / 1e6,
    p50: pct(0.5),
    p99: pct(0.99),
    errors
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`ws-load: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
