// What every `tollgate` command shares: its streams, flag parsing with --help, one-line errors on
// stderr and the exit code they map to (docs/errors.md): 0 success, 2 a command line or a config
// that is not understood, 1 any other failure.
import { parseArgs } from 'node:util'
import { ConfigError, TollgateError } from '../errors.js'

export interface Io {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

export function usage (message: string): TollgateError {
  return new TollgateError('TG_ERR_USAGE', message)
}

/** Thrown by parseFlags on --help: the command's usage goes to stdout, exit 0. */
class HelpRequested {
  constructor (readonly text: string) {}
}

/** The first line of an error's message. */
export function oneLine (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0].replace(/\s+$/, '')
}

/** 2 for a command line or a config that is not understood (the config errors name their field), else 1. */
export function exitCodeOf (err: unknown): number {
  if (err instanceof ConfigError) return 2
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return 1
  if (err instanceof TollgateError) return code === 'TG_ERR_USAGE' || code.startsWith('TG_ERR_CONFIG') || code === 'TG_ERR_POLICY_INVALID' ? 2 : 1
  return code.startsWith('ERR_PARSE_ARGS') ? 2 : 1
}

/** Runs a command: its exit code, or its error as one line on stderr and the code that error maps to. */
export async function runCommand (io: Pick<Io, 'stdout' | 'stderr'>, command: () => number | Promise<number>): Promise<number> {
  try {
    return await command()
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.stdout.write(err.text + '\n')
      return 0
    }
    io.stderr.write(`tollgate: ${oneLine(err)}\n`)
    return exitCodeOf(err)
  }
}

type Options = Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string, default?: string | boolean }>

/**
 * Parses `--flag value` options (strict: an unknown flag is a usage error). `--help` / `-h` prints
 * `help` and exits 0 (through runCommand). Positionals are returned; `maxPositionals` bounds them.
 */
export function parseFlags<const O extends Options> (args: string[], options: O, help: string, maxPositionals = 0) {
  let r
  try {
    r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
  } catch (err) {
    // node:util's advice on positionals that start with "-" does not apply to tollgate's commands
    throw usage(`${oneLine(err).replace(/\. To specify a positional argument.*$/, '')} (see --help)`)
  }
  if ((r.values as Record<string, unknown>).help === true) throw new HelpRequested(help)
  if (r.positionals.length > maxPositionals) throw usage(`unexpected argument ${JSON.stringify(r.positionals[maxPositionals])}`)
  return { values: r.values as ReturnType<typeof parseArgs<{ options: O, strict: true, allowPositionals: true }>>['values'], positionals: r.positionals }
}

/** Help asked for with a bare `help` / `--help` / `-h` subcommand. */
export function isHelp (word: string | undefined): boolean {
  return word === 'help' || word === '--help' || word === '-h'
}
