/**
 * OpenTelemetry metrics end to end: a resolver given a `meterProvider` with an in-memory reader (cumulative), traffic
 * driven over real HTTP through the adapters, and every instrument read back: decisions by action and reason, cache
 * lookups by tier (L1, L2 on the real Redis, stale, miss), upstream latency and errors by kind, the breaker gauge,
 * budget rejections and hook errors. Also: the global provider is used when none is passed, sampling never touches
 * the counts, and `resolver.close()` stops the breaker gauge.
 */
import { createClient } from '@keyv/redis'
import { createServer, type AddressInfo } from 'node:net'
import { metrics as otelMetrics } from '@opentelemetry/api'
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { metricNames, type RiskResolverOptions } from '../../src/core/index.js'
import { riskCacheKey } from '../../src/core/cache.js'
import { resolverInternals } from '../../src/core/resolver.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import {
  LONG_UA,
  freshIp,
  graphqlPost,
  operations,
  resolverFor,
  startSimulator,
  startStack,
  trpcMutation,
  trpcQuery,
  type Reply,
  type Stack,
} from './helpers.js'
import { manualWallClock } from '../reliability/helpers/stack.js'

/** A pull reader: `collect()` returns what the instruments hold now. */
class TestReader extends MetricReader {
  constructor(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) {
    super({ aggregationTemporalitySelector: () => temporality })
  }

  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

interface Telemetry {
  meterProvider: MeterProvider
  read(): Promise<MetricData[]>
}

function telemetry(temporality?: AggregationTemporality): Telemetry {
  const reader = new TestReader(temporality)
  const meterProvider = new MeterProvider({ readers: [reader] })
  return {
    meterProvider,
    async read() {
      const { resourceMetrics, errors } = await reader.collect()
      expect(errors).toStrictEqual([])
      return resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'iprisk').flatMap((s) => s.metrics)
    },
  }
}

/** `{ 'attr=value,…': value }` of a counter or gauge (attribute keys sorted); `{}` when not reported. */
function values(all: MetricData[], name: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const point of all.find((m) => m.descriptor.name === name)?.dataPoints ?? []) {
    const key = Object.entries(point.attributes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')
    out[key] = point.value as number
  }
  return out
}

/** `{ outcome: { count, min } }` of the upstream latency histogram. */
function latency(all: MetricData[]): Record<string, { count: number; min: number }> {
  const metric = all.find((m) => m.descriptor.name === metricNames.upstreamDuration)
  const out: Record<string, { count: number; min: number }> = {}
  if (metric === undefined) return out
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM)
  for (const point of metric.dataPoints) {
    const value = point.value as { count: number; min?: number }
    out[String(point.attributes.outcome)] = { count: value.count, min: value.min ?? Number.NaN }
  }
  return out
}

let sim: IpasisSimulator
const stacks: Stack[] = []

beforeAll(async () => {
  sim = await startSimulator()
})
afterEach(async () => {
  sim.clearFaults()
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})
afterAll(async () => {
  await sim.close()
})

async function stackWith(tm: Telemetry, options: Partial<RiskResolverOptions> = {}, monitor = false): Promise<Stack> {
  const stack = await startStack(resolverFor(sim, { meterProvider: tm.meterProvider, ...options }), { monitor })
  stacks.push(stack)
  return stack
}

const signupTrpc = (stack: Stack, ip: string): Promise<Reply> =>
  trpcMutation(stack.trpc, 'signup', { ip, ua: LONG_UA }, { email: 'ada@example.com' })
const signupGraphql = (stack: Stack, ip: string): Promise<Reply> => graphqlPost(stack.graphql, operations.signup, { ip, ua: LONG_UA })

/**
 * One request per adapter from a private address (never looked up: no provider call, no cache lookup), so that the
 * first request a test times against a budget or a breaker delay is not a cold one.
 */
async function warmUp(stack: Stack): Promise<void> {
  expect((await signupTrpc(stack, '10.0.0.1')).status).toBe(200)
  expect((await signupGraphql(stack, '10.0.0.1')).status).toBe(200)
}

