/**
 * A manual {@link Clock} for tests: time moves only when the test says so, and timers fire in order as it passes.
 * Written by hand rather than with `@sinonjs/fake-timers` because it must not patch globals: the code under test gets
 * this clock by injection while the test runner, sockets and Redis keep real time.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../core/clock.js'

/** A {@link Clock} whose time a test moves by hand. */
export interface TestClock extends Clock {
  /** Moves both clocks forward by `ms` (≥ 0), firing every timer that falls due, in due order. */
  advance(ms: number): void
  /** Moves forward by `ms`, firing due timers and letting the promise jobs they queue run in between. */
  advanceAsync(ms: number): Promise<void>
  /** Sets wall time (epoch ms) without moving monotonic time or firing timers, like an NTP step. */
  setWallTime(epochMs: number): void
  /** Timers scheduled and not yet fired or cleared. */
  readonly pendingTimers: number
}

interface Timer {
  readonly id: number
  readonly due: number
  readonly callback: () => void
}

/**
 * Creates a manual clock starting at wall time `startEpochMs` (default 2026-01-01T00:00:00Z) and monotonic time 0.
 *
 * @example
 * ```ts
 * const clock = createTestClock()
 * const risk = createRiskResolver({ provider, clock })
 * clock.advance(1_000)
 * ```
 */
export function createTestClock(startEpochMs = Date.UTC(2026, 0, 1)): TestClock {
  if (!Number.isFinite(startEpochMs)) throw new TypeError('createTestClock: startEpochMs must be a finite number')
  let wall = startEpochMs
  let mono = 0
  let nextId = 1
  const timers = new Map<number, Timer>()

  const nextDue = (limit: number): Timer | undefined => {
    let best: Timer | undefined
    for (const timer of timers.values()) {
      if (timer.due <= limit && (best === undefined || timer.due < best.due || (timer.due === best.due && timer.id < best.id))) {
        best = timer
      }
    }
    return best
  }
  const checkStep = (ms: number): void => {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`TestClock.advance: ms must be a finite number >= 0, got ${ms}`)
  }
  const fire = (timer: Timer): void => {
    timers.delete(timer.id)
    wall += timer.due - mono
    mono = timer.due
    timer.callback()
  }

  return {
    now: () => wall,
    monotonic: () => mono,
    setTimeout(callback: () => void, ms: number): TimerHandle {
      const id = nextId++
      const delay = Number.isFinite(ms) && ms > 0 ? ms : 0
      timers.set(id, { id, due: mono + delay, callback })
      return id
    },
    clearTimeout(handle: TimerHandle): void {
      if (typeof handle === 'number') timers.delete(handle)
    },
    advance(ms: number): void {
      checkStep(ms)
      const target = mono + ms
      for (let timer = nextDue(target); timer !== undefined; timer = nextDue(target)) fire(timer)
      wall += target - mono
      mono = target
    },
    async advanceAsync(ms: number): Promise<void> {
      checkStep(ms)
      const target = mono + ms
      for (let timer = nextDue(target); timer !== undefined; timer = nextDue(target)) {
        fire(timer)
        await yieldToJobs()
      }
      wall += target - mono
      mono = target
      await yieldToJobs()
    },
    setWallTime(epochMs: number): void {
      if (!Number.isFinite(epochMs)) throw new RangeError('TestClock.setWallTime: epochMs must be finite')
      wall = epochMs
    },
    get pendingTimers() {
      return timers.size
    },
  }
}

/** Lets queued promise jobs (and I/O callbacks already due) run: a macrotask turn, portable across runtimes. */
function yieldToJobs(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 0))
}
