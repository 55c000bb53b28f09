/**
 * The self-check on the injected clock (issue #16): its coarse clock is a timer of the `Clock` it is given, ticking on
 * second boundaries, so a test clock moves the sliding window without a sleep, and a decision reads no clock while the
 * timer runs.
 */
import { describe, expect, it, vi } from 'vitest'
import type { Clock } from '../../src/core/clock.js'
import { evaluate, policies } from '../../src/core/policy.js'
import { createRiskResolver } from '../../src/core/resolver.js'
import { SELF_CHECK_WINDOW_MS, SelfCheck, type DegradedEvent } from '../../src/core/self-check.js'
import { CoarseClock } from '../../src/core/self-check/coarse-clock.js'
import type { Decision } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'
import { createMemoryProvider } from '../../src/testing/memory.js'
import { NO_DATA, risk } from '../support/risk.js'

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0)
const scored: Decision = evaluate(risk({ score: 5 }), policies.human, 'open')
const skipped: Decision = evaluate(risk({ ...NO_DATA, ip: '10.0.3.7', status: 'skipped' }), policies.human, 'open')

function selfCheckOn(clock: Clock): { check: SelfCheck; warnings: DegradedEvent[] } {
  const warnings: DegradedEvent[] = []
  return { check: new SelfCheck({ warn: (event) => void warnings.push(event), providerName: 'test' }, clock), warnings }
}

const totalOf = (check: SelfCheck): number => check.snapshot({ breaker: 'closed', l2: 'none', closed: false }).decisions.total

describe('CoarseClock', () => {
  it('ticks on the boundaries of its period, whatever the time of the first refresh', () => {
    const clock = createTestClock(T0 + 300)
    const ticks: number[] = []
    const coarse = new CoarseClock(clock, 1_000, (t) => void ticks.push(t - T0))
    expect(coarse.manual).toBe(true)
    expect(coarse.refresh()).toBe(T0 + 300)
    expect(coarse.manual).toBe(false)
    clock.advance(2_750)
    expect(ticks).toStrictEqual([1_000, 2_000, 3_000])
    expect(coarse.now).toBe(T0 + 3_000)
    coarse.stop()
  })

  it('starts no timer before the first refresh, and stop() cancels it', () => {
    const clock = createTestClock(T0)
    const coarse = new CoarseClock(clock, 1_000, () => undefined)
    expect(clock.pendingTimers).toBe(0)
    coarse.refresh()
    expect(clock.pendingTimers).toBe(1)
    coarse.stop()
    expect(clock.pendingTimers).toBe(0)
    expect(coarse.manual).toBe(true)
    coarse.refresh() // stopped: reads the clock, starts nothing
    expect(clock.pendingTimers).toBe(0)
  })

  it('where no timer can be set, stays manual: every read refreshes', () => {
    const clock = { ...createTestClock(T0), setTimeout: () => {
      throw new Error('timers are not allowed here')
    } }
    const coarse = new CoarseClock(clock, 1_000, () => undefined)
    expect(coarse.refresh()).toBe(T0)
    expect(coarse.manual).toBe(true)
  })
})

describe('SelfCheck on an injected clock', () => {
  it('a decision reads no clock while the coarse clock ticks (only the first one, which starts it)', () => {
    const clock = createTestClock(T0)
    const now = vi.spyOn(clock, 'now')
    const { check } = selfCheckOn(clock)
    check.decision(scored, undefined)
    expect(now).toHaveBeenCalledTimes(1)
    clock.advance(5_000) // five ticks, each reading the clock once
    now.mockClear()
    for (let i = 0; i < 1_000; i++) check.decision(scored, undefined)
    expect(now).not.toHaveBeenCalled()
    check.stop()
  })

  it('the window slides with the clock: decisions leave it 60 s after their second', () => {
    const clock = createTestClock(T0)
    const { check } = selfCheckOn(clock)
    for (let i = 0; i < 15; i++) check.decision(skipped, undefined)
    clock.advance(SELF_CHECK_WINDOW_MS - 1_000)
    for (let i = 0; i < 4; i++) check.decision(skipped, undefined)
    expect(totalOf(check)).toBe(19)
    clock.advance(1_000)
    expect(totalOf(check)).toBe(4)
    clock.advance(SELF_CHECK_WINDOW_MS)
    expect(totalOf(check)).toBe(0)
    check.stop()
  })

  it('no_verdict is stamped with the coarse time of the decision that raised it', () => {
    const clock = createTestClock(T0)
    const { check, warnings } = selfCheckOn(clock)
    check.decision(skipped, undefined)
    clock.advance(2_500) // ticks at +1 s and +2 s
    for (let i = 0; i < 19; i++) check.decision(skipped, undefined)
    expect(warnings.map((w) => [w.kind, w.timestamp])).toStrictEqual([['no_verdict', new Date(T0 + 2_000).toISOString()]])
    check.stop()
  })

  it('after stop(), each decision reads the clock itself', () => {
    const clock = createTestClock(T0)
    const { check } = selfCheckOn(clock)
    check.decision(skipped, undefined)
    check.stop()
    expect(clock.pendingTimers).toBe(0)
    clock.setWallTime(T0 + SELF_CHECK_WINDOW_MS) // no timer fires: the decision must read the time
    check.decision(skipped, undefined)
    expect(totalOf(check)).toBe(1)
  })
})

describe('createRiskResolver({ clock })', () => {
  it('rejects a value that is not a Clock, naming `clock`', () => {
    expect(() => createRiskResolver({ provider: createMemoryProvider({}), clock: { now: () => 0 } as unknown as Clock })).toThrow(
      expect.objectContaining({ name: 'IpRiskConfigError', option: 'clock' }),
    )
  })

  it("drives the self-check's window and the reporter's timestamps", async () => {
    const clock = createTestClock(T0)
    const degraded: DegradedEvent[] = []
    const risk = createRiskResolver({ provider: createMemoryProvider({}), clock, onDegraded: (e) => void degraded.push(e) })
    const answer = await risk.lookup('10.0.3.7')
    clock.advance(90_000)
    for (let i = 0; i < 20; i++) risk.report(risk.check(answer, policies.human))
    expect(risk.status().decisions.total).toBe(20)
    clock.advance(SELF_CHECK_WINDOW_MS)
    expect(risk.status()).toMatchObject({ decisions: { total: 0 }, at: new Date(T0 + 90_000 + SELF_CHECK_WINDOW_MS).toISOString() })
    await new Promise<void>((resolve) => setImmediate(resolve))
    expect(degraded.map((e) => [e.kind, e.timestamp])).toStrictEqual([['no_verdict', new Date(T0 + 90_000).toISOString()]])
    await risk.close()
    expect(clock.pendingTimers).toBe(0)
  })
})
