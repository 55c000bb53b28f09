/**
 * The sliding minute of the self-check: 60 one-second buckets of counters on fixed arrays, whose totals are kept up to
 * date as buckets expire, so that no sum is ever taken on the request path and counting allocates nothing.
 *
 * @module
 */

import { SELF_CHECK_WINDOW_MS } from './vocabulary.js'

const BUCKETS = 60
/** The width of one bucket, and the period of the coarse clock that moves the window on (1 s). @internal */
export const BUCKET_MS = SELF_CHECK_WINDOW_MS / BUCKETS

/** Counter slot: gated decisions. @internal */
export const DECISIONS = 0
/** Counter slot: decisions without a verdict (not scored, not listed). @internal */
export const NO_VERDICT = 1
/** Counter slot: decisions on a scored answer. @internal */
export const SCORED = 2
/** Counter slot: decisions on an unavailable answer. @internal */
export const UNAVAILABLE = 3
/** Counter slot: decisions on a skipped answer (no IP, or not a global one). @internal */
export const SKIPPED = 4
/** Counter slot: decisions on a pending answer (a background lookup). @internal */
export const PENDING = 5
/** Counter slot: decisions without a client IP. @internal */
export const NO_IP = 6
/** Counter slot: decisions on a non-global client IP. @internal */
export const NON_GLOBAL = 7
/** Counter slot: decisions allowed only because no verdict could be had. @internal */
export const FAIL_OPEN = 8
/** Counter slot: provider calls that reached the provider. @internal */
export const CALLS = 9
/** Counter slot: of which failed. @internal */
export const FAILURES = 10
const SLOTS = 11

/** A counter slot of a bucket (one of the constants above). @internal */
export type Slot = number

/**
 * Counters over the last {@link SELF_CHECK_WINDOW_MS}, by second. Counting goes into the newest bucket; {@link advance}
 * moves the newest bucket to the second of a time, expiring the buckets left behind.
 * @internal
 */
export class SlidingWindow {
  readonly #counts = new Float64Array(BUCKETS * SLOTS)
  readonly #totals = new Float64Array(SLOTS)
  /** The second the newest bucket stands for (-1: none yet). */
  #second = -1
  /** Offset in {@link #counts} of the newest bucket. */
  #base = 0

  /** Move the window to the second of `t` (epoch ms), expiring the buckets left behind. Amortized O(1). */
  advance(t: number): void {
    const second = Math.floor(t / BUCKET_MS)
    const last = this.#second
    if (second <= last) return // same second (or a clock that went back: count in the newest bucket)
    const counts = this.#counts
    const totals = this.#totals
    if (last < 0 || second - last >= BUCKETS) {
      counts.fill(0)
      totals.fill(0)
    } else {
      for (let s = last + 1; s <= second; s++) {
        const base = (s % BUCKETS) * SLOTS
        for (let i = 0; i < SLOTS; i++) {
          totals[i] = (totals[i] as number) - (counts[base + i] as number)
          counts[base + i] = 0
        }
      }
    }
    this.#second = second
    this.#base = (second % BUCKETS) * SLOTS
  }

  /** Count one in `slot` of the newest bucket. O(1), no allocation. */
  add(slot: Slot): void {
    const i = this.#base + slot
    this.#counts[i] = (this.#counts[i] as number) + 1
    this.#totals[slot] = (this.#totals[slot] as number) + 1
  }

  /** The total of `slot` over the window. */
  total(slot: Slot): number {
    return this.#totals[slot] as number
  }
}
