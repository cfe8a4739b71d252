// cel-spec's conformance files for the language tollgate supports, through the policy engine (see
// cel-spec.ts). Every case passes, or is out of tollgate's vocabulary, or is in KNOWN with its
// reason — the table in docs/policy.md ("CEL conformance"). A KNOWN case that starts passing fails
// this test too, so the table stays true.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { id, loadCases, outOfVocabulary, runCase } from './cel-spec.js'

// Why each case that does not pass does not pass. The cel-js ones are in docs/cel-js-upstream-report.md.
const BYTES_UTF8 = 'cel-js encodes a non-ASCII character in a bytes literal as one byte (its code point), not as its UTF-8 bytes'
const MIXED_NUMBERS = 'cel-js: no heterogeneous numeric equality (1 == 1u == 1.0) inside lists, maps and `in`'
const LOSSY = 'cel-spec compares an int with a double as doubles (lossy past 2^53); cel-js compares them exactly'
const QUOTED = 'cel-js parses no backquoted field names (a.`b-c`, a recent cel-spec addition)'
const HAS_LITERAL = 'cel-js refuses has() on a field of a map literal ("has() invalid argument")'
const MAP_KEYS = 'cel-js accepts double and null map keys and repeated keys in a map literal; cel-spec makes each an error'
const NANOS = 'nanosecond precision: a timestamp is a JS Date (milliseconds)'
const RANGE = 'cel-js range-checks neither timestamp/duration arithmetic nor duration(string)'
const KNOWN: Record<string, string> = {
  'basic/self_eval_nonzeroish/self_eval_bytes_escape': BYTES_UTF8,
  'comparisons/eq_literal/eq_bytes': BYTES_UTF8,
  'comparisons/ne_literal/not_ne_bytes': BYTES_UTF8,
  'comparisons/eq_literal/eq_list_mixed_type_numbers': MIXED_NUMBERS,
  'comparisons/eq_literal/eq_map_mixed_type_numbers': MIXED_NUMBERS,
  'lists/in/uint_in_ints': MIXED_NUMBERS,
  'lists/in/uint_in_doubles': MIXED_NUMBERS,
  'lists/in/int_in_uints': MIXED_NUMBERS,
  'lists/in/double_in_uints': MIXED_NUMBERS,
  'comparisons/lt_literal/not_lt_dyn_int_big_lossy_double': LOSSY,
  'comparisons/gt_literal/not_gt_dyn_big_double_int': LOSSY,
  'comparisons/lte_literal/lte_dyn_big_double_int': LOSSY,
  'comparisons/gte_literal/gte_dyn_int_big_lossy_double': LOSSY,
  'comparisons/gt_literal/not_gt_double': 'cel-js parses no double literal without a digit before the point (.99)',
  'conversions/string/bytes_invalid': 'cel-js: string(bytes) turns invalid UTF-8 into U+FFFD instead of an error',
  'conversions/type/null_type': 'cel-js names the null type `null`, cel-spec `null_type`',
  'conversions/type/null_type_denotation': 'cel-js names the null type `null`, cel-spec `null_type`',
  'fields/map_has/has': HAS_LITERAL,
  'fields/map_has/has_not': HAS_LITERAL,
  'fields/map_has/has_empty': HAS_LITERAL,
  'fields/quoted_map_fields/field_access_slash': QUOTED,
  'fields/quoted_map_fields/field_access_dash': QUOTED,
  'fields/quoted_map_fields/field_access_dot': QUOTED,
  'fields/quoted_map_fields/has_field_slash': QUOTED,
  'fields/quoted_map_fields/has_field_dash': QUOTED,
  'fields/quoted_map_fields/has_field_dot': QUOTED,
  'fields/qualified_identifier_resolution/map_key_float': MAP_KEYS,
  'fields/qualified_identifier_resolution/map_key_null': MAP_KEYS,
  'fields/qualified_identifier_resolution/map_value_repeat_key': MAP_KEYS,
  'fields/qualified_identifier_resolution/map_value_repeat_key_heterogeneous': MAP_KEYS,
  'lists/index/zero_based_uint': 'cel-js refuses a uint list index',
  'timestamps/timestamp_conversions/toString_timestamp_nanos': NANOS,
  'timestamps/timestamp_arithmetic/add_time_to_duration_nanos_positive': NANOS,
  'timestamps/timestamp_arithmetic/add_time_to_duration': 'cel-js types duration + timestamp as a duration, so comparing it with a timestamp fails the check',
  'timestamps/timestamp_range/add_duration_under': RANGE,
  'timestamps/timestamp_range/add_duration_over': RANGE,
  'timestamps/timestamp_range/add_duration_nanos_over': RANGE,
  'timestamps/timestamp_range/add_duration_nanos_under': RANGE,
  'timestamps/timestamp_range/sub_time_duration_over': RANGE,
  'timestamps/timestamp_range/sub_time_duration_under': RANGE,
  'timestamps/duration_range/from_string_under': RANGE,
  'timestamps/duration_range/from_string_over': RANGE,
  'timestamps/duration_range/add_under': RANGE,
  'timestamps/duration_range/add_over': RANGE,
  'timestamps/duration_range/sub_under': RANGE,
  'timestamps/duration_range/sub_over': RANGE,
  'macros/all/list_empty': 'cel-js fails the check of a comprehension over an empty list literal with an internal overload error',
  'macros/exists_one/map_one': 'cel-js iterates a map\'s values, not its keys, in exists_one()',
  'macros/nested/filter_all': 'tollgate\'s safety limit: comprehensions may not nest (docs/policy.md, "Safety limits")',
  'macros/nested/all_all': 'tollgate\'s safety limit: comprehensions may not nest (docs/policy.md, "Safety limits")'
}

