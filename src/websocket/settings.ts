// What `tollgate check` says of the WebSocket settings: legal, but probably not what was meant.
import type { Config } from '../config/load.js'

/** Warnings for `check` (one line each, naming the fields). */
export function websocketWarnings (config: Pick<Config, 'server' | 'containers'>): string[] {
  if (!Object.values(config.containers).some((c) => c.websocket)) return []
  const ws = config.server.websocket
  const limits = config.server.limits
  const out: string[] = []
  // Each tunnel holds one client connection: a tunnel cap above the connection cap is never reached.
  if (ws.maxTunnelsPerIp > limits.maxConnectionsPerIp) {
    out.push(`server.websocket.maxTunnelsPerIp (${ws.maxTunnelsPerIp}) is above server.limits.maxConnectionsPerIp (${limits.maxConnectionsPerIp}): each tunnel holds a connection, so the connection cap refuses first, without an answer`)
  }
  if (ws.maxTunnels > limits.maxConnections) {
    out.push(`server.websocket.maxTunnels (${ws.maxTunnels}) is above server.limits.maxConnections (${limits.maxConnections}): each tunnel holds a connection, so the connection cap refuses first, without an answer`)
  }
  return out
}
