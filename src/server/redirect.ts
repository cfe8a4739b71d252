// The plain listener with `httpOption: redirected`: 301 to the same host on the HTTPS port, path
// and query kept. Only a configured container host (or, when no container names a host, the
// request's own host) is redirected to, so this cannot be used as an open redirect. Each request
// is observed like any other (access line, metrics), with reason `redirected`.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Exchange, type Observer } from '../exchange.js'
import type { Runtime } from '../runtime.js'
import { reject } from '../reject.js'
import { identify, peerOf } from '../identity/identify.js'
import { readHost, readTarget } from '../proxy/request.js'

export function createRedirectHandler (getRuntime: () => Runtime, observer: Observer, httpsPort: () => number) {
  return function redirect (req: IncomingMessage, res: ServerResponse): void {
    const rt = getRuntime()
    const x = new Exchange(req.method ?? 'GET', 'http')
    res.once('close', () => {
      x.closed(res)
      observer.done(x)
    })
    identify(x, peerOf(req.socket, rt.trusted, rt.peerCacheGeneration), req.headers, rt.trusted)
    const refused = readTarget(x, req.url ?? '') ?? readHost(x, req.headers.host)
    if (refused !== undefined) return reject(x, res, refused, undefined)
    if (rt.router.hosts.size > 0 && !rt.router.hosts.has(x.host)) return reject(x, res, 'no_route', undefined)
    const port = httpsPort()
    x.reason = 'redirected'
    res.writeHead(301, {
      location: `https://${x.host}${port === 443 ? '' : `:${port}`}${x.path}${x.query}`,
      'content-length': 0,
      'cache-control': 'no-store',
      'x-request-id': x.requestId
    })
    res.end()
  }
}
