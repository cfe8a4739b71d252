// The timestamp conformance table, run in-process (TZ=UTC under `npm test`) and in child processes
// under other TZs (timestamps.test.ts spawns conformance-runner.ts).
//
// Sources (public reference material; cases restated as CEL, not copied code):
// - cel-spec `tests/simple/testdata/timestamps.textproto` (google/cel-spec, commit 0590967a87c7):
//   sections timestamp_conversions, duration_conversions, timestamp_selectors,
//   timestamp_selectors_tz, timestamp_equality, duration_equality, timestamp_arithmetic,
//   comparisons, duration_converters, timestamp_range (from_string_*).
// - cel-go `common/types/timestamp_test.go` (TestTimestampGetDayOfYear/GetMonth/GetHours/GetMinutes/
//   GetSeconds: 1970-01-01T02:05:06Z in America/Phoenix and "-07:00") and the overload examples of
//   cel-go `common/stdlib/standard.go` (commit 246947ab4f7e). One of those examples is wrong
//   upstream: `timestamp('2023-07-14T10:30:45.123Z').getHours('America/Los_Angeles') // 2` — Los
//   Angeles is on PDT (UTC-7) in July, so the hour is 3; the table has 3.
// - cel-go `inTimeZone`: a zone containing ':' is an offset `[+-]HH:MM` (sign optional, minutes
//   0-59); anything else is an IANA name.
// - tollgate's own DST and process-TZ cases (the bugs of @marcbachmann/cel-js 8.0.0 listed in
//   shared/reference/cel-js.md §2), checked against ICU (Intl.DateTimeFormat#formatToParts).
//
// Left out on purpose (documented in docs/policy.md): nanosecond precision
// (`toString_timestamp_nanos`; a timestamp is a JS Date, millisecond precision) and the range errors
// of timestamp/duration *arithmetic* (cel-js's built-in operators do not range-check).

export interface TimestampCase {
  name: string
  expr: string
  /** Expected value; 'error' when evaluation must fail. */
  want: bigint | boolean | string | 'error'
}

const BH = (t: string, zone = 'Europe/Paris'): string =>
  `timestamp('${t}').getDayOfWeek() != 0 && timestamp('${t}').getDayOfWeek() != 6 && ` +
  `timestamp('${t}').getHours('${zone}') >= 9 && timestamp('${t}').getHours('${zone}') < 18`

