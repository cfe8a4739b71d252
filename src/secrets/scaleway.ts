// A minimal Scaleway Secret Manager client (v1beta1): one call (`scwRequest`), and reading one
// secret version's data (`accessSecretVersion`); src/secrets/scaleway-state.ts adds the version
// list, creation and deletion a store kept there needs.
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
  /** Scaleway's JSON error body (only short, known fields of it ever reach a message). */
  readonly body: Record<string, unknown>
  constructor (message: string, status?: number, retryAfterMs?: number, body: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ScwAccessError'
    this.status = status
    this.retryAfterMs = retryAfterMs
    this.body = body
  }
}

const MAX_BODY = 1024 * 1024

/** The access call for a target (no secret in it: ids, names and paths only). */
function accessCall (t: ScwTarget): Pick<ScwCall, 'path' | 'query'> {
  const rev = encodeURIComponent(t.revision)
  if (t.by === 'id') return { path: `/secrets/${encodeURIComponent(t.id)}/versions/${rev}/access` }
  return { path: `/secrets-by-path/versions/${rev}/access`, query: { project_id: t.projectId ?? '', secret_name: t.name, secret_path: t.path } }
}

/** A short description of the target for messages, e.g. `secret 11111111-… in fr-par`. */
export function describeTarget (t: ScwTarget): string {
  return t.by === 'id'
    ? `secret ${t.id} in ${t.region}`
    : `secret "${t.name}" in folder ${t.path} of project ${t.projectId ?? '?'} in ${t.region}`
}

/** One Secret Manager call: method, path below `/secret-manager/v1beta1/regions/{region}`, query, JSON body. */
export interface ScwCall {
  method: 'GET' | 'POST' | 'DELETE'
  region: string
  path: string
  query?: Record<string, string>
  body?: Record<string, unknown>
  /** What the call is about, for messages (`secret … in fr-par`). */
  what: string
  signal?: AbortSignal
}

/**
 * Sends one call with X-Auth-Token and returns the status and the JSON answer (an object; `{}` for
 * an empty or non-JSON body). Throws ScwAccessError when Scaleway cannot be reached, answers too
 * slowly or too much, or answers anything but 2xx (described by status, type and reason only).
 */
export async function scwRequest (opts: ScwClientOptions, token: string, call: ScwCall): Promise<{ status: number, body: Record<string, unknown> }> {
  const q = call.query === undefined ? '' : `?${new URLSearchParams(call.query).toString()}`
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/secret-manager/v1beta1/regions/${encodeURIComponent(call.region)}${call.path}${q}`
  const origin = new URL(url).origin
  const deadline = AbortSignal.timeout(opts.timeout)
  const combined = call.signal === undefined ? deadline : AbortSignal.any([call.signal, deadline])
  let status: number
  let text: string
  try {
    const headers: Record<string, string> = { 'x-auth-token': token, accept: 'application/json', 'user-agent': 'tollgate' }
    if (call.body !== undefined) headers['content-type'] = 'application/json'
    const res = await request(url, {
      method: call.method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
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
    if (call.signal?.aborted === true) throw new ScwAccessError('cancelled (the resolver was closed)')
    const code = (err as { code?: unknown }).code
    throw new ScwAccessError(`cannot reach ${origin} (${typeof code === 'string' ? code : (err as Error).name})`)
  }
  let body: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
  } catch {
    // not JSON (or empty, as a 204): described by status alone
  }
  if (status < 200 || status > 299) throw errorFor(status, body, call.what, undefined)
  return { status, body }
}

/** Decodes the base64 `data` of an access answer. */
export function versionData (body: Record<string, unknown>, origin: string): Buffer {
  const data = body.data
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw new ScwAccessError(`unexpected answer from ${origin}: no base64 "data" field`, 200)
  }
  return Buffer.from(data, 'base64')
}

/**
 * GETs …/versions/{revision}/access with X-Auth-Token and returns the decoded `data`. Throws
 * ScwAccessError on any failure.
 */
export async function accessSecretVersion (opts: ScwClientOptions, token: string, t: ScwTarget, signal?: AbortSignal): Promise<Buffer> {
  const what = describeTarget(t)
  try {
    const { body } = await scwRequest(opts, token, { method: 'GET', region: t.region, ...accessCall(t), what, signal })
    return versionData(body, new URL(opts.baseUrl).origin)
  } catch (err) {
    // described again with the revision asked for, and Scaleway's 500 for a missing secret by path
    if (err instanceof ScwAccessError && err.status !== undefined && err.status !== 200) throw errorFor(err.status, err.body, what, t)
    throw err
  }
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9_.:/ -]{1,80}$/.test(v) ? v : undefined
}

function errorFor (status: number, body: Record<string, unknown>, what: string, t: ScwTarget | undefined): ScwAccessError {
  const type = str(body.type)
  switch (status) {
    case 401: {
      const reason = str(body.reason)
      return new ScwAccessError(`Scaleway denied authentication (401 ${type ?? 'denied_authentication'}` +
        `${reason !== undefined ? `, ${str(body.method) ?? 'api_key'} ${reason}` : ''}): check secrets.scaleway.secretKey`, status, undefined, body)
    }
    case 403: {
      const action = str((Array.isArray(body.details) ? body.details[0] as Record<string, unknown> | undefined : undefined)?.action)
      return new ScwAccessError(`Scaleway denied access to ${what} (403 ${type ?? 'permissions_denied'}): ` +
        (action === undefined || action === 'read'
          ? 'the IAM key needs SecretManagerSecretAccess on its project'
          : action === 'list'
            ? 'the IAM key needs SecretManagerReadOnly on its project to list'
            : `the IAM key needs SecretManagerFullAccess on its project to ${action}`), status, undefined, body)
    }
    case 404:
      return new ScwAccessError(`${what}${t === undefined ? '' : ` or its revision ${t.revision}`} was not found (404 ${type ?? 'not_found'})`, status, undefined, body)
    case 429: {
      const reset = typeof body.reset_seconds === 'number' && body.reset_seconds >= 0 ? body.reset_seconds : undefined
      return new ScwAccessError(`rate limited by Scaleway (429 ${type ?? 'too_many_requests'}` +
        `${reset !== undefined ? `, resets in ${reset}s` : ''})`, status, reset !== undefined ? reset * 1000 : undefined, body)
    }
    case 500:
      if (t?.by === 'path') {
        // Scaleway has been seen answering 500 for a missing secret read by path.
        return new ScwAccessError(`Scaleway answered 500 for ${what} (it does so for a missing secret read by path)`, status, undefined, body)
      }
      break
  }
  return new ScwAccessError(`Scaleway answered HTTP ${status}${type !== undefined ? ` ${type}` : ''} for ${what}`, status, undefined, body)
}
