/**
 * Memory bounds of the resolver under an IP-rotating flood: a million distinct addresses go through peek / lookup and
 * nothing the resolver keeps grows past its bound. (A separate file so that it runs alongside the other suites.)
 */
import { describe, expect, it } from 'vitest'
import { createRiskResolver, resolverInternals } from '../../src/core/resolver.js'
import type { IpRisk, Provider, RiskData } from '../../src/core/types.js'

const ANSWER: RiskData = {
  score: 5,
  isVpn: false,
  isProxy: false,
  isTor: false,
  isDatacenter: false,
  countryCode: 'US',
  asn: 64500,
  isp: 'Example',
}

/** An in-memory provider with nothing but a counter: the test measures the resolver, not a provider. */
function countingProvider(): Provider & { calls: number } {
  const provider = {
    name: 'bounds',
    calls: 0,
    lookup: async (): Promise<RiskData> => {
      provider.calls++
      return ANSWER
    },
  }
  return provider
}

describe('bounds under 1,000,000 distinct IPs', () => {
  it('L1 never holds more than cache.l1.max entries, and nothing else is left behind', async () => {
    const provider = countingProvider()
    const r = createRiskResolver({ provider, cache: { l1: { max: 5_000 } }, budget: { maxInFlight: 100_000 } })
    const internals = resolverInternals(r)
    let largest = 0
    for (let batch = 0; batch < 1_000; batch++) {
      const pending: Array<Promise<IpRisk>> = []
      for (let i = 0; i < 1_000; i++) {
        const n = batch * 1_000 + i
        const ip = `11.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
        if (r.peek(ip) === undefined) pending.push(r.lookup(ip))
      }
      await Promise.all(pending)
      largest = Math.max(largest, internals.l1.size)
    }
    expect(provider.calls).toBe(1_000_000)
    expect(largest).toBe(5_000)
    expect(internals.flights()).toBe(0)
    expect(internals.inFlight()).toBe(0)
    expect(r.peek('11.15.66.63')?.source).toBe('l1') // the most recent are kept…
    expect(r.peek('11.0.0.1')).toBeUndefined() // …the oldest were evicted
    await r.close()
  }, 60_000)

  it('IPv6 rotation across many /64s is bounded the same way', async () => {
    const provider = countingProvider()
    const r = createRiskResolver({ provider, cache: { l1: { max: 1_000 } }, budget: { maxInFlight: 100_000 } })
    const internals = resolverInternals(r)
    for (let batch = 0; batch < 20; batch++) {
      const pending: Array<Promise<IpRisk>> = []
      for (let i = 0; i < 1_000; i++) {
        const n = batch * 1_000 + i
        pending.push(r.lookup(`2a00:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}:1::${(i + 1).toString(16)}`))
      }
      await Promise.all(pending)
      expect(internals.l1.size).toBeLessThanOrEqual(1_000)
    }
    expect(provider.calls).toBe(20_000)
    await r.close()
  })
})
