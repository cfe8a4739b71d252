// Preloaded (`node --import`) into every tollgate process of the bench: `new Date()` reads a bench
// clock that started on Monday 2026-03-30 at 10:00 Paris time and runs at real speed, so the seed's
// business-hours condition is evaluated in full and allows whenever the bench is run. Only the
// argument-less constructor moves; Date.now(), timers and TLS keep the real clock.
//
//   BENCH_CLOCK_START=2026-03-30T08:00:00Z (the default; any ISO 8601 instant)
const RealDate = Date
const start = RealDate.parse(process.env.BENCH_CLOCK_START ?? '2026-03-30T08:00:00Z')
const offset = Number.isFinite(start) ? start - RealDate.now() : 0

class BenchDate extends RealDate {
  constructor (...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + offset)
    else super(...(args as [string]))
  }
}

globalThis.Date = BenchDate as DateConstructor