describe('iprisk.decisions', () => {
  it('counts every decision of both adapters by action and reason, even with allows sampled out of the logs', async () => {
    const tm = telemetry()
    const stack = await stackWith(tm, { sampleAllows: 0, lists: { deny: ['2001:db8::bad'] } }, true)
    for (const call of [signupTrpc, signupGraphql]) {
      const clean = freshIp(sim, 'clean')
      expect((await call(stack, clean)).status).toBe(200)
      expect((await call(stack, clean)).status).toBe(200)
      expect((await call(stack, freshIp(sim, 'tor'))).status).toBe(403)
      expect((await call(stack, '2001:db8::bad')).status).toBe(403)
      const down = freshIp(sim, 'tor')
      sim.setFault(503, { ip: down, times: 1 })
      expect((await call(stack, down)).status).toBe(200)
    }
    expect((await trpcQuery(stack.trpcMonitor, 'admin.stats', { ip: freshIp(sim, 'vpn'), ua: 'x' })).status).toBe(200)
    expect((await graphqlPost(stack.graphqlMonitor, operations.signup, { ip: freshIp(sim, 'tor'), ua: 'x' })).status).toBe(200)

    expect(values(await tm.read(), metricNames.decisions)).toStrictEqual({
      'action=allow,reason=clean': 4,
      'action=block,reason=tor_exit_node': 2,
      'action=block,reason=denylisted': 2,
      'action=allow,reason=lookup_unavailable': 2,
      'action=monitor,reason=vpn_detected': 1,
      'action=monitor,reason=tor_exit_node': 1,
    })
  })
})

