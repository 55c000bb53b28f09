/**
 * The provider's circuit breaker (src/core/breaker.ts), on the manual test clock: consecutive failures open it, the
 * open period is read from the injected clock, one probe is let through, and its outcome closes or reopens it.
 */
import { describe, expect, it } from 'vitest'
import { ConsecutiveBreaker } from '../../src/core/breaker.js'
import type { BreakerState } from '../../src/core/metrics.js'
import { createTestClock } from '../../src/testing/clock.js'

function breaker(failures = 3, halfOpenAfterMs = 30_000) {
  const clock = createTestClock()
  const changes: BreakerState[] = []
  const b = new ConsecutiveBreaker(failures, halfOpenAfterMs, clock, (s) => changes.push(s))
  /** One call through the breaker, as the provider gate makes it: false when refused. */
  const call = (ok: boolean): boolean => {
    if (!b.permits()) return false
    b.begin()
    if (ok) b.success()
    else b.failure()
    return true
  }
  return { b, clock, changes, call }
}

describe('ConsecutiveBreaker', () => {
  it.each([1, 3, 5])('opens after %i consecutive failures, not before', (failures) => {
    const { b, call, changes } = breaker(failures)
    for (let i = 1; i < failures; i++) expect(call(false)).toBe(true)
    expect(b.state).toBe('closed')
    expect(call(false)).toBe(true)
    expect(b.state).toBe('open')
    expect(changes).toEqual(['open'])
    expect(b.permits(), 'refused while open').toBe(false)
  })

  it('a success in between resets the count', () => {
    const { b, call } = breaker(3)
    call(false)
    call(false)
    call(true)
    call(false)
    call(false)
    expect(b.state).toBe('closed')
    call(false)
    expect(b.state).toBe('open')
  })

  it('stays open for exactly halfOpenAfterMs of the injected clock, then lets one probe through', () => {
    const { b, clock, call } = breaker(1, 30_000)
    call(false)
    clock.advance(29_999)
    expect(b.permits()).toBe(false)
    clock.advance(1)
    expect(b.permits()).toBe(true)
    expect(b.state, 'still open until a call is let through').toBe('open')
    b.begin()
    expect(b.state).toBe('half_open')
    expect(b.permits(), 'no second call while the probe is in flight').toBe(false)
  })

  it.each([
    [true, 'closed'],
    [false, 'open'],
  ] as const)('a probe that %s leaves it %s', (ok, state) => {
    const { b, clock, changes } = breaker(2, 1_000)
    b.failure()
    b.failure()
    clock.advance(1_000)
    b.begin()
    if (ok) b.success()
    else b.failure()
    expect(b.state).toBe(state)
    expect(changes).toEqual(['open', 'half_open', state])
  })

  it("a failed probe opens it for a whole new period, from the probe's end", () => {
    const { b, clock } = breaker(1, 1_000)
    b.failure()
    clock.advance(5_000)
    b.begin()
    clock.advance(400)
    b.failure()
    clock.advance(999)
    expect(b.permits()).toBe(false)
    clock.advance(1)
    expect(b.permits()).toBe(true)
  })

  it('outcomes of calls started before it opened change nothing while it is open', () => {
    const { b, clock, changes } = breaker(2, 1_000)
    b.failure()
    b.failure()
    clock.advance(600)
    b.success() // a straggler
    b.failure() // another one: does not restart the open period
    expect(b.state).toBe('open')
    clock.advance(400)
    expect(b.permits()).toBe(true)
    expect(changes).toEqual(['open'])
  })

  it('a wall clock stepped back keeps it open (no early probe)', () => {
    const { b, clock } = breaker(1, 1_000)
    b.failure()
    clock.setWallTime(clock.now() - 60_000)
    clock.advance(1_000)
    expect(b.permits()).toBe(false)
  })
})
