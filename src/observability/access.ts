// The observer: one access line per request (a WebSocket tunnel's when it closes: `ms` is its
// lifetime, `bytes` what reached the client, `bytesIn` what the client sent, `closedBy` who or what
// ended it, `closeCode` the WebSocket close status), and a decision/audit event for every deny, every owner
// bypass, every token rotation or rejection by the container, and every authentication outcome on a
// private container. Never a credential or a token value: only who was authenticated and whether a
// token was injected.
import pino from 'pino'
import type { ExchangeRecord as Exchange, Observer, TunnelRecord } from '../exchange.js'
import type { Logger } from './logger.js'
import { principalName } from '../policy/types.js'

export interface ObserverOptions {
  logger: Logger
  accessLog: boolean
  /** Extra sinks (metrics), called with every finished exchange. */
  sinks?: Array<(x: Exchange) => void>
}

export function createObserver (opts: ObserverOptions): Observer {
  const { logger, accessLog } = opts
  const sinks = opts.sinks ?? []
  const writeLine = accessLog ? lineWriter(logger) : undefined
  return {
    done (x) {
      const now = performance.now()
      const allowed = x.allowed
      const principal = x.principal.kind === 'anonymous' ? undefined : principalName(x.principal)
      if (writeLine !== undefined) {
        if (logger.levelVal <= 30) writeLine(accessFields(x, now, allowed, principal))
      } else if (accessLog) {
        logger.info({
          type: 'access',
          requestId: x.requestId,
          container: x.container,
          method: x.method,
          path: x.path,
          host: x.host,
          status: x.status,
          bytes: x.bytes,
          ms: round(now - x.start),
          upstreamMs: x.upstreamEnd > 0 ? round(x.upstreamEnd - x.upstreamStart) : undefined,
          ip: x.ip,
          decision: allowed ? 'allow' : 'deny',
          reason: x.reason,
          rule: x.rule,
          principal,
          ...(x.tunnel !== undefined ? { upgrade: 'websocket', bytesIn: x.tunnel.bytesIn, closedBy: x.tunnel.cause, closeCode: x.tunnel.closeCode } : {})
        })
      }
      const authFailed = x.reason.startsWith('credential_')
      if (!allowed || x.reason === 'owner_bypass' || x.reason === 'upstream_rejected_token' || x.rotated || x.principal.kind !== 'anonymous') {
        logger.info({
          type: 'decision',
          requestId: x.requestId,
          container: x.container,
          ip: x.ip,
          decision: allowed ? 'allow' : 'deny',
          reason: x.reason,
          rule: x.rule,
          limit: x.limit,
          principal,
          auth: authFailed ? 'failed' : x.principal.kind === 'anonymous' ? undefined : 'ok',
          credentialInjected: x.injected,
          tokenRotated: x.rotated || undefined
        })
      }
      for (const s of sinks) s(x)
    }
  }
}

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}

/**
 * The access line's fields as JSON, in the order and form `logger.info({ type: 'access', … })`
 * writes them (undefined fields left out). Built by hand because it is written on every request
 * and pino's generic path (a redaction pass over every key) is the costly part of a line
 * (bench/README.md, "What was tuned"). Redaction would change nothing here: no field is, or is
 * named like, a credential (requestId, container, method, path without query, host, numbers, ip,
 * decision, reason id, rule name, principal id).
 */
