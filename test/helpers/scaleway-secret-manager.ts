// A local stand-in for Scaleway Secret Manager (v1beta1), speaking the documented shapes
// (the API reference and scaleway-sdk-js's generated client): access by id and by path; secrets
// (create, get, list by project/name/path, delete); versions (create with a description, list with
// pagination and a status filter, get, delete, enable, disable); X-Auth-Token authentication; and
// Scaleway's standard JSON error bodies for 400/401/403/404/409/429/500. It can be made slow, rate
// limited, failing, or stopped and started again on the same port; `beforeCreateVersion` lets a
// test slip a concurrent writer's version in between a read and a write.
//
//   const sm = await FakeSecretManager.start()
//   const key = sm.addKey()                                  // a random IAM secret key with access
//   const s = sm.createSecret({ projectId, name: 'db', value: 'v1' })
//   GET `${sm.url}/secret-manager/v1beta1/regions/fr-par/secrets/${s.id}/versions/latest_enabled/access`
//   await sm.close()
//
// Assumptions where the documentation is silent: a disabled or missing revision answers 404
// `not_found` (resource `secret_version`); an unknown region answers 404. Revisions are numbered
// 1, 2, 3… per secret and never reused ("all subsequent revisions augment by 1"); a deleted version
// stays listed as `scheduled_for_deletion` (Scaleway keeps deleted versions 7 days) and cannot be
// accessed. A version's data is at most 64 KiB (400 `invalid_arguments` on `data` past it); a
// secret holds at most `versionLimit` versions that are not deleted (20, Scaleway's documented
// limit; 403 `quotas_exceeded` past it — the exact answer is undocumented).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { randomUUID } from 'node:crypto'

export const REGIONS = ['fr-par', 'nl-ams', 'pl-waw'] as const

export interface FakeKey {
  /** false: authenticated but without SecretManagerSecretAccess (403 on data access). */
  access: boolean
  /** Answer 401 `expired`. */
  expired: boolean
  /** Restrict to these projects (403 elsewhere); undefined = every project. */
  projects: string[] | undefined
}

export interface FakeVersion {
  revision: number
  data: Buffer
  status: 'enabled' | 'disabled' | 'scheduled_for_deletion'
  description: string | undefined
  createdAt: string
  updatedAt: string
}

/** Scaleway's documented limit on a version's data. */
export const MAX_VERSION_BYTES = 64 * 1024

export interface FakeSecret {
  id: string
  region: string
  projectId: string
  name: string
  path: string
  createdAt: string
  updatedAt: string
  versions: FakeVersion[]
  /** The revision the next version gets. */
  nextRevision: number
}

/** One request as seen by the server. The token is never recorded, only how it was judged. */
export interface SeenRequest {
  method: string
  path: string
  query: Record<string, string>
  auth: 'ok' | 'missing' | 'unknown' | 'expired'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const REVISION = /^(?:[1-9][0-9]*|latest|latest_enabled)$/
const PREFIX = '/secret-manager/v1beta1/regions/'

export class FakeSecretManager {
  readonly secrets = new Map<string, FakeSecret>()
  readonly keys = new Map<string, FakeKey>()
  readonly requests: SeenRequest[] = []
  /** Delay before each answer (ms): makes the server slow. */
  delay = 0
  /** Versions a secret may hold (not counting deleted ones). */
  versionLimit = 20
  /**
   * Runs when a version-creation call arrives, before the version is made: a test can add another
   * writer's version there (a concurrent write landing between a reader's read and its write).
   */
  beforeCreateVersion: ((secret: FakeSecret) => void | Promise<void>) | undefined
  #server: Server
  #sockets = new Set<Socket>()
  #port = 0
  #host: string
  #failures: Array<{ status: number, body?: Record<string, unknown> }> = []
  #rateLimited = 0
  #resetSeconds = 1

  private constructor (host: string) {
    this.#host = host
    this.#server = this.#makeServer()
  }

  static async start (opts: { host?: string, port?: number } = {}): Promise<FakeSecretManager> {
    const sm = new FakeSecretManager(opts.host ?? '127.0.0.1')
    sm.#port = opts.port ?? 0
    await sm.listen()
    return sm
  }

  /** Base URL to configure as `secrets.scaleway.baseUrl`. */
  get url (): string {
    return `http://${this.#host}:${this.#port}`
  }

  get port (): number {
    return this.#port
  }

