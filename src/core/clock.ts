/**
 * The one clock every timer and freshness check reads (issue #16): wall time for TTLs, freshness, retry-after and
 * budget windows; monotonic time for durations and deadlines; and the timers that fire on them. Production code never
 * calls `Date.now`, `performance.now` or `setTimeout` directly: it asks the {@link Clock} it was given, so a test can
 * hand in a manual clock (`createTestClock()` from `iprisk/testing`) and move time by hand instead of sleeping.
 *
 * @module
 */

/** An opaque timer handle, as returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown

/**
 * Where iprisk reads time and schedules timers. Pass one as `createRiskResolver({ clock })`; the default is
 * {@link systemClock}.
 *
 * @example
 * ```ts
 * import { createRiskResolver } from 'iprisk'
 * import { createTestClock, createMemoryProvider } from 'iprisk/testing'
 *
 * const clock = createTestClock()
 * const risk = createRiskResolver({ provider: createMemoryProvider(), clock })
 * clock.advance(301_000) // the cached answers are now stale, without a sleep
 * ```
 */
export interface Clock {
  /** Wall-clock time in epoch milliseconds (`Date.now()` by default). */
  now(): number
  /** Monotonic milliseconds for measuring durations (`performance.now()` by default). */
  monotonic(): number
  /** Runs `callback` after `ms` milliseconds; timers of the system clock are `unref`'d so they never hold a process open. */
  setTimeout(callback: () => void, ms: number): TimerHandle
  /** Cancels a timer made by {@link Clock.setTimeout}; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void
}

/** The real clock: `Date.now`, `performance.now` and unref'd `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = setTimeout(callback, ms) as unknown as { unref?: () => void }
    // Workers and browsers return a number; Node, Bun and Deno a handle that can be unref'd.
    if (typeof timer === 'object' && timer !== null && typeof timer.unref === 'function') timer.unref()
    return timer
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0])
  },
})

const CLOCK_KEYS = ['now', 'monotonic', 'setTimeout', 'clearTimeout'] as const

/** What an option that is not a {@link Clock} is told (the resolver's `clock` and `ipasis({ clock })`). @internal */
export const NOT_A_CLOCK =
  'must be a Clock: an object with now(), monotonic(), setTimeout(callback, ms) and clearTimeout(handle), e.g. createTestClock() from iprisk/testing'

/** True when `value` has the four functions of a {@link Clock} (used by option validation). */
export function isClock(value: unknown): value is Clock {
  if (typeof value !== 'object' || value === null) return false
  return CLOCK_KEYS.every((key) => typeof (value as Record<string, unknown>)[key] === 'function')
}
