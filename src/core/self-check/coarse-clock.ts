/**
 * A coarse clock for the request path: the wall time of a {@link Clock} as of its last tick, so that a decision reads
 * a field instead of the clock (on this class of machine `Date.now()` alone costs ~75 ns, as much as the rest of the
 * warm path). Hand-written because it is one timer: it ticks on the period's boundaries through `clock.setTimeout`,
 * so a test clock (`createTestClock()`) moves it like any other timer.
 *
 * @module
 */

import type { Clock, TimerHandle } from '../clock.js'

/**
 * Wall time (epoch ms) refreshed once per period by a timer of the clock, and told to a listener at each tick. The
 * timer is started by the first {@link refresh} (inside a request: some runtimes refuse timers at module scope) and
 * stopped by {@link stop}; until it runs, or where no timer can be had, {@link manual} tells the reader to call
 * {@link refresh} itself.
 * @internal
 */
export class CoarseClock {
  /** Wall time (epoch ms) as of the last tick or {@link refresh}. */
  now = 0
  /** Whether the reader must call {@link refresh} to get the time; false while the timer ticks. */
  manual = true
  readonly #clock: Clock
  readonly #periodMs: number
  readonly #onTick: (t: number) => void
  /** Bound once: re-arming the timer allocates no closure. */
  readonly #tick = (): void => this.#fire()
  #timer: TimerHandle | undefined
  #stopped = false

  /**
   * @param clock Where time is read and the timer set.
   * @param periodMs How often the time is refreshed (ticks land on multiples of it).
   * @param onTick Called with the new time at each tick.
   */
  constructor(clock: Clock, periodMs: number, onTick: (t: number) => void) {
    this.#clock = clock
    this.#periodMs = periodMs
    this.#onTick = onTick
  }

  /** Read the clock now (and start the timer if it is not running yet). Returns the time. */
  refresh(): number {
    const t = this.#clock.now()
    this.now = t
    if (this.#timer === undefined && !this.#stopped) {
      try {
        this.#schedule(t)
        this.manual = false
      } catch {
        this.#stopped = true // no timers here: the reader refreshes at each read
      }
    }
    return t
  }

  /** Stop ticking (the resolver's `close()`); readers refresh from then on. */
  stop(): void {
    this.#stopped = true
    this.manual = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Arm the timer for the next period boundary after `t`. */
  #schedule(t: number): void {
    const period = this.#periodMs
    this.#timer = this.#clock.setTimeout(this.#tick, period - (((t % period) + period) % period))
  }

  #fire(): void {
    if (this.#stopped) return
    const t = this.#clock.now()
    this.now = t
    try {
      this.#schedule(t)
    } catch {
      this.stop()
    }
    this.#onTick(t)
  }
}
