// The upstream's response head on its way to the client.
import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { Exchange } from '../exchange.js'
import type { HeaderRules } from './header-rules.js'
import { RESPONSE_DROP, connectionTokens } from './hop-by-hop.js'

/**
 * The upstream's response head fields as relayed to the client, as one flat name/value list (no
 * header object is built; repeated fields stay repeated): without hop-by-hop fields and those its
 * Connection names, and never an X-Auth-Token (a container that echoes the token it was sent must
 * not hand it to the client). X-Request-Id and, on HTTPS, Strict-Transport-Security are the
 * gateway's own: the upstream's are not relayed. Then the container's `headers.response` rules (`rules.drop` also
 * holds the CORS and RateLimit fields tollgate sets itself) and the exchange's own answer fields.
 */
export function responseHead (raw: string[], x: Exchange, hsts: string | undefined, rules?: HeaderRules): string[] {
  let listed: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toLowerCase() !== 'connection') continue
    const tokens = connectionTokens(raw[i + 1])
    if (tokens !== undefined) listed = listed === undefined ? tokens : listed.concat(tokens)
  }
  if (x.scheme !== 'https') hsts = undefined
  const drop = rules?.drop
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase()
    if (RESPONSE_DROP.has(k) || (listed !== undefined && listed.includes(k))) continue
    if (k === 'x-auth-token' || k === 'x-request-id' || (hsts !== undefined && k === 'strict-transport-security')) continue
    if (drop !== undefined && drop.has(k)) continue
    out.push(k, raw[i + 1])
  }
  if (rules !== undefined) for (let i = 0; i < rules.set.length; i++) out.push(rules.set[i])
  const extra = x.answerHeaders
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) out.push(extra[i])
  if (hsts !== undefined) out.push('strict-transport-security', hsts)
  out.push('x-request-id', x.requestId)
  return out
}

export function writeResponseHead (res: ServerResponse | Http2ServerResponse, status: number, raw: string[], x: Exchange, hsts: string | undefined, rules?: HeaderRules): void {
  res.writeHead(status, responseHead(raw, x, hsts, rules) as unknown as Record<string, string>)
}
