// Runs cel-spec's conformance files (vendored as JSON in ./cel-spec, see its README) through the
// policy engine's own compiler: compileCondition (the gateway's entry point) for bool cases without
// variables, with both the compiled closure and cel-js where the case has a closure;
// compileExpression (the same compiler without the bool requirement, with the case's declared
// variables) for the rest. Values are mapped from the protobuf JSON form to the engine's values
// (int → bigint, uint → cel-js UnsignedInt, double → number, bytes → Uint8Array, list → Array,
// map → Map, Timestamp → Date, Duration → cel-js Duration) and compared type-strictly.
import { readFileSync, readdirSync } from 'node:fs'
import { compileCondition, compileExpression, type CompiledCondition } from '../../src/policy/cel.js'
import type { Principal, RequestFacts } from '../../src/policy/index.js'

export interface SpecCase {
  file: string
  section: string
  name: string
  expr: string
  value?: Json
  evalError?: unknown
  typeEnv?: Array<{ name: string, ident?: { type: Json } }>
  bindings?: Record<string, { value: Json }>
  disableCheck?: boolean
  container?: string
}

type Json = any

const dir = new URL(import.meta.url.endsWith('.ts') ? './cel-spec/' : '../../../test/policy/cel-spec/', import.meta.url)

export function loadCases (): SpecCase[] {
  const out: SpecCase[] = []
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const file = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { name: string, sections: Array<{ name: string, tests?: Json[] }> }
    for (const s of file.sections) for (const t of s.tests ?? []) out.push({ ...t, file: file.name, section: s.name })
  }
  return out
}

export const id = (c: SpecCase): string => `${c.file}/${c.section}/${c.name}`

// ---------- what is outside tollgate's vocabulary (decided by what a case uses, never its name) ----------

const WELL_KNOWN = new Set(['type.googleapis.com/google.protobuf.Timestamp', 'type.googleapis.com/google.protobuf.Duration'])

function usesMessages (v: Json): boolean {
  if (v === null || typeof v !== 'object') return false
  if (typeof v['@type'] === 'string' && !WELL_KNOWN.has(v['@type'])) return true
  if (v.messageType !== undefined && !['google.protobuf.Timestamp', 'google.protobuf.Duration'].includes(v.messageType)) return true
  return Object.values(v).some(usesMessages)
}

/** Why a case cannot be expressed in tollgate's condition language, or undefined. */
export function outOfVocabulary (c: SpecCase): string | undefined {
  if (c.container !== undefined || /\b(TestAllTypes|NestedTestAllTypes|NestedMessage|GlobalEnum|google\.protobuf\.|cel\.expr\.)/.test(c.expr) ||
      usesMessages(c.value) || usesMessages(c.bindings) || usesMessages(c.typeEnv)) {
    return 'protobuf messages, wrappers or enums: tollgate conditions have no message types'
  }
  if ([...Object.keys(c.bindings ?? {}), ...(c.typeEnv ?? []).map((d) => d.name)].some((n) => n.includes('.'))) {
    return 'qualified variable names (a.b.c) and containers: tollgate declares only request and principal'
  }
  if (c.value?.enumValue !== undefined) return 'protobuf enums'
  return undefined
}

// ---------- protobuf JSON ↔ engine values ----------

let UnsignedInt: (new (v: bigint) => object) | undefined
let Duration: { fromMilliseconds?: unknown } | undefined

function engineClasses (): void {
  if (UnsignedInt !== undefined) return
  const u = compileExpression('1u').evaluate({ request: {}, principal: {} }) as object
  const d = compileExpression('duration("1s")').evaluate({ request: {}, principal: {} }) as object
  UnsignedInt = u.constructor as new (v: bigint) => object
  Duration = d.constructor as typeof Duration
}

function num (v: Json): number {
  if (typeof v === 'number') return v
  if (v === 'NaN') return Number.NaN
  if (v === 'Infinity') return Number.POSITIVE_INFINITY
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY
  return Number(v)
}