describe('iprisk.cache.lookups', () => {
  it.each([
    ['trpc', signupTrpc],
    ['graphql', signupGraphql],
  ] as const)('%s: the first request of an IP is a miss, each repeat one L1 hit', async (_adapter, call) => {
    const tm = telemetry()
    const stack = await stackWith(tm)
    const ip = freshIp(sim, 'clean')
    for (let i = 0; i < 4; i++) expect((await call(stack, ip)).status).toBe(200)
    expect(values(await tm.read(), metricNames.cacheLookups)).toStrictEqual({ 'tier=miss': 1, 'tier=l1': 3 })
    expect(sim.callsFor(ip)).toBe(1)
  })

  it('stale: an expired answer served because the provider failed', async () => {
    const tm = telemetry()
    const clock = manualWallClock()
    const stack = await stackWith(tm, { cache: { ttlSeconds: 60 }, clock })
    const ip = freshIp(sim, 'tor')
    expect((await signupTrpc(stack, ip)).status).toBe(403)
    clock.advance(60_001) // past the TTL, on the injected clock
    sim.setFault(503, { ip, times: 1 })
    // The stale Tor answer still blocks.
    expect((await signupTrpc(stack, ip)).status).toBe(403)
    const all = await tm.read()
    expect(values(all, metricNames.cacheLookups)).toStrictEqual({ 'tier=miss': 2, 'tier=stale': 1 })
    expect(values(all, metricNames.upstreamErrors)).toStrictEqual({ 'kind=http_error': 1 })
  })

  describe('l2 (the real Redis on 127.0.0.1:6379)', () => {
    const REDIS = 'redis://127.0.0.1:6379/13'
    const prefix = `obs${String(process.pid)}x${String(Date.now() % 1e6)}`
    const redis = createClient({ url: REDIS })

    beforeAll(async () => {
      await redis.connect()
    })
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}:*`)
      if (keys.length > 0) await redis.del(keys)
      await redis.close()
    })

    it('an answer another instance stored in Redis is counted as an l2 hit', async () => {
      const [tmA, tmB] = [telemetry(), telemetry()]
      // A generous L2 budget, and both clients connected first: a slow read would count as a miss.
      const a = await stackWith(tmA, { cache: { l2: REDIS, prefix, l2TimeoutMs: 2_000 } })
      const b = await stackWith(tmB, { cache: { l2: REDIS, prefix, l2TimeoutMs: 2_000 } })
      for (const stack of [a, b]) expect(await resolverInternals(stack.resolver).l2?.whenReady(5_000)).toBe(true)
      const ip = freshIp(sim, 'vpn')
      expect((await signupTrpc(a, ip)).status).toBe(200)
      await vi.waitFor(async () => expect(await redis.exists(riskCacheKey(prefix, 'ipasis', ip))).toBe(1))
      expect((await signupGraphql(b, ip)).status).toBe(200)
      expect((await signupGraphql(b, ip)).status).toBe(200)
      expect(sim.callsFor(ip)).toBe(1)
      expect(values(await tmA.read(), metricNames.cacheLookups)).toStrictEqual({ 'tier=miss': 1 })
      expect(values(await tmB.read(), metricNames.cacheLookups)).toStrictEqual({ 'tier=l2': 1, 'tier=l1': 1 })
    })
  })
})

describe('iprisk.upstream.duration and iprisk.upstream.errors', () => {
  it('records the latency of every provider call by outcome, and counts each failure by kind', async () => {
    const tm = telemetry()
    const stack = await stackWith(tm, { breaker: false, budget: { timeoutMs: 400 } })
    // No logger: the 401 prints the one configuration warning on the console.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    let warnings = 0
    sim.setLatency(20)
    try {
      for (let i = 0; i < 3; i++) expect((await signupTrpc(stack, freshIp(sim, 'clean'))).status).toBe(200)
      // 429 last: its Retry-After then holds every lookup back for a second.
      for (const fault of [503, 'timeout', 401, 'reset', 'wrong-schema', 429] as const) {
        const ip = freshIp(sim, 'clean')
        sim.setFault(fault, { ip, times: 1 })
        expect((await signupGraphql(stack, ip)).status).toBe(200) // fail open
      }
    } finally {
      sim.setLatency(0)
      warnings = warn.mock.calls.length
      warn.mockRestore()
    }
    expect(warnings).toBe(1)
    const all = await tm.read()
    const histogram = latency(all)
    expect(Object.fromEntries(Object.entries(histogram).map(([k, v]) => [k, v.count]))).toStrictEqual({
      ok: 3,
      http_error: 1,
      timeout: 1,
      auth: 1,
      rate_limited: 1,
      network: 1,
      bad_response: 1,
    })
    // Each call waited for the simulator's 20 ms delay (a lower bound, not a speed claim).
    expect(histogram.ok?.min).toBeGreaterThanOrEqual(15)
    expect(histogram.timeout?.min).toBeGreaterThanOrEqual(300)
    expect(values(all, metricNames.upstreamErrors)).toStrictEqual({
      'kind=http_error': 1,
      'kind=timeout': 1,
      'kind=auth': 1,
      'kind=rate_limited': 1,
      'kind=network': 1,
      'kind=bad_response': 1,
    })
  })
})

describe('iprisk.breaker.state', () => {
  it('reports closed, then open after consecutive failures (later lookups refused as breaker_open), then closed after a successful probe', async () => {
    const tm = telemetry()
    const clock = manualWallClock()
    const stack = await stackWith(tm, { breaker: { failures: 2, halfOpenAfterMs: 60_000 }, clock })
    await warmUp(stack)
    expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({ 'state=closed': 1, 'state=open': 0, 'state=half_open': 0 })

    for (let i = 0; i < 2; i++) {
      const ip = freshIp(sim, 'clean')
      sim.setFault(503, { ip, times: 1 })
      expect((await signupTrpc(stack, ip)).status).toBe(200)
    }
    expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({ 'state=closed': 0, 'state=open': 1, 'state=half_open': 0 })
    const refused = freshIp(sim, 'tor')
    expect((await signupGraphql(stack, refused)).status).toBe(200) // fail open: no verdict while the breaker is open
    expect(sim.callsFor(refused)).toBe(0)
    expect(values(await tm.read(), metricNames.upstreamErrors)).toStrictEqual({ 'kind=http_error': 2, 'kind=breaker_open': 1 })

    clock.advance(59_999)
    expect((await signupGraphql(stack, freshIp(sim, 'tor'))).status).toBe(200) // still open a millisecond before the wait is over
    clock.advance(1) // halfOpenAfterMs has passed, on the injected clock
    expect((await signupTrpc(stack, freshIp(sim, 'tor'))).status).toBe(403) // the probe succeeds
    expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({ 'state=closed': 1, 'state=open': 0, 'state=half_open': 0 })
  })

  it('reports open while a 429 Retry-After holds the provider back', async () => {
    const tm = telemetry()
    const stack = await stackWith(tm, { breaker: false })
    const ip = freshIp(sim, 'clean')
    sim.setFault(429, { ip, times: 1, retryAfter: 30 })
    expect((await signupTrpc(stack, ip)).status).toBe(200)
    expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({ 'state=closed': 0, 'state=open': 1, 'state=half_open': 0 })
    const held = freshIp(sim, 'clean')
    expect((await signupGraphql(stack, held)).status).toBe(200)
    expect(sim.callsFor(held)).toBe(0)
    expect(values(await tm.read(), metricNames.upstreamErrors)).toStrictEqual({ 'kind=rate_limited': 1, 'kind=breaker_open': 1 })
  })

  it('stops reporting the gauge once the resolver is closed (read with delta temporality: only live observations)', async () => {
    const tm = telemetry(AggregationTemporality.DELTA)
    const stack = await stackWith(tm)
    // Each delta collection reports what the callback observes now...
    for (let i = 0; i < 2; i++) {
      expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({ 'state=closed': 1, 'state=open': 0, 'state=half_open': 0 })
    }
    // ...so nothing at all once close() has removed the callback.
    await stack.close()
    stacks.splice(stacks.indexOf(stack), 1)
    expect(values(await tm.read(), metricNames.breakerState)).toStrictEqual({})
  })
})

describe('iprisk.budget.rejections', () => {
  it('in_flight: a lookup beyond budget.maxInFlight is refused at once (and fails open)', async () => {
    const tm = telemetry()
    const stack = await stackWith(tm, { budget: { maxInFlight: 1 } })
    await warmUp(stack)
    const slow = freshIp(sim, 'clean')
    sim.setLatency(300, { ip: slow })
    const first = signupTrpc(stack, slow)
    await vi.waitFor(() => expect(sim.callsFor(slow)).toBe(1))
    const second = freshIp(sim, 'tor')
    expect((await signupTrpc(stack, second)).status).toBe(200) // refused by the budget: no verdict, fail open
    expect(sim.callsFor(second)).toBe(0)
    expect((await first).status).toBe(200)
    const all = await tm.read()
    expect(values(all, metricNames.budgetRejections)).toStrictEqual({ 'kind=in_flight': 1 })
    expect(values(all, metricNames.upstreamErrors)).toStrictEqual({ 'kind=budget_exceeded': 1 })
  })

  it('per_minute: lookups beyond budget.maxPerMinute are refused', async () => {
    const tm = telemetry()
    // freshIp() addresses share a /24: one pool, so that only the global bucket refuses (shares: budget-share tests).
    const stack = await stackWith(tm, { budget: { maxPerMinute: 2, perNetwork: false } })
    for (let i = 0; i < 4; i++) expect((await signupTrpc(stack, freshIp(sim, 'clean'))).status).toBe(200)
    const all = await tm.read()
    expect(values(all, metricNames.budgetRejections)).toStrictEqual({ 'kind=per_minute': 2 })
    expect(latency(all).ok?.count).toBe(2)
  })
})

describe('iprisk.hook.errors', () => {
  it('counts hooks that throw or reject, by hook', async () => {
    const tm = telemetry()
    const stack = await stackWith(tm, {
      onBlock: () => {
        throw new Error('nope')
      },
      onHighRisk: () => Promise.reject(new Error('nope')),
      highRiskScore: 90,
    })
    expect((await signupTrpc(stack, freshIp(sim, 'tor'))).status).toBe(403) // score 92: both hooks
    expect((await signupGraphql(stack, freshIp(sim, 'tor'))).status).toBe(403)
    await vi.waitFor(async () =>
      expect(values(await tm.read(), metricNames.hookErrors)).toStrictEqual({ 'hook=onBlock': 2, 'hook=onHighRisk': 2 }),
    )
  })
})

describe('iprisk.cache.l2_errors', () => {
  it('counts shared-cache reads that fail (no Redis listening on the L2 port), while every lookup still answers', async () => {
    const tm = telemetry()
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo
        server.close(() => resolve(port))
      })
    })
    const resolver = resolverFor(sim, {
      meterProvider: tm.meterProvider,
      cache: { l2: `redis://127.0.0.1:${port}` },
      logger: { info: () => undefined, warn: () => undefined },
    })
    try {
      await vi.waitFor(
        async () => {
          expect((await resolver.lookup(freshIp(sim, 'clean'))).status).toBe('scored')
          expect(values(await tm.read(), metricNames.l2Errors)['kind=error'] ?? 0).toBeGreaterThan(0)
        },
        { timeout: 10_000, interval: 50 },
      )
    } finally {
      await resolver.close()
    }
  })
})

