// The CEL environment of policy conditions and the load-time compiler.
//
// @marcbachmann/cel-js gives us the parser, the static type checker and the evaluator. Three of its
// built-ins are not fit for a gateway (see docs/policy.md, "Why not the library's built-ins"): the
// timestamp accessors (slow, depend on the process TZ, no fixed offsets), `matches()` (a
// backtracking JS RegExp) and `timestamp(string)` (Date parsing, local time for some inputs).
// cel-js refuses to re-register a built-in overload, and a patch to node_modules would not survive
// `npm ci --ignore-scripts`, so we rebind at compile time instead: after parsing, the compiler walks
// the AST and renames those calls to functions of our own (`getHours` → `tg__getHours`, …) before
// the type check. The standard names keep their standard meaning for policy authors; only the
// implementation behind them is ours. A self-test at module load proves the rebinding took effect
// and throws if a future cel-js changes the AST shape (fail closed).
//
// The same walk enforces the load-time safety limits and folds constants: zone literals become
// resolved Zone objects, `matches()` patterns become compiled RE2 programs and CIDR literals (or
// named lists) become IpSets, so the hot path only evaluates.
import { Environment, ParseError } from '@marcbachmann/cel-js'
import { RE2JS } from 're2js'
import { children, CompiledPattern, isNode, isStringLiteral, PREFIX, ZoneConst, type Node } from './ast.js'
import { compileClosure, type Closure } from './compiled.js'
import { IpSet, parseCidr, parseIp, type Cidr } from '../ip/index.js'
import {
  civilFields, dayOfWeekOf, fieldOf, hoursOf, instant, pinZone, resolveZone, TIMESTAMP_ACCESSORS,
  UTC_ZONE, type Field, type Zone
} from './time.js'

// ---------- limits ----------

export const LIMITS = Object.freeze({
  /** Scaleway IAM caps a rule condition at 2,048 characters. */
  maxLength: 2048,
  /** AST nodes after parsing (a 2,048-character condition has at most ~1,000 meaningful ones). */
  maxAstNodes: 1024,
  /** Nesting of sub-expressions, counting every operator (`!`, `&&`, calls, …). */
  maxDepth: 64,
  /** Parser recursion (parentheses, calls, literals). */
  maxParserDepth: 32,
  maxListElements: 512,
  maxMapEntries: 64,
  maxCallArguments: 8,
  /** A comprehension (all/exists/exists_one/map/filter) may not contain another one. */
  maxComprehensionNesting: 1
})

const TS = 'google.protobuf.Timestamp'
const DUR = 'google.protobuf.Duration'

// ---------- runtime helpers ----------

const DURATION_ACCESSORS = new Set(['getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'])

function accessor (field: Field, zone: Zone): (d: Date) => bigint {
  // Specialise the hot fields so the common case is a closure call and some arithmetic.
  switch (field) {
    case 'getHours': return (d) => { const t = instant(d); return BigInt(hoursOf(t + zone.offsetAt(t))) }
    case 'getDayOfWeek': return (d) => { const t = instant(d); return BigInt(dayOfWeekOf(t + zone.offsetAt(t))) }
    default: return (d) => { const t = instant(d); return BigInt(fieldOf(field, t + zone.offsetAt(t))) }
  }
}

interface DurationLike { seconds: bigint, nanos: number }

function durationField (field: string, d: DurationLike): bigint {
  switch (field) {
    case 'getHours': return d.seconds / 3600n
    case 'getMinutes': return d.seconds / 60n
    case 'getSeconds': return d.seconds
    // cel-spec: the millisecond *component* (timestamps.textproto duration_converters/get_milliseconds).
    default: return BigInt(Math.trunc(d.nanos / 1e6))
  }
}

