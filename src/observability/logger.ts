// pino JSON to stdout. Secrets are kept out of log objects by construction; redaction is the second
// line of defence for anything that might carry a credential.
import cluster from 'node:cluster'
import { fstatSync, writeSync } from 'node:fs'
import { isatty } from 'node:tty'
import pino, { type Logger, type DestinationStream } from 'pino'

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
 * Where the log goes: stdout, batched, each write(2) whole lines. A cluster worker shares its stdout
 * with the others: its writes stay within PIPE_BUF (4096 on Linux), so lines from two processes
 * never interleave on a pipe. One process writes up to 16 KiB at a time. A quiet gateway's last
 * lines (a reload, a warning) reach stdout within a second. Writing the log never stops the
 * gateway: a failed write (a full disk, a log collector gone) drops those lines and says so on
 * stderr, and the requests go on being served.
 */
function stdoutSink (): DestinationStream {
  const worker = cluster.isWorker
  const minLength = worker ? 2048 : 8192
  const limit = worker ? PIPE_BUF : 16384
  // A file (or /dev/null) never makes a write wait for a reader: it is written from the main
  // thread, as nginx writes its access log.
  if (stdoutIsFile()) return coalesced(new FileSink(1, minLength, 1000), limit)
  // Anything else (a pipe to a log collector, a socket, a terminal) can stall, so it is written
  // from libuv's thread pool (sonic-boom) and its backlog is bounded.
  const dest = pino.destination({
    dest: 1,
    sync: false,
    // Buffers in, not strings: sonic-boom's string mode measures its whole pending buffer on every
    // write and re-encodes each written chunk to find what is left; its buffer mode does neither.
    contentMode: 'buffer',
    minLength,
    maxWrite: limit,
    periodicFlush: 1000,
    // If stdout cannot keep up (a stalled log collector, a worker at its 4 KiB write size under
    // extreme load), lines past 16 MiB of backlog are dropped rather than letting the gateway's
    // memory grow without bound.
    maxLength: 16 * 1024 * 1024
  }) as unknown as Sink & NodeJS.EventEmitter
  // pino silences the stream on EPIPE (the reader is gone); any other failure would be an
  // unhandled 'error' event, and sonic-boom's flushSync (pino's exit hook, ours) retries a
  // persistently failing write forever. So: report, and write nothing more at exit.
  let failed = false
  const flushSync = dest.flushSync.bind(dest)
  dest.flushSync = () => { if (!failed) flushSync() }
  dest.on('error', (err: NodeJS.ErrnoException) => {
    failed = true
    logWriteFailed(err, undefined)
  })
  return coalesced(dest, limit)
}

/**
 * stdout as a regular file or /dev/null: batches of at least `minLength` bytes (or whatever is
 * there each `periodMs`) written with write(2) from the main thread. A failed write (a full disk)
 * drops its batch and is reported; the next batch tries again. Never blocks on anything but the
 * file system, never throws, never retries in a loop.
 */
class FileSink implements Sink {
  private pending: Buffer[] = []
  private bytes = 0

  constructor (private readonly fd: number, private readonly minLength: number, periodMs: number) {
    setInterval(() => this.flushSync(), periodMs).unref()
  }

  write (data: string): boolean {
    const buf = data as unknown as Buffer
    this.pending.push(buf)
    this.bytes += buf.length
    if (this.bytes >= this.minLength) this.flushSync()
    return true
  }

  flushSync (): void {
    if (this.bytes === 0) return
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.bytes)
    this.pending = []
    this.bytes = 0
    let off = 0
    try {
      while (off < data.length) {
        const n = writeSync(this.fd, data, off, data.length - off)
        if (n <= 0) break
        off += n
      }
    } catch (err) {
      logWriteFailed(err as NodeJS.ErrnoException, data.length - off)
    }
  }

  flush (cb?: (err?: Error) => void): void {
    this.flushSync()
    if (cb !== undefined) process.nextTick(cb)
  }

  end (): void {
    this.flushSync()
  }
}

let reportedAt = -Infinity
let droppedBytes = 0
/**
 * A failed log write, told on stderr (never through the log itself): the first at once, then at
 * most one line a minute with the bytes dropped since.
 */
function logWriteFailed (err: NodeJS.ErrnoException, bytes: number | undefined): void {
  droppedBytes += bytes ?? 0
  const now = performance.now()
  if (now - reportedAt < 60_000) return
  reportedAt = now
  const lost = bytes === undefined ? 'log lines are being dropped' : `${droppedBytes} bytes of log lines dropped`
  droppedBytes = 0
  try {
    writeSync(2, `tollgate: writing the log to stdout failed (${err.code ?? err.message}): ${lost}; requests are still served\n`)
  } catch {}
}

const PIPE_BUF = 4096

/**
 * True when stdout is a regular file or a character device other than a terminal (/dev/null). The
 * thread-pool hand-off of an async write cost ~9 µs a request at load on 2 cores, measured in place
 * against synchronous writes of the same batches (bench/README.md, "What was tuned").
 */
export function stdoutIsFile (): boolean {
  try {
    const st = fstatSync(1)
    return st.isFile() || (st.isCharacterDevice() && !isatty(1))
  } catch {
    return false
  }
}

/** At exit, what is still pending is written synchronously (pino's own exit hook only knows sonic-boom). */
const atExit = new Set<() => void>()
process.once('exit', () => {
  for (const f of atExit) {
    try { f() } catch {}
  }
})

type Sink = DestinationStream & { flush: (cb?: (err?: Error) => void) => void, flushSync: () => void, end: () => void }

/**
 * The lines of one event-loop turn (up to `limit` bytes) handed to the sink as one buffer. In its
 * string mode sonic-boom measured the byte length of its whole pending buffer on every write()
 * (~6 µs per access line at load, profiled); one encoded buffer per turn costs one UTF-8 encode for
 * all the turn's lines. Order is kept (every line goes through here), and anything pending is
 * written before a flush and at exit.
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
  atExit.add(() => {
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
