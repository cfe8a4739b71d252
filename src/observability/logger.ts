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
  }, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }))
}
