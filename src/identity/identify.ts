// The identity step: the request id, the one trusted client IP and the scheme the client used.
// A connection's peer (its address and whether it is a trusted proxy) is worked out once per
// connection and per runtime (a reload may change the trusted proxies).
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { Exchange } from '../exchange.js'
import { clientIp, normalizeIp, type IpMatcher } from './index.js'

/** X-Request-Id accepted from a trusted proxy; anything else gets a fresh UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

interface Peer { readonly ip: string, readonly trusted: boolean, readonly generation: number }

const peers = new WeakMap<object, Peer>()

/** What a request's connection is read from: node:http's request, or HTTP/2's compat request. */
export interface OnConnection {
  readonly socket: unknown
  /** Present on HTTP/2 requests. */
  readonly stream?: { readonly session?: { readonly socket: unknown } | undefined }
}

/** The connection a request came on (an HTTP/2 stream's session socket); undefined once an HTTP/2 session has gone. */
export function connectionOf (req: OnConnection): Socket | undefined {
  const h2 = req.stream
  return (h2 === undefined ? req.socket : h2.session?.socket) as Socket | undefined
}

/** The peer of a connection (a socket), cached for as long as `generation` stays the same. */
export function peerOf (socket: { readonly remoteAddress?: string | undefined }, trusted: IpMatcher, generation: number): Peer {
  const cached = peers.get(socket)
  if (cached !== undefined && cached.generation === generation) return cached
  const ip = normalizeIp(socket.remoteAddress ?? '') ?? '0.0.0.0'
  const peer = { ip, trusted: trusted(ip), generation }
  peers.set(socket, peer)
  return peer
}

/**
 * Fills the request id, the client IP (X-Forwarded-For is read only when the peer is a trusted
 * proxy) and the scheme (the listener's, unless a trusted proxy says what the client used: TLS
 * ended at the edge).
 */
export function identify (x: Exchange, peer: Peer, headers: Record<string, string | string[] | undefined>, trusted: IpMatcher): void {
  const id = headers['x-request-id']
  x.requestId = peer.trusted && typeof id === 'string' && REQUEST_ID.test(id) ? id : randomUUID()
  x.ip = clientIp(peer.ip, peer.trusted, headers['x-forwarded-for'], trusted)
  if (peer.trusted) {
    const xfp = headers['x-forwarded-proto']
    if (xfp === 'https' || xfp === 'http') x.scheme = xfp
  }
}
