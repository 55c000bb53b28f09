/**
 * A hostile (or merely foreign) shared cache: values written straight into the real Redis on 127.0.0.1:6379
 * (database 13, a key prefix per test, removed afterwards) under the keys iprisk reads, as anyone with write access to
 * the store could. Issue 15, item 6.
 *
 * Promises checked: a value that is not a record a resolver with this configuration could have written (not JSON, the
 * wrong shape, a field out of range, fresh or blocked for longer than the configured lifetimes) is a miss: the lookup
 * goes on to the provider, whose answer replaces it, and nothing of it stays in L1. It is never an L2 failure: it
 * never opens the L2 breaker, so blocks made by other instances are still seen. Each one is counted
 * (`iprisk.cache.l2_errors{kind="invalid"}`) and the first is reported once. A valid record is served for no longer
 * than this instance's own TTL.
 */
import KeyvRedis, { createClient, Keyv } from '@keyv/redis'
import { AggregationTemporality, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { metricNames, policies, type RiskData, type RiskResolverOptions } from '../../src/core/index.js'
import { createRiskResolver, resolverInternals } from '../../src/core/resolver.js'
import type { IpRisk, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider, type IpasisSimulator } from '../../src/testing/index.js'
import { L2_SEED, TOR, TOR_TUPLE, hostileRecord, oracleBlock, oracleRisk, tupleToData } from '../support/l2-records.js'
import { captureConsole, createEvidence, watchProcess } from './helpers/evidence.js'
import { createHttpClient, globalIp, startSimulator, startStack, type HttpClient } from './helpers/stack.js'

const SHARED = 'redis://127.0.0.1:6379/13'
/** The Tor exit of the issue. */
const TOR_IP = '185.220.101.66'
/** The issue's record: "fresh" until the year 287,000, score 0, no flag. */
const ISSUE_RECORD = '{"value":{"f":9e15,"d":[0,false,false,false,false,null,null,null]}}'
const TTL_MS = 300_000
const NOW = Date.UTC(2030, 0, 1)

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)

type RawClient = ReturnType<typeof createClient>
let raw: RawClient
let counter = 0
const prefixes: string[] = []

/** A key prefix of its own for each test, so tests never read each other's entries. */
function uniquePrefix(): string {
  const prefix = `hostile${process.pid}x${++counter}`
  prefixes.push(prefix)
  return prefix
}

beforeAll(async () => {
  // Fails (not skips) when the shared Redis is absent.
  raw = createClient({ url: SHARED })
  await raw.connect()
  expect(await raw.ping()).toBe('PONG')
})

const made: RiskResolver[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const r of made.splice(0)) await r.close()
})

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await raw.keys(`${prefix}:*`)
    if (keys.length > 0) await raw.del(keys)
  }
  await raw.close()
  restoreConsole()
  watch.stop()
})

/**
 * A resolver on the shared Redis. Its L2 read budget is 1 s unless a test sets one: these tests are about what is read,
 * and the default 50 ms ran out on a loaded machine (a `timeout` counted where an `invalid` value was expected).
 */
function instance(options: Partial<RiskResolverOptions> & Pick<RiskResolverOptions, 'provider'>): RiskResolver {
  const { cache } = options
  const withBudget = typeof cache === 'object' && cache !== null ? { ...options, cache: { l2TimeoutMs: 1_000, ...cache } } : options
  const r = createRiskResolver({ scoreDocumentationRanges: true, logger: evidence.logger, ...withBudget })
  made.push(r)
  return r
}

/** Wait until the instance's Redis adapter is loaded and connected (reads before that are misses). */
async function connected(r: RiskResolver): Promise<void> {
  expect(await resolverInternals(r).l2?.whenReady(15_000)).toBe(true)
}

function fakeClock(): (ms: number) => void {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(NOW)
  return (ms) => vi.setSystemTime(Date.now() + ms)
}

function logger() {
  return { info: vi.fn(), warn: vi.fn() }
}

/** A keyv entry as the Redis connection stores it. */
const entry = (value: unknown): string => JSON.stringify({ value })

/** The eight data fields of an answer. */
function dataOf(a: IpRisk): RiskData {
  const { score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp } = a
  return { score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp }
}

