// Config values against their TypeBox schema: defaults filled (the schema holds them, nowhere else)
// and the first error, for the config loader and for the rooms that take their section alone
// (secrets, credentials).
import { KindGuard, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * A copy of `value` with the schema's defaults filled in, inside Record values too (TypeBox's
 * Value.Default does not descend into them, e.g. `containers.NAME`).
 */
export function withDefaults<T extends TSchema> (schema: T, value: unknown): Static<T> {
  return fill(schema, structuredClone(value)) as Static<T>
}

function fill (schema: TSchema, value: unknown): unknown {
  const out = Value.Default(schema, value)
  if (out === null || typeof out !== 'object' || Array.isArray(out)) return out
  const o = out as Record<string, unknown>
  if (KindGuard.IsRecord(schema)) {
    const inner = Object.values(schema.patternProperties)[0]
    for (const k of Object.keys(o)) o[k] = fill(inner, o[k])
  } else if (KindGuard.IsObject(schema)) {
    for (const [k, s] of Object.entries(schema.properties)) {
      if (o[k] !== undefined) o[k] = fill(s, o[k])
    }
  }
  return o
}

/** The first place `value` breaks the schema: its JSON pointer and TypeBox's error. */
export function firstSchemaError (schema: TSchema, value: unknown): { path: string, message: string, schema: unknown, value: unknown } | undefined {
  return Value.Errors(schema, value).First()
}
