// Conditions as closures: the common shapes of policy conditions compiled at load to plain JS
// functions over the request's facts, so the hot path skips the CEL interpreter (bench/README.md,
// "What was tuned", has the measurements).
//
// Only a subset is compiled, and only after cel-js has parsed and type-checked the condition (and
// cel.ts has folded zones and CIDR sets into it). A condition with anything outside the subset is
// left to cel-js whole; there is no mixing. The subset:
//
//   bool   true | false | bool && bool | bool || bool | !bool | bool ? bool : bool
//          | int (== != < <= > >=) int | string (== !=) string | bool (== !=) bool
//          | string.contains(string) | string.startsWith(string) | string.endsWith(string)
//          | string in [string literals] | inIpRange(string, CIDR literal(s) or ipLists.NAME)
//   int    request.time.getX() | request.time.getX(zone literal)   (the ten timestamp accessors)
//          | an int literal or -(int literal), compared with an accessor
//   string a string literal | request.ip/user_agent/method/path/host | principal.id/kind
//
// Semantics are CEL's, as cel-js evaluates them: `&&` and `||` absorb an error on one side when the
// other side decides (false && error → false, error || true → true); an invalid request.time is an
// evaluation error. test/policy/compiled.test.ts pits the two paths against each other on generated
// conditions and requests.
import { isNode, isStringLiteral, PREFIX, ZoneConst, type Node } from './ast.js'
import { IpSet } from '../ip/index.js'
import { dayOfWeekOf, fieldOf, hoursOf, instant, TIMESTAMP_ACCESSORS, UTC_ZONE, type Field, type Zone } from './time.js'
import type { Principal, RequestFacts } from './types.js'

export type Closure<T> = (facts: RequestFacts, principal: Principal) => T

const REQUEST_STRINGS: Readonly<Record<string, Closure<string>>> = {
  ip: (f) => f.ip,
  user_agent: (f) => f.userAgent,
  method: (f) => f.method,
  path: (f) => f.path,
  host: (f) => f.host
}

const PRINCIPAL_STRINGS: Readonly<Record<string, Closure<string>>> = {
  id: (_f, p) => p.id,
  kind: (_f, p) => p.kind
}

/**
 * The condition (checked and folded) as one closure returning its boolean value or throwing on an
 * evaluation error; undefined when any part of it is outside the subset.
 */
export function compileClosure (root: Node): Closure<boolean> | undefined {
  return bool(root)
}

function pair (n: Node): [Node, Node] | undefined {
  const a = n.args
  return Array.isArray(a) && a.length === 2 && isNode(a[0]) && isNode(a[1]) ? [a[0], a[1]] : undefined
}

function bool (n: Node): Closure<boolean> | undefined {
  switch (n.op) {
    case 'value': {
      const v = n.args
      return typeof v === 'boolean' ? () => v : undefined
    }
    case '&&': case '||': {
      const p = pair(n)
      const a = p && bool(p[0])
      const b = p && bool(p[1])
      if (a === undefined || b === undefined) return undefined
      return junction(a, b, n.op === '||')
    }
    case '!_': {
      const a = isNode(n.args) ? bool(n.args) : undefined
      return a && ((f, p) => !a(f, p))
    }
    case '?:': {
      const args = n.args
      if (!Array.isArray(args) || args.length !== 3 || !args.every(isNode)) return undefined
      const [c, a, b] = (args as Node[]).map(bool)
      if (c === undefined || a === undefined || b === undefined) return undefined
      return (f, p) => c(f, p) ? a(f, p) : b(f, p)
    }
    case '==': case '!=': case '<': case '<=': case '>': case '>=':
      return comparison(n)
    case 'in': {
      const p = pair(n)
      const s = p && str(p[0])
      const list = p?.[1]
      if (s === undefined || list === undefined || list.op !== 'list' || !Array.isArray(list.args) || !list.args.every(isStringLiteral)) return undefined
      const members = new Set((list.args as Array<Node & { args: string }>).map((x) => x.args))
      return (f, pr) => members.has(s(f, pr))
    }
    case 'rcall': {
      if (!Array.isArray(n.args)) return undefined
      const [name, receiver, args] = n.args as [unknown, unknown, unknown]
      if (name !== 'contains' && name !== 'startsWith' && name !== 'endsWith') return undefined
      if (!isNode(receiver) || !Array.isArray(args) || args.length !== 1 || !isNode(args[0])) return undefined
      const s = str(receiver)
      const x = str(args[0])
      if (s === undefined || x === undefined) return undefined
      if (name === 'contains') return (f, p) => s(f, p).includes(x(f, p))
      if (name === 'startsWith') return (f, p) => s(f, p).startsWith(x(f, p))
      return (f, p) => s(f, p).endsWith(x(f, p))
    }
    case 'call': {
      if (!Array.isArray(n.args)) return undefined
      const [name, args] = n.args as [unknown, unknown]
      if (name !== `${PREFIX}inIpSet` || !Array.isArray(args) || args.length !== 2 || !isNode(args[0]) || !isNode(args[1])) return undefined
      const ip = str(args[0])
      const set = args[1].op === 'value' ? args[1].args : undefined
      if (ip === undefined || !(set instanceof IpSet)) return undefined
      return (f, p) => set.hasText(ip(f, p))
    }
    default:
      return undefined
  }
}

/**
 * CEL's `&&` (decisive value false) and `||` (decisive value true): the decisive value on either
 * side wins, even over an error on the other side.
 */
