// What the two client-only floors (bench/servers/floor-client.ts on node:http, floor-net.ts on
// node:net) share: tollgate's upstream client to UPSTREAM, and the request head they send it — the
// client's fields as received, Host and Connection replaced, the token injected. Nothing else.
import { createClient } from '../../src/proxy/client.js'

const origin = new URL(process.env.UPSTREAM ?? '')
const token = process.env.BENCH_TOKEN ?? ''

export const client = createClient({
  origin,
  connections: 64,
  connectTimeout: 5000,
  bodyTimeout: 30_000,
  keepAliveTimeout: 4000,
  maxResponseHeaderSize: 16384
})

/** The upstream request's fields (lower-case name, value, …) from the client's raw fields. */
export function upstreamHeaders (raw: string[]): string[] {
  const headers: string[] = ['host', origin.host, 'x-auth-token', token]
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase()
    if (k !== 'host' && k !== 'connection') headers.push(k, raw[i + 1])
  }
  return headers
}
