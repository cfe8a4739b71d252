// `tollgate policy eval` and `tollgate policy test`: decide conditions offline, explain every rule.
//
//   policy eval --condition CEL [--ip A] [--user-agent S] [--time ISO8601] [--method M] [--path P]
//               [--host H] [--header 'Name: value']… [--principal key:NAME|jwt:SUB] [--claims JSON]
//     exit 0 allow, 1 deny, 2 invalid condition or usage (one line on stderr, with the column)
//   policy test --config FILE --method M --url URL [--ip A] [--user-agent S] [--time ISO8601]
//               [--token T] [--header 'Name: value']… [--json]
//     which container, each rule's outcome, the final decision and its reason; exit 0 allow,
//     1 deny (or no container), 2 invalid config or usage. The token is never printed.
import { parseArgs } from 'node:util'
import { ConfigError, REASONS, TollgateError } from '../errors.js'
import {
  ANONYMOUS, compileCondition, compileContainerPolicy, ConditionError, parseTimestamp, requestVariable,
  type Decision, type Explanation, type Principal, type RequestFacts
} from '../policy/index.js'
import { normalizeIp, cutUserAgent } from '../identity/index.js'
import { loadConfig, policyOptions, type LoadedConfig } from '../config/load.js'
import { buildRouter } from '../proxy/router.js'
import { createSecretResolver } from '../secrets/index.js'
import { authenticatorForConfig, type TollgateAuthenticator } from '../credentials/index.js'

export interface PolicyIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
}

const DEFAULTS = { ip: '203.0.113.10', userAgent: '', method: 'GET', path: '/', host: 'localhost' } as const

const USAGE = `usage:
  tollgate policy eval --condition CEL [--ip A] [--user-agent S] [--time ISO8601] [--method M] [--path P] [--host H]
                       [--header 'Name: value']... [--principal key:NAME|jwt:SUBJECT] [--claims JSON]
  tollgate policy test --config FILE --method M --url URL [--ip A] [--user-agent S] [--time ISO8601] [--token T]
                       [--header 'Name: value']... [--json]`

const usage = (msg: string): TollgateError => new TollgateError('TG_ERR_USAGE', msg)

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ')

export async function runPolicy (args: string[], io: PolicyIo): Promise<number> {
  const [sub, ...rest] = args
  try {
    switch (sub) {
      case 'eval': return evalCommand(rest, io)
      case 'test': return await testCommand(rest, io)
      case undefined: case 'help': case '--help': case '-h':
        io.stdout.write(USAGE + '\n')
        return sub === undefined ? 2 : 0
      default:
        throw usage(`unknown policy command ${JSON.stringify(sub)} (eval or test)`)
    }
  } catch (err) {
    io.stderr.write(`tollgate: ${oneLine(err instanceof Error ? err.message : String(err))}\n`)
    if (err instanceof TollgateError && (err.code === 'TG_ERR_USAGE' || err instanceof ConfigError || err.code.startsWith('TG_ERR_CONFIG') || err.code === 'TG_ERR_POLICY_INVALID')) return 2
    return 1
  }
}

const COMMON = {
  ip: { type: 'string' },
  'user-agent': { type: 'string' },
  time: { type: 'string' },
  header: { type: 'string', multiple: true }
} as const

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & object

