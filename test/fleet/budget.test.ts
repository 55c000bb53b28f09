/**
 * `budget.fleet` on the real Redis (127.0.0.1:6379, a key prefix per test, deleted afterwards): N resolver instances
 * sharing a quota spend it once, concurrently; the window refills (Redis's clock decides: the test moves the bucket's
 * stored time back instead of waiting a minute); the per-network share holds across the fleet; garbage in the budget
 * keys neither crashes nor unlocks calls.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FleetBudget } from '../../src/core/fleet/budget.js'
import { fleetBudgetKey, networkBudgetKey } from '../../src/core/fleet/budget-script.js'
import { redisLinkFrom } from '../../src/core/fleet/link.js'
import { resolverInternals } from '../../src/core/resolver.js'
import type { RiskResolverOptions } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check/vocabulary.js'
import { createTestClock } from '../../src/testing/clock.js'
import { createMemoryProvider, type MemoryProvider } from '../../src/testing/index.js'
import {
  SHARED_PORT,
  connectClient,
  deletePrefix,
  ipOfNetwork,
  keyvOn,
  member,
  redisOrSkip,
  uniquePrefix,
  type Member,
  type RedisClient,
} from './budget-helpers.js'

const run = await redisOrSkip()
const PROVIDER = 'fleetp'
let admin: RedisClient
const prefixes: string[] = []
const clients: RedisClient[] = []
const members: Member[] = []

beforeAll(async () => {
  if (run) admin = await connectClient(SHARED_PORT)
})
afterEach(async () => {
  for (const m of members.splice(0)) await m.risk.close()
  for (const c of clients.splice(0)) c.destroy()
})
afterAll(async () => {
  if (!run) return
  for (const prefix of prefixes) await deletePrefix(admin, prefix)
  admin.destroy()
})

/** N instances of one app (same Redis, prefix and provider name), each with its own connection and provider. */
async function fleet(n: number, budget: NonNullable<RiskResolverOptions['budget']>) {
  const prefix = uniquePrefix()
  prefixes.push(prefix)
  const instances: { m: Member; provider: MemoryProvider; clock: ReturnType<typeof createTestClock> }[] = []
  for (let i = 0; i < n; i++) {
    const client = await connectClient(SHARED_PORT)
    clients.push(client)
    const provider = createMemoryProvider({}, { name: PROVIDER })
    const clock = createTestClock()
    // Redis answers within 5 s here: these tests are about sharing, not about a slow Redis (budget-fallback.test.ts).
    const m = member({ provider, clock, cache: { l2: keyvOn(client), prefix }, budget: { timeoutMs: 10_000, ...budget } })
    members.push(m)
    instances.push({ m, provider, clock })
  }
  const calls = () => instances.reduce((sum, x) => sum + x.provider.calls, 0)
  return { prefix, instances, calls }
}

/** Spend the bucket's stored time back by `ms`: what Redis's clock would do by waiting, without waiting. */
async function rewind(key: string, ms: number): Promise<void> {
  const at = Number(await admin.hGet(key, 'a'))
  expect(Number.isFinite(at)).toBe(true)
  await admin.hSet(key, 'a', String(at - ms))
}

/** Look up `count` new addresses (distinct networks from `from`), spread over the instances, all at once. */
async function burst(instances: { m: Member }[], count: number, from: number, host = 1) {
  return Promise.all(Array.from({ length: count }, (_, i) => instances[i % instances.length]!.m.risk.lookup(ipOfNetwork(from + i, host))))
}

