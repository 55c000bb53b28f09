/**
 * The cache tiers on their own: L1 bounds and expiry bookkeeping, the L2 record format, the L2 time budget and breaker
 * (against the real Redis on 127.0.0.1:6379, database 12, and a TCP server that accepts and never answers), and the
 * start-up checks of Redis URLs and of the optional @keyv/redis package.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Keyv } from 'keyv'
import * as keyvRedisModule from '@keyv/redis'
import KeyvRedis, { createClient } from '@keyv/redis'
import { build, type Plugin } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CACHE_KEY_VERSION,
  L2_BREAKER_FAILURES,
  L2_BREAKER_OPEN_MS,
  L2_OPERATOR_TIMEOUT_MS,
  MemoryTier,
  SharedTier,
  assertRedisAdapterInstalled,
  blockCacheKey,
  connectRedisKeyv,
  encodeBlock,
  encodeRisk,
  hasUnboundedMapStore,
  isKeyvLike,
  redisUrlProblem,
  riskCacheKey,
  type KeyvLike,
} from '../../src/core/cache.js'
import { loadRedisAdapter, type RedisAdapterImporter, type RedisAdapterModule } from '../../src/core/cache/redis.js'
import { IpRiskConfigError, IpRiskError } from '../../src/core/errors.js'
import { decodeBlock, decodeRisk } from '../support/l2-records.js'
import type { RiskData } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'

const REDIS_URL = 'redis://127.0.0.1:6379/12'
const PREFIX = `cachetest${process.pid}`

const DATA: RiskData = {
  score: 42,
  isVpn: true,
  isProxy: false,
  isTor: null,
  isDatacenter: false,
  countryCode: 'DE',
  asn: 3320,
  isp: 'Deutsche Telekom',
}

/** A TCP server that accepts connections and never answers: a Redis that hangs (SIGSTOP-like, or a black hole). */
async function startBlackHole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {
    url: `redis://127.0.0.1:${address.port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A Keyv-shaped object whose operations fail the way a Keyv with `throwOnErrors: false` does: `undefined` + 'error'. */
function silentFailingKeyv(): KeyvLike & { calls: number } {
  const listeners: Array<(e: unknown) => void> = []
  const fail = async (): Promise<undefined> => {
    target.calls++
    for (const l of listeners) l(new Error('ECONNREFUSED'))
    return undefined
  }
  const target = {
    calls: 0,
    get: fail,
    set: fail,
    delete: fail,
    getMany: async (keys: string[]) => {
      await fail()
      return keys.map(() => undefined)
    },
    on: (_event: 'error', listener: (e: unknown) => void) => {
      listeners.push(listener)
      return target
    },
  }
  return target
}

/** A Keyv-shaped store that never answers (a hung Redis), counting the calls made to it. */
function hangingKeyv(): KeyvLike & { calls: number } {
  const never = (): Promise<never> => {
    target.calls++
    return new Promise(() => undefined)
  }
  const target = { calls: 0, get: never, set: never, delete: never, getMany: never, on: () => target }
  return target
}

describe('cache keys', () => {
  it.each([
    ['iprisk', 'ipasis', '203.0.113.7', `iprisk:${CACHE_KEY_VERSION}:{203.0.113.7}:ipasis`],
    ['iprisk', 'ipasis', '2001:db8:1:2::/64', 'iprisk:2:{2001:db8:1:2::/64}:ipasis'],
    ['staging', 'mine', '198.51.100.1', 'staging:2:{198.51.100.1}:mine'],
  ])('riskCacheKey(%s, %s, %s) is %s', (prefix, provider, key, expected) => {
    expect(riskCacheKey(prefix, provider, key)).toBe(expected)
  })

  it('blocklist keys are versioned and shared by every provider', () => {
    expect(blockCacheKey('iprisk', '203.0.113.7')).toBe('iprisk:2:{203.0.113.7}:block')
  })
})

describe('MemoryTier (L1)', () => {
  it('never holds more than max entries, even under 1,000,000 distinct keys', () => {
    const l1 = new MemoryTier(1_000)
    let largest = 0
    for (let i = 0; i < 1_000_000; i++) {
      l1.upsert(`k${i}`)
      if ((i & 0xffff) === 0) largest = Math.max(largest, l1.size)
    }
    expect(Math.max(largest, l1.size)).toBe(1_000)
    expect(l1.get('k999999')).toBeDefined()
    expect(l1.get('k0')).toBeUndefined()
  })

  it('with max 0 stores nothing and every get misses', () => {
    const l1 = new MemoryTier(0)
    const entry = l1.upsert('a')
    entry.freshUntil = Date.now() + 60_000
    expect(l1.get('a')).toBeUndefined()
    expect(l1.size).toBe(0)
  })

  it.each([
    ['stale window', { staleUntil: 2_000 }, true],
    ['remembered failure', { failureUntil: 2_000 }, true],
    ['block', { blockedUntil: 2_000 }, true],
    ['nothing left', { freshUntil: 900, staleUntil: 999 }, false],
  ])('prune keeps an entry with a live %s: %s', (_name, times, kept) => {
    const l1 = new MemoryTier(10)
    Object.assign(l1.upsert('k'), times)
    expect(l1.prune('k', 1_000) !== undefined).toBe(kept)
    expect(l1.get('k') !== undefined).toBe(kept)
  })
})

describe('L2 record format', () => {
  it('round-trips an answer and a blocklist entry', () => {
    expect(decodeRisk(JSON.parse(JSON.stringify(encodeRisk(DATA, 123))))).toEqual({ data: DATA, freshUntil: 123 })
    expect(decodeBlock(JSON.parse(JSON.stringify(encodeBlock(456, DATA))))).toEqual({ until: 456, data: DATA })
    expect(decodeBlock(encodeBlock(456, null))).toEqual({ until: 456, data: null })
  })

  it.each([
    ['null', null],
    ['a string', 'hello'],
    ['an object of another format', { score: 10 }],
    ['a score over 100', { f: 1, d: [101, null, null, null, null, null, null, null] }],
    ['a lower-case country', { f: 1, d: [1, null, null, null, null, 'de', null, null] }],
    ['a short tuple', { f: 1, d: [1, null] }],
    ['a non-boolean flag', { f: 1, d: [1, 'yes', null, null, null, null, null, null] }],
  ])('treats %s in L2 as a miss', (_name, value) => {
    expect(decodeRisk(value)).toBeUndefined()
    expect(decodeBlock(value)).toBeUndefined()
  })
})

describe('Redis URLs and the optional @keyv/redis package', () => {
  it.each([
    ['redis://127.0.0.1:6379', undefined],
    ['rediss://user:secret@cache.internal:6380/3', undefined],
    ['redis://localhost', undefined],
  ])('accepts %s', (url, problem) => {
    expect(redisUrlProblem(url)).toBe(problem)
  })

  it.each([
    ['not a url', /not a valid URL/],
    ['http://127.0.0.1:6379', /must use one of the schemes redis:, rediss:, valkey:/],
    ['redis://127.0.0.1:6379/zero', /database path/],
    ['redis://:secret@127.0.0.1:99999', /not a valid URL/],
  ])('rejects %s without echoing it', (url, message) => {
    const problem = redisUrlProblem(url)
    expect(problem).toMatch(message)
    expect(problem).not.toContain('secret')
  })

  it('names the option when @keyv/redis cannot be loaded', () => {
    const missing = (): string => {
      throw new Error("Cannot find module '@keyv/redis'")
    }
    expect(() => assertRedisAdapterInstalled('cache', missing)).toThrow(IpRiskConfigError)
    expect(() => assertRedisAdapterInstalled('cache', missing)).toThrow(/`cache`.*npm install @keyv\/redis/)
  })

  it('finds @keyv/redis when it is installed', () => {
    expect(() => assertRedisAdapterInstalled('cache')).not.toThrow()
  })

  it('the real @keyv/redis module has the shape the connection uses', async () => {
    const typed: RedisAdapterModule = keyvRedisModule // compile-time: the written-out type fits the package's own
    const loaded = await loadRedisAdapter()
    expect(loaded.default).toBe(typed.default)
    expect(loaded.createClient).toBe(createClient)
  })

  it.each([
    ['cannot be imported', (() => Promise.reject(new Error("Cannot find module '@keyv/redis'"))) as RedisAdapterImporter, /`cache`.*npm install @keyv\/redis/],
    ['is not the package expected', (async () => ({ default: {} })) as RedisAdapterImporter, /`cache`.*@keyv\/redis 4 or 5/],
  ])('a Redis URL whose adapter %s: the connection rejects with an IpRiskConfigError, L2 stays a miss', async (_name, importer, message) => {
    const redis = connectRedisKeyv(REDIS_URL, () => undefined, { importer, option: 'cache' })
    await expect(redis.keyv).rejects.toThrow(IpRiskConfigError)
    await expect(redis.keyv).rejects.toThrow(message)
    const loadErrors: unknown[] = []
    const tier = new SharedTier(redis.keyv, { timeoutMs: 50, dispose: redis.destroy, onLoadError: (e) => loadErrors.push(e) })
    try {
      expect(await tier.whenReady(1_000)).toBe(false)
      expect(loadErrors).toHaveLength(1)
      expect(loadErrors[0]).toBeInstanceOf(IpRiskConfigError)
      expect(await tier.read('a', 'b')).toBeUndefined()
      await expect(tier.writeNow('k', 1, 1_000)).rejects.toThrow(message)
    } finally {
      tier.close()
    }
  })

  describe('bundlers never need @keyv/redis installed', () => {
    /** An esbuild resolver for which @keyv/redis is not installed (a build that tries to resolve it fails). */
    const absent: Plugin = {
      name: 'keyv-redis-absent',
      setup(b) {
        b.onResolve({ filter: /^@keyv\/redis$/ }, () => ({ errors: [{ text: '@keyv/redis is not installed' }] }))
      },
    }
    const bundle = (options: Parameters<typeof build>[0]) =>
      build({ bundle: true, platform: 'node', write: false, metafile: true, logLevel: 'silent', plugins: [absent], ...options })

    it('control: a literal import("@keyv/redis") fails esbuild --bundle when the package is absent', async () => {
      const stdin = { contents: "export const load = () => import('@keyv/redis')", resolveDir: process.cwd() }
      await expect(bundle({ stdin, format: 'esm' })).rejects.toThrow(/not installed/)
    })

    it.each([
      ['esm', false],
      ['cjs', false],
      ['esm', true],
    ] as const)('esbuild --bundle (%s, minify %s) of iprisk builds without it, and does not include it', async (format, minify) => {
      const result = await bundle({ entryPoints: ['src/core/index.ts'], format, minify })
      expect(result.errors).toEqual([])
      expect(Object.keys(result.metafile?.inputs ?? {}).filter((file) => file.includes('keyv/redis'))).toEqual([])
    })

    describe('a CommonJS bundle of the Redis connection, run by Node', () => {
      type Bundled = typeof import('../../src/core/cache/redis.js')
      const dirs: string[] = []
      /** Writes the bundle into `dir` and loads it: `@keyv/redis` is then found exactly when `dir` can reach it. */
      async function loadBundleIn(dir: string): Promise<Bundled> {
        dirs.push(dir)
        const file = join(dir, 'redis-connection.cjs')
        await bundle({ entryPoints: ['src/core/cache/redis.ts'], format: 'cjs', write: true, outfile: file })
        return createRequire(file)(file) as Bundled
      }
      afterAll(() => {
        for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
      })

      it('where @keyv/redis is installed, the start-up check passes and the adapter loads', async () => {
        mkdirSync('tmp', { recursive: true })
        const bundled = await loadBundleIn(mkdtempSync(join(process.cwd(), 'tmp', 'bundle-')))
        expect(() => bundled.assertRedisAdapterInstalled('cache')).not.toThrow()
        expect(typeof (await bundled.loadRedisAdapter()).createClient).toBe('function')
      })

      it('where it is not installed, the connection fails with an IpRiskConfigError naming npm install @keyv/redis', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'iprisk-bundle-'))
        expect(() => createRequire(join(dir, 'x.js')).resolve('@keyv/redis')).toThrow() // precondition: absent there
        const bundled = await loadBundleIn(dir)
        const redis = bundled.connectRedisKeyv(REDIS_URL, () => undefined, { option: 'cache' })
        const error: unknown = await redis.keyv.catch((e: unknown) => e)
        expect(error).toMatchObject({ name: 'IpRiskConfigError', option: 'cache' })
        expect(String((error as Error).message)).toMatch(/npm install @keyv\/redis/)
      })
    })
  })

  it("recognizes Keyv instances and refuses keyv's unbounded default Map store", () => {
    const onMap = new Keyv()
    expect(isKeyvLike(onMap)).toBe(true)
    expect(hasUnboundedMapStore(onMap as unknown as KeyvLike)).toBe(true)
    const onRedis = new Keyv({ store: new KeyvRedis(REDIS_URL) })
    expect(hasUnboundedMapStore(onRedis as unknown as KeyvLike)).toBe(false)
    expect(isKeyvLike({ get: () => undefined })).toBe(false)
  })
})

describe('SharedTier (L2) on the real Redis', () => {
  let redis: ReturnType<typeof connectRedisKeyv>
  let tier: SharedTier

  beforeAll(async () => {
    // Fails (not skips) when Redis is absent.
    const probe = createClient({ url: REDIS_URL })
    await probe.connect()
    expect(await probe.ping()).toBe('PONG')
    await probe.close()
    redis = connectRedisKeyv(REDIS_URL, () => undefined)
    tier = new SharedTier(redis.keyv, { timeoutMs: 1_000, dispose: redis.destroy })
    expect(await tier.whenReady(5_000)).toBe(true)
  })

  afterAll(async () => {
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const keys = await client.keys(`${PREFIX}:*`)
    if (keys.length > 0) await client.del(keys)
    await client.close()
    tier.close()
  })

  it('a read of absent keys is an empty answer, not a failure', async () => {
    const read = await tier.read(riskCacheKey(PREFIX, 'p', '192.0.2.1'), blockCacheKey(PREFIX, '192.0.2.1'))
    expect(read).toEqual({ risk: undefined, block: undefined })
  })

  it('reads back, in one round trip, what a fire-and-forget write stored, with its TTL set in Redis', async () => {
    const rk = riskCacheKey(PREFIX, 'p', '192.0.2.2')
    const bk = blockCacheKey(PREFIX, '192.0.2.2')
    tier.write(rk, encodeRisk(DATA, 1_000), 60_000)
    tier.write(bk, encodeBlock(2_000, null), 30_000)
    await expect.poll(async () => (await tier.read(rk, bk))?.block).toEqual({ until: 2_000, data: null })
    expect((await tier.read(rk, bk))?.risk).toEqual({ data: DATA, freshUntil: 1_000 })
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const pttl = await client.pTTL(rk)
    await client.close()
    expect(pttl).toBeGreaterThan(50_000)
    expect(pttl).toBeLessThanOrEqual(60_000)
  })

  it('operator writes and deletes are awaited', async () => {
    const bk = blockCacheKey(PREFIX, '192.0.2.3')
    await tier.writeNow(bk, encodeBlock(5, null), 10_000)
    expect((await tier.read('none', bk))?.block).toEqual({ until: 5, data: null })
    await tier.deleteNow([bk])
    expect((await tier.read('none', bk))?.block).toBeUndefined()
  })

  it('stores plain JSON with no keyv namespace, so keys are exactly ours', async () => {
    const rk = riskCacheKey(PREFIX, 'p', '192.0.2.4')
    await tier.writeNow(rk, encodeRisk(DATA, 7), 10_000)
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const raw = await client.get(rk)
    await client.close()
    expect(JSON.parse(raw ?? 'null')).toEqual({ value: { f: 7, d: [42, true, false, null, false, 'DE', 3320, 'Deutsche Telekom'] } })
  })
})

describe('SharedTier (L2) when the store fails', () => {
  it('a store that never answers costs the read budget (on the injected clock), then the breaker skips it', async () => {
    const hanging = hangingKeyv()
    const clock = createTestClock()
    const opened: string[] = []
    const tier = new SharedTier(hanging, { timeoutMs: 30, clock, onOpen: (r) => opened.push(r) })
    for (let i = 0; i < L2_BREAKER_FAILURES; i++) {
      let settled = false
      const read = tier.read('a', 'b').finally(() => (settled = true))
      await clock.advanceAsync(29)
      expect(settled).toBe(false) // still within the budget
      await clock.advanceAsync(1)
      expect(settled).toBe(true)
      expect(await read).toBeUndefined()
    }
    expect(tier.stats.timeouts).toBe(L2_BREAKER_FAILURES)
    expect(tier.state()).toBe('open')
    expect(opened).toEqual(['no answer within 30 ms'])
    expect(await tier.read('a', 'b')).toBeUndefined()
    tier.write('a', 1, 1_000)
    expect(hanging.calls).toBe(L2_BREAKER_FAILURES)
    expect(tier.stats.skipped).toBe(2)
    expect(clock.pendingTimers).toBe(0)
  })

  it('a write that never completes fails after four read budgets, an operator write after L2_OPERATOR_TIMEOUT_MS (on the injected clock)', async () => {
    const hanging = hangingKeyv()
    const clock = createTestClock()
    const failures: string[] = []
    const tier = new SharedTier(hanging, { timeoutMs: 30, clock, onFailure: (kind) => failures.push(kind) })
    tier.write('k', 1, 1_000)
    await clock.advanceAsync(4 * 30 - 1)
    expect(failures).toEqual([])
    await clock.advanceAsync(1)
    expect(failures).toEqual(['timeout'])
    let rejection: unknown
    const operator = tier.writeNow('k', 1, 1_000).catch((e: unknown) => (rejection = e))
    await clock.advanceAsync(L2_OPERATOR_TIMEOUT_MS - 1)
    expect(rejection).toBeUndefined()
    await clock.advanceAsync(1)
    await operator
    expect(rejection).toBeInstanceOf(IpRiskError)
    expect(String(rejection)).toMatch(`did not answer within ${L2_OPERATOR_TIMEOUT_MS} ms`)
    expect(failures).toEqual(['timeout', 'timeout'])
  })

  it('a Redis URL pointing at a server that accepts and never answers: reads are misses, never rejecting', async () => {
    const hole = await startBlackHole()
    const redis = connectRedisKeyv(hole.url, () => undefined)
    const tier = new SharedTier(redis.keyv, { timeoutMs: 30, dispose: redis.destroy })
    try {
      for (let i = 0; i < 5; i++) await expect(tier.read('a', 'b')).resolves.toBeUndefined()
      await tier.whenReady(200)
      for (let i = 0; i < 5; i++) await expect(tier.read('a', 'b')).resolves.toBeUndefined()
    } finally {
      tier.close()
      await hole.close()
    }
  })

  it('a Keyv that reports failures only as error events still trips the breaker', async () => {
    const keyv = silentFailingKeyv()
    const tier = new SharedTier(keyv, { timeoutMs: 50 })
    for (let i = 0; i < L2_BREAKER_FAILURES; i++) expect(await tier.read('a', 'b')).toBeUndefined()
    expect(tier.stats.failures).toBe(L2_BREAKER_FAILURES)
    expect(tier.state()).toBe('open')
    await tier.read('a', 'b')
    expect(keyv.calls).toBe(L2_BREAKER_FAILURES)
  })

  it('after the open period lets exactly one probe through, and closes again when it succeeds', async () => {
    const clock = createTestClock()
    let failing = true
    let calls = 0
    const keyv: KeyvLike = {
      get: async () => undefined,
      set: async () => true,
      delete: async () => true,
      getMany: async (keys) => {
        calls++
        await Promise.resolve() // in flight while the other reads are tried
        if (failing) throw new Error('down')
        return keys.map(() => undefined)
      },
      on: () => keyv,
    }
    const tier = new SharedTier(keyv, { timeoutMs: 100, clock })
    for (let i = 0; i < L2_BREAKER_FAILURES; i++) await tier.read('a', 'b')
    expect(tier.state()).toBe('open')
    clock.advance(L2_BREAKER_OPEN_MS - 1)
    expect(tier.state()).toBe('open')
    expect(await tier.read('a', 'b')).toBeUndefined()
    expect(calls).toBe(L2_BREAKER_FAILURES)
    clock.advance(2)
    expect(tier.state()).toBe('half_open')
    failing = false
    const probes = await Promise.all([tier.read('a', 'b'), tier.read('a', 'b'), tier.read('a', 'b')])
    expect(calls).toBe(L2_BREAKER_FAILURES + 1)
    expect(probes.filter((p) => p !== undefined)).toHaveLength(1)
    expect(tier.state()).toBe('closed')
  })

  it('a failed probe opens it again for another period', async () => {
    const clock = createTestClock()
    const keyv = silentFailingKeyv()
    const opened: string[] = []
    const tier = new SharedTier(keyv, { timeoutMs: 50, clock, onOpen: (r) => opened.push(r) })
    for (let i = 0; i < L2_BREAKER_FAILURES; i++) await tier.read('a', 'b')
    clock.advance(L2_BREAKER_OPEN_MS + 1)
    await tier.read('a', 'b')
    expect(keyv.calls).toBe(L2_BREAKER_FAILURES + 1)
    expect(tier.state()).toBe('open')
    clock.advance(L2_BREAKER_OPEN_MS - 1)
    expect(tier.state()).toBe('open') // a whole new period
    expect(opened).toHaveLength(1) // reported once per opening, not per failed probe
  })

  it('operator writes reject with an IpRiskError when the store refuses them', async () => {
    const tier = new SharedTier(silentFailingKeyv(), { timeoutMs: 50 })
    await expect(tier.writeNow('k', 1, 1_000)).rejects.toThrow(IpRiskError)
    await expect(tier.deleteNow(['k'])).rejects.toThrow(/did not accept/)
  })

  it('writes made while the store is still connecting are sent once it is ready', async () => {
    const stored = new Map<string, unknown>()
    const keyv: KeyvLike = {
      get: async (k) => stored.get(k),
      set: async (k, v) => stored.set(k, v),
      delete: async (k) => stored.delete(k),
      on: () => keyv,
    }
    let resolve: (k: KeyvLike) => void = () => undefined
    const tier = new SharedTier(new Promise<KeyvLike>((r) => (resolve = r)), { timeoutMs: 50 })
    tier.write('k', { f: 1, d: [1, null, null, null, null, null, null, null] }, 1_000)
    expect(stored.size).toBe(0)
    resolve(keyv)
    await expect.poll(() => stored.has('k')).toBe(true)
  })

  it('a store that fails to load is reported once through onLoadError, unless the tier was closed first', async () => {
    const reported: unknown[] = []
    for (const closeFirst of [false, true]) {
      let fail: (error: unknown) => void = () => undefined
      const tier = new SharedTier(new Promise<KeyvLike>((_, reject) => (fail = reject)), {
        timeoutMs: 20,
        onLoadError: (e) => reported.push([closeFirst, e]),
      })
      if (closeFirst) tier.close()
      fail(new Error('no adapter'))
      expect(await tier.whenReady(1_000)).toBe(false)
      tier.close()
    }
    expect(reported).toEqual([[false, new Error('no adapter')]])
  })

  it('a store still loading answers reads as misses at once (not failures), never rejecting', async () => {
    const tier = new SharedTier(new Promise<KeyvLike>(() => undefined), { timeoutMs: 20 })
    await expect(tier.read('a', 'b')).resolves.toBeUndefined()
    expect(tier.stats.skipped).toBe(1)
    expect(tier.stats.failures).toBe(0)
    expect(tier.state()).toBe('closed')
  })

  it('a Redis URL with nothing listening: loaded after the first attempt, then reads fail fast and open the breaker', async () => {
    const hole = await startBlackHole()
    await hole.close() // the port is now closed: connections are refused
    const errors: unknown[] = []
    const redis = connectRedisKeyv(hole.url, (e) => errors.push(e))
    const tier = new SharedTier(redis.keyv, { timeoutMs: 50, dispose: redis.destroy })
    try {
      expect(await tier.whenReady(5_000)).toBe(true)
      for (let i = 0; i < L2_BREAKER_FAILURES; i++) expect(await tier.read('a', 'b')).toBeUndefined()
      expect(tier.state()).toBe('open')
      expect(tier.stats.timeouts).toBe(0) // refused at once, not waited for
      expect(errors.length).toBeGreaterThan(0)
    } finally {
      tier.close()
    }
  })
})
