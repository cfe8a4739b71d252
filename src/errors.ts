// The one catalogue of tollgate's stable identifiers.
//
// - Reason ids go on the wire (`{"error":…,"reason":…}`), in the access and decision logs and in
//   metrics labels. Each maps to one HTTP status.
// - TG_ERR_* codes name operator-facing failures (config, secrets, TLS, CLI). Each is documented in
//   docs/errors.md; test/errors.test.ts keeps the two in step.

export interface ReasonSpec {
  /** The status tollgate answers with; for a `logged` reason, the status the access line shows. */
  status: number
  /** The `error` field of the JSON body ('' for reasons tollgate never renders itself). */
  error: string
  description: string
  /** The answer ends the connection (HTTP/1.1): what follows on it cannot be trusted. */
  close?: true
  /** Never rendered by tollgate: the outcome of a request that was answered otherwise (logs and metrics only). */
  logged?: true
  /** Answered by tollgate with this status and no body (a CORS preflight). */
  empty?: true
}

export const REASONS = {
  allowed: { status: 200, error: '', logged: true, description: 'A rule granted the request.' },
  owner_bypass: { status: 200, error: '', logged: true, description: 'An owner principal bypassed the conditions (audit-logged).' },
  redirected: { status: 301, error: '', logged: true, description: 'The plain listener sent the client to HTTPS (`httpOption: redirected`).' },
  no_route: { status: 404, error: 'not_found', description: 'No container matches the host and path.' },
  policy_denied: { status: 403, error: 'forbidden', description: 'No rule whose principals match has a true condition.' },
  policy_error: { status: 403, error: 'forbidden', description: 'A condition failed to evaluate; errors deny.' },
  credential_missing: { status: 401, error: 'unauthorized', description: 'A private container was called without a credential.' },
  credential_malformed: { status: 401, error: 'unauthorized', description: 'The credential is not a tollgate key nor a well-formed JWT.' },
  credential_unknown: { status: 401, error: 'unauthorized', description: 'No such key, or a JWT from no accepted issuer or with no matching key.' },
  credential_invalid: { status: 401, error: 'unauthorized', description: 'The JWT signature, algorithm, issuer or audience is not accepted.' },
  credential_expired: { status: 401, error: 'unauthorized', description: 'The key or JWT has expired (or a JWT is not yet valid).' },
  credential_revoked: { status: 401, error: 'unauthorized', description: 'The key was revoked.' },
  credential_out_of_scope: { status: 401, error: 'unauthorized', description: 'The key is scoped to other containers.' },
  cors_preflight: { status: 204, error: '', empty: true, description: 'A CORS preflight from an allowed origin, answered by tollgate (never forwarded; no credential needed).' },
  cors_origin_denied: { status: 204, error: '', empty: true, description: 'A CORS preflight from an origin not in `cors.origins`: answered without any Access-Control-Allow-* field, never forwarded.' },
  rate_limited: { status: 429, error: 'too_many_requests', description: 'A `rateLimit` of the container is exhausted for this client; `Retry-After` says when to come back. The decision line names the limit.' },
  bad_request: { status: 400, error: 'bad_request', close: true, description: 'The request is malformed.' },
  header_underscore: { status: 400, error: 'bad_request', close: true, description: 'A header name contains "_" (could alias X-Auth-Token upstream).' },
  header_duplicate_host: { status: 400, error: 'bad_request', close: true, description: 'More than one Host header, or Host disagrees with an absolute-form target.' },
  path_not_canonical: { status: 400, error: 'bad_request', close: true, description: 'The path has encoded slashes, dot segments, "//", ";", NUL or backslashes.' },
  method_not_allowed: { status: 405, error: 'method_not_allowed', close: true, description: 'CONNECT, TRACE, TRACK and OPTIONS * are not proxied.' },
  payload_too_large: { status: 413, error: 'payload_too_large', close: true, description: 'The body exceeds the container\'s limit.' },
  websocket_bad_handshake: {
    status: 400,
    error: 'bad_request',
    close: true,
    description: 'A WebSocket upgrade to a `websocket: true` container that is not a valid RFC 6455 handshake (not GET, no 16-byte Sec-WebSocket-Key, Sec-WebSocket-Version other than 13), or any upgrade request announcing a body.'
  },
  websocket_ip_limit: { status: 429, error: 'too_many_requests', description: 'This client IP holds `server.websocket.maxTunnelsPerIp` open WebSocket tunnels already.' },
  websocket_limit: { status: 503, error: 'unavailable', description: 'The gateway holds `server.websocket.maxTunnels` open WebSocket tunnels already.' },
  upstream_unreachable: { status: 502, error: 'bad_gateway', description: 'The container refused, reset or failed TLS verification.' },
  upstream_bad_response: { status: 502, error: 'bad_gateway', description: 'The container answered with a malformed or oversize response.' },
  upstream_timeout: { status: 504, error: 'gateway_timeout', description: 'The container did not answer in time.' },
  upstream_rejected_token: {
    status: 403,
    error: '',
    logged: true,
    description: 'The container answered 401 or 403 to a request carrying its token (after the one refresh and retry, where they apply): the token is probably wrong or lacks ContainersPrivateAccess. The container\'s answer is relayed as it came.'
  },
  client_closed: { status: 499, error: '', logged: true, description: 'The client went away before the response was complete (nginx\'s 499); `bytes` says how much of the body it got.' },
  draining: { status: 503, error: 'unavailable', description: 'The gateway is shutting down.' },
  internal_error: { status: 500, error: 'internal_error', description: 'A bug in tollgate; the request was not forwarded.' }
} as const satisfies Record<string, ReasonSpec>

