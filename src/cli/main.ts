// `tollgate` command line. Each command returns its exit code; errors are one line on stderr
// (src/cli/io.ts maps them to exit codes); `--help` works on every command.
import { loadConfig, policyOptions } from '../config/load.js'
import { compileContainerPolicy } from '../policy/index.js'
import { validateCredentialsConfig } from '../credentials/index.js'
import { websocketWarnings } from '../websocket/settings.js'
import { packageVersion } from '../version.js'
import { isHelp, parseFlags, runCommand, usage, type Io } from './io.js'
import { serve, SERVE_USAGE } from './serve.js'
import { demo, DEMO_USAGE } from './demo.js'
import { runPolicy, POLICY_USAGE } from './policy.js'
import { runSecrets, SECRETS_USAGE } from './secrets.js'
import { runKeys, KEYS_USAGE } from './keys.js'

export type { Io } from './io.js'

const CHECK_USAGE = `usage: tollgate check --config FILE
  validate the config and compile every condition; exit 0 ok, 2 invalid (one line naming the field);
  warnings (legal but probably wrong) on stderr`

const strip = (u: string): string => u.replace(/^usage:\s*\n?/, '').replace(/^(?!\s)/gm, '  ')

export const USAGE = `usage: tollgate COMMAND [--help]

${[SERVE_USAGE, CHECK_USAGE, DEMO_USAGE, POLICY_USAGE, SECRETS_USAGE, KEYS_USAGE].map(strip).join('\n')}
  tollgate --version`

const defaultIo: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }

export async function main (argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv
  return await runCommand(io, async () => {
    switch (command) {
      case 'serve': return await serve(rest, io)
      case 'check': return await check(rest, io)
      case 'demo': return await demo(rest, io)
      case 'policy': return await runPolicy(rest, io)
      case 'secrets': return await runSecrets(rest, io)
      case 'keys': return await runKeys(rest, io)
      case '--version': case '-V': case 'version':
        io.stdout.write(`tollgate ${packageVersion()}\n`)
        return 0
      default:
        if (command === undefined || isHelp(command)) {
          io.stdout.write(USAGE + '\n')
          return command === undefined ? 2 : 0
        }
        throw usage(`unknown command ${JSON.stringify(command)} (tollgate --help lists them)`)
    }
  })
}

async function check (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' } }, CHECK_USAGE)
  if (values.config === undefined) throw usage('check needs --config FILE')
  const config = await loadConfig(values.config, io.env)
  validateCredentialsConfig(config.credentials, config.containers)
  for (const [name, c] of Object.entries(config.containers)) compileContainerPolicy(name, c.privacy, c.policies, policyOptions(config))
  for (const w of websocketWarnings(config)) io.stderr.write(`tollgate: warning: ${w}\n`)
  const n = Object.keys(config.containers).length
  const ws = Object.keys(config.containers).filter((name) => config.containers[name].websocket)
  io.stdout.write(`ok: ${values.config}: ${n} container${n === 1 ? '' : 's'}, every condition compiles${ws.length > 0 ? `; WebSocket: ${ws.join(', ')}` : ''}\n`)
  return 0
}