describe.skipIf(!run)('budget.fleet on Redis', () => {
  it.each([1, 2, 5])('%i instance(s) sharing a quota of 20 start at most 20 calls between them (concurrent misses)', async (n) => {
    const Q = 20
    const { instances, calls } = await fleet(n, { perNetwork: false, fleet: { perMinute: Q, timeoutMs: 5_000 } })
    const started = Date.now()
    const answers = await burst(instances, 4 * Q, 0)
    // Tolerance: what Redis's clock refilled while the burst ran (Q per minute), rounded up.
    const tolerance = Math.ceil(((Date.now() - started) * Q) / 60_000)
    expect(calls()).toBeGreaterThanOrEqual(Q) // the quota is given out: nothing is lost to the fallback
    expect(calls()).toBeLessThanOrEqual(Q + tolerance)
    const refused = answers.filter((a) => a.status === 'unavailable')
    expect(refused.length).toBe(answers.length - calls())
    expect(new Set(refused.map((a) => a.error))).toStrictEqual(new Set(['budget_exceeded']))
    for (const { m } of instances) expect(resolverInternals(m.risk).fleetBudget?.mode).toBe('shared')
  })

  it('the per-process meaning is unchanged: without budget.fleet, each instance spends its own maxPerMinute', async () => {
    const { instances, calls } = await fleet(3, { perNetwork: false, maxPerMinute: 5 })
    await burst(instances, 30, 0)
    expect(calls()).toBe(15)
  })

  it('the window refills on Redis time: half a minute gives half the quota back, a minute all of it', async () => {
    const Q = 20
    const { prefix, instances, calls } = await fleet(2, { perNetwork: false, fleet: { perMinute: Q } })
    await burst(instances, Q + 5, 0)
    expect(calls()).toBe(Q)
    const key = fleetBudgetKey(prefix, PROVIDER)
    await rewind(key, 30_000)
    await burst(instances, Q, 100)
    expect(calls() - Q).toBeGreaterThanOrEqual(Q / 2)
    expect(calls() - Q).toBeLessThanOrEqual(Q / 2 + 1) // + what Redis's clock added meanwhile
    await rewind(key, 60_000)
    const before = calls()
    await burst(instances, 2 * Q, 200)
    expect(calls() - before).toBeGreaterThanOrEqual(Q)
    expect(calls() - before).toBeLessThanOrEqual(Q + 1)
  })

  it('a spent fleet budget is loud: one fleet_budget_exhausted event per instance and minute, naming the option', async () => {
    const { instances } = await fleet(2, { perNetwork: false, fleet: { perMinute: 4 } })
    await burst(instances, 12, 0)
    await burst(instances, 12, 50)
    await new Promise((r) => setImmediate(r))
    for (const { m } of instances) {
      const exhausted = m.degraded.filter((e) => e.kind === 'fleet_budget_exhausted')
      expect(exhausted).toHaveLength(1)
      expect(exhausted[0]?.option).toBe('budget.fleet')
      expect(m.degraded.some((e) => e.kind === 'fleet_budget_fallback')).toBe(false)
    }
  })

  it('per network across the fleet: one /24 starts at most its share (25 % of 20 = 5), a newcomer network still gets calls', async () => {
    const { instances, calls } = await fleet(4, { fleet: { perMinute: 20 } })
    // 40 hosts of one /24, over 4 instances: the network's bucket is in Redis, shared by the instances.
    await Promise.all(Array.from({ length: 40 }, (_, i) => instances[i % 4]!.m.risk.lookup(`11.9.9.${i + 1}`)))
    expect(calls()).toBe(5)
    const newcomer = await instances[0]!.m.risk.lookup(ipOfNetwork(500))
    expect(newcomer.status).toBe('scored')
  })

  it('fleet and per-process budgets together: the tighter one refuses, a fleet refusal does not spend the local token', async () => {
    const { instances, calls } = await fleet(1, { perNetwork: false, maxPerMinute: 6, fleet: { perMinute: 4 } })
    await burst(instances, 8, 0)
    expect(calls()).toBe(4) // 6 passed the local budget, the fleet granted 4 of them
    const { budget } = resolverInternals(instances[0]!.m.risk)
    const now = instances[0]!.clock.now() // not advanced: no refill
    // 6 local tokens were taken, the 2 calls the fleet refused gave theirs back: 2 left.
    const left = [budget.acquire('', now), budget.acquire('', now), budget.acquire('', now)]
    expect(left).toStrictEqual([undefined, undefined, 'per_minute'])
  })
})

