/**
 * Block propagation when Redis fails, on a private redis-server that keeps nothing on disk (port 7320), and one that
 * is not there at start (port 7330). The instance under test ("B") runs on a manual clock: its reconnections wait
 * for the test to move that clock, so "B is away" lasts exactly as long as the test wants, without sleeps.
 *
 * - Redis restarted empty: B finds the stream gone (reported), keeps the blocks its L1 holds (Redis lost them: a new
 *   instance does not know them) and reads the new stream from its start.
 * - The stream trimmed past what B read while it was away: B drops its L1 (reported) and reads L2 again, where the
 *   block made meanwhile is.
 * - Redis down at start: `degraded` once B fails to reconnect, recovered when Redis comes.
 * - `close()`: the reader's connections are closed (Redis counts no client left) and its loop ends.
 */
import { createClient } from '@keyv/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { blockStreamKey } from '../../src/core/fleet/propagation-message.js'
import { createRiskResolver, resolverInternals } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { createTestClock, type TestClock } from '../../src/testing/clock.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { redisConnectedClients } from '../reliability/helpers/redis.js'
import { redisService } from '../reliability/helpers/services.js'
import { createPropagationRedis, until, type PropagationRedis } from './propagation-redis.js'

const service = redisService()
const EMPTY_PORT = 7320
const LATE_PORT = 7330

let redis: PropagationRedis
let run = 0
const provider = createMemoryProvider(() => ({ score: 10 }))
let open: RiskResolver[] = []

beforeAll(async () => {
  if (service.mustFail) throw new Error(service.missing ?? 'redis-server missing')
  if (service.skip) return
  redis = createPropagationRedis(EMPTY_PORT, { persist: false })
  await redis.start()
}, 30_000)

afterEach(async () => {
  for (const r of open) await r.close()
  open = []
})

afterAll(async () => {
  await redis?.stop()
})

interface Member {
  risk: RiskResolver
  degraded: DegradedEvent[]
  infos: string[]
}

function member(url: string, prefix: string, clock?: TestClock): Member {
  const degraded: DegradedEvent[] = []
  const infos: string[] = []
  const risk = createRiskResolver({
    provider,
    scoreDocumentationRanges: true,
    cache: { l2: url, prefix },
    logger: { info: (_o: object, msg?: string) => void infos.push(msg ?? ''), warn: () => undefined },
    onDegraded: (event) => void degraded.push(event),
    ...(clock === undefined ? {} : { clock }),
  })
  open.push(risk)
  return { risk, degraded, infos }
}

async function reading(m: Member): Promise<void> {
  await until(() => resolverInternals(m.risk).propagation?.state() === 'reading', 'the reader reads')
}

/** A (real clock) and B (on a test clock of its own) on one new prefix, both reading the block stream; B's propagation. */
async function readingPair() {
  const prefix = nextPrefix()
  const a = member(redis.url, prefix)
  const clock = createTestClock(Date.now())
  const b = member(redis.url, prefix, clock)
  await reading(a)
  await reading(b)
  return { prefix, a, b, clock, propagation: resolverInternals(b.risk).propagation! }
}

const blocked = (a: IpRisk | undefined): boolean => a?.listed === 'blocklist'
const nextPrefix = (): string => `propf${process.pid}-${run++}`

/** Move `clock` (B's) until `condition` holds: B's timers (its back-off) fire; real time passes for Redis. */
async function advanceUntil(clock: TestClock, condition: () => boolean, what: string): Promise<void> {
  await until(async () => {
    await clock.advanceAsync(2_000)
    return condition()
  }, what)
}

/** Close the readers' connections (`cmd=xread` in `CLIENT LIST`): B's reader is away (A's reconnects at once). */
async function killReaders(url: string): Promise<void> {
  const raw = createClient({ url })
  await raw.connect()
  try {
    const list = String(await raw.sendCommand(['CLIENT', 'LIST']))
    const ids = [...list.matchAll(/^id=(\d+) .* cmd=xread /gm)].map((m) => m[1] as string)
    expect(ids.length).toBeGreaterThanOrEqual(2)
    for (const id of ids) await raw.sendCommand(['CLIENT', 'KILL', 'ID', id])
  } finally {
    raw.destroy()
  }
}

