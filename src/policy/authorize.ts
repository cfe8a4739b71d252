// The authorize step: the request's facts, as conditions read them, and the container's decision.
// The gateway and `tollgate policy eval|test` build facts here and nowhere else.
import type { ReasonId } from '../errors.js'
import type { Exchange } from '../exchange.js'
import type { ContainerPolicy } from './index.js'
import type { RequestFacts } from './types.js'

/** request.user_agent is cut at 255 characters, as Scaleway IAM reports it. */
export const USER_AGENT_MAX = 255

export function cutUserAgent (ua: string | string[] | undefined): string {
  if (typeof ua !== 'string') return ''
  return ua.length > USER_AGENT_MAX ? ua.slice(0, USER_AGENT_MAX) : ua
}

/** What the identity, target and host steps found, plus the header fields and the time. */
export function requestFacts (x: Pick<Exchange, 'ip' | 'method' | 'path' | 'host'>, headers: RequestFacts['headers'], time = new Date()): RequestFacts {
  return { ip: x.ip, userAgent: cutUserAgent(headers['user-agent']), time, method: x.method, path: x.path, host: x.host, headers }
}

/** Decides the request; undefined when a rule (or the owner bypass) lets it through. */
export function authorize (x: Exchange, policy: ContainerPolicy, facts: RequestFacts): ReasonId | undefined {
  const decision = policy.decide(facts, x.principal)
  x.rule = decision.rule
  x.reason = decision.reason
  x.allowed = decision.allow
  return decision.allow ? undefined : decision.reason
}
