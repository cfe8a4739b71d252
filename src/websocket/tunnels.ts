// The app's WebSocket tunnels: one registry for the process, shared by every runtime (a tunnel
// keeps the runtime it opened on across reloads, and still counts). It holds the caps (global and
// per client IP, `server.websocket`, read per upgrade so a reload changes them), the open tunnels
// the shutdown closes at the drain deadline, and the hooks the metrics count through.
import type { ReasonId } from '../errors.js'

export interface ByteCell { value: number }

/** What the metrics hear of tunnels (src/observability/metrics.ts). */
export interface TunnelEvents {
  /** The byte counters of one container's tunnels: in (client → container) and out. */
  counters (container: string): { readonly in: ByteCell, readonly out: ByteCell }
  opened (container: string): void
  closed (container: string, cause: string): void
}

export interface OpenTunnel {
  /** Ends the tunnel now (the shutdown's deadline). */
  shutdown (): void
}

export interface Tunnels {
  readonly events: TunnelEvents
  /** Places taken: open tunnels and handshakes in flight. */
  readonly size: number
  /** Takes a place for a tunnel from `ip`; the reason it is refused when a cap is reached. */
  admit (ip: string, limits: { readonly maxTunnels: number, readonly maxTunnelsPerIp: number }): ReasonId | undefined
  /** Gives back the place `admit` took (the handshake failed, or the tunnel closed). */
  release (ip: string): void
  add (t: OpenTunnel): void
  delete (t: OpenTunnel): void
  /** Closes every open tunnel now. */
  closeAll (): void
}

const NO_EVENTS: TunnelEvents = {
  counters: () => ({ in: { value: 0 }, out: { value: 0 } }),
  opened () {},
  closed () {}
}

export function createTunnels (events: TunnelEvents = NO_EVENTS): Tunnels {
  const perIp = new Map<string, number>()
  const open = new Set<OpenTunnel>()
  let size = 0
  return {
    events,
    get size () { return size },
    admit (ip, limits) {
      if (size >= limits.maxTunnels) return 'websocket_limit'
      const n = perIp.get(ip) ?? 0
      if (n >= limits.maxTunnelsPerIp) return 'websocket_ip_limit'
      perIp.set(ip, n + 1)
      size++
      return undefined
    },
    release (ip) {
      size--
      const n = (perIp.get(ip) ?? 1) - 1
      if (n <= 0) perIp.delete(ip)
      else perIp.set(ip, n)
    },
    add (t) { open.add(t) },
    delete (t) { open.delete(t) },
    closeAll () {
      for (const t of [...open]) t.shutdown()
    }
  }
}