describe.skipIf(!run)('budget.fleet: values read from Redis are checked', () => {
  const Q = 5
  let link: ReturnType<typeof redisLinkFrom>
  let prefix: string

  beforeAll(async () => {
    if (!run) return
    const client = await connectClient(SHARED_PORT)
    link = redisLinkFrom(client, true)
  })
  afterAll(() => link?.close())

  function budget(perNetwork = false) {
    prefix = uniquePrefix()
    prefixes.push(prefix)
    const events: DegradedEvent[] = []
    const invalid: string[] = []
    const share = perNetwork ? { share: 0.5, reserve: 0, ipv4Prefix: 24, ipv6Prefix: 48 } : undefined
    const fleet = new FleetBudget({ perMinute: Q, fallbackPerMinute: 1, timeoutMs: 5_000 }, share, prefix, PROVIDER, createTestClock(), {
      link: () => link,
      degraded: (e) => void events.push(e),
      invalid: (m) => void invalid.push(m),
    })
    return { fleet, events, invalid, key: fleetBudgetKey(prefix, PROVIDER) }
  }

  async function takeAll(fleet: FleetBudget, network = '', max = 3 * Q): Promise<number> {
    let granted = 0
    for (let i = 0; i < max; i++) if (await fleet.take(network, 10_000)) granted++
    return granted
  }

  const garbage: [string, (key: string) => Promise<unknown>][] = [
    ['a string', (key) => admin.set(key, 'garbage')],
    ['a list', (key) => admin.rPush(key, ['1', '2'])],
    ['tokens that are not a number', (key) => admin.hSet(key, { t: 'many', a: '0' })],
    ['negative tokens', (key) => admin.hSet(key, { t: '-5', a: String(Date.now()) })],
    ['huge tokens (1e300)', (key) => admin.hSet(key, { t: '1e300', a: String(Date.now()) })],
    ['infinite tokens', (key) => admin.hSet(key, { t: 'inf', a: String(Date.now()) })],
    ['NaN tokens', (key) => admin.hSet(key, { t: 'nan', a: String(Date.now()) })],
    ['a time far in the future', (key) => admin.hSet(key, { t: '0', a: String(Date.now() + 86_400_000) })],
    ['a time missing', (key) => admin.hSet(key, { t: '3' })],
  ]

  it.each(garbage)('%s in the fleet key: no crash, no calls unlocked (an empty bucket), reported, then it refills normally', async (_, write) => {
    const { fleet, invalid, events, key } = budget()
    await write(key)
    expect(await fleet.take('', 10_000)).toBe(false)
    expect(invalid).toHaveLength(1)
    expect(invalid[0]).toContain(key)
    expect(fleet.mode).toBe('shared') // a checked value is not a Redis failure
    expect(events.map((e) => e.kind)).toStrictEqual(['fleet_budget_exhausted'])
    expect(await admin.type(key)).toBe('hash')
    await rewind(key, 60_000)
    expect(await takeAll(fleet)).toBe(Q)
  })

  it('a garbage network key: refused for that network only, reported; other networks spend normally', async () => {
    const { fleet, invalid } = budget(true)
    const net = '11.0.0.0/24'
    await admin.set(networkBudgetKey(prefix, PROVIDER, net), 'garbage')
    expect(await fleet.take(net, 10_000)).toBe(false)
    expect(invalid).toHaveLength(1)
    expect(await fleet.take('11.0.1.0/24', 10_000)).toBe(true)
  })

  it('tokens above the quota (another instance configured larger) are capped at this instance’s perMinute', async () => {
    const { fleet, invalid, key } = budget()
    await admin.hSet(key, { t: '1000', a: String(Date.now()) })
    expect(await takeAll(fleet)).toBe(Q)
    expect(invalid).toHaveLength(0)
  })
})
