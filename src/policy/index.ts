// Policy engine entry point: compiles a container's rules at load, decides each request.
//
// Semantics (Scaleway IAM, see docs/policy.md): rules only grant. A request is allowed when any rule
// whose `principals` match has a true (or absent) condition. No rules: allow (public) / allow any
// authenticated principal (private). An owner principal bypasses conditions (`owner_bypass`; the
// pipeline audit-logs it). Any evaluation error denies (`policy_error`).
import { ConfigError } from '../errors.js'
import { compileCondition, ConditionError, type CompiledCondition, type CompileOptions } from './cel.js'
import { userAgentOf } from './compiled.js'
import type { Decision, Principal, PolicyRuleConfig, Privacy, RequestFacts } from './types.js'

export * from './types.js'
export { compileCondition, ConditionError, LIMITS, parseTimestamp } from './cel.js'
export type { CompiledCondition, CompileOptions, ConditionReads } from './cel.js'

/** The outcome of one rule for one request, as `tollgate policy test` shows it. */
export interface RuleOutcome {
  index: number
  name: string
  principals: readonly string[]
  /** Whether the rule's principals include the caller. */
  principalMatch: boolean
  condition?: string
  /**
   * `granted`: principals match and the condition is true or absent; `false`: the condition is
   * false; `error`: it failed to evaluate (denies); `skipped`: principals do not match.
   */
  outcome: 'granted' | 'false' | 'error' | 'skipped'
  /** The evaluation error (first line), for `error`. */
  error?: string
}

export interface Explanation {
  decision: Decision
  /** Every rule in order, each evaluated (decide() stops at the first grant; the decision is the same). */
  rules: RuleOutcome[]
  /** Why the rules were not consulted, if they were not (`owner_bypass`, no rules, anonymous on private). */
  note?: string
}

export interface ContainerPolicy {
  /** Decide one request. Never throws: any evaluation error denies with `policy_error`. */
  decide (facts: RequestFacts, principal: Principal): Decision
  /** Decide and report each rule's outcome (for `tollgate policy test`; slower, never throws). */
  explain (facts: RequestFacts, principal: Principal): Explanation
  /** The compiled rules (for tools). */
  readonly rules: ReadonlyArray<{ readonly name: string, readonly principals: readonly string[], readonly condition?: CompiledCondition }>
}

/** `*`, `key:NAME` (a tollgate key's name) or `jwt:SUBJECT` (a JWT's `sub`). */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
// eslint-disable-next-line no-control-regex
const JWT_SUBJECT = /^[^\u0000-\u001f\u007f]{1,255}$/

/** Returns what is wrong with a principal string, or undefined when it is valid. */
export function principalProblem (p: string): string | undefined {
  if (p === '*') return undefined
  if (p.startsWith('key:')) return KEY_NAME.test(p.slice(4)) ? undefined : `"${p}": a key name is 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`
  if (p.startsWith('jwt:')) return JWT_SUBJECT.test(p.slice(4)) ? undefined : `"${p}": a JWT subject is 1-255 printable characters`
  return `"${p}" is not a principal: use "*", "key:NAME" or "jwt:SUBJECT"`
}

const freeze = <T extends object>(o: T): Readonly<T> => Object.freeze(o)
const OWNER_BYPASS: Decision = freeze({ allow: true, reason: 'owner_bypass' })
const ALLOWED: Decision = freeze({ allow: true, reason: 'allowed' })
const DENIED: Decision = freeze({ allow: false, reason: 'policy_denied' })
const NO_CREDENTIAL: Decision = freeze({ allow: false, reason: 'credential_missing' })

interface CompiledRule {
  index: number
  name: string
  principals: readonly string[]
  anyPrincipal: boolean
  /** `kind:id` of the principals named. */
  named: ReadonlySet<string>
  condition?: CompiledCondition
  granted: Decision
  failed: Decision
}

/** Node's header map as a CEL map<string, string>: array values (set-cookie) joined with ", ". */
export function headerMap (headers: RequestFacts['headers']): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

const EMPTY_HEADERS: Record<string, string> = Object.freeze(Object.create(null))

/** The `request` variable of a condition. Headers are copied only when `withHeaders`. */
export function requestVariable (facts: RequestFacts, withHeaders: boolean): Record<string, unknown> {
  return {
    ip: facts.ip,
    user_agent: userAgentOf(facts),
    time: facts.time,
    method: facts.method,
    path: facts.path,
    host: facts.host,
    headers: withHeaders ? headerMap(facts.headers) : EMPTY_HEADERS
  }
}

function firstLine (err: unknown): string {
  const msg = err instanceof Error ? ((err as { summary?: string }).summary ?? err.message) : String(err)
  return msg.split('\n')[0].replaceAll('tg__', '')
}

/**
 * Compile a container's rules at load. Throws ConfigError (TG_ERR_POLICY_INVALID) naming
 * `containers.NAME.policies[i].condition` (or `.principals[j]`) for anything invalid; the message
 * names the rule and the column.
 */
