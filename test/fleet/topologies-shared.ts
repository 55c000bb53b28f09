/**
 * What every topology suite checks, end to end through `createRiskResolver({ provider: ipasis(<simulator>), cache:
 * '<one line>' })`: two instances share answers (an L2 hit on B, no upstream call) and blocks, keys have the v2
 * hash-tagged format, and traffic during a fault never fails a lookup that should pass.
 */
import { expect } from 'vitest'
import { blockCacheKey, riskCacheKey } from '../../src/core/cache.js'
import { ipasis } from '../../src/core/index.js'
import { createRiskResolver, resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { waitUntil } from '../support/redis-servers.js'

export const PROVIDER = 'ipasis'
/** The provider's time budget in these suites: a lookup answers within it plus the L2 read budget. */
export const BUDGET_MS = 1_500

/** Instances of one app on a shared cache; closed by `closeAll`. */
export class Fleet {
  readonly made: RiskResolver[] = []
  constructor(
    private readonly sim: IpasisSimulator,
    private readonly cache: string,
    private readonly prefix: string,
  ) {}

  instance(extra: Partial<RiskResolverOptions> = {}): RiskResolver {
    const r = createRiskResolver({
      provider: ipasis({ apiKey: this.sim.apiKey, baseUrl: this.sim.url }),
      cache: { l2: this.cache, prefix: this.prefix },
      budget: { timeoutMs: BUDGET_MS },
      scoreDocumentationRanges: true,
      ...extra,
    })
    this.made.push(r)
    return r
  }

  /** An instance whose store is loaded and first connection attempt over (reads before that are misses). */
  async connected(extra: Partial<RiskResolverOptions> = {}): Promise<RiskResolver> {
    const r = this.instance(extra)
    expect(await l2Of(r).whenReady(15_000)).toBe(true)
    return r
  }

  riskKey(ip: string): string {
    return riskCacheKey(this.prefix, PROVIDER, ip)
  }

  blockKey(ip: string): string {
    return blockCacheKey(this.prefix, ip)
  }

  async closeAll(): Promise<void> {
    for (const r of this.made.splice(0)) await r.close()
  }
}

export function l2Of(r: RiskResolver): NonNullable<ReturnType<typeof resolverInternals>['l2']> {
  const l2 = resolverInternals(r).l2
  if (l2 === undefined) throw new Error('no L2')
  return l2
}

/** The link of an instance (the one the fleet modules are wired to). */
export function linkOf(r: RiskResolver): NonNullable<ReturnType<typeof l2Of>['link']> {
  const link = l2Of(r).link
  if (link === undefined) throw new Error('no link')
  return link
}

/**
 * A lookup on A is an L2 hit on B (no upstream call from B); a block() on A is seen by B (never looked up there);
 * both keys are in the v2 format, read back raw with `rawGet` (a client of the test's own on the right server).
 */
export async function checkSharing(fleet: Fleet, sim: IpasisSimulator, ips: { shared: string; blocked: string }, rawGet: (key: string) => Promise<string>): Promise<void> {
  const a = await fleet.connected()
  const b = await fleet.connected()
  const first = await a.lookup(ips.shared)
  expect(first).toMatchObject({ status: 'scored', source: 'upstream' })
  // L2 writes are fire-and-forget: wait until the answer is stored, then B reads it.
  await waitUntil(async () => (await rawGet(fleet.riskKey(ips.shared))) !== '', 'the answer to be in L2', 10_000)
  expect(JSON.parse(await rawGet(fleet.riskKey(ips.shared)))).toMatchObject({ value: { f: expect.any(Number), d: expect.any(Array) } })
  const callsBefore = sim.callsFor(ips.shared)
  const second = await b.lookup(ips.shared)
  expect(second).toMatchObject({ status: 'scored', source: 'l2', score: first.score })
  expect(sim.callsFor(ips.shared)).toBe(callsBefore)

  await a.block(ips.blocked, 600)
  expect(JSON.parse(await rawGet(fleet.blockKey(ips.blocked)))).toMatchObject({ value: { u: expect.any(Number) } })
  const seen = await b.lookup(ips.blocked)
  expect(seen.listed).toBe('blocklist')
  expect(sim.callsFor(ips.blocked)).toBe(0)
}

/**
 * Traffic that reaches Redis on every request (never only L1): `workers` loops, each alternating a lookup of a new
 * IPv6 /64 on `a` (an L2 read that misses, an upstream call, an L2 write) and, on `b`, a lookup of an address `a`
 * looked up a moment before (an L2 read that hits once the write landed). Every answer is kept.
 */
export function traffic(a: RiskResolver, b: RiskResolver, tag: number, workers = 4): { stop(): Promise<IpRisk[]> } {
  const answers: IpRisk[] = []
  const recent: string[] = []
  let running = true
  let n = 0
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const ip = `2001:db8:${tag.toString(16)}:${(n++).toString(16)}::1`
      answers.push(await a.lookup(ip))
      recent.push(ip)
      const earlier = recent.length > 8 ? (recent.shift() as string) : undefined
      if (earlier !== undefined) answers.push(await b.lookup(earlier))
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return answers
    },
  }
}

/**
 * After a fault: `a` writes to the store again (a new IP each try: an answer already in L1 is not written twice, and
 * a write skipped while the L2 breaker was open stays skipped), and a new instance reads that answer from L2.
 */
export async function expectUsedAgain(fleet: Fleet, a: RiskResolver, rawGet: (key: string) => Promise<string>): Promise<void> {
  let ip = ''
  let next = 1
  await waitUntil(async () => {
    ip = `2001:db8:ffff:${(next++).toString(16)}::1`
    await a.lookup(ip)
    await new Promise((r) => setTimeout(r, 100)) // the write is fire-and-forget
    return (await rawGet(fleet.riskKey(`2001:db8:ffff:${(next - 1).toString(16)}::/64`))) !== ''
  }, 'instance A to write to the store again', 30_000)
  const b = await fleet.connected()
  expect(await b.lookup(ip)).toMatchObject({ source: 'l2' })
  expect(l2Of(a).state()).toBe('closed')
}

/** Every answer scored (none unavailable), from the provider or a cache, within the L2 read budget plus the provider's. */
export function expectAllPassed(answers: readonly IpRisk[], l2TimeoutMs: number): void {
  expect(answers.length).toBeGreaterThan(50)
  expect(answers.some((a) => a.source === 'l2')).toBe(true) // the traffic did reach the store
  const failed = answers.filter((a) => a.status !== 'scored')
  expect(failed.map((a) => `${a.ip} ${a.status} ${a.error}`)).toEqual([])
  const slowest = Math.max(...answers.map((a) => a.lookupMs))
  expect(slowest).toBeLessThanOrEqual(l2TimeoutMs + BUDGET_MS)
}

