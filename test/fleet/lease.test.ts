/**
 * Fleet-wide single flight on a real Redis (127.0.0.1:6379, database 13, a key prefix per test): in-process resolver
 * instances, each with its own Redis clients and its own IPASIS client, against one simulator that counts the
 * upstream calls. Skipped without Redis unless IPRISK_REQUIRE_REDIS=1 (then they fail).
 */
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { metricNames } from '../../src/core/index.js'
import { blockCacheKey, riskCacheKey } from '../../src/core/cache.js'
import { leaseCacheKey } from '../../src/core/fleet/lease-scripts.js'
import { ipasis } from '../../src/core/provider.js'
import { resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
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

/** `n` instances of one app (same prefix, provider name), each its own clients. */
async function fleet(n: number, cache: Record<string, unknown> = {}, extra: Partial<RiskResolverOptions> = {}) {
  const prefix = uniquePrefix()
  const rs: RiskResolver[] = []
  for (let i = 0; i < n; i++) {
    rs.push(
      await instance({
        provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }),
        cache: { l2: SHARED, prefix, l2TimeoutMs: 2_000, ...cache },
        budget: { timeoutMs: 4_000 },
        ...extra,
      }),
    )
  }
  return { rs, prefix }
}

const leaseOf = (r: RiskResolver) => {
  const lease = resolverInternals(r).lease
  if (lease === undefined) throw new Error('no lease')
  return lease
}
const sum = (rs: RiskResolver[], f: (s: ReturnType<typeof leaseOf>['stats']) => number): number =>
  rs.reduce((t, r) => t + f(leaseOf(r).stats), 0)
const sources = (answers: IpRisk[]): string[] => answers.map((a) => a.source).sort()

