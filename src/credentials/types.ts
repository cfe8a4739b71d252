// The seam between the pipeline and client authentication (tollgate keys and JWTs).
import type { Principal } from '../policy/types.js'
import type { ReasonId } from '../errors.js'

export type AuthOutcome =
  | { ok: true, principal: Principal }
  | { ok: false, reason: ReasonId }

export interface Authenticator {
  /**
   * Verify a client credential (the raw value of X-Auth-Token, or the token of `Authorization:
   * Bearer`) for a container. Sync for tollgate keys, async for JWTs. Never throws.
   */
  authenticate (credential: string, container: string): AuthOutcome | Promise<AuthOutcome>
  close (): Promise<void>
}

const failures = new Map<ReasonId, AuthOutcome>()

/** The outcome for a refused credential: one frozen object per reason, shared (no allocation per request). */
export function authFailure (reason: ReasonId): AuthOutcome {
  let out = failures.get(reason)
  if (out === undefined) failures.set(reason, out = Object.freeze({ ok: false, reason }))
  return out
}