function durationParts (text: string): { seconds: bigint, nanos: number } {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(text)
  if (m === null) throw new Error(`bad duration ${text}`)
  const sign = m[1] === '-' ? -1 : 1
  return { seconds: BigInt(sign) * BigInt(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) }
}

/** A protobuf JSON Value as the engine's value (for bindings). */
export function toEngine (v: Json): unknown {
  engineClasses()
  if ('int64Value' in v) return BigInt(v.int64Value)
  if ('uint64Value' in v) return new (UnsignedInt as new (v: bigint) => object)(BigInt(v.uint64Value))
  if ('doubleValue' in v) return num(v.doubleValue)
  if ('stringValue' in v) return v.stringValue
  if ('boolValue' in v) return v.boolValue
  if ('nullValue' in v) return null
  if ('bytesValue' in v) return new Uint8Array(Buffer.from(v.bytesValue, 'base64'))
  if ('listValue' in v) return (v.listValue.values ?? []).map(toEngine)
  if ('mapValue' in v) return new Map((v.mapValue.entries ?? []).map((e: Json) => [toEngine(e.key), toEngine(e.value)]))
  if ('objectValue' in v) {
    const o = v.objectValue
    if (o['@type'].endsWith('Timestamp')) return new Date(o.value)
    if (o['@type'].endsWith('Duration')) {
      const { seconds, nanos } = durationParts(o.value)
      const D = Duration as unknown as new (s: bigint, n: number) => object
      return new D(seconds, nanos)
    }
  }
  throw new Error(`no engine value for ${JSON.stringify(v).slice(0, 80)}`)
}

/** Whether `got` (an engine value) is exactly the expected protobuf JSON Value, type included. */
export function same (got: unknown, want: Json): boolean {
  if ('int64Value' in want) return typeof got === 'bigint' && got === BigInt(want.int64Value)
  if ('uint64Value' in want) return got !== null && typeof got === 'object' && got.constructor === UnsignedInt && got.valueOf() === BigInt(want.uint64Value)
  if ('doubleValue' in want) return typeof got === 'number' && (Object.is(got, num(want.doubleValue)) || (Number.isNaN(got) && Number.isNaN(num(want.doubleValue))) || (got === 0 && num(want.doubleValue) === 0))
  if ('stringValue' in want) return got === want.stringValue
  if ('boolValue' in want) return got === want.boolValue
  if ('nullValue' in want) return got === null
  if ('bytesValue' in want) return got instanceof Uint8Array && Buffer.from(got).equals(Buffer.from(want.bytesValue, 'base64'))
  if ('listValue' in want) {
    const values = want.listValue.values ?? []
    const list = got instanceof Set ? [...got] : got
    return Array.isArray(list) && list.length === values.length && list.every((x, i) => same(x, values[i]))
  }
  if ('mapValue' in want) {
    const entries = want.mapValue.entries ?? []
    const m = got instanceof Map ? got : got !== null && typeof got === 'object' && Object.getPrototypeOf(got) === Object.prototype ? new Map(Object.entries(got)) : undefined
    if (m === undefined || m.size !== entries.length) return false
    return entries.every((e: Json) => {
      const k = toEngine(e.key)
      for (const [gk, gv] of m) if (keyEquals(gk, k)) return same(gv, e.value)
      return false
    })
  }
  if ('typeValue' in want) return got !== null && typeof got === 'object' && (got as { name?: unknown }).name === want.typeValue
  if ('objectValue' in want) {
    const o = want.objectValue
    if (o['@type'].endsWith('Timestamp')) return got instanceof Date && got.getTime() === Date.parse(o.value) && !/\.\d{4,}/.test(o.value.replace(/0+Z$/, 'Z'))
    if (o['@type'].endsWith('Duration')) {
      const d = got as { seconds?: bigint, nanos?: number }
      const w = durationParts(o.value)
      return got !== null && typeof got === 'object' && got.constructor === Duration && d.seconds === w.seconds && d.nanos === w.nanos
    }
  }
  return false
}

