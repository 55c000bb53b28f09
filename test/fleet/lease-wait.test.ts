/**
 * How long a waiter waits, on the injected clock (a test clock: no sleeps), with a real Redis holding a lease another
 * instance took for longer than the wait: the waiter polls, stops at half of `budget.timeoutMs` and asks the provider
 * itself with the other half; `close()` ends a wait at once. Skipped without Redis unless IPRISK_REQUIRE_REDIS=1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { leaseCacheKey } from '../../src/core/fleet/lease-scripts.js'
import { LEASE_MAX_POLL_MS } from '../../src/core/fleet/lease.js'
import { ipasis } from '../../src/core/provider.js'
import { resolverInternals } from '../../src/core/resolver.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createTestClock, type TestClock } from '../../src/testing/clock.js'
import { SHARED, cleanUp, closeInstances, instance, rawClient, skipRedis, uniquePrefix, until } from './lease-support.js'

let sim: IpasisSimulator
beforeAll(async () => {
  sim = await startIpasisSimulator()
})
afterEach(async () => {
  await closeInstances()
  sim.reset()
})
afterAll(async () => {
  await sim?.close()
  if (!skipRedis) await cleanUp()
})

const IP = '203.0.113.50'
const FOREIGN = 'ef'.repeat(16)

/** One instance on a test clock (budget 1000 ms: waits end at 500), with another instance's lease on IP for 30 s. */
async function waiter(): Promise<{ r: RiskResolver; clock: TestClock; leaseKey: string }> {
  const clock = createTestClock()
  const prefix = uniquePrefix()
  const r = await instance({
    provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url, clock }),
    cache: { l2: SHARED, prefix, l2TimeoutMs: 5_000, leaseMs: 200 },
    budget: { timeoutMs: 1_000 },
    clock,
  })
  const leaseKey = leaseCacheKey(prefix, 'ipasis', IP)
  await (await rawClient()).set(leaseKey, FOREIGN, { PX: 30_000 })
  return { r, clock, leaseKey }
}

function watch(p: Promise<IpRisk>): { done: () => boolean } {
  let settled = false
  void p.then(() => (settled = true))
  return { done: () => settled }
}

describe.skipIf(skipRedis)('fleet lease: how long a waiter waits (test clock)', () => {
  it('a waiter polls while the lease is held, stops at half of budget.timeoutMs, then asks on its own in time', async () => {
    const { r, clock, leaseKey } = await waiter()
    const lease = resolverInternals(r).lease
    if (lease === undefined) throw new Error('no lease')
    const pending = r.lookup(IP)
    const p = watch(pending)
    let polls = 0
    while (!p.done()) {
      await until(() => p.done() || lease.sleeping === 1, 5_000, 'the waiter sleeps between polls, or answers')
      if (p.done()) break
      // While it waits, nobody asked the provider.
      expect(sim.calls).toBe(0)
      expect(clock.monotonic()).toBeLessThan(500)
      clock.advance(LEASE_MAX_POLL_MS)
      polls++
    }
    const answer = await pending
    expect(answer).toMatchObject({ status: 'scored', source: 'upstream' })
    expect(sim.callsFor(IP)).toBe(1)
    expect(clock.monotonic()).toBeGreaterThanOrEqual(500)
    expect(clock.monotonic()).toBeLessThan(1_000)
    expect(lease.stats).toMatchObject({ waits: 1, gaveUp: 1, held: 0 })
    expect(polls).toBeGreaterThanOrEqual(10) // every 10, 20, 40, 50, 50… ms up to 500
    // The other instance's lease is its own: not touched.
    expect(await (await rawClient()).get(leaseKey)).toBe(FOREIGN)
  })

  it('close() ends a wait at once: the lookup answers, nobody is called', async () => {
    const { r } = await waiter()
    const lease = resolverInternals(r).lease
    if (lease === undefined) throw new Error('no lease')
    const pending = r.lookup(IP)
    await until(() => lease.sleeping === 1, 5_000, 'the waiter sleeps')
    await r.close()
    expect((await pending).status).toBe('unavailable')
    expect(sim.calls).toBe(0)
  })
})