/** RFC 3339 as cel-spec's timestamp(string) takes it; never local time. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/
const MIN_TS = -62135596800000 // 0001-01-01T00:00:00Z
const MAX_TS = 253402300799999 // 9999-12-31T23:59:59.999Z

export function parseTimestamp (s: string): Date {
  const m = RFC3339.exec(s)
  const fail = (): never => { throw new RangeError(`timestamp("${s.slice(0, 40)}"): not an RFC 3339 timestamp in range`) }
  if (m === null) return fail()
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number)
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return fail()
  const dim = new Date(Date.UTC(2000, mo, 0)).getUTCDate() // days in month (leap handled below)
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  if (d > (mo === 2 ? (leap ? 29 : 28) : dim)) return fail()
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0').slice(0, 3))
  let offset = 0
  if (m[8] === undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return fail()
    offset = (m[9] === '-' ? -1 : 1) * (oh * 3600000 + om * 60000)
  }
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  date.setUTCHours(h, mi, se, ms)
  const t = date.getTime() - offset
  if (t < MIN_TS || t > MAX_TS) return fail()
  return new Date(t)
}

function rfc3339 (d: Date): string {
  const t = instant(d)
  const f = civilFields(t)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  const frac = f.milliseconds === 0 ? '' : `.${p(f.milliseconds, 3)}`
  return `${p(f.year, 4)}-${p(f.month + 1)}-${p(f.date)}T${p(f.hours)}:${p(f.minutes)}:${p(f.seconds)}${frac}Z`
}

// Parsed CIDRs of non-literal arguments (rare: e.g. from JWT claims); bounded.
const dynamicCidrs = new Map<string, Cidr>()
function dynamicCidr (text: string): Cidr {
  let c = dynamicCidrs.get(text)
  if (c === undefined) {
    c = parseCidr(text)
    if (dynamicCidrs.size >= 1024) dynamicCidrs.clear()
    dynamicCidrs.set(text, c)
  }
  return c
}

// ---------- integers: int64/uint64 range and strict conversions (cel-spec) ----------
//
// cel-js lets integer literals past int64 load, negates INT64_MIN without an error and parses
// int()/uint() strings leniently ("" is 0, "0b101" is 5). The compiler folds literal negation and
// checks literal ranges at load, and rebinds int(), uint() and unary minus to the checked
// implementations below (docs/cel-js-upstream-report.md).

const MAX_INT = 2n ** 63n - 1n
const MIN_INT = -(2n ** 63n)
const MAX_UINT = 2n ** 64n - 1n

function overflow (what: string): never { throw new RangeError(`${what}: integer overflow`) }

function checkedInt (v: bigint, what: string): bigint {
  return v < MIN_INT || v > MAX_INT ? overflow(what) : v
}

/** strconv.ParseInt(s, 10, 64) as cel-go uses it: an optional sign and decimal digits, nothing else. */
function intOfString (s: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new RangeError(`int("${s.slice(0, 40)}"): not a base-10 integer`)
  return checkedInt(BigInt(s), 'int()')
}

function intOfDouble (d: number): bigint {
  // cel-go: NaN, ±Inf and anything at or beyond ±2^63 (as a double) is out of range.
  if (!(d > -(2 ** 63) && d < 2 ** 63)) overflow('int()')
  return BigInt(Math.trunc(d))
}

// cel-js's unsigned integer class (not exported by the package): taken from a literal.
type Uint = { valueOf: () => bigint }
let UnsignedInt: new (v: bigint) => Uint

function uintOf (v: bigint, what: string): Uint {
  if (v < 0n || v > MAX_UINT) throw new RangeError(`${what}: unsigned integer out of range`)
  return new UnsignedInt(v)
}

function uintOfString (s: string): Uint {
  if (!/^[0-9]+$/.test(s)) throw new RangeError(`uint("${s.slice(0, 40)}"): not a base-10 unsigned integer`)
  return uintOf(BigInt(s), 'uint()')
}

