// The observer: one access line per request, and a decision/audit event for every deny, every owner
// bypass, every token rotation and every authentication outcome on a private container. Never a
// credential or a token value: only who was authenticated and whether a token was injected.
import type { Exchange, Observer } from '../pipeline.js'
import type { Logger } from './logger.js'

export interface ObserverOptions {
  logger: Logger
  accessLog: boolean
  /** Extra sinks (metrics), called with every finished exchange. */
  sinks?: Array<(x: Exchange) => void>
}

export function createObserver (opts: ObserverOptions): Observer {
  const { logger, accessLog } = opts
  const sinks = opts.sinks ?? []
  return {
    done (x) {
      const now = performance.now()
      const allowed = x.reason === 'allowed' || x.reason === 'owner_bypass'
      const principal = x.principal.kind === 'anonymous' ? undefined : `${x.principal.kind}:${x.principal.id}`
      if (accessLog) {
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
          principal
        })
      }
      const authFailed = x.reason.startsWith('credential_')
      if (!allowed || x.reason === 'owner_bypass' || x.rotated || x.principal.kind !== 'anonymous') {
        logger.info({
          type: 'decision',
          requestId: x.requestId,
          container: x.container,
          ip: x.ip,
          decision: allowed ? 'allow' : 'deny',
          reason: x.reason,
          rule: x.rule,
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
