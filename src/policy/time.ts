// Time zones and calendar fields for the CEL timestamp accessors, exact to cel-spec and independent
// of the process TZ.
//
// A zone is either a fixed offset (`"+05:30"`, `"-08:00"`, `"02:00"`: cel-spec's FixedTZ, with the
// sign optional as cel-go parses it) or an IANA name (`"Europe/Paris"`, `"UTC"`, links such as
// `"US/Central"`). Calendar fields are computed with integer arithmetic from `epoch ms + offset` on
// the proleptic Gregorian calendar; nothing here reads the process zone.
//
// For IANA zones the UTC offset comes from ICU (Intl.DateTimeFormat#formatToParts, costly) and is
// cached per UTC hour: an hour whose first and last second have the same offset is taken to have
// that offset throughout (tzdata has no pair of transitions less than an hour apart that cancel
// out); an hour that contains a transition is bisected once to the second (tzdata transitions fall
// on whole seconds). The hot path — "now", in the current hour — is two comparisons.

import { LRUCache } from 'lru-cache'

const MS_PER_SECOND = 1000
const MS_PER_MINUTE = 60_000
const MS_PER_HOUR = 3_600_000
const MS_PER_DAY = 86_400_000

/** Calendar fields of one instant in one zone (cel-spec bases: month, day of month/year 0-based). */
export interface CivilFields {
  year: number
  /** 0-11 */
  month: number
  /** 1-31 */
  date: number
  /** 0-based day of the year */
  dayOfYear: number
  /** 0 = Sunday */
  dayOfWeek: number
  hours: number
  minutes: number
  seconds: number
  milliseconds: number
}

export interface Zone {
  readonly name: string
  /** UTC offset in ms at the instant `t` (epoch ms). */
  offsetAt (t: number): number
}

// ---------- proleptic Gregorian arithmetic (H. Hinnant's days_from_civil / civil_from_days) ----------

/** Days since 1970-01-01 of a civil date (month 1-12). Valid for any year. */
export function daysFromCivil (y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const mp = (m + 9) % 12
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** Civil date of a day number: [year, month 1-12, day 1-31]. */
export function civilFromDays (z: number): [number, number, number] {
  z += 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d]
}

function mod (a: number, n: number): number {
  const r = a % n
  return r < 0 ? r + n : r
}

// Individual fields, so the hot accessors (hours, weekday) never build a date.
export function hoursOf (local: number): number { return Math.floor(mod(local, MS_PER_DAY) / MS_PER_HOUR) }
export function minutesOf (local: number): number { return Math.floor(mod(local, MS_PER_HOUR) / MS_PER_MINUTE) }
export function secondsOf (local: number): number { return Math.floor(mod(local, MS_PER_MINUTE) / MS_PER_SECOND) }
export function millisecondsOf (local: number): number { return mod(local, MS_PER_SECOND) }
/** 0 = Sunday; 1970-01-01 was a Thursday. */
export function dayOfWeekOf (local: number): number { return mod(Math.floor(local / MS_PER_DAY) + 4, 7) }

/** The CEL timestamp accessors. */
export type Field = 'getFullYear' | 'getMonth' | 'getDate' | 'getDayOfMonth' | 'getDayOfYear' | 'getDayOfWeek' |
  'getHours' | 'getMinutes' | 'getSeconds' | 'getMilliseconds'

