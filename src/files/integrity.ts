// High-water marks of the state files a gateway reads (the secret store, the keys file).
//
// Each file carries, under its MAC, a generation that every write raises by one (and the store a
// random id). A gateway remembers the highest generation (and the id) it has accepted per location
// and refuses an older file: a restored backup, a copy from before a revocation, a whole store from
// another deployment. The marks live in memory, shared by every config a gateway process loads
// (they survive SIGHUP reloads, not a restart); docs/secrets.md says how to keep them elsewhere.
import { TollgateError, type ErrorCode } from '../errors.js'

/** Why a state file was refused (a metric label: a small fixed set). */
export type IntegrityReason = 'rollback' | 'other_store' | 'tampered' | 'downgrade'

export class IntegrityError extends TollgateError {
  readonly reason: IntegrityReason
  constructor (code: ErrorCode, reason: IntegrityReason, message: string) {
    super(code, message)
    this.name = 'IntegrityError'
    this.reason = reason
  }
}

export interface StateMark {
  /** The store id (undefined for files that have none, e.g. a store written before ids existed). */
  id: string | undefined
  generation: number
}

export class HighWater {
  readonly #marks = new Map<string, StateMark>()

  /** The mark at `location`, if any file was accepted there. */
  seen (location: string): StateMark | undefined {
    return this.#marks.get(location)
  }

  /**
   * Throws IntegrityError (TG_ERR_ROLLBACK) when `mark` is older than what was accepted at
   * `location`, or names another store. `what` names the file in the message.
   */
  check (location: string, mark: StateMark, what: string): void {
    const seen = this.#marks.get(location)
    if (seen === undefined) return
    if (seen.id !== undefined && mark.id !== undefined && mark.id !== seen.id) {
      throw new IntegrityError('TG_ERR_ROLLBACK', 'other_store', `${what} is another store (id ${mark.id}) than the one this gateway serves (id ${seen.id}): refused`)
    }
    if (mark.generation < seen.generation) {
      throw new IntegrityError('TG_ERR_ROLLBACK', 'rollback', `${what} has generation ${mark.generation}, older than generation ${seen.generation} already seen: ` +
        'an older copy was put back (a restored backup?); refused. If that was meant, restart the gateway')
    }
  }

  /** Records an accepted file (never lowers a mark). */
  record (location: string, mark: StateMark): void {
    const seen = this.#marks.get(location)
    if (seen === undefined || mark.generation >= seen.generation) this.#marks.set(location, { id: mark.id ?? seen?.id, generation: mark.generation })
  }
}