export type ReasonId = keyof typeof REASONS

/**
 * Why a forward failed, by the code on the error the upstream transport reports (tollgate's client
 * and the undici adapter speak this one vocabulary): the code goes in the warning log line, the
 * reason decides the answer. Other codes: a system error (`ECONNREFUSED`, `ECONNRESET`, a TLS
 * verification failure…) is `upstream_unreachable`; llhttp's `HPE_*` is `upstream_bad_response`.
 */
export const FORWARD_FAILURES = {
  UPSTREAM_ABORTED: { reason: 'client_closed', description: 'The upstream request was aborted because the client went away.' },
  UPSTREAM_CONNECT_TIMEOUT: { reason: 'upstream_timeout', description: 'DNS, TCP and TLS to the container took longer than `server.upstream.connectTimeout`.' },
  UPSTREAM_HEADERS_TIMEOUT: { reason: 'upstream_timeout', description: 'No response head within the container\'s `timeout`.' },
  UPSTREAM_BODY_TIMEOUT: { reason: 'upstream_timeout', description: 'The response body stalled longer than `server.upstream.bodyTimeout`.' },
  UPSTREAM_BAD_RESPONSE: { reason: 'upstream_bad_response', description: 'The response could not be read: not HTTP, oversize head, a 101, a short body.' },
  UPSTREAM_BAD_HANDSHAKE: { reason: 'upstream_bad_response', description: 'A WebSocket upgrade was answered 101 without `Upgrade: websocket` and `Connection: upgrade`, with a wrong `Sec-WebSocket-Accept`, or with a subprotocol or extension the client did not offer: nothing of it reached the client.' },
  UPSTREAM_CLOSED: { reason: 'upstream_unreachable', description: 'The container closed the connection before the response was complete.' },
  UPSTREAM_BAD_REQUEST: { reason: 'internal_error', description: 'A header value or target would split the request head (a token with a line break): nothing was sent.' },
  UPSTREAM_REQ_CONTENT_LENGTH_MISMATCH: { reason: 'payload_too_large', description: 'The request body did not match its Content-Length.' },
  UPSTREAM_BODY_TOO_LARGE: { reason: 'payload_too_large', description: 'A request body without Content-Length grew past the container\'s body limit while streaming.' }
} as const satisfies Record<string, { reason: ReasonId, description: string }>

