// Parsing of secret references: `${secret:NAME}`, `${env:NAME}`, `${file:PATH}`, `${scw:…}`.
// The `scw` forms (docs/secrets.md):
//   ${scw:REGION/SECRET_ID}                      by id
//   ${scw:REGION/PROJECT_ID/[FOLDER/…/]NAME}     by name in a folder of a project
//   ${scw:REGION/[FOLDER/…/]NAME}                by name, project from secrets.scaleway.projectId
// each optionally ending in `@REVISION` (an integer, `latest` or `latest_enabled`, the default).

/** Store entry names: what `${secret:NAME}` can carry, and safe in a log line. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

export type ScwTarget =
  | { by: 'id', region: string, revision: string, id: string }
  | { by: 'path', region: string, revision: string, projectId: string | undefined, path: string, name: string }

export type ParsedRef =
  | { kind: 'secret', name: string }
  | { kind: 'env', name: string }
  | { kind: 'file', path: string }
  | { kind: 'scw', target: ScwTarget }

const REF = /^\$\{(secret|env|file|scw):([^}]+)\}$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const REGION = /^[a-z]{2}-[a-z]{3}$/
export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const REVISION = /^(?:[1-9][0-9]{0,9}|latest|latest_enabled)$/
/** Scaleway secret names and folder names. */
const SCW_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/

/** `TOLLGATE_*`: tollgate's own variables (the master key, its file, the previous key…). */
export function isReservedEnv (name: string): boolean {
  return name.toUpperCase().startsWith('TOLLGATE_')
}

/** Parses a whole reference; throws an Error whose message says what is wrong (safe to show). */
export function parseSecretRef (ref: string): ParsedRef {
  const m = REF.exec(ref)
  if (m === null) {
    throw new Error('expected ${secret:NAME}, ${env:NAME}, ${file:PATH} or ${scw:REGION/SECRET_ID}')
  }
  const kind = m[1] as ParsedRef['kind']
  const arg = m[2]!
  switch (kind) {
    case 'secret':
      if (!SECRET_NAME.test(arg)) throw new Error('a store secret name is 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)')
      return { kind, name: arg }
    case 'env':
      if (!ENV_NAME.test(arg)) throw new Error('not an environment variable name')
      if (isReservedEnv(arg)) throw new Error(`${arg}: TOLLGATE_* variables are tollgate's own (the master key among them) and never a secret to send`)
      return { kind, name: arg }
    case 'file':
      if (arg.includes('\0')) throw new Error('not a file path')
      return { kind, path: arg }
    case 'scw':
      return { kind, target: parseScw(arg) }
  }
}

function parseScw (arg: string): ScwTarget {
  let body = arg
  let revision = 'latest_enabled'
  const at = arg.lastIndexOf('@')
  if (at !== -1) {
    revision = arg.slice(at + 1)
    body = arg.slice(0, at)
    if (!REVISION.test(revision)) throw new Error('the revision after "@" must be a number, latest or latest_enabled')
  }
  const segs = body.split('/')
  const region = segs.shift() ?? ''
  if (!REGION.test(region)) throw new Error('expected ${scw:REGION/SECRET_ID} with a region like fr-par, nl-ams or pl-waw')
  if (segs.length === 0 || segs.some((s) => s === '')) {
    throw new Error('expected ${scw:REGION/SECRET_ID}, ${scw:REGION/PROJECT_ID/[FOLDER/]NAME} or ${scw:REGION/[FOLDER/]NAME}')
  }
  if (segs.length === 1 && UUID.test(segs[0]!)) return { by: 'id', region, revision, id: segs[0]!.toLowerCase() }
  let projectId: string | undefined
  if (UUID.test(segs[0]!)) projectId = segs.shift()!.toLowerCase()
  for (const s of segs) {
    if (!SCW_SEGMENT.test(s)) throw new Error(`"${s.slice(0, 64)}" is not a valid Scaleway secret or folder name`)
  }
  const name = segs.pop()!
  return { by: 'path', region, revision, projectId, path: '/' + segs.join('/'), name }
}

/** Where a state file (`secrets.store`, `credentials.keys`) lives: a file, or a Secret Manager secret. */
export type StateLocation =
  | { kind: 'file', path: string }
  | { kind: 'scw', target: ScwTarget, location: string }

/** The prefix of a Secret Manager location: `scw:REGION/SECRET_ID` or the by-name forms of `${scw:…}`. */
export const SCW_LOCATION_PREFIX = 'scw:'

/**
 * Parses `secrets.store` / `credentials.keys`: `scw:…` is a Secret Manager secret (the forms a
 * `${scw:…}` reference takes, without `@REVISION`: a store is all of a secret's versions), anything
 * else a file path. Throws an Error whose message says what is wrong.
 */
export function parseStateLocation (value: string): StateLocation {
  if (!value.startsWith(SCW_LOCATION_PREFIX)) return { kind: 'file', path: value }
  const arg = value.slice(SCW_LOCATION_PREFIX.length)
  if (arg.includes('@')) throw new Error('a store is a whole Secret Manager secret (tollgate picks the version): no "@REVISION"')
  const target = parseScw(arg)
  const location = SCW_LOCATION_PREFIX + (target.by === 'id'
    ? `${target.region}/${target.id}`
    : [target.region, target.projectId, ...target.path.split('/').filter((s) => s !== ''), target.name].filter((s) => s !== undefined).join('/'))
  return { kind: 'scw', target, location }
}

/** Values read from files and Secret Manager lose exactly one trailing newline (`\n` or `\r\n`). */
export function stripOneNewline (s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2)
  if (s.endsWith('\n')) return s.slice(0, -1)
  return s
}