/** Cases that turn the type check off to test runtime behaviour; tollgate checks every condition at load. */
const UNCHECKED = 'tollgate type-checks every condition at load; the case turns the check off (disableCheck) to test what an unchecked expression does at run time'

const cases = loadCases()

test('cel-spec conformance files: every case passes, is out of vocabulary, or is a known departure', () => {
  const failures: string[] = []
  const stale: string[] = []
  const counts = new Map<string, { total: number, passed: number, closure: number, outOfVocabulary: number, unchecked: number, known: number }>()
  const table: string[] = []
  for (const c of cases) {
    const n = counts.get(c.file) ?? { total: 0, passed: 0, closure: 0, outOfVocabulary: 0, unchecked: 0, known: 0 }
    counts.set(c.file, n)
    n.total++
    const out = outOfVocabulary(c)
    if (out !== undefined) { n.outOfVocabulary++; table.push(`| ${id(c)} | ${out} |`); continue }
    const o = runCase(c)
    if (o.result === 'ok') {
      n.passed++
      if (o.path === 'closure+cel-js') n.closure++
      if (KNOWN[id(c)] !== undefined) stale.push(id(c))
    } else if (c.disableCheck === true && o.path === 'load' && KNOWN[id(c)] === undefined) {
      n.unchecked++
      table.push(`| ${id(c)} | ${UNCHECKED} |`)
    } else if (KNOWN[id(c)] !== undefined) {
      n.known++
      table.push(`| ${id(c)} | ${KNOWN[id(c)]} |`)
    } else failures.push(`${id(c)} [${o.path}] ${c.expr.replace(/\s+/g, ' ').slice(0, 120)} → ${o.result.slice(0, 200)}`)
  }
  // CEL_SPEC_REPORT=FILE: the counts, the failures and the table rows for docs/policy.md.
  if (process.env.CEL_SPEC_REPORT !== undefined) writeFileSync(process.env.CEL_SPEC_REPORT, JSON.stringify({ counts: Object.fromEntries(counts), failures, table }, null, 1))
  assert.deepEqual(stale, [], 'cases listed in KNOWN now pass: remove them (and their row in docs/policy.md)')
  assert.deepEqual(failures, [])
  assert.equal(cases.length, 952)
})
