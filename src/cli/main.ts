// `tollgate` command line. Each subcommand returns its exit code; errors are one line on stderr.
import { parseArgs } from 'node:util'
import { ConfigError, TollgateError } from '../errors.js'
import { loadConfig, policyOptions } from '../config/load.js'
import { compileContainerPolicy } from '../policy/index.js'
import { validateCredentialsConfig } from '../credentials/index.js'
import { serve } from './serve.js'
import { demo } from './demo.js'
import { runPolicy } from './policy.js'
import { runSecrets } from './secrets.js'
import { runKeys } from './keys.js'

export const USAGE = `usage:
  tollgate serve  --config FILE [--workers N|auto] [--port-from-env]
                                                  run the gateway (SIGHUP reloads, SIGTERM drains)
  tollgate check  --config FILE                   validate config and compile every condition
  tollgate demo                                   stand-in private container + gateway on loopback
  tollgate policy eval --condition CEL [--ip A] [--user-agent S] [--time ISO8601] [--method M] [--path P] [--host H]
  tollgate policy test --config FILE --method M --url URL [--ip A] [--user-agent S] [--time ISO8601] [--token T] [--json]
  tollgate secrets set|list|rm|rotate-master-key [NAME] --config FILE
  tollgate keys create --name N --config FILE [--containers a,b] [--expires-at ISO8601] [--owner]
  tollgate keys list|revoke [NAME] --config FILE`

export interface Io {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

const defaultIo: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }

export async function main (argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'serve': return await serve(rest, io)
      case 'check': return await check(rest, io)
      case 'demo': return await demo(rest, io)
      case 'policy': return await runPolicy(rest, io)
      case 'secrets': return await runSecrets(rest, io)
      case 'keys': return await runKeys(rest, io)
      case undefined: case 'help': case '--help': case '-h':
        io.stdout.write(USAGE + '\n')
        return command === undefined ? 2 : 0
      default:
        io.stderr.write(`tollgate: unknown command ${JSON.stringify(command)}\n${USAGE}\n`)
        return 2
    }
  } catch (err) {
    io.stderr.write(`tollgate: ${oneLine(err)}\n`)
    return err instanceof ConfigError || (err instanceof TollgateError && err.code.startsWith('TG_ERR_CONFIG')) || (err instanceof TollgateError && err.code === 'TG_ERR_USAGE') ? 2 : 1
  }
}

export function oneLine (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0]
}

/** Parses `--flag value` options; unknown flags are a usage error (exit 2). */
export function parseFlags<T extends Record<string, { type: 'string' | 'boolean' }>> (args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new TollgateError('TG_ERR_USAGE', oneLine(err))
  }
}

async function check (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' } })
  if (values.config === undefined) throw new TollgateError('TG_ERR_USAGE', 'check needs --config FILE')
  const config = await loadConfig(values.config, io.env)
  validateCredentialsConfig(config.credentials, config.containers)
  for (const [name, c] of Object.entries(config.containers)) compileContainerPolicy(name, c.privacy, c.policies, policyOptions(config))
  const n = Object.keys(config.containers).length
  io.stdout.write(`ok: ${values.config}: ${n} container${n === 1 ? '' : 's'}, every condition compiles\n`)
  return 0
}
