/**
 * The resolver with a shared L2 on real Redis: the shared Redis on 127.0.0.1:6379 (database 13, a key prefix per
 * test, cleaned up afterwards) for sharing between instances, and a redis-server of our own on a free port for the
 * failure cases (killed with SIGKILL, frozen with SIGSTOP, restarted). These tests fail, not skip, without Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import KeyvRedis, { createClient, Keyv } from '@keyv/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { ProviderError } from '../../src/core/errors.js'
import { createRiskResolver, resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider, type MemoryProvider } from '../../src/testing/index.js'
import { createTestClock } from '../../src/testing/clock.js'

const SHARED = 'redis://127.0.0.1:6379/13'
let counter = 0
const prefixes: string[] = []

/** A key prefix of its own for each test, so tests never read each other's entries. */
function uniquePrefix(): string {
  const prefix = `t${process.pid}x${++counter}`
  prefixes.push(prefix)
  return prefix
}

beforeAll(async () => {
  // Fails (not skips) when the shared Redis is absent.
  const client = createClient({ url: SHARED })
  await client.connect()
  expect(await client.ping()).toBe('PONG')
  await client.close()
})

const made: RiskResolver[] = []
afterEach(async () => {
  for (const r of made.splice(0)) await r.close()
})

afterAll(async () => {
  const client = createClient({ url: SHARED })
  await client.connect()
  for (const prefix of prefixes) {
    const keys = await client.keys(`${prefix}:*`)
    if (keys.length > 0) await client.del(keys)
  }
  await client.close()
})

function instance(options: Partial<RiskResolverOptions> & Pick<RiskResolverOptions, 'provider'>): RiskResolver {
  const r = createRiskResolver({ scoreDocumentationRanges: true, ...options })
  made.push(r)
  return r
}

/** Wait until the instance's Redis adapter is loaded and its first connection attempt is over (reads before that are misses). */
async function connected(r: RiskResolver): Promise<void> {
  const l2 = resolverInternals(r).l2
  if (l2 === undefined) throw new Error('no L2')
  expect(await l2.whenReady(5_000)).toBe(true)
}

/** Two instances of one app (same provider name and prefix), each with its own provider to count calls. */
async function fleet(extra: Partial<RiskResolverOptions> = {}, table: Record<string, 'high-risk' | 'vpn' | 'clean'> = {}) {
  const prefix = uniquePrefix()
  const pa = createMemoryProvider(table, { name: 'fleet' })
  const pb = createMemoryProvider(table, { name: 'fleet' })
  // A generous L2 read budget: these tests are about what the fleet shares, not about a slow Redis; with the default
  // 50 ms a loaded machine turned reads into misses ("block() on one instance is seen by the others" got null).
  // L2 alone (block propagation, which would deliver blocks before L2 is read, is tested in test/fleet/).
  const cache = { l2: SHARED, prefix, l2TimeoutMs: 5_000, propagateBlocks: false }
  const a = instance({ provider: pa, cache, ...extra })
  const b = instance({ provider: pb, cache, ...extra })
  await connected(a)
  await connected(b)
  return { a, b, pa, pb, prefix }
}

/** Wait until the fire-and-forget writes of an instance have landed. */
async function writesSettled(keys: string[]): Promise<void> {
  const client = createClient({ url: SHARED })
  await client.connect()
  try {
    await vi.waitUntil(async () => (await client.exists(keys)) === keys.length, { timeout: 5_000 })
  } finally {
    await client.close()
  }
}

/** Where the tests' manual clocks start (`createTestClock(T0)`: time moves only by `clock.advance`). */
const T0 = Date.UTC(2030, 0, 1)

function logger() {
  return { info: vi.fn(), warn: vi.fn() }
}

// ---------------------------------------------------------------------------------------------------------------------
// Our own redis-server, to kill and freeze
// ---------------------------------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

