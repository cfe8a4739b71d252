// Connection-level guards of the public listeners: global and per-IP connection caps, HTTP/1.1
// connections refused for good after an answer that closes them, and the HTTP/2 rapid-reset guard.
import { constants as http2constants, type Http2Session } from 'node:http2'
import type { Server, Socket } from 'node:net'
import { normalizeIp } from '../identity/index.js'
import type { Logger } from '../observability/logger.js'

/** Global and per-IP connection caps, counted on accepted sockets. */
export function guardConnections (server: Server, limits: { maxConnections: number, maxConnectionsPerIp: number }, logger: Logger): void {
  const { maxConnections, maxConnectionsPerIp } = limits
  server.maxConnections = maxConnections
  const perIp = new Map<string, number>()
  let warned = 0
  server.on('connection', (socket: Socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '') ?? '?'
    const n = (perIp.get(ip) ?? 0) + 1
    if (n > maxConnectionsPerIp) {
      if (Date.now() - warned > 10_000) { warned = Date.now(); logger.warn({ ip, limit: maxConnectionsPerIp }, 'per-IP connection limit reached') }
      socket.destroy()
      return
    }
    perIp.set(ip, n)
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1
      if (left <= 0) perIp.delete(ip)
      else perIp.set(ip, left)
    })
  })
}

const refused = new WeakSet<object>()

/** HTTP/1.1: the connection is answered once more, then closed; requests pipelined behind are never served. */
export function refuseConnection (socket: Socket): void {
  refused.add(socket)
}

export function isRefused (socket: object): boolean {
  return refused.has(socket)
}

const resets = new WeakMap<Http2Session, { n: number, since: number }>()

/**
 * An HTTP/2 stream closed before its response ended (the client reset it). Past `limit` early
 * resets in 10 s the session is closed with GOAWAY ENHANCE_YOUR_CALM: the rapid-reset guard
 * (CVE-2023-44487).
 */
export function countReset (session: Http2Session, limit: number, logger: Logger): void {
  if (session.destroyed) return
  const now = performance.now()
  let r = resets.get(session)
  if (r === undefined) resets.set(session, r = { n: 0, since: now })
  if (now - r.since > 10_000) { r.n = 0; r.since = now }
  if (++r.n > limit) {
    logger.warn({ ip: normalizeIp(session.socket?.remoteAddress ?? ''), resets: r.n }, 'HTTP/2 rapid reset: session closed')
    // GOAWAY, then close once the open streams are done (Node 20's session.destroy() here leaves
    // the TLS socket open until the client closes it).
    session.goaway(http2constants.NGHTTP2_ENHANCE_YOUR_CALM)
    session.close()
  }
}