export const TIMESTAMP_ACCESSORS: readonly Field[] = ['getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfYear',
  'getDayOfWeek', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds']

/** The value of one accessor (cel-spec bases) at local wall-clock ms `local`. */
export function fieldOf (field: Field, local: number): number {
  switch (field) {
    case 'getHours': return hoursOf(local)
    case 'getDayOfWeek': return dayOfWeekOf(local)
    case 'getMinutes': return minutesOf(local)
    case 'getSeconds': return secondsOf(local)
    case 'getMilliseconds': return millisecondsOf(local)
    case 'getFullYear': return civilFields(local).year
    case 'getMonth': return civilFields(local).month
    case 'getDate': return civilFields(local).date
    case 'getDayOfMonth': return civilFields(local).date - 1
    case 'getDayOfYear': return civilFields(local).dayOfYear
  }
}

/** Epoch ms of a timestamp; an invalid Date is an evaluation error. */
export function instant (d: Date): number {
  const t = d.getTime()
  if (Number.isNaN(t)) throw new RangeError('invalid timestamp')
  return t
}

export function civilFields (local: number): CivilFields {
  const days = Math.floor(local / MS_PER_DAY)
  const [year, month, date] = civilFromDays(days)
  return {
    year,
    month: month - 1,
    date,
    dayOfYear: days - daysFromCivil(year, 1, 1),
    dayOfWeek: mod(days + 4, 7),
    hours: hoursOf(local),
    minutes: minutesOf(local),
    seconds: secondsOf(local),
    milliseconds: millisecondsOf(local)
  }
}

// ---------- zones ----------

class FixedZone implements Zone {
  constructor (readonly name: string, private readonly offset: number) {}
  offsetAt (): number { return this.offset }
}

export const UTC_ZONE: Zone = new FixedZone('UTC', 0)

interface HourEntry {
  /** First instant (epoch ms) of the hour. */
  start: number
  /** Instant of the transition inside the hour, or +Infinity. */
  transition: number
  before: number
  after: number
}

const MAX_HOURS_CACHED = 4096

class IanaZone implements Zone {
  readonly #fmt: Intl.DateTimeFormat
  readonly #hours = new Map<number, HourEntry>()
  // The last hour looked up: the hot path.
  #lastStart = Number.NaN
  #lastEntry: HourEntry | undefined

  constructor (readonly name: string, fmt: Intl.DateTimeFormat) {
    this.#fmt = fmt
  }

  offsetAt (t: number): number {
    const start = t - mod(t, MS_PER_HOUR)
    let e = this.#lastEntry
    if (start !== this.#lastStart || e === undefined) {
      e = this.#hours.get(start)
      if (e === undefined) {
        e = this.#computeHour(start)
        if (this.#hours.size >= MAX_HOURS_CACHED) this.#hours.clear()
        this.#hours.set(start, e)
      }
      this.#lastStart = start
      this.#lastEntry = e
    }
    return t < e.transition ? e.before : e.after
  }

  /** Offset of the second that contains `t`, from ICU. */
  rawOffset (t: number): number {
    const sec = t - mod(t, MS_PER_SECOND)
    let year = 0
    let month = 0
    let day = 0
    let hour = 0
    let minute = 0
    let second = 0
    let bc = false
    for (const p of this.#fmt.formatToParts(sec)) {
      switch (p.type) {
        case 'year': year = Number(p.value); break
        case 'month': month = Number(p.value); break
        case 'day': day = Number(p.value); break
        case 'hour': hour = Number(p.value); break
        case 'minute': minute = Number(p.value); break
        case 'second': second = Number(p.value); break
        case 'era': bc = p.value === 'BC' || p.value === 'B'; break
      }
    }
    if (bc) year = 1 - year
    const local = daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND
    return local - sec
  }

  #computeHour (start: number): HourEntry {
    const last = start + MS_PER_HOUR - MS_PER_SECOND
    const before = this.rawOffset(start)
    const after = this.rawOffset(last)
    if (before === after) return { start, transition: Number.POSITIVE_INFINITY, before, after }
    // Bisect to the first second that has the new offset.
    let lo = start // has `before`
    let hi = last // has `after`
    while (hi - lo > MS_PER_SECOND) {
      const mid = lo + Math.floor((hi - lo) / 2 / MS_PER_SECOND) * MS_PER_SECOND
      if (this.rawOffset(mid) === before) lo = mid
      else hi = mid
    }
    return { start, transition: hi, before, after }
  }
}

/**
 * cel-spec FixedTZ `("+"|"-") Digit Digit ":" Digit Digit`, less than a day: hours 00-23 (cel-go's
 * own tests evaluate "23:15"), minutes 00-59. The sign is optional, as in cel-spec's test data.
 */
const FIXED_OFFSET = /^([+-]?)([01][0-9]|2[0-3]):([0-5][0-9])$/

// Zones named by literals in loaded conditions stay resolved for the life of the process; zones
// computed at evaluation time (rare) go through a small LRU so they cannot grow memory.
const pinned = new Map<string, Zone>()
const dynamic = new LRUCache<string, Zone>({ max: 64 })

/**
 * Resolves a zone literal at load and keeps it resolved. Throws a RangeError naming the zone when
 * it is neither a fixed offset nor a zone ICU knows.
 */
export function pinZone (name: string): Zone {
  let z = pinned.get(name)
  if (z === undefined) {
    z = dynamic.get(name) ?? createZone(name)
    pinned.set(name, z)
  }
  return z
}

/** Resolves a zone argument at evaluation time (throws RangeError for an unknown zone). */
export function resolveZone (name: string): Zone {
  let z = pinned.get(name) ?? dynamic.get(name)
  if (z === undefined) {
    z = createZone(name)
    dynamic.set(name, z)
  }
  return z
}

function createZone (name: string): Zone {
  if (name.includes(':')) {
    const m = FIXED_OFFSET.exec(name)
    if (m === null) throw new RangeError(`invalid time zone offset "${name}" (expected ±HH:MM, hours 00-23, minutes 00-59)`)
    const minutes = Number(m[3])
    const sign = m[1] === '-' ? -1 : 1
    const offset = sign * (Number(m[2]) * MS_PER_HOUR + minutes * MS_PER_MINUTE)
    return new FixedZone(name, offset === 0 ? 0 : offset) // never -0
  }
  if (name === '' || name.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(name)) {
    throw new RangeError(`unknown time zone "${name}"`)
  }
  let fmt: Intl.DateTimeFormat
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      calendar: 'gregory',
      numberingSystem: 'latn',
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric'
    })
  } catch {
    throw new RangeError(`unknown time zone "${name}"`)
  }
  // IANA names are case-sensitive (cel-go loads them from tzdata); ICU is not. A name ICU knows
  // only in another case is refused: one that differs from ICU's own spelling by case alone, or
  // one in lower case throughout (every IANA name has a capital letter). ICU does not expose the
  // spelling of link names (US/Central, …), which are accepted as ICU resolves them.
  const canonical = fmt.resolvedOptions().timeZone
  if ((canonical !== name && canonical.toLowerCase() === name.toLowerCase()) || name === name.toLowerCase()) {
    throw new RangeError(`unknown time zone "${name}" (zone names are case-sensitive${canonical.toLowerCase() === name.toLowerCase() ? `: "${canonical}"` : ''})`)
  }
  return new IanaZone(name, fmt)
}

/** Local wall-clock ms (epoch ms shifted by the zone's offset) of instant `t`. */
export function localMs (t: number, zone: Zone): number {
  return t + zone.offsetAt(t)
}