describe.skipIf(skipRedis)('fleet lease: one upstream call per new IP across instances', () => {
  it('10 instances receiving the same new IP at the same moment make exactly 1 upstream call', async () => {
    sim.setLatency(150)
    const { rs } = await fleet(10)
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.7')))
    expect(sim.callsFor('203.0.113.7')).toBe(1)
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
    expect(new Set(answers.map((a) => a.score)).size).toBe(1)
    expect(sources(answers)).toEqual(['l2', 'l2', 'l2', 'l2', 'l2', 'l2', 'l2', 'l2', 'l2', 'upstream'])
    expect(sum(rs, (s) => s.held)).toBe(1)
    expect(sum(rs, (s) => s.answered)).toBe(9)
  })

  it('5 instances, 4 new IPs each at once: one call per IP', async () => {
    sim.setLatency({ min: 20, max: 120 })
    const { rs } = await fleet(5)
    const ips = ['203.0.113.10', '203.0.113.11', '198.51.100.12', '2001:db8:5::1']
    const answers = await Promise.all(rs.flatMap((r) => ips.map((ip) => r.lookup(ip))))
    for (const ip of ips) expect(sim.callsFor(ip)).toBe(1)
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
  })

  it('contrast: with `leaseMs: false` the same 5 instances each ask (the lease is what saves the calls)', async () => {
    sim.setLatency(150)
    const { rs } = await fleet(5, { leaseMs: false })
    expect(resolverInternals(rs[0] as RiskResolver).lease).toBeUndefined()
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.8')))
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
    expect(sim.callsFor('203.0.113.8')).toBe(5)
  })

  it('the holder answers after its answer is in Redis: an instance asking right after finds it (no second call)', async () => {
    const { rs, prefix } = await fleet(2)
    const [a, b] = rs as [RiskResolver, RiskResolver]
    expect(await a.lookup('203.0.113.9')).toMatchObject({ status: 'scored', source: 'upstream' })
    const c = await rawClient()
    // Already there when lookup() resolved: the write was awaited, not fired and forgotten.
    expect(await c.get(riskCacheKey(prefix, 'ipasis', '203.0.113.9'))).toMatch(/^\{"value":\{"f":\d+,"d":\[/)
    expect(await c.exists(leaseCacheKey(prefix, 'ipasis', '203.0.113.9'))).toBe(0)
    expect(await b.lookup('203.0.113.9')).toMatchObject({ status: 'scored', source: 'l2' })
    expect(sim.callsFor('203.0.113.9')).toBe(1)
  })

  it('a blocklisted answer: the holder publishes the block with it, the waiters answer blocked', async () => {
    sim.setProfile('203.0.113.66', 'tor')
    sim.setLatency(100)
    const { rs, prefix } = await fleet(4, {}, { blocklist: { score: 50 } })
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.66')))
    expect(sim.callsFor('203.0.113.66')).toBe(1)
    expect(answers.every((a) => a.listed === 'blocklist')).toBe(true)
    expect(await (await rawClient()).exists(blockCacheKey(prefix, '203.0.113.66'))).toBe(1)
  })

  it('iprisk.cache.lookups: the holder counts a miss, each waiter an l2 hit (never both)', async () => {
    sim.setLatency(100)
    const readers = [new TestReader(), new TestReader(), new TestReader()]
    const { rs } = await fleet(0)
    const prefix = uniquePrefix()
    for (const reader of readers) {
      rs.push(
        await instance({
          provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }),
          cache: { l2: SHARED, prefix, l2TimeoutMs: 2_000 },
          meterProvider: new MeterProvider({ readers: [reader] }),
        }),
      )
    }
    await Promise.all(rs.map((r) => r.lookup('203.0.113.21')))
    const tiers = await Promise.all(readers.map((r) => lookupsByTier(r)))
    expect(tiers.sort((a, b) => Object.keys(a)[0]!.localeCompare(Object.keys(b)[0]!))).toEqual([{ l2: 1 }, { l2: 1 }, { miss: 1 }])
  })

  it('no lease script on an L1 hit, nor on an L2 hit', async () => {
    const { rs } = await fleet(2)
    const [a, b] = rs as [RiskResolver, RiskResolver]
    await a.lookup('203.0.113.20')
    const sent = leaseOf(a).stats.scripts
    expect(sent).toBe(2) // the miss: answer-or-lease before the call, publish-and-release after it
    await a.lookup('203.0.113.20') // L1
    expect(leaseOf(a).stats.scripts).toBe(sent)
    expect(await b.lookup('203.0.113.20')).toMatchObject({ source: 'l2' })
    expect(leaseOf(b).stats.scripts).toBe(0)
  })
})

describe.skipIf(skipRedis)('fleet lease: a holder that dies, a failing holder', () => {
  it('a dead holder\'s lease (300 ms): the others wait, one takes over when it expires; 1 call, all scored', async () => {
    const { rs, prefix } = await fleet(5, { leaseMs: 1_000 })
    const c = await rawClient()
    const leaseKey = leaseCacheKey(prefix, 'ipasis', '203.0.113.30')
    await c.set(leaseKey, 'ab'.repeat(16), { PX: 300 }) // what a holder killed mid-call leaves
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.30')))
    expect(sim.callsFor('203.0.113.30')).toBe(1)
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
    expect(sum(rs, (s) => s.waits)).toBe(5)
    expect(sum(rs, (s) => s.held)).toBe(1) // the takeover
    expect(sum(rs, (s) => s.gaveUp)).toBe(0) // within the wait (half of budget.timeoutMs)
  })

  it('a live holder slower than its lease keeps it (renewed): the others wait for its answer; 1 call', async () => {
    sim.setLatency(700, { ip: '203.0.113.31' })
    const { rs } = await fleet(4, { leaseMs: 200 })
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.31')))
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
    expect(sim.callsFor('203.0.113.31')).toBe(1)
    expect(sum(rs, (s) => s.renewed)).toBeGreaterThanOrEqual(2) // every ~66 ms of a 700 ms call
    expect(sum(rs, (s) => s.held)).toBe(1)
  })

  it('the holder killed mid-call (it stops renewing, never releases): its lease expires, a waiter takes over; 1 call', async () => {
    const prefix = uniquePrefix()
    const cache = { l2: SHARED, prefix, l2TimeoutMs: 2_000, leaseMs: 200 }
    // The holder's provider never answers; killing the holder is what ends its part.
    const hanging = { name: 'ipasis', lookup: (_ip: string, signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) }
    const holder = await instance({ provider: hanging, cache, budget: { timeoutMs: 10_000 } })
    const pending = holder.lookup('203.0.113.33')
    const c = await rawClient()
    const leaseKey = leaseCacheKey(prefix, 'ipasis', '203.0.113.33')
    await until(async () => (await c.exists(leaseKey)) === 1, 5_000, 'the holder takes its lease')
    const others = await Promise.all(
      [0, 1, 2].map(() => instance({ provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }), cache, budget: { timeoutMs: 4_000 } })),
    )
    const answers = Promise.all(others.map((r) => r.lookup('203.0.113.33')))
    await until(() => sum(others, (s) => s.waits) === 3, 5_000, 'the others wait')
    await holder.close() // killed: renewals stop, its lease is never released
    expect((await pending).status).toBe('unavailable')
    expect((await answers).every((a) => a.status === 'scored')).toBe(true)
    expect(sim.callsFor('203.0.113.33')).toBe(1)
    expect(sum(others, (s) => s.held)).toBe(1) // the takeover, after the lease expired
    expect(leaseOf(holder).stats.released).toBe(0)
  })

  it('the holder\'s call fails: its lease is released without an answer, a waiter takes over and scores', async () => {
    sim.setLatency(100)
    sim.setFault(500, { ip: '203.0.113.32', times: 1 })
    const { rs } = await fleet(3, {}, { breaker: false })
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.32')))
    expect(sim.callsFor('203.0.113.32')).toBe(2)
    expect(answers.filter((a) => a.status === 'scored')).toHaveLength(2)
    expect(sum(rs, (s) => s.released)).toBe(2)
  })
})

