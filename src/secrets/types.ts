// The seam between config/pipeline and secret sources.
//
// A secret reference is one of `${secret:NAME}` (encrypted local store), `${env:NAME}`,
// `${file:PATH}` (re-read when it changes) or `${scw:REGION/SECRET_ID}` (Scaleway Secret Manager).
// The pipeline holds a SecretHandle per container token and reads `value()` on every request, so a
// rotation is picked up without a restart. Values never appear in errors, logs or metrics.

export interface SecretHandle {
  /** The reference as written in config (safe to log). */
  readonly ref: string
  /** The current value. Cheap: called on every request. */
  value (): string
  /**
   * Fetch the value again from its source now (coalesced: concurrent callers share one fetch).
   * Resolves true when the value changed. Never rejects: on failure the last good value stays.
   */
  refresh (): Promise<boolean>
}

export interface SecretResolver {
  /**
   * Resolve a reference (the whole string, e.g. `${scw:fr-par/…}`). `where` is the config path it
   * came from, used in error messages. Rejects with a TollgateError (TG_ERR_SECRET_UNRESOLVED) naming
   * the reference, never the value.
   */
  resolve (ref: string, where: string): Promise<SecretHandle>
  /** Stop background refreshes and file watches. */
  close (): Promise<void>
}

/** True when the whole string is exactly one secret reference. */
export function isSecretRef (s: string): boolean {
  return /^\$\{(secret|env|file|scw):[^}]+\}$/.test(s)
}
