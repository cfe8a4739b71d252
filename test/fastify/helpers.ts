// A real Fastify app with tollgate registered, listening on loopback (plain HTTP, or HTTPS with the
// test CA): the config written to a temp folder as YAML (so the keys and secrets commands can use
// it) or given as an object. Log lines (the app's logger, which tollgate logs through) are kept
// for assertions and checked for secret values on close.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Agent } from 'undici'
import { stringify } from 'yaml'
import tollgate, { type TollgateConfigInput } from '../../src/fastify/index.js'
import { assertNoSecretInLogs, captureLogs, getter, registerEnvSecrets, type Get } from '../helpers/gateway.js'
import { localhostCert, testCa } from '../helpers/pki.js'

export interface PluginApp {
  app: FastifyInstance
  /** http(s)://localhost:PORT */
  url: string
  port: number
  dir: string
  /** The YAML file tollgate was registered with (when `asFile`). */
  configFile: string
  logs: Array<Record<string, unknown>>
  agent: Agent
  get: Get
  close (): Promise<void>
}

export interface PluginAppOptions {
  config: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  /** Register with the path of a YAML file holding `config` (default), or with the object itself. */
  asFile?: boolean
  /** HTTPS with the test CA's localhost certificate. */
  tls?: boolean
  fastify?: FastifyServerOptions
  /** Files written into the app's folder (next to the config) before tollgate is registered. */
  files?: Record<string, string>
  /** The app's own routes and hooks, added before tollgate is registered. */
  setup?: (app: FastifyInstance) => void | Promise<void>
}

export async function startPluginApp (opts: PluginAppOptions): Promise<PluginApp> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-fastify-'))
  const env = opts.env ?? process.env
  const configFile = join(dir, 'tollgate.yaml')
  const text = stringify(opts.config)
  writeFileSync(configFile, text)
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content, { mode: 0o600 })
  registerEnvSecrets(text, env)
  const { logger, logs, lines } = captureLogs()
  const app = Fastify({
    loggerInstance: logger,
    ...(opts.tls === true ? { https: { ...localhostCert() } } : {}),
    ...opts.fastify
  } as FastifyServerOptions) as unknown as FastifyInstance
  await opts.setup?.(app)
  await app.register(tollgate, opts.asFile === false
    ? { config: opts.config as TollgateConfigInput, env, baseDir: dir }
    : { config: configFile, env })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const url = `${opts.tls === true ? 'https' : 'http'}://localhost:${port}`
  const agent = new Agent({ connect: { ca: testCa().cert, servername: 'localhost' } })
  return {
    app,
    url,
    port,
    dir,
    configFile,
    logs,
    agent,
    get: getter(url, agent),
    async close () {
      await app.close()
      await agent.close()
      assertNoSecretInLogs(lines)
    }
  }
}
