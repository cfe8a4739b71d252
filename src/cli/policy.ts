// `tollgate policy eval` and `tollgate policy test`: decide offline, with the gateway's own code.
//
// `policy test` runs the request it is given through the same steps as the gateway — the target
// and header screen, the Host, the router, credential extraction and authentication, and the
// container's decision (`explain` is `decide` with a trace) — on the raw target of `--url`, as a
// client would send it (no dot segment resolved, nothing decoded; the fragment, which no client
// sends, is dropped). The CORS step runs too (a preflight is answered before any credential), and
// the inject step shows the path the container would get (stripPrefix). Rate limits are named but
// cannot be decided offline: their counters live in the running gateway. With --websocket the
// request is a WebSocket handshake and the websocket step runs too (tunnel, plain HTTP, or
// refused). Only what happens after the decision (the body, the upstream) is not run.
import { REASONS, type ReasonId } from '../errors.js'
import { Exchange } from '../exchange.js'
import {
  ANONYMOUS, compileCondition, compileContainerPolicy, ConditionError, parseTimestamp, principalName,
  type Decision, type Explanation, type Principal, type RequestFacts
} from '../policy/index.js'
import { requestFacts } from '../policy/authorize.js'
import { normalizeIp } from '../identity/index.js'
import { loadEmbeddedConfig, policyOptions, type RuntimeConfig } from '../config/load.js'
import { readHost, readTarget, screenHeaders } from '../proxy/request.js'
import { buildRouter, route } from '../proxy/router.js'
import { admit, authenticate, extractCredential } from '../credentials/authenticate.js'
import { inject } from '../proxy/inject.js'
import { compileHeaderRules } from '../proxy/header-rules.js'
import { compileCors, cors, isPreflight } from '../cors/cors.js'
import { websocket } from '../websocket/handshake.js'
import { createSecretResolver } from '../secrets/index.js'
import { authenticatorForConfig, type TollgateAuthenticator } from '../credentials/index.js'
import { isHelp, parseFlags, runCommand, usage, type Io } from './io.js'

export type PolicyIo = Pick<Io, 'stdout' | 'stderr'> & { env?: NodeJS.ProcessEnv }

const DEFAULTS = { ip: '203.0.113.10', method: 'GET', path: '/', host: 'localhost' } as const

export const POLICY_USAGE = `usage:
  tollgate policy eval --condition CEL [--ip A] [--user-agent S] [--time ISO8601] [--method M] [--path P] [--host H]
                       [--header 'Name: value']... [--principal key:NAME|jwt:SUBJECT] [--claims JSON]
                       exit 0 allow, 1 deny, 2 invalid condition
  tollgate policy test --config FILE --method M --url URL [--ip A] [--user-agent S] [--time ISO8601] [--token T]
                       [--header 'Name: value']... [--websocket] [--json]
                       which container, each rule's outcome, the decision and why, as the gateway decides
                       the same request; exit 0 allow, 1 deny, 2 invalid config`

/** Collapses a multi-line text (a condition, an error with a code frame) onto one line. */
const flat = (s: string): string => s.replace(/\s*\n\s*/g, ' ')

export async function runPolicy (args: string[], io: PolicyIo): Promise<number> {
  const [sub, ...rest] = args
  return await runCommand(io, async () => {
    switch (sub) {
      case 'eval': return evalCommand(rest, io)
      case 'test': return await testCommand(rest, io)
      default:
        if (sub === undefined || isHelp(sub)) {
          io.stdout.write(POLICY_USAGE + '\n')
          return sub === undefined ? 2 : 0
        }
        throw usage(`unknown policy command ${JSON.stringify(sub)} (eval or test)`)
    }
  })
}

const COMMON = {
  ip: { type: 'string' },
  'user-agent': { type: 'string' },
  time: { type: 'string' },
  header: { type: 'string', multiple: true }
} as const

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

/** `--header 'Name: value'` flags (and the fields implied by other flags) as node:http presents them. */
class HeaderList {
  readonly raw: string[] = []
  // No prototype: a header named `constructor` or `__proto__` is a header like any other.
  readonly map: Record<string, string | string[]> = Object.create(null)

