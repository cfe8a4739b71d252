// pino JSON to stdout. Secrets are kept out of log objects by construction; redaction is the second
// line of defence for anything that might carry a credential.
import cluster from 'node:cluster'
import { writeSync } from 'node:fs'
import pino, { type Logger, type DestinationStream } from 'pino'
import { errnoCode } from '../errors.js'

export type { Logger }

export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers["x-auth-token"]', 'req.headers.cookie', 'req.headers["proxy-authorization"]',
  'headers.authorization', 'headers["x-auth-token"]', 'headers.cookie',
  '*.token', '*.secret', '*.password', '*.value', '*.credential', 'token', 'secret', 'value', 'credential'
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { name: 'tollgate' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }, destination ?? stdoutSink())
}

/**
 * Where the log goes: stdout, batched, each write(2) whole lines, written from libuv's thread pool
 * (sonic-boom) so that neither a slow disk nor a slow log collector ever holds up a request. A
 * cluster worker shares its stdout with the others: its writes stay within PIPE_BUF (4096 on Linux),
 * so lines from two processes never interleave on a pipe. One process writes up to 16 KiB at a time.
 * A quiet gateway's last lines (a reload, a warning) reach stdout within a second.
 *
 * Writing the log never stops the gateway: a failed write (a full disk, a log collector gone) drops
 * lines and says so on stderr, and the requests go on being served.
 */
function stdoutSink (): DestinationStream {
  const worker = cluster.isWorker
  const limit = worker ? PIPE_BUF : 16384
  const dest = pino.destination({
    dest: 1,
    sync: false,
    // Buffers in, not strings: sonic-boom's string mode measures its whole pending buffer on every
    // write and re-encodes each written chunk to find what is left; its buffer mode does neither.
    contentMode: 'buffer',
    minLength: worker ? 2048 : 8192,
    maxWrite: limit,
    periodicFlush: 1000,
    // If stdout cannot keep up (a stalled log collector, a worker at its 4 KiB write size under
    // extreme load), lines past 16 MiB of backlog are dropped rather than letting the gateway's
    // memory grow without bound.
    maxLength: 16 * 1024 * 1024
  }) as unknown as Sink & NodeJS.EventEmitter
  // pino silences the stream on EPIPE (the reader is gone). Any other failure would be an unhandled
  // 'error' event (the process dies), and sonic-boom's flushSync (pino's exit hook, and ours) retries
  // a failing write forever (the process never exits). So: report, and while writes fail, nothing
  // is flushed at exit. A write that succeeds again (space freed on the disk) ends that.
  let failing = false
  const flushSync = dest.flushSync.bind(dest)
  dest.flushSync = () => { if (!failing) flushSync() }
  dest.on('write', () => { failing = false })
  dest.on('error', (err: Error) => {
    failing = true
    linesDropped(`writing the log to stdout failed (${errnoCode(err)})`)
  })
  dest.on('drop', () => linesDropped('stdout is not keeping up with the log (16 MiB backlog)'))
  return coalesced(dest, limit)
}

let reportedAt = -Infinity
/** Log lines lost, told on stderr (never through the log itself): at most one line a minute. */
function linesDropped (why: string): void {
  const now = performance.now()
  if (now - reportedAt < 60_000) return
  reportedAt = now
  try {
    writeSync(2, `tollgate: ${why}: log lines are being dropped; requests are still served\n`)
  } catch {}
}

const PIPE_BUF = 4096

/** At exit, what is still pending is written synchronously (pino's own exit hook only knows sonic-boom). */
const atExit = new Set<() => void>()
function onExit (f: () => void): void {
  if (atExit.size === 0) {
    process.once('exit', () => {
      for (const g of atExit) {
        try { g() } catch {}
      }
    })
  }
  atExit.add(f)
}

type Sink = DestinationStream & { flush: (cb?: (err?: Error) => void) => void, flushSync: () => void, end: () => void }

/**
 * The lines of one event-loop turn (up to `limit` bytes) handed to sonic-boom as one buffer: one
 * UTF-8 encode for all the turn's lines, where sonic-boom's string mode would measure its whole
 * pending buffer on every write (bench/README.md, "What was tuned"). Order is kept (every line goes
 * through here), and anything pending is written before a flush and at exit.
 */
function coalesced (sink: Sink, limit: number): Sink {
  let pending = ''
  let bytes = 0
  let scheduled = false
  const push = (): void => {
    scheduled = false
    if (pending === '') return
    const p = pending
    pending = ''
    bytes = 0
    sink.write(Buffer.from(p, 'utf8') as unknown as string)
  }
  onExit(() => {
    push()
    sink.flushSync()
  })
  return {
    write (line: string): boolean {
      // Byte-exact only where it matters (a worker's PIPE_BUF writes); otherwise chars ≈ bytes.
      const n = limit === PIPE_BUF ? Buffer.byteLength(line) : line.length
      if (bytes + n > limit) push()
      pending += line
      bytes += n
      if (!scheduled && pending !== '') {
        scheduled = true
        setImmediate(push)
      }
      return true
    },
    flush (cb?: (err?: Error) => void): void {
      push()
      sink.flush(cb)
    },
    flushSync (): void {
      push()
      sink.flushSync()
    },
    end (): void {
      push()
      sink.end()
    }
  }
}
