// The websocket step and the handshake's rules (RFC 6455 §4, RFC 8441 §4–5).
//
// An upgrade request reaches the sequencer like any request (src/pipeline.ts). This step, right
// after the route, decides what it is:
// - `Upgrade: websocket` to a container with `websocket: true`: a tunnel, once the handshake is a
//   valid one (GET, a 16-byte Sec-WebSocket-Key, version 13; over HTTP/2 an extended CONNECT with
//   `:protocol: websocket` and version 13); the forward step then opens it (./tunnel.ts);
// - any other HTTP/1.1 upgrade (`websocket: false`, `Upgrade: h2c`, …): ignored, as nginx does
//   without its upgrade headers set and as tollgate always did: the request is decided and forwarded
//   as plain HTTP without Upgrade, answered with `Connection: close`;
// - an upgrade request that announces a body: refused. Node 20 hands such a body to the upgrade as
//   raw bytes where Node 24+ reads it as the body: two readings of one message, a smuggling vector;
// - an HTTP/2 extended CONNECT to a container without `websocket: true`: 405, as any CONNECT.
//
// A browser cannot set headers on a WebSocket: it may present its tollgate key or JWT as a
// subprotocol `tollgate.bearer.<credential>`, next to a plain `tollgate` entry. The header screen
// takes both out of Sec-WebSocket-Protocol for every request (splitProtocols): consumed, never
// forwarded. A browser fails a handshake whose 101 selects no subprotocol when it offered some:
// when the container selects none, the gateway's 101 selects `tollgate` (./tunnel.ts).
import { createHash, randomBytes } from 'node:crypto'
import type { ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** The subprotocol prefix a browser client puts its credential behind. */
export const PROTOCOL_PREFIX = 'tollgate.bearer.'
/** The subprotocol the gateway selects when the container selects none. */
export const PROTOCOL_MARKER = 'tollgate'
/** base64 of 16 bytes (the form the ws library checks). */
const KEY = /^[+/0-9A-Za-z]{22}==$/

type Headers = Record<string, string | string[] | undefined>

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptFor (key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64')
}

/** A fresh Sec-WebSocket-Key (the HTTP/2 → HTTP/1.1 handshake has none from the client). */
export function newKey (): string {
  return randomBytes(16).toString('base64')
}

/** The comma-separated entries of a field value, trimmed, empty ones dropped. */
export function listEntries (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return String(value).split(',').map((t) => t.trim()).filter((t) => t !== '')
}

/**
 * Sec-WebSocket-Protocol entries: the `tollgate.bearer.` credentials (the prefix matched in any
 * case, so no spelling of it is forwarded), whether `tollgate` was offered, and the subprotocols
 * kept for the container.
 */
export function splitProtocols (value: string): { kept: string[], credentials: string[], marker: boolean } {
  const kept: string[] = []
  const credentials: string[] = []
  let marker = false
  for (const entry of listEntries(value)) {
    const lower = entry.toLowerCase()
    if (lower.startsWith(PROTOCOL_PREFIX)) credentials.push(entry.slice(PROTOCOL_PREFIX.length))
    else if (lower === PROTOCOL_MARKER) marker = true
    else kept.push(entry)
  }
  return { kept, credentials, marker }
}

/** Whether a Sec-WebSocket-Protocol value may hold a tollgate entry (the screen's fast check). */
export function mayCarryCredential (value: string): boolean {
  return /tollgate/i.test(value)
}

/**
 * The websocket step: undefined for requests that are not upgrades and for upgrades served as
 * plain HTTP; `x.websocket` is set for a handshake the forward step turns into a tunnel.
 */
export function websocket (x: Exchange, c: { readonly websocket: boolean }, headers: Headers): ReasonId | undefined {
  const kind = x.upgrade
  if (kind === undefined) return undefined
  const cl = headers['content-length']
  if ((cl !== undefined && cl !== '0') || headers['transfer-encoding'] !== undefined) return 'websocket_bad_handshake'
  const version = headers['sec-websocket-version']
  if (kind === 'http2') {
    if (!c.websocket) return 'method_not_allowed'
    if (version !== '13') return 'websocket_bad_handshake'
    x.websocket = true
    return undefined
  }
  if (!c.websocket || !listEntries(headers.upgrade).some((t) => t.toLowerCase() === 'websocket')) return undefined
  const key = headers['sec-websocket-key']
  if (x.method !== 'GET' || typeof key !== 'string' || !KEY.test(key) || version !== '13') return 'websocket_bad_handshake'
  x.websocket = true
  return undefined
}

/** What the gateway offered the container, for checking its 101. */
export interface Offer {
  readonly key: string
  readonly protocols: readonly string[]
  readonly extensions: readonly string[]
}

/** The extension names of a Sec-WebSocket-Extensions value (`permessage-deflate; client_max_window_bits` → `permessage-deflate`). */
function extensionNames (value: string | string[] | undefined): string[] {
  return listEntries(value).map((e) => e.split(';')[0].trim().toLowerCase())
}

/** The offer an upgrade request head carries (name, value, … lower-case names). */
export function offerOf (key: string, head: readonly string[]): Offer {
  const protocols: string[] = []
  const extensions: string[] = []
  for (let i = 0; i < head.length; i += 2) {
    if (head[i] === 'sec-websocket-protocol') protocols.push(...listEntries(head[i + 1]))
    else if (head[i] === 'sec-websocket-extensions') extensions.push(...extensionNames(head[i + 1]))
  }
  return { key, protocols, extensions }
}

/**
 * Checks the container's 101 against what was offered (RFC 6455 §4.1, the client's duties): Upgrade
 * is `websocket`, Connection lists `upgrade`, Sec-WebSocket-Accept matches the key, a subprotocol
 * or extension is one that was offered. Returns what is wrong, or undefined.
 */
export function checkSwitch (offer: Offer, headers: Headers): string | undefined {
  const upgrade = headers.upgrade
  if (typeof upgrade !== 'string' || upgrade.trim().toLowerCase() !== 'websocket') return 'no Upgrade: websocket'
  if (!listEntries(headers.connection).some((t) => t.toLowerCase() === 'upgrade')) return 'no Connection: upgrade'
  if (headers['sec-websocket-accept'] !== acceptFor(offer.key)) return 'wrong Sec-WebSocket-Accept'
  const protocol = headers['sec-websocket-protocol']
  if (protocol !== undefined && (typeof protocol !== 'string' || !offer.protocols.includes(protocol))) return 'a subprotocol that was not offered'
  if (extensionNames(headers['sec-websocket-extensions']).some((e) => !offer.extensions.includes(e))) return 'an extension that was not offered'
  return undefined
}
