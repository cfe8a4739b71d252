// The inject step: the last change to the upstream's request head, after the screen removed every
// field a client could use to spoof or strip what tollgate adds. The client's Bearer credential is
// consumed here (never forwarded); X-Forwarded-For carries the one trusted client IP, nothing a
// client wrote; the upstream gets its own Host and exactly one X-Auth-Token, the container's.
import type { Exchange } from '../exchange.js'

const BEARER = /^bearer\s/i

export interface InjectTarget {
  /** Host for the upstream (its own name, with port when not the default). */
  readonly upstreamHost: string
  /** The container's token as it is now (it may be refreshed between two requests). */
  readonly token: { value (): string }
}

export function inject (x: Exchange, c: InjectTarget): void {
  const out = x.upstreamHeaders
  for (let i = 0; i < out.length; i += 2) {
    if (out[i] === 'authorization' && BEARER.test(out[i + 1])) { out.splice(i, 2); i -= 2 }
  }
  out.push(
    'host', c.upstreamHost,
    'x-forwarded-for', x.ip,
    'x-forwarded-proto', x.scheme,
    'x-forwarded-host', x.authority,
    'x-request-id', x.requestId,
    'x-auth-token', c.token.value()
  )
  x.tokenAt = out.length - 1
  x.injected = true
}
