/**
 * The provider budgets shared fairly between source networks (issue #15, item 9; src/core/budget.ts).
 *
 * One network (an IPv4 /24, an IPv6 /48 by default) holds at most `max(1, floor(budget × share))` of each budget, and
 * the last `floor(budget × reserve)` slots / tokens only go to a network that holds nothing. The rule is checked as a
 * table, then against a model over random interleavings (fast-check), then through the resolver: an attacker's
 * lookups are the ones refused, a newcomer from another network is looked up, and every option of `budget.perNetwork`
 * does what it documents.
 *
 * fast-check runs with a fixed seed (deterministic in `npm test`); on failure it prints the seed and the path, and
 * `FC_SEED=<seed>` replays another run.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { mayHold, networkCap, networkOf, ProviderBudget, reserveOf, type NetworkShare } from '../../src/core/budget.js'
import { policies } from '../../src/core/policy.js'
import { createRiskResolver, resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const SEED = Number(process.env.FC_SEED ?? 0x15_09)
const DEFAULT_SHARE: NetworkShare = { share: 0.25, reserve: 0.25, ipv4Prefix: 24, ipv6Prefix: 48 }

const open: RiskResolver[] = []
afterEach(async () => {
  for (const r of open.splice(0)) await r.close()
})

// ---------------------------------------------------------------------------------------------------------------------
// The rule, as tables
// ---------------------------------------------------------------------------------------------------------------------

describe('source networks', () => {
  it.each([
    { ip: '203.0.113.7', key: '203.0.113.7', v4: 24, v6: 48, network: '203.0.113.0/24' },
    { ip: '203.0.113.200', key: '203.0.113.200', v4: 24, v6: 48, network: '203.0.113.0/24' },
    { ip: '203.0.113.7', key: '203.0.113.7', v4: 16, v6: 48, network: '203.0.0.0/16' },
    { ip: '203.0.113.7', key: '203.0.113.7', v4: 32, v6: 48, network: '203.0.113.7/32' },
    { ip: '2a01:4f8:a77a:1::1', key: '2a01:4f8:a77a:1::/64', v4: 24, v6: 48, network: '2a01:4f8:a77a::/48' },
    { ip: '2a01:4f8:a77a:ffff:1:2:3:4', key: '2a01:4f8:a77a:ffff::/64', v4: 24, v6: 48, network: '2a01:4f8:a77a::/48' },
    { ip: '2a01:4f8:a77b:1::1', key: '2a01:4f8:a77b:1::/64', v4: 24, v6: 48, network: '2a01:4f8:a77b::/48' },
    { ip: '2a01:4f8:a77a:1234::1', key: '2a01:4f8:a77a:1234::/64', v4: 24, v6: 56, network: '2a01:4f8:a77a:1200::/56' },
    // never finer than the cache key: with cache.ipv6Prefix 32, a /32 is one key and one network
    { ip: '2a01:4f8:a77a:1::1', key: '2a01:4f8::/32', v4: 24, v6: 48, network: '2a01:4f8::/32' },
    // an IPv4 client behind an IPv6 spelling is that IPv4 client
    { ip: '::ffff:203.0.113.7', key: '203.0.113.7', v4: 24, v6: 48, network: '203.0.113.0/24' },
    { ip: '64:ff9b::cb00:7107', key: '203.0.113.7', v4: 24, v6: 48, network: '203.0.113.0/24' },
  ])('$ip (key $key, /$v4, /$v6) → $network', ({ ip, key, v4, v6, network }) => {
    expect(networkOf(ip, key, v4, v6)).toBe(network)
  })

  it.each([
    { max: 64, share: 0.25, reserve: 0.25, cap: 16, kept: 16 },
    { max: 8, share: 0.25, reserve: 0.25, cap: 2, kept: 2 },
    { max: 3, share: 0.25, reserve: 0.25, cap: 1, kept: 0 },
    { max: 1, share: 0.25, reserve: 0.25, cap: 1, kept: 0 },
    { max: 100, share: 1, reserve: 0, cap: 100, kept: 0 },
    { max: 2, share: 0.5, reserve: 0.99, cap: 1, kept: 1 },
    { max: 6_000, share: 0.1, reserve: 0.25, cap: 600, kept: 1_500 },
  ])('budget $max, share $share, reserve $reserve: a network holds at most $cap, $kept kept for newcomers', ({ max, share, reserve, cap, kept }) => {
    expect(networkCap(max, share)).toBe(cap)
    expect(reserveOf(max, reserve)).toBe(kept)
  })

  // max 64, cap 16, reserve 16
  it.each([
    { total: 0, held: 0, ok: true, why: 'an empty pool' },
    { total: 63, held: 0, ok: true, why: 'a newcomer takes the last slot' },
    { total: 64, held: 0, ok: false, why: 'the pool is full' },
    { total: 20, held: 15, ok: true, why: 'below its cap, pool below the reserve' },
    { total: 20, held: 16, ok: false, why: 'at its cap' },
    { total: 47, held: 1, ok: true, why: 'the last slot before the reserve' },
    { total: 48, held: 1, ok: false, why: 'the reserve is for networks holding nothing' },
    { total: 60, held: 0, ok: true, why: 'a newcomer inside the reserve' },
  ])('mayHold(total $total, held $held) = $ok: $why', ({ total, held, ok }) => {
    expect(mayHold(total, held, 64, 16, 16)).toBe(ok)
  })
})

describe('the per-minute budget (frozen clock)', () => {
  // 40 per minute: a network starts at most 10, the last 10 tokens are for networks that spent nothing lately.
  it('one network takes its share, others take theirs, newcomers share the reserve; a minute later the network may again', () => {
    const t = 1_000_000
    const b = new ProviderBudget(1_000, 40, DEFAULT_SHARE, t)
    const take = (net: string, n: number, now = t): Array<string | undefined> =>
      Array.from({ length: n }, () => {
        const refused = b.acquire(net, now)
        if (refused === undefined) b.release(net)
        return refused
      })
    const count = (xs: Array<string | undefined>): number => xs.filter((x) => x === undefined).length
    expect(take('A', 12)).toEqual([...Array(10).fill(undefined), 'per_minute', 'per_minute'])
    expect(count(take('B', 12))).toBe(10) // 20 left
    expect(count(take('C', 12)), 'C leaves the reserve: 10 left').toBe(10)
    expect(count(take('D', 5)), 'D holds nothing yet: one token from the reserve, no more').toBe(1)
    expect(take('E', 1)).toEqual([undefined])
    expect(count(take('A', 1, t + 60_000)), 'a minute later A has refilled its share').toBe(1)
  })

  it('a clock that goes back refills nothing (and drains nothing)', () => {
    const b = new ProviderBudget(10, 2, undefined, 10_000)
    expect(b.acquire('', 10_000)).toBeUndefined()
    b.release('')
    expect(b.acquire('', 5_000)).toBeUndefined()
    b.release('')
    expect(b.acquire('', 5_000)).toBe('per_minute')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Properties: any interleaving
// ---------------------------------------------------------------------------------------------------------------------

const shareArb = fc.record({
  share: fc.double({ min: 0.01, max: 1, noNaN: true }),
  reserve: fc.double({ min: 0, max: 0.99, noNaN: true }),
  ipv4Prefix: fc.constant(24),
  ipv6Prefix: fc.constant(48),
})
/** An operation: acquire for network n, or release one call of network n (if it holds one). */
const opArb = fc.tuple(fc.boolean(), fc.nat(7))

