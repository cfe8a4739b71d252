// One request's state, from its arrival to the observer: the one object every step of the
// pipeline reads and fills (src/pipeline.ts states the order), and what the access log, the
// decision log and the metrics see once the response is done.
import type { Socket } from 'node:net'
import type { ReasonId } from './errors.js'
import { ANONYMOUS, type Principal } from './policy/types.js'

export type Scheme = 'https' | 'http'

/** What one request did, as the observer (access line, decision line, metrics) reads it. */
export interface ExchangeRecord {
  readonly requestId: string
  readonly start: number
  readonly method: string
  /** The canonical path (no query). */
  readonly path: string
  /** The host asked for: lower-case, no port, no trailing dot. */
  readonly host: string
  readonly ip: string
  readonly container: string | undefined
  readonly reason: ReasonId
  readonly rule: string | undefined
  /** The rate limit (its `name`) that answered 429. */
  readonly limit?: string | undefined
  /** A rule (or the owner bypass) let the request through to its container; or tollgate answered its CORS preflight. */
  readonly allowed: boolean
  readonly principal: Principal
  /** The status the client got; 499 when it left first; 0 when tollgate dropped the request unanswered. */
  readonly status: number
  /** Response body bytes written to the client. */
  readonly bytes: number
  readonly upstreamStart: number
  readonly upstreamEnd: number
  /** True when the container's token was put on the upstream request. */
  readonly injected: boolean
  /** Set when the token was refreshed after a 401/403 from the upstream. */
  readonly rotated: boolean
  readonly scheme: Scheme
  /** Set once a WebSocket tunnel opened: the access line is written when it closes. */
  readonly tunnel?: TunnelRecord | undefined
}

/** A WebSocket tunnel as the access line and the metrics see it (bytes to the client are `bytes`). */
export interface TunnelRecord {
  /** 101 (HTTP/1.1) or 200 (HTTP/2 extended CONNECT). */
  readonly status: number
  /** Bytes from the client to the container. */
  bytesIn: number
  /**
   * Who or what ended it: the side that sent the first WebSocket Close frame, else the side whose
   * connection ended first (client, upstream), or idle, shutdown.
   */
  cause: string
  /** The status code of the first Close frame (1005: none given); undefined when none was seen. */
  closeCode: number | undefined
}

/** An upgrade request: HTTP/1.1 `Upgrade`, or an HTTP/2 extended CONNECT for a WebSocket (RFC 8441). */
export type UpgradeKind = 'http1' | 'http2'

/** The connection Node handed over with an HTTP/1.1 upgrade request, and the bytes that came after its head. */
export interface Handover {
  readonly socket: Socket
  readonly head: Buffer
}

export interface Observer {
  /** Called once per request when the response is finished or the client went away. */
  done (x: ExchangeRecord): void
}

/** Cancels the upstream request in flight (the client went away). */
export interface Cancellable { cancel (): void }

export class Exchange implements ExchangeRecord {
  requestId = ''
  readonly start: number
  readonly method: string
  path = ''
  /** The query string with its "?", or ''; forwarded as it came. */
  query = ''
  host = ''
  /** The authority the client asked for (Host, or an absolute-form target's), sent as X-Forwarded-Host. */
  authority = ''
  /** An absolute-form target's authority (RFC 9112 §3.2.2), which takes the place of Host. */
  targetAuthority: string | undefined = undefined
  ip = ''
  scheme: Scheme
  container: string | undefined = undefined
  reason: ReasonId = 'internal_error'
  rule: string | undefined = undefined
  limit: string | undefined = undefined
  allowed = false
  principal: Principal = ANONYMOUS
  status = 0
  bytes = 0
  upstreamStart = 0
  upstreamEnd = 0
  injected = false
  rotated = false
  /** The request head for the upstream: lower-case name, value, … (filled by the screen, completed by inject). */
  upstreamHeaders: string[] = []
  /** Where the container's token value sits in upstreamHeaders (the rotation retry replaces it). */
  tokenAt = -1
  /** The path sent upstream (the canonical path, less the match prefix under stripPrefix); set by inject. */
  upstreamPath = ''
  /**
   * Fields tollgate adds to whatever answer the client gets, its own or the container's (name,
   * value, …): the CORS fields, the RateLimit fields. Undefined for containers without either.
   */
  answerHeaders: string[] | undefined = undefined
  /** Where the RateLimit fields sit in answerHeaders (a later limit may replace them). */
  quotaAt = -1
  /** The upstream request in flight. */
  upstream: Cancellable | undefined = undefined
  /** The response was ended by tollgate before it was complete (an upstream failure mid-body, a dropped request). */
  cut = false
  /** An upgrade request (HTTP/1.1 Upgrade, HTTP/2 extended CONNECT); undefined for any other. */
  upgrade: UpgradeKind | undefined = undefined
  /** HTTP/1.1 upgrades: the connection, for the tunnel. */
  handover: Handover | undefined = undefined
  /** The websocket step tunnels this upgrade (otherwise an upgrade is served as a plain request). */
  websocket = false
  /** A credential the client offered as a `tollgate.bearer.…` WebSocket subprotocol; null when several. */
  protocolCredential: string | null | undefined = undefined
  /** The client offered the `tollgate` subprotocol (selected when the container selects none). */
  protocolMarker = false
  tunnel: TunnelRecord | undefined = undefined

  constructor (method: string, scheme: Scheme, start = performance.now()) {
    this.method = method
    this.scheme = scheme
    this.start = start
  }

  /**
   * The response closed: records the status the client got, or 499 (nginx's "client closed
   * request", reason client_closed) when it left before the response was complete. True when it
   * left before tollgate had ended the response (what was still running for it can stop).
   */
  closed (res: { readonly writableEnded: boolean, readonly writableFinished: boolean, readonly headersSent: boolean, readonly statusCode: number }): boolean {
    if (this.tunnel !== undefined) {
      this.status = this.tunnel.status
      return false
    }
    if (this.cut) {
      this.status = res.headersSent ? res.statusCode : 0
      return false
    }
    // HTTP/2 reports writableFinished on a stream the client reset: writableEnded says who ended it.
    if (res.writableEnded && res.writableFinished) {
      this.status = res.statusCode
      return false
    }
    this.status = 499
    this.reason = 'client_closed'
    return !res.writableEnded
  }
}
