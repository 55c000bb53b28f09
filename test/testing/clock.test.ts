import { describe, expect, it } from 'vitest'
import { isClock, systemClock } from '../../src/core/clock.js'
import { createTestClock } from '../../src/testing/clock.js'

describe('createTestClock', () => {
  it('starts at the given wall time and monotonic 0', () => {
    const clock = createTestClock(1_000)
    expect(clock.now()).toBe(1_000)
    expect(clock.monotonic()).toBe(0)
  })

  it('fires timers in due order, each seeing the time it was due at', () => {
    const clock = createTestClock(0)
    const seen: string[] = []
    clock.setTimeout(() => seen.push(`b@${clock.monotonic()}`), 20)
    clock.setTimeout(() => seen.push(`a@${clock.monotonic()}`), 10)
    clock.setTimeout(() => seen.push(`c@${clock.monotonic()}`), 20)
    clock.advance(15)
    expect(seen).toEqual(['a@10'])
    clock.advance(5)
    expect(seen).toEqual(['a@10', 'b@20', 'c@20'])
    expect(clock.now()).toBe(20)
    expect(clock.pendingTimers).toBe(0)
  })

  it('fires a timer scheduled by a firing timer when it falls inside the same advance', () => {
    const clock = createTestClock(0)
    const seen: number[] = []
    clock.setTimeout(() => {
      seen.push(clock.monotonic())
      clock.setTimeout(() => seen.push(clock.monotonic()), 5)
    }, 5)
    clock.advance(10)
    expect(seen).toEqual([5, 10])
  })

  it('does not fire cleared timers', () => {
    const clock = createTestClock(0)
    let fired = false
    const handle = clock.setTimeout(() => (fired = true), 1)
    clock.clearTimeout(handle)
    clock.advance(5)
    expect(fired).toBe(false)
  })

  it('lets promise jobs run between timers in advanceAsync', async () => {
    const clock = createTestClock(0)
    const seen: string[] = []
    clock.setTimeout(() => void Promise.resolve().then(() => seen.push('job')), 1)
    clock.setTimeout(() => seen.push('second'), 2)
    await clock.advanceAsync(3)
    expect(seen).toEqual(['job', 'second'])
  })

  it('steps wall time without moving monotonic time', () => {
    const clock = createTestClock(0)
    clock.setWallTime(5_000)
    expect(clock.now()).toBe(5_000)
    expect(clock.monotonic()).toBe(0)
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses advance(%s)', (ms) => {
    expect(() => createTestClock().advance(ms)).toThrow(RangeError)
  })

  it('is a Clock, as the system clock is; other values are not', () => {
    expect(isClock(createTestClock())).toBe(true)
    expect(isClock(systemClock)).toBe(true)
    expect(isClock({ now: () => 0 })).toBe(false)
    expect(isClock(null)).toBe(false)
  })
})
