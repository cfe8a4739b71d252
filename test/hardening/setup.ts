// The gateway most hardening tests stand against: one public container at "/" behind a raw
// recording upstream, `/public…` open to everyone, the rest to the office range only (tests connect
// from 127.0.0.1, outside it). The plain listener serves too (httpOption: enabled) for raw bytes.
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/raw.js'

export const PUBLIC_RULE = 'request.path.startsWith("/public")'
export const OFFICE_RULE = 'inIpRange(request.ip, "198.51.100.0/24")'

export interface RuleGateway {
  gw: TestGateway
  rec: RecordingUpstream
  close (): Promise<void>
}

/** The container at "/" behind `upstream`: `/public…` open, the rest for the office (token from $UPSTREAM_TOKEN). */
export function ruleContainer (upstream: string, office = OFFICE_RULE): Record<string, unknown> {
  return {
    upstream,
    match: { path: '/' },
    token: '${env:UPSTREAM_TOKEN}',
    privacy: 'public',
    policies: [
      { name: 'public', condition: PUBLIC_RULE },
      { name: 'office', condition: office }
    ]
  }
}

export async function startRuleGateway (opts: { token: string, office?: string, server?: Record<string, unknown> }): Promise<RuleGateway> {
  const rec = await startRecordingUpstream()
  const gw = await startGateway({
    env: { ...process.env, UPSTREAM_TOKEN: opts.token },
    config: {
      server: { httpOption: 'enabled', logLevel: 'warn', accessLog: false, ...opts.server },
      containers: { app: ruleContainer(rec.url, opts.office) }
    }
  })
  return {
    gw,
    rec,
    async close () {
      await gw.close()
      await rec.close()
    }
  }
}
