// Every config the guides show passes `tollgate check --offline`: the runbook's snippets
// (deploy/scaleway.md), each whole config in the README and docs/, the shipped configs (config/) and
// the Kubernetes ConfigMap. The test does what an operator does before `check`: it fills the
// `<PLACEHOLDER>`s, makes the files a config points at (certificate and key, CA, public keys, IP
// lists), puts every `${secret:NAME}` in a store and creates every `key:NAME` key, and sets every
// `${env:NAME}`. Absolute paths (/etc/tollgate/…) are moved under a temporary folder. Secret
// Manager is not contacted (--offline). The Terraform example is checked for what can be checked
// without the provider (which `terraform validate` would download).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { ROOT, BIN } from '../helpers/root.js'
import { localhostCert, testCa } from '../helpers/pki.js'
import { SecretStore } from '../../src/secrets/store.js'

type Obj = Record<string, any>

/** What the guides leave to the reader, with stand-ins a check accepts. */
const PLACEHOLDERS: Record<string, string> = {}

/** `${env:NAME}` stand-ins where the name says what kind of value it is. */
const ENV: Record<string, string> = {
  STORE_LOCATION: 'scw:fr-par/11111111-2222-3333-4444-555555555555',
  KEYS_LOCATION: 'scw:fr-par/66666666-7777-8888-9999-000000000000',
  REPORTS_HOST: 'reportsabcd1234-reports.functions.fnc.fr-par.scw.cloud',
  DEMO_UPSTREAM: 'http://127.0.0.1:9',
  REDIS_HOST: 'redis.internal'
}

interface Snippet { where: string, text: string }

/** Fenced ```yaml blocks of a markdown file that are whole configs (server.listen and containers). */
function wholeConfigs (file: string, all = false): Snippet[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: Snippet[] = []
  for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
    const line = text.slice(0, m.index).split('\n').length + 1
    const doc = parse(m[1]!) as Obj | null
    const whole = doc !== null && typeof doc === 'object' && doc.server?.listen !== undefined && doc.containers !== undefined
    if (all) assert.ok(whole, `${file}:${line}: every config snippet of the runbook is a whole config`)
    if (whole) out.push({ where: `${file}:${line}`, text: m[1]! })
  }
  return out
}

function snippets (): Snippet[] {
  const out: Snippet[] = [...wholeConfigs('deploy/scaleway.md', true), ...wholeConfigs('README.md')]
  for (const f of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort()) out.push(...wholeConfigs(`docs/${f}`))
  for (const f of readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml')).sort()) {
    out.push({ where: `config/${f}`, text: readFileSync(join(ROOT, 'config', f), 'utf8') })
  }
  for (const doc of parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'configmap.yaml'), 'utf8'))) {
    const o = doc.toJS() as Obj
    out.push({ where: 'deploy/kubernetes/configmap.yaml', text: o.data['tollgate.yaml'] })
  }
  return out
}

/** Every `${kind:ARG}` in the text. */
function refs (text: string, kind: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`\\$\\{${kind}:([^}]+)\\}`, 'g'))].map((m) => m[1]!))]
}

/** Lays out what the config needs under a fresh folder; returns the config file and the environment. */
async function materialize (s: Snippet): Promise<{ file: string, env: NodeJS.ProcessEnv }> {
  const text = s.text.replace(/<([A-Z][A-Z0-9_]*)>/g, (_m, name: string) => {
    const v = PLACEHOLDERS[name]
    assert.ok(v !== undefined, `${s.where}: the test knows no stand-in for <${name}>`)
    return v
  })
  const values = JSON.stringify(parse(text)) // comments aside: a value must not hold an unfilled <placeholder>
  assert.ok(!/<[a-z][a-z0-9-]*>/.test(values), `${s.where}: a placeholder the test cannot fill: ${/<[a-z][a-z0-9-]*>/.exec(values)?.[0] ?? ''}`)
  const root = mkdtempSync(join(tmpdir(), 'tollgate-guide-'))
  const confDir = join(root, 'conf')
  mkdirSync(confDir)
  const env: NodeJS.ProcessEnv = { TOLLGATE_MASTER_KEY: randomBytes(32).toString('base64') }
  for (const name of refs(text, 'env')) env[name] = ENV[name] ?? `stand-in-for-${name.toLowerCase()}`
  const config = parse(text) as Obj
  /** A value as the loader reads it (${env:…} interpolated), to tell a file path from `scw:…`. */
  const expand = (v: unknown): string | undefined => typeof v === 'string' ? v.replace(/\$\{env:([^}]+)\}/g, (_m, n: string) => env[n]!) : undefined
  /** An absolute path moves under the folder; a relative one is relative to the config's folder. */
  const place = (p: string): string => (isAbsolute(p) ? join(root, p) : resolve(confDir, p))
  const write = (p: string, content: string | Buffer): string => {
    const at = place(p)
    mkdirSync(dirname(at), { recursive: true })
    writeFileSync(at, content, { mode: 0o600 })
    return at
  }
  const tls = config.server?.tls
  if (tls !== undefined) {
    tls.cert = write(tls.cert, localhostCert().cert)
    tls.key = write(tls.key, localhostCert().key)
  }
  for (const c of Object.values(config.containers as Obj)) {
    if (c.upstreamCa !== undefined) c.upstreamCa = write(c.upstreamCa, testCa().cert)
  }
  for (const [name, list] of Object.entries((config.ipLists ?? {}) as Obj)) {
    if (list?.file !== undefined) config.ipLists[name].file = write(list.file, '198.51.100.0/24\n')
  }
  for (const iss of (config.credentials?.jwt?.issuers ?? []) as Obj[]) {
    iss.publicKeys = iss.publicKeys?.map((p: string) => write(p, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' })))
  }
  for (const p of refs(text, 'file')) write(p, 'stand-in file value\n')
  const store = expand(config.secrets?.store)
  const storeAt = store !== undefined && !store.startsWith('scw:') ? place(store) : undefined
  if (storeAt !== undefined) config.secrets.store = storeAt
  const keys = expand(config.credentials?.keys)
  const keysAt = keys !== undefined && !keys.startsWith('scw:') ? place(keys) : undefined
  if (keysAt !== undefined) config.credentials.keys = keysAt
  const file = join(confDir, 'tollgate.yaml')
  writeFileSync(file, stringify(config))
  if (storeAt !== undefined) {
    mkdirSync(dirname(storeAt), { recursive: true })
    const store = await SecretStore.open(storeAt, Buffer.from(env.TOLLGATE_MASTER_KEY!, 'base64'))
    for (const name of refs(text, 'secret')) await store.set(name, `stand-in-${name}`)
  }
  if (keysAt !== undefined) {
    const principals = new Set<string>()
    for (const c of Object.values(config.containers as Obj)) for (const r of (c.policies ?? []) as Obj[]) for (const p of (r.principals ?? []) as string[]) if (p.startsWith('key:')) principals.add(p.slice(4))
    for (const name of principals) {
      const r = spawnSync(process.execPath, [BIN, 'keys', 'create', '--name', name, '--config', file, '--output', join(root, `${name}.key`)], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })
      assert.equal(r.status, 0, `${s.where}: keys create ${name}: ${r.stderr}`)
    }
  }
  return { file, env }
}