/** The reason a forward failure answers with (502, 504, 413…), from its error's code. */
export function forwardFailureReason (code: string | undefined): ReasonId {
  if (code === undefined) return 'upstream_unreachable'
  const known = (FORWARD_FAILURES as Record<string, { reason: ReasonId } | undefined>)[code]
  if (known !== undefined) return known.reason
  return code.startsWith('HPE_') ? 'upstream_bad_response' : 'upstream_unreachable'
}

/** Operator-facing error codes. */
export const ERROR_CODES = {
  TG_ERR_CONFIG_READ: 'The config file cannot be read or is not YAML.',
  TG_ERR_CONFIG_INVALID: 'The config does not match the schema; the message names the field path.',
  TG_ERR_CONFIG_INTERPOLATION: 'A ${env:…} or ${file:…} reference in the config cannot be resolved.',
  TG_ERR_POLICY_INVALID: 'A policy condition does not parse, type-check to bool, or pass the load-time safety limits.',
  TG_ERR_SECRET_UNRESOLVED: 'A secret reference cannot be resolved (the message names the reference, never a value).',
  TG_ERR_SECRET_STORE: 'The encrypted secret store (a file, or a Secret Manager secret) cannot be read, is tampered or truncated, is under a wrong master key, or would not fit in a Secret Manager version (64 KiB).',
  TG_ERR_MASTER_KEY: 'TOLLGATE_MASTER_KEY (or TOLLGATE_MASTER_KEY_FILE) is missing, both are set, or it is not 32 bytes of base64.',
  TG_ERR_KEYS_STORE: 'The tollgate keys file (a file, or a Secret Manager secret) cannot be read or written, or would not fit in a Secret Manager version (64 KiB).',
  TG_ERR_KEYS_INTEGRITY: 'The keys file fails its integrity check (edited outside tollgate, a format downgrade, or made with another pepper); a running gateway keeps its last good keys.',
  TG_ERR_ROLLBACK: 'A secret store or keys file is older (lower generation) than one this gateway already accepted, or is another store; a running gateway keeps its last good copy.',
  TG_ERR_TLS: 'The TLS certificate or key cannot be read, is not PEM, or the two do not match (the message names the field and the file).',
  TG_ERR_LISTEN: 'A listener could not bind its address.',
  TG_ERR_USAGE: 'The command line is not understood.'
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** An operator-facing error: one line, a stable code, never a secret value. */
export class TollgateError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TollgateError'
    this.code = code
  }
}

/** A config error that names the field path, e.g. `containers.hello.policies[0].condition`. */
export class ConfigError extends TollgateError {
  readonly path: string
  constructor (path: string, message: string, code: ErrorCode = 'TG_ERR_CONFIG_INVALID') {
    super(code, path ? `${path}: ${message}` : message)
    this.name = 'ConfigError'
    this.path = path
  }
}

/**
 * A start-up failure of something a config field points at (a certificate, a store, a keys file):
 * the message starts with the field to fix. Unlike a ConfigError the config itself was understood.
 */
export class FieldError extends TollgateError {
  readonly path: string
  constructor (path: string, message: string, code: ErrorCode, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options)
    this.name = 'FieldError'
    this.path = path
  }
}

/**
 * `err` as an error naming `field` (the one to fix), keeping its code and message; one that already
 * names a field (a ConfigError, a FieldError) is returned as it is.
 */
export function withField (field: string, err: unknown): TollgateError {
  if (err instanceof ConfigError || err instanceof FieldError) return err
  if (err instanceof TollgateError) return new FieldError(field, err.message, err.code, { cause: err })
  return new FieldError(field, err instanceof Error ? err.message : String(err), 'TG_ERR_CONFIG_INVALID', { cause: err })
}

/** The system error code of a failed file or socket operation (`ENOENT`…), else its message, for a one-line report. */
export function errnoCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  return err instanceof Error ? err.message : String(err)
}

/** Renders a config path from segments: ['containers','a','policies',0] → containers.a.policies[0]. */
export function formatPath (segments: ReadonlyArray<string | number>): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else out += out === '' ? s : `.${s}`
  }
  return out
}