/** Wait until the provider's answer (a Tor exit's) has replaced whatever was under `key`. */
async function replacedByProvider(key: string): Promise<void> {
  await vi.waitUntil(
    async () => {
      const text = await raw.get(key)
      if (text === null) return false
      try {
        return JSON.stringify((JSON.parse(text) as { value?: { d?: unknown } }).value?.d) === JSON.stringify(TOR_TUPLE)
      } catch {
        return false
      }
    },
    { timeout: 15_000 },
  )
}

/** A pull reader: `collect()` returns what the instruments hold now. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }

  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** `{ 'kind=…': count }` of `iprisk.cache.l2_errors`. */
async function l2Errors(reader: TestReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect()
  const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
  const out: Record<string, number> = {}
  for (const point of all.find((m) => m.descriptor.name === metricNames.l2Errors)?.dataPoints ?? []) {
    out[`kind=${String(point.attributes.kind)}`] = point.value as number
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------------
// The issue's attack, through HTTP
// ---------------------------------------------------------------------------------------------------------------------

describe('the issue\'s attack through HTTP (example servers, ipasis() on the simulator)', () => {
  let sim: IpasisSimulator
  let http: HttpClient
  beforeAll(async () => {
    sim = await startSimulator()
    sim.setProfile(TOR_IP, 'tor')
    http = createHttpClient(evidence)
  })
  afterAll(async () => {
    await http.close()
    await sim.close()
  })

  it('a "clean until 9e15" record under the Tor exit\'s key: the exit is scored upstream and refused, and the record is replaced', async () => {
    const prefix = uniquePrefix()
    const key = `${prefix}:2:{${TOR_IP}}:ipasis`
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { cache: { l2: SHARED, prefix } } })
    try {
      await connected(stack.resolver)
      await raw.set(key, ISSUE_RECORD)

      const trpc = await http.trpc(stack.trpc.url, 'orders', { xff: TOR_IP })
      expect([trpc.kind, trpc.reply.status, trpc.reason]).toEqual(['blocked', 403, 'risk_score_exceeded'])
      const yoga = await http.graphql(stack.yoga.url, 'mutation { signup(email: "a@example.com") { id } }', { xff: TOR_IP })
      expect([yoga.kind, yoga.reply.status, yoga.reason]).toEqual(['blocked', 403, 'tor_exit_node'])
      expect(sim.callsFor(TOR_IP), 'scored by the provider, once').toBe(1)
      await replacedByProvider(key)

      // With the key gone, nothing of the record is left: the exit is still refused, from L1, without a second call.
      await raw.del(key)
      const again = await http.trpc(stack.trpc.url, 'orders', { xff: TOR_IP })
      expect([again.kind, again.reason]).toEqual(['blocked', 'risk_score_exceeded'])
      expect(stack.resolver.peek(TOR_IP)).toMatchObject({ source: 'l1', isTor: true, score: 92 })
      expect(sim.callsFor(TOR_IP)).toBe(1)
    } finally {
      await stack.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// The resolver (public API) against hostile values
// ---------------------------------------------------------------------------------------------------------------------

describe('hostile values under the keys a resolver reads', () => {
  it('the issue\'s record is a miss: the Tor exit is scored and blocked; once its TTL passes nothing of the record remains', async () => {
    const advance = fakeClock()
    const prefix = uniquePrefix()
    const key = `${prefix}:2:{${TOR_IP}}:ipasis`
    const provider = createMemoryProvider({ [TOR_IP]: 'tor' }, { name: 'ipasis' })
    const r = instance({ provider, cache: { l2: SHARED, prefix } })
    await connected(r)
    await raw.set(key, ISSUE_RECORD)

    const answer = await r.lookup(TOR_IP)
    expect(answer).toMatchObject({ status: 'scored', source: 'upstream', error: null, ...TOR })
    expect(r.check(answer, policies.human)).toMatchObject({ action: 'block', reason: 'tor_exit_node' })
    await replacedByProvider(key)

    await raw.del(key)
    expect(r.peek(TOR_IP)).toMatchObject({ source: 'l1', ...TOR })
    advance(TTL_MS + 1)
    expect(r.peek(TOR_IP), 'nothing fresh left in L1 after the TTL').toBeUndefined()
    expect(await r.lookup(TOR_IP)).toMatchObject({ source: 'upstream', ...TOR })
    expect(provider.calls).toBe(2)
  })

  it('each invalid value is counted (iprisk.cache.l2_errors{kind="invalid"}) and the first is reported once, under cache.prefix', async () => {
    fakeClock()
    const prefix = uniquePrefix()
    const reader = new TestReader()
    const log = logger()
    const provider = createMemoryProvider({}, { name: 'ipasis', defaultProfile: 'tor' })
    const r = instance({ provider, logger: log, meterProvider: new MeterProvider({ readers: [reader] }), cache: { l2: SHARED, prefix } })
    await connected(r)
    await raw.set(`${prefix}:2:{${TOR_IP}}:ipasis`, ISSUE_RECORD)
    await raw.set(`${prefix}:2:{203.0.113.5}:ipasis`, 'not JSON')
    await raw.set(`${prefix}:2:{203.0.113.6}:block`, entry({ u: 9e15, d: null }))
    for (const ip of [TOR_IP, '203.0.113.5', '203.0.113.6']) expect((await r.lookup(ip)).source).toBe('upstream')

    expect(await l2Errors(reader)).toStrictEqual({ 'kind=invalid': 3 })
    expect(resolverInternals(r).l2?.stats).toMatchObject({ invalid: 3, failures: 0 })
    expect(log.warn.mock.calls).toStrictEqual([
      [
        { event: 'config_error', option: 'cache.prefix' },
        `iprisk: configuration problem with \`cache.prefix\`: the shared cache (L2) holds a value under \`${prefix}:2:\` that is not a record iprisk writes with this configuration (${prefix}:2:{${TOR_IP}}:ipasis: fresh for longer than the configured TTL); it is read as a miss (the provider is asked, and its answer replaces a stored answer). Another program, instances configured differently, or someone with write access to the store writes under this prefix`,
      ],
    ])
  })

  it('a record within the clock tolerance is served from L2, but L1 keeps it no longer than this instance\'s TTL', async () => {
    const advance = fakeClock()
    const prefix = uniquePrefix()
    const provider = createMemoryProvider({}, { name: 'ipasis', defaultProfile: 'tor' })
    const r = instance({ provider, cache: { l2: SHARED, prefix } })
    await connected(r)
    const clean = [5, false, false, false, false, 'US', 7922, 'Comcast']
    await raw.set(`${prefix}:2:{203.0.113.7}:ipasis`, entry({ f: NOW + TTL_MS + 30_000, d: clean }))
    expect(await r.lookup('203.0.113.7')).toMatchObject({ source: 'l2', ...tupleToData(clean) })
    advance(TTL_MS + 1)
    expect(r.peek('203.0.113.7')).toBeUndefined()
    expect(provider.calls).toBe(0)
  })

  describe.each([
    ['a redis:// URL', 'url'],
    ["an application's Keyv (keyv's default serializer)", 'keyv'],
  ] as const)('four non-JSON values under lookup keys, with %s', (_name, kind) => {
    const keyvs: Keyv[] = []
    afterAll(async () => {
      for (const k of keyvs) await k.disconnect()
    })
    function l2(): string | Keyv {
      if (kind === 'url') return SHARED
      const k = new Keyv({ store: new KeyvRedis(SHARED), useKeyPrefix: false, namespace: undefined })
      k.on('error', () => undefined)
      keyvs.push(k)
      return k
    }

    it('do not open the L2 breaker, and a block() made on another instance is still seen', async () => {
      const prefix = uniquePrefix()
      const pb = createMemoryProvider({}, { name: 'fleet' })
      const a = instance({ provider: createMemoryProvider({}, { name: 'fleet' }), cache: { l2: l2(), prefix } })
      // L2 alone: block propagation would deliver the block before L2 is read (tested in test/fleet/).
      const b = instance({ provider: pb, cache: { l2: l2(), prefix, propagateBlocks: false } })
      if (kind === 'url') {
        await connected(a)
        await connected(b)
      }
      const junk = ['not JSON', '{"value":', '\u0000\u0001binary', 'undefined']
      for (const [i, text] of junk.entries()) await raw.set(`${prefix}:2:{198.51.100.${i + 1}}:fleet`, text)
      for (let i = 0; i < junk.length; i++) {
        expect(await b.lookup(`198.51.100.${i + 1}`)).toMatchObject({ status: 'scored', source: 'upstream' })
      }
      const tier = resolverInternals(b).l2
      expect(tier?.state()).toBe('closed')
      expect(tier?.stats).toMatchObject({ failures: 0, invalid: junk.length })

      await a.block('198.51.100.99', 600)
      expect(await b.lookup('198.51.100.99')).toMatchObject({ listed: 'blocklist', source: 'l2', status: 'skipped' })
      expect(pb.calls).toBe(junk.length)
    })
  })

  const score = (i: number, v: unknown): unknown[] => TOR_TUPLE.map((x, j) => (j === i ? v : x))
  const clean = [0, false, false, false, false, null, null, null]
  const tenMb = 'x'.repeat(10 * 1024 * 1024)
  it.each<[string, 'risk' | 'block', string, boolean]>([
    // [row, key, text stored, counted as invalid]
    ['the issue\'s record (fresh until 9e15)', 'risk', ISSUE_RECORD, true],
    ['a tuple of seven', 'risk', entry({ f: NOW + 1_000, d: clean.slice(0, 7) }), true],
    ['a tuple of nine', 'risk', entry({ f: NOW + 1_000, d: [...clean, null] }), true],
    ['score 101', 'risk', entry({ f: NOW + 1_000, d: score(0, 101) }), true],
    ['score -1', 'risk', entry({ f: NOW + 1_000, d: score(0, -1) }), true],
    ['score "NaN"', 'risk', entry({ f: NOW + 1_000, d: score(0, 'NaN') }), true],
    ['score 1e400 (Infinity once parsed)', 'risk', `{"value":{"f":${NOW + 1_000},"d":[1e400,false,false,false,false,null,null,null]}}`, true],
    ['flags as strings', 'risk', entry({ f: NOW + 1_000, d: [0, 'false', 'false', 'false', 'false', null, null, null] }), true],
    ['asn 2^40', 'risk', entry({ f: NOW + 1_000, d: score(6, 2 ** 40) }), true],
    ['an isp of 10 MB', 'risk', entry({ f: NOW + 1_000, d: score(7, tenMb) }), true],
    ['an isp of 513 characters', 'risk', entry({ f: NOW + 1_000, d: score(7, 'x'.repeat(513)) }), true],
    ['a __proto__ key beside the record', 'risk', `{"value":{"f":${NOW + 1_000},"d":${JSON.stringify(clean)},"__proto__":{"isTor":false}}}`, true],
    ['the record under __proto__', 'risk', `{"value":{"__proto__":{"f":${NOW + 1_000},"d":${JSON.stringify(clean)}}}}`, true],
    ['the keyv entry under __proto__', 'risk', `{"__proto__":{"value":{"f":${NOW + 1_000},"d":${JSON.stringify(clean)}}}}`, true],
    ['an array instead of the record', 'risk', entry([NOW + 1_000, clean]), true],
    ['an array instead of the keyv entry', 'risk', JSON.stringify([{ value: { f: NOW + 1_000, d: clean } }]), true],
    ['JSON null instead of the keyv entry', 'risk', 'null', true],
    ['not JSON', 'risk', 'clean', true],
    ['an empty string', 'risk', '', true],
    ['a record of null (absent)', 'risk', entry(null), false],
    ['a record fresh until long ago (beyond the stale window)', 'risk', entry({ f: NOW - 2 * 3_600_000, d: clean }), false],
    ['a block until 9e15', 'block', entry({ u: 9e15, d: null }), true],
    ['a block for 31 days', 'block', entry({ u: NOW + 31 * 24 * 3_600_000, d: null }), true],
    ['a block whose data scores 101', 'block', entry({ u: NOW + 60_000, d: score(0, 101) }), true],
    ['a block as an array', 'block', entry([NOW + 60_000, null]), true],
  ])('%s is a miss: the provider answers and the L2 breaker stays closed', async (_row, where, text, invalid) => {
    fakeClock()
    const prefix = uniquePrefix()
    const ip = '203.0.113.66'
    const key = where === 'risk' ? `${prefix}:2:{${ip}}:ipasis` : `${prefix}:2:{${ip}}:block`
    const provider = createMemoryProvider({}, { name: 'ipasis', defaultProfile: 'tor' })
    // A generous read budget: this table is about values, not time (the 10 MB value takes a while to transfer).
    const r = instance({ provider, cache: { l2: SHARED, prefix, l2TimeoutMs: 5_000 }, budget: { timeoutMs: 10_000 } })
    await connected(r)
    await raw.set(key, text)
    expect(await r.lookup(ip)).toMatchObject({ status: 'scored', source: 'upstream', listed: null, error: null, ...TOR })
    expect(provider.calls).toBe(1)
    expect(resolverInternals(r).l2?.stats).toMatchObject({ failures: 0, timeouts: 0, invalid: invalid ? 1 : 0 })
    expect(resolverInternals(r).l2?.state()).toBe('closed')
    if (where === 'risk') await replacedByProvider(key)
  })

  it('property: for arbitrary JSON under the answer and block keys, the answer is the provider\'s unless a valid record says otherwise', async () => {
    fakeClock()
    const prefix = uniquePrefix()
    const provider = createMemoryProvider({}, { name: 'prop', defaultProfile: 'tor' })
    const r = instance({ provider, cache: { l2: SHARED, prefix, l2TimeoutMs: 1_000 }, budget: { timeoutMs: 5_000 } })
    await connected(r)
    const limits = { now: NOW, maxFreshMs: TTL_MS }
    /** What is stored under a key: nothing, a keyv entry holding a value, or raw text. */
    const stored = (record: fc.Arbitrary<unknown>) =>
      fc.oneof(
        { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
        { weight: 6, arbitrary: record.map((value) => ({ kind: 'value' as const, value })) },
        { weight: 1, arbitrary: fc.string().map((text) => ({ kind: 'text' as const, text })) },
      )
    let n = 0
    const seen = { l2: 0, blocklist: 0, upstream: 0 }
    await fc.assert(
      fc.asyncProperty(stored(hostileRecord('f', limits)), stored(hostileRecord('u', limits)), async (risk, block) => {
        const ip = globalIp(++n)
        for (const [key, s] of [
          [`${prefix}:2:{${ip}}:prop`, risk],
          [`${prefix}:2:{${ip}}:block`, block],
        ] as const) {
          if (s.kind === 'value') await raw.set(key, entry(s.value))
          else if (s.kind === 'text') await raw.set(key, s.text)
        }
        const answer = await r.lookup(ip)

        // The oracle (test/support/l2-records.ts, independent of the codec): what a resolver could have written.
        const validRisk = risk.kind === 'value' && oracleRisk(risk.value, limits) ? risk.value : undefined
        const validBlock = block.kind === 'value' && oracleBlock(block.value, NOW) && block.value.u > NOW ? block.value : undefined
        if (validBlock !== undefined) {
          seen.blocklist++
          const known = validBlock.d ?? validRisk?.d ?? null
          expect(answer).toMatchObject({ listed: 'blocklist', source: 'l2', status: known === null ? 'skipped' : 'scored' })
          if (known !== null) expect(dataOf(answer)).toStrictEqual(tupleToData(known))
          else expect(Object.values(dataOf(answer)).every((v) => v === null)).toBe(true)
        } else if (validRisk !== undefined && validRisk.f > NOW) {
          seen.l2++
          expect(answer).toMatchObject({ listed: null, source: 'l2', status: 'scored' })
          expect(dataOf(answer)).toStrictEqual(tupleToData(validRisk.d))
        } else {
          seen.upstream++
          expect(answer).toMatchObject({ listed: null, source: 'upstream', status: 'scored', error: null })
          expect(dataOf(answer)).toStrictEqual(TOR)
        }
      }),
      { seed: L2_SEED, numRuns: 400 },
    )
    expect(resolverInternals(r).l2?.stats).toMatchObject({ failures: 0, timeouts: 0 })
    expect(resolverInternals(r).l2?.state()).toBe('closed')
    expect(provider.calls).toBe(seen.upstream)
    // Every branch of the oracle was exercised.
    expect(seen.l2).toBeGreaterThan(10)
    expect(seen.blocklist).toBeGreaterThan(10)
    expect(seen.upstream).toBeGreaterThan(100)
  })
})

describe('process hygiene', () => {
  it('no unhandled rejection or uncaught exception happened in this suite', () => {
    expect(watch.failures).toEqual([])
  })
})
