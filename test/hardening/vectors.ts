// The smuggling / malformed-message matrix (docs/security.md prints the same table).
//
// Each vector is one raw HTTP/1.x message, sent first on a fresh connection, followed by a valid
// request for an allowed path (`PIPELINED`) that must never be served. `HOST` stands for
// `Host: localhost`. `by` says who refuses it in tollgate's configuration, and the calibration
// test checks that column against a bare node:http server with the same parser options:
//   llhttp           Node's parser refuses the head: no handler ever runs.
//   llhttp-body      the head parses, the body does not: the handler runs, then the parser fails.
//   tollgate+llhttp  the parser fails only after the handler ran (e.g. "Request has invalid
//                    Transfer-Encoding" is raised after the head is complete): a plain Node proxy
//                    would already have forwarded a body-less request. The pipeline refuses it
//                    from the head, before anything is forwarded.
//   tollgate         Node accepts the message: the pipeline refuses it.

export type RejectedBy = 'llhttp' | 'llhttp-body' | 'tollgate+llhttp' | 'tollgate'

export interface Vector {
  id: string
  name: string
  raw: string
  by: RejectedBy
  /** Expected status (default 400). */
  status?: number
}

export const PIPELINED = 'GET /public/pipelined HTTP/1.1\r\nHOST\r\n\r\n'

const post = (headers: string, body: string): string => `POST /public HTTP/1.1\r\nHOST\r\n${headers}\r\n${body}`
const get = (headers: string): string => `GET /public HTTP/1.1\r\nHOST\r\n${headers}\r\n`
const CHUNKED_EMPTY = '0\r\n\r\n'