function uintOfDouble (d: number): Uint {
  if (!(d >= 0 && d < 2 ** 64)) throw new RangeError('uint(): unsigned integer out of range')
  return uintOf(BigInt(Math.trunc(d)), 'uint()')
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

// ---------- the environment ----------

/** The variables a condition sees (see docs/policy.md). */
export const REQUEST_SCHEMA = {
  ip: 'string',
  user_agent: 'string',
  time: TS,
  method: 'string',
  path: 'string',
  host: 'string',
  headers: 'map<string, string>'
} as const

export const PRINCIPAL_SCHEMA = {
  id: 'string',
  kind: 'string',
  claims: 'map<string, dyn>'
} as const

type Handler = (...args: never[]) => unknown

function buildEnvironment (): Environment {
  const env = new Environment({
    // cel-spec (and cel-go by default): a list or map literal may mix types (list(dyn)).
    homogeneousAggregateLiterals: false,
    limits: {
      maxAstNodes: LIMITS.maxAstNodes,
      maxDepth: LIMITS.maxParserDepth,
      maxListElements: LIMITS.maxListElements,
      maxMapEntries: LIMITS.maxMapEntries,
      maxCallArguments: LIMITS.maxCallArguments
    }
  })
  env.registerVariable({ name: 'request', schema: REQUEST_SCHEMA } as never)
  env.registerVariable({ name: 'principal', schema: PRINCIPAL_SCHEMA } as never)
  env.registerType('tollgate.Zone', ZoneConst)
  env.registerType('tollgate.IpSet', IpSet)
  env.registerType('tollgate.Pattern', CompiledPattern)

  const fn = (sig: string, handler: Handler): void => { env.registerFunction(sig, handler as never, { async: false } as never) }

  for (const name of TIMESTAMP_ACCESSORS) {
    const utc = accessor(name, UTC_ZONE)
    fn(`${TS}.${PREFIX}${name}(): int`, utc)
    // Zone literals are folded to a ZoneConst at load; a computed zone string is resolved per call.
    fn(`${TS}.${PREFIX}${name}(tollgate.Zone): int`, (d: Date, z: ZoneConst) => {
      const t = instant(d)
      return BigInt(fieldOf(name, t + z.zone.offsetAt(t)))
    })
    fn(`${TS}.${PREFIX}${name}(string): int`, (d: Date, tz: string) => {
      const t = instant(d)
      return BigInt(fieldOf(name, t + resolveZone(tz).offsetAt(t)))
    })
    if (DURATION_ACCESSORS.has(name)) fn(`${DUR}.${PREFIX}${name}(): int`, (d: DurationLike) => durationField(name, d))
  }

  fn(`${PREFIX}timestamp(string): ${TS}`, parseTimestamp)
  fn(`${PREFIX}timestamp(int): ${TS}`, (i: bigint) => {
    if (i < BigInt(MIN_TS / 1000) || i > BigInt(Math.floor(MAX_TS / 1000))) throw new RangeError('timestamp(int): out of range')
    return new Date(Number(i) * 1000)
  })
  fn(`${PREFIX}timestamp(${TS}): ${TS}`, (d: Date) => d)
  fn(`string(${TS}): string`, rfc3339)

  UnsignedInt = (env.parse('1u')({}) as Uint).constructor as typeof UnsignedInt
  fn(`${PREFIX}int(int): int`, (i: bigint) => i)
  fn(`${PREFIX}int(uint): int`, (u: Uint) => checkedInt(u.valueOf(), 'int()'))
  fn(`${PREFIX}int(double): int`, intOfDouble)
  fn(`${PREFIX}int(string): int`, intOfString)
  fn(`${PREFIX}int(${TS}): int`, (d: Date) => BigInt(Math.floor(instant(d) / 1000)))
  fn(`${PREFIX}uint(uint): uint`, (u: Uint) => u)
  fn(`${PREFIX}uint(int): uint`, (i: bigint) => uintOf(i, 'uint()'))
  fn(`${PREFIX}uint(double): uint`, uintOfDouble)
  fn(`${PREFIX}uint(string): uint`, uintOfString)
  // The operand of a computed unary minus (A: any type; the check still types the minus itself).
  fn(`${PREFIX}negatable(A): A`, (v: unknown) => v === MIN_INT ? overflow('negation') : v)
  // A quotient (A: any type; only an int can leave its range, and only as INT64_MIN / -1).
  fn(`${PREFIX}quotient(A): A`, (v: unknown) => typeof v === 'bigint' && v > MAX_INT ? overflow('division') : v)
  fn(`string(${DUR}): string`, (d: { toString: () => string }) => d.toString())
  fn(`duration(${DUR}): ${DUR}`, (d: DurationLike) => d)
  // cel-spec orders bytes lexicographically (unsigned); cel-js has no bytes comparisons.
  for (const op of ['<', '<=', '>', '>='] as const) {
    env.registerOperator(`bytes ${op} bytes`, ((a: Uint8Array, b: Uint8Array) => {
      const c = compareBytes(a, b)
      return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0
    }) as never)
  }

  fn(`string.${PREFIX}matches(tollgate.Pattern): bool`, (s: string, p: CompiledPattern) => p.re.test(s))
  fn(`${PREFIX}matches(string, tollgate.Pattern): bool`, (s: string, p: CompiledPattern) => p.re.test(s))

  fn(`${PREFIX}inIpSet(string, tollgate.IpSet): bool`, (ip: string, set: IpSet) => set.hasText(ip))
  fn('inIpRange(string, string): bool', (ip: string, cidr: string) => new IpSet([dynamicCidr(cidr)]).hasText(ip))
  fn('inIpRange(string, list<string>): bool', (ip: string, cidrs: readonly string[]) => {
    const a = parseIp(ip)
    if (a === undefined) return false
    for (const c of cidrs) if (new IpSet([dynamicCidr(c)]).has(a)) return true
    return false
  })
  return env
}

let env: ReturnType<typeof buildEnvironment> | undefined
/** The CEL environment, built and self-tested on first use (not at import). */
function environment (): ReturnType<typeof buildEnvironment> {
  if (env === undefined) {
    env = buildEnvironment()
    try { selfTest() } catch (err) { env = undefined; throw err }
  }
  return env
}

// ---------- the AST ----------

function valueNode (value: unknown, at: Node): Node {
  const n = environment().parse('""').ast as unknown as Node
  n.args = value
  n.pos = at.pos
  n.start = at.start
  n.end = at.end
  return n
}

// ---------- compile ----------

/** A condition that failed to compile; `column` (1-based) and `line` point into the source. */
export class ConditionError extends Error {
  constructor (readonly summary: string, readonly offset: number, readonly line: number, readonly column: number) {
    super(`${line > 1 ? `line ${line}, ` : ''}column ${column}: ${summary}`)
    this.name = 'ConditionError'
  }
}

function errorAt (src: string, offset: number, summary: string): ConditionError {
  let line = 1
  let col = 1
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src[i] === '\n') { line++; col = 1 } else col++
  }
  return new ConditionError(summary, offset, line, col)
}

