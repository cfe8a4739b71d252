// The shipped deployment files agree with each other, with the config they carry and with the image.
// No Docker engine or cluster here: the manifests are parsed and cross-checked, and the Dockerfile's
// runtime stage is replayed (npm ci --omit=dev into a temporary copy + the built output).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, posix } from 'node:path'
import { request } from 'undici'
import { parseAllDocuments, parse } from 'yaml'
import { ROOT } from '../helpers/root.js'
import { startUpstream } from '../helpers/upstream.js'
import { parseConfig } from '../../src/config/load.js'
import { compileContainerPolicy } from '../../src/policy/index.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { REASONS } from '../../src/errors.js'
import { runTollgate, msg, serveSetup, writeServeConfig } from './helpers.js'

type Obj = Record<string, any>
const K8S = join(ROOT, 'deploy', 'kubernetes')

function manifests (): { files: string[], objects: Array<Obj & { file: string }> } {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml')).sort()
  const objects: Array<Obj & { file: string }> = []
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S, f), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${f} is valid YAML`)
      const o = doc.toJS() as Obj | null
      if (o !== null) objects.push({ ...o, file: f })
    }
  }
  return { files, objects }
}

/** Dockerfile instructions (continuation lines joined), by stage. */
function dockerfile (): { args: Record<string, string>, stages: Array<{ from: string, name: string, lines: string[] }> } {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const args: Record<string, string> = {}
  const stages: Array<{ from: string, name: string, lines: string[] }> = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line)
    if (m !== null) { stages.push({ from: m[1], name: m[2] ?? '', lines: [] }); continue }
    if (stages.length === 0) {
      const a = /^ARG\s+([A-Z_]+)=(\S+)$/.exec(line)
      if (a !== null) args[a[1]] = a[2]
      continue
    }
    stages[stages.length - 1].lines.push(line.replace(/\s+/g, ' '))
  }
  return { args, stages }
}

test('kubernetes: the kustomization lists every manifest; probes, ports, mounts, Secrets and the config agree', () => {
  const { files, objects } = manifests()
  const kind = (k: string): Array<Obj & { file: string }> => objects.filter((o) => o.kind === k)
  const one = (k: string): Obj => { const l = kind(k); assert.equal(l.length, 1, `one ${k}`); return l[0] }

  const kustomization = one('Kustomization')
  assert.deepEqual([...kustomization.resources].sort(), files.filter((f) => f !== 'kustomization.yaml'))

  const deployment = one('Deployment')
  const pod = deployment.spec.template.spec
  const labels = deployment.spec.template.metadata.labels
  assert.deepEqual(deployment.spec.selector.matchLabels, labels)
  assert.equal(pod.containers.length, 1)
  const c = pod.containers[0]

  // The config file the container is told to read is the ConfigMap's key, mounted where it says.
  const configPath: string = c.args[c.args.indexOf('--config') + 1]
  assert.equal(c.args[0], 'serve')
  const volumes = new Map<string, Obj>(pod.volumes.map((v: Obj) => [v.name, v]))
  const mountOf = (path: string): { mount: Obj, volume: Obj } => {
    const mount = c.volumeMounts.find((m: Obj) => path.startsWith(m.mountPath + '/'))
    assert.ok(mount, `a volume is mounted above ${path}`)
    return { mount, volume: volumes.get(mount.name) as Obj }
  }
  const cm = mountOf(configPath)
  assert.equal(cm.mount.mountPath, posix.dirname(configPath))
  const configMap = kind('ConfigMap').find((m) => m.metadata.name === cm.volume.configMap?.name)
  assert.ok(configMap, 'the config volume is the ConfigMap')
  const text = configMap.data[posix.basename(configPath)]
  assert.equal(typeof text, 'string', 'the ConfigMap has the key the path names')

  // That config loads and every condition compiles (what `tollgate check` does).
  const config = parseConfig(text, { file: configPath, env: {} })
  for (const [name, cc] of Object.entries(config.containers)) compileContainerPolicy(name, cc.privacy, cc.policies)
  const admin = config.server.admin
  assert.ok(admin !== undefined, 'the config has an admin listener')
  assert.equal(admin.host, '0.0.0.0', 'the kubelet probes the pod IP')
  assert.equal(config.server.listen.https?.host, '0.0.0.0')
  assert.equal(config.server.workers, 1, 'one process per pod; scale with replicas')

  // Ports.
  const ports = new Map<string, number>(c.ports.map((p: Obj) => [p.name, p.containerPort]))
  assert.equal(ports.get('https'), config.server.listen.https?.port)
  assert.equal(ports.get('admin'), admin.port)
  const portOf = (p: string | number): number | undefined => typeof p === 'number' ? p : ports.get(p)
  for (const [probe, path] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    assert.equal(c[probe]?.httpGet?.path, path, probe)
    assert.equal(portOf(c[probe].httpGet.port), admin.port, `${probe} on the admin port`)
  }
  assert.equal(Number(deployment.spec.template.metadata.annotations['prometheus.io/port']), admin.port)
  assert.equal(deployment.spec.template.metadata.annotations['prometheus.io/path'], '/metrics')

  const service = one('Service')
  assert.deepEqual(service.spec.selector, labels)
  for (const p of service.spec.ports) {
    assert.notEqual(portOf(p.targetPort), admin.port, 'the Service never exposes the admin port')
    assert.equal(portOf(p.targetPort), config.server.listen.https?.port)
  }

  // TLS files and stores come from the Secret volumes mounted above them.
  for (const file of [config.server.tls?.cert, config.server.tls?.key]) assert.equal(mountOf(file as string).volume.secret?.secretName, 'tollgate-tls')
  for (const file of [config.secrets?.store, config.credentials?.keys]) assert.equal(mountOf(file as string).volume.secret?.secretName, 'tollgate-stores')

  // The master key is a file from the Secret in the kustomization (never an environment variable).
  assert.equal(c.env.find((e: Obj) => e.name === 'TOLLGATE_MASTER_KEY'), undefined)
  const keyFile = c.env.find((e: Obj) => e.name === 'TOLLGATE_MASTER_KEY_FILE')?.value as string
  const keyMount = mountOf(keyFile)
  const secret = kind('Secret').find((s) => s.metadata.name === keyMount.volume.secret?.secretName)
  assert.ok(secret, 'TOLLGATE_MASTER_KEY_FILE is a file of a Secret of the kustomization')
  assert.ok(keyFile.slice(keyMount.mount.mountPath.length + 1) in secret.stringData)

  // Drain: the grace period covers the shutdown delay (no preStop hook: tollgate keeps answering with
  // Connection: close while the endpoint goes), the drain deadline and a margin.
  assert.equal(c.lifecycle?.preStop, undefined)
  assert.ok(config.server.shutdownDelay >= 5000, 'time for the endpoint to leave the Service')
  assert.ok(pod.terminationGracePeriodSeconds * 1000 >= config.server.shutdownDelay + config.server.drainTimeout + 5000)

  // Non-root, as the image; the root filesystem can be read-only (tollgate writes nothing at run time).
  assert.equal(pod.securityContext.runAsNonRoot, true)
  assert.equal(pod.securityContext.runAsUser, 1000)
  assert.equal(c.securityContext.readOnlyRootFilesystem, true)
  assert.equal(c.securityContext.allowPrivilegeEscalation, false)

  // Autoscaling on CPU needs a CPU request; the HPA and PDB point at this Deployment's pods.
  const hpa = one('HorizontalPodAutoscaler')
  assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment')
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name)
  assert.ok(c.resources.requests.cpu)
  assert.deepEqual(one('PodDisruptionBudget').spec.selector.matchLabels, labels)

  // The image name matches the kustomization's override.
  assert.equal(kustomization.images[0].name, c.image.split(':')[0])
})

test('Dockerfile: multi-stage, Node LTS, production dependencies only, non-root, TZ=UTC, health check and ports as deployed', () => {
  const { args, stages } = dockerfile()
  assert.equal(stages.length, 2)
  const [build, runtime] = stages
  assert.equal(build.name, 'build')
  assert.equal(runtime.name, 'runtime')
  const image = args.NODE_IMAGE
  const major = Number(/^node:(\d+)-slim$/.exec(image)?.[1])
  assert.ok(major >= 24 && major % 2 === 0, `${image}: an even (LTS) Node line`)
  assert.ok(major >= 20, 'at least the engines floor')
  for (const s of stages) assert.equal(s.from, '${NODE_IMAGE}')

  const has = (lines: string[], re: RegExp): boolean => lines.some((l) => re.test(l))
  assert.ok(has(build.lines, /^RUN npm ci --ignore-scripts/))
  assert.ok(has(build.lines, /^RUN npx tsc -p tsconfig\.json$/))
  assert.ok(has(runtime.lines, /^RUN npm ci --omit=dev --ignore-scripts\b/), 'production dependencies only')
  assert.ok(has(runtime.lines, /^COPY --from=build \/src\/dist\/src \.\/dist\/src$/))
  assert.ok(has(runtime.lines, /^COPY bin \.\/bin$/))
  assert.ok(has(runtime.lines, /^ENV .*\bTZ=UTC\b/))
  assert.ok(has(runtime.lines, /^ENV .*\bNODE_ENV=production\b/))
  const user = runtime.lines.filter((l) => l.startsWith('USER '))
  assert.deepEqual(user, ['USER node'], 'runs as the unprivileged node user (uid 1000)')
  assert.ok(runtime.lines.findIndex((l) => l.startsWith('USER ')) > runtime.lines.findIndex((l) => l.startsWith('RUN ')), 'USER after the last RUN')

  // Ports and health check agree with the Kubernetes config.
  const { objects } = manifests()
  const cm = objects.find((o) => o.kind === 'ConfigMap')
  const config = parse(cm?.data['tollgate.yaml'])
  const expose = runtime.lines.find((l) => l.startsWith('EXPOSE '))?.split(' ').slice(1).map(Number) ?? []
  assert.ok(expose.includes(config.server.listen.https?.port))
  assert.ok(expose.includes(config.server.admin.port))
  const healthUrl = /TOLLGATE_HEALTHCHECK_URL=(\S+)/.exec(runtime.lines.join('\n'))?.[1]
  assert.equal(healthUrl, `http://127.0.0.1:${config.server.admin.port as number}/healthz`)
  const health = runtime.lines.find((l) => l.startsWith('HEALTHCHECK '))
  assert.match(health ?? '', /CMD \["node", "-e", ".*process\.env\.TOLLGATE_HEALTHCHECK_URL.*"\]$/)
  assert.ok(![9090, 9091, 8008, 8012, 8013, 8022].includes(config.server.admin.port), 'not a port Scaleway reserves')

  const entry = JSON.parse(runtime.lines.find((l) => l.startsWith('ENTRYPOINT '))?.slice('ENTRYPOINT '.length) ?? '[]') as string[]
  assert.deepEqual(entry, ['node', '/app/bin/tollgate.js'])
  assert.ok(existsSync(join(ROOT, 'bin', 'tollgate.js')))
  const cmd = JSON.parse(runtime.lines.find((l) => l.startsWith('CMD '))?.slice('CMD '.length) ?? '[]') as string[]
  assert.deepEqual(cmd, ['serve', '--config', '/etc/tollgate/tollgate.yaml', '--port-from-env'])

  // Everything the build copies is in the build context.
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'bin']) assert.ok(ignore.includes(`!${path}`), `.dockerignore lets ${path} in`)
})

