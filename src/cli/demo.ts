// `tollgate demo` (what `npm start` runs): a development CA and certificate on first run (in the
// ignored .tollgate/ folder), a stand-in private container on loopback, and the gateway on
// config/demo.yaml in front of it. Prints curl lines that work as printed. Ctrl-C exits 0.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { parseDocument } from 'yaml'
import { buildApp } from '../app.js'
import { parseConfig } from '../config/load.js'
import { createDevCa } from '../tls/devcert.js'
import { createStandInContainer } from '../demo/standin.js'
import { parseFlags, type Io } from './io.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export const DEMO_USAGE = `usage: tollgate demo [--https-port N] [--http-port N] [--admin-port N]
  what \`npm start\` runs: a stand-in private container and the gateway in front of it, on loopback`

export async function demo (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, {
    'https-port': { type: 'string' }, 'http-port': { type: 'string' }, 'admin-port': { type: 'string' }
  }, DEMO_USAGE)
  const dir = join(ROOT, '.tollgate', 'demo')
  const caFile = ensureDevCertificates(dir)

  const token = 'demo-' + randomBytes(24).toString('base64url')
  const upstream = createStandInContainer(token)
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

  const file = join(ROOT, 'config', 'demo.yaml')
  const doc = parseDocument(readFileSync(file, 'utf8'))
  for (const [flag, path] of [['https-port', ['server', 'listen', 'https', 'port']], ['http-port', ['server', 'listen', 'http', 'port']], ['admin-port', ['server', 'admin', 'port']]] as const) {
    const v = values[flag]
    if (typeof v === 'string') doc.setIn([...path], Number(v))
  }
  const env = { ...io.env, DEMO_UPSTREAM: upstreamUrl, DEMO_CONTAINER_TOKEN: token }
  const config = parseConfig(doc.toString(), { file, env })
  const app = await buildApp(config, { env })
  let addr
  try {
    addr = await app.listen()
  } catch (err) {
    await app.close(0)
    upstream.close()
    throw err
  }
  const https = addr.https.port
  const http = addr.http?.port
  io.stdout.write([
    '',
    'tollgate demo: a stand-in private container on ' + upstreamUrl + ' (it answers 403 without its token),',
    'and tollgate in front of it, injecting the token after deciding each request.',
    '',
    '  # allowed (the condition admits this machine); the container echoes what it received:',
    `  curl --cacert ${caFile} https://localhost:${https}/hello/world`,
    '',
    '  # denied by a condition (office network during Paris business hours only): 403 policy_denied',
    `  curl --cacert ${caFile} https://localhost:${https}/office`,
    '',
    '  # plain HTTP is redirected to HTTPS: 301',
    `  curl -i http://localhost:${http ?? 8080}/hello`,
    '',
    `  # health and readiness (admin listener, loopback only): curl http://127.0.0.1:${addr.admin?.port ?? 9090}/readyz`,
    '',
    'Ctrl-C stops the demo.',
    ''
  ].join('\n'))

  return await new Promise<number>((resolve) => {
    const stop = (): void => {
      app.close(2000).finally(() => {
        upstream.closeAllConnections()
        upstream.close(() => resolve(0))
      })
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}

/** Makes (once) a development CA and a certificate for localhost; returns the CA file to trust. */
function ensureDevCertificates (dir: string): string {
  const caFile = join(dir, 'ca.pem')
  const certFile = join(dir, 'server.pem')
  const keyFile = join(dir, 'server-key.pem')
  if (existsSync(caFile) && existsSync(certFile) && existsSync(keyFile)) return caFile
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const ca = createDevCa('tollgate demo CA')
  const leaf = ca.issue(['localhost', '127.0.0.1', '::1'])
  writeFileSync(caFile, ca.cert)
  writeFileSync(certFile, leaf.cert + ca.cert)
  writeFileSync(keyFile, leaf.key, { mode: 0o600 })
  return caFile
}