export interface CompileOptions {
  /** Named CIDR lists usable as `inIpRange(request.ip, ipLists.NAME)` (built once, shared). */
  ipLists?: Readonly<Record<string, readonly string[]>>
}

/** What a compiled condition reads (the engine copies headers only for conditions that read them). */
export interface ConditionReads {
  /** request fields read (`headers` included when read); `*` when `request` is used whole. */
  request: ReadonlySet<string>
  principal: boolean
}

export interface CompiledCondition {
  readonly source: string
  readonly reads: ConditionReads
  /** Evaluates with cel-js; throws on evaluation errors (the caller denies). */
  evaluate (activation: { request: unknown, principal: unknown }): unknown
  /**
   * The same condition as a closure over the request's facts (compiled.ts), when every part of it
   * is in the compiled subset; the engine then never builds an activation. Throws on evaluation
   * errors like `evaluate`.
   */
  readonly closure?: Closure<boolean>
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])
const ipListCache = new WeakMap<object, Map<string, IpSet>>()

function namedList (opts: CompileOptions, name: string): IpSet | undefined {
  const lists = opts.ipLists
  if (lists === undefined || !Object.hasOwn(lists, name)) return undefined
  let cache = ipListCache.get(lists)
  if (cache === undefined) ipListCache.set(lists, cache = new Map())
  let set = cache.get(name)
  if (set === undefined) {
    set = new IpSet(lists[name].map((c) => parseCidr(c)))
    cache.set(name, set)
  }
  return set
}

/**
 * Parses, checks and folds one condition. Throws ConditionError (with line and column) for a
 * syntax error, a type error, a result that is not bool, or a breach of the safety limits.
 */
export function compileCondition (src: string, opts: CompileOptions = {}): CompiledCondition {
  return compile(src, opts, undefined)
}

/**
 * The same compiler for an expression of any result type, in the gateway's environment plus the
 * given variables (name → CEL type). For the cel-spec conformance runner, whose cases return
 * values of every type and bind variables of their own; the gateway never calls it.
 */
