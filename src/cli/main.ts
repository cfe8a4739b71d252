// `tollgate` command line. Each command returns its exit code; errors are one line on stderr
// (src/cli/io.ts maps them to exit codes); `--help` works on every command.
import { loadConfig, type LoadedConfig } from '../config/load.js'
import { packageVersion } from '../version.js'
import { MasterKeys } from '../secrets/custody.js'
import { HighWater } from '../files/integrity.js'
import { createLogger } from '../observability/logger.js'
import { createMetrics } from '../observability/metrics.js'
import { createMemoryCounters } from '../limits/store.js'
import { closeParts, startParts } from '../server/startup.js'
import { isHelp, oneLine, parseFlags, runCommand, usage, type Io } from './io.js'
import { serve, SERVE_USAGE } from './serve.js'
import { demo, DEMO_USAGE } from './demo.js'
import { runPolicy, POLICY_USAGE } from './policy.js'
import { runSecrets, SECRETS_USAGE } from './secrets.js'
import { runKeys, KEYS_USAGE } from './keys.js'

export type { Io } from './io.js'

const CHECK_USAGE = `usage: tollgate check --config FILE [--offline]
  the preflight of serve: the config, every condition, the certificate and its key, the secret store,
  the keys file, every secret reference, and (unless --offline) Secret Manager and each JWKS;
  exit 0 ok (warnings on stderr), 2 refused (one line naming the field to fix)`

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

/**
 * `tollgate check`: runs what `serve` runs before it serves (src/server/startup.ts), then stops.
 * Whatever serve would refuse is refused here, with exit 2 and one line naming the field.
 */
async function check (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' }, offline: { type: 'boolean', default: false } }, CHECK_USAGE)
  if (values.config === undefined) throw usage('check needs --config FILE')
  const offline = values.offline === true
  const refuse = (message: string): number => {
    io.stderr.write(`tollgate: ${message}\n`)
    return 2
  }
  let config: LoadedConfig
  let started
  try {
    config = await loadConfig(values.config, io.env)
    // the master key is read the way serve reads it (from a copy: the caller's environment stays)
    const warnings: string[] = []
    const masterKeys = MasterKeys.take({ ...io.env }, { warn: (m) => warnings.push(m) })
    for (const w of warnings) io.stderr.write(`tollgate: warning: ${w}\n`)
    started = await startParts(config, {
      env: io.env,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      masterKeys,
      highWater: new HighWater(),
      counters: createMemoryCounters(),
      offline
    })
  } catch (err) {
    return refuse(oneLine(err))
  }
  try {
    const refused = started.unreachable.find((u) => u.refuse)
    if (refused !== undefined) return refuse(`${refused.field}: ${refused.message} (tollgate check --offline leaves network sources out)`)
    for (const w of [...started.warnings, ...started.unreachable]) io.stderr.write(`tollgate: warning: ${w.field === '' ? '' : `${w.field}: `}${w.message}\n`)
  } finally {
    await started.runtime.close()
    await closeParts(started)
  }
  const n = Object.keys(config.containers).length
  const checked = ['every condition compiles', offline ? 'every secret reference outside Secret Manager resolves' : 'every secret reference resolves']
  if (started.tls !== undefined) checked.push('the certificate matches its key')
  const local = (location: string | undefined): boolean => location !== undefined && !(offline && location.startsWith('scw:'))
  if (local(config.secrets?.store)) checked.push('the secret store opens')
  if (local(config.credentials?.keys)) checked.push('the keys file verifies')
  const skipped = offline ? ' (offline: Secret Manager, JWKS and Redis not contacted)' : ''
  const ws = Object.keys(config.containers).filter((name) => config.containers[name].websocket)
  io.stdout.write(`ok: ${values.config}: ${n} container${n === 1 ? '' : 's'}; ${checked.join(', ')}${skipped}${ws.length > 0 ? `; WebSocket: ${ws.join(', ')}` : ''}\n`)
  return 0
}
