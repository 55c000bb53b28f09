/**
 * The lease on its own (FleetLease): the holder's token guard on a real Redis (Redis's own PX expiry is the subject:
 * a short lease and wait-until-condition), and the bounds that keep a failing link from stalling or failing a lookup
 * (stand-in links on the injected clock: they stand for a link, never for a Redis server). The Redis cases are
 * skipped without Redis unless IPRISK_REQUIRE_REDIS=1.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { encodeRisk, riskCacheKey, blockCacheKey } from '../../src/core/cache.js'
import { systemClock } from '../../src/core/clock.js'
import { FleetLease, type FleetLeaseOptions, type LeaseKeys } from '../../src/core/fleet/lease.js'
import { leaseCacheKey } from '../../src/core/fleet/lease-scripts.js'
import type { RedisLink } from '../../src/core/fleet/link.js'
import { createTestClock } from '../../src/testing/clock.js'
import { cleanUp, closeInstances, ownLink, rawClient, skipRedis, uniquePrefix, until } from './lease-support.js'
import type { RiskData } from '../../src/core/types.js'

afterEach(closeInstances)
afterAll(async () => {
  if (!skipRedis) await cleanUp()
})

const DATA: RiskData = { score: 12, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'DE', asn: 3320, isp: 'DTAG' }

function setup(prefix: string, leaseMs: number): { options: FleetLeaseOptions; keys: LeaseKeys } {
  const options = { prefix, providerName: 'ipasis', leaseMs, l2TimeoutMs: 2_000, waitMs: 750 }
  const ip = '203.0.113.60'
  return { options, keys: { answer: riskCacheKey(prefix, 'ipasis', ip), block: blockCacheKey(prefix, ip), lease: leaseCacheKey(prefix, 'ipasis', ip) } }
}

describe.skipIf(skipRedis)('the holder\'s token guard (real Redis, real expiry)', () => {
  it('an expired lease re-taken by another is not deleted by the first holder; its answer is still written', async () => {
    const { options, keys } = setup(uniquePrefix(), 100)
    const first = new FleetLease(() => linkA, options, systemClock)
    const second = new FleetLease(() => linkB, { ...options, leaseMs: 10_000 }, systemClock)
    const linkA = await ownLink()
    const linkB = await ownLink()
    const a = await first.take(keys)
    expect(a.state).toBe('held')
    expect(await second.take(keys)).toEqual({ state: 'taken' })
    const c = await rawClient()
    await until(async () => (await c.exists(keys.lease)) === 0, 5_000, 'the first lease expires (PX 100)')
    const b = await second.take(keys)
    expect(b.state).toBe('held')
    if (a.state !== 'held' || b.state !== 'held') return
    expect(a.token).not.toBe(b.token)
    // The first holder comes back late with its answer: written, but the lease it deletes is no longer its own.
    expect(await first.release(keys, a.token, { value: encodeRisk(DATA, Date.now() + 60_000), ttlMs: 60_000 })).toBe(false)
    expect(await c.get(keys.lease)).toBe(b.token)
    expect(await c.get(keys.answer)).toMatch(/^\{"value":\{"f":\d+,"d":\[12,false,false,false,false,"DE",3320,"DTAG"\]\}\}$/)
    expect(first.stats.released).toBe(0)
    // Its rightful holder releases it.
    expect(await second.release(keys, b.token)).toBe(true)
    expect(await c.exists(keys.lease)).toBe(0)
  })

  it('a fresh answer written meanwhile is found instead of a lease (no second call)', async () => {
    const { options, keys } = setup(uniquePrefix(), 500)
    const link = await ownLink()
    const lease = new FleetLease(() => link, options, systemClock)
    const c = await rawClient()
    await c.set(keys.answer, JSON.stringify({ value: encodeRisk(DATA, Date.now() + 60_000) }), { PX: 60_000 })
    const found = await lease.take(keys)
    expect(found.state).toBe('found')
    expect(await c.exists(keys.lease)).toBe(0)
    // An expired answer (stale data only) is no answer: the lease is taken.
    await c.set(keys.answer, JSON.stringify({ value: encodeRisk(DATA, Date.now() - 1) }), { PX: 60_000 })
    expect((await lease.take(keys)).state).toBe('held')
  })
})

describe('a failing link never fails or stalls a lookup past the L2 budget (stand-in links, test clock)', () => {
  const keys: LeaseKeys = { answer: 'p:2:{x}:ipasis', block: 'p:2:{x}:block', lease: 'p:2:{x}:lease:ipasis' }
  const options: FleetLeaseOptions = { prefix: 'p', providerName: 'ipasis', leaseMs: 500, l2TimeoutMs: 50, waitMs: 750 }
  const link = (command: RedisLink['command']): RedisLink => ({ topology: 'single', command, dedicated: () => Promise.reject(new Error('no')), close: () => undefined })

  it('no link (not connected): no lease, no script', async () => {
    const lease = new FleetLease(() => undefined, options, createTestClock())
    expect(await lease.take(keys)).toEqual({ state: 'off' })
    expect(lease.stats.scripts).toBe(0)
    expect(lease.linked()).toBe(false)
  })

  it('a link that rejects: no lease at once, counted', async () => {
    const lease = new FleetLease(() => link(() => Promise.reject(new Error('ECONNRESET'))), options, createTestClock())
    expect(await lease.take(keys)).toEqual({ state: 'off' })
    expect(await lease.release(keys, 'ab'.repeat(16))).toBe(false)
    expect(lease.stats.failures).toBe(2)
  })

  it('a link that never answers: no lease after l2TimeoutMs on the clock, not before', async () => {
    const clock = createTestClock()
    const lease = new FleetLease(() => link(() => new Promise(() => undefined)), options, clock)
    let outcome: unknown
    void lease.take(keys).then((o) => (outcome = o))
    clock.advance(49)
    await Promise.resolve()
    expect(outcome).toBeUndefined()
    clock.advance(1)
    await until(() => outcome !== undefined, 1_000, 'the attempt ends')
    expect(outcome).toEqual({ state: 'off' })
    expect(lease.stats.failures).toBe(1)
  })

  it('keepAlive renews every third of leaseMs on the clock until stopped; a lease found lost stops it; a failure retries', async () => {
    const clock = createTestClock()
    const replies: Array<unknown> = [1, new Error('ECONNRESET'), 1, 0]
    const sent: string[][] = []
    const lease = new FleetLease(
      () =>
        link((_key, args) => {
          sent.push([...args])
          const reply = replies.shift()
          return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply)
        }),
      options,
      clock,
    )
    const tick = async (ms: number): Promise<void> => {
      clock.advance(ms)
      for (let i = 0; i < 5; i++) await Promise.resolve()
    }
    lease.keepAlive(keys, 'ab'.repeat(16))
    await tick(165)
    expect(sent).toHaveLength(0)
    await tick(1) // 500 / 3 = 166 ms
    expect(sent).toHaveLength(1)
    expect(sent[0]?.slice(2)).toEqual(['1', keys.lease, 'ab'.repeat(16), '500'])
    await tick(166) // fails: tried again at the next tick
    await tick(166)
    await tick(166) // 0: the lease is another's now, renewing stops
    expect(sent).toHaveLength(4)
    expect(lease.stats).toMatchObject({ renewed: 2, failures: 1 })
    await tick(10_000)
    expect(sent).toHaveLength(4)

    replies.push(1, 1, 1)
    const stop = lease.keepAlive(keys, 'cd'.repeat(16))
    await tick(166)
    stop()
    await tick(10_000)
    expect(sent).toHaveLength(5)
    // close() stops every renewal
    lease.keepAlive(keys, 'ef'.repeat(16))
    lease.close()
    await tick(10_000)
    expect(sent).toHaveLength(5)
  })

  it.each([['OK'], [[9]], [null], [[1, 'a']]])('a reply that is not the script\'s (%j): no lease', async (reply) => {
    const lease = new FleetLease(() => link(() => Promise.resolve(reply)), options, createTestClock())
    const outcome = await lease.take(keys)
    // [1, 'a'] is a found answer with a missing block and digest: read as texts ('' for absent).
    if (Array.isArray(reply) && reply[0] === 1) expect(outcome).toEqual({ state: 'found', answer: 'a', block: '', digest: '' })
    else expect(outcome).toEqual({ state: 'off' })
  })
})
