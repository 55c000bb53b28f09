/**
 * Options of createRiskResolver: every bad option is an IpRiskConfigError naming it, at creation (never on the first
 * request); good configurations are accepted; defaults are the documented ones; observability options reach the
 * reporter and the metrics.
 */
import { Keyv } from 'keyv'
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { metricNames } from '../../src/core/metrics.js'
import { ipasis } from '../../src/core/provider.js'
import { createRiskResolver, resolverDefaults, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { Provider, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { createTestClock } from '../../src/testing/clock.js'
import { systemClock } from '../../src/core/clock.js'

const provider: Provider = createMemoryProvider({})
const made: RiskResolver[] = []

afterEach(async () => {
  for (const r of made.splice(0)) await r.close()
})

function make(options: unknown): RiskResolver {
  const r = createRiskResolver(options as RiskResolverOptions)
  made.push(r)
  return r
}

/** The option an IpRiskConfigError names, or a description of what else happened. */
function optionOf(options: unknown): string {
  try {
    make(options)
    return '(accepted)'
  } catch (error) {
    if (error instanceof IpRiskConfigError) return error.option
    return `(threw ${String(error)})`
  }
}

describe('bad options are IpRiskConfigErrors naming the option', () => {
  const lookup = async () => ({ score: 1 }) as never
  it.each([
    ['no options', undefined, 'options'],
    ['null options', null, 'options'],
    ['no provider', {}, 'provider'],
    ['a provider that is not one', { provider: {} }, 'provider'],
    ['a provider name with capitals', { provider: { name: 'Mine', lookup } }, 'provider'],
    ['a provider name with a colon (it is part of cache keys)', { provider: { name: 'a:b', lookup } }, 'provider'],
    ['a provider close that is not a function', { provider: { name: 'p', lookup, close: 1 } }, 'provider'],
    ['a misspelled option', { provider, trustproxy: true }, 'trustproxy'],
    ['failMode', { provider, failMode: 'maybe' }, 'failMode'],
    ['scoreDocumentationRanges', { provider, scoreDocumentationRanges: 'yes' }, 'scoreDocumentationRanges'],
    ['trustProxy: a bad range', { provider, trustProxy: '10.0.0.0/33' }, 'trustProxy'],
    ['trustProxy: a negative hop count', { provider, trustProxy: -1 }, 'trustProxy'],
    ['trustProxy: an object', { provider, trustProxy: {} }, 'trustProxy'],
    ['clientIpHeaders: X-Forwarded-For', { provider, clientIpHeaders: ['x-forwarded-for'] }, 'clientIpHeaders'],
    ['clientIpHeaders: an unknown header', { provider, clientIpHeaders: ['x-client'] }, 'clientIpHeaders'],
    ['clientIpHeaders: not an array', { provider, clientIpHeaders: 'x-real-ip' }, 'clientIpHeaders'],
    ['maxHops: 0', { provider, maxHops: 0 }, 'maxHops'],
    ['cache: a number', { provider, cache: 42 }, 'cache'],
    ['cache: a malformed Redis URL', { provider, cache: 'redis//127.0.0.1:6379' }, 'cache'],
    ['cache: an http URL', { provider, cache: 'http://127.0.0.1:6379' }, 'cache'],
    ['cache: a Keyv on the unbounded default Map', { provider, cache: new Keyv() }, 'cache'],
    ['cache.l2: a malformed Redis URL', { provider, cache: { l2: 'redis://127.0.0.1:6379/db' } }, 'cache.l2'],
    ['cache.l2: a number', { provider, cache: { l2: 6379 } }, 'cache.l2'],
    ['cache.l2: a Keyv on the default Map', { provider, cache: { l2: new Keyv() } }, 'cache.l2'],
    ['cache.l1: true', { provider, cache: { l1: true } }, 'cache.l1'],
    ['cache.l1.max: 0', { provider, cache: { l1: { max: 0 } } }, 'cache.l1.max'],
    ['cache.l1.max: 1.5', { provider, cache: { l1: { max: 1.5 } } }, 'cache.l1.max'],
    ['cache.l1: an unknown field', { provider, cache: { l1: { size: 10 } } }, 'cache.l1.size'],
    ['cache.ttlSeconds: 0', { provider, cache: { ttlSeconds: 0 } }, 'cache.ttlSeconds'],
    ['cache.ttlSeconds: -1', { provider, cache: { ttlSeconds: -1 } }, 'cache.ttlSeconds'],
    ['cache.ttlSeconds: NaN', { provider, cache: { ttlSeconds: Number.NaN } }, 'cache.ttlSeconds'],
    ['cache.ttlSeconds: Infinity', { provider, cache: { ttlSeconds: Number.POSITIVE_INFINITY } }, 'cache.ttlSeconds'],
    ['cache.ttlSeconds: a string', { provider, cache: { ttlSeconds: '300' } }, 'cache.ttlSeconds'],
    ['cache.flaggedTtlSeconds: 0', { provider, cache: { flaggedTtlSeconds: 0 } }, 'cache.flaggedTtlSeconds'],
    ['cache.staleSeconds: -1', { provider, cache: { staleSeconds: -1 } }, 'cache.staleSeconds'],
    ['cache.failureTtlSeconds: over an hour', { provider, cache: { failureTtlSeconds: 3_601 } }, 'cache.failureTtlSeconds'],
    ['cache.ipv6Prefix: 64.5', { provider, cache: { ipv6Prefix: 64.5 } }, 'cache.ipv6Prefix'],
    ['cache.ipv6Prefix: 16 (would merge unrelated networks)', { provider, cache: { ipv6Prefix: 16 } }, 'cache.ipv6Prefix'],
    ['cache.ipv6Prefix: 129', { provider, cache: { ipv6Prefix: 129 } }, 'cache.ipv6Prefix'],
    ['cache.l2TimeoutMs: 0', { provider, cache: { l2TimeoutMs: 0 } }, 'cache.l2TimeoutMs'],
    ['cache.prefix: a space', { provider, cache: { prefix: 'my app' } }, 'cache.prefix'],
    ['cache.prefix: empty', { provider, cache: { prefix: '' } }, 'cache.prefix'],
    ['cache: an unknown field', { provider, cache: { ttl: 300 } }, 'cache.ttl'],
    ['budget: a number', { provider, budget: 5 }, 'budget'],
    ['budget.timeoutMs: 0', { provider, budget: { timeoutMs: 0 } }, 'budget.timeoutMs'],
    ['budget.timeoutMs: over a minute', { provider, budget: { timeoutMs: 60_001 } }, 'budget.timeoutMs'],
    ['budget.maxInFlight: 0', { provider, budget: { maxInFlight: 0 } }, 'budget.maxInFlight'],
    ['budget.maxInFlight: 2.5', { provider, budget: { maxInFlight: 2.5 } }, 'budget.maxInFlight'],
    ['budget.maxPerMinute: 0', { provider, budget: { maxPerMinute: 0 } }, 'budget.maxPerMinute'],
    ['budget: an unknown field', { provider, budget: { timeout: 100 } }, 'budget.timeout'],
    ['breaker: true', { provider, breaker: true }, 'breaker'],
    ['breaker.failures: 0', { provider, breaker: { failures: 0 } }, 'breaker.failures'],
    ['breaker.halfOpenAfterMs: -1', { provider, breaker: { halfOpenAfterMs: -1 } }, 'breaker.halfOpenAfterMs'],
    ['lists.allow: an unparsable CIDR', { provider, lists: { allow: ['10.0.0.0/33'] } }, 'lists.allow'],
    ['lists.deny: not an address', { provider, lists: { deny: ['example.com'] } }, 'lists.deny'],
    ['lists.allow: a number', { provider, lists: { allow: 10 } }, 'lists.allow'],
    ['lists.allow: an empty entry', { provider, lists: { allow: ['10.0.0.1', ''] } }, 'lists.allow'],
    ['lists: an unknown list', { provider, lists: { block: [] } }, 'lists.block'],
    ['blocklist: a string', { provider, blocklist: 'off' }, 'blocklist'],
    ['blocklist.score: over 100', { provider, blocklist: { score: 101 } }, 'blocklist.score'],
    ['blocklist.score: negative', { provider, blocklist: { score: -1 } }, 'blocklist.score'],
    ['blocklist.ttlSeconds: 0', { provider, blocklist: { ttlSeconds: 0 } }, 'blocklist.ttlSeconds'],
    ['sampleAllows: 2', { provider, sampleAllows: 2 }, 'sampleAllows'],
    ['highRiskScore: 101', { provider, highRiskScore: 101 }, 'highRiskScore'],
    ['logger without warn', { provider, logger: { info: () => undefined } }, 'logger'],
    ['onBlock: not a function', { provider, onBlock: 'alert' }, 'onBlock'],
    ['onDecision: not a function', { provider, onDecision: 1 }, 'onDecision'],
    ['onHighRisk: not a function', { provider, onHighRisk: {} }, 'onHighRisk'],
    ['meterProvider: not one', { provider, meterProvider: {} }, 'meterProvider'],
    ['clock: Date.now (a function, not a Clock)', { provider, clock: Date.now }, 'clock'],
    ['clock: without monotonic()', { provider, clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined } }, 'clock'],
    ['clock: null', { provider, clock: null }, 'clock'],
  ])('%s → `%s`', (_name, options, option) => {
    expect(optionOf(options)).toBe(option)
  })

  it('never echoes a Redis URL (it may hold a password)', () => {
    let message = ''
    try {
      make({ provider, cache: 'redis://:hunter2@127.0.0.1:99999' })
    } catch (error) {
      message = String(error)
    }
    expect(message).toMatch(/invalid option `cache`/)
    expect(message).not.toContain('hunter2')
  })

  it('a missing API key is reported by ipasis() before the resolver exists', () => {
    let error: unknown
    try {
      make({ provider: ipasis({ apiKey: process.env.IPRISK_TEST_UNSET_KEY as string }) })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe('apiKey')
  })
})

describe('good configurations are accepted', () => {
  it.each([
    ['only a provider', { provider }],
    ['every option set', {
      provider,
      trustProxy: ['loopback', '10.0.0.0/8'],
      clientIpHeaders: ['x-real-ip'],
      maxHops: 4,
      failMode: 'closed',
      scoreDocumentationRanges: true,
      cache: { l1: { max: 10 }, ttlSeconds: 60, flaggedTtlSeconds: 600, staleSeconds: 0, failureTtlSeconds: 0, ipv6Prefix: 56, l2TimeoutMs: 20, prefix: 'app_1.prod' },
      budget: { timeoutMs: 500, maxInFlight: 8, maxPerMinute: 600 },
      breaker: { failures: 3, halfOpenAfterMs: 10_000 },
      lists: { allow: ['192.0.2.0/24'], deny: '198.51.100.66' },
      blocklist: { score: 90, ttlSeconds: 60 },
      logger: { info: () => undefined, warn: () => undefined },
      sampleAllows: 0.1,
      onDecision: () => undefined,
      onBlock: () => undefined,
      onHighRisk: () => undefined,
      highRiskScore: 80,
    }],
    ['features turned off', { provider, cache: { l1: false }, breaker: false, blocklist: false }],
    ['a Redis URL shorthand', { provider, cache: 'redis://127.0.0.1:6379/15' }],
    ['a rediss URL with credentials', { provider, cache: { l2: 'rediss://user:pw@127.0.0.1:6380/1' } }],
    ['a test clock', { provider, clock: createTestClock() }],
    ['the system clock', { provider, clock: systemClock }],
  ])('%s', (_name, options) => {
    expect(optionOf(options)).toBe('(accepted)')
  })
})

describe('defaults', () => {
  it('are the documented ones', () => {
    expect(resolverDefaults).toEqual({
      failMode: 'open',
      scoreDocumentationRanges: false,
      l1Max: 50_000,
      ttlSeconds: 300,
      staleSeconds: 3_600,
      failureTtlSeconds: 10,
      ipv6Prefix: 64,
      l2TimeoutMs: 50,
      prefix: 'iprisk',
      timeoutMs: 1_500,
      maxInFlight: 64,
      networkShare: 0.25,
      networkReserve: 0.25,
      networkIpv4Prefix: 24,
      networkIpv6Prefix: 48,
      breakerFailures: 5,
      halfOpenAfterMs: 30_000,
      blocklistScore: 95,
      blocklistTtlSeconds: 3_600,
    })
  })

  it('creation performs no lookup and no I/O with L1 only', () => {
    const p = createMemoryProvider({})
    make({ provider: p })
    expect(p.calls).toBe(0)
  })
})

describe('observability options reach the reporter and the metrics', () => {
  class TestReader extends MetricReader {
    protected override async onShutdown(): Promise<void> {}
    protected override async onForceFlush(): Promise<void> {}
  }

  it('onDecision, onHighRisk with highRiskScore, and sampleAllows', async () => {
    const decisions: string[] = []
    const highRisk: number[] = []
    const r = make({
      provider: createMemoryProvider({ '203.0.113.45': 'vpn', '203.0.113.7': 'clean' }),
      scoreDocumentationRanges: true,
      sampleAllows: 0,
      highRiskScore: 40,
      onDecision: (e: { action: string }) => void decisions.push(e.action),
      onHighRisk: (e: { risk_score: number }) => void highRisk.push(e.risk_score),
    })
    r.report(r.check(await r.lookup('203.0.113.7'), { threshold: 50 })) // allow, not sampled
    r.report(r.check(await r.lookup('203.0.113.45'), { blockVpn: true })) // block
    await vi.waitUntil(() => decisions.length === 1 && highRisk.length === 1)
    expect(decisions).toEqual(['block'])
    expect(highRisk).toEqual([45])
  })

  it('meterProvider receives cache, upstream and decision metrics', async () => {
    const reader = new TestReader()
    const r = make({ provider: createMemoryProvider({}), scoreDocumentationRanges: true, meterProvider: new MeterProvider({ readers: [reader] }) })
    await r.lookup('203.0.113.7')
    r.peek('203.0.113.7')
    r.report(r.check(await r.lookup('203.0.113.7')))
    const { resourceMetrics } = await reader.collect()
    const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    const count = (name: string, attr: string, value: string): number =>
      all
        .find((m) => m.descriptor.name === name)
        ?.dataPoints.filter((p) => p.attributes[attr] === value)
        .reduce((sum, p) => sum + (p.value as number), 0) ?? 0
    expect(count(metricNames.cacheLookups, 'tier', 'miss')).toBe(1)
    expect(count(metricNames.cacheLookups, 'tier', 'l1')).toBe(2)
    expect(count(metricNames.decisions, 'action', 'allow')).toBe(1)
    expect(all.find((m) => m.descriptor.name === metricNames.upstreamDuration)).toBeDefined()
  })
})