test('every config the guides show passes tollgate check --offline (placeholders filled)', { timeout: 120_000 }, async (t) => {
  const all = snippets()
  assert.ok(all.filter((s) => s.where.startsWith('deploy/scaleway.md')).length >= 1, 'the runbook has its config')
  assert.ok(all.some((s) => s.where.startsWith('deploy/kubernetes/')), 'the Kubernetes config is checked')
  for (const s of all) {
    const { file, env } = await materialize(s)
    const r = spawnSync(process.execPath, [BIN, 'check', '--config', file, '--offline'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, `${s.where}: ${r.stderr}`)
    assert.equal(r.stderr, '', `${s.where}: no warning`)
    t.diagnostic(`${s.where}: ${r.stdout.trim().replace(/^ok: \S+: /, '')}`)
  }
})

test('the runbook\'s config is edge mode with its stores in Secret Manager; the Terraform example sets what it reads', () => {
  const [runbook] = wholeConfigs('deploy/scaleway.md', true)
  const config = parse(runbook!.text) as Obj
  assert.equal(config.server.listen.https, undefined, 'no HTTPS listener behind the edge')
  assert.equal(config.server.tls, undefined, 'no certificate')
  assert.equal(config.server.httpOption, 'enabled')
  assert.equal(config.secrets.store, '${env:STORE_LOCATION}')
  assert.equal(config.credentials.keys, '${env:KEYS_LOCATION}')

  // Terraform: the provider's resource names, and every variable the config reads set on the gateway.
  const tf = readdirSync(join(ROOT, 'deploy', 'terraform')).filter((f) => f.endsWith('.tf')).map((f) => readFileSync(join(ROOT, 'deploy', 'terraform', f), 'utf8')).join('\n')
  const resources = new Set([...tf.matchAll(/^resource "([a-z_]+)"/gm)].map((m) => m[1]))
  for (const r of ['scaleway_registry_namespace', 'scaleway_container_namespace', 'scaleway_container', 'scaleway_iam_application', 'scaleway_iam_policy', 'scaleway_iam_api_key', 'scaleway_secret']) {
    assert.ok(resources.has(r), `${r} is used`)
  }
  const gateway = /resource "scaleway_container" "tollgate" \{([\s\S]*?)\n\}/.exec(tf)?.[1] ?? ''
  /** The lines of a `NAME = { … }` map (up to its closing line). */
  const block = (name: string): string => /^\s*(\w+) = \{\n([\s\S]*?)\n\s*\}$/m.exec(gateway.slice(gateway.search(new RegExp(`^\\s*${name} = \\{$`, 'm'))))?.[2] ?? ''
  const envBlock = block('environment_variables')
  const secretBlock = block('secret_environment_variables')
  const set = new Set([...`${envBlock}\n${secretBlock}`.matchAll(/^\s*([A-Z_]+)\s*=/gm)].map((m) => m[1]))
  for (const name of refs(runbook!.text, 'env')) assert.ok(set.has(name), `the gateway container sets ${name}`)
  assert.ok(set.has('TOLLGATE_MASTER_KEY') && /^\s*TOLLGATE_MASTER_KEY\s*=/m.test(secretBlock), 'the master key is a secret variable')
  assert.match(gateway, /privacy\s+= "public"/)
  assert.match(tf, /permission_set_names = \["ContainersPrivateAccess"\]/)
  assert.match(tf, /permission_set_names = \["SecretManagerReadOnly", "SecretManagerSecretAccess"\]/, 'the gateway reads, never writes')

  // `terraform fmt -check` parses the HCL offline (validate would need the provider download).
  const fmt = spawnSync('terraform', ['fmt', '-check', '-no-color', join(ROOT, 'deploy', 'terraform')], { encoding: 'utf8' })
  if (fmt.error === undefined) assert.equal(fmt.status, 0, `terraform fmt: ${fmt.stdout}${fmt.stderr}`)
})