function keyEquals (a: unknown, b: unknown): boolean {
  const norm = (x: unknown): unknown => x !== null && typeof x === 'object' && x.constructor === UnsignedInt ? `u${String(x.valueOf())}` : x
  return norm(a) === norm(b)
}

/** The CEL type name of a typeEnv declaration, as the engine's registry spells it. */
function typeName (t: Json): string {
  if (t.primitive !== undefined) return ({ INT64: 'int', UINT64: 'uint', DOUBLE: 'double', STRING: 'string', BOOL: 'bool', BYTES: 'bytes' } as Record<string, string>)[t.primitive]
  if ('null' in t) return 'null'
  if (t.listType !== undefined) return `list<${typeName(t.listType.elemType)}>`
  if (t.mapType !== undefined) return `map<${typeName(t.mapType.keyType)}, ${typeName(t.mapType.valueType)}>`
  if (t.messageType !== undefined) return t.messageType
  if (t.wellKnown !== undefined) return ({ TIMESTAMP: 'google.protobuf.Timestamp', DURATION: 'google.protobuf.Duration', ANY: 'dyn' } as Record<string, string>)[t.wellKnown] ?? 'dyn'
  return 'dyn'
}

// ---------- running one case ----------

export interface Outcome {
  /** `ok`, or what went wrong. */
  result: string
  /** Which paths ran: `closure+cel-js`, `cel-js` (compileCondition), `expression` (compileExpression). */
  path: string
}

const FACTS: RequestFacts = { ip: '203.0.113.10', userAgent: '', time: new Date(0), method: 'GET', path: '/', host: 'localhost', headers: {} }
const NOBODY: Principal = { kind: 'anonymous', id: '', owner: false, claims: {} }

function describe (v: unknown): string {
  if (typeof v === 'bigint') return `${v}`
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
  try { return JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? `${x}` : x) ?? String(v) } catch { return String(v) }
}

export function runCase (c: SpecCase): Outcome {
  engineClasses()
  const variables: Record<string, string> = {}
  // Declared variables, and bound ones the case leaves undeclared (disableCheck cases): dyn.
  for (const d of c.typeEnv ?? []) if (d.ident !== undefined) variables[d.name] = typeName(d.ident.type)
  for (const name of Object.keys(c.bindings ?? {})) variables[name] ??= 'dyn'
  const activation: Record<string, unknown> = { request: {}, principal: {} }
  for (const [name, b] of Object.entries(c.bindings ?? {})) activation[name] = toEngine(b.value)
  const wantError = c.evalError !== undefined

  let compiled: CompiledCondition
  let viaCondition = false
  try {
    const expression = compileExpression(c.expr, variables)
    // A bool expression over no variables of its own is a condition: run it as the gateway does.
    viaCondition = expression.type === 'bool' && Object.keys(variables).length === 0
    compiled = viaCondition ? compileCondition(c.expr) : expression
  } catch (err) {
    // A condition that can only fail is refused at load: the same outcome as an evaluation error.
    return { result: wantError ? 'ok' : `refused at load: ${(err as Error).message}`, path: 'load' }
  }
  const results: Array<[string, () => unknown]> = [['cel-js', () => compiled.evaluate(activation as never)]]
  if (compiled.closure !== undefined) results.push(['closure', () => (compiled.closure as NonNullable<typeof compiled.closure>)(FACTS, NOBODY)])
  const path = !viaCondition ? 'expression' : compiled.closure !== undefined ? 'closure+cel-js' : 'cel-js'
  for (const [which, run] of results) {
    let got: unknown
    try {
      got = run()
    } catch (err) {
      if (wantError) continue
      return { result: `${which}: error ${((err as Error).message ?? String(err)).split('\n')[0]}`, path }
    }
    if (wantError) return { result: `${which}: no error (got ${describe(got)})`, path }
    if (c.value === undefined) return { result: `${which}: the case expects neither a value nor an error`, path }
    if (!same(got, c.value)) return { result: `${which}: got ${describe(got)}, want ${JSON.stringify(c.value)}`, path }
  }
  return { result: 'ok', path }
}