test('cockpit: the dashboard and the alert rules query only series tollgate exports, with real label values', async () => {
  const exported = new Set<string>()
  const m = createMetrics({ defaultMetrics: true })
  for (const line of (await m.text()).split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (t === null) continue
    exported.add(t[1])
    if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(t[1] + s)
  }
  for (const name of ['tollgate_workers', 'tollgate_worker_restarts_total']) exported.add(name) // the cluster primary's

  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'cockpit', 'dashboard.json'), 'utf8')) as Obj
  assert.equal(typeof dashboard.title, 'string')
  const exprs: string[] = []
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach(walk)
    else if (o !== null && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) {
        if (k === 'expr' && typeof v === 'string') exprs.push(v)
        else walk(v)
      }
    }
  }
  walk(dashboard.panels)
  assert.ok(exprs.length >= 15)
  const ids = dashboard.panels.map((p: Obj) => p.id)
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')

  const alerts = parse(readFileSync(join(ROOT, 'deploy', 'cockpit', 'alerts.yaml'), 'utf8')) as Obj
  const rules = alerts.groups.flatMap((g: Obj) => g.rules) as Obj[]
  const names = rules.map((r) => r.alert as string)
  for (const needed of ['TollgateHigh5xxRatio', 'TollgateDenySpike', 'TollgateUpstreamTimeouts', 'TollgateSecretRefreshFailing', 'TollgateP99LatencyHigh']) {
    assert.ok(names.includes(needed), needed)
  }
  for (const r of rules) {
    assert.equal(typeof r.expr, 'string', r.alert)
    assert.match(String(r.for), /^\d+[smh]$/, `${r.alert as string}: for`)
    assert.ok(['page', 'warning'].includes(r.labels?.severity), `${r.alert as string}: severity`)
    assert.equal(typeof r.annotations?.summary, 'string', `${r.alert as string}: summary`)
    exprs.push(r.expr)
  }

  const reasons = new Set(Object.keys(REASONS))
  for (const expr of exprs) {
    for (const [name] of expr.matchAll(/\b(?:tollgate|process|nodejs)_[a-z0-9_]+/g)) assert.ok(exported.has(name), `${name} (in ${expr.slice(0, 80)}…) is exported`)
    for (const [, v] of expr.matchAll(/\breason="([^"]+)"/g)) assert.ok(reasons.has(v), `reason "${v}"`)
    for (const [, v] of expr.matchAll(/\breason[=!]~"([^"]+)"/g)) {
      for (const alt of v.split('|')) assert.ok([...reasons].some((r) => new RegExp(`^(?:${alt})$`).test(r)), `reason pattern "${alt}" matches a reason`)
    }
    for (const [, v] of expr.matchAll(/\bstatus_class="([^"]+)"/g)) assert.ok(['1xx', '2xx', '3xx', '4xx', '5xx', 'other'].includes(v))
    for (const [, v] of expr.matchAll(/\boutcome="([^"]+)"/g)) assert.ok(['success', 'failure'].includes(v))
  }

  const alloy = readFileSync(join(ROOT, 'deploy', 'cockpit', 'config.alloy'), 'utf8')
  assert.match(alloy, /"X-TOKEN" = sys\.env\("COCKPIT_TOKEN"\)/)
  assert.match(alloy, /metrics\.cockpit\.[a-z-]+\.scw\.cloud\/api\/v1\/push/)
  assert.match(alloy, /logs\.cockpit\.[a-z-]+\.scw\.cloud\/loki\/api\/v1\/push/)
})