export function compileExpression (src: string, variables: Readonly<Record<string, string>> = {}): CompiledCondition & { readonly type: string } {
  const declared = Object.entries(variables)
  let e = environment()
  if (declared.length > 0) {
    e = e.clone()
    for (const [name, type] of declared) e.registerVariable(name, type as never)
  }
  return compile(src, {}, e) as CompiledCondition & { type: string }
}

function compile (src: string, opts: CompileOptions, anyType: Environment | undefined): CompiledCondition {
  const celEnv = anyType ?? environment()
  if (typeof src !== 'string') throw new ConditionError('condition must be a string', 0, 1, 1)
  if (src.length > LIMITS.maxLength) {
    throw errorAt(src, LIMITS.maxLength, `condition is ${src.length} characters long; the limit is ${LIMITS.maxLength}`)
  }
  if (src.trim() === '') throw errorAt(src, 0, 'condition is empty')

  let parsed: ReturnType<ReturnType<typeof buildEnvironment>['parse']>
  try {
    parsed = celEnv.parse(src)
  } catch (err) {
    throw fromCelError(src, err)
  }

  const reads = { request: new Set<string>(), principal: false }
  let nodes = 0
  let root = parsed.ast as unknown as Node

  const walk = (n: Node, parent: Node | undefined, depth: number, comprehension: number): void => {
    if (++nodes > LIMITS.maxAstNodes) throw errorAt(src, n.start, `condition has more than ${LIMITS.maxAstNodes} AST nodes`)
    if (depth > LIMITS.maxDepth) throw errorAt(src, n.start, `condition nests deeper than ${LIMITS.maxDepth} levels`)

    // Only the documented vocabulary: the names the compiler rebinds to are not callable by hand.
    if ((n.op === 'call' || n.op === 'rcall') && Array.isArray(n.args) && typeof n.args[0] === 'string' && n.args[0].startsWith(PREFIX)) {
      throw errorAt(src, n.start, `unknown function ${n.args[0]}()`)
    }
    if (n.op === 'value' && typeof n.args === 'bigint' && n.args > MAX_INT) {
      // `-9223372036854775808` (a minus sign, then the digits) is a literal of its own (cel-spec).
      const negative = parent?.op === '-_' && src.slice(parent.start + 1, n.start).trim() === ''
      if (!(negative && n.args === -MIN_INT)) {
        throw errorAt(src, negative ? (parent as Node).start : n.start, `integer literal ${negative ? '-' : ''}${n.args} is out of the int64 range`)
      }
    }
    if (n.op === '/' && parent !== undefined) {
      // INT64_MIN / -1 is 2^63 in BigInt arithmetic: the quotient passes through a range check.
      const call = celEnv.parse(`${PREFIX}quotient(0)`).ast as unknown as Node
      call.pos = n.pos
      call.start = n.start
      call.end = n.end
      replaceNode(root, n, call)
      ;(call.args as [string, Node[]])[1][0] = n
    }
    if (n.op === '-_' && isNode(n.args) && n.args.op !== 'value') {
      // Unary minus on a computed value: its operand passes through a check first, since
      // INT64_MIN has no int64 negation (cel-js would return 2^63).
      const call = celEnv.parse(`${PREFIX}negatable(0)`).ast as unknown as Node
      call.pos = n.args.pos
      call.start = n.args.start
      call.end = n.args.end
      ;(call.args as [string, Node[]])[1][0] = n.args
      n.args = call
      walk((call.args as [string, Node[]])[1][0], call, depth + 1, comprehension)
      return
    }

    if (n.op === 'id') {
      if (n.args === 'request') {
        const field = parent !== undefined && (parent.op === '.' || parent.op === '.?') && Array.isArray(parent.args)
          ? parent.args[1]
          : parent?.op === '[]' && Array.isArray(parent.args) && isStringLiteral(parent.args[1]) ? parent.args[1].args : undefined
        reads.request.add(typeof field === 'string' ? field : '*')
      } else if (n.args === 'principal') reads.principal = true
      return
    }

    if (n.op === 'rcall' && Array.isArray(n.args)) {
      const [name, receiver, callArgs] = n.args as [string, Node, Node[]]
      if (name === 'bind' && isNode(receiver) && receiver.op === 'id' && receiver.args === 'cel') {
        throw errorAt(src, n.start, 'cel.bind() is not allowed in policy conditions')
      }
      if (COMPREHENSIONS.has(name) && n.meta?.alternate !== undefined) {
        if (comprehension >= LIMITS.maxComprehensionNesting) {
          throw errorAt(src, n.start, `${name}() inside another comprehension: at most ${LIMITS.maxComprehensionNesting} level of all/exists/exists_one/map/filter`)
        }
        // map() is the one comprehension whose result can be larger than its input (its transform
        // may use the element several times); feeding it to another comprehension compounds that
        // growth stage by stage (exponential in the text), so a map() result may only be consumed
        // by non-comprehension operations.
        const feeding = findMap(receiver)
        if (feeding !== undefined) {
          throw errorAt(src, feeding.start, `the result of map() cannot feed ${name}() (chained map() can grow exponentially)`)
        }
        walk(receiver, n, depth + 1, comprehension)
        for (const a of callArgs) walk(a, n, depth + 1, comprehension + 1)
        return
      }
      if (name === 'matches') foldPattern(src, n, callArgs, 0)
      if ((TIMESTAMP_ACCESSORS as readonly string[]).includes(name)) {
        n.args[0] = PREFIX + name
        if (callArgs.length === 1) {
          const z = callArgs[0]
          if (isStringLiteral(z)) {
            let zone: Zone
            try { zone = pinZone(z.args) } catch (err) { throw errorAt(src, z.start, (err as Error).message) }
            callArgs[0] = valueNode(new ZoneConst(zone), z)
          }
        }
      }
    } else if (n.op === 'call' && Array.isArray(n.args)) {
      const [name, callArgs] = n.args as [string, Node[]]
      if (name === 'matches') foldPattern(src, n, callArgs, 1)
      else if (name === 'timestamp' || name === 'int' || name === 'uint') n.args[0] = PREFIX + name
      else if (name === 'inIpRange' && callArgs.length === 2) {
        const set = foldIpSet(src, callArgs[1], opts)
        if (set !== undefined) {
          n.args[0] = PREFIX + 'inIpSet'
          callArgs[1] = valueNode(set, callArgs[1])
        }
      }
    }
    for (const c of children(n)) walk(c, n, depth + 1, comprehension)
  }
  walk(root, undefined, 1, 0)
  if (root.op === '/') {
    // A quotient at the root (an expression, never a condition, which is bool) is wrapped too.
    const wrapper = celEnv.parse(`${PREFIX}quotient(0)`)
    ;((wrapper.ast as unknown as Node).args as [string, Node[]])[1][0] = root
    parsed = wrapper
    root = wrapper.ast as unknown as Node
  }

  let checked: { valid: boolean, type?: string, error?: unknown }
  try {
    checked = parsed.check()
  } catch (err) {
    throw fromCelError(src, err)
  }
  if (!checked.valid) throw fromCelError(src, checked.error)
  if (checked.type !== 'bool' && anyType === undefined) throw errorAt(src, 0, `condition must evaluate to bool, not ${publicName(String(checked.type))}`)

  const evaluate = parsed as unknown as (ctx: unknown) => unknown
  const closure = compileClosure(root)
  return {
    ...(anyType !== undefined ? { type: publicName(String(checked.type)) } : {}),
    source: src,
    reads: { request: reads.request, principal: reads.principal },
    evaluate: (activation) => evaluate(activation),
    ...(closure !== undefined ? { closure } : {})
  }
}