describe.skipIf(skipRedis)('fleet lease: Redis unreachable, garbage in Redis', () => {
  it('Redis unreachable: each instance works alone (its own call), no lease script, no failure', async () => {
    const prefix = uniquePrefix()
    const cache = { l2: 'redis://127.0.0.1:7231', prefix } // nothing listens there
    const rs = await Promise.all(
      [0, 1, 2].map(() => instance({ provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }), cache }, false)),
    )
    for (const r of rs) await resolverInternals(r).l2?.whenReady(5_000)
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.40')))
    expect(answers.every((a) => a.status === 'scored' && a.source === 'upstream')).toBe(true)
    expect(sim.callsFor('203.0.113.40')).toBe(3)
    expect(sum(rs, (s) => s.scripts)).toBe(0)
  })

  it.each([
    { name: 'a string that is no token, no expiry', put: (c: Raw, k: string) => c.set(k, 'garbage') },
    { name: 'a token without expiry', put: (c: Raw, k: string) => c.set(k, 'cd'.repeat(16)) },
    { name: 'a token living longer than any lease', put: (c: Raw, k: string) => c.set(k, 'cd'.repeat(16), { PX: 120_000 }) },
    { name: 'a hash (the wrong type)', put: (c: Raw, k: string) => c.hSet(k, 'a', '1') },
  ])('garbage at the lease key ($name) is taken over at once: no wait, 1 call', async ({ put }) => {
    const { rs, prefix } = await fleet(1)
    const r = rs[0] as RiskResolver
    const c = await rawClient()
    const leaseKey = leaseCacheKey(prefix, 'ipasis', '203.0.113.41')
    await put(c, leaseKey)
    expect(await r.lookup('203.0.113.41')).toMatchObject({ status: 'scored', source: 'upstream' })
    expect(leaseOf(r).stats).toMatchObject({ waits: 0, held: 1, released: 1 })
    expect(await c.exists(leaseKey)).toBe(0)
  })

  it.each([
    { name: 'not JSON', value: () => 'garbage{' },
    { name: 'JSON that looks fresh but is no record', value: () => JSON.stringify({ value: { f: Date.now() + 60_000, d: 'x' } }) },
    { name: 'a fresh block that is no record', block: true, value: () => JSON.stringify({ value: { u: Date.now() + 60_000, d: [1] } }) },
  ])('garbage at the answer key ($name): 1 call for 4 instances, then a valid record', async ({ value, block }) => {
    sim.setLatency(100)
    const { rs, prefix } = await fleet(4)
    const c = await rawClient()
    const answerKey = riskCacheKey(prefix, 'ipasis', '203.0.113.42')
    await c.set(block === true ? blockCacheKey(prefix, '203.0.113.42') : answerKey, value(), { PX: 60_000 })
    const answers = await Promise.all(rs.map((r) => r.lookup('203.0.113.42')))
    expect(answers.every((a) => a.status === 'scored' && a.listed === null)).toBe(true)
    expect(sim.callsFor('203.0.113.42')).toBe(1)
    expect(await c.get(answerKey)).toMatch(/^\{"value":\{"f":\d+,"d":\[/)
  })
})

type Raw = Awaited<ReturnType<typeof rawClient>>

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** `{ tier: count }` of `iprisk.cache.lookups`. */
async function lookupsByTier(reader: TestReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect()
  const out: Record<string, number> = {}
  for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
    if (m.descriptor.name !== metricNames.cacheLookups) continue
    for (const point of m.dataPoints) out[String(point.attributes.tier)] = point.value as number
  }
  return out
}
