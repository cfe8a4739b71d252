// Helpers for the deployment suite: the CLI as a process (stdin given), a Secret Manager-backed
// config, and gateways run as `tollgate serve` processes.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { randomBytes, randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { stringify } from 'yaml'
import { BIN } from '../helpers/root.js'
import { FakeSecretManager, type FakeSecret } from '../helpers/scaleway-secret-manager.js'
import { runTollgate, msg, type Served } from '../ops/helpers.js'

export interface CliResult { status: number | null, stdout: string, stderr: string }

/** Runs `node bin/tollgate.js ARGS` with `input` on stdin; resolves when it exits. */
export async function cli (args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8') })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8') })
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(input)
  })
}

/** A Secret Manager with two empty secrets (the store and the keys file), an IAM key, and the env to reach it. */
export interface SharedState {
  sm: FakeSecretManager
  projectId: string
  store: FakeSecret
  keys: FakeSecret
  env: NodeJS.ProcessEnv
  dir: string
}

export async function sharedState (): Promise<SharedState> {
  const sm = await FakeSecretManager.start()
  const projectId = randomUUID()
  const store = sm.createSecret({ projectId, name: 'tollgate-store', path: '/tollgate' })
  const keys = sm.createSecret({ projectId, name: 'tollgate-keys', path: '/tollgate' })
  const env: NodeJS.ProcessEnv = {
    SCW_SECRET_KEY: sm.addKey(),
    TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64'),
    UPSTREAM_URL: ''
  }
  return { sm, projectId, store, keys, env, dir: mkdtempSync(join(tmpdir(), 'tollgate-deploy-')) }
}

/**
 * Writes a gateway config whose store and keys are the two Secret Manager secrets: edge mode (plain
 * listener, no certificate), admin on port 0, the stores checked every ttl − refreshAhead.
 */
export function writeSharedConfig (s: SharedState, upstream: string, opts: { ttl?: number, refreshAhead?: number, name?: string, byName?: boolean } = {}): string {
  const file = join(s.dir, opts.name ?? 'tollgate.yaml')
  const location = (secret: FakeSecret): string => opts.byName === true ? `scw:fr-par/${s.projectId}/tollgate/${secret.name}` : `scw:fr-par/${secret.id}`
  writeFileSync(file, stringify({
    server: {
      listen: { http: { host: '127.0.0.1', port: 0 } },
      httpOption: 'enabled',
      admin: { host: '127.0.0.1', port: 0 },
      drainTimeout: 2000
    },
    secrets: {
      store: location(s.store),
      ttl: opts.ttl ?? 2000,
      refreshAhead: opts.refreshAhead ?? 1000,
      scaleway: { baseUrl: s.sm.url, secretKey: '${env:SCW_SECRET_KEY}', timeout: 1000 }
    },
    credentials: { keys: location(s.keys) },
    containers: {
      api: { upstream, match: { path: '/api' }, token: '${secret:api-token}', privacy: 'private' }
    }
  }))
  return file
}

export interface Gateway { served: Served, http: string, admin: string }

/** `tollgate serve` as a process; resolves once it listens. */
export async function serveGateway (file: string, env: NodeJS.ProcessEnv): Promise<Gateway> {
  const served = runTollgate(['serve', '--config', file], env)
  const l = await served.waitFor(msg('tollgate listening'), 20_000, 'tollgate listening')
  return { served, http: `http://127.0.0.1:${l.http.port as number}`, admin: `http://127.0.0.1:${l.admin.port as number}` }
}

/** GET path with a tollgate key; the status and the reason of a refusal. */
export async function callWith (base: string, path: string, key: string | undefined): Promise<{ status: number, reason: string | undefined }> {
  const res = await request(base + path, { headers: key === undefined ? {} : { 'x-auth-token': key } })
  const text = await res.body.text()
  let reason: string | undefined
  if (res.statusCode >= 400) {
    try { reason = (JSON.parse(text) as { reason?: string }).reason } catch { reason = undefined }
  }
  return { status: res.statusCode, reason }
}

/** Stops a served gateway (SIGTERM) and waits for it. */
export async function stop (g: Gateway): Promise<void> {
  g.served.kill('SIGTERM')
  await g.served.exited
}
