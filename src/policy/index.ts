// Policy engine entry point. (First cut: the policy room replaces the internals; the exported API
// below is the seam the pipeline and the CLI use.)
import { Environment } from '@marcbachmann/cel-js'
import ipaddr from 'ipaddr.js'
import { ConfigError } from '../errors.js'
import type { Decision, Principal, PolicyRuleConfig, Privacy, RequestFacts } from './types.js'

export * from './types.js'

export interface ContainerPolicy {
  /** Decide one request. Never throws: any evaluation error denies with `policy_error`. */
  decide (facts: RequestFacts, principal: Principal): Decision
}

function inIpRange (ip: string, cidr: string): boolean {
  try {
    const [range, bits] = ipaddr.parseCIDR(cidr)
    let addr = ipaddr.parse(ip)
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address()
    return addr.kind() === range.kind() && addr.match(range, bits)
  } catch { return false }
}

const env = new Environment()
  .registerVariable({
    name: 'request',
    schema: { ip: 'string', user_agent: 'string', time: 'google.protobuf.Timestamp', method: 'string', path: 'string', host: 'string', headers: 'map<string, string>' }
  } as never)
  .registerFunction('inIpRange(string, string): bool', inIpRange)

/**
 * Compile a container's rules at load. Throws ConfigError naming
 * `containers.NAME.policies[i].condition` for any invalid condition.
 */
export function compileContainerPolicy (container: string, _privacy: Privacy, rules: readonly PolicyRuleConfig[] | undefined): ContainerPolicy {
  const compiled = (rules ?? []).map((rule, i) => {
    const where = `containers.${container}.policies[${i}]`
    let fn: ((ctx: unknown) => unknown) | undefined
    if (rule.condition !== undefined) {
      try {
        const parsed = env.parse(rule.condition)
        const r = parsed.check()
        if (!r.valid) throw new Error(r.error?.message ?? 'invalid')
        if (r.type !== 'bool') throw new Error(`must be bool, is ${r.type}`)
        fn = parsed as unknown as (ctx: unknown) => unknown
      } catch (err) {
        throw new ConfigError(`${where}.condition`, (err as Error).message.split('\n')[0], 'TG_ERR_POLICY_INVALID')
      }
    }
    const principals = rule.principals ?? ['*']
    return { name: rule.name, principals, fn }
  })
  return {
    decide (facts, principal) {
      if (principal.owner) return { allow: true, reason: 'owner_bypass' }
      if (compiled.length === 0) return { allow: true, reason: 'allowed' }
      let errRule: string | undefined
      for (const r of compiled) {
        if (!r.principals.some((p) => p === '*' || p === `${principal.kind}:${principal.id}`)) continue
        if (r.fn === undefined) return { allow: true, reason: 'allowed', rule: r.name }
        try {
          const headers: Record<string, string> = {}
          for (const k in facts.headers) { const v = facts.headers[k]; if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v }
          const out = r.fn({ request: { ip: facts.ip, user_agent: facts.userAgent, time: facts.time, method: facts.method, path: facts.path, host: facts.host, headers } })
          if (out === true) return { allow: true, reason: 'allowed', rule: r.name }
        } catch { errRule ??= r.name }
      }
      return errRule !== undefined ? { allow: false, reason: 'policy_error', rule: errRule } : { allow: false, reason: 'policy_denied' }
    }
  }
}