  /** Starts listening (again, on the same port after `stop()`). */
  async listen (): Promise<void> {
    if (this.#server.listening) return
    this.#server = this.#makeServer()
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', reject)
        this.#port = (this.#server.address() as AddressInfo).port
        resolve()
      })
    })
  }

  /** Stops listening and drops every connection: "Scaleway is down". `listen()` brings it back. */
  async stop (): Promise<void> {
    if (!this.#server.listening) return
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    await closed
  }

  async close (): Promise<void> {
    await this.stop()
  }

  /** Registers an IAM secret key (random UUID unless given) and returns it. */
  addKey (secretKey: string = randomUUID(), opts: Partial<FakeKey> = {}): string {
    this.keys.set(secretKey, { access: opts.access ?? true, expired: opts.expired ?? false, projects: opts.projects })
    return secretKey
  }

  removeKey (secretKey: string): void {
    this.keys.delete(secretKey)
  }

  createSecret (opts: { region?: string, projectId?: string, name: string, path?: string, value?: string | Buffer, id?: string }): FakeSecret {
    const now = new Date().toISOString()
    const secret: FakeSecret = {
      id: opts.id ?? randomUUID(),
      region: opts.region ?? 'fr-par',
      projectId: opts.projectId ?? randomUUID(),
      name: opts.name,
      path: normalizePath(opts.path ?? '/'),
      createdAt: now,
      updatedAt: now,
      versions: [],
      nextRevision: 1
    }
    this.secrets.set(secret.id, secret)
    if (opts.value !== undefined) this.addVersion(secret.id, opts.value)
    return secret
  }

  /** Adds a version (enabled unless told otherwise) and returns its revision. */
  addVersion (secretId: string, value: string | Buffer, opts: { enabled?: boolean, disablePrevious?: boolean, description?: string } = {}): number {
    const s = this.#secret(secretId)
    const now = new Date().toISOString()
    if (opts.disablePrevious === true) for (const v of s.versions) if (v.status === 'enabled') v.status = 'disabled'
    const revision = s.nextRevision++
    s.versions.push({
      revision,
      data: Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'),
      status: opts.enabled === false ? 'disabled' : 'enabled',
      description: opts.description,
      createdAt: now,
      updatedAt: now
    })
    s.updatedAt = now
    return revision
  }

  /** The data of a revision (undefined when there is no such version), as a test reads it back. */
  versionText (secretId: string, revision: number | 'latest'): string | undefined {
    const s = this.#secret(secretId)
    const v = revision === 'latest' ? s.versions.filter((x) => x.status === 'enabled').at(-1) : s.versions.find((x) => x.revision === revision)
    return v?.data.toString('utf8')
  }

  /** Deletes a version (it stays listed as scheduled_for_deletion, and cannot be read). */
  deleteVersion (secretId: string, revision: number): void {
    const v = this.#secret(secretId).versions.find((x) => x.revision === revision)
    if (v === undefined) throw new Error(`no revision ${revision}`)
    v.status = 'scheduled_for_deletion'
    v.updatedAt = new Date().toISOString()
  }

  setVersionStatus (secretId: string, revision: number, status: 'enabled' | 'disabled'): void {
    const v = this.#secret(secretId).versions.find((x) => x.revision === revision)
    if (v === undefined) throw new Error(`no revision ${revision}`)
    v.status = status
    v.updatedAt = new Date().toISOString()
  }

  /** How many calls matched `method` and a path ending in `suffix` (e.g. 'POST', '/versions'). */
  callCount (method: string, suffix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.endsWith(suffix)).length
  }

  deleteSecret (secretId: string): void {
    this.secrets.delete(secretId)
  }

  /** The next `count` requests answer `status` with Scaleway's standard body for it (or `body`). */
  failNext (status: number, count = 1, body?: Record<string, unknown>): void {
    for (let i = 0; i < count; i++) this.#failures.push(body === undefined ? { status } : { status, body })
  }

  /** The next `count` requests answer 429 too_many_requests with `reset_seconds`. */
  rateLimit (count = 1, resetSeconds = 1): void {
    this.#rateLimited += count
    this.#resetSeconds = resetSeconds
  }

  /** How many data-access calls were made (for one secret id or by-path name, or all). */
  accessCount (idOrName?: string): number {
    return this.requests.filter((r) => r.path.endsWith('/access') &&
      (idOrName === undefined || r.path.includes(`/secrets/${idOrName}/`) || r.query.secret_name === idOrName)).length
  }

  #secret (id: string): FakeSecret {
    const s = this.secrets.get(id)
    if (s === undefined) throw new Error(`no secret ${id}`)
    return s
  }

  #makeServer (): Server {
    const server = createServer((req, res) => { this.#handle(req, res).catch(() => { if (!res.headersSent) send(res, 500, { message: 'internal error', type: 'internal' }) }) })
    server.on('connection', (s) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
    return server
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const token = req.headers['x-auth-token']
    const key = typeof token === 'string' ? this.keys.get(token) : undefined
    const auth: SeenRequest['auth'] = typeof token !== 'string' || token === '' ? 'missing' : key === undefined ? 'unknown' : key.expired ? 'expired' : 'ok'
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), auth })
    const body = await readBody(req)
    if (this.delay > 0) await new Promise((resolve) => setTimeout(resolve, this.delay))
    if (res.destroyed) return

    const failure = this.#failures.shift()
    if (failure !== undefined) return send(res, failure.status, failure.body ?? standardError(failure.status))
    if (this.#rateLimited > 0) {
      this.#rateLimited--
      return send(res, 429, {
        type: 'too_many_requests',
        message: 'too many requests',
        help_message: 'slow down',
        limit: { quota: 10, window_seconds: 1 },
        reset_seconds: this.#resetSeconds
      })
    }

    if (auth === 'missing') return send(res, 401, denied('invalid_argument'))
    if (auth === 'unknown') return send(res, 401, denied('not_found'))
    if (auth === 'expired') return send(res, 401, denied('expired'))

    if (!url.pathname.startsWith(PREFIX)) return send(res, 404, { message: 'route not found', type: 'not_found' })
    const [region, ...rest] = url.pathname.slice(PREFIX.length).split('/')
    if (region === undefined || !(REGIONS as readonly string[]).includes(region)) {
      return send(res, 404, { message: `unknown region ${region ?? ''}`, type: 'not_found' })
    }
    const method = req.method ?? 'GET'
    const k = key!

    // GET secrets-by-path/versions/{revision}/access?project_id&secret_name&secret_path
    if (method === 'GET' && rest.length === 4 && rest[0] === 'secrets-by-path' && rest[1] === 'versions' && rest[3] === 'access') {
      const projectId = url.searchParams.get('project_id') ?? ''
      const name = url.searchParams.get('secret_name') ?? ''
      const path = normalizePath(url.searchParams.get('secret_path') ?? '/')
      if (!UUID.test(projectId)) return send(res, 400, invalidArgument('project_id', 'must be a valid UUID'))
      if (name === '') return send(res, 400, invalidArgument('secret_name', 'required', 'required'))
      if (!REVISION.test(rest[2]!)) return send(res, 400, invalidArgument('revision', 'must be a number, latest or latest_enabled'))
      const s = [...this.secrets.values()].find((x) => x.region === region && x.projectId === projectId && x.name === name && x.path === path)
      if (!canAccess(k, projectId)) return send(res, 403, permissionsDenied())
      if (s === undefined) return send(res, 404, notFound('secret', name))
      return this.#access(res, k, s, rest[2]!)
    }

    if (rest[0] !== 'secrets') return send(res, 404, { message: 'route not found', type: 'not_found' })

    // GET secrets?project_id&name&path&page&page_size
    if (method === 'GET' && rest.length === 1) {
      const projectId = url.searchParams.get('project_id') ?? undefined
      const name = url.searchParams.get('name') ?? undefined
      const path = url.searchParams.get('path') ?? undefined
      if (projectId !== undefined && !UUID.test(projectId)) return send(res, 400, invalidArgument('project_id', 'must be a valid UUID'))
      if (projectId !== undefined && !canAccess(k, projectId, true)) return send(res, 403, permissionsDenied('list', 'secret'))
      const all = [...this.secrets.values()].filter((x) => x.region === region && canAccess(k, x.projectId, true) &&
        (projectId === undefined || x.projectId === projectId) && (name === undefined || x.name === name) &&
        (path === undefined || x.path === normalizePath(path)))
      return send(res, 200, { ...page(url, all.map(secretJson), 'secrets') })
    }

    // POST secrets
    if (method === 'POST' && rest.length === 1) {
      const b = body as { project_id?: unknown, name?: unknown, path?: unknown }
      if (typeof b.project_id !== 'string' || !UUID.test(b.project_id)) return send(res, 400, invalidArgument('project_id', 'must be a valid UUID'))
      if (typeof b.name !== 'string' || b.name === '') return send(res, 400, invalidArgument('name', 'required', 'required'))
      if (!canAccess(k, b.project_id)) return send(res, 403, permissionsDenied('write'))
      const path = normalizePath(typeof b.path === 'string' ? b.path : '/')
      if ([...this.secrets.values()].some((x) => x.region === region && x.projectId === b.project_id && x.name === b.name && x.path === path)) {
        return send(res, 409, { type: 'already_exists', resource: 'secret', resource_id: b.name, help_message: 'a secret with this name already exists in this path' })
      }
      return send(res, 200, secretJson(this.createSecret({ region, projectId: b.project_id, name: b.name, path })))
    }

    const id = rest[1] ?? ''
    if (!UUID.test(id)) return send(res, 400, invalidArgument('secret_id', 'must be a valid UUID'))
    const s = this.secrets.get(id)
    const found = s !== undefined && s.region === region ? s : undefined

    // GET/DELETE secrets/{id}
    if (rest.length === 2 && (method === 'GET' || method === 'DELETE')) {
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId, true)) return send(res, 403, permissionsDenied('read', 'secret'))
      if (method === 'DELETE') {
        this.secrets.delete(id)
        res.writeHead(204).end()
        return
      }
      return send(res, 200, secretJson(found))
    }
    if (rest[2] !== 'versions') return send(res, 404, { message: 'route not found', type: 'not_found' })

    // GET secrets/{id}/versions?page&page_size&status
    if (method === 'GET' && rest.length === 3) {
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId, true)) return send(res, 403, permissionsDenied('read', 'secret'))
      const statuses = url.searchParams.getAll('status')
      const versions = found.versions.filter((v) => statuses.length === 0 || statuses.includes(v.status))
      return send(res, 200, page(url, versions.map((v) => versionJson(found, v)), 'versions'))
    }
    // POST secrets/{id}/versions {data, description, disable_previous}
    if (method === 'POST' && rest.length === 3) {
      const b = body as { data?: unknown, disable_previous?: unknown, description?: unknown }
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId)) return send(res, 403, permissionsDenied('write'))
      if (typeof b.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b.data)) return send(res, 400, invalidArgument('data', 'must be base64'))
      const data = Buffer.from(b.data, 'base64')
      if (data.length > MAX_VERSION_BYTES) return send(res, 400, invalidArgument('data', `must be at most ${MAX_VERSION_BYTES} bytes`))
      if (found.versions.filter((v) => v.status !== 'scheduled_for_deletion').length >= this.versionLimit) {
        return send(res, 403, { type: 'quotas_exceeded', message: 'quota(s) exceeded for this resource', details: [{ resource: 'secret_version', quota: this.versionLimit, current: this.versionLimit }] })
      }
      await this.beforeCreateVersion?.(found)
      const revision = this.addVersion(id, data, { disablePrevious: b.disable_previous === true, description: typeof b.description === 'string' ? b.description : undefined })
      return send(res, 200, versionJson(found, found.versions.find((v) => v.revision === revision)!))
    }
    // GET/DELETE secrets/{id}/versions/{revision}
    if (rest.length === 4 && (method === 'GET' || method === 'DELETE')) {
      if (!REVISION.test(rest[3]!)) return send(res, 400, invalidArgument('revision', 'must be a number, latest or latest_enabled'))
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId, method === 'GET')) return send(res, 403, permissionsDenied(method === 'GET' ? 'read' : 'delete', 'secret_version'))
      const v = pickVersion(found, rest[3]!)
      if (v === undefined || (method === 'DELETE' && v.status === 'scheduled_for_deletion')) return send(res, 404, notFound('secret_version', rest[3]!))
      if (method === 'DELETE') {
        this.deleteVersion(id, v.revision)
        res.writeHead(204).end()
        return
      }
      return send(res, 200, versionJson(found, v))
    }
    // GET secrets/{id}/versions/{revision}/access
    if (method === 'GET' && rest.length === 5 && rest[4] === 'access') {
      if (!REVISION.test(rest[3]!)) return send(res, 400, invalidArgument('revision', 'must be a number, latest or latest_enabled'))
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId)) return send(res, 403, permissionsDenied())
      return this.#access(res, k, found, rest[3]!)
    }
    // POST secrets/{id}/versions/{revision}/enable|disable
    if (method === 'POST' && rest.length === 5 && (rest[4] === 'enable' || rest[4] === 'disable')) {
      if (found === undefined) return send(res, 404, notFound('secret', id))
      if (!canAccess(k, found.projectId)) return send(res, 403, permissionsDenied('write'))
      const v = pickVersion(found, rest[3]!)
      if (v === undefined) return send(res, 404, notFound('secret_version', rest[3]!))
      v.status = rest[4] === 'enable' ? 'enabled' : 'disabled'
      return send(res, 200, versionJson(found, v))
    }
    return send(res, 404, { message: 'route not found', type: 'not_found' })
  }

  #access (res: ServerResponse, _k: FakeKey, s: FakeSecret, revision: string): void {
    const v = pickVersion(s, revision)
    if (v === undefined || v.status !== 'enabled') return send(res, 404, notFound('secret_version', revision))
    send(res, 200, { secret_id: s.id, revision: v.revision, data: v.data.toString('base64'), type: 'opaque' })
  }
}

