// Run by close.test.ts in a process of its own: a Fastify app with tollgate holding every kind of
// live resource (an upstream pool with keep-alive sockets, a `${file:}` token and the secret store
// watched and polled, a `${scw:}` token with its refresh timer, the keys file watched and polled),
// then app.close(). Every handle and timer created after registration started (async_hooks sees
// unref'd ones too) must be gone after close, and the process must then end by itself.
// Prints one JSON line: { before, after, active, baseline }.
import { createHook } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { Client } from 'undici'
import { stringify } from 'yaml'
import tollgate from '../../src/fastify/index.js'
import { startUpstream } from '../helpers/upstream.js'
import { FakeSecretManager } from '../helpers/scaleway-secret-manager.js'
import { createKey } from '../credentials/helpers.js'

/** Resources that hold something open: handles (…WRAP), timers, watchers. */
const HELD = /WRAP$|^Timeout$|^STATWATCHER$|^FSEVENTWRAP$|^Immediate$/

const dir = mkdtempSync(join(tmpdir(), 'tollgate-close-'))
const up = await startUpstream({ tls: false })
const sm = await FakeSecretManager.start()
const iamKey = sm.addKey()
const stored = sm.createSecret({ name: 'b-token', value: 'scw-' + randomBytes(8).toString('hex') })
const env: NodeJS.ProcessEnv = { ...process.env, SCW_SECRET_KEY: iamKey, TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
writeFileSync(join(dir, 'token'), 'file-' + randomBytes(8).toString('hex'))
const config = join(dir, 'tollgate.yaml')
const upstream = up.url.replace('localhost', '127.0.0.1')
writeFileSync(config, stringify({
  secrets: { store: './secrets.store', ttl: 2000, refreshAhead: 1000, pollInterval: 100, scaleway: { baseUrl: sm.url } },
  credentials: { keys: './keys.store' },
  containers: {
    a: { upstream, match: { path: '/a' }, token: '${file:./token}', privacy: 'public' },
    b: { upstream, match: { path: '/b' }, token: `\${scw:fr-par/${stored.id}}`, privacy: 'public' },
    c: { upstream, match: { path: '/c' }, token: '${file:./token}', privacy: 'private' }
  }
}))
const key = await createKey({ config, env } as never, 'closer')

const baseline = process.getActiveResourcesInfo()
process.stdout.write('') // made on first use (Readable.pipe looks at it): made here, before the watch
/** Each held resource made since the watch began, with where it was made. */
const alive = new Map<number, { type: string, stack: string }>()
let closed = false
const hook = createHook({
  init (id, type) {
    if (!closed && HELD.test(type)) alive.set(id, { type, stack: new Error().stack ?? '' })
  },
  destroy (id) { alive.delete(id) }
})
hook.enable()

const app = Fastify({ logger: false })
await app.register(tollgate, { config, env })
await app.listen({ host: '127.0.0.1', port: 0 })
const port = (app.server.address() as { port: number }).port
const client = new Client(`http://127.0.0.1:${port}`)
for (const path of ['/a/x', '/b/x', '/c/x']) {
  const r = await client.request({ path, method: 'GET', headers: { 'x-auth-token': key } })
  await r.body.text()
  if (r.statusCode !== 200) throw new Error(`${path} answered ${r.statusCode}`)
}
const before = [...alive.values()].map((r) => r.type).sort()

await app.close()
await client.close()
await up.close()
await sm.close()
closed = true
// Node's Date-header cache and undici's shared timer wheel stop on their own within a second.
await new Promise((resolve) => setTimeout(resolve, 1200))
hook.disable()
const after = [...alive.values()]
  // AbortSignal.timeout() (a Secret Manager call's deadline) keeps its timer until it fires or the
  // signal is collected; it is unref'd and fires into a request that is already over.
  .filter((r) => !r.stack.includes('AbortSignal.timeout'))
  .map((r) => `${r.type} ${r.stack.split('\n').filter((l) => l.includes('file://') && !l.includes('close-child')).slice(0, 3).map((l) => l.trim()).join(' < ')}`)
process.stdout.write(JSON.stringify({ before, after, active: process.getActiveResourcesInfo(), baseline }) + '\n')