describe('properties over random interleavings (model-based)', () => {
  it('in flight: no network exceeds its cap, a network holding nothing always gets a slot while the pool is not full, refusals only by the rule', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), shareArb, fc.array(opArb, { maxLength: 300 }), (max, share, ops) => {
        const b = new ProviderBudget(max, 0, share, 0)
        const cap = networkCap(max, share.share)
        const reserve = reserveOf(max, share.reserve)
        const held = new Map<string, number>()
        let total = 0
        for (const [isAcquire, n] of ops) {
          const net = `n${n}`
          const mine = held.get(net) ?? 0
          if (isAcquire) {
            const refused = b.acquire(net, 0)
            if (mine === 0 && total < max) expect(refused, 'a network holding nothing gets a slot').toBeUndefined()
            if (refused !== undefined) {
              expect(refused).toBe('in_flight')
              expect(total >= max || mine >= cap || total >= max - reserve, 'refused only by the rule').toBe(true)
            } else {
              held.set(net, mine + 1)
              total++
            }
          } else if (mine > 0) {
            b.release(net)
            if (mine === 1) held.delete(net)
            else held.set(net, mine - 1)
            total--
          }
          for (const [k, v] of held) {
            expect(v).toBeLessThanOrEqual(cap)
            expect(b.heldBy(k)).toBe(v)
          }
          expect(b.inFlight).toBe(total)
          expect(total).toBeLessThanOrEqual(max)
          expect(b.networks(), 'state only for networks holding calls').toBe(held.size)
        }
      }),
      { seed: SEED, numRuns: 1_000 },
    )
  })

  it('per minute (frozen clock): a network starts at most its share, a network that started nothing gets a token while any is left', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), shareArb, fc.array(fc.nat(7), { maxLength: 200 }), (perMinute, share, nets) => {
        const b = new ProviderBudget(1_000, perMinute, share, 0)
        const cap = networkCap(perMinute, share.share)
        const reserve = reserveOf(perMinute, share.reserve)
        const taken = new Map<string, number>()
        let total = 0
        for (const n of nets) {
          const net = `n${n}`
          const mine = taken.get(net) ?? 0
          const refused = b.acquire(net, 0)
          // The exact rule with no refill: a newcomer while a token is left, else below its cap and above the reserve.
          const expected = mine === 0 ? total < perMinute : mine < cap && total < perMinute - reserve
          expect(refused === undefined, `network ${net} after ${mine} of ${cap}, ${total}/${perMinute} taken`).toBe(expected)
          if (refused === undefined) {
            b.release(net)
            taken.set(net, mine + 1)
            total++
          } else expect(refused).toBe('per_minute')
          expect(mine + (refused === undefined ? 1 : 0)).toBeLessThanOrEqual(cap)
        }
        expect(total).toBeLessThanOrEqual(perMinute)
      }),
      { seed: SEED, numRuns: 1_000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Through the resolver
// ---------------------------------------------------------------------------------------------------------------------

/** A memory provider whose lookups wait until `release()`; Tor for 185.220.101.0/24. */
function gatedProvider() {
  const waiting: Array<() => void> = []
  const provider = createMemoryProvider(async (ip) => {
    await new Promise<void>((resolve) => waiting.push(resolve))
    return ip.startsWith('185.220.101.') ? ('tor' as const) : ('clean' as const)
  })
  return { provider, release: () => waiting.splice(0).forEach((f) => f()) }
}

function resolver(options: Partial<RiskResolverOptions> & Pick<RiskResolverOptions, 'provider'>): RiskResolver {
  const r = createRiskResolver({ breaker: false, ...options, budget: { timeoutMs: 10_000, ...options.budget } })
  open.push(r)
  return r
}

const hex = (n: number): string => n.toString(16)
/** Distinct /64s of the /48 2a01:4f8:<net>::/48. */
const in48 = (net: number, i: number): string => `2a01:4f8:${hex(net)}:${hex(i)}::1`

/** Start `ips` lookups together; once every one has been admitted or refused: the pending answers and the refusals. */
async function flood(r: RiskResolver, ips: string[]): Promise<{ pending: Array<Promise<IpRisk>>; refused: IpRisk[] }> {
  const refused: IpRisk[] = []
  const pending = ips.map((ip) =>
    r.lookup(ip).then((a) => {
      if (a.error === 'budget_exceeded') refused.push(a)
      return a
    }),
  )
  await vi.waitUntil(() => refused.length + resolverInternals(r).inFlight() === ips.length)
  return { pending, refused }
}

describe('through the resolver (default budget: 64 in flight)', () => {
  it('80 lookups from distinct /64s of one /48: 16 in flight, 64 refused; a Tor exit and a clean newcomer are still looked up', async () => {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider })
    const attack = await flood(r, Array.from({ length: 80 }, (_, i) => in48(0xa77a, i + 1)))
    expect(attack.refused).toHaveLength(64)
    expect(resolverInternals(r).inFlight()).toBe(16)
    const tor = r.lookup('185.220.101.66')
    const clean = r.lookup('11.10.0.1')
    await vi.waitUntil(() => provider.calls === 18)
    release()
    expect(await tor).toMatchObject({ status: 'scored', isTor: true })
    expect(r.check(await tor, policies.human)).toMatchObject({ action: 'block', reason: 'tor_exit_node' })
    expect(await clean).toMatchObject({ status: 'scored', score: 5 })
    const answers = await Promise.all(attack.pending)
    expect(answers.filter((a) => a.status === 'scored')).toHaveLength(16)
    expect(resolverInternals(r).budget.networks(), 'no per-network state left').toBe(0)
  })

  it('N attacking networks: each holds its cap until the pool reaches the reserve, then one slot each; newcomers keep the rest', async () => {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider })
    // 5 networks × 20 lookups: 16 + 16 + 16 (the pool reaches 64 − 16), then 1 each for the 4th and 5th.
    const attack = await flood(r, Array.from({ length: 100 }, (_, i) => in48(0xb000 + Math.floor(i / 20), i + 1)))
    expect(resolverInternals(r).inFlight()).toBe(50)
    const newcomers = Array.from({ length: 14 }, (_, i) => r.lookup(`11.${20 + i}.0.1`))
    await vi.waitUntil(() => resolverInternals(r).inFlight() === 64)
    expect((await r.lookup('11.99.0.1')).error, 'the pool is full').toBe('budget_exceeded')
    release()
    expect((await Promise.all(newcomers)).every((a) => a.status === 'scored')).toBe(true)
    await Promise.all(attack.pending)
  })

  it('the fail mode applies to the refused attacker only; a sensitive policy with onUnavailable block refuses it while others fail open', async () => {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider })
    const attack = await flood(r, Array.from({ length: 20 }, (_, i) => in48(0xa77a, i + 1)))
    const refused = attack.refused[0] as IpRisk
    expect(refused).toMatchObject({ status: 'unavailable', error: 'budget_exceeded' })
    expect(r.check(refused, policies.human)).toMatchObject({ action: 'allow', reason: 'lookup_unavailable', failOpen: true })
    expect(r.check(refused, { ...policies.admin, onUnavailable: 'block' })).toMatchObject({ action: 'block', reason: 'lookup_unavailable', failOpen: false })
    release()
    await Promise.all(attack.pending)
  })
})

