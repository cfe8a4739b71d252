// The AST as @marcbachmann/cel-js builds it, and the constants the load-time compiler folds into it.
// Shared by the compiler (cel.ts), which walks and rewrites the tree, and the closure compiler
// (compiled.ts), which turns the common shapes of conditions into plain JS functions.
import type { RE2JS } from 're2js'
import type { Zone } from './time.js'

export interface Node {
  op: string
  args: unknown
  pos: number
  start: number
  end: number
  meta?: { alternate?: unknown }
}

/** Calls rebound to tollgate's own implementations are renamed with this prefix (cel.ts). */
export const PREFIX = 'tg__'

export function isNode (x: unknown): x is Node {
  return typeof x === 'object' && x !== null && typeof (x as Node).op === 'string' && typeof (x as Node).pos === 'number'
}

export function isStringLiteral (n: unknown): n is Node & { args: string } {
  return isNode(n) && n.op === 'value' && typeof n.args === 'string'
}

export function children (n: Node): Node[] {
  if (n.op === 'value' || n.op === 'id') return []
  const out: Node[] = []
  const visit = (x: unknown): void => {
    if (isNode(x)) out.push(x)
    else if (Array.isArray(x)) for (const y of x) visit(y)
  }
  visit(n.args)
  return out
}

/** A compiled `matches()` pattern (RE2 semantics: linear time, no backreferences/lookaround). */
export class CompiledPattern {
  constructor (readonly re: ReturnType<typeof RE2JS.compile>) {}
}

/** A zone literal resolved at load. */
export class ZoneConst {
  constructor (readonly zone: Zone) {}
}
