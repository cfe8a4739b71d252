// What node:http itself costs a forwarder: the floor-client's work (tollgate's upstream client, the
// token injected, the response relayed) with node:http's server replaced by a bare node:net server
// and Node's own llhttp binding (the parser node:http uses) reading the requests. No request or
// response objects, no header object, no stream per request.
//
// A measuring peer, not a server: keep-alive GETs one at a time (no pipelining, no request bodies,
// no timeouts, no limits beyond the parser's), and only upstream responses framed by Content-Length
// (the bench upstream's). It answers "what would an own inbound HTTP/1.1 server be worth?": the
// distance from floor-client to this is node:http's per-request price (bench/README.md).
//
//   PORT=… UPSTREAM=http://127.0.0.1:… BENCH_TOKEN=… node dist/bench/servers/floor-net.js
import { createServer, type Socket } from 'node:net'
import { STATUS_CODES } from 'node:http'
import { createRequire } from 'node:module'
import { nativeParser } from '../../src/proxy/client.js'
import { client, upstreamHeaders } from '../lib/floor.js'

const P = nativeParser
if (P === undefined) throw new Error('this Node exposes no llhttp binding')
const { methods } = createRequire(import.meta.url)('_http_common') as { methods: string[] }

function serve (socket: Socket, method: string, url: string, raw: string[]): void {
  client.dispatch({ method, path: url, headers: upstreamHeaders(raw), body: null, headersTimeout: 30_000 }, {
    onConnect () {},
    onHeaders (status, rawRes) {
      // Head and body leave in one write: the socket is corked until the response is complete.
      socket.cork()
      let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`
      for (let i = 0; i < rawRes.length; i += 2) {
        const k = rawRes[i].toLowerCase()
        if (k !== 'connection' && k !== 'keep-alive') head += k + ': ' + rawRes[i + 1] + '\r\n'
      }
      socket.write(head + '\r\n', 'latin1')
      return true
    },
    onData (chunk) {
      socket.write(chunk)
      return true
    },
    onComplete () { socket.uncork() },
    onError () { socket.destroy() }
  })
}

const server = createServer({ noDelay: true }, (socket) => {
  const parser = new P()
  parser.initialize(P.REQUEST, {}, 16384, 0)
  let partial: string[] = []
  parser[P.kOnMessageBegin] = () => {}
  // A head spread over several reads arrives in pieces; the rest comes with headers-complete.
  parser[P.kOnHeaders] = (fields: string[]) => { partial = partial.concat(fields) }
  parser[P.kOnHeadersComplete] = (_major: number, _minor: number, raw: string[] | undefined, method: number, url: string) => {
    const fields = partial.length > 0 ? partial.concat(raw ?? []) : raw ?? []
    partial = []
    serve(socket, methods[method], url, fields)
    return 0
  }
  parser[P.kOnBody] = () => {}
  parser[P.kOnMessageComplete] = () => {}
  socket.on('data', (d: Buffer) => {
    if (parser.execute(d) instanceof Error) socket.destroy()
  })
  socket.on('close', () => parser.close())
  socket.on('error', () => {})
})
server.listen(Number(process.env.PORT), '127.0.0.1')
process.once('SIGTERM', () => { server.close(); client.close().then(() => process.exit(0), () => process.exit(1)) })
