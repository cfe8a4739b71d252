// The CORS step: answered by tollgate, right after routing and before anything that needs a
// credential (a browser never sends one on a preflight). As Kong's cors plugin and Envoy's CORS
// filter do:
// - a preflight (OPTIONS with Origin and Access-Control-Request-Method) never reaches the container:
//   204 with the Access-Control-Allow-* fields for an allowed origin, 204 without any for another;
// - an actual request goes on through the pipeline whatever its origin (CORS is the browser's rule,
//   not access control); its answer — the container's or tollgate's own 401/403/429/5xx — carries
//   Access-Control-Allow-Origin (and -Credentials, -Expose-Headers) when the origin is allowed;
// - every answer of the container carries `Vary: Origin`, so no cache serves one origin's answer to
//   another. The container's own Access-Control-* fields are replaced by tollgate's.
// docs/traffic.md holds the decisions and the Kong/Envoy mapping.
import { ConfigError, type ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import type { CorsConfig } from './schema.js'

export interface CorsPolicy {
  /** origins: ["*"] */
  readonly any: boolean
  readonly origins: ReadonlySet<string>
  readonly credentials: boolean
  readonly methods: string
  /** undefined: the preflight's Access-Control-Request-Headers is echoed. */
  readonly headers: string | undefined
  readonly exposeHeaders: string | undefined
  readonly maxAge: string | undefined
}

/** Response fields tollgate owns on a container with `cors` (the container's are dropped). */
export const CORS_FIELDS = [
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-expose-headers', 'access-control-max-age'
]

/** http(s)://host[:port], nothing after. */
const ORIGIN = /^https?:\/\/[^/?#@\s]+$/i
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'

/** Checks `cors` (throws naming the field) and normalises its origins in place (lower case, as browsers send them). */
export function checkCors (cors: CorsConfig | undefined, at: string): void {
  if (cors === undefined) return
  const where = `${at}.cors`
  if (cors.origins.includes('*')) {
    if (cors.origins.length > 1) throw new ConfigError(`${where}.origins`, '"*" stands alone: it allows every origin')
    if (cors.credentials) throw new ConfigError(`${where}.credentials`, 'origins ["*"] with credentials: true is refused (browsers refuse it too; list the origins)')
    return
  }
  cors.origins = cors.origins.map((o, i) => {
    let origin: string | undefined
    try { origin = ORIGIN.test(o) ? new URL(o).origin : undefined } catch { origin = undefined }
    if (origin === undefined) throw new ConfigError(`${where}.origins[${i}]`, `expected an origin like "https://app.example.com" (scheme, host, optional port; no path), got ${JSON.stringify(o)}`)
    return origin // lower case, without a default port: as a browser serialises it
  })
}

export function compileCors (cors: CorsConfig | undefined): CorsPolicy | undefined {
  if (cors === undefined) return undefined
  const any = cors.origins.includes('*')
  return {
    any,
    origins: new Set(any ? [] : cors.origins),
    credentials: cors.credentials,
    methods: cors.methods.map((m) => m.toUpperCase()).join(', '),
    headers: cors.headers?.join(', '),
    exposeHeaders: cors.exposeHeaders !== undefined && cors.exposeHeaders.length > 0 ? cors.exposeHeaders.join(', ') : undefined,
    maxAge: cors.maxAge !== undefined ? String(cors.maxAge) : undefined
  }
}

type Headers = Record<string, string | string[] | undefined>

/** Whether the request is a CORS preflight (Fetch standard: OPTIONS with Origin and Access-Control-Request-Method). */
export function isPreflight (method: string, headers: Headers): boolean {
  return method === 'OPTIONS' && headers.origin !== undefined && headers['access-control-request-method'] !== undefined
}

/**
 * The CORS step. A preflight is answered here: the reason (`cors_preflight`, `cors_origin_denied`)
 * ends the request with a 204 carrying `x.answerHeaders`. An actual request gets its CORS fields in
 * `x.answerHeaders` and goes on (undefined).
 */
export function cors (x: Exchange, policy: CorsPolicy | undefined, headers: Headers): ReasonId | undefined {
  if (policy === undefined) return undefined
  const origin = headers.origin
  const allowed = typeof origin === 'string' && (policy.any || policy.origins.has(origin))
  const allowOrigin = policy.any ? '*' : origin as string
  if (isPreflight(x.method, headers)) {
    const out = ['vary', PREFLIGHT_VARY]
    x.answerHeaders = out
    if (!allowed) return 'cors_origin_denied'
    out.push('access-control-allow-origin', allowOrigin, 'access-control-allow-methods', policy.methods)
    const asked = headers['access-control-request-headers']
    const allowHeaders = policy.headers ?? (typeof asked === 'string' ? asked : undefined)
    if (allowHeaders !== undefined && allowHeaders !== '') out.push('access-control-allow-headers', allowHeaders)
    if (policy.credentials) out.push('access-control-allow-credentials', 'true')
    if (policy.maxAge !== undefined) out.push('access-control-max-age', policy.maxAge)
    x.allowed = true
    return 'cors_preflight'
  }
  const out = ['vary', 'Origin']
  if (allowed) {
    out.push('access-control-allow-origin', allowOrigin)
    if (policy.credentials) out.push('access-control-allow-credentials', 'true')
    if (policy.exposeHeaders !== undefined) out.push('access-control-expose-headers', policy.exposeHeaders)
  }
  x.answerHeaders = out
  return undefined
}
