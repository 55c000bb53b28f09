/**
 * `budget.fleet` when Redis fails: a redis-server of this suite's own (ports 7101–7103, the budget helper's range)
 * killed (SIGKILL) or frozen (SIGSTOP), then back. The instance spends from its bounded local fallback, raises one
 * `degraded` event naming the cause, does not ask Redis again for RETRY_MS of the injected clock, and returns to the
 * fleet budget once Redis answers. Time of the local side is moved by hand; the waits on the OS (a server starting,
 * a client reconnecting) are conditions with generous deadlines.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { FleetBudget, RETRY_MS } from '../../src/core/fleet/budget.js'
import { TAKE_SCRIPT_SHA } from '../../src/core/fleet/budget-script.js'
import { redisLinkFrom } from '../../src/core/fleet/link.js'
import { resolverInternals } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check/vocabulary.js'
import { createTestClock } from '../../src/testing/clock.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { PrivateRedis, connectClient, ipOfNetwork, keyvOn, member, redisServerOrSkip, until, type Member, type RedisClient } from './budget-helpers.js'

const run = redisServerOrSkip()
const servers: PrivateRedis[] = []
const clients: RedisClient[] = []
const members: Member[] = []

afterEach(async () => {
  for (const m of members.splice(0)) await m.risk.close()
  for (const c of clients.splice(0)) c.destroy()
  for (const s of servers.splice(0)) await s.kill()
})

async function server(port: number): Promise<{ redis: PrivateRedis; client: RedisClient }> {
  const redis = new PrivateRedis(port)
  servers.push(redis)
  await redis.start()
  const client = await connectClient(port, true) // reconnects by itself when the server is back
  clients.push(client)
  return { redis, client }
}

const settled = <T>(p: Promise<T>) => {
  const state = { done: false, value: undefined as T | undefined }
  void p.then((v) => {
    state.done = true
    state.value = v
  })
  return state
}
const tick = () => new Promise((r) => setImmediate(r))

describe.skipIf(!run)('budget.fleet: Redis killed and restarted', () => {
  it('spends at most fallbackPerMinute locally while Redis is down, loudly, and returns to the fleet budget when it is back', async () => {
    const { redis, client } = await server(7101)
    const clock = createTestClock()
    const provider = createMemoryProvider({}, { name: 'fleetp' })
    const m = member({
      provider,
      clock,
      cache: { l2: keyvOn(client), prefix: 'hbfall' },
      budget: { perNetwork: false, fleet: { perMinute: 100, fallbackPerMinute: 3, timeoutMs: 50 } },
    })
    members.push(m)
    const fleet = resolverInternals(m.risk).fleetBudget!
    expect((await m.risk.lookup(ipOfNetwork(0))).status).toBe('scored')
    expect(fleet.counts.shared).toBe(1)

    await redis.kill()
    await until(() => !client.isReady, 'the client to see the server gone')
    const down = []
    for (let i = 1; i <= 6; i++) down.push(await m.risk.lookup(ipOfNetwork(i)))
    expect(down.map((a) => a.status)).toStrictEqual(['scored', 'scored', 'scored', 'unavailable', 'unavailable', 'unavailable'])
    expect(down[5]?.error).toBe('budget_exceeded')
    expect(fleet.mode).toBe('fallback')
    expect(fleet.counts).toStrictEqual({ shared: 1, local: 3, refused: 3 })
    await tick()
    expect(m.degraded.map((e) => e.kind)).toStrictEqual(['fleet_budget_fallback'])
    expect(m.degraded[0]?.message).toMatch(/\[cause: error:[A-Za-z_]+\]/)
    expect(m.degraded[0]?.message).toContain('at most 3 provider calls per minute')

    // Redis is asked again after RETRY_MS (still down: the same episode, no second event).
    clock.advance(RETRY_MS)
    await m.risk.lookup(ipOfNetwork(7))
    expect(fleet.mode).toBe('fallback')

    await redis.start()
    await until(() => client.isReady, 'the client to reconnect')
    // Within RETRY_MS of the last failure Redis is not asked: still the local budget (spent: refused).
    expect((await m.risk.lookup(ipOfNetwork(8))).error).toBe('budget_exceeded')
    expect(fleet.counts.shared).toBe(1)
    clock.advance(RETRY_MS)
    const back = await m.risk.lookup(ipOfNetwork(9))
    expect(back.status).toBe('scored')
    expect(fleet.mode).toBe('shared')
    expect(fleet.counts.shared).toBe(2)
    // Bounded: during the outage this instance started fallbackPerMinute calls (the clock refilled less than one).
    expect(provider.calls).toBe(1 + 3 + 1)
    await tick()
    expect(m.degraded).toHaveLength(1)
  })
})

describe.skipIf(!run)('budget.fleet: Redis frozen (no answer)', () => {
  function fleetOn(client: RedisClient, clock = createTestClock(), timeoutMs = 50) {
    const events: DegradedEvent[] = []
    const link = redisLinkFrom(client, false)
    const fleet = new FleetBudget({ perMinute: 100, fallbackPerMinute: 2, timeoutMs }, undefined, 'hbslow', 'fleetp', clock, {
      link: () => link,
      degraded: (e) => void events.push(e),
      invalid: () => undefined,
    })
    return { fleet, events, clock }
  }

  it('past timeoutMs of the injected clock the call spends locally (cause: timeout); meanwhile no round trip at all', async () => {
    const { redis, client } = await server(7102)
    const { fleet, events, clock } = fleetOn(client)
    expect(await fleet.take('', 1_000)).toBe(true)
    expect(fleet.mode).toBe('shared')
    redis.pause()
    const pending = settled(Promise.resolve(fleet.take('', 1_000)))
    await tick()
    clock.advance(49)
    await tick()
    expect(pending.done).toBe(false)
    clock.advance(1)
    await until(() => pending.done, 'the timeout to settle the call')
    expect(pending.value).toBe(true) // from the local fallback
    expect(fleet.mode).toBe('fallback')
    expect(events.map((e) => e.message.match(/\[cause: (\w+)\]/)?.[1])).toStrictEqual(['timeout'])
    // While falling back, take answers at once: no promise, no round trip to a frozen server.
    expect(fleet.take('', 1_000)).toBe(true)
    expect(fleet.take('', 1_000)).toBe(false) // fallbackPerMinute 2: spent
    redis.resume()
    clock.advance(RETRY_MS)
    expect(await fleet.take('', 1_000)).toBe(true)
    expect(fleet.mode).toBe('shared')
  })

  it('never waits longer than what is left of the lookup’s budget', async () => {
    const { redis, client } = await server(7103)
    const { fleet, clock } = fleetOn(client, createTestClock(), 5_000)
    expect(await fleet.take('', 1_000)).toBe(true)
    redis.pause()
    const pending = settled(Promise.resolve(fleet.take('', 10))) // 10 ms left of budget.timeoutMs
    await tick()
    clock.advance(9)
    await tick()
    expect(pending.done).toBe(false)
    clock.advance(1)
    await until(() => pending.done, 'the time left to settle the call')
    expect(fleet.mode).toBe('fallback')
    redis.resume()
  })

  it('a Redis that lost the cached script (restart, failover: NOSCRIPT) is sent the script again, no fallback', async () => {
    const { client } = await server(7102)
    const { fleet, events } = fleetOn(client)
    expect(await fleet.take('', 1_000)).toBe(true)
    expect(await client.scriptExists(TAKE_SCRIPT_SHA)).toStrictEqual([1])
    await client.scriptFlush()
    expect(await fleet.take('', 1_000)).toBe(true)
    expect(await client.scriptExists(TAKE_SCRIPT_SHA)).toStrictEqual([1])
    expect(fleet.mode).toBe('shared')
    expect(fleet.counts.shared).toBe(2)
    expect(events).toHaveLength(0)
  })
})
