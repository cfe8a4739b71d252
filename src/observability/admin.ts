// The admin listener's endpoints (never on the public listeners):
//   /healthz  200 while the process runs (liveness)
//   /readyz   200 when serving: config loaded, every secret resolved, listeners bound; 503 otherwise
//             (starting, or draining after SIGTERM)
//   /metrics  Prometheus text exposition
// Used by a single process (src/app.ts) and by the cluster primary (src/server/cluster.ts), which
// answers with its workers' aggregated metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export type Readiness = 'ready' | 'starting' | 'draining'

export interface AdminSource {
  readiness (): Readiness
  metrics (): Promise<{ contentType: string, body: string }>
}

export function createAdminServer (source: AdminSource, onError?: (err: Error) => void): Server {
  const server = createServer({ requireHostHeader: false }, (req, res) => { handle(source, req, res, onError) })
  // Probes and scrapes open a connection each time or reuse one briefly: keep idle sockets short.
  server.keepAliveTimeout = 5000
  return server
}

function handle (source: AdminSource, req: IncomingMessage, res: ServerResponse, onError?: (err: Error) => void): void {
  const send = (status: number, body: string, type = 'application/json'): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  const url = req.url ?? ''
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, '{"error":"method_not_allowed"}')
  switch (path) {
    case '/healthz':
      return send(200, '{"status":"ok"}')
    case '/readyz': {
      const r = source.readiness()
      return send(r === 'ready' ? 200 : 503, `{"status":"${r}"}`)
    }
    case '/metrics':
      source.metrics().then(
        (m) => send(200, m.body, m.contentType),
        (err: Error) => {
          onError?.(err)
          send(500, '{"error":"metrics_unavailable"}')
        })
      return
    default:
      return send(404, '{"error":"not_found"}')
  }
}