/**
 * Puts `neu` in place of every reference to `old` in the tree, the comprehension forms cel-js
 * keeps beside each macro call (meta.alternate) included.
 */
function replaceNode (root: Node, old: Node, neu: Node): void {
  const seen = new Set<object>()
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || seen.has(o)) return
    seen.add(o)
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) if (o[i] === old) o[i] = neu; else visit(o[i])
      return
    }
    if (isNode(o)) {
      if (o.op === 'value') return
      if (o.args === old) o.args = neu
      else visit(o.args)
      visit(o.meta?.alternate)
      return
    }
    const rec = o as Record<string, unknown>
    for (const k of Object.keys(rec)) if (rec[k] === old) rec[k] = neu; else visit(rec[k])
  }
  visit(root)
}

/** The first map() comprehension in a subtree, if any. */
function findMap (n: Node): Node | undefined {
  if (n.op === 'rcall' && Array.isArray(n.args) && n.args[0] === 'map' && n.meta?.alternate !== undefined) return n
  for (const c of children(n)) {
    const m = findMap(c)
    if (m !== undefined) return m
  }
  return undefined
}

function foldPattern (src: string, call: Node, callArgs: Node[], patternIndex: number): void {
  const pattern = callArgs[patternIndex]
  if (pattern === undefined) return // arity errors are reported by the type check
  if (!isStringLiteral(pattern)) {
    throw errorAt(src, isNode(pattern) ? pattern.start : call.start, 'matches() needs a string literal pattern (patterns are compiled and vetted at load)')
  }
  let re: ReturnType<typeof RE2JS.compile>
  try {
    re = RE2JS.compile(pattern.args)
  } catch (err) {
    throw errorAt(src, pattern.start, `invalid RE2 pattern: ${(err as Error).message}`)
  }
  callArgs[patternIndex] = valueNode(new CompiledPattern(re), pattern)
  ;(call.args as unknown[])[0] = PREFIX + 'matches'
}