describe.skipIf(service.skip)('block propagation when Redis fails (real Redis)', () => {
  it('Redis restarted empty: B reports the stream lost, keeps the blocks its L1 holds, and reads the new stream', async () => {
    const { prefix, a, b, clock, propagation } = await readingPair()
    await a.risk.block('203.0.113.40', 600)
    await until(() => blocked(b.risk.peek('203.0.113.40')), 'the block to arrive')

    await redis.kill()
    await redis.start() // empty: the stream and the L2 blocklist are gone
    await advanceUntil(clock, () => propagation.stats.gaps === 1 && propagation.state() === 'reading', 'B to reconnect')
    expect(b.infos.some((m) => m.includes('the block stream is gone'))).toBe(true)
    // B keeps the block it held; a new instance cannot know it (Redis kept nothing).
    expect(blocked(b.risk.peek('203.0.113.40'))).toBe(true)
    const c = member(redis.url, prefix)
    await reading(c)
    expect((await c.risk.lookup('203.0.113.40')).listed).toBeNull()
    // Blocks made after the restart reach B (read from the start of the new stream).
    await a.risk.block('203.0.113.41', 600)
    await until(() => blocked(b.risk.peek('203.0.113.41')), 'a block after the restart')
  }, 60_000)

  it('the stream trimmed past what B read while away: B drops its L1 (reported) and finds the block made meanwhile in L2', async () => {
    const { prefix, a, b, clock, propagation } = await readingPair()
    const ip = '203.0.113.50'
    expect((await b.risk.lookup(ip)).listed).toBeNull()
    const readBefore = propagation.stats.read

    await killReaders(redis.url) // B's reader fails; its reconnection waits on its clock
    await a.risk.block(ip, 600) // A reconnects by itself (real clock)
    const raw = createClient({ url: redis.url })
    await raw.connect()
    await raw.sendCommand(['XTRIM', blockStreamKey(prefix), 'MAXLEN', '0'])
    raw.destroy()
    expect(b.risk.peek(ip)?.listed).toBeNull() // B is away: still its fresh, clean answer

    await advanceUntil(clock, () => propagation.stats.gaps === 1 && propagation.state() === 'reading', 'B to reconnect')
    expect(propagation.stats.read).toBe(readBefore) // the message itself was never read
    expect(b.infos.some((m) => m.includes('trimmed'))).toBe(true)
    expect(b.risk.peek(ip)).toBeUndefined() // L1 dropped
    expect((await b.risk.lookup(ip)).listed).toBe('blocklist') // from L2
  }, 60_000)

  it('Redis down at start: one degraded event once B fails to reconnect, recovered when Redis comes; nothing is reported twice', async () => {
    const late = createPropagationRedis(LATE_PORT, { persist: false })
    try {
      const clock = createTestClock(Date.now())
      const b = member(late.url, nextPrefix(), clock)
      const propagation = resolverInternals(b.risk).propagation!
      await advanceUntil(clock, () => propagation.state() === 'down', 'B to report itself down')
      await clock.advanceAsync(10_000) // more failed attempts: still one event
      expect(b.degraded.map((e) => [e.kind, e.option, e.docs])).toEqual([['blocks_not_propagating', 'cache.l2', 'docs/fleet.md']])
      expect(b.degraded[0]?.message).toContain('reach this one only when its L1 copies expire')
      await late.start()
      await advanceUntil(clock, () => propagation.state() === 'reading', 'B to read')
      expect(b.infos.filter((m) => m.includes('read again'))).toHaveLength(1)
      expect(b.degraded).toHaveLength(1)
    } finally {
      for (const r of open) await r.close()
      open = []
      await late.stop()
    }
  }, 60_000)

  it('Redis paused (a read that gets no answer): B gives it up on its clock, reports itself down, and catches up once Redis answers', async () => {
    const { a, b, clock, propagation } = await readingPair()
    const ip = '203.0.113.55'
    expect((await b.risk.lookup(ip)).listed).toBeNull()
    redis.pause()
    try {
      // Nothing fails by itself: the read waits on a socket that stays open. Only B's clock gives it up.
      await advanceUntil(clock, () => propagation.state() === 'down', 'B to give up the read and report itself down')
      expect(b.degraded.map((e) => e.kind)).toEqual(['blocks_not_propagating'])
    } finally {
      redis.resume()
    }
    await a.risk.block(ip, 600)
    await advanceUntil(clock, () => blocked(b.risk.peek(ip)), 'B to catch up')
    expect(propagation.state()).toBe('reading')
  }, 60_000)

  it('a value that is not a stream under the stream key: reported down once (not once per attempt), read again once it is gone', async () => {
    const prefix = nextPrefix()
    const raw = createClient({ url: redis.url })
    await raw.connect()
    try {
      await raw.sendCommand(['SET', blockStreamKey(prefix), 'not a stream'])
      const clock = createTestClock(Date.now())
      const b = member(redis.url, prefix, clock)
      const propagation = resolverInternals(b.risk).propagation!
      await advanceUntil(clock, () => propagation.state() === 'down', 'B to report itself down')
      for (let i = 0; i < 5; i++) await clock.advanceAsync(2_000) // more connections, each failing at its first read
      expect(b.degraded).toHaveLength(1)
      expect(b.degraded[0]?.message).toMatch(/WRONGTYPE/)
      expect(b.infos).toEqual([])
      await raw.sendCommand(['DEL', blockStreamKey(prefix)])
      await advanceUntil(clock, () => propagation.state() === 'reading', 'B to read')
      expect(b.infos.filter((m) => m.includes('read again'))).toHaveLength(1)
    } finally {
      raw.destroy()
    }
  }, 60_000)

  it('close() ends the reader and closes its connections', async () => {
    const m = member(redis.url, nextPrefix())
    await reading(m)
    const propagation = resolverInternals(m.risk).propagation!
    await m.risk.block('203.0.113.60', 60)
    expect(await redisConnectedClients(EMPTY_PORT)).toBeGreaterThan(0)
    await m.risk.close()
    open = []
    expect(propagation.state()).toBe('closed')
    await until(async () => (await redisConnectedClients(EMPTY_PORT)) === 0, 'every connection to close', 5_000, 20)
  })
})
