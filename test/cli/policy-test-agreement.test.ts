// `tollgate policy test` and a live gateway agree: every request of the table below is sent to the
// gateway as raw bytes (no client normalising anything on the way) and given to `policy test` as
// the URL a user would write; both must come to the same status, reason and container.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { rawExchange } from '../helpers/raw.js'
import { captureIo } from '../helpers/io.js'
import { createKey } from '../credentials/helpers.js'
import { eventually } from '../ops/helpers.js'
import { runPolicy } from '../../src/cli/policy.js'

interface Row {
  /** What the case is about. */
  name: string
  method?: string
  /** The request target as sent on the wire (origin-form or absolute-form). */
  target: string
  /** The Host field as sent. */
  host: string
  /** `--url` for policy test (default: http://HOST + target, or the absolute-form target itself). */
  url?: string
  key?: 'ops' | 'viewer' | 'garbage'
  headers?: string[]
  want: { status: number, reason: string, container?: string }
}

const ALLOWED = (container: string): Row['want'] => ({ status: 200, reason: 'allowed', container })

const TABLE: Row[] = [
  { name: 'plain path', target: '/public/x', host: 'example.com', want: ALLOWED('site') },
  { name: 'percent-encoded letters route as the decoded path', target: '/%61dmin/x', host: 'example.com', want: { status: 401, reason: 'credential_missing', container: 'admin' } },
  { name: 'percent-encoded letters, with a key', target: '/%61dmin/x', host: 'example.com', key: 'viewer', want: ALLOWED('admin') },
  { name: 'percent-encoded letters, denied by a rule', target: '/%61dmin/secret/x', host: 'example.com', key: 'viewer', want: { status: 403, reason: 'policy_denied', container: 'admin' } },
  { name: 'a rule naming a key', target: '/admin/ops/run', host: 'example.com', key: 'ops', want: ALLOWED('admin') },
  { name: 'dot segments', target: '/public/../admin/x', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'encoded dot segments', target: '/admin/%2e%2e/public', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'a lone dot segment', target: '/public/./x', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'double slash', target: '//admin/x', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: '";" parameters', target: '/admin;x=1/y', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'encoded slash', target: '/admin%2Fx', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'backslash', target: '/public\\..\\admin', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'dot segments in the query are the query\'s', target: '/public/x?next=/../admin', host: 'example.com', want: ALLOWED('site') },
  { name: 'paths are case-sensitive', target: '/ADMIN/x', host: 'example.com', want: ALLOWED('site') },
  { name: 'a rule on the method', method: 'POST', target: '/api/items', host: 'example.com', want: { status: 403, reason: 'policy_denied', container: 'api' } },
  { name: 'the same, allowed', target: '/api/items', host: 'example.com', want: ALLOWED('api') },
  { name: 'a host-bound container', target: '/x', host: 'internal.example.com', want: { status: 401, reason: 'credential_missing', container: 'internal' } },
  { name: 'host with a key', target: '/x', host: 'internal.example.com', key: 'viewer', want: ALLOWED('internal') },
  { name: 'a key scoped to other containers', target: '/x', host: 'internal.example.com', key: 'ops', want: { status: 401, reason: 'credential_out_of_scope', container: 'internal' } },
  { name: 'a credential that is no key', target: '/x', host: 'internal.example.com', key: 'garbage', want: { status: 401, reason: 'credential_malformed', container: 'internal' } },
  { name: 'host in upper case', target: '/x', host: 'INTERNAL.Example.COM', want: { status: 401, reason: 'credential_missing', container: 'internal' } },
  { name: 'host with a trailing dot', target: '/x', host: 'internal.example.com.', want: { status: 401, reason: 'credential_missing', container: 'internal' } },
  { name: 'host with a port', target: '/x', host: 'internal.example.com:8443', want: { status: 401, reason: 'credential_missing', container: 'internal' } },
  { name: 'host with a trailing dot and a port', target: '/x', host: 'internal.example.com.:8443', key: 'viewer', want: ALLOWED('internal') },
  { name: 'absolute-form target', target: 'http://internal.example.com/x', host: 'internal.example.com', want: { status: 401, reason: 'credential_missing', container: 'internal' } },
  { name: 'absolute-form target, with a key', target: 'http://internal.example.com/x', host: 'internal.example.com', key: 'viewer', want: ALLOWED('internal') },
  { name: 'absolute-form target, encoded letters', target: 'https://example.com/%61dmin/x', host: 'example.com', want: { status: 401, reason: 'credential_missing', container: 'admin' } },
  { name: 'absolute-form target, dot segments', target: 'http://example.com/public/../admin', host: 'example.com', want: { status: 400, reason: 'path_not_canonical' } },
  { name: 'the fragment is never sent', target: '/public/x', host: 'example.com', url: 'http://example.com/public/x#/../admin', want: ALLOWED('site') },
  { name: 'TRACE', method: 'TRACE', target: '/public/x', host: 'example.com', want: { status: 405, reason: 'method_not_allowed' } },
  { name: 'a header name with "_"', target: '/public/x', host: 'example.com', headers: ['X_Custom: 1'], want: { status: 400, reason: 'header_underscore' } },
  { name: 'two Host fields', target: '/public/x', host: 'example.com', headers: ['Host: internal.example.com'], want: { status: 400, reason: 'header_duplicate_host' } },
  { name: 'a CORS preflight to a private container, without a credential', method: 'OPTIONS', target: '/browser/x', host: 'example.com', headers: ['Origin: https://app.example.com', 'Access-Control-Request-Method: POST'], want: { status: 204, reason: 'cors_preflight', container: 'browser' } },
  { name: 'a CORS preflight from another origin', method: 'OPTIONS', target: '/browser/x', host: 'example.com', headers: ['Origin: https://evil.example', 'Access-Control-Request-Method: POST'], want: { status: 204, reason: 'cors_origin_denied', container: 'browser' } },
  { name: 'an OPTIONS that is no preflight', method: 'OPTIONS', target: '/browser/x', host: 'example.com', headers: ['Origin: https://app.example.com'], want: { status: 401, reason: 'credential_missing', container: 'browser' } }
]

