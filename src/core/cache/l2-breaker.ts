/**
 * The L2 breaker: after {@link L2_BREAKER_FAILURES} consecutive failures of the shared store it opens, nothing is sent
 * to the store for {@link L2_BREAKER_OPEN_MS}, then a single probe read decides whether it closes again.
 *
 * Hand-rolled (a counter and a deadline) rather than cockatiel's: a Keyv configured not to throw reports failures only
 * as `error` events while resolving `undefined`, which a policy wrapping the call cannot see, and the write path needs a
 * synchronous "is L2 usable" check without creating a promise. The cool-down is measured on the injected clock (its
 * wall time, `clock.now()`, as before the clock was injectable), so a test moves it by hand instead of sleeping.
 *
 * @internal
 * @module
 */

import { systemClock, type Clock } from '../clock.js'

/** Consecutive L2 failures (errors or timeouts) that open the L2 breaker. */
export const L2_BREAKER_FAILURES = 3
/** How long the L2 breaker stays open before one probe request is let through. */
export const L2_BREAKER_OPEN_MS = 5_000

/** State of the L2 breaker. */
export type SharedTierState = 'closed' | 'open' | 'half_open'

/** The breaker of one L2 tier. @internal */
export class L2Breaker {
  readonly #clock: Clock
  #failures = 0
  /** Epoch ms until which the breaker is open; 0 while closed. */
  #openUntil = 0
  #probing = false

  /** @param clock Where the cool-down is measured. @default systemClock */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock
  }

  /** The state now. */
  state(): SharedTierState {
    if (this.#openUntil === 0) return 'closed'
    return this.#openUntil > this.#clock.now() ? 'open' : 'half_open'
  }

  /**
   * Whether a request may be sent now. Closed: yes. Open: no. Half-open: only a `probe` (a read), and only one at a
   * time; the probe's outcome ({@link L2Breaker.success} or {@link L2Breaker.failure}) closes or reopens the breaker.
   */
  allow(probe: boolean): boolean {
    if (this.#openUntil === 0) return true
    if (this.#openUntil > this.#clock.now()) return false
    if (!probe || this.#probing) return false
    this.#probing = true
    return true
  }

  /** The store answered: close. */
  success(): void {
    this.#failures = 0
    this.#openUntil = 0
    this.#probing = false
  }

  /**
   * The store failed (an error or a timeout). Opens the breaker after {@link L2_BREAKER_FAILURES} in a row, or again
   * at once when the probe failed. Returns `true` when this failure opened a closed breaker (to report it once per
   * opening, not per failed probe).
   */
  failure(): boolean {
    this.#failures++
    const wasProbing = this.#probing
    this.#probing = false
    if (!wasProbing && (this.#failures < L2_BREAKER_FAILURES || this.#openUntil !== 0)) return false
    const opening = this.#openUntil === 0
    this.#openUntil = this.#clock.now() + L2_BREAKER_OPEN_MS
    return opening
  }
}
