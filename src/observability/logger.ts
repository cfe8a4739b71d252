// pino JSON to stdout. Secrets are kept out of log objects by construction; redaction is the second
// line of defence for anything that might carry a credential.
import cluster from 'node:cluster'
import { fstatSync } from 'node:fs'
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
  }, destination ?? coalesced(pino.destination({
    dest: 1,
    // A file (or /dev/null) never makes a write wait for a reader: it is written from the main
    // thread, as nginx writes its access log. Anything else (a pipe to a log collector, a socket, a
    // terminal) can stall, so it is written from libuv's thread pool and its backlog is bounded.
    sync: stdoutIsFile(),
    // Buffers in, not strings: sonic-boom's string mode measures its whole pending buffer on every
    // write and re-encodes each written chunk to find what is left; its buffer mode does neither.
    contentMode: 'buffer',
    // Batched, each write(2) whole lines. A cluster worker shares its stdout pipe with the others:
    // its writes stay within PIPE_BUF (4096 on Linux), so lines from two processes never
    // interleave. One process writes up to 16 KiB at a time (one write in flight; at ~1,000
    // event-loop turns a second under load that is far more than the access lines need).
    minLength: cluster.isWorker ? 2048 : 8192,
    maxWrite: cluster.isWorker ? PIPE_BUF : 16384,
    // A quiet gateway's last lines (a reload, a warning) reach stdout within a second.
    periodicFlush: 1000,
    // The backlog is bounded: if stdout cannot keep up (a stalled log collector, a worker at its
    // 4 KiB write size under extreme load), lines past 16 MiB of backlog are dropped rather than
    // letting the gateway's memory grow without bound.
    maxLength: 16 * 1024 * 1024
  }), cluster.isWorker ? PIPE_BUF : 16384))
}

const PIPE_BUF = 4096

/**
 * True when stdout is a regular file or a character device other than a terminal (/dev/null). The
 * thread-pool hand-off of an async write cost ~9 µs a request at load on 2 cores, measured in place
 * against synchronous writes of the same batches (bench/README.md, "Access log").
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
 * The lines of one event-loop turn (up to `limit` bytes) handed to sonic-boom as one buffer. In its
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