function accessFields (x: Exchange, now: number, allowed: boolean, principal: string | undefined): string {
  return ',"type":"access","requestId":' + jsonString(x.requestId) +
    (x.container !== undefined ? ',"container":' + jsonString(x.container) : '') +
    ',"method":' + jsonString(x.method) +
    ',"path":' + jsonString(x.path) +
    ',"host":' + jsonString(x.host) +
    ',"status":' + x.status +
    ',"bytes":' + (Number.isFinite(x.bytes) ? x.bytes : 'null') +
    ',"ms":' + centis(now - x.start) +
    (x.upstreamEnd > 0 ? ',"upstreamMs":' + centis(x.upstreamEnd - x.upstreamStart) : '') +
    ',"ip":' + jsonString(x.ip) +
    (allowed ? ',"decision":"allow"' : ',"decision":"deny"') +
    ',"reason":' + jsonString(x.reason) +
    (x.rule !== undefined ? ',"rule":' + jsonString(x.rule) : '') +
    (principal !== undefined ? ',"principal":' + jsonString(principal) : '') +
    (x.tunnel !== undefined ? tunnelFields(x.tunnel) : '')
}

function tunnelFields (t: TunnelRecord): string {
  return ',"upgrade":"websocket","bytesIn":' + t.bytesIn + ',"closedBy":' + jsonString(t.cause) +
    (t.closeCode !== undefined ? ',"closeCode":' + t.closeCode : '')
}

/**
 * JSON.stringify(s), without its call when nothing in `s` needs escaping (the usual case: ids,
 * methods, canonical paths, hosts, IPs): a quote, a backslash, a control character or a surrogate
 * (a lone one is escaped by JSON.stringify) sends it the long way.
 */
export function jsonString (s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s)
  }
  return '"' + s + '"'
}

/**
 * String(round(ms)) — milliseconds to two decimals, printed as JavaScript prints that number — from
 * integer parts, without the shortest-round-trip formatting of a double (test/ops/access-line.test.ts
 * holds the two to the same output).
 */
export function centis (ms: number): string {
  const n = Math.round(ms * 100)
  // From 1e13 ms up, doubles are too coarse for two decimals to be the shortest form (7.2e13 ms
  // prints as …554.6, not …554.59): String() decides there.
  if (!Number.isSafeInteger(n) || n < 0 || n >= 1e15) return String(n / 100)
  const whole = Math.floor(n / 100)
  const frac = n - whole * 100
  if (frac === 0) return String(whole)
  if (frac % 10 === 0) return whole + '.' + (frac / 10)
  return whole + (frac < 10 ? '.0' : '.') + frac
}

const S = pino.symbols
let isoMs = -1
let isoTime = ''
/** One Date, re-set per millisecond: no Date constructed per line. */
const isoDate = new Date(0)
/** pino's isoTime, computed once per millisecond (many access lines share one at load). */
function cachedIsoTime (): string {
  const now = Date.now()
  if (now !== isoMs) {
    isoMs = now
    isoDate.setTime(now)
    isoTime = ',"time":"' + isoDate.toISOString() + '"'
  }
  return isoTime
}

/**
 * Writes an info line made of pre-serialized fields straight to the logger's stream, framed exactly
 * as pino frames it (level, time, the logger's bindings, fields, end of line). undefined when the
 * logger does anything this framing would skip (mixin, log formatter, nested key, hooks, a stream
 * that wants metadata): the caller then logs through pino itself.
 */
function lineWriter (logger: Logger): ((fields: string) => void) | undefined {
  const l = logger as unknown as Record<symbol, any>
  const stream = l[S.streamSym]
  const head: unknown = l[S.lsCacheSym]?.[30]
  const time = l[S.timeSym] as (() => string) | undefined
  if (typeof stream?.write !== 'function' || stream[S.needsMetadataGsym] === true || typeof head !== 'string' ||
    typeof time !== 'function' || l[S.mixinSym] !== undefined || l[S.formattersSym]?.log !== undefined ||
    l[S.nestedKeySym] != null || l[S.hooksSym]?.streamWrite !== undefined || typeof l[S.endSym] !== 'string') return undefined
  const clock = time === pino.stdTimeFunctions.isoTime ? cachedIsoTime : time
  const end = l[S.endSym] as string
  return (fields) => {
    // Read on every line: a child logger's bindings are fixed, but keep to what pino does.
    stream.write(head + clock() + (l[S.chindingsSym] as string) + fields + end)
  }
}
