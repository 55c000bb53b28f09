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

/** Lookups from `workers` loops over `ips` until `stop()`, every answer kept. */
export function traffic(r: RiskResolver, ips: readonly string[], workers = 4): { stop(): Promise<IpRisk[]> } {
  const answers: IpRisk[] = []
  let running = true
  let n = 0
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const ip = ips[n++ % ips.length] as string
      answers.push(await r.lookup(ip))
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

/** Every answer scored (none unavailable), from the provider or a cache, within the L2 read budget plus the provider's. */
export function expectAllPassed(answers: readonly IpRisk[], l2TimeoutMs: number): void {
  expect(answers.length).toBeGreaterThan(50)
  const failed = answers.filter((a) => a.status !== 'scored')
  expect(failed.map((a) => `${a.ip} ${a.status} ${a.error}`)).toEqual([])
  const slowest = Math.max(...answers.map((a) => a.lookupMs))
  expect(slowest).toBeLessThanOrEqual(l2TimeoutMs + BUDGET_MS)
}

/** `count` documentation addresses starting at `from` (a third octet of 198.51.100 / 203.0.113 / 192.0.2 nets). */
export function addresses(net: '198.51.100' | '203.0.113' | '192.0.2', from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${net}.${from + i}`)
}