/** Parses `--flag value` options (no positionals); any problem is a usage error (exit 2). */
function parse<O extends Options> (args: string[], options: O): ReturnType<typeof parseArgs<{ args: string[], options: O, strict: true, allowPositionals: true }>>['values'] {
  let r
  try {
    r = parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0])
  }
  if (r.positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(r.positionals[0])}`)
  return r.values
}

function parseTime (s: string | undefined): Date {
  if (s === undefined) return new Date()
  try {
    return parseTimestamp(s)
  } catch {
    throw usage(`--time ${JSON.stringify(s)}: expected RFC 3339 with a zone, e.g. 2026-03-30T09:30:00+02:00 or 2026-03-30T07:30:00Z`)
  }
}

function parseIpFlag (s: string | undefined): string {
  if (s === undefined) return DEFAULTS.ip
  const ip = normalizeIp(s)
  if (ip === null) throw usage(`--ip ${JSON.stringify(s)} is not an IP address`)
  return ip
}

function parseHeaders (list: readonly string[] | undefined, base: Record<string, string | string[]>): Record<string, string | string[]> {
  const out = { ...base }
  for (const h of list ?? []) {
    const colon = h.indexOf(':')
    if (colon <= 0) throw usage(`--header ${JSON.stringify(h)}: expected 'Name: value'`)
    const name = h.slice(0, colon).trim().toLowerCase()
    const value = h.slice(colon + 1).trim()
    const prev = out[name]
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
  }
  return out
}

function parsePrincipal (p: string | undefined, claims: string | undefined): Principal {
  if (p === undefined && claims === undefined) return ANONYMOUS
  let parsedClaims: Record<string, unknown> = {}
  if (claims !== undefined) {
    try {
      parsedClaims = JSON.parse(claims)
    } catch {
      throw usage('--claims must be a JSON object')
    }
    if (parsedClaims === null || typeof parsedClaims !== 'object' || Array.isArray(parsedClaims)) throw usage('--claims must be a JSON object')
  }
  const m = /^(key|jwt):(.+)$/.exec(p ?? '')
  if (p !== undefined && m === null) throw usage('--principal must be key:NAME or jwt:SUBJECT')
  const kind = (m?.[1] ?? 'jwt') as Principal['kind']
  const id = m?.[2] ?? (typeof parsedClaims.sub === 'string' ? parsedClaims.sub : '')
  return { kind, id, owner: false, claims: kind === 'jwt' ? parsedClaims : {} }
}

function describeDecision (d: Decision): string {
  const status = (REASONS as Record<string, { status: number } | undefined>)[d.reason]?.status
  return `${d.allow ? 'allow' : 'deny'} (reason ${d.reason}${d.rule !== undefined ? `, rule "${d.rule}"` : ''}${status !== undefined && !d.allow ? `, HTTP ${status}` : ''})`
}

// ---------- eval ----------

function evalCommand (args: string[], io: PolicyIo): number {
  const values = parse(args, {
    ...COMMON,
    condition: { type: 'string' },
    method: { type: 'string' },
    path: { type: 'string' },
    host: { type: 'string' },
    principal: { type: 'string' },
    claims: { type: 'string' }
  })
  if (values.condition === undefined) throw usage('policy eval needs --condition CEL')

  let condition
  try {
    condition = compileCondition(values.condition)
  } catch (err) {
    if (err instanceof ConditionError) {
      io.stderr.write(`tollgate: invalid condition: ${oneLine(err.message)}\n`)
      return 2
    }
    throw err
  }
  const host = (values.host ?? DEFAULTS.host).toLowerCase()
  const facts: RequestFacts = {
    ip: parseIpFlag(values.ip),
    userAgent: cutUserAgent(values['user-agent'] ?? DEFAULTS.userAgent),
    time: parseTime(values.time),
    method: (values.method ?? DEFAULTS.method).toUpperCase(),
    path: values.path ?? DEFAULTS.path,
    host,
    headers: parseHeaders(values.header, { host, ...(values['user-agent'] !== undefined ? { 'user-agent': values['user-agent'] } : {}) })
  }
  const principal = parsePrincipal(values.principal, values.claims)
  let result: unknown
  try {
    // The gateway's own path: the compiled closure when the condition has one, cel-js otherwise.
    result = condition.closure?.(facts, principal) ?? condition.evaluate({ request: requestVariable(facts, true), principal })
  } catch (err) {
    const msg = ((err as { summary?: string }).summary ?? (err as Error).message ?? String(err)).split('\n')[0].replaceAll('tg__', '')
    io.stdout.write(`deny: the condition failed to evaluate (reason policy_error): ${msg}\n`)
    return 1
  }
  const at = `ip ${facts.ip}, time ${facts.time.toISOString()}, ${facts.method} ${facts.host}${facts.path}`
  if (result === true) {
    io.stdout.write(`allow: the condition is true (${at})\n`)
    return 0
  }
  io.stdout.write(`deny: the condition is ${String(result)} (reason policy_denied; ${at})\n`)
  return 1
}

// ---------- test ----------

interface TestReport {
  request: { method: string, url: string, host: string, path: string, ip: string, userAgent: string, time: string }
  container: { name: string, privacy: string, match: { host?: string, path: string }, ruleCount: number } | null
  principal: { kind: string, id: string, owner: boolean, source: string } | null
  authentication?: { ok: boolean, reason?: string }
  rules: Explanation['rules']
  note?: string
  decision: Decision & { status: number }
}

async function testCommand (args: string[], io: PolicyIo): Promise<number> {
  const values = parse(args, {
    ...COMMON,
    config: { type: 'string' },
    method: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' }
  })
  if (values.config === undefined) throw usage('policy test needs --config FILE')
  if (values.method === undefined) throw usage('policy test needs --method M')
  if (values.url === undefined) throw usage('policy test needs --url URL')
  let url: URL
  try {
    url = new URL(values.url)
  } catch {
    throw usage(`--url ${JSON.stringify(values.url)} is not an absolute URL`)
  }
  const env = io.env ?? process.env
  const config = await loadConfig(values.config, env)

  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  const path = url.pathname
  const facts: RequestFacts = {
    ip: parseIpFlag(values.ip),
    userAgent: cutUserAgent(values['user-agent'] ?? DEFAULTS.userAgent),
    time: parseTime(values.time),
    method: values.method.toUpperCase(),
    path,
    host,
    headers: parseHeaders(values.header, { host: url.host, ...(values['user-agent'] !== undefined ? { 'user-agent': values['user-agent'] } : {}) })
  }
  const report: TestReport = {
    request: { method: facts.method, url: `${url.origin}${url.pathname}`, host, path, ip: facts.ip, userAgent: facts.userAgent, time: facts.time.toISOString() },
    container: null,
    principal: null,
    rules: [],
    decision: { allow: false, reason: 'no_route', status: REASONS.no_route.status }
  }

  const routes = Object.entries(config.containers).map(([name, c]) => ({ name, host: c.match.host?.toLowerCase(), prefix: c.match.path }))
  const route = buildRouter(routes).match(host, path)
  if (route === undefined) return finish(io, report, values.json === true)
  const c = config.containers[route.name]
  report.container = { name: route.name, privacy: c.privacy, match: { ...(c.match.host !== undefined ? { host: c.match.host } : {}), path: c.match.path }, ruleCount: c.policies?.length ?? 0 }
  const policy = compileContainerPolicy(route.name, c.privacy, c.policies, policyOptions(config))

  let principal: Principal = ANONYMOUS
  let source = 'no credential'
  if (values.token !== undefined && c.privacy === 'public') {
    source = 'public container: credentials are not consulted'
  } else if (values.token !== undefined) {
    const outcome = await authenticate(values.token, route.name, config, env)
    report.authentication = outcome.ok ? { ok: true } : { ok: false, reason: outcome.reason }
    if (!outcome.ok) {
      report.principal = { kind: 'anonymous', id: '', owner: false, source: '--token (rejected)' }
      report.decision = { allow: false, reason: outcome.reason, status: (REASONS as Record<string, { status: number }>)[outcome.reason]?.status ?? 401 }
      report.note = 'the credential was rejected: the gateway answers 401 before any rule'
      return finish(io, report, values.json === true)
    }
    principal = outcome.principal
    source = '--token'
  }
  report.principal = { kind: principal.kind, id: principal.id, owner: principal.owner, source }
  const explanation = policy.explain(facts, principal)
  report.rules = explanation.rules
  if (explanation.note !== undefined) report.note = explanation.note
  const d = explanation.decision
  report.decision = { ...d, status: (REASONS as Record<string, { status: number }>)[d.reason]?.status ?? (d.allow ? 200 : 403) }
  return finish(io, report, values.json === true)
}

type AuthResult = { ok: true, principal: Principal } | { ok: false, reason: string }

async function authenticate (token: string, container: string, config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<AuthResult> {
  const resolver = createSecretResolver({ baseDir: config.baseDir, secrets: config.secrets ?? {}, env })
  let auth: TollgateAuthenticator | undefined
  try {
    auth = await authenticatorForConfig(config, resolver, { env, keysPollMs: 0 })
    return await auth.authenticate(token, container)
  } finally {
    await Promise.allSettled([auth?.close(), resolver.close()])
  }
}

function finish (io: PolicyIo, r: TestReport, json: boolean): number {
  if (json) {
    io.stdout.write(JSON.stringify(r, null, 2) + '\n')
    return r.decision.allow ? 0 : 1
  }
  const lines: string[] = []
  lines.push(`request:   ${r.request.method} ${r.request.url} from ${r.request.ip} at ${r.request.time}${r.request.userAgent !== '' ? `, user-agent ${JSON.stringify(r.request.userAgent)}` : ''}`)
  if (r.container === null) {
    lines.push('container: none matches this host and path')
  } else {
    const m = r.container.match
    lines.push(`container: ${r.container.name} (${r.container.privacy}; match ${m.host ?? '*'} ${m.path})`)
  }
  if (r.principal !== null) {
    const who = r.principal.kind === 'anonymous' ? 'anonymous' : `${r.principal.kind}:${r.principal.id}${r.principal.owner ? ' (owner)' : ''}`
    lines.push(`principal: ${who} [${r.principal.source}]`)
  }
  if (r.container !== null && r.container.ruleCount === 0) lines.push('rules:     none')
  for (const rule of r.rules) {
    const what = rule.outcome === 'skipped'
      ? `skipped: principals ${JSON.stringify(rule.principals)} do not include the caller`
      : rule.outcome === 'granted'
        ? (rule.condition === undefined ? 'grants (no condition)' : 'grants: condition is true')
        : rule.outcome === 'false' ? 'does not grant: condition is false' : `error (denies): ${rule.error ?? ''}`
    lines.push(`rule ${rule.index} "${rule.name}": ${what}`)
    if (rule.condition !== undefined) lines.push(`    ${oneLine(rule.condition)}`)
  }
  if (r.note !== undefined) lines.push(`note:      ${r.note}`)
  lines.push(`decision:  ${describeDecision(r.decision)}`)
  io.stdout.write(lines.join('\n') + '\n')
  return r.decision.allow ? 0 : 1
}
