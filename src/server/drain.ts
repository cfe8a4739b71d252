// Connection bookkeeping for one public listener: counts open connections (for metrics) and drains
// them gracefully on shutdown.
//
// Last calls (server.shutdownDelay, before the drain) = still accepting; every HTTP/1.1 answer from
// now on says `Connection: close`; HTTP/2 sessions get a GOAWAY (clients open a new connection,
// which is still accepted). Nothing is refused or cut: clients and load balancers move elsewhere.
//
// Drain = stop accepting; every HTTP/1.1 request in flight is answered with `Connection: close`
// and its socket closed after the response; idle keep-alive sockets (which already served a
// request) are closed now; a connection accepted before the listener closed that has not sent its
// first request yet is kept and served once (closing it would reset a request the client may be
// sending: that is the reset seen under new-connection-per-request load across a SIGTERM; Node's
// headersTimeout bounds the wait); requests that still arrive on a kept connection are served, with
// `Connection: close`; HTTP/2 sessions get a GOAWAY (open streams finish, new ones go elsewhere).
// Whatever is left at the deadline is destroyed by the caller (`destroyAll`).
//
// Node's own `server.close()` is not used to stop accepting: on Node 20 it also runs
// `closeIdleConnections()`, which destroys keep-alive sockets whose request was fully read but whose
// response is still pending, i.e. it resets accepted requests. `net.Server#close` only stops
// accepting.
import { Server as NetServer, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2Session } from 'node:http2'

export interface ConnectionTracker {
  /** Open connections (TCP sockets) right now. */
  readonly size: number
  /** Keep accepting, but answer every request with `Connection: close` (HTTP/2: GOAWAY). Idempotent. */
  lastCalls (): void
  /** Stop accepting and close every connection as soon as it carries no request. Idempotent. */
  drain (): void
  /** Resolves once every connection is closed (after `drain`, or never while more arrive). */
  settled (): Promise<void>
  /** Destroys whatever is still open. */
  destroyAll (): void
}

/** The response an HTTP/1.1 socket is writing now, if any (Node's long-standing `_httpMessage`). */
type Http1Socket = Socket & { _httpMessage?: ServerResponse | null }

export function trackConnections (server: NetServer, opts: { tls: boolean }): ConnectionTracker {
  const sockets = new Set<Socket>()
  /** Sockets that carry HTTP/1.1 (the raw socket, or the TLS socket on top of it). */
  const http1 = new Set<Http1Socket>()
  const sessions = new Set<Http2Session>()
  let closing = false
  let draining = false
  let waiters: Array<() => void> = []

  const checkSettled = (): void => {
    if (!draining || sockets.size > 0) return
    const w = waiters
    waiters = []
    for (const resolve of w) resolve()
  }

  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => {
      sockets.delete(socket)
      checkSettled()
    })
    if (!opts.tls) onHttp1(socket)
    // During a drain the listening socket is closed, but a connection accepted just before still
    // arrives: it is served like any other kept connection, then closed.
  })
  if (opts.tls) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') onHttp1(socket)
    })
  }
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
    if (closing) session.close()
  })

  function onHttp1 (socket: Http1Socket): void {
    http1.add(socket)
    socket.once('close', () => http1.delete(socket))
    if (draining) closeWhenIdle(socket)
  }

  /**
   * Mark the response in flight (if any) as the last on this socket; close an idle kept-alive socket
   * now. A socket that has not received a byte of a request yet (`bytesRead`: the decrypted bytes on
   * a TLS socket) is left to send one: answered, then closed.
   */
  function closeWhenIdle (socket: Http1Socket): void {
    const res = socket._httpMessage
    if (res == null) {
      if (socket.bytesRead > 0) socket.destroySoon()
      return
    }
    if (!res.headersSent) {
      res.shouldKeepAlive = false // Node sends Connection: close and closes the socket after it
      return
    }
    // Headers already went out with keep-alive: once this response is done, a request that came
    // in meanwhile is served (with Connection: close); otherwise the socket is closed.
    res.once('finish', () => setImmediate(() => {
      if (!socket.destroyed && socket._httpMessage == null) socket.destroySoon()
    }))
  }

  function lastOnSocket (req: IncomingMessage, res: ServerResponse): void {
    if (req.httpVersionMajor < 2) res.shouldKeepAlive = false
  }

  function lastCalls (): void {
    if (closing) return
    closing = true
    server.prependListener('request', lastOnSocket)
    for (const s of sessions) s.close()
  }

  return {
    get size () { return sockets.size },
    lastCalls,
    drain () {
      if (draining) return
      lastCalls()
      draining = true
      NetServer.prototype.close.call(server)
      for (const s of http1) closeWhenIdle(s)
      checkSettled()
    },
    settled () {
      return new Promise<void>((resolve) => {
        waiters.push(resolve)
        checkSettled()
      })
    },
    destroyAll () {
      for (const s of sessions) s.destroy()
      for (const s of sockets) s.destroy()
      // Now that nothing is left, Node's close() only clears its timers (and would report
      // "not running" through a callback, which is not passed).
      server.close()
    }
  }
}
