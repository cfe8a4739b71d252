// The tollgate configs the bench runs: the seed's conditions on every container, the token from the
// environment, the plain listener serving (httpOption: enabled) next to the TLS one, the access log
// on. The load generator connects from 127.0.0.1, declared a trusted proxy, and sends an office
// X-Forwarded-For: the client IP the policy sees is 198.51.100.7, after the XFF walk.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { createDevCa } from '../../src/tls/devcert.js'
import { LIMITS } from '../../src/policy/index.js'

/** Business hours as Scaleway's own docs write it (secure-a-container.mdx). */
export const BUSINESS_HOURS = 'request.time.getDayOfWeek() != 0 && request.time.getDayOfWeek() != 6 && ' +
  'request.time.getHours("Europe/Paris") >= 9 && request.time.getHours("Europe/Paris") < 18'
export const OFFICE_CIDR = '198.51.100.0/24'
export const OFFICE = `inIpRange(request.ip, "${OFFICE_CIDR}")`
export const USER_AGENT = 'request.user_agent.contains("InternalAdminTool/1.0")'
/** The seed's three conditions, all true for the bench's requests, so each is evaluated in full. */
export const SEED_CONDITION = `${BUSINESS_HOURS} && ${OFFICE} && ${USER_AGENT}`

/** What every bench client sends (to every target alike, so the forwarders relay the same request). */
export const CLIENT_IP = '198.51.100.7'
export const CLIENT_HEADERS: Record<string, string> = {
  'user-agent': 'InternalAdminTool/1.0 (tollgate bench)',
  'x-forwarded-for': CLIENT_IP,
  accept: 'application/json'
}

export interface Pki { ca: string, cert: string, key: string }

export function writePki (dir: string): Pki {
  const ca = createDevCa('tollgate bench CA')
  const leaf = ca.issue(['localhost', '127.0.0.1'])
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }
  writeFileSync(files.ca, ca.cert)
  writeFileSync(files.cert, leaf.cert)
  writeFileSync(files.key, leaf.key, { mode: 0o600 })
  return files
}

export interface GatewayShape {
  /** Containers routed (the bench's requests go to the last one, `/hello`). */
  containers: number
  /**
   * CIDRs in the office allow-list, the one that admits the client last. `literal`: written in the
   * condition, `inIpRange(request.ip, ["…", …])` (at most what a 2,048-character condition holds);
   * `ipLists`: a named list in the config, `inIpRange(request.ip, ipLists.office)`.
   */
  cidrs: number
  cidrForm?: 'literal' | 'ipLists'
  /** Overrides of server.upstream (pool settings), for experiments. */
  upstream?: Record<string, unknown>
  /**
   * A rate limit on the bench's container, by client IP, too large to ever trip (every request is
   * counted, none refused): in memory, or in the Redis at `redis`.
   */
  rateLimit?: { redis?: string }
  /** `/hello` is a WebSocket container (websocket: true). */
  websocket?: boolean
}

/** The bench's rate limit: counted on every request, never reached in a run. */
export const BENCH_RATE_LIMIT = { name: 'bench', requests: 1_000_000_000, per: '1m', by: 'ip' }

export interface WrittenConfig {
  file: string
  httpPort: number
  httpsPort: number
}

/** Deterministic filler CIDRs (10.0.0.0/8 /24s), none containing the client IP. */
export function fillerCidrs (n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(`10.${(i >> 8) & 255}.${i & 255}.0/24`)
  return out
}

/** The office list: n - 1 fillers, then the office /24 (the one that admits the bench client). */
export function officeList (n: number): string[] {
  return [...fillerCidrs(n - 1), OFFICE_CIDR]
}

/** The seed condition with the office IP test over a CIDR list (literal or named). */
export function listCondition (list: string): string {
  return `${BUSINESS_HOURS} && inIpRange(request.ip, ${list}) && ${USER_AGENT}`
}

/** The most CIDRs (10.x.y.0/24) an `inIpRange(request.ip, [...])` literal list holds in one seed condition. */
export function maxLiteralCidrs (): number {
  let n = 1
  while (n < LIMITS.maxListElements && literalCondition(n + 1).length <= LIMITS.maxLength) n++
  return n
}

function literalCondition (n: number): string {
  return listCondition('[' + officeList(n).map((c) => `"${c}"`).join(', ') + ']')
}

export function writeGatewayConfig (dir: string, name: string, pki: Pki, ports: { http: number, https: number, upstream: number }, shape: GatewayShape): WrittenConfig {
  const condition = shape.cidrs <= 1
    ? SEED_CONDITION
    : shape.cidrForm === 'ipLists' ? listCondition('ipLists.office') : literalCondition(shape.cidrs)
  if (condition.length > LIMITS.maxLength) throw new Error(`${shape.cidrs} CIDRs do not fit one condition: use cidrForm ipLists`)
  const policies = [{ name: 'office-hours-tool', condition }]
  const containers: Record<string, unknown> = {}
  const container = (path: string): Record<string, unknown> => ({
    upstream: `http://127.0.0.1:${ports.upstream}`,
    match: { path },
    token: '${env:BENCH_TOKEN}',
    privacy: 'public',
    policies,
    ...(shape.rateLimit !== undefined ? { rateLimit: [BENCH_RATE_LIMIT] } : {})
  })
  for (let i = 0; i < shape.containers - 1; i++) containers[`svc-${i}`] = container(`/svc-${i}`)
  containers.hello = { ...container('/hello'), ...(shape.websocket === true ? { websocket: true } : {}) }
  const config = {
    server: {
      listen: { https: { host: '127.0.0.1', port: ports.https }, http: { host: '127.0.0.1', port: ports.http } },
      tls: { cert: pki.cert, key: pki.key },
      httpOption: 'enabled',
      trustedProxies: ['127.0.0.1'],
      logLevel: 'info',
      accessLog: true,
      ...(shape.upstream !== undefined ? { upstream: shape.upstream } : {}),
      ...(shape.rateLimit?.redis !== undefined ? { rateLimit: { redis: shape.rateLimit.redis } } : {})
    },
    ...(shape.cidrForm === 'ipLists' ? { ipLists: { office: officeList(shape.cidrs) } } : {}),
    containers
  }
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, stringify(config, { lineWidth: 0, aliasDuplicateObjects: false }))
  return { file, httpPort: ports.http, httpsPort: ports.https }
}
