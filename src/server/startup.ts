// What a config must pass before tollgate serves it — at start, on every reload, and in
// `tollgate check` (which runs this very function and throws the parts away): one place decides,
// so `check` refuses exactly what `serve` would. In order, each failure naming the field to fix:
//
//   containers.NAME.…        every condition compiles (the config alone, first)
//   server.tls.cert / .key   readable, PEM, a certificate and its private key, matching
//   then buildParts (src/runtime.ts, which the Fastify plugin runs too): the secret store, the
//   keys file, the JWT issuers and their JWKS, every token reference.
//
// Network sources (Scaleway Secret Manager, JWKS, the rate-limit Redis) are left out with `offline`.
// Besides failures it reports what is legal but probably wrong (`warnings`), and network sources
// that did not answer (`unreachable`): serve logs both and serves (it keeps retrying them), check
// prints them and refuses an unreachable JWKS.
import type { LoadedConfig } from '../config/load.js'
import { buildParts, closeParts, compilePolicies, type RuntimeParts } from '../runtime.js'
import type { MasterKeys } from '../secrets/index.js'
import type { HighWater } from '../files/integrity.js'
import type { TollgateAuthenticator } from '../credentials/index.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import type { MemoryCounters } from '../limits/store.js'
import type { Tunnels } from '../websocket/tunnels.js'
import { readTlsFiles, type TlsFiles } from '../tls/files.js'
import { websocketWarnings } from '../websocket/settings.js'

export { closeParts }

/** What app.ts keeps of a start to close it later. */
export type Parts = Pick<RuntimeParts, 'resolver' | 'authenticator'>

/** Something a field of the config leads to that deserves a line: `field: message` ('' when the message names its fields). */
export interface Finding { field: string, message: string }

export interface StartupOptions {
  env: NodeJS.ProcessEnv
  logger: Logger
  metrics: Metrics
  /** The master key(s) `tollgate serve` took from its environment (default: read from `env`). */
  masterKeys?: MasterKeys
  /** Generations of the state files seen (a gateway shares one across reloads). */
  highWater: HighWater
  /** Memory rate-limit counters kept across reloads. */
  counters: MemoryCounters
  /** The app's WebSocket tunnel registry (kept across reloads). */
  tunnels?: Tunnels
  /** `tollgate check --offline`: no Secret Manager, JWKS or Redis. */
  offline?: boolean
}

export interface Started extends RuntimeParts {
  /** The HTTPS listener's certificate and key (undefined without an HTTPS listener). */
  tls: TlsFiles | undefined
  /** Legal but probably wrong. */
  warnings: Finding[]
  /** Network sources that did not answer (serve goes on retrying them). `refuse`: check refuses. */
  unreachable: Array<Finding & { refuse: boolean }>
}

/** Checks and builds everything a config needs to serve. On failure nothing is left running. */
export async function startParts (config: LoadedConfig, opts: StartupOptions): Promise<Started> {
  // the config alone first: what it says must make sense before what it points at is looked at
  const policies = compilePolicies(config)
  const warnings: Finding[] = []
  let tls: TlsFiles | undefined
  if (config.server.listen.https !== undefined && config.server.tls !== undefined) {
    tls = readTlsFiles(config.server.tls)
    warnings.push(...tls.warnings)
  } else if (config.server.tls !== undefined) {
    warnings.push({ field: 'server.tls', message: 'set, but there is no HTTPS listener (server.listen.https) to use it' })
  }
  const parts = await buildParts(config, {
    logger: opts.logger,
    env: opts.env,
    masterKeys: opts.masterKeys,
    highWater: opts.highWater,
    events: opts.metrics.secretEvents,
    rateLimits: { memory: opts.counters, events: opts.metrics.rateLimitEvents },
    tunnels: opts.tunnels,
    offline: opts.offline,
    policies
  })
  opts.metrics.instrument(parts.runtime)
  warnings.push(...configWarnings(config, parts.authenticator))
  return { ...parts, tls, warnings, unreachable: unreachable(config, parts, opts.offline === true) }
}

/** serve's report of a start or reload: one warning line per finding. */
export function logFindings (logger: Logger, started: Pick<Started, 'warnings' | 'unreachable'>): void {
  for (const w of started.warnings) logger.warn(w.field === '' ? {} : { field: w.field }, w.message)
  for (const u of started.unreachable) logger.warn({ field: u.field }, u.message)
}

function unreachable (config: LoadedConfig, { authenticator: auth, runtime }: RuntimeParts, offline: boolean): Started['unreachable'] {
  if (offline) return []
  const out: Started['unreachable'] = []
  config.credentials?.jwt?.issuers.forEach((iss, i) => {
    const jwks = auth?.issuers.get(iss.name)?.jwks
    if (jwks !== undefined && !jwks.hasKeys) {
      out.push({
        field: `credentials.jwt.issuers[${i}].jwksUrl`,
        message: `the JWKS of issuer "${iss.name}" cannot be fetched (${jwks.lastError ?? 'no answer'}): its tokens are refused until it can`,
        refuse: true
      })
    }
  })
  if (runtime.rateLimitStoreReady() === false) {
    out.push({ field: 'server.rateLimit.redis', message: 'Redis does not answer yet: rate limits let requests through until it does (fail open)', refuse: false })
  }
  return out
}

/** What is legal but probably a mistake. */
function configWarnings (config: LoadedConfig, auth: TollgateAuthenticator | undefined): Finding[] {
  const out: Finding[] = websocketWarnings(config).map((message) => ({ field: '', message }))
  const keys = auth?.keyNames()
  for (const [name, c] of Object.entries(config.containers)) {
    c.policies?.forEach((rule, i) => {
      rule.principals?.forEach((p, j) => {
        if (!p.startsWith('key:') || keys === undefined) return
        const key = p.slice('key:'.length)
        const live = keys.get(key)
        if (live === true) return
        out.push({
          field: `containers.${name}.policies[${i}].principals[${j}]`,
          message: live === undefined
            ? `rule "${rule.name}": "${p}" names no key in the keys file (tollgate keys create --name ${key})`
            : `rule "${rule.name}": "${p}" names only revoked or expired keys`
        })
      })
    })
    if (c.privacy === 'public') {
      c.rateLimit?.forEach((l, i) => {
        if (l.by === 'principal') {
          out.push({ field: `containers.${name}.rateLimit[${i}].by`, message: `limit "${l.name}" counts by principal on a public container, where no client authenticates: it counts by client IP` })
        }
      })
    }
  }
  return out
}
