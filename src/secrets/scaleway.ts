// A minimal Scaleway Secret Manager client (v1beta1): read one secret version's data.
// Errors carry a message that is safe to log: status, Scaleway's error type and reason, never the
// key, the value or a raw response body.
import { request } from 'undici'
import type { ScwTarget } from './refs.js'

export interface ScwClientOptions {
  baseUrl: string
  /** Whole-request deadline (ms). */
  timeout: number
}

export class ScwAccessError extends Error {
  /** HTTP status, when Scaleway answered. */
  readonly status: number | undefined
  /** Earliest sensible retry (ms), from a 429's reset_seconds. */
  readonly retryAfterMs: number | undefined
  constructor (message: string, status?: number, retryAfterMs?: number) {
    super(message)
    this.name = 'ScwAccessError'
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
}

const MAX_BODY = 1024 * 1024

/** The access URL for a target (no secret in it: ids, names and paths only). */
export function accessUrl (baseUrl: string, t: ScwTarget): string {
  const base = `${baseUrl.replace(/\/+$/, '')}/secret-manager/v1beta1/regions/${encodeURIComponent(t.region)}`
  const rev = encodeURIComponent(t.revision)
  if (t.by === 'id') return `${base}/secrets/${encodeURIComponent(t.id)}/versions/${rev}/access`
  const q = new URLSearchParams({ project_id: t.projectId ?? '', secret_name: t.name, secret_path: t.path })
  return `${base}/secrets-by-path/versions/${rev}/access?${q.toString()}`
}

/** A short description of the target for messages, e.g. `secret 11111111-… in fr-par`. */
export function describeTarget (t: ScwTarget): string {
  return t.by === 'id'
    ? `secret ${t.id} in ${t.region}`
    : `secret "${t.name}" in folder ${t.path} of project ${t.projectId ?? '?'} in ${t.region}`
}

/**
 * GETs …/versions/{revision}/access with X-Auth-Token and returns the decoded `data`. Throws
 * ScwAccessError on any failure.
 */
export async function accessSecretVersion (opts: ScwClientOptions, token: string, t: ScwTarget, signal?: AbortSignal): Promise<Buffer> {
  const url = accessUrl(opts.baseUrl, t)
  const origin = new URL(url).origin
  const deadline = AbortSignal.timeout(opts.timeout)
  const combined = signal === undefined ? deadline : AbortSignal.any([signal, deadline])
  let status: number
  let text: string
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { 'x-auth-token': token, accept: 'application/json', 'user-agent': 'tollgate' },
      signal: combined,
      headersTimeout: opts.timeout,
      bodyTimeout: opts.timeout
    })
    status = res.statusCode
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > MAX_BODY) {
        res.body.destroy()
        throw new ScwAccessError(`the answer from ${origin} is larger than ${MAX_BODY} bytes`, status)
      }
      chunks.push(chunk)
    }
    text = Buffer.concat(chunks).toString('utf8')
  } catch (err) {
    if (err instanceof ScwAccessError) throw err
    if (deadline.aborted) throw new ScwAccessError(`no answer from ${origin} within ${opts.timeout} ms`)
    if (signal?.aborted === true) throw new ScwAccessError('cancelled (the resolver was closed)')
    const code = (err as { code?: unknown }).code
    throw new ScwAccessError(`cannot reach ${origin} (${typeof code === 'string' ? code : (err as Error).name})`)
  }
  let body: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
  } catch {
    // not JSON: described by status alone
  }
  if (status !== 200) throw errorFor(status, body, t)
  const data = body.data
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw new ScwAccessError(`unexpected answer from ${origin}: no base64 "data" field`, status)
  }
  return Buffer.from(data, 'base64')
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9_.:/ -]{1,80}$/.test(v) ? v : undefined
}

function errorFor (status: number, body: Record<string, unknown>, t: ScwTarget): ScwAccessError {
  const type = str(body.type)
  const what = describeTarget(t)
  switch (status) {
    case 401: {
      const reason = str(body.reason)
      return new ScwAccessError(`Scaleway denied authentication (401 ${type ?? 'denied_authentication'}` +
        `${reason !== undefined ? `, ${str(body.method) ?? 'api_key'} ${reason}` : ''}): check secrets.scaleway.secretKey`, status)
    }
    case 403:
      return new ScwAccessError(`Scaleway denied access to ${what} (403 ${type ?? 'permissions_denied'}): ` +
        'the IAM key needs SecretManagerSecretAccess on its project', status)
    case 404:
      return new ScwAccessError(`${what} or its revision ${t.revision} was not found (404 ${type ?? 'not_found'})`, status)
    case 429: {
      const reset = typeof body.reset_seconds === 'number' && body.reset_seconds >= 0 ? body.reset_seconds : undefined
      return new ScwAccessError(`rate limited by Scaleway (429 ${type ?? 'too_many_requests'}` +
        `${reset !== undefined ? `, resets in ${reset}s` : ''})`, status, reset !== undefined ? reset * 1000 : undefined)
    }
    case 500:
      if (t.by === 'path') {
        // Scaleway has been seen answering 500 for a missing secret read by path.
        return new ScwAccessError(`Scaleway answered 500 for ${what} (it does so for a missing secret read by path)`, status)
      }
      break
  }
  return new ScwAccessError(`Scaleway answered HTTP ${status}${type !== undefined ? ` ${type}` : ''} for ${what}`, status)
}
