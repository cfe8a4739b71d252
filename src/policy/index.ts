// Policy engine entry point: compiles a container's rules at load, decides each request.
//
// Semantics (Scaleway IAM, see docs/policy.md): rules only grant. A request is allowed when any rule
// whose `principals` match has a true (or absent) condition. No rules: allow (public) / allow any
// authenticated principal (private). An owner principal bypasses conditions (`owner_bypass`; the
// pipeline audit-logs it). Any evaluation error denies (`policy_error`).
import { ConfigError } from '../errors.js'
import { compileCondition, ConditionError, type CompiledCondition, type CompileOptions } from './cel.js'
import { principalName, type Decision, type Principal, type PolicyRuleConfig, type Privacy, type RequestFacts } from './types.js'

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
  /** decide() with a trace: each rule's outcome too (for `tollgate policy test`; never throws). */
  explain (facts: RequestFacts, principal: Principal): Explanation
  /** The compiled rules (for tools). */
  readonly rules: ReadonlyArray<{ readonly name: string, readonly principals: readonly string[], readonly condition?: CompiledCondition }>
}

/** `*`, `key:NAME` (a tollgate key's name), `jwt:ISSUER/SUBJECT` (a JWT's issuer name and `sub`) or `jwt:SUBJECT`. */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
// eslint-disable-next-line no-control-regex
const JWT_SUBJECT = /^[^\u0000-\u001f\u007f]{1,255}$/
/** The issuer part of `jwt:ISSUER/SUBJECT` (issuer names have no "/"). */
const JWT_QUALIFIED = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\/(.+)$/s

/** Returns what is wrong with a principal string, or undefined when it is valid. */
export function principalProblem (p: string): string | undefined {
  if (p === '*') return undefined
  if (p.startsWith('key:')) return KEY_NAME.test(p.slice(4)) ? undefined : `"${p}": a key name is 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`
  if (p.startsWith('jwt:')) {
    const subject = JWT_QUALIFIED.exec(p.slice(4))?.[2] ?? p.slice(4)
    return JWT_SUBJECT.test(subject) ? undefined : `"${p}": a JWT subject is 1-255 printable characters`
  }
  return `"${p}" is not a principal: use "*", "key:NAME" or "jwt:ISSUER/SUBJECT"`
}

export interface PolicyOptions extends CompileOptions {
  /**
   * The JWT issuers (names) each container accepts. With it, `jwt:SUBJECT` means that subject of the
   * container's only issuer, and is refused when the container accepts several (a subject is unique
   * only within its issuer); `jwt:ISSUER/SUBJECT` must name one of them.
   */
  jwtIssuers?: Readonly<Record<string, readonly string[]>>
}