function canAccess (k: FakeKey, projectId: string, metadataOnly = false): boolean {
  if (k.projects !== undefined && !k.projects.includes(projectId)) return false
  return metadataOnly || k.access
}

function pickVersion (s: FakeSecret, revision: string): FakeVersion | undefined {
  if (revision === 'latest') return s.versions.filter((v) => v.status !== 'scheduled_for_deletion').at(-1)
  if (revision === 'latest_enabled') return s.versions.filter((v) => v.status === 'enabled').at(-1)
  return s.versions.find((v) => v.revision === Number(revision))
}

function normalizePath (p: string): string {
  const trimmed = p.replace(/\/+$/, '')
  return trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`
}

function secretJson (s: FakeSecret): Record<string, unknown> {
  return {
    id: s.id,
    project_id: s.projectId,
    name: s.name,
    status: 'ready',
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    tags: [],
    version_count: s.versions.filter((v) => v.status !== 'scheduled_for_deletion').length,
    description: null,
    managed: false,
    protected: false,
    type: 'opaque',
    path: s.path,
    region: s.region
  }
}

function versionJson (s: FakeSecret, v: FakeVersion): Record<string, unknown> {
  return {
    revision: v.revision,
    secret_id: s.id,
    status: v.status,
    created_at: v.createdAt,
    updated_at: v.updatedAt,
    deletion_requested_at: v.status === 'scheduled_for_deletion' ? v.updatedAt : null,
    description: v.description ?? null,
    latest: v === s.versions.filter((x) => x.status !== 'scheduled_for_deletion').at(-1),
    region: s.region
  }
}

/** One page of `items` (Scaleway's page / page_size, page_size at most 100) with total_count. */
function page (url: URL, items: Array<Record<string, unknown>>, key: string): Record<string, unknown> {
  const n = Math.min(100, Math.max(1, Number(url.searchParams.get('page_size') ?? '20') || 20))
  const p = Math.max(1, Number(url.searchParams.get('page') ?? '1') || 1)
  return { [key]: items.slice((p - 1) * n, p * n), total_count: items.length }
}

function denied (reason: 'invalid_argument' | 'not_found' | 'expired'): Record<string, unknown> {
  return { type: 'denied_authentication', method: 'api_key', reason, message: `authentication is denied (method: api_key, reason: ${reason})` }
}

function permissionsDenied (action = 'read', resource = 'secret_version'): Record<string, unknown> {
  return { type: 'permissions_denied', message: 'insufficient permissions', details: [{ resource, action }] }
}

function notFound (resource: string, id: string): Record<string, unknown> {
  return { type: 'not_found', message: 'resource is not found', resource, resource_id: id }
}

function invalidArgument (name: string, help: string, reason = 'constraint'): Record<string, unknown> {
  return { type: 'invalid_arguments', message: 'invalid argument(s)', details: [{ argument_name: name, reason, help_message: help }] }
}

/** Scaleway's standard body for a status (what `failNext` sends). */
export function standardError (status: number): Record<string, unknown> {
  switch (status) {
    case 400: return invalidArgument('secret_id', 'must be a valid UUID')
    case 401: return denied('not_found')
    case 403: return permissionsDenied()
    case 404: return notFound('secret', '00000000-0000-0000-0000-000000000000')
    case 409: return { type: 'transient_state', resource: 'secret', resource_id: '00000000-0000-0000-0000-000000000000', current_state: 'locked' }
    case 429: return { type: 'too_many_requests', message: 'too many requests', help_message: 'slow down', reset_seconds: 1 }
    default: return { message: 'internal server error', type: 'internal' }
  }
}

function send (res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  if (chunks.length === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    return {}
  }
}
