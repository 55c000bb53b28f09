/**
 * `budget.fleet` without Redis: the option's checks and defaults, the script's identity and keys, the check of the
 * script's reply, and the loud local fallback when the shared cache gives no Redis link (time moved by hand on the
 * injected clock).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { FleetBudget, RETRY_MS, EVENT_INTERVAL_MS } from '../../src/core/fleet/budget.js'
import { FLEET_BUDGET_DEFAULTS } from '../../src/core/fleet/budget-options.js'
import { TAKE_SCRIPT, TAKE_SCRIPT_SHA, fleetBudgetKey, networkBudgetKey, parseReply } from '../../src/core/fleet/budget-script.js'
import { parseResolverOptions } from '../../src/core/options.js'
import { resolverInternals } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check/vocabulary.js'
import { createTestClock } from '../../src/testing/clock.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { ipOfNetwork, member } from './budget-helpers.js'

const provider = createMemoryProvider({})
const CACHE = 'redis://127.0.0.1:6379' // parsed only: nothing connects in these tests

function parse(fleet: unknown, cache: unknown = CACHE) {
  return parseResolverOptions({ provider, cache, budget: { fleet } })
}


function configError(fn: () => unknown): IpRiskConfigError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(IpRiskConfigError)
    return error as IpRiskConfigError
  }
  throw new Error('expected an IpRiskConfigError')
}

/** A bounded store that is not Redis: the shared cache works, the fleet budget has no link. */
function notRedisKeyv() {
  const map = new Map<string, unknown>()
  return {
    get: async (k: string) => map.get(k),
    set: async (k: string, v: unknown) => void map.set(k, v),
    delete: async (k: string) => map.delete(k),
    on: () => undefined,
  }
}

describe('budget.fleet: options', () => {
  it('defaults: fallbackPerMinute a tenth of perMinute (at least 1), timeoutMs 50', () => {
    expect(parse({ perMinute: 6_000 }).fleetBudget).toStrictEqual({ perMinute: 6_000, fallbackPerMinute: 600, timeoutMs: 50 })
    expect(parse({ perMinute: 5 }).fleetBudget?.fallbackPerMinute).toBe(1)
    expect(FLEET_BUDGET_DEFAULTS).toStrictEqual({ fallbackShare: 0.1, timeoutMs: 50 })
  })

  it('every field is taken as given', () => {
    expect(parse({ perMinute: 100, fallbackPerMinute: 0, timeoutMs: 7 }).fleetBudget).toStrictEqual({
      perMinute: 100,
      fallbackPerMinute: 0,
      timeoutMs: 7,
    })
  })

  it('unset: budgets stay per process (maxPerMinute keeps its meaning)', () => {
    const o = parseResolverOptions({ provider, cache: CACHE, budget: { maxPerMinute: 60 } })
    expect(o.fleetBudget).toBeUndefined()
    expect(o.maxPerMinute).toBe(60)
  })

  it.each([
    [{ perMinute: 0 }, 'budget.fleet.perMinute'],
    [{ perMinute: 1.5 }, 'budget.fleet.perMinute'],
    [{ perMinute: 10_000_001 }, 'budget.fleet.perMinute'],
    [{ perMinute: '100' }, 'budget.fleet.perMinute'],
    [{}, 'budget.fleet.perMinute'],
    [{ perMinute: 10, fallbackPerMinute: -1 }, 'budget.fleet.fallbackPerMinute'],
    [{ perMinute: 10, fallbackPerMinute: 11 }, 'budget.fleet.fallbackPerMinute'],
    [{ perMinute: 10, timeoutMs: 0 }, 'budget.fleet.timeoutMs'],
    [{ perMinute: 10, timeoutMs: 10_001 }, 'budget.fleet.timeoutMs'],
    [{ perMinute: 10, extra: 1 }, 'budget.fleet'],
    [1000, 'budget.fleet'],
    [null, 'budget.fleet'],
  ])('%j is refused, naming %s', (fleet, option) => {
    expect(configError(() => parse(fleet)).option).toBe(option)
  })

  it('without a shared cache it is an IpRiskConfigError, never a silent per-process budget', () => {
    const error = configError(() => parseResolverOptions({ provider, budget: { fleet: { perMinute: 100 } } }))
    expect(error.option).toBe('budget.fleet')
    expect(error.message).toContain('budget.maxPerMinute')
  })
})

