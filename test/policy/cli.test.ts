// `tollgate policy eval` and `tollgate policy test` through runPolicy (the function main() calls).
import { test } from 'node:test'
import { captureIo } from '../helpers/io.js'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runPolicy } from '../../src/cli/policy.js'

async function cli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  const io = captureIo()
  const code = await runPolicy(args, { stdout: io.stdout, stderr: io.stderr, env: { ...process.env, ...env } })
  return { code, out: io.out(), err: io.err() }
}

const BH = 'request.time.getDayOfWeek() != 0 && request.time.getDayOfWeek() != 6 && request.time.getHours("Europe/Paris") >= 9 && request.time.getHours("Europe/Paris") < 18'

test('policy eval: exit 0 allow, 1 deny, 2 invalid (one line on stderr with the column)', async () => {
  let r = await cli(['eval', '--condition', BH, '--time', '2026-03-30T09:30:00+02:00'])
  assert.equal(r.code, 0)
  assert.match(r.out, /^allow/)
  r = await cli(['eval', '--condition', BH, '--time', '2026-03-30T18:00:00+02:00'])
  assert.equal(r.code, 1)
  assert.match(r.out, /^deny: .*policy_denied/)
  r = await cli(['eval', '--condition', 'request.time.getHours("Europe/Pari") > 1'])
  assert.equal(r.code, 2)
  assert.equal(r.out, '')
  assert.match(r.err, /^tollgate: invalid condition: column 23: unknown time zone "Europe\/Pari"\n$/)
  r = await cli(['eval', '--condition', 'request.ip ==\n 1'])
  assert.equal(r.code, 2)
  assert.equal(r.err.trim().split('\n').length, 1)
})

test('policy eval: defaults (ip 203.0.113.10, ua "", GET, /, localhost) and flags', async () => {
  assert.equal((await cli(['eval', '--condition', 'request.ip == "203.0.113.10" && request.user_agent == "" && request.method == "GET" && request.path == "/" && request.host == "localhost"'])).code, 0)
  const flags = ['--ip', '::ffff:198.51.100.9', '--user-agent', 'InternalAdminTool/1.0', '--method', 'post', '--path', '/x', '--host', 'API.example.com']
  assert.equal((await cli(['eval', '--condition', 'inIpRange(request.ip, "198.51.100.0/24") && request.ip == "198.51.100.9" && request.user_agent.contains("InternalAdminTool/1.0") && request.method == "POST" && request.path == "/x" && request.host == "api.example.com"', ...flags])).code, 0)
  assert.equal((await cli(['eval', '--condition', 'request.headers["x-team"] == "blue"', '--header', 'X-Team: blue'])).code, 0)
  assert.equal((await cli(['eval', '--condition', 'principal.id == "ci" && principal.kind == "key"', '--principal', 'key:ci'])).code, 0)
  assert.equal((await cli(['eval', '--condition', 'principal.claims.role == "admin"', '--principal', 'jwt:alice', '--claims', '{"role":"admin"}'])).code, 0)
})

test('policy eval: evaluation errors deny (exit 1); bad flags are usage errors (exit 2)', async () => {
  const r = await cli(['eval', '--condition', 'request.headers["x-team"] == "blue"'])
  assert.equal(r.code, 1)
  assert.match(r.out, /^deny: the condition failed to evaluate \(reason policy_error\): No such key: x-team/)
  assert.equal((await cli(['eval'])).code, 2)
  assert.equal((await cli(['eval', '--condition', 'true', '--ip', '1.2.3'])).code, 2)
  assert.equal((await cli(['eval', '--condition', 'true', '--time', '2026-03-30T09:30:00'])).code, 2, 'a time without zone is ambiguous')
  assert.equal((await cli(['eval', '--condition', 'true', '--bogus'])).code, 2)
  assert.equal((await cli(['frobnicate'])).code, 2)
})

test('policy test: container, each rule, decision and reason; JSON with --json; never the token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-policy-'))
  try {
    const file = join(dir, 'tollgate.yaml')
    writeFileSync(file, `
server:
  listen:
    https: { host: 127.0.0.1, port: 8443 }
  tls: { cert: cert.pem, key: key.pem }
containers:
  hello:
    upstream: http://127.0.0.1:9999
    match: { host: api.example.com, path: /hello }
    token: \${env:HELLO_TOKEN}
    privacy: public
    policies:
      - name: office
        principals: ["*"]
        condition: inIpRange(request.ip, "198.51.100.0/24")
      - name: business-hours
        principals: ["*"]
        condition: >-
          ${BH}
  admin:
    upstream: http://127.0.0.1:9998
    match: { path: /admin }
    token: \${env:ADMIN_TOKEN}
    privacy: private
    policies:
      - name: ci
        principals: ["key:ci"]
`)
    const env = { HELLO_TOKEN: 'hello-secret-token-value', ADMIN_TOKEN: 'admin-secret-token-value' }
    let r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://api.example.com/hello/x', '--time', '2026-03-30T09:30:00+02:00'], env)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /container: hello \(public/)
    assert.match(r.out, /rule 0 "office": does not grant: condition is false/)
    assert.match(r.out, /rule 1 "business-hours": grants: condition is true/)
    assert.match(r.out, /decision: +allow \(reason allowed, rule "business-hours"\)/)

    r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://api.example.com/hello', '--time', '2026-03-29T09:30:00+02:00', '--json'], env)
    assert.equal(r.code, 1)
    const j = JSON.parse(r.out)
    assert.equal(j.container.name, 'hello')
    assert.deepEqual(j.rules.map((x: { outcome: string }) => x.outcome), ['false', 'false'])
    assert.deepEqual(j.decision, { allow: false, reason: 'policy_denied', status: 403 })

    r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://x.example.com/admin/y', '--token', 'tgk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--json'], env)
    assert.equal(r.code, 1)
    const k = JSON.parse(r.out)
    assert.equal(k.container.name, 'admin')
    assert.equal(k.decision.allow, false)
    assert.equal(k.decision.status, 401)
    for (const secret of ['tgk_0123456789abcdef_AAAA', 'admin-secret-token-value', 'hello-secret-token-value']) {
      assert.equal((r.out + r.err).includes(secret), false, `printed ${secret}`)
    }

    r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://x.example.com/admin'], env)
    assert.equal(r.code, 1)
    assert.match(r.out, /decision: +deny \(reason credential_missing, HTTP 401\)/)

    r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://x.example.com/elsewhere'], env)
    assert.equal(r.code, 1)
    assert.match(r.out, /container: none matches/)
    assert.match(r.out, /no_route, HTTP 404/)

    writeFileSync(file, `
server:
  listen:
    https: { host: 127.0.0.1, port: 8443 }
  tls: { cert: cert.pem, key: key.pem }
containers:
  hello:
    upstream: http://127.0.0.1:9999
    match: { path: / }
    token: \${env:HELLO_TOKEN}
    policies:
      - name: broken
        condition: request.time.getHours("Europe/Pari") > 1
`)
    r = await cli(['test', '--config', file, '--method', 'GET', '--url', 'https://x/'], env)
    assert.equal(r.code, 2)
    assert.match(r.err, /containers\.hello\.policies\[0\]\.condition: rule "broken": column 23: unknown time zone/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