describe('policy test agrees with the gateway', () => {
  let up: Upstream
  let gw: TestGateway
  const keys: Record<string, string> = { garbage: 'not-a-tollgate-key' }
  const env: NodeJS.ProcessEnv = { ...process.env, AGREE_TOKEN: 'agree-token-' + randomBytes(6).toString('hex'), TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }

  before(async () => {
    up = await startUpstream({ tls: false })
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-agree-'))
    const token = '${env:AGREE_TOKEN}'
    const config = {
      secrets: { store: join(dir, 'secrets.store') },
      credentials: { keys: join(dir, 'keys.store') },
      containers: {
        site: { upstream: up.url, match: { path: '/' }, token, privacy: 'public' },
        admin: {
          upstream: up.url,
          match: { path: '/admin' },
          token,
          privacy: 'private',
          policies: [
            { name: 'ops', principals: ['key:ops'], condition: 'request.path.startsWith("/admin/ops/")' },
            { name: 'readers', condition: 'request.method == "GET" && !request.path.startsWith("/admin/secret")' }
          ]
        },
        api: { upstream: up.url, match: { path: '/api' }, token, privacy: 'public', policies: [{ name: 'reads', condition: 'request.method == "GET"' }] },
        internal: { upstream: up.url, match: { host: 'internal.example.com', path: '/' }, token, privacy: 'private' },
        browser: { upstream: up.url, match: { path: '/browser' }, token, privacy: 'private', cors: { origins: ['https://app.example.com'] } }
      }
    }
    // Keys first (the CLI needs a config file naming the same stores), then the gateway.
    const keysConfig = join(dir, 'keys.yaml')
    writeFileSync(keysConfig, stringify({ server: { listen: { https: { port: 0 } }, tls: { cert: 'c.pem', key: 'k.pem' } }, ...config }))
    const fixture = { config: keysConfig, env } as never
    keys.ops = await createKey(fixture, 'ops', ['--containers', 'admin'])
    keys.viewer = await createKey(fixture, 'viewer')
    gw = await startGateway({ env, config: { server: { httpOption: 'enabled', logLevel: 'info' }, ...config } })
  })
  after(async () => {
    await gw.close()
    await up.close()
  })

  for (const row of TABLE) {
    const method = row.method ?? 'GET'
    test(`${row.name}: ${method} ${row.target} (Host: ${row.host}${row.key !== undefined ? `, key ${row.key}` : ''}) → ${row.want.status} ${row.want.reason}`, async () => {
      const gateway = await throughGateway(row, method)
      const offline = await throughPolicyTest(row, method)
      assert.deepEqual(gateway, row.want, 'the gateway')
      assert.deepEqual(offline, row.want, 'policy test')
    })
  }

  async function throughGateway (row: Row, method: string): Promise<Row['want']> {
    const lines = [`${method} ${row.target} HTTP/1.1`, `Host: ${row.host}`, ...(row.headers ?? [])]
    if (row.key !== undefined) lines.push(`X-Auth-Token: ${keys[row.key]}`)
    if (method === 'POST') lines.push('Content-Length: 0')
    lines.push('Connection: close')
    const r = await rawExchange({ port: gw.addr.http!.port, waitMs: 5000 }, lines.join('\r\n') + '\r\n\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(r.data)?.[1])
    const id = /\r\nx-request-id: ([^\r]+)\r\n/i.exec(r.data)?.[1]
    const line = await accessLine(id)
    const out: Row['want'] = { status, reason: String(line.reason) }
    if (line.container !== undefined) out.container = String(line.container)
    if (status >= 400) assert.match(r.data, new RegExp(`"reason":"${out.reason}"`), 'the answer names the reason the log does')
    return out
  }

  async function accessLine (id: string | undefined): Promise<Record<string, unknown>> {
    assert.ok(id !== undefined, 'the answer carries its request id')
    return await eventually(() => {
      const line = gw.logs.find((l) => l.type === 'access' && l.requestId === id)
      assert.ok(line, `an access line for ${id}`)
      return line
    })
  }

  async function throughPolicyTest (row: Row, method: string): Promise<Row['want']> {
    const url = row.url ?? (row.target.startsWith('/') ? `http://${row.host}${row.target}` : row.target)
    const args = ['test', '--config', gw.configFile, '--method', method, '--url', url, '--ip', '127.0.0.1', '--json']
    if (row.key !== undefined) args.push('--token', keys[row.key])
    for (const h of row.headers ?? []) args.push('--header', h)
    const io = captureIo()
    const code = await runPolicy(args, { stdout: io.stdout, stderr: io.stderr, env })
    assert.equal(io.err(), '', 'policy test wrote no error')
    const report = JSON.parse(io.out()) as { container: { name: string } | null, decision: { allow: boolean, reason: string, status: number } }
    assert.equal(code, report.decision.allow ? 0 : 1)
    const out: Row['want'] = { status: report.decision.status, reason: report.decision.reason }
    if (report.container !== null) out.container = report.container.name
    return out
  }
})