export const VECTORS: Vector[] = [
  // ── Content-Length together with Transfer-Encoding ─────────────────────────────────────
  { id: 'cl-te', name: 'CL.TE: Content-Length then Transfer-Encoding', by: 'llhttp', raw: post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nG') },
  { id: 'te-cl', name: 'TE.CL: Transfer-Encoding then Content-Length', by: 'llhttp', raw: post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '8\r\nSMUGGLED\r\n0\r\n\r\n') },
  { id: 'te-sp-cl', name: 'TE with trailing space, then CL', by: 'llhttp', raw: post('transfer-encoding: chunked \r\ncontent-length: 36\r\n', CHUNKED_EMPTY) },
  { id: 'te-cl0', name: 'TE chunked with Content-Length: 0', by: 'llhttp', raw: post('Transfer-Encoding: chunked\r\nContent-Length: 0\r\n', CHUNKED_EMPTY) },
  { id: 'te-case-cl', name: 'TrAnSFer-EnCODinG: cHuNkeD with CL', by: 'llhttp', raw: post('TrAnSFer-EnCODinG: cHuNkeD\r\nContent-Length: 5\r\n', CHUNKED_EMPTY) },
  { id: 'cl-fold-te', name: 'CL then obs-folded "\\ttransfer-encoding"', by: 'llhttp', raw: post('content-length: 0\r\n\ttransfer-encoding: chunked\r\n', CHUNKED_EMPTY) },
  // ── Transfer-Encoding spellings ─────────────────────────────────────────────────────────
  { id: 'te-xchunked', name: 'Transfer-Encoding: xchunked', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: xchunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-chunk', name: 'Transfer-Encoding: chunk', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: chunk\r\n', CHUNKED_EMPTY) },
  { id: 'te-quoted', name: 'Transfer-Encoding: "chunked"', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: "chunked"\r\n', CHUNKED_EMPTY) },
  { id: 'te-identity', name: 'Transfer-Encoding: identity', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: identity\r\n', CHUNKED_EMPTY) },
  { id: 'te-chunked-cow', name: 'Transfer-Encoding: chunked, cow', by: 'llhttp', raw: post('Transfer-Encoding: chunked, cow\r\n', CHUNKED_EMPTY) },
  { id: 'te-chunked-identity', name: 'Transfer-Encoding: chunked, identity', by: 'llhttp', raw: post('Transfer-Encoding: chunked, identity\r\n', CHUNKED_EMPTY) },
  { id: 'te-cow-chunked', name: 'Transfer-Encoding: cow, chunked (unknown coding before chunked)', by: 'tollgate', raw: post('Transfer-Encoding: cow, chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-identity-chunked', name: 'Transfer-Encoding: identity, chunked', by: 'tollgate', raw: post('Transfer-Encoding: identity, chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-comma-chunked', name: 'Transfer-Encoding: ,chunked (empty list element)', by: 'tollgate', raw: post('Transfer-Encoding: ,chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-params', name: 'Transfer-Encoding: chunked;q=1', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: chunked;q=1\r\n', CHUNKED_EMPTY) },
  { id: 'te-empty', name: 'Transfer-Encoding with an empty value', by: 'tollgate', raw: post('Transfer-Encoding: \r\n', CHUNKED_EMPTY) },
  { id: 'te-dup-chunked-x', name: 'two TE lines: chunked, then x', by: 'llhttp', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n', CHUNKED_EMPTY) },
  { id: 'te-dup-x-chunked', name: 'two TE lines: x, then chunked', by: 'tollgate', raw: post('Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-dup-chunked', name: 'two TE lines: chunked, chunked', by: 'llhttp', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-space-colon', name: '"Transfer-Encoding : chunked" (space before colon)', by: 'llhttp', raw: post('Transfer-Encoding : chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-vtab', name: 'TE value led by \\x0b', by: 'llhttp', raw: post('Transfer-Encoding:\x0bchunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-formfeed', name: 'TE value led by \\x0c', by: 'llhttp', raw: post('Transfer-Encoding:\x0cchunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-nul', name: 'TE value with a trailing NUL', by: 'llhttp', raw: post('Transfer-Encoding: chunked\x00\r\n', CHUNKED_EMPTY) },
  { id: 'te-nbsp', name: 'TE value wrapped in \\xa0', by: 'tollgate+llhttp', raw: post('Transfer-Encoding: \xa0chunked\xa0\r\n', CHUNKED_EMPTY) },
  { id: 'te-underscore', name: 'Transfer_Encoding (underscore) with CL', by: 'tollgate', raw: post('Transfer_Encoding: chunked\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'te-space-name', name: '"Transfer Encoding" (space in the name)', by: 'llhttp', raw: post('Transfer Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-8bit-name', name: 'Transf\\x82r-Encoding (8-bit byte in the name)', by: 'llhttp', raw: post('Transf\x82r-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-fold-value', name: 'TE value on an obs-fold line', by: 'llhttp', raw: post('Transfer-Encoding:\r\n chunked\r\n', CHUNKED_EMPTY) },
  { id: 'te-chunked-fold', name: 'TE chunked continued by an obs-fold line', by: 'llhttp', raw: post('Transfer-Encoding: chunked\r\n abc\r\n', CHUNKED_EMPTY) },
  { id: 'te-http10', name: 'Transfer-Encoding on HTTP/1.0 (Node ignores it: the body is the next request)', by: 'tollgate', raw: `POST /public HTTP/1.0\r\nHOST\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED_EMPTY}` },
  // ── Content-Length spellings ────────────────────────────────────────────────────────────
  { id: 'cl-dup-same', name: 'two Content-Length lines, same value', by: 'llhttp', raw: post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'cl-dup-diff', name: 'two Content-Length lines, different values', by: 'llhttp', raw: post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!') },
  { id: 'cl-list', name: 'Content-Length: 5, 5', by: 'llhttp', raw: post('Content-Length: 5, 5\r\n', 'hello') },
  { id: 'cl-plus', name: 'Content-Length: +5', by: 'llhttp', raw: post('Content-Length: +5\r\n', 'hello') },
  { id: 'cl-minus', name: 'Content-Length: -1', by: 'llhttp', raw: post('Content-Length: -1\r\n', 'hello') },
  { id: 'cl-hex', name: 'Content-Length: 0x5', by: 'llhttp', raw: post('Content-Length: 0x5\r\n', 'hello') },
  { id: 'cl-empty', name: 'empty Content-Length', by: 'llhttp', raw: post('Content-Length: \r\n', 'hello') },
  { id: 'cl-overflow', name: 'Content-Length past 2^64', by: 'llhttp', raw: post('Content-Length: 99999999999999999999999\r\n', 'hello') },
  { id: 'cl-inner-space', name: 'Content-Length: 5 5', by: 'llhttp', raw: post('Content-Length: 5 5\r\n', 'hello') },
  { id: 'cl-space-colon', name: '"Content-Length : 5" (space before colon)', by: 'llhttp', raw: post('Content-Length : 5\r\n', 'hello') },
  { id: 'cl-leading-zeros', name: 'Content-Length: 005 (leading zeros)', by: 'tollgate', raw: post('Content-Length: 005\r\n', 'hello') },
  { id: 'cl-too-large', name: 'Content-Length past the container body limit', by: 'tollgate', status: 413, raw: post('Content-Length: 999999999999\r\n', 'hello') },
  // ── chunked body syntax ─────────────────────────────────────────────────────────────────
  { id: 'chunk-size-char', name: 'chunk size "5x"', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5x\r\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-size-space', name: 'chunk size with a trailing space', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5 \r\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-size-overflow', name: 'chunk size past 2^64', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', 'fffffffffffffffff1\r\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-ext-bare', name: 'bare ";" chunk extension', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5;\r\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-ext-quote', name: 'unbalanced quoted chunk extension', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5;a="b\r\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-overrun', name: 'chunk data longer than its size', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5\r\nhelloXX\r\n0\r\n\r\n') },
  { id: 'chunk-bare-lf', name: 'chunk size line ended by a bare LF', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5\nhello\r\n0\r\n\r\n') },
  { id: 'chunk-bare-cr', name: 'chunk size line ended by "\\rX"', by: 'llhttp-body', raw: post('Transfer-Encoding: chunked\r\n', '5\rXhello\r\n0\r\n\r\n') },
  // ── line endings, folding, control bytes ────────────────────────────────────────────────
  { id: 'lf-header-inject', name: 'bare LF smuggles a TE line: "X: X\\nTransfer-Encoding"', by: 'llhttp', raw: post('X: X\nTransfer-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'cr-header-inject', name: 'bare CR smuggles a TE line: "X: X\\rTransfer-Encoding"', by: 'llhttp', raw: post('X: X\rTransfer-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'lf-only-request', name: 'request with LF-only line endings', by: 'llhttp', raw: 'GET /public HTTP/1.1\nHost: localhost\n\n' },
  { id: 'lf-crlf-end', name: 'header block ended by "\\n\\r\\n"', by: 'llhttp', raw: 'GET /public HTTP/1.1\r\nHost: localhost\n\r\n' },
  { id: 'cr-x-end', name: 'header block ended by "\\r\\n\\rX"', by: 'llhttp', raw: 'GET /public HTTP/1.1\r\nHOST\r\n\rX' },
  { id: 'obs-fold', name: 'obs-fold continuation line', by: 'llhttp', raw: get('X-A: a\r\n b\r\n') },
  { id: 'leading-ws-header', name: 'first header line starts with a space', by: 'llhttp', raw: 'GET /public HTTP/1.1\r\n Host: localhost\r\n\r\n' },
  { id: 'nul-value', name: 'NUL in a header value', by: 'llhttp', raw: get('X-A: a\x00b\r\n') },
  { id: 'ctl-value', name: '\\x01 in a header value', by: 'llhttp', raw: get('X-A: a\x01b\r\n') },
  { id: 'del-value', name: 'DEL (\\x7f) in a header value', by: 'llhttp', raw: get('X-A: a\x7fb\r\n') },
  { id: 'nul-host', name: 'NUL inside Host', by: 'llhttp', raw: 'GET /public HTTP/1.1\r\nHost: local\x00host\r\n\r\n' },
  { id: 'nul-target', name: 'NUL in the request target', by: 'llhttp', raw: 'GET /pub\x00lic HTTP/1.1\r\nHOST\r\n\r\n' },
  { id: 'tab-target', name: 'tab in the request target', by: 'llhttp', raw: 'GET /public\t/x HTTP/1.1\r\nHOST\r\n\r\n' },
  { id: 'space-target', name: 'space in the request target', by: 'llhttp', raw: 'GET /pub lic HTTP/1.1\r\nHOST\r\n\r\n' },
  { id: '8bit-target', name: 'raw UTF-8 bytes in the request target', by: 'llhttp', raw: 'GET /public/\xc3\xa9 HTTP/1.1\r\nHOST\r\n\r\n' },
  // ── header names ────────────────────────────────────────────────────────────────────────
  { id: 'empty-name', name: 'empty header name ": x"', by: 'llhttp', raw: get(': x\r\n') },
  { id: 'no-colon', name: 'header line without a colon', by: 'llhttp', raw: get('X-A\r\n') },
  { id: 'space-colon', name: '"X-A : b" (space before colon)', by: 'llhttp', raw: get('X-A : b\r\n') },
  { id: 'underscore-xff', name: 'X_Forwarded_For (underscore alias)', by: 'tollgate', raw: get('X_Forwarded_For: 198.51.100.1\r\n') },
  { id: 'underscore-token', name: 'X-Auth_Token (underscore alias)', by: 'tollgate', raw: get('X-Auth_Token: attacker\r\n') },
  // ── Host ───────────────────────────────────────────────────────────────────────────────
  { id: 'host-dup', name: 'two Host lines', by: 'tollgate', raw: get('Host: other.example\r\n') },
  { id: 'host-missing', name: 'HTTP/1.1 without Host', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\n\r\n' },
  { id: 'host-empty', name: 'empty Host', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\nHost:\r\n\r\n' },
  { id: 'host-comma', name: 'Host: localhost, evil', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\nHost: localhost, evil.example\r\n\r\n' },
  { id: 'host-userinfo', name: 'Host: u@localhost', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\nHost: u@localhost\r\n\r\n' },
  { id: 'host-path', name: 'Host: localhost/x', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\nHost: localhost/x\r\n\r\n' },
  { id: 'host-port', name: 'Host with an out-of-range port', by: 'tollgate', raw: 'GET /public HTTP/1.1\r\nHost: localhost:99999999\r\n\r\n' },
  { id: 'absolute-form', name: 'absolute-form target naming another host than Host', by: 'tollgate', raw: 'GET http://evil.example/public HTTP/1.1\r\nHOST\r\n\r\n' },
  // ── request line ────────────────────────────────────────────────────────────────────────
  { id: 'http-1.2', name: 'HTTP/1.2', by: 'llhttp', raw: 'GET /public HTTP/1.2\r\nHOST\r\n\r\n' },
  { id: 'http-2.0-text', name: '"HTTP/2.0" in an HTTP/1 request line', by: 'tollgate', raw: 'GET /public HTTP/2.0\r\nHOST\r\n\r\n' },
  { id: 'http-0.9', name: 'HTTP/0.9 simple request', by: 'tollgate', raw: 'GET /public\r\n\r\n' },
  { id: 'bad-method', name: 'method "G@T"', by: 'llhttp', raw: 'G@T /public HTTP/1.1\r\nHOST\r\n\r\n' },
  { id: 'lower-method', name: 'lower-case method "get"', by: 'llhttp', raw: 'get /public HTTP/1.1\r\nHOST\r\n\r\n' },
  { id: 'version-trailing-space', name: 'space after the version', by: 'llhttp', raw: 'GET /public HTTP/1.1 \r\nHOST\r\n\r\n' },
  // ── Connection, Expect, bodies on GET ───────────────────────────────────────────────────
  { id: 'conn-cl', name: 'Connection: content-length', by: 'tollgate', raw: post('Connection: content-length\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'conn-te', name: 'Connection: transfer-encoding', by: 'tollgate', raw: post('Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n', CHUNKED_EMPTY) },
  { id: 'conn-host', name: 'Connection: host', by: 'tollgate', raw: get('Connection: host\r\n') },
  { id: 'expect-unknown', name: 'Expect: 100-continuex (Node would answer 417 and keep going)', by: 'tollgate', raw: post('Expect: 100-continuex\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'expect-dup', name: 'two Expect: 100-continue lines', by: 'tollgate', raw: post('Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'cl0-get', name: 'CL.0: GET with a body that is a request', by: 'tollgate', raw: get('Content-Length: 36\r\n') + 'GET /admin HTTP/1.1\r\nX-Ignore: x\r\n\r\n' },
  { id: 'te-get', name: 'GET with Transfer-Encoding: chunked', by: 'tollgate', raw: get('Transfer-Encoding: chunked\r\n') + CHUNKED_EMPTY },
  { id: 'cl-head', name: 'HEAD with a body', by: 'tollgate', raw: 'HEAD /public HTTP/1.1\r\nHOST\r\nContent-Length: 5\r\n\r\nhello' }
]

/** Valid messages near the edge: served (200), and the upstream sees exactly one sound request. */
export const ACCEPTED: Array<{ id: string, name: string, raw: string }> = [
  { id: 'te-tab', name: 'Transfer-Encoding:\\tchunked (tab is whitespace)', raw: post('Transfer-Encoding:\tchunked\r\n', '5\r\nhello\r\n0\r\n\r\n') },
  { id: 'te-upper', name: 'Transfer-Encoding: CHUNKED', raw: post('Transfer-Encoding: CHUNKED\r\n', '5\r\nhello\r\n0\r\n\r\n') },
  { id: 'obs-text', name: 'obs-text byte \\xe9 in a header value', raw: get('X-A: caf\xe9\r\n') },
  { id: 'expect-100', name: 'Expect: 100-continue with a body', raw: post('Expect: 100-continue\r\nContent-Length: 5\r\n', 'hello') },
  { id: 'trailer-token', name: 'chunked trailers carrying X-Auth-Token and Host', raw: post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nX-Auth-Token: evil\r\nHost: evil.example\r\n\r\n') },
  { id: 'dup-token', name: 'two client X-Auth-Token lines', raw: get('X-Auth-Token: a\r\nX-Auth-Token: b\r\n') },
  { id: 'h2c-upgrade', name: 'Upgrade: h2c with HTTP2-Settings (h2c smuggling)', raw: get('Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n') },
  { id: 'ws-upgrade', name: 'Upgrade: websocket', raw: get('Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n') }
]

/** Replaces the `HOST` placeholder. */
export function materialise (raw: string): string {
  return raw.replaceAll('HOST\r\n', 'Host: localhost\r\n')
}

// ── Paths ──────────────────────────────────────────────────────────────────────────────────
// Policy bypass by path tricks (paths.test.ts, and the Fastify plugin's hardening test): one
// container at "/" whose rules open `/public…` to everyone and the rest to the office range only.

export interface PathRow {
  target: string
  method?: string
  /** Expected status; 0 = the connection is closed without an answer; -1 = the HTTP/2 stream is reset. */
  status: number
  /** For 200: the path (and query) the upstream must receive. */
  forwarded?: string
  reason?: string
}

export const ALLOWED = (target: string, forwarded: string): PathRow => ({ target, status: 200, forwarded })
export const DENIED = (target: string): PathRow => ({ target, status: 403, reason: 'policy_denied' })
export const REFUSED = (target: string, reason = 'path_not_canonical'): PathRow => ({ target, status: 400, reason })

export const PATH_MATRIX: PathRow[] = [
  ALLOWED('/public', '/public'),
  ALLOWED('/public/x?a=1&b=%2F', '/public/x?a=1&b=%2F'),
  ALLOWED('/%70ublic/x', '/public/x'),
  ALLOWED('/%70%75%62%6c%69%63', '/public'),
  ALLOWED('/public/%7e%41', '/public/~A'),
  ALLOWED('/public/caf%c3%a9', '/public/caf%C3%A9'),
  ALLOWED('/public/a|b', '/public/a%7Cb'),
  ALLOWED('/public/a"b', '/public/a%22b'),
  ALLOWED('/public/a{b}', '/public/a%7Bb%7D'),
  ALLOWED('/public?/../admin', '/public?/../admin'),
  ALLOWED('/public/...', '/public/...'),
  ALLOWED('/public/x%3Fy', '/public/x%3Fy'),
  ALLOWED('/public%252F..%252Fadmin', '/public%252F..%252Fadmin'),
  DENIED('/admin'),
  DENIED('/'),
  DENIED('/PUBLIC/x'),
  DENIED('/%50ublic/x'),
  DENIED('/admin?/public'),
  DENIED('/admin/public'),
  DENIED('/%61dmin'),
  REFUSED('/public/../admin'),
  REFUSED('/public/./admin'),
  REFUSED('/public/..'),
  REFUSED('/public/.'),
  REFUSED('/./admin'),
  REFUSED('/public/%2e%2e/admin'),
  REFUSED('/public/.%2e/admin'),
  REFUSED('/public/%2E%2E%2Fadmin'),
  REFUSED('/public%2F..%2Fadmin'),
  REFUSED('/public%2f..%2fadmin'),
  REFUSED('/public%5C..%5Cadmin'),
  REFUSED('/public\\..\\admin'),
  REFUSED('/public\\admin'),
  REFUSED('/public%00'),
  REFUSED('/public/%00/../admin'),
  REFUSED('/public;/../admin'),
  REFUSED('/public;x=1'),
  REFUSED('/public%3B/../admin'),
  REFUSED('//admin'),
  REFUSED('/public//admin'),
  REFUSED('/%2Fadmin'),
  REFUSED('/public/%c0%ae%c0%ae/admin'),
  REFUSED('/public/%e0%80%ae%e0%80%ae/admin'),
  REFUSED('/public/%c0%af'),
  REFUSED('/public/%ed%a0%80'),
  REFUSED('/public%23/../admin'),
  REFUSED('/public/%zz'),
  REFUSED('/public%'),
  REFUSED('/public%0d%0aX-Injected:%20x'),
  REFUSED('/public%09'),
  // Absolute-form (RFC 9112 §3.2.2): its authority stands for Host, which must then say the same.
  ALLOWED('http://localhost/public', '/public'),
  ALLOWED('HTTPS://LOCALHOST/%70ublic?q', '/public?q'),
  DENIED('http://localhost/admin'),
  REFUSED('http://localhost/public/../admin'),
  REFUSED('http://evil.example/admin', 'header_duplicate_host'),
  REFUSED('http://evil.example/public', 'header_duplicate_host'),
  REFUSED('ftp://localhost/public', 'bad_request'),
  REFUSED('http://user@localhost/public', 'header_duplicate_host'),
  { target: 'public', status: 400 }, // llhttp
  { target: '*', method: 'OPTIONS', status: 405, reason: 'method_not_allowed' },
  { target: '/public', method: 'TRACE', status: 405, reason: 'method_not_allowed' },
  // Node hands CONNECT to a 'connect' listener, of which there is none: the socket is closed.
  { target: 'localhost:443', method: 'CONNECT', status: 0 },
  { target: '/public', method: 'CONNECT', status: 0 }
]
