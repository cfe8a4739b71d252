// The slice of pino the credentials code uses (a pino logger fits; so does a test double).
export interface Logger {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

const noop = (): void => {}
export const SILENT: Logger = { debug: noop, info: noop, warn: noop, error: noop }