describe('meter providers', () => {
  afterEach(() => {
    otelMetrics.disable()
  })

  it('without meterProvider, records on the globally registered SDK (PeriodicExportingMetricReader + InMemoryMetricExporter)', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })
    const provider = new MeterProvider({ readers: [reader] })
    expect(otelMetrics.setGlobalMeterProvider(provider)).toBe(true)
    const stack = await startStack(resolverFor(sim))
    stacks.push(stack)
    expect((await signupTrpc(stack, freshIp(sim, 'tor'))).status).toBe(403)
    expect((await signupGraphql(stack, freshIp(sim, 'clean'))).status).toBe(200)
    await reader.forceFlush()
    const exported = exporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.filter((s) => s.scope.name === 'iprisk')
      .flatMap((s) => s.metrics)
    expect(values(exported ?? [], metricNames.decisions)).toStrictEqual({
      'action=block,reason=tor_exit_node': 1,
      'action=allow,reason=clean': 1,
    })
    await provider.shutdown()
  })

  it('two resolvers on one meterProvider add up in the same instruments', async () => {
    const tm = telemetry()
    const a = await stackWith(tm)
    const b = await stackWith(tm)
    expect((await signupTrpc(a, freshIp(sim, 'tor'))).status).toBe(403)
    expect((await signupGraphql(b, freshIp(sim, 'tor'))).status).toBe(403)
    expect(values(await tm.read(), metricNames.decisions)).toStrictEqual({ 'action=block,reason=tor_exit_node': 2 })
  })
})