  add (name: string, value: string): void {
    const lower = name.toLowerCase()
    this.raw.push(name, value)
    const prev = this.map[lower]
    this.map[lower] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
  }

  addFlags (list: readonly string[] | undefined): void {
    for (const h of list ?? []) {
      const colon = h.indexOf(':')
      if (colon <= 0) throw usage(`--header ${JSON.stringify(h)}: expected 'Name: value'`)
      this.add(h.slice(0, colon).trim(), h.slice(colon + 1).trim())
    }
  }
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

const statusOf = (reason: ReasonId): number => REASONS[reason].status

function describeDecision (d: Decision): string {
  return `${d.allow ? 'allow' : 'deny'} (reason ${d.reason}${d.rule !== undefined ? `, rule "${d.rule}"` : ''}${d.allow ? '' : `, HTTP ${statusOf(d.reason)}`})`
}

// ---------- eval ----------

/** One condition, decided by the gateway's own algorithm (a container with that one rule). */
function evalCommand (args: string[], io: PolicyIo): number {
  const { values } = parseFlags(args, {
    ...COMMON,
    condition: { type: 'string' },
    method: { type: 'string' },
    path: { type: 'string' },
    host: { type: 'string' },
    principal: { type: 'string' },
    claims: { type: 'string' }
  }, POLICY_USAGE)
  if (values.condition === undefined) throw usage('policy eval needs --condition CEL')
  try {
    compileCondition(values.condition)
  } catch (err) {
    if (!(err instanceof ConditionError)) throw err
    io.stderr.write(`tollgate: invalid condition: ${flat(err.message)}\n`)
    return 2
  }
  const policy = compileContainerPolicy('eval', 'public', [{ name: 'condition', condition: values.condition }])
  const host = (values.host ?? DEFAULTS.host).toLowerCase()
  const headers = new HeaderList()
  headers.add('host', host)
  if (values['user-agent'] !== undefined) headers.add('user-agent', values['user-agent'])
  headers.addFlags(values.header)
  const request = { ip: parseIpFlag(values.ip), method: (values.method ?? DEFAULTS.method).toUpperCase(), path: values.path ?? DEFAULTS.path, host }
  const facts = requestFacts(request, headers.map, parseTime(values.time))
  const rule = policy.explain(facts, parsePrincipal(values.principal, values.claims)).rules[0]
  const at = `ip ${facts.ip}, time ${facts.time.toISOString()}, ${facts.method} ${facts.host}${facts.path}`
  if (rule.outcome === 'error') {
    io.stdout.write(`deny: the condition failed to evaluate (reason policy_error): ${rule.error ?? ''}\n`)
    return 1
  }
  if (rule.outcome === 'granted') {
    io.stdout.write(`allow: the condition is true (${at})\n`)
    return 0
  }
  io.stdout.write(`deny: the condition is false (reason policy_denied; ${at})\n`)
  return 1
}

// ---------- test ----------

interface TestReport {
  request: { method: string, url: string, host: string, path: string, ip: string, userAgent: string, time: string }
  container: { name: string, privacy: string, match: { host?: string, path: string }, ruleCount: number, websocket: boolean } | null
  /** With --websocket: what the websocket step makes of the handshake. */
  websocket?: { tunnel: boolean, note: string }
  principal: { kind: string, id: string, issuer?: string, owner: boolean, source: string } | null
  authentication?: { ok: boolean, reason?: string }
  /** Present for a container with `cors`: what the CORS step did and the fields it adds. */
  cors?: { preflight: boolean, origin: string | null, allowed: boolean, fields: Record<string, string> }
  /** Present for a container with `rateLimit`: never decided offline. */
  rateLimits?: { limits: Array<{ name: string, requests: number, per: string, by: string }>, note: string }
  rules: Explanation['rules']
  /** When allowed: the path and query the container receives (after stripPrefix). */
  upstream?: { path: string, forwardedPrefix?: string }
  note?: string
  decision: Decision & { status: number }
}

/** `--url`: scheme (http or https), authority, and the target exactly as written, without the fragment. */
const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/

async function testCommand (args: string[], io: PolicyIo): Promise<number> {
  const { values } = parseFlags(args, {
    ...COMMON,
    config: { type: 'string' },
    method: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
    websocket: { type: 'boolean' },
    json: { type: 'boolean' }
  }, POLICY_USAGE)
  if (values.config === undefined) throw usage('policy test needs --config FILE')
  if (values.method === undefined) throw usage('policy test needs --method M')
  if (values.url === undefined) throw usage('policy test needs --url URL')
  const parts = URL_PARTS.exec(values.url)
  const scheme = parts?.[1].toLowerCase()
  if (parts === null || (scheme !== 'https' && scheme !== 'http')) throw usage(`--url ${JSON.stringify(values.url)} is not an absolute http(s) URL`)
  const [, , authority, rest] = parts
  const target = rest === '' || rest.startsWith('?') ? '/' + rest : rest
  const env = io.env ?? process.env
  const config = await loadEmbeddedConfig(values.config, env)
  const json = values.json === true

  // The request as a client sends it: the request line, Host, then the fields the flags give.
  const x = new Exchange(values.method.toUpperCase(), scheme)
  x.ip = parseIpFlag(values.ip)
  const headers = new HeaderList()
  headers.add('Host', authority)
  if (values['user-agent'] !== undefined) headers.add('User-Agent', values['user-agent'])
  if (values.token !== undefined) headers.add('X-Auth-Token', values.token)
  headers.addFlags(values.header)
  if (values.websocket === true) {
    // The handshake a WebSocket client sends (fields the flags already gave are kept as given).
    x.upgrade = 'http1'
    const handshake: Array<[string, string]> = [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']]
    for (const [name, value] of handshake) if (headers.map[name.toLowerCase()] === undefined) headers.add(name, value)
  }
  const time = parseTime(values.time)
  const report: TestReport = {
    request: { method: x.method, url: `${scheme}://${authority}${target}`, host: '', path: target, ip: x.ip, userAgent: '', time: time.toISOString() },
    container: null,
    principal: null,
    rules: [],
    decision: { allow: false, reason: 'no_route', status: statusOf('no_route') }
  }
  const deny = (reason: ReasonId, note?: string): number => {
    report.decision = { allow: false, reason, status: statusOf(reason) }
    if (note !== undefined) report.note = note
    return finish(io, report, json)
  }

  const head = { method: x.method, url: target, headers: headers.map, rawHeaders: headers.raw, httpVersionMajor: 1, httpVersionMinor: 1 }
  const refused = readTarget(x, target) ?? screenHeaders(x, head, config.server.limits.maxHeaderCount) ?? readHost(x, headers.map.host as string)
  if (refused !== undefined) {
    return deny(refused, refused === 'method_not_allowed'
      ? 'the gateway refuses CONNECT, TRACE, TRACK and OPTIONS * before routing'
      : 'the gateway refuses this request before routing (docs/security.md)')
  }
  report.request.host = x.host
  report.request.path = x.path

  const routes = Object.entries(config.containers).map(([name, c]) => ({ name, host: c.match.host, prefix: c.match.path }))
  const found = route(x, buildRouter(routes))
  if (found === undefined) return finish(io, report, json)
  const c = config.containers[found.name]
  report.container = { name: found.name, privacy: c.privacy, match: { ...(c.match.host !== undefined ? { host: c.match.host } : {}), path: c.match.path }, ruleCount: c.policies?.length ?? 0, websocket: c.websocket }
  const policy = compileContainerPolicy(found.name, c.privacy, c.policies, policyOptions(config))
  if (x.upgrade !== undefined) {
    const unfit = websocket(x, c, headers.map)
    if (unfit !== undefined) return deny(unfit, 'the handshake is refused before any credential (docs/websockets.md)')
    report.websocket = x.websocket
      ? { tunnel: true, note: `tunnelled once allowed: the container's 101 is checked, then bytes flow both ways (idle timeout ${config.server.websocket.idleTimeout} ms)` }
      : { tunnel: false, note: `${c.websocket ? 'the Upgrade is not websocket' : 'the container has websocket: false'}: the upgrade is ignored, the request is decided and served as plain HTTP (Connection: close)` }
  }
  const corsPolicy = compileCors(c.cors)
  const answered = cors(x, corsPolicy, headers.map)
  if (corsPolicy !== undefined) {
    const fields = x.answerHeaders ?? []
    const origin = typeof headers.map.origin === 'string' ? headers.map.origin : null
    report.cors = {
      preflight: isPreflight(x.method, headers.map),
      origin,
      allowed: fields.includes('access-control-allow-origin'),
      fields: Object.fromEntries(fields.flatMap((v, i) => i % 2 === 0 ? [[v, fields[i + 1]]] : []))
    }
  }
  if (answered !== undefined) {
    report.decision = { allow: answered === 'cors_preflight', reason: answered, status: statusOf(answered) }
    report.note = answered === 'cors_preflight'
      ? 'a CORS preflight from an allowed origin: tollgate answers it, before any credential; it never reaches the container'
      : 'a CORS preflight from an origin cors.origins does not list: answered without Access-Control-Allow-*, never forwarded'
    return finish(io, report, json)
  }
  // Preflights are answered before any limit counts; other requests may meet a 429 first.
  if (c.rateLimit !== undefined) {
    report.rateLimits = {
      limits: c.rateLimit.map((l) => ({ name: l.name, requests: l.requests, per: l.per, by: l.by })),
      note: 'not decided offline: the counters live in the running gateway (memory or Redis), which answers 429 once a limit is spent'
    }
  }

  const credential = extractCredential(headers.map, x.protocolCredential)
  let source = credential === undefined ? 'no credential' : values.token !== undefined ? '--token' : x.protocolCredential !== undefined ? 'Sec-WebSocket-Protocol' : '--header'
  if (c.privacy === 'public') {
    if (credential !== undefined) source = 'public container: credentials are not consulted'
  } else {
    // The authenticator (keys file, JWT issuers) is opened only for a well-formed credential.
    const outcome = typeof credential === 'string'
      ? await withAuthenticator(config, env, async (a) => await authenticate(x, c.privacy, a, headers.map))
      : await authenticate(x, c.privacy, undefined, headers.map)
    const rejected = admit(x, outcome)
    report.authentication = rejected === undefined ? { ok: true } : { ok: false, reason: rejected }
    if (rejected !== undefined) {
      report.principal = { kind: 'anonymous', id: '', owner: false, source: credential === undefined ? source : `${source} (rejected)` }
      return deny(rejected, `${credential === undefined ? 'no credential' : 'the credential was rejected'}: the gateway answers 401 before any rule`)
    }
  }
  const principal = x.principal
  report.principal = { kind: principal.kind, id: principal.id, ...(principal.issuer !== undefined ? { issuer: principal.issuer } : {}), owner: principal.owner, source }

  const facts: RequestFacts = requestFacts(x, headers.map, time)
  report.request.userAgent = facts.userAgent
  const explanation = policy.explain(facts, principal)
  report.rules = explanation.rules
  if (explanation.note !== undefined) report.note = explanation.note
  const d = explanation.decision
  report.decision = { ...d, status: statusOf(d.reason) }
  if (d.allow) {
    // The gateway's own inject step, with a stand-in for the token (never resolved here).
    inject(x, { prefix: c.match.path, stripPrefix: c.stripPrefix && c.match.path !== '/', requestRules: compileHeaderRules(c.headers?.request), upstreamHost: '', token: { value: () => '' } })
    report.upstream = { path: x.upstreamPath + x.query }
    if (x.upstreamPath !== x.path) report.upstream.forwardedPrefix = c.match.path
  }
  return finish(io, report, json)
}

function describeCors (c: NonNullable<TestReport['cors']>): string {
  const fields = Object.entries(c.fields).filter(([k]) => k.startsWith('access-control-')).map(([k, v]) => `${k}: ${v}`).join('; ')
  if (c.preflight) return c.allowed ? `preflight from ${c.origin ?? ''}, answered 204 by tollgate with ${fields}` : `preflight from ${c.origin ?? ''}, not an allowed origin: answered 204 with no Access-Control-Allow-*`
  if (c.origin === null) return 'no Origin: answers carry Vary: Origin only'
  return c.allowed ? `origin ${c.origin} allowed: every answer carries ${fields}` : `origin ${c.origin} not allowed: no Access-Control-Allow-* (the request itself goes on)`
}

async function withAuthenticator<T> (config: RuntimeConfig, env: NodeJS.ProcessEnv, use: (a: TollgateAuthenticator) => Promise<T>): Promise<T> {
  const resolver = createSecretResolver({ baseDir: config.baseDir, secrets: config.secrets ?? {}, env })
  let auth: TollgateAuthenticator | undefined
  try {
    auth = await authenticatorForConfig(config, resolver, { env, keysPollMs: 0 })
    return await use(auth)
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
  const target = r.request.url.replace(/^[a-z]+:\/\/[^/?]*/, '').replace(/\?.*$/, '') || '/'
  const canonical = target === r.request.path || r.request.host === '' ? '' : ` (canonical path ${r.request.path})`
  lines.push(`request:   ${r.request.method} ${r.request.url}${canonical} from ${r.request.ip} at ${r.request.time}${r.request.userAgent !== '' ? `, user-agent ${JSON.stringify(r.request.userAgent)}` : ''}`)
  if (r.container === null) {
    if (r.decision.reason === 'no_route') lines.push('container: none matches this host and path')
  } else {
    const m = r.container.match
    lines.push(`container: ${r.container.name} (${r.container.privacy}; match ${m.host ?? '*'} ${m.path}${r.container.websocket ? '; websocket' : ''})`)
  }
  if (r.principal !== null) {
    const who = r.principal.kind === 'anonymous' ? 'anonymous' : `${principalName({ ...r.principal, kind: r.principal.kind as Principal['kind'], claims: {} })}${r.principal.owner ? ' (owner)' : ''}`
    lines.push(`principal: ${who} [${r.principal.source}]`)
  }
  if (r.websocket !== undefined) lines.push(`websocket: ${r.websocket.note}`)
  if (r.cors !== undefined) lines.push(`cors:      ${describeCors(r.cors)}`)
  if (r.rateLimits !== undefined) {
    const list = r.rateLimits.limits.map((l) => `${l.name} (${l.requests} per ${l.per} by ${l.by})`).join(', ')
    lines.push(`limits:    ${list}: ${r.rateLimits.note}`)
  }
  if (r.container !== null && r.container.ruleCount === 0 && r.cors?.preflight !== true) lines.push('rules:     none')
  for (const rule of r.rules) {
    const what = rule.outcome === 'skipped'
      ? `skipped: principals ${JSON.stringify(rule.principals)} do not include the caller`
      : rule.outcome === 'granted'
        ? (rule.condition === undefined ? 'grants (no condition)' : 'grants: condition is true')
        : rule.outcome === 'false' ? 'does not grant: condition is false' : `error (denies): ${rule.error ?? ''}`
    lines.push(`rule ${rule.index} "${rule.name}": ${what}`)
    if (rule.condition !== undefined) lines.push(`    ${flat(rule.condition)}`)
  }
  if (r.upstream !== undefined) {
    lines.push(`upstream:  ${r.request.method} ${r.upstream.path}${r.upstream.forwardedPrefix !== undefined ? ` (stripPrefix removed ${r.upstream.forwardedPrefix}; X-Forwarded-Prefix: ${r.upstream.forwardedPrefix})` : ''}`)
  }
  if (r.note !== undefined) lines.push(`note:      ${r.note}`)
  lines.push(`decision:  ${describeDecision(r.decision)}`)
  io.stdout.write(lines.join('\n') + '\n')
  return r.decision.allow ? 0 : 1
}