describe('budget.perNetwork options (each does what it documents)', () => {
  async function admitted(options: RiskResolverOptions['budget'], ips: string[]): Promise<number> {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider, budget: options })
    const { pending } = await flood(r, ips)
    const inFlight = resolverInternals(r).inFlight()
    release()
    await Promise.all(pending)
    return inFlight
  }
  const one48 = Array.from({ length: 80 }, (_, i) => in48(0xa77a, i + 1))
  const one24 = Array.from({ length: 40 }, (_, i) => `11.30.0.${i + 1}`)

  it.each<{ name: string; budget: RiskResolverOptions['budget']; ips: string[]; inFlight: number }>([
    { name: 'default: one /48 holds a quarter of 64', budget: {}, ips: one48, inFlight: 16 },
    { name: 'perNetwork: false: one pool (one /48 takes all 64)', budget: { perNetwork: false }, ips: one48, inFlight: 64 },
    { name: 'share 0.5: one /48 holds 32', budget: { perNetwork: { share: 0.5 } }, ips: one48, inFlight: 32 },
    { name: 'share 1, reserve 0.5: one /48 holds all but the reserve', budget: { perNetwork: { share: 1, reserve: 0.5 } }, ips: one48, inFlight: 32 },
    { name: 'ipv6Prefix 64: each /64 is a network', budget: { perNetwork: { ipv6Prefix: 64 } }, ips: one48, inFlight: 64 },
    { name: 'default: one /24 holds 16', budget: {}, ips: one24, inFlight: 16 },
    { name: 'ipv4Prefix 32: each address is a network', budget: { perNetwork: { ipv4Prefix: 32 } }, ips: one24, inFlight: 40 },
    { name: 'maxInFlight 8: one /24 holds 2', budget: { maxInFlight: 8 }, ips: one24, inFlight: 2 },
  ])('$name → $inFlight in flight', async ({ budget, ips, inFlight }) => {
    expect(await admitted(budget, ips)).toBe(inFlight)
  })

  it.each<[string, unknown, string]>([
    ['share 0', { share: 0 }, 'budget.perNetwork.share'],
    ['share 1.5', { share: 1.5 }, 'budget.perNetwork.share'],
    ['reserve 1', { reserve: 1 }, 'budget.perNetwork.reserve'],
    ['reserve -0.1', { reserve: -0.1 }, 'budget.perNetwork.reserve'],
    ['ipv4Prefix 7', { ipv4Prefix: 7 }, 'budget.perNetwork.ipv4Prefix'],
    ['ipv4Prefix 24.5', { ipv4Prefix: 24.5 }, 'budget.perNetwork.ipv4Prefix'],
    ['ipv6Prefix 129', { ipv6Prefix: 129 }, 'budget.perNetwork.ipv6Prefix'],
    ['an unknown field', { size: 3 }, 'budget.perNetwork.size'],
    ['true', true, 'budget.perNetwork'],
  ])('a bad budget.perNetwork (%s) is an IpRiskConfigError naming `%s`', (_name, perNetwork, option) => {
    let error: unknown
    try {
      createRiskResolver({ provider: createMemoryProvider({}), budget: { perNetwork } as never })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe(option)
  })

  it('the messages say what is expected', () => {
    expect(() => createRiskResolver({ provider: createMemoryProvider({}), budget: { perNetwork: { share: 0 } } })).toThrow(
      'invalid option `budget.perNetwork.share`: must be a number greater than 0 to 1, got 0',
    )
  })
})