class OwnRedis {
  child: ChildProcess | undefined
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    })
    const client = createClient({ url: this.url, socket: { reconnectStrategy: 50 } })
    client.on('error', () => undefined)
    await client.connect()
    await client.ping()
    await client.destroy()
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal)
  }

  async kill(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Sharing between instances
// ---------------------------------------------------------------------------------------------------------------------

describe('a shared L2 between instances', () => {
  it('a second instance gets the answer from L2 with no upstream call', async () => {
    const { a, b, pa, pb, prefix } = await fleet({}, { '203.0.113.45': 'vpn' })
    expect((await a.lookup('203.0.113.45')).source).toBe('upstream')
    await writesSettled([`${prefix}:2:{203.0.113.45}:fleet`])
    expect(await b.lookup('203.0.113.45')).toMatchObject({ source: 'l2', status: 'scored', isVpn: true, score: 45 })
    expect(b.peek('203.0.113.45')).toMatchObject({ source: 'l1', isVpn: true })
    expect(pa.calls).toBe(1)
    expect(pb.calls).toBe(0)
  })

  it('keys are short and versioned, IPv6 keyed by its /64, with a TTL of freshness plus the stale window', async () => {
    const prefix = uniquePrefix()
    const r = instance({ provider: createMemoryProvider({}, { name: 'keys' }), cache: { l2: SHARED, prefix, ttlSeconds: 60, staleSeconds: 60 } })
    await connected(r)
    await r.lookup('203.0.113.7')
    await r.lookup('2001:db8:7:8::1234')
    await writesSettled([`${prefix}:2:{203.0.113.7}:keys`, `${prefix}:2:{2001:db8:7:8::/64}:keys`])
    const client = createClient({ url: SHARED })
    await client.connect()
    const ttl = await client.pTTL(`${prefix}:2:{203.0.113.7}:keys`)
    await client.close()
    expect(ttl).toBeGreaterThan(110_000)
    expect(ttl).toBeLessThanOrEqual(120_000)
  })

  it('a second instance sees the automatic blocklist, without a lookup', async () => {
    const { a, b, pb, prefix } = await fleet({}, { '203.0.113.99': 'high-risk' })
    expect((await a.lookup('203.0.113.99')).listed).toBe('blocklist')
    await writesSettled([`${prefix}:2:{203.0.113.99}:block`])
    expect(await b.lookup('203.0.113.99')).toMatchObject({ listed: 'blocklist', source: 'l2', score: 97 })
    expect(pb.calls).toBe(0)
  })

  it('block() on one instance is seen by the others; unblock() too, within one L1 TTL', async () => {
    const clock = createTestClock(T0)
    const { a, b, pb } = await fleet({ clock })
    await b.lookup('198.51.100.77') // b holds a fresh, unblocked answer in L1
    await a.block('198.51.100.77')
    expect((await b.lookup('198.51.100.77')).listed).toBe(null) // b's L1 still answers…
    clock.advance(301_000) // …until its TTL runs out; then b reads L2 again
    expect((await b.lookup('198.51.100.77')).listed).toBe('blocklist')
    await a.unblock('198.51.100.77')
    expect((await b.lookup('198.51.100.77')).listed).toBe('blocklist') // b's local copy of the block…
    clock.advance(301_000)
    expect((await b.lookup('198.51.100.77')).listed).toBe(null) // …lives at most one TTL
    expect(pb.calls).toBe(2)
  })

  it('an instance that never saw an IP sees a block() made elsewhere at once', async () => {
    const { a, b, pb } = await fleet()
    await a.block('198.51.100.78', 60)
    expect(await b.lookup('198.51.100.78')).toMatchObject({ listed: 'blocklist', status: 'skipped' })
    expect(pb.calls).toBe(0)
  })

  it('stale data in L2 is served when the upstream fails', async () => {
    const clock = createTestClock(T0)
    const prefix = uniquePrefix()
    const a = instance({ clock, provider: createMemoryProvider({ '203.0.113.60': 'proxy' }, { name: 'st' }), cache: { l2: SHARED, prefix } })
    await connected(a)
    await a.lookup('203.0.113.60')
    await writesSettled([`${prefix}:2:{203.0.113.60}:st`])
    clock.advance(400_000) // past the freshness, within the stale window
    const down = createMemoryProvider(
      () => {
        throw new ProviderError('http_error', 'down', 503)
      },
      { name: 'st' },
    )
    const b = instance({ clock, provider: down, cache: { l2: SHARED, prefix } })
    await connected(b)
    expect(await b.lookup('203.0.113.60')).toMatchObject({ source: 'stale', error: 'http_error', isProxy: true })
    expect(down.calls).toBe(1)
  })

  it('wait: false answers at once and fills L1 from L2 in the background, without an upstream call', async () => {
    const { a, b, pb, prefix } = await fleet()
    await a.lookup('203.0.113.31')
    await writesSettled([`${prefix}:2:{203.0.113.31}:fleet`])
    expect((await b.lookup('203.0.113.31', { wait: false })).status).toBe('pending')
    await vi.waitUntil(() => b.peek('203.0.113.31') !== undefined)
    expect(pb.calls).toBe(0)
  })

  it('cache.prefix separates applications sharing one Redis', async () => {
    const p1 = uniquePrefix()
    const p2 = uniquePrefix()
    const a = instance({ provider: createMemoryProvider({}, { name: 'pre' }), cache: { l2: SHARED, prefix: p1 } })
    const pb = createMemoryProvider({}, { name: 'pre' })
    const b = instance({ provider: pb, cache: { l2: SHARED, prefix: p2 } })
    await connected(a)
    await connected(b)
    await a.lookup('203.0.113.32')
    await writesSettled([`${p1}:2:{203.0.113.32}:pre`])
    expect((await b.lookup('203.0.113.32')).source).toBe('upstream')
    expect(pb.calls).toBe(1)
  })

  it('any Keyv instance can be the L2, and resolver.close() leaves it open (it is yours)', async () => {
    const prefix = uniquePrefix()
    const client = createClient({ url: SHARED })
    const keyv = new Keyv({ store: new KeyvRedis(client), useKeyPrefix: false, namespace: undefined })
    keyv.on('error', () => undefined)
    const pa = createMemoryProvider({}, { name: 'own' })
    const pb = createMemoryProvider({}, { name: 'own' })
    const a = instance({ provider: pa, cache: keyv })
    const b = createRiskResolver({ provider: pb, scoreDocumentationRanges: true, cache: { l2: keyv, prefix } })
    const aPrefixed = createRiskResolver({ provider: pa, scoreDocumentationRanges: true, cache: { l2: keyv, prefix } })
    await aPrefixed.lookup('203.0.113.33')
    await vi.waitUntil(async () => (await keyv.get(`${prefix}:2:{203.0.113.33}:own`)) !== undefined, { timeout: 5_000 })
    expect((await b.lookup('203.0.113.33')).source).toBe('l2')
    expect(pb.calls).toBe(0)
    await b.close()
    await aPrefixed.close()
    await keyv.set(`${prefix}:1:still-open`, 1, 10_000)
    expect(await keyv.get(`${prefix}:1:still-open`)).toBe(1)
    void a
    await keyv.disconnect()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Redis failing
// ---------------------------------------------------------------------------------------------------------------------

describe('Redis is a cache, not a dependency', () => {
  const own: OwnRedis[] = []
  afterAll(async () => {
    for (const r of own) await r.kill()
  })

  async function ownRedis(): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort())
    own.push(r)
    await r.start()
    return r
  }

  async function lookups(r: RiskResolver, from: number, count: number) {
    return Promise.all(Array.from({ length: count }, (_, i) => r.lookup(`198.51.100.${from + i}`)))
  }

  it('Redis killed mid-run: every lookup still answers (from the provider); the L2 breaker opens; Redis back: used again', async () => {
    const clock = createTestClock(T0)
    const redis = await ownRedis()
    const log = logger()
    const provider: MemoryProvider = createMemoryProvider({}, { name: 'kill' })
    // 40 simultaneous lookups from one /24: the budget is one pool here (this test is about Redis, not budget shares).
    const r = instance({ clock, provider, logger: log, cache: { l2: redis.url, l2TimeoutMs: 50 }, budget: { timeoutMs: 1_000, perNetwork: false } })
    const l2 = resolverInternals(r).l2!
    await connected(r)
    expect((await lookups(r, 1, 5)).every((a) => a.source === 'upstream')).toBe(true)
    expect(l2.stats.failures).toBe(0)

    await redis.kill()
    const during = await lookups(r, 10, 40)
    expect(during.every((a) => a.status === 'scored' && a.source === 'upstream')).toBe(true)
    expect(l2.state()).toBe('open')
    expect(l2.stats.skipped).toBeGreaterThan(0)
    expect(log.warn.mock.calls.filter(([o]) => (o as { option?: string }).option === 'cache.l2')).toHaveLength(1)

    await redis.start()
    // Another instance writes answers; once this instance's client has reconnected and its L2 breaker's open period
    // is over, it reads them from L2. (Each round uses a new IP: an answer taken from the provider stays in L1.)
    const other = instance({ clock, provider: createMemoryProvider({}, { name: 'kill' }), cache: { l2: redis.url } })
    await connected(other)
    const raw = createClient({ url: redis.url })
    await raw.connect()
    let source = ''
    try {
      for (let round = 0; round < 40 && source !== 'l2'; round++) {
        const ip = `198.51.100.${150 + round}`
        await other.lookup(ip)
        await vi.waitUntil(async () => (await raw.exists(`iprisk:2:{${ip}}:kill`)) === 1, { timeout: 5_000 })
        clock.advance(6_000)
        source = (await r.lookup(ip)).source
        if (source !== 'l2') await new Promise((resolve) => setTimeout(resolve, 100)) // give the client time to reconnect
      }
    } finally {
      await raw.close()
    }
    expect(source).toBe('l2')
    expect(l2.state()).toBe('closed')
  })

  it('Redis frozen (SIGSTOP): reads cost at most cache.l2TimeoutMs until the breaker opens; lookups still answer', async () => {
    const redis = await ownRedis()
    const provider = createMemoryProvider({}, { name: 'stop' })
    const log = logger()
    const r = instance({ provider, logger: log, cache: { l2: redis.url, l2TimeoutMs: 40 }, budget: { timeoutMs: 1_000 } })
    const l2 = resolverInternals(r).l2!
    await connected(r)
    redis.signal('SIGSTOP')
    try {
      const answers = await lookups(r, 50, 20)
      expect(answers.every((a) => a.status === 'scored' && a.source === 'upstream')).toBe(true)
      expect(l2.stats.timeouts).toBeGreaterThanOrEqual(1)
      expect(l2.state()).toBe('open')
      expect(provider.calls).toBe(20)
      expect(JSON.stringify(log.warn.mock.calls)).toContain('no answer within 40 ms')
    } finally {
      redis.signal('SIGCONT')
    }
  })

  it('Redis down at start: lookups answer from the provider, and the problem is reported once', async () => {
    const port = await freePort() // nothing listens there
    const log = logger()
    const provider = createMemoryProvider({}, { name: 'down' })
    const r = instance({ provider, logger: log, cache: `redis://127.0.0.1:${port}` })
    await connected(r) // loaded, first connection attempt over (refused)
    for (let i = 0; i < 3; i++) {
      const answers = await lookups(r, 100 + i * 10, 10)
      expect(answers.every((a) => a.status === 'scored')).toBe(true)
    }
    expect(provider.calls).toBe(30)
    const reports = log.warn.mock.calls.filter(([o]) => (o as { event?: string }).event === 'config_error')
    expect(reports.map(([o]) => (o as { option: string }).option)).toEqual(['cache'])
  })

  it('block() rejects (after blocking locally) when the shared store cannot take it', async () => {
    const port = await freePort()
    const r = instance({ provider: createMemoryProvider({}, { name: 'blk' }), cache: `redis://127.0.0.1:${port}` })
    await expect(r.block('203.0.113.9')).rejects.toThrow(/shared cache/)
    expect(r.peek('203.0.113.9')?.listed).toBe('blocklist')
  })
})