/** The principal as matched (`jwt:SUBJECT` qualified with the container's only issuer), or a problem. */
function jwtPrincipal (p: string, issuers: readonly string[] | undefined): { name: string } | { problem: string } {
  if (issuers === undefined || !p.startsWith('jwt:')) return { name: p }
  const rest = p.slice(4)
  const qualified = JWT_QUALIFIED.exec(rest)
  if (qualified !== null) {
    if (issuers.includes(qualified[1]!)) return { name: p }
    return {
      problem: `"${p}" names the issuer "${qualified[1]!}", which this container does not accept ` +
        `(${issuers.length === 0 ? 'it accepts no JWT issuer' : `it accepts ${issuers.join(', ')}`}); a subject with a "/" is written jwt:ISSUER/SUBJECT`
    }
  }
  if (issuers.length > 1) {
    return {
      problem: `"${p}" names no issuer, and this container accepts ${issuers.length} (${issuers.join(', ')}): the same subject from two ` +
        `issuers is two different principals; write it as ${issuers.map((i) => `"jwt:${i}/${rest}"`).join(' or ')}`
    }
  }
  return { name: issuers.length === 1 ? `jwt:${issuers[0]!}/${rest}` : p }
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

/**
 * Node's header map as a CEL map<string, string>: array values (set-cookie) joined with ", ".
 * A JS Map, never a plain object: cel-js infers an object's CEL type from its `constructor`
 * property, so a client-chosen header name (`constructor`, `__proto__`, …) must not be a property
 * of the value cel-js inspects.
 */
export function headerMap (headers: RequestFacts['headers']): Map<string, string> {
  const out = new Map<string, string>()
  for (const k of Object.keys(headers)) {
    const v = headers[k]
    if (v === undefined) continue
    out.set(k.toLowerCase(), Array.isArray(v) ? v.join(', ') : v)
  }
  return out
}

const EMPTY_HEADERS: ReadonlyMap<string, string> = new Map()

/** The `request` variable of a condition. Headers are copied only when `withHeaders`. */
export function requestVariable (facts: RequestFacts, withHeaders: boolean): Record<string, unknown> {
  const request = {
    ip: facts.ip,
    user_agent: facts.userAgent,
    time: facts.time,
    method: facts.method,
    path: facts.path,
    host: facts.host,
    headers: withHeaders ? headerMap(facts.headers) : EMPTY_HEADERS
  }
  // An invalid request time is an evaluation error wherever a condition reads it (compared,
  // subtracted, converted), as it is for the accessors; cel-js would compare an invalid Date as
  // NaN, false both ways, so `!(request.time < t)` would be true.
  if (Number.isNaN(facts.time.getTime())) Object.defineProperty(request, 'time', { get: invalidTime, enumerable: true })
  return request
}

function invalidTime (): never {
  throw new RangeError('invalid timestamp')
}

/**
 * A JSON value (JWT claims) as cel-js reads it safely: every object becomes a Map, at any depth,
 * for the reason headerMap gives (a claim named `constructor` must not change a decision).
 */
export function celValue (v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(celValue)
  if (v instanceof Date || v instanceof Map) return v
  const out = new Map<string, unknown>()
  for (const k of Object.keys(v)) out.set(k, celValue((v as Record<string, unknown>)[k]))
  return out
}

// Claims are immutable for the life of a principal (the credentials room freezes them): convert once.
const claimMaps = new WeakMap<object, unknown>()

/** The `principal` variable of a condition: id, kind and the claims as Maps. */
export function principalVariable (principal: Principal): Record<string, unknown> {
  const claims: unknown = principal.claims
  if (typeof claims !== 'object' || claims === null) return { id: principal.id, kind: principal.kind, claims: new Map() }
  let map = claimMaps.get(claims)
  if (map === undefined) claimMaps.set(claims, map = celValue(claims))
  return { id: principal.id, kind: principal.kind, claims: map }
}

/** The activation a condition is evaluated against (the cel-js path). */
export function activationOf (facts: RequestFacts, principal: Principal, withHeaders = true): { request: unknown, principal: unknown } {
  return { request: requestVariable(facts, withHeaders), principal: principalVariable(principal) }
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
  options: PolicyOptions = {}
): ContainerPolicy {
  const issuers = options.jwtIssuers?.[container]
  const compiled: CompiledRule[] = (rules ?? []).map((rule, i) => {
    const where = `containers.${container}.policies[${i}]`
    const label = `rule "${rule.name}"`
    const principals = rule.principals ?? ['*']
    const named = principals.map((p, j) => {
      const problem = principalProblem(p)
      if (problem !== undefined) throw new ConfigError(`${where}.principals[${j}]`, `${label}: ${problem}`, 'TG_ERR_POLICY_INVALID')
      const m = jwtPrincipal(p, issuers)
      if ('problem' in m) throw new ConfigError(`${where}.principals[${j}]`, `${label}: ${m.problem}`, 'TG_ERR_POLICY_INVALID')
      return m.name
    }).filter((p) => p !== '*')
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
      named: new Set(named),
      condition,
      granted: freeze({ allow: true, reason: 'allowed', rule: rule.name }),
      failed: freeze({ allow: false, reason: 'policy_error', rule: rule.name })
    }
  })
  const withHeaders = compiled.some((r) => r.condition !== undefined && (r.condition.reads.request.has('headers') || r.condition.reads.request.has('*')))
  const everyRuleIsAny = compiled.every((r) => r.anyPrincipal)
  const isPrivate = privacy === 'private'

  const matches = (r: CompiledRule, key: string): boolean => r.anyPrincipal || r.named.has(key)

  /**
   * The one decision algorithm. Without a trace it returns at the first grant; with one it goes on
   * through every rule to report each outcome, and the decision is the same (the first grant, else
   * the first error, else the default).
   */
  function evaluate (facts: RequestFacts, principal: Principal, trace: Explanation | undefined): Decision {
    let early: Decision | undefined
    if (principal.owner) early = OWNER_BYPASS
    else if (isPrivate && principal.kind === 'anonymous') early = NO_CREDENTIAL
    else if (compiled.length === 0) early = ALLOWED
    if (early !== undefined) {
      if (trace === undefined) return early
      trace.note = early === OWNER_BYPASS
        ? 'the principal is an owner: conditions are bypassed (audit-logged)'
        : early === NO_CREDENTIAL
          ? 'private container and no credential: the gateway answers 401 before any rule'
          : isPrivate ? 'no rules: any authenticated principal is allowed' : 'no rules: public container, everyone is allowed'
    }
    const key = everyRuleIsAny ? '' : principalName(principal)
    let activation: { request: unknown, principal: unknown } | undefined
    let granted: Decision | undefined
    let failed: Decision | undefined
    for (const r of compiled) {
      if (!matches(r, key)) {
        trace?.rules.push(outcomeOf(r, false, 'skipped'))
        continue
      }
      const condition = r.condition
      let value: unknown = true
      if (condition !== undefined) {
        try {
          // The compiled closure when the condition has one (no activation built), cel-js otherwise.
          value = condition.closure?.(facts, principal) ??
            condition.evaluate(activation ??= activationOf(facts, principal, withHeaders))
        } catch (err) {
          failed ??= r.failed
          trace?.rules.push({ ...outcomeOf(r, true, 'error'), error: firstLine(err) })
          continue
        }
      }
      if (value === true) {
        if (trace === undefined) return r.granted
        granted ??= r.granted
      }
      trace?.rules.push(outcomeOf(r, true, value === true ? 'granted' : 'false'))
    }
    return early ?? granted ?? failed ?? DENIED
  }

  return {
    rules: compiled.map((r) => freeze({ name: r.name, principals: r.principals, condition: r.condition })),
    decide: (facts, principal) => evaluate(facts, principal, undefined),
    explain (facts, principal) {
      const trace: Explanation = { decision: DENIED, rules: [] }
      trace.decision = evaluate(facts, principal, trace)
      return trace
    }
  }
}

function outcomeOf (r: CompiledRule, principalMatch: boolean, outcome: RuleOutcome['outcome']): RuleOutcome {
  return { index: r.index, name: r.name, principals: r.principals, principalMatch, condition: r.condition?.source, outcome }
}