function junction (a: Closure<boolean>, b: Closure<boolean>, decisive: boolean): Closure<boolean> {
  return (f, p) => {
    let left: boolean
    try {
      left = a(f, p)
    } catch (err) {
      if (b(f, p) === decisive) return decisive
      throw err
    }
    return left === decisive ? decisive : b(f, p)
  }
}

function comparison (n: Node): Closure<boolean> | undefined {
  const p = pair(n)
  if (p === undefined) return undefined
  const op = n.op
  const ia = int(p[0])
  const ib = int(p[1])
  // An int comparison needs an accessor on one side at least: its value is a small integer, so a
  // literal held as a double (rounded past 2^53) still compares exactly against it.
  if (ia !== undefined && ib !== undefined && !(isLiteral(p[0]) && isLiteral(p[1]))) {
    // A literal on the right (the usual `getHours(...) >= 9`) is read once, at load.
    const k = literalInt(p[1])
    if (k !== undefined) {
      switch (op) {
        case '==': return (f, pr) => ia(f, pr) === k
        case '!=': return (f, pr) => ia(f, pr) !== k
        case '<': return (f, pr) => ia(f, pr) < k
        case '<=': return (f, pr) => ia(f, pr) <= k
        case '>': return (f, pr) => ia(f, pr) > k
        default: return (f, pr) => ia(f, pr) >= k
      }
    }
    switch (op) {
      case '==': return (f, pr) => ia(f, pr) === ib(f, pr)
      case '!=': return (f, pr) => ia(f, pr) !== ib(f, pr)
      case '<': return (f, pr) => ia(f, pr) < ib(f, pr)
      case '<=': return (f, pr) => ia(f, pr) <= ib(f, pr)
      case '>': return (f, pr) => ia(f, pr) > ib(f, pr)
      default: return (f, pr) => ia(f, pr) >= ib(f, pr)
    }
  }
  if (op !== '==' && op !== '!=') return undefined
  const sa = str(p[0])
  const sb = str(p[1])
  if (sa !== undefined && sb !== undefined) {
    return op === '==' ? (f, pr) => sa(f, pr) === sb(f, pr) : (f, pr) => sa(f, pr) !== sb(f, pr)
  }
  const ba = bool(p[0])
  const bb = bool(p[1])
  if (ba !== undefined && bb !== undefined) {
    return op === '==' ? (f, pr) => ba(f, pr) === bb(f, pr) : (f, pr) => ba(f, pr) !== bb(f, pr)
  }
  return undefined
}

function literalInt (n: unknown): number | undefined {
  return isNode(n) && n.op === 'value' && typeof n.args === 'bigint' ? Number(n.args) : undefined
}

function isLiteral (n: Node): boolean {
  return n.op === 'value' || n.op === '-_'
}

function int (n: Node): Closure<number> | undefined {
  if (n.op === 'value') {
    const v = literalInt(n)
    return v === undefined ? undefined : () => v
  }
  if (n.op === '-_') {
    const v = literalInt(n.args)
    if (v === undefined) return undefined
    const neg = v === 0 ? 0 : -v
    return () => neg
  }
  if (n.op !== 'rcall' || !Array.isArray(n.args)) return undefined
  const [name, receiver, args] = n.args as [unknown, unknown, unknown]
  if (typeof name !== 'string' || !name.startsWith(PREFIX) || !Array.isArray(args) || !isRequestTime(receiver)) return undefined
  const field = name.slice(PREFIX.length) as Field
  if (!TIMESTAMP_ACCESSORS.includes(field)) return undefined
  let zone: Zone = UTC_ZONE
  if (args.length === 1) {
    const z = args[0] as unknown
    if (!isNode(z) || z.op !== 'value' || !(z.args instanceof ZoneConst)) return undefined
    zone = z.args.zone
  } else if (args.length !== 0) return undefined
  switch (field) {
    case 'getHours': return (f) => { const t = instant(f.time); return hoursOf(t + zone.offsetAt(t)) }
    case 'getDayOfWeek': return (f) => { const t = instant(f.time); return dayOfWeekOf(t + zone.offsetAt(t)) }
    default: return (f) => { const t = instant(f.time); return fieldOf(field, t + zone.offsetAt(t)) }
  }
}

function isRequestTime (n: unknown): boolean {
  return selected(n, 'request') === 'time'
}

/** The field name of `VAR.field` / `VAR["field"]`, or undefined. */
function selected (n: unknown, variable: string): string | undefined {
  if (!isNode(n) || (n.op !== '.' && n.op !== '[]') || !Array.isArray(n.args)) return undefined
  const [target, key] = n.args as [unknown, unknown]
  if (!isNode(target) || target.op !== 'id' || target.args !== variable) return undefined
  if (n.op === '.') return typeof key === 'string' ? key : undefined
  return isStringLiteral(key) ? key.args : undefined
}

function str (n: Node): Closure<string> | undefined {
  if (n.op === 'value') {
    const v = n.args
    return typeof v === 'string' ? () => v : undefined
  }
  const r = selected(n, 'request')
  if (r !== undefined) return Object.hasOwn(REQUEST_STRINGS, r) ? REQUEST_STRINGS[r] : undefined
  const p = selected(n, 'principal')
  if (p !== undefined) return Object.hasOwn(PRINCIPAL_STRINGS, p) ? PRINCIPAL_STRINGS[p] : undefined
  return undefined
}
