/**
 * Block propagation across a fleet (`cache.propagateBlocks`): three resolvers in this process, each with its own Redis
 * connections, on a private redis-server (port 7310, every write persisted). A block, an unblock and an automatic
 * block made on one instance are enforced by the two others long before their L1 copies would expire (the L1 TTL is
 * 300 s here), an instance that was away when a block was made catches up when it is back, garbage in the stream is
 * skipped and never unblocks anyone, and blocks survive a restart of a Redis that persists them.
 *
 * Latencies are measured and printed; the bound asserted (2 s) is generous on purpose (a loaded 2-core machine):
 * the 100 ms claim is measured by the benchmark, not here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRiskResolver, resolverInternals } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check.js'
import { blockStreamKey } from '../../src/core/fleet/propagation-message.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { createTestClock, type TestClock } from '../../src/testing/clock.js'
import { redisService } from '../reliability/helpers/services.js'
import KeyvRedis, { createClient, Keyv } from '@keyv/redis'
import { riskCacheKey } from '../../src/core/cache.js'
import { redisCommand } from '../reliability/helpers/redis.js'
import { createPropagationRedis, until, type PropagationRedis } from './propagation-redis.js'

const service = redisService()
const PORT = 7310
/** Asserted bound on a propagation (see the header). */
const BOUND_MS = 2_000

let redis: PropagationRedis
let run = 0
/** Scores the memory provider answers (10 unless set). */
const scores = new Map<string, number>()
const provider = createMemoryProvider((ip) => ({ score: scores.get(ip) ?? 10 }))
const resolvers: RiskResolver[] = []

beforeAll(async () => {
  if (service.mustFail) throw new Error(service.missing ?? 'redis-server missing')
  if (service.skip) return
  redis = createPropagationRedis(PORT, { persist: true })
  await redis.start()
}, 30_000)

afterAll(async () => {
  for (const r of resolvers) await r.close()
  await redis?.stop()
})

interface Member {
  risk: RiskResolver
  degraded: DegradedEvent[]
  infos: string[]
}

/** A resolver of the fleet, once its reader reads. */
async function member(prefix: string, clock?: TestClock): Promise<Member> {
  const degraded: DegradedEvent[] = []
  const infos: string[] = []
  const logger = { info: (_o: object, msg?: string) => void infos.push(msg ?? ''), warn: () => undefined }
  const risk = createRiskResolver({
    provider,
    scoreDocumentationRanges: true,
    cache: { l2: redis.url, prefix },
    logger,
    onDegraded: (event) => void degraded.push(event),
    ...(clock === undefined ? {} : { clock }),
  })
  resolvers.push(risk)
  await until(() => resolverInternals(risk).propagation?.state() === 'reading', 'the reader reads')
  return { risk, degraded, infos }
}

async function fleet(n = 3): Promise<{ prefix: string; members: Member[] }> {
  const prefix = `prop${process.pid}-${run++}`
  const members: Member[] = []
  for (let i = 0; i < n; i++) members.push(await member(prefix))
  return { prefix, members }
}

const blocked = (a: IpRisk | undefined): boolean => a?.listed === 'blocklist'

/** ms from `t0` until `condition` holds on the warm path (`peek`) of `risk`. */
async function latency(t0: number, risk: RiskResolver, ip: string, condition: (a: IpRisk | undefined) => boolean): Promise<number> {
  await until(() => condition(risk.peek(ip)), `peek(${ip}) to change`, BOUND_MS * 5, 1)
  return performance.now() - t0
}