test('the runtime stage, replayed: npm ci --omit=dev --ignore-scripts plus the built output starts the gateway', { timeout: 240_000 }, async () => {
  const app = mkdtempSync(join(tmpdir(), 'tollgate-prod-'))
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f))
  const npm = process.env.npm_execpath !== undefined && basename(process.env.npm_execpath).startsWith('npm')
    ? [process.execPath, process.env.npm_execpath]
    : ['npm']
  const ci = spawnSync(npm[0], [...npm.slice(1), 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app, encoding: 'utf8', timeout: 200_000, env: { ...process.env, NODE_ENV: 'production' }
  })
  assert.equal(ci.status, 0, ci.stderr)
  for (const dev of ['typescript', 'tsx', 'autocannon', 'eslint', '@types/node']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is a dev dependency`)
  assert.ok(existsSync(join(app, 'node_modules', 'prom-client')))
  cpSync(join(ROOT, 'dist', 'src'), join(app, 'dist', 'src'), { recursive: true })
  cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true })

  const up = await startUpstream({ tls: false })
  const file = writeServeConfig(serveSetup(), { a: { upstream: up.url, match: { path: '/a' }, token: '${env:PROD_TOKEN}', privacy: 'public' } })
  const g = runTollgate(['serve', '--config', file], { PROD_TOKEN: 'prod-token-1234', NODE_ENV: 'production', TZ: 'UTC' }, app, join(app, 'bin', 'tollgate.js'))
  try {
    const l = await g.waitFor(msg('tollgate listening'), 30_000, 'tollgate listening')
    const r = await request(`http://127.0.0.1:${l.http.port as number}/a/x`)
    assert.equal(r.statusCode, 200)
    await r.body.text()
    const ready = await request(`http://127.0.0.1:${l.admin.port as number}/readyz`)
    assert.equal(ready.statusCode, 200)
    await ready.body.text()
    const metrics = await request(`http://127.0.0.1:${l.admin.port as number}/metrics`)
    assert.match(await metrics.body.text(), /tollgate_build_info\{version="0\.1\.0"/)
    g.kill('SIGTERM')
    assert.deepEqual(await g.exited, { code: 0, signal: null })
  } finally {
    g.kill('SIGKILL')
    await up.close()
  }
})
