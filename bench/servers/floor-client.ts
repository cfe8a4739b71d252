// The floor of tollgate's own forwarding: node:http + tollgate's HTTP/1.1 upstream client
// (src/proxy/client.ts), the token injected, the response written straight into `res` — no routing,
// no policy, no header hygiene, no log, no metrics. What tollgate costs above this is its own work;
// what this costs is the price of any node:http forwarder with this client.
//
//   PORT=… UPSTREAM=http://127.0.0.1:… BENCH_TOKEN=… node dist/bench/servers/floor-client.js
import { createServer, type ServerResponse } from 'node:http'
import type { UpstreamHandler } from '../../src/proxy/client.js'
import { client, upstreamHeaders } from '../lib/floor.js'

function handler (res: ServerResponse): UpstreamHandler {
  let resume = (): void => {}
  return {
    onConnect () {},
    onHeaders (status, raw, r) {
      resume = r
      const out: string[] = []
      for (let i = 0; i < raw.length; i += 2) {
        const k = raw[i].toLowerCase()
        if (k !== 'connection' && k !== 'keep-alive') out.push(k, raw[i + 1])
      }
      res.writeHead(status, out as unknown as Record<string, string>)
      return true
    },
    onData (chunk) {
      if (res.write(chunk)) return true
      res.once('drain', resume)
      return false
    },
    onComplete () { res.end() },
    onError () {
      if (!res.headersSent) res.statusCode = 502
      res.end()
    }
  }
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  client.dispatch({ method: req.method ?? 'GET', path: req.url ?? '/', headers: upstreamHeaders(req.rawHeaders), body: null, headersTimeout: 30_000 }, handler(res))
})
server.listen(Number(process.env.PORT), '127.0.0.1')
process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => { client.close().then(() => process.exit(0), () => process.exit(1)) }) })