describe('budget.fleet: the script and its keys', () => {
  it('TAKE_SCRIPT_SHA is the SHA-1 of the script (EVALSHA finds what EVAL cached)', () => {
    expect(createHash('sha1').update(TAKE_SCRIPT).digest('hex')).toBe(TAKE_SCRIPT_SHA)
  })

  it.each(['198.51.100.0/24', '2001:db8:1::/48', ''])('the fleet key and the network key %j share the {fleet} hash tag (one cluster slot)', (network) => {
    const fleet = fleetBudgetKey('iprisk', 'ipasis')
    const net = networkBudgetKey('iprisk', 'ipasis', network)
    expect(fleet).toBe('iprisk:2:{fleet}:budget:ipasis')
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1]
    expect(tag(fleet)).toBe('fleet')
    expect(tag(net)).toBe('fleet')
  })

  it.each([
    [[1, 0, 0], { granted: true, refusal: undefined, invalid: 0 }],
    [[0, 1, 0], { granted: false, refusal: 'fleet', invalid: 0 }],
    [[0, 2, 2], { granted: false, refusal: 'network', invalid: 2 }],
  ])('reply %j is read as %j', (reply, read) => {
    expect(parseReply(reply)).toStrictEqual(read)
  })

  it.each([null, 'OK', 1, [], [1, 0], [1, 0, 0, 0], ['1', 0, 0], [1, 1, 0], [0, 0, 0], [2, 0, 0], [1, 0, 3], [1, 0, -1], [0, 3, 0]].map((r) => [r]))(
    'reply %j is not one (a failure: the local fallback applies)',
    (reply) => {
      expect(parseReply(reply)).toBeUndefined()
    },
  )
})

describe('budget.fleet: no Redis link', () => {
  it('a shared cache that is not Redis: calls spend from the local fallback, loudly, and it refills on the injected clock', async () => {
    const clock = createTestClock()
    const memory = createMemoryProvider({})
    const m = member({
      provider: memory,
      clock,
      cache: notRedisKeyv(),
      budget: { perNetwork: false, fleet: { perMinute: 100, fallbackPerMinute: 3 } },
    })
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await m.risk.lookup(ipOfNetwork(i)))
    expect(memory.calls).toBe(3)
    expect(answers.map((a) => a.status)).toStrictEqual(['scored', 'scored', 'scored', 'unavailable', 'unavailable'])
    expect(answers[4]?.error).toBe('budget_exceeded')
    await new Promise((r) => setImmediate(r)) // hooks run after the request code
    expect(m.degraded.map((e) => e.kind)).toStrictEqual(['fleet_budget_fallback'])
    expect(m.degraded[0]?.option).toBe('budget.fleet')
    expect(m.degraded[0]?.message).toContain('[cause: no_link]')
    expect(resolverInternals(m.risk).fleetBudget?.mode).toBe('fallback')
    clock.advance(20_000) // a third of a minute: one token of 3
    expect((await m.risk.lookup(ipOfNetwork(10))).status).toBe('scored')
    expect((await m.risk.lookup(ipOfNetwork(11))).error).toBe('budget_exceeded')
    expect(memory.calls).toBe(4)
    await m.risk.close()
  })
})

describe('FleetBudget on its own (no link)', () => {
  function budget(fallbackPerMinute: number) {
    const clock = createTestClock()
    const events: DegradedEvent[] = []
    const fleet = new FleetBudget({ perMinute: 100, fallbackPerMinute, timeoutMs: 50 }, undefined, 'p', 'memory', clock, {
      link: () => undefined,
      degraded: (e) => void events.push(e),
      invalid: () => undefined,
    })
    return { clock, events, fleet }
  }

  it('fallbackPerMinute 0 refuses every call while Redis cannot answer, and says so', () => {
    const { fleet, events } = budget(0)
    expect([fleet.take('', 1_000), fleet.take('', 1_000)]).toStrictEqual([false, false])
    expect(events).toHaveLength(1)
    expect(events[0]?.message).toContain('refuses every provider call')
  })

  it('answers synchronously while falling back (no promise, no round trip)', () => {
    const { fleet } = budget(5)
    expect(fleet.take('', 1_000)).toBe(true)
    expect(fleet.take('', 1_000)).toBe(true)
  })

  it(`raises the fallback event at most once per ${EVENT_INTERVAL_MS} ms of the injected clock`, () => {
    const { fleet, events, clock } = budget(1_000)
    for (let i = 0; i < 10; i++) {
      fleet.take('', 1_000)
      clock.advance(RETRY_MS) // each time, Redis would be asked again (no link: a new failure)
    }
    expect(events).toHaveLength(1) // 10 × 5 s = 50 s < 60 s
    clock.advance(EVENT_INTERVAL_MS)
    fleet.take('', 1_000)
    expect(events).toHaveLength(2)
  })
})
