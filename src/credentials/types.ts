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