export const CASES: readonly TimestampCase[] = [
  // --- cel-spec timestamps.textproto: timestamp_conversions / duration_conversions
  { name: 'spec/toInt_timestamp', expr: "int(timestamp('2009-02-13T23:31:30Z'))", want: 1234567890n },
  { name: 'spec/toString_timestamp', expr: "string(timestamp('2009-02-13T23:31:30Z'))", want: '2009-02-13T23:31:30Z' },
  { name: 'spec/toType_timestamp', expr: "type(timestamp('2009-02-13T23:31:30Z')) == google.protobuf.Timestamp", want: true },
  { name: 'spec/toString_duration', expr: "string(duration('1000000s'))", want: '1000000s' },
  { name: 'spec/toType_duration', expr: "type(duration('1000000s')) == google.protobuf.Duration", want: true },

  // --- timestamp_selectors (1234567890 = Fri 2009-02-13 23:31:30 UTC)
  { name: 'spec/getDate', expr: "timestamp('2009-02-13T23:31:30Z').getDate()", want: 13n },
  { name: 'spec/getDayOfMonth', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfMonth()", want: 12n },
  { name: 'spec/getDayOfWeek', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfWeek()", want: 5n },
  { name: 'spec/getDayOfYear', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfYear()", want: 43n },
  { name: 'spec/getFullYear', expr: "timestamp('2009-02-13T23:31:30Z').getFullYear()", want: 2009n },
  { name: 'spec/getHours', expr: "timestamp('2009-02-13T23:31:30Z').getHours()", want: 23n },
  { name: 'spec/getMilliseconds', expr: "timestamp('2009-02-13T23:31:20.123456789Z').getMilliseconds()", want: 123n },
  { name: 'spec/getMinutes', expr: "timestamp('2009-02-13T23:31:30Z').getMinutes()", want: 31n },
  { name: 'spec/getMonth', expr: "timestamp('2009-02-13T23:31:30Z').getMonth()", want: 1n },
  { name: 'spec/getSeconds', expr: "timestamp('2009-02-13T23:31:30Z').getSeconds()", want: 30n },

  // --- timestamp_selectors_tz
  { name: 'spec/tz/getDate', expr: "timestamp('2009-02-13T23:31:30Z').getDate('Australia/Sydney')", want: 14n },
  { name: 'spec/tz/getDayOfMonth_name_pos', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfMonth('US/Central')", want: 12n },
  { name: 'spec/tz/getDayOfMonth_numerical_pos', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfMonth('+11:00')", want: 13n },
  { name: 'spec/tz/getDayOfMonth_numerical_neg', expr: "timestamp('2009-02-13T02:00:00Z').getDayOfMonth('-02:30')", want: 11n },
  { name: 'spec/tz/getDayOfMonth_name_neg', expr: "timestamp('2009-02-13T02:00:00Z').getDayOfMonth('America/St_Johns')", want: 11n },
  { name: 'spec/tz/getDayOfWeek', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfWeek('UTC')", want: 5n },
  { name: 'spec/tz/getDayOfYear', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfYear('US/Central')", want: 43n },
  { name: 'spec/tz/getFullYear', expr: "timestamp('2009-02-13T23:31:30Z').getFullYear('-09:30')", want: 2009n },
  { name: 'spec/tz/getHours', expr: "timestamp('2009-02-13T23:31:30Z').getHours('02:00')", want: 1n },
  { name: 'spec/tz/getMinutes', expr: "timestamp('2009-02-13T23:31:30Z').getMinutes('Asia/Kathmandu')", want: 16n },
  { name: 'spec/tz/getMonth', expr: "timestamp('2009-02-13T23:31:30Z').getMonth('UTC')", want: 1n },
  { name: 'spec/tz/getSeconds', expr: "timestamp('2009-02-13T23:31:30Z').getSeconds('-00:00')", want: 30n },

  // --- timestamp_equality / duration_equality
  { name: 'spec/ts_eq_same', expr: "timestamp('2009-02-13T23:31:30Z') == timestamp('2009-02-13T23:31:30Z')", want: true },
  { name: 'spec/ts_eq_diff', expr: "timestamp('2009-02-13T23:31:29Z') == timestamp('2009-02-13T23:31:30Z')", want: false },
  { name: 'spec/ts_neq_same', expr: "timestamp('1945-05-07T02:41:00Z') != timestamp('1945-05-07T02:41:00Z')", want: false },
  { name: 'spec/ts_neq_diff', expr: "timestamp('2000-01-01T00:00:00Z') != timestamp('2001-01-01T00:00:00Z')", want: true },
  { name: 'spec/dur_eq_same', expr: "duration('123s') == duration('123s')", want: true },
  { name: 'spec/dur_eq_diff', expr: "duration('60s') == duration('3600s')", want: false },
  { name: 'spec/dur_neq_same', expr: "duration('604800s') != duration('604800s')", want: false },
  { name: 'spec/dur_neq_diff', expr: "duration('86400s') != duration('86164s')", want: true },

  // --- timestamp_arithmetic (millisecond-representable ones)
  { name: 'spec/add_duration_to_time', expr: "timestamp('2009-02-13T23:00:00Z') + duration('240s') == timestamp('2009-02-13T23:04:00Z')", want: true },
  { name: 'spec/add_duration_to_duration', expr: "duration('600s') + duration('50s') == duration('650s')", want: true },
  { name: 'spec/subtract_duration_from_time', expr: "timestamp('2009-02-13T23:10:00Z') - duration('600s') == timestamp('2009-02-13T23:00:00Z')", want: true },
  { name: 'spec/subtract_time_from_time', expr: "timestamp('2009-02-13T23:31:00Z') - timestamp('2009-02-13T23:29:00Z') == duration('120s')", want: true },
  { name: 'spec/subtract_duration_from_duration', expr: "duration('900s') - duration('42s') == duration('858s')", want: true },

  // --- comparisons
  { name: 'spec/leq_timestamp_true', expr: "timestamp('2009-02-13T23:00:00Z') <= timestamp('2009-02-13T23:00:00Z')", want: true },
  { name: 'spec/leq_timestamp_false', expr: "timestamp('2009-02-13T23:00:00Z') <= timestamp('2009-02-13T22:59:59Z')", want: false },
  { name: 'spec/leq_duration_true', expr: "duration('200s') <= duration('200s')", want: true },
  { name: 'spec/leq_duration_false', expr: "duration('300s') <= duration('200s')", want: false },
  { name: 'spec/less_timestamp_true', expr: "timestamp('2009-02-13T23:00:00Z') < timestamp('2009-03-13T23:00:00Z')", want: true },
  { name: 'spec/less_duration_true', expr: "duration('200s') < duration('300s')", want: true },
  { name: 'spec/geq_timestamp_true', expr: "timestamp('2009-02-13T23:00:00Z') >= timestamp('2009-02-13T23:00:00Z')", want: true },
  { name: 'spec/geq_timestamp_false', expr: "timestamp('2009-02-13T22:58:00Z') >= timestamp('2009-02-13T23:00:00Z')", want: false },
  { name: 'spec/geq_duration_true', expr: "duration('200s') >= duration('200s')", want: true },
  { name: 'spec/geq_duration_false', expr: "duration('120s') >= duration('200s')", want: false },
  { name: 'spec/greater_timestamp_true', expr: "timestamp('2009-02-13T23:59:00Z') > timestamp('2009-02-13T23:00:00Z')", want: true },
  { name: 'spec/greater_duration_true', expr: "duration('300s') > duration('200s')", want: true },

  // --- duration_converters (get_milliseconds: the millisecond component, 123.321456789s → 321)
  { name: 'spec/dur/get_hours', expr: "duration('10000s').getHours()", want: 2n },
  { name: 'spec/dur/get_milliseconds', expr: "duration('123.321456789s').getMilliseconds()", want: 321n },
  { name: 'spec/dur/get_minutes', expr: "duration('3730s').getMinutes()", want: 62n },
  { name: 'spec/dur/get_seconds', expr: "duration('3730s').getSeconds()", want: 3730n },

  // --- timestamp_range (string parsing)
  { name: 'spec/range/from_string_under', expr: "timestamp('0000-01-01T00:00:00Z')", want: 'error' },
  { name: 'spec/range/from_string_over', expr: "timestamp('10000-01-01T00:00:00Z')", want: 'error' },

  // --- cel-go common/types/timestamp_test.go (1970-01-01T02:05:06Z = 1969-12-31T19:05:06 in Phoenix)
  { name: 'cel-go/GetDayOfYear', expr: 'timestamp(7506).getDayOfYear()', want: 0n },
  { name: 'cel-go/GetDayOfYear_tz', expr: "timestamp(7506).getDayOfYear('America/Phoenix')", want: 364n },
  { name: 'cel-go/GetDayOfYear_offset', expr: "timestamp(7506).getDayOfYear('-07:00')", want: 364n },
  { name: 'cel-go/GetMonth', expr: 'timestamp(7506).getMonth()', want: 0n },
  { name: 'cel-go/GetMonth_tz', expr: "timestamp(7506).getMonth('America/Phoenix')", want: 11n },
  { name: 'cel-go/GetHours', expr: 'timestamp(7506).getHours()', want: 2n },
  { name: 'cel-go/GetHours_tz', expr: "timestamp(7506).getHours('America/Phoenix')", want: 19n },
  { name: 'cel-go/GetMinutes', expr: 'timestamp(7506).getMinutes()', want: 5n },
  { name: 'cel-go/GetMinutes_tz', expr: "timestamp(7506).getMinutes('America/Phoenix')", want: 5n },
  { name: 'cel-go/GetSeconds', expr: 'timestamp(7506).getSeconds()', want: 6n },
  { name: 'cel-go/GetSeconds_tz', expr: "timestamp(7506).getSeconds('America/Phoenix')", want: 6n },

  // --- cel-go common/stdlib/standard.go overload examples
  { name: 'cel-go/doc/getDate', expr: "timestamp('2023-07-14T10:30:45.123Z').getDate()", want: 14n },
  { name: 'cel-go/doc/getDate_tz', expr: "timestamp('2023-07-01T05:00:00Z').getDate('America/Los_Angeles')", want: 30n },
  { name: 'cel-go/doc/getDayOfMonth', expr: "timestamp('2023-07-14T10:30:45.123Z').getDayOfMonth()", want: 13n },
  { name: 'cel-go/doc/getDayOfMonth_tz', expr: "timestamp('2023-07-01T05:00:00Z').getDayOfMonth('America/Los_Angeles')", want: 29n },
  { name: 'cel-go/doc/getDayOfWeek', expr: "timestamp('2023-07-14T10:30:45.123Z').getDayOfWeek()", want: 5n },
  { name: 'cel-go/doc/getDayOfWeek_tz', expr: "timestamp('2023-07-16T05:00:00Z').getDayOfWeek('America/Los_Angeles')", want: 6n },
  { name: 'cel-go/doc/getDayOfYear', expr: "timestamp('2023-01-02T00:00:00Z').getDayOfYear()", want: 1n },
  { name: 'cel-go/doc/getDayOfYear_tz', expr: "timestamp('2023-01-01T05:00:00Z').getDayOfYear('America/Los_Angeles')", want: 364n },
  { name: 'cel-go/doc/getFullYear', expr: "timestamp('2023-07-14T10:30:45.123Z').getFullYear()", want: 2023n },
  { name: 'cel-go/doc/getFullYear_offset', expr: "timestamp('2023-01-01T05:30:00Z').getFullYear('-08:00')", want: 2022n },
  { name: 'cel-go/doc/getHours', expr: "timestamp('2023-07-14T10:30:45.123Z').getHours()", want: 10n },
  { name: 'cel-go/doc/getHours_tz (corrected: PDT)', expr: "timestamp('2023-07-14T10:30:45.123Z').getHours('America/Los_Angeles')", want: 3n },
  { name: 'cel-go/doc/duration_getHours', expr: "duration('3723s').getHours()", want: 1n },
  { name: 'cel-go/doc/getMilliseconds', expr: "timestamp('2023-07-14T10:30:45.123Z').getMilliseconds()", want: 123n },
  { name: 'cel-go/doc/getMilliseconds_tz', expr: "timestamp('2023-07-14T10:30:45.123Z').getMilliseconds('America/Los_Angeles')", want: 123n },
  { name: 'cel-go/doc/getMinutes', expr: "timestamp('2023-07-14T10:30:45.123Z').getMinutes()", want: 30n },
  { name: 'cel-go/doc/getMinutes_tz', expr: "timestamp('2023-07-14T10:30:45.123Z').getMinutes('America/Los_Angeles')", want: 30n },
  { name: 'cel-go/doc/duration_getMinutes', expr: "duration('3723s').getMinutes()", want: 62n },
  { name: 'cel-go/doc/getMonth', expr: "timestamp('2023-07-14T10:30:45.123Z').getMonth()", want: 6n },
  { name: 'cel-go/doc/getMonth_tz', expr: "timestamp('2023-01-01T05:30:00Z').getMonth('America/Los_Angeles')", want: 11n },
  { name: 'cel-go/doc/getSeconds', expr: "timestamp('2023-07-14T10:30:45.123Z').getSeconds()", want: 45n },
  { name: 'cel-go/doc/getSeconds_tz', expr: "timestamp('2023-07-14T10:30:45.123Z').getSeconds('America/Los_Angeles')", want: 45n },
  { name: 'cel-go/doc/duration_getSeconds', expr: "duration('3723.456s').getSeconds()", want: 3723n },
  { name: 'cel-go/doc/string_timestamp', expr: "string(timestamp('1970-01-01T00:00:00Z'))", want: '1970-01-01T00:00:00Z' },
  { name: 'cel-go/doc/int_timestamp', expr: "int(timestamp('1970-01-01T00:00:01Z'))", want: 1n },
  { name: 'cel-go/doc/timestamp_int', expr: "timestamp(1) == timestamp('1970-01-01T00:00:01Z')", want: true },
  { name: 'cel-go/doc/string_duration', expr: "string(duration('1h30m'))", want: '5400s' },

  // --- fixed offsets: sign, no sign, minutes; invalid ones are evaluation errors when computed
  { name: 'offset/+05:30 hours', expr: "timestamp('2009-02-13T23:31:30Z').getHours('+05:30')", want: 5n },
  { name: 'offset/+05:30 minutes', expr: "timestamp('2009-02-13T23:31:30Z').getMinutes('+05:30')", want: 1n },
  { name: 'offset/+05:30 weekday', expr: "timestamp('2009-02-13T23:31:30Z').getDayOfWeek('+05:30')", want: 6n },
  { name: 'offset/-08:00 hours', expr: "timestamp('2009-02-13T23:31:30Z').getHours('-08:00')", want: 15n },
  { name: 'offset/-00:30 hours', expr: "timestamp('2009-02-14T00:10:00Z').getHours('-00:30')", want: 23n },
  { name: 'offset/23:15 day', expr: "timestamp('2009-02-13T23:31:30Z').getDate('23:15')", want: 14n },
  { name: 'offset/computed bad offset', expr: "timestamp('2009-02-13T23:31:30Z').getHours('+05:' + '75')", want: 'error' },
  { name: 'offset/computed unknown zone', expr: "timestamp('2009-02-13T23:31:30Z').getHours('Mars/' + 'Olympus')", want: 'error' },

  // --- DST and process-TZ regressions (cel-js 8.0.0 bugs in shared/reference/cel-js.md §2)
  { name: 'dst/Paris hour while New York skips 02:xx', expr: "timestamp('2026-03-08T01:30:00Z').getHours('Europe/Paris')", want: 2n },
  { name: 'dst/New York hour while Paris skips 02:xx', expr: "timestamp('2026-03-29T06:30:00Z').getHours('America/New_York')", want: 2n },
  { name: 'dst/getDayOfYear UTC mid-year', expr: "timestamp('2026-07-01T12:00:00Z').getDayOfYear()", want: 181n },
  { name: 'dst/getDayOfYear Paris mid-year', expr: "timestamp('2026-07-01T12:00:00Z').getDayOfYear('Europe/Paris')", want: 181n },
  { name: 'dst/Paris spring-forward 01:59 CET', expr: "timestamp('2026-03-29T00:59:59Z').getHours('Europe/Paris')", want: 1n },
  { name: 'dst/Paris spring-forward 03:00 CEST', expr: "timestamp('2026-03-29T01:00:00Z').getHours('Europe/Paris')", want: 3n },
  { name: 'dst/Paris fall-back 02:30 CEST', expr: "timestamp('2026-10-25T00:30:00Z').getHours('Europe/Paris')", want: 2n },
  { name: 'dst/Paris fall-back 02:30 CET', expr: "timestamp('2026-10-25T01:30:00Z').getHours('Europe/Paris')", want: 2n },
  { name: 'dst/New York fall-back 01:59:59 EDT', expr: "timestamp('2026-11-01T05:59:59Z').getHours('America/New_York')", want: 1n },
  { name: 'dst/New York fall-back 01:00 EST', expr: "timestamp('2026-11-01T06:00:00Z').getMinutes('America/New_York')", want: 0n },
  { name: 'dst/New York spring-forward 03:00', expr: "timestamp('2026-03-08T07:00:00Z').getHours('America/New_York')", want: 3n },
  { name: 'dst/Lord Howe half-hour DST before', expr: "timestamp('2026-04-04T14:59:59Z').getMinutes('Australia/Lord_Howe')", want: 59n },
  { name: 'dst/Lord Howe half-hour DST after', expr: "timestamp('2026-04-04T15:00:00Z').getMinutes('Australia/Lord_Howe')", want: 30n },
  { name: 'dst/Kiritimati +14 leap day rollover', expr: "timestamp('2024-02-29T23:00:00Z').getDate('Pacific/Kiritimati')", want: 1n },
  { name: 'dst/Kiritimati +14 leap day month', expr: "timestamp('2024-02-29T23:00:00Z').getMonth('Pacific/Kiritimati')", want: 2n },
  { name: 'civil/year end in Paris', expr: "timestamp('2026-12-31T23:30:00Z').getFullYear('Europe/Paris')", want: 2027n },
  { name: 'civil/year end in Paris, day of year', expr: "timestamp('2026-12-31T23:30:00Z').getDayOfYear('Europe/Paris')", want: 0n },
  { name: 'civil/leap year day of year', expr: "timestamp('2024-12-31T12:00:00Z').getDayOfYear()", want: 365n },
  { name: 'civil/first instant', expr: "timestamp('0001-01-01T00:00:00Z').getFullYear()", want: 1n },
  { name: 'civil/first instant west of UTC', expr: "timestamp('0001-01-01T00:00:00Z').getFullYear('-01:00')", want: 0n },
  { name: 'civil/last instant', expr: "timestamp('9999-12-31T23:59:59.999Z').getDayOfYear()", want: 364n },
  { name: 'civil/offset in timestamp literal', expr: "timestamp('2009-02-14T01:31:30+02:00').getHours()", want: 23n },
  { name: 'parse/no zone designator is rejected', expr: "timestamp('2009-02-13T23:31:30.5')", want: 'error' },
  { name: 'parse/not RFC 3339', expr: "timestamp('Fri, 13 Feb 2009 23:31:30 GMT')", want: 'error' },
  { name: 'parse/February 30', expr: "timestamp('2009-02-30T00:00:00Z')", want: 'error' },

  // --- the seed's business-hours condition (shared/reference/cel-js.md §2 table), Paris wall clock
  { name: 'bh/Fri 08:59 CET', expr: BH('2026-03-27T07:59:00Z'), want: false },
  { name: 'bh/Fri 09:00 CET', expr: BH('2026-03-27T08:00:00Z'), want: true },
  { name: 'bh/Fri 17:59 CET', expr: BH('2026-03-27T16:59:00Z'), want: true },
  { name: 'bh/Fri 18:00 CET', expr: BH('2026-03-27T17:00:00Z'), want: false },
  { name: 'bh/Sun 00:30 Paris (Sat UTC)', expr: BH('2026-03-28T23:30:00Z'), want: false },
  { name: 'bh/DST day 01:59 CET', expr: BH('2026-03-29T00:59:00Z'), want: false },
  { name: 'bh/DST day 03:00 CEST', expr: BH('2026-03-29T01:00:00Z'), want: false },
  { name: 'bh/Mon 08:59 CEST', expr: BH('2026-03-30T06:59:00Z'), want: false },
  { name: 'bh/Mon 09:00 CEST', expr: BH('2026-03-30T07:00:00Z'), want: true },
  { name: 'bh/Mon 17:59 CEST', expr: BH('2026-03-30T15:59:00Z'), want: true },
  { name: 'bh/Mon 18:00 CEST', expr: BH('2026-03-30T16:00:00Z'), want: false },
  { name: 'bh/fall-back 02:30 CEST', expr: BH('2026-10-25T00:30:00Z'), want: false },
  { name: 'bh/fall-back 02:30 CET', expr: BH('2026-10-25T01:30:00Z'), want: false },
  { name: 'bh/Mon 08:30 CET', expr: BH('2026-10-26T07:30:00Z'), want: false },
  { name: 'bh/Mon 09:00 CET', expr: BH('2026-10-26T08:00:00Z'), want: true },
  { name: 'bh/Tue 00:30 Paris', expr: BH('2026-10-26T23:30:00Z'), want: false },
  { name: 'bh/New Year 00:30 Paris', expr: BH('2026-12-31T23:30:00Z'), want: false },
  { name: 'bh/+02:00 fixed offset 09:00', expr: BH('2026-03-30T07:00:00Z', '+02:00'), want: true },
  { name: 'bh/+02:00 fixed offset 08:59', expr: BH('2026-03-30T06:59:00Z', '+02:00'), want: false }
]

/** The CEL condition that is true exactly when `c` holds; for 'error' cases, evaluating it must throw. */
export function asCondition (c: TimestampCase): string {
  if (c.want === 'error') return `string(${c.expr}) == "(unreachable)"`
  if (typeof c.want === 'bigint') return `(${c.expr}) == ${c.want}`
  if (typeof c.want === 'boolean') return `(${c.expr}) == ${c.want}`
  return `(${c.expr}) == ${JSON.stringify(c.want)}`
}
