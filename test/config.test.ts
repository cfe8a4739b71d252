// Config loading: good files load frozen with defaults; bad ones are refused naming the field.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig, loadConfig } from '../src/config/load.js'
import { ConfigError } from '../src/errors.js'

const base = `
server:
  listen: { https: { host: 127.0.0.1, port: 8443 } }
  tls: { cert: cert.pem, key: key.pem }
containers:
  hello:
    upstream: https://example.functions.fnc.fr-par.scw.cloud
    match: { path: /hello }
    token: \${env:HELLO_TOKEN}
`

function load (text: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof parseConfig> {
  return parseConfig(text, { file: '/etc/tollgate/tollgate.yaml', env })
}

function refused (text: string, path: string, pattern?: RegExp): void {
  assert.throws(() => load(text, { HELLO_TOKEN: 't' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.path, path)
    assert.ok(err.message.startsWith(`${path}: `), err.message)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}

test('a minimal config loads with defaults, frozen, paths relative to the file', () => {
  const c = load(base)
  assert.equal(c.server.httpOption, 'redirected')
  assert.equal(c.server.hsts.enabled, true)
  assert.equal(c.server.limits.maxHeaderSize, 16384)
  assert.equal(c.containers.hello.privacy, 'private')
  assert.equal(c.server.tls?.cert, '/etc/tollgate/cert.pem')
  assert.equal(c.containers.hello.token, '${env:HELLO_TOKEN}', 'token references are kept for the resolver')
  assert.ok(Object.isFrozen(c.containers.hello.match))
  assert.throws(() => { (c.server as { httpOption: string }).httpOption = 'enabled' })
})

test('${env:} is interpolated anywhere else; a missing variable names the field', () => {
  const c = load(base.replace('https://example.functions', 'https://${env:NS}.functions'), { NS: 'ns42' })
  assert.equal(c.containers.hello.upstream, 'https://ns42.functions.fnc.fr-par.scw.cloud')
  assert.throws(() => load(base.replace('https://example.functions', 'https://${env:NS}.functions')), /containers\.hello\.upstream: environment variable NS is not set/)
})

test('${file:} is read relative to the config folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cfg-'))
  writeFileSync(join(dir, 'host.txt'), 'api.example.com\n')
  const c = parseConfig(base.replace('match: { path: /hello }', 'match: { path: /hello, host: "${file:host.txt}" }'), { file: join(dir, 'x.yaml'), env: {} })
  assert.equal(c.containers.hello.match.host, 'api.example.com')
})

test('unknown keys are refused, naming the path', () => {
  refused(base + '    colour: blue\n', 'containers.hello.colour', /unknown key/)
  refused(base.replace('server:\n', 'server:\n  listn: {}\n'), 'server.listn', /unknown key/)
  refused(base + 'extra: 1\n', 'extra', /unknown key/)
})

test('wrong types and values name the field and what was expected', () => {
  refused(base.replace('port: 8443', 'port: "8443"'), 'server.listen.https.port', /expected integer/)
  refused(base + '    privacy: secret\n', 'containers.hello.privacy', /expected one of "public", "private"/)
  refused(base.replace('tls: { cert: cert.pem, key: key.pem }', 'tls: { cert: cert.pem }'), 'server.tls.key', /missing/)
  refused(base.replace('https://example.functions.fnc.fr-par.scw.cloud', 'ftp://x'), 'containers.hello.upstream', /https/)
  refused(base.replace('https://example.functions.fnc.fr-par.scw.cloud', 'https://x.example/some/path'), 'containers.hello.upstream', /origin only/)
  refused(base.replace('path: /hello', 'path: /hello/'), 'containers.hello.match.path')
  refused(base.replace('path: /hello', 'path: /a/../b'), 'containers.hello.match.path')
  refused(base.replace('server:\n', 'server:\n  trustedProxies: ["10.0.0.0/33"]\n'), 'server.trustedProxies[0]', /not an IP address or CIDR/)
  refused(base.replace('server:\n', 'server:\n  admin: { host: 127.0.0.1, port: 8443 }\n'), 'server.admin.port', /never share a port/)
})

test('a token must be a secret reference, never the token itself', () => {
  refused(base.replace('${env:HELLO_TOKEN}', 'plain-secret-value'), 'containers.hello.token', /secret reference/)
  const err = (() => { try { load(base.replace('${env:HELLO_TOKEN}', 'plain-secret-value')) } catch (e) { return e as Error } })()
  assert.ok(err !== undefined && !err.message.includes('plain-secret-value'), 'the error never repeats the value')
})

test('two containers with the same host and path are refused', () => {
  const twice = base + `  again:
    upstream: https://other.example
    match: { path: /hello }
    token: \${env:HELLO_TOKEN}
`
  refused(twice, 'containers.again.match', /same host and path as containers\.hello/)
})

test('a file that is not there or not YAML is a clear error', async () => {
  await assert.rejects(loadConfig('/nonexistent/tollgate.yaml'), /cannot read config \/nonexistent\/tollgate\.yaml: ENOENT/)
  assert.throws(() => load('server: [\n'), /not valid YAML/)
})

test('ipLists: inline or from a file (relative to the config), usable by name in conditions', async () => {
  const { compileContainerPolicy } = await import('../src/policy/index.js')
  const { policyOptions } = await import('../src/config/load.js')
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-ips-'))
  writeFileSync(join(dir, 'office.txt'), '# office networks\n198.51.100.0/24\n\n2001:db8::/32  # v6\n')
  const text = base.replace('    token: ${env:HELLO_TOKEN}\n', `    token: \${env:HELLO_TOKEN}
    privacy: public
    policies:
      - name: office
        condition: inIpRange(request.ip, ipLists.office) || inIpRange(request.ip, ipLists.vpn)
`) + 'ipLists:\n  office: { file: office.txt }\n  vpn: ["203.0.113.0/24"]\n'
  const c = parseConfig(text, { file: join(dir, 'tollgate.yaml'), env: { HELLO_TOKEN: 't' } })
  assert.deepEqual(c.ipLists?.office, ['198.51.100.0/24', '2001:db8::/32'])
  const policy = compileContainerPolicy('hello', 'public', c.containers.hello.policies, policyOptions(c))
  const facts = (ip: string) => ({ ip, userAgent: '', time: new Date(), method: 'GET', path: '/hello', host: 'h', headers: {} })
  const anon = { kind: 'anonymous' as const, id: '', owner: false, claims: {} }
  assert.equal(policy.decide(facts('198.51.100.9'), anon).allow, true)
  assert.equal(policy.decide(facts('2001:db8::1'), anon).allow, true)
  assert.equal(policy.decide(facts('203.0.113.5'), anon).allow, true)
  assert.equal(policy.decide(facts('192.0.2.1'), anon).allow, false)
  assert.throws(() => parseConfig(text.replace('file: office.txt', 'file: missing.txt'), { file: join(dir, 'tollgate.yaml'), env: { HELLO_TOKEN: 't' } }), /ipLists\.office\.file: cannot read/)
})
