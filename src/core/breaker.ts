/**
 * The circuit breaker in front of the provider: `failures` consecutive failed calls open it; after `halfOpenAfterMs`
 * one probe call is let through (every other lookup keeps answering `breaker_open` meanwhile, none waits); the
 * probe's success closes it, its failure opens it again.
 *
 * Hand-written (a counter, a state and a timestamp) instead of cockatiel's `ConsecutiveBreaker`, for two reasons:
 * cockatiel reads the global clock (`Date.now`), so neither the breaker nor its tests could run on the injected
 * {@link Clock}; and importing cockatiel creates and aborts an `AbortController` at module scope, which Cloudflare
 * Workers refuse ("Disallowed operation called within global scope", issue #18). The resolver also never used what
 * cockatiel adds (it answers at once where cockatiel would queue callers behind the probe).
 *
 * @module
 * @internal
 */
import type { Clock } from './clock.js'
import type { BreakerState } from './metrics.js'

/** A consecutive-failure breaker on an injected clock (wall time, like the Retry-After gate). @internal */
export class ConsecutiveBreaker {
  #state: BreakerState = 'closed'
  #failures = 0
  #openedAt = 0

  constructor(
    readonly failures: number,
    readonly halfOpenAfterMs: number,
    private readonly clock: Clock,
    private readonly onStateChange: (state: BreakerState) => void,
  ) {}

  /** The state as last changed (an open breaker whose wait is over stays `open` until a call is let through). */
  get state(): BreakerState {
    return this.#state
  }

  /** Whether a call may be made now: closed, or open with its wait over (the call will be the probe). No change. */
  permits(): boolean {
    if (this.#state === 'closed') return true
    if (this.#state === 'half_open') return false // the probe is in flight
    return this.clock.now() - this.#openedAt >= this.halfOpenAfterMs
  }

  /** A call starts (after {@link permits} said yes): an open breaker lets it through as the half-open probe. */
  begin(): void {
    if (this.#state === 'open') this.#set('half_open')
  }

  /** A call started by {@link begin} succeeded (a call that started before the breaker opened changes nothing). */
  success(): void {
    if (this.#state === 'open') return
    this.#failures = 0
    if (this.#state === 'half_open') this.#set('closed')
  }

  /** A call started by {@link begin} failed (a call that started before the breaker opened changes nothing). */
  failure(): void {
    if (this.#state === 'open') return
    if (this.#state === 'half_open' || ++this.#failures >= this.failures) {
      this.#failures = 0
      this.#openedAt = this.clock.now()
      this.#set('open')
    }
  }

  #set(state: BreakerState): void {
    this.#state = state
    this.onStateChange(state)
  }
}