function foldIpSet (src: string, arg: Node, opts: CompileOptions): IpSet | undefined {
  const parse = (n: Node & { args: string }): Cidr => {
    try { return parseCidr(n.args) } catch (err) { throw errorAt(src, n.start, (err as Error).message) }
  }
  if (isStringLiteral(arg)) return new IpSet([parse(arg)])
  if (arg.op === 'list' && Array.isArray(arg.args) && arg.args.length > 0 && arg.args.every(isStringLiteral)) {
    return new IpSet((arg.args as Array<Node & { args: string }>).map(parse))
  }
  // ipLists.NAME / ipLists["NAME"]
  if ((arg.op === '.' || arg.op === '[]') && Array.isArray(arg.args)) {
    const [target, key] = arg.args as [unknown, unknown]
    if (isNode(target) && target.op === 'id' && target.args === 'ipLists') {
      const name = typeof key === 'string' ? key : isStringLiteral(key) ? key.args : undefined
      if (name === undefined) throw errorAt(src, arg.start, 'ipLists must be indexed with a literal list name')
      let set: IpSet | undefined
      try { set = namedList(opts, name) } catch (err) { throw errorAt(src, arg.start, `ipLists.${name}: ${(err as Error).message}`) }
      if (set === undefined) throw errorAt(src, arg.start, `unknown IP list "${name}"`)
      return set
    }
  }
  return undefined
}

function publicName (s: string): string {
  return s.replaceAll(PREFIX, '')
    .replaceAll('tollgate.Zone', 'string')
    .replaceAll('tollgate.Pattern', 'string')
    .replaceAll('tollgate.IpSet', 'string')
}

function fromCelError (src: string, err: unknown): ConditionError {
  if (err instanceof ConditionError) return err
  const e = err as { summary?: unknown, message?: unknown, range?: { start?: unknown } }
  const summary = publicName(typeof e?.summary === 'string' ? e.summary : String(e?.message ?? err).split('\n')[0])
  const start = typeof e?.range?.start === 'number' ? e.range.start : 0
  return errorAt(src, start, err instanceof ParseError || (err as Error)?.name === 'ParseError' ? `syntax error: ${summary}` : summary)
}

// ---------- self-test: the rebinding must be in effect ----------

function selfTest (): void {
  const probes: Array<[string, unknown]> = [
    ['timestamp("2009-02-13T23:31:30Z").getHours("02:00") == 1', true],
    ['timestamp("2026-07-01T12:00:00Z").getDayOfYear() == 181', true],
    ['duration("1.234s").getMilliseconds() == 234', true],
    ['"aaa".matches("^a+$")', true]
  ]
  for (const [src, want] of probes) {
    const got = compileCondition(src).evaluate({ request: {}, principal: {} })
    if (got !== want) throw new Error(`tollgate policy engine self-test failed on ${src}: got ${String(got)} (is @marcbachmann/cel-js a version this code supports?)`)
  }
}