describe.skipIf(service.skip)('block propagation (real Redis)', () => {
  it('a block on A is enforced by B and C at once (their fresh L1 answers notwithstanding), and the deny decision follows', async () => {
    const { members } = await fleet()
    const [a, b, c] = members.map((m) => m.risk) as [RiskResolver, RiskResolver, RiskResolver]
    const ip = '203.0.113.10'
    for (const r of [b, c]) expect((await r.lookup(ip)).listed).toBeNull() // warm, allowed, fresh for 300 s
    const t0 = performance.now()
    await a.block(ip, 600)
    const ms = await Promise.all([latency(t0, b, ip, blocked), latency(t0, c, ip, blocked)])
    console.log(`[propagation] block: B ${ms[0]?.toFixed(1)} ms, C ${ms[1]?.toFixed(1)} ms`)
    for (const t of ms) expect(t).toBeLessThan(BOUND_MS)
    for (const r of [b, c]) expect(r.check(r.peek(ip) as IpRisk).action).toBe('block')
  })

  it('an unblock on A lifts the block on B and C at once', async () => {
    const { members } = await fleet()
    const [a, b, c] = members.map((m) => m.risk) as [RiskResolver, RiskResolver, RiskResolver]
    const ip = '203.0.113.11'
    await a.block(ip, 600)
    for (const r of [b, c]) await until(() => blocked(r.peek(ip)), 'the block to arrive')
    const t0 = performance.now()
    await a.unblock(ip)
    const ms = await Promise.all([latency(t0, b, ip, (x) => !blocked(x)), latency(t0, c, ip, (x) => !blocked(x))])
    console.log(`[propagation] unblock: B ${ms[0]?.toFixed(1)} ms, C ${ms[1]?.toFixed(1)} ms`)
    for (const t of ms) expect(t).toBeLessThan(BOUND_MS)
    for (const r of [b, c]) expect((await r.lookup(ip)).listed).toBeNull()
  })

  it('an automatic block (a score at the blocklist threshold on A) is enforced by B and C, which had scored the IP clean', async () => {
    const { prefix, members } = await fleet()
    const [a, b, c] = members.map((m) => m.risk) as [RiskResolver, RiskResolver, RiskResolver]
    const ip = '203.0.113.12'
    scores.set(ip, 10)
    for (const r of [b, c]) expect((await r.lookup(ip)).score).toBe(10)
    scores.set(ip, 99) // the IP turns bad
    // A misses L2 (an answer evicted or lost, an L2 read timed out) and asks the provider again.
    expect(await redisCommand(PORT, `DEL ${riskCacheKey(prefix, provider.name, ip)}`)).toBe(':1')
    const t0 = performance.now()
    expect((await a.lookup(ip)).listed).toBe('blocklist')
    const ms = await Promise.all([latency(t0, b, ip, blocked), latency(t0, c, ip, blocked)])
    console.log(`[propagation] automatic block: B ${ms[0]?.toFixed(1)} ms, C ${ms[1]?.toFixed(1)} ms`)
    for (const t of ms) expect(t).toBeLessThan(BOUND_MS)
    // B and C keep the data A scored in their blocked answer.
    expect(b.peek(ip)?.score).toBe(99)
  })

  it('garbage entries in the stream are skipped and counted, never unblock anyone, and the reader reads on', async () => {
    const { prefix, members } = await fleet(2)
    const [a, b] = members.map((m) => m.risk) as [RiskResolver, RiskResolver]
    const ip = '203.0.113.13'
    await a.block(ip, 600)
    await until(() => blocked(b.peek(ip)), 'the block to arrive')
    const stream = blockStreamKey(prefix)
    const rec = JSON.stringify({ u: Date.now() + 60_000, d: null })
    const garbage = [
      ['op', 'unblock', 'ip', ip], // no version, no origin
      ['v', '1', 'op', 'unblock', 'ip', ip, 'from', 'x', 'extra', '1'], // an unknown field
      ['v', '2', 'op', 'unblock', 'ip', ip, 'from', 'x'], // another version
      ['v', '1', 'op', 'delete', 'ip', ip, 'from', 'x'], // an unknown op
      ['v', '1', 'op', 'unblock', 'ip', 'x'.repeat(100), 'from', 'x'], // an ip too long
      ['v', '1', 'op', 'unblock', 'ip', 'not-an-ip', 'from', 'x'],
      ['v', '1', 'op', 'block', 'ip', '203.0.113.99', 'rec', 'notjson', 'from', 'x'],
      ['v', '1', 'op', 'block', 'ip', '203.0.113.99', 'rec', '{"u":1e300,"d":null}', 'from', 'x'], // longer than any block
      ['v', '1', 'op', 'block', 'ip', '203.0.113.99', 'rec', '{"u":1,"d":null,"__proto__":{}}', 'from', 'x'],
      ['v', '1', 'op', 'block', 'ip', '203.0.113.99', 'rec', '{"u":1,"d":[1,2,3]}', 'from', 'x'], // data not eight fields
      ['v', '1', 'op', 'block', 'ip', '203.0.113.99', 'from', 'x'], // no record
      ['v', '1', 'op', 'block', 'ip', 'not-an-ip', 'rec', rec, 'from', 'x'],
    ]
    const raw = createClient({ url: redis.url })
    await raw.connect()
    try {
      for (const fields of garbage) expect(await raw.sendCommand(['XADD', stream, '*', ...fields])).toMatch(/^\d+-\d+$/)
    } finally {
      raw.destroy()
    }
    const propagation = resolverInternals(b).propagation!
    await until(() => propagation.stats.invalid >= garbage.length, 'the garbage to be read')
    expect(propagation.stats.invalid).toBe(garbage.length)
    expect(blocked(b.peek(ip))).toBe(true)
    expect(b.peek('203.0.113.99')).toBeUndefined()
    // Still reading: a valid block after the garbage arrives.
    await a.block('203.0.113.14', 600)
    await until(() => blocked(b.peek('203.0.113.14')), 'a block after the garbage')
    expect(propagation.state()).toBe('reading')
  })

  it('an instance away while Redis restarts (a degraded event) catches up when back: the block made meanwhile is enforced without waiting for its L1 TTL', async () => {
    const prefix = `prop${process.pid}-${run++}`
    const a = await member(prefix)
    const clock = createTestClock(Date.now()) // B's reconnections wait on this clock: B stays away until it is moved
    const b = await member(prefix, clock)
    const before = '203.0.113.20'
    const meanwhile = '203.0.113.21'
    await a.risk.block(before, 600)
    await until(() => blocked(b.risk.peek(before)), 'the first block to arrive')
    expect((await b.risk.lookup(meanwhile)).listed).toBeNull()
    const propagation = resolverInternals(b.risk).propagation!

    await redis.kill()
    await until(async () => {
      await clock.advanceAsync(2_000) // B's reader fails, waits, fails to reconnect
      return propagation.state() === 'down'
    }, 'B to report itself down')
    expect(b.degraded.map((e) => e.kind)).toEqual(['blocks_not_propagating'])
    await redis.start() // every write was persisted: the stream and the first block are back
    await a.risk.block(meanwhile, 600) // B is still away (its clock has not moved)
    expect(blocked(b.risk.peek(meanwhile))).toBe(false)

    const t0 = performance.now()
    await until(async () => {
      await clock.advanceAsync(2_000)
      return blocked(b.risk.peek(meanwhile))
    }, 'B to catch up')
    console.log(`[propagation] catch-up after reconnection: ${(performance.now() - t0).toFixed(1)} ms`)
    expect(propagation.state()).toBe('reading')
    expect(b.infos.some((m) => m.includes('read again'))).toBe(true)
    expect(blocked(b.risk.peek(before))).toBe(true)
    expect(propagation.stats.gaps).toBe(0)
  }, 60_000)

  it("with the application's own Keyv on @keyv/redis, propagation is on by default and reads on the application's client", async () => {
    const prefix = `prop${process.pid}-${run++}`
    const a = await member(prefix)
    const client = createClient({ url: redis.url })
    await client.connect()
    const keyv = new Keyv({ store: new KeyvRedis(client as never), namespace: undefined, useKeyPrefix: false })
    const b = createRiskResolver({ provider, scoreDocumentationRanges: true, cache: { l2: keyv as never, prefix } })
    try {
      await until(() => resolverInternals(b).propagation?.state() === 'reading', 'the reader reads')
      expect((await b.lookup('203.0.113.25')).listed).toBeNull()
      await a.risk.block('203.0.113.25', 600)
      await until(() => blocked(b.peek('203.0.113.25')), 'the block to arrive')
    } finally {
      await b.close()
      expect(client.isOpen).toBe(true) // the application's client is the application's to close
      client.destroy()
    }
  })

  it('blocks made before a restart of a Redis that persists them are enforced by a new instance', async () => {
    const prefix = `prop${process.pid}-${run++}`
    const a = await member(prefix)
    await a.risk.block('203.0.113.30', 600)
    await redis.kill()
    await redis.start()
    const fresh = await member(prefix)
    expect((await fresh.risk.lookup('203.0.113.30')).listed).toBe('blocklist')
  }, 60_000)
})
