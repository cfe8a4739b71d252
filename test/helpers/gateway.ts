// A real gateway for tests: config written to a temp folder, built with buildApp, listening on
// port 0 (HTTPS with the test CA, plain HTTP, admin). Log lines are captured for assertions.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { stringify } from 'yaml'
import { Agent, request } from 'undici'
import pino from 'pino'
import { buildApp, type App, type AppOptions, type Addresses } from '../../src/app.js'
import { loadConfig } from '../../src/config/load.js'
import { REDACT_PATHS } from '../../src/observability/logger.js'
import { writePki, testCa } from './pki.js'

export interface TestGateway {
  app: App
  /** The test gateway always has an HTTPS listener. */
  addr: Addresses & { https: AddressInfo }
  /** https://localhost:PORT */
  url: string
  httpUrl: string
  adminUrl: string
  dir: string
  configFile: string
  logs: Array<Record<string, unknown>>
  /** undici Agent trusting the test CA. */
  agent: Agent
  get (path: string, opts?: { headers?: Record<string, string | string[]>, method?: string, body?: string }): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string, json: () => any }>
  close (): Promise<void>
}

/** Every log line any test gateway wrote (the never-leaked check reads it). */
export const allLogLines: string[] = []

/** Secret values no log line may contain; every test gateway checks its logs against them on close. */
const knownSecrets = new Set<string>()
export function registerSecretValue (value: string): void {
  if (value.length >= 6) knownSecrets.add(value)
}

/** Every ${env:NAME} a config text references is a secret for the never-leaked check. */
export function registerEnvSecrets (configText: string, env: NodeJS.ProcessEnv): void {
  for (const m of configText.matchAll(/\$\{env:([^}]+)\}/g)) {
    const v = env[m[1]]
    if (v !== undefined) registerSecretValue(v)
  }
}

/** Throws when a log line carries a known secret value (names the line's type, never the value). */
export function assertNoSecretInLogs (lines: readonly string[]): void {
  lines.forEach((line, i) => {
    for (const v of knownSecrets) {
      if (line.includes(v)) throw new Error(`a secret value leaked into log line ${i} (msg: ${JSON.stringify(/"msg":"([^"]*)"/.exec(line)?.[1] ?? '?')})`)
    }
  })
}

/** A debug-level pino logger whose lines are kept (parsed) for assertions and the never-leaked check. */
export function captureLogs (): { logger: pino.Logger, logs: Array<Record<string, unknown>>, lines: string[] } {
  const lines: string[] = []
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue
        allLogLines.push(line)
        lines.push(line)
        try { logs.push(JSON.parse(line)) } catch { logs.push({ raw: line }) }
      }
      cb()
    }
  })
  return { logger: pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink), logs, lines }
}

export type Get = TestGateway['get']

/** A `get(path, opts)` against `base` through `agent`: status, headers and the body read whole. */
export function getter (base: string, agent: Agent): Get {
  return async (path, o = {}) => {
    const res = await request(base + path, { dispatcher: agent, method: (o.method ?? 'GET') as 'GET', headers: o.headers, body: o.body })
    const body = await res.body.text()
    return { status: res.statusCode, headers: res.headers as Record<string, string | string[] | undefined>, body, json: () => JSON.parse(body) }
  }
}

export interface GatewayOptions {
  env?: NodeJS.ProcessEnv
  /** Written into the YAML as is, merged over defaults (server.listen/tls/admin point at port 0 and the test PKI). */
  config: Record<string, unknown>
  /** More buildApp options (e.g. the master keys `tollgate serve` would hand over). */
  app?: Pick<AppOptions, 'masterKeys'>
}

export async function startGateway (opts: GatewayOptions): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gw-'))
  const pki = writePki(dir)
  const cfg = structuredClone(opts.config) as Record<string, any>
  cfg.server = {
    listen: { https: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
    tls: { cert: pki.cert, key: pki.key },
    admin: { host: '127.0.0.1', port: 0 },
    ...(cfg.server ?? {})
  }
  const configFile = join(dir, 'tollgate.yaml')
  const text = stringify(cfg)
  writeFileSync(configFile, text)
  registerEnvSecrets(text, opts.env ?? process.env)
  const config = await loadConfig(configFile, opts.env ?? process.env)
  const { logger, logs, lines: ownLines } = captureLogs()
  const app = await buildApp(config, { logger, env: opts.env ?? process.env, ...opts.app })
  const listened = await app.listen()
  if (listened.https === undefined) throw new Error('the test gateway has no HTTPS listener')
  const addr = { ...listened, https: listened.https }
  const agent = new Agent({ connect: { ca: testCa().cert, servername: 'localhost' } })
  const url = `https://localhost:${addr.https.port}`
  return {
    app,
    addr,
    url,
    httpUrl: `http://127.0.0.1:${addr.http?.port ?? 0}`,
    adminUrl: `http://127.0.0.1:${addr.admin?.port ?? 0}`,
    dir,
    configFile,
    logs,
    agent,
    get: getter(url, agent),
    async close () {
      await app.close(1000)
      await agent.close()
      assertNoSecretInLogs(ownLines)
    }
  }
}