export function compileContainerPolicy (
  container: string,
  privacy: Privacy,
  rules: readonly PolicyRuleConfig[] | undefined,
  options: CompileOptions = {}
): ContainerPolicy {
  const compiled: CompiledRule[] = (rules ?? []).map((rule, i) => {
    const where = `containers.${container}.policies[${i}]`
    const label = `rule "${rule.name}"`
    const principals = rule.principals ?? ['*']
    principals.forEach((p, j) => {
      const problem = principalProblem(p)
      if (problem !== undefined) throw new ConfigError(`${where}.principals[${j}]`, `${label}: ${problem}`, 'TG_ERR_POLICY_INVALID')
    })
    let condition: CompiledCondition | undefined
    if (rule.condition !== undefined) {
      try {
        condition = compileCondition(rule.condition, options)
      } catch (err) {
        const msg = err instanceof ConditionError ? err.message : `column 1: ${firstLine(err)}`
        throw new ConfigError(`${where}.condition`, `${label}: ${msg}`, 'TG_ERR_POLICY_INVALID')
      }
    }
    return {
      index: i,
      name: rule.name,
      principals: Object.freeze([...principals]),
      anyPrincipal: principals.includes('*'),
      named: new Set(principals.filter((p) => p !== '*')),
      condition,
      granted: freeze({ allow: true, reason: 'allowed', rule: rule.name }),
      failed: freeze({ allow: false, reason: 'policy_error', rule: rule.name })
    }
  })
  const withHeaders = compiled.some((r) => r.condition !== undefined && (r.condition.reads.request.has('headers') || r.condition.reads.request.has('*')))
  const everyRuleIsAny = compiled.every((r) => r.anyPrincipal)
  const isPrivate = privacy === 'private'

  const matches = (r: CompiledRule, key: string): boolean => r.anyPrincipal || r.named.has(key)

  return {
    rules: compiled.map((r) => freeze({ name: r.name, principals: r.principals, condition: r.condition })),

    decide (facts, principal) {
      try {
        if (principal.owner === true) return OWNER_BYPASS
        if (isPrivate && principal.kind === 'anonymous') return NO_CREDENTIAL
        if (compiled.length === 0) return ALLOWED
        const key = everyRuleIsAny ? '' : `${principal.kind}:${principal.id}`
        let activation: { request: unknown, principal: unknown } | undefined
        let failed: Decision | undefined
        for (const r of compiled) {
          if (!matches(r, key)) continue
          const condition = r.condition
          if (condition === undefined) return r.granted
          try {
            // The compiled closure when the condition has one (no activation built), cel-js otherwise.
            const value = condition.closure?.(facts, principal) ??
              condition.evaluate(activation ??= { request: requestVariable(facts, withHeaders), principal })
            if (value === true) return r.granted
          } catch {
            failed ??= r.failed
          }
        }
        return failed ?? DENIED
      } catch {
        // Unreachable by design (evaluation errors are caught above); fail closed regardless.
        return freeze({ allow: false, reason: 'policy_error' })
      }
    },

    explain (facts, principal) {
      const outcomes: RuleOutcome[] = []
      let note: string | undefined
      let decision: Decision | undefined
      if (principal.owner === true) {
        decision = OWNER_BYPASS
        note = 'the principal is an owner: conditions are bypassed (audit-logged)'
      } else if (isPrivate && principal.kind === 'anonymous') {
        decision = NO_CREDENTIAL
        note = 'private container and no credential: the gateway answers 401 before any rule'
      } else if (compiled.length === 0) {
        decision = ALLOWED
        note = isPrivate ? 'no rules: any authenticated principal is allowed' : 'no rules: public container, everyone is allowed'
      }
      const key = `${principal.kind}:${principal.id}`
      const activation = { request: requestVariable(facts, true), principal }
      let failed: Decision | undefined
      for (const r of compiled) {
        const base = { index: r.index, name: r.name, principals: r.principals, principalMatch: matches(r, key), condition: r.condition?.source }
        if (!base.principalMatch) { outcomes.push({ ...base, outcome: 'skipped' }); continue }
        if (r.condition === undefined) {
          outcomes.push({ ...base, outcome: 'granted' })
          decision ??= r.granted
          continue
        }
        try {
          // The same path as decide(): the closure when the condition has one.
          const v = r.condition.closure?.(facts, principal) ?? r.condition.evaluate(activation)
          outcomes.push({ ...base, outcome: v === true ? 'granted' : 'false' })
          if (v === true) decision ??= r.granted
        } catch (err) {
          outcomes.push({ ...base, outcome: 'error', error: firstLine(err) })
          failed ??= r.failed
        }
      }
      return { decision: decision ?? failed ?? DENIED, rules: outcomes, ...(note !== undefined ? { note } : {}) }
    }
  }
}
