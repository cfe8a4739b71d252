// pino JSON to stdout. Secrets are kept out of log objects by construction; redaction is the second
// line of defence for anything that might carry a credential.
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
  }, destination ?? pino.destination({
    dest: 1,
    sync: false,
    // Batched, but each write(2) holds whole lines and stays within PIPE_BUF (4096 on Linux): on
    // a pipe shared by cluster workers, lines from two processes never interleave.
    minLength: 2048,
    maxWrite: 4096,
    // A quiet gateway's last lines (a reload, a warning) reach stdout within a second.
    periodicFlush: 1000
  }))
}
