/**
 * The risk resolver (L1 only): lookups and peeks, single-flight, cache lifetimes, budgets, the circuit breaker and the
 * Retry-After gate, background lookups, lists, the blocklist, policies, client IPs and shutdown. Upstream behaviour is
 * exercised through the IPASIS simulator on 127.0.0.1 or the in-process memory provider. Time-dependent behaviour
 * runs on a manual clock passed as `clock` (`createTestClock`): time moves only when a test says so.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError, IpRiskError, ProviderError } from '../../src/core/errors.js'
import { policies } from '../../src/core/policy.js'
import { ipasis } from '../../src/core/provider.js'
import { createRiskResolver, resolverInternals, unscoredRisk, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, Provider, RiskData, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider, startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createTestClock } from '../../src/testing/clock.js'

// ---------------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------------

const open: Array<{ close(): Promise<void> }> = []

afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close()
})

function resolver(options: Partial<RiskResolverOptions> & Pick<RiskResolverOptions, 'provider'>): RiskResolver {
  const r = createRiskResolver({ scoreDocumentationRanges: true, ...options })
  open.push(r)
  return r
}

async function simulator(options: Parameters<typeof startIpasisSimulator>[0] = {}): Promise<IpasisSimulator> {
  const sim = await startIpasisSimulator(options)
  open.push(sim)
  return sim
}

/** The IPASIS provider pointed at a simulator, with a provider timeout far above every budget used here. */
function ipasisFor(sim: IpasisSimulator, apiKey = sim.apiKey): Provider {
  return ipasis({ apiKey, baseUrl: sim.url, timeoutMs: 10_000 })
}

/** Where the tests' manual clocks start (`createTestClock(T0)`: time moves only by `clock.advance`). */
const T0 = Date.UTC(2030, 0, 1)

function data(score: number, extra: Partial<RiskData> = {}): RiskData {
  return { score, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'US', asn: 64500, isp: 'Example', ...extra }
}

function logger() {
  return { info: vi.fn(), warn: vi.fn() }
}

/** The options named in `configError` reports (logger.warn({ event: 'config_error', option }, text)). */
function configErrors(log: ReturnType<typeof logger>): string[] {
  return log.warn.mock.calls
    .filter(([obj]) => (obj as { event?: string }).event === 'config_error')
    .map(([obj]) => (obj as { option: string }).option)
}

/** The `degraded` warnings of the self-check, as `kind:option`. */
function degradedWarnings(log: ReturnType<typeof logger>): string[] {
  return log.warn.mock.calls
    .filter(([obj]) => (obj as { event?: string }).event === 'degraded')
    .map(([obj]) => `${(obj as { kind: string }).kind}:${(obj as { option: string }).option}`)
}

/** A provider whose calls wait until released (or aborted), to hold calls in flight. */
function gatedProvider() {
  const waiting: Array<() => void> = []
  const signals: AbortSignal[] = []
  const provider = createMemoryProvider(async (_ip, signal) => {
    signals.push(signal)
    await new Promise<void>((resolve) => waiting.push(resolve))
    return 'clean' as const
  })
  return { provider, signals, release: () => waiting.splice(0).forEach((f) => f()) }
}

// ---------------------------------------------------------------------------------------------------------------------
// Lookups and peeks
// ---------------------------------------------------------------------------------------------------------------------

describe('lookup and peek', () => {
  it('an upstream answer carries the provider data, source upstream, and is frozen', async () => {
    const r = resolver({ provider: createMemoryProvider({ '203.0.113.66': 'tor' }) })
    const a = await r.lookup('203.0.113.66')
    expect(a).toMatchObject({ ip: '203.0.113.66', ipKind: 'documentation', status: 'scored', error: null, listed: null, source: 'upstream', isTor: true, score: 92 })
    expect(Object.isFrozen(a)).toBe(true)
  })

  it('peek misses before any lookup, without calling the provider', () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider })
    expect(r.peek('203.0.113.7')).toBeUndefined()
    expect(provider.calls).toBe(0)
  })

  it('a warm answer is the stored frozen object itself (source l1, lookupMs 0): peek and lookup allocate no answer', async () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    await r.lookup('203.0.113.7')
    const first = r.peek('203.0.113.7')
    expect(first).toMatchObject({ source: 'l1', lookupMs: 0, status: 'scored', score: 5 })
    expect(Object.isFrozen(first)).toBe(true)
    expect(r.peek('203.0.113.7')).toBe(first)
    expect(await r.lookup('203.0.113.7')).toBe(first)
  })

  it.each([
    ['10.0.0.1', 'private'],
    ['192.168.1.20', 'private'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00::5', 'uniqueLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
  ])('never looks up the non-global address %s (skipped, ipKind %s)', async (ip, kind) => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider })
    const answer = await r.lookup(ip)
    expect(answer).toMatchObject({ ip, ipKind: kind, status: 'skipped', listed: null, source: 'none', score: null })
    expect(r.peek(ip)).toBe(answer)
    expect(provider.calls).toBe(0)
    expect(r.check(answer, policies.admin)).toMatchObject({ action: 'allow', reason: 'non_global_ip' })
  })

  it.each(['203.0.113.7', '198.51.100.1', '192.0.2.1', '2001:db8::1'])(
    'skips the documentation address %s by default (scoreDocumentationRanges: false)',
    async (ip) => {
      const provider = createMemoryProvider({})
      const r = resolver({ provider, scoreDocumentationRanges: false })
      expect(await r.lookup(ip)).toMatchObject({ status: 'skipped', ipKind: 'documentation' })
      expect(provider.calls).toBe(0)
    },
  )

  it('scoreDocumentationRanges: true scores documentation addresses, and still skips private ones', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, scoreDocumentationRanges: true })
    expect(await r.lookup('198.51.100.9')).toMatchObject({ status: 'scored', ipKind: 'documentation' })
    expect(await r.lookup('10.1.2.3')).toMatchObject({ status: 'skipped' })
    expect(provider.calls).toBe(1)
  })

  it('scores global addresses', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, scoreDocumentationRanges: false })
    expect(await r.lookup('8.8.8.8')).toMatchObject({ status: 'scored', ipKind: 'global' })
    expect(provider.calls).toBe(1)
  })

  it.each([
    ['null', null],
    ['an empty string', ''],
    ['text', 'garbage'],
    ['five octets', '1.2.3.4.5'],
    ['an octet over 255', '999.1.1.1'],
    ['a path', '203.0.113.7/../admin'],
    ['a CIDR', '203.0.113.0/24'],
    ['a header list', '203.0.113.7, 198.51.100.1'],
    ['CRLF', '203.0.113.7\r\nX-Evil: 1'],
  ])('answers unavailable / no_ip for %s, never calling the provider', async (_name, ip) => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider })
    const answer = await r.lookup(ip)
    expect(answer).toMatchObject({ ip: null, status: 'unavailable', error: 'no_ip' })
    expect(r.peek(ip)).toBe(answer)
    expect(provider.calls).toBe(0)
  })

  it.each([
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    [' 203.0.113.7 ', '203.0.113.7'],
  ])('canonicalizes %s to %s before the provider sees it', async (input, canonical) => {
    const seen: string[] = []
    const r = resolver({ provider: createMemoryProvider((ip) => (seen.push(ip), 'clean')) })
    expect((await r.lookup(input)).ip).toBe(canonical)
    expect(seen).toEqual([canonical])
  })

  it('a provider answer of the wrong shape is bad_response, never a silent clean', async () => {
    const provider: Provider = { name: 'odd', lookup: async () => ({ score: 'low' }) as unknown as RiskData }
    const r = resolver({ provider })
    expect(await r.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'bad_response' })
  })

  it('missing fields of a custom provider are null (unknown), a lower-case country is upper-cased', async () => {
    const provider: Provider = { name: 'partial', lookup: async () => ({ score: 12, countryCode: 'fr' }) as unknown as RiskData }
    const r = resolver({ provider })
    expect(await r.lookup('203.0.113.7')).toMatchObject({ score: 12, countryCode: 'FR', isVpn: null, isTor: null, asn: null })
  })

  it('a provider that throws something other than a ProviderError gives network', async () => {
    const provider: Provider = {
      name: 'thrower',
      lookup: async () => {
        throw new TypeError('boom')
      },
    }
    const r = resolver({ provider })
    expect(await r.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'network' })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Single flight
// ---------------------------------------------------------------------------------------------------------------------

describe('single flight', () => {
  it('1,000 concurrent lookups of one new IP make exactly one upstream call', async () => {
    const sim = await simulator({ latency: 20 })
    const r = resolver({ provider: ipasisFor(sim) })
    const answers = await Promise.all(Array.from({ length: 1_000 }, () => r.lookup('203.0.113.50')))
    expect(sim.calls).toBe(1)
    expect(new Set(answers.map((a) => a.score))).toEqual(new Set([5]))
    expect(answers.every((a) => a.status === 'scored')).toBe(true)
  })

  it('IPv6 addresses rotating inside one /64 share one upstream call and one cache entry, each answer keeping its own address', async () => {
    const sim = await simulator()
    const r = resolver({ provider: ipasisFor(sim) })
    const ips = Array.from({ length: 50 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`)
    const concurrent = await Promise.all(ips.map((ip) => r.lookup(ip)))
    const later = await Promise.all(['2001:db8:1:2:ffff::1', '2001:db8:1:2:abcd:1234:5678:9abc'].map((ip) => r.lookup(ip)))
    expect(sim.calls).toBe(1)
    expect(concurrent.map((a) => a.ip)).toEqual(ips)
    expect(later.map((a) => a.ip)).toEqual(['2001:db8:1:2:ffff::1', '2001:db8:1:2:abcd:1234:5678:9abc'])
    expect(r.peek('2001:db8:1:2::77')).toMatchObject({ ip: '2001:db8:1:2::77', source: 'l1' })
    expect(resolverInternals(r).l1.size).toBe(1)
  })

  it('another /64 is another key', async () => {
    const sim = await simulator()
    const r = resolver({ provider: ipasisFor(sim) })
    await r.lookup('2001:db8:1:2::1')
    await r.lookup('2001:db8:1:3::1')
    expect(sim.calls).toBe(2)
  })

  it('cache.ipv6Prefix: 48 keys a whole /48 together', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, cache: { ipv6Prefix: 48 } })
    await r.lookup('2001:db8:1:2::1')
    await r.lookup('2001:db8:1:ffff::1')
    await r.lookup('2001:db8:2::1')
    expect(provider.calls).toBe(2)
  })

  it('cache.ipv6Prefix: 128 keys every IPv6 address on its own', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, cache: { ipv6Prefix: 128 } })
    await r.lookup('2001:db8:1:2::1')
    await r.lookup('2001:db8:1:2::2')
    expect(provider.calls).toBe(2)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Cache lifetimes
// ---------------------------------------------------------------------------------------------------------------------

describe('cache lifetimes (L1)', () => {
  it('cache.ttlSeconds defaults to 300: an answer is reused until then, fetched again after', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({})
    const r = resolver({ clock, provider })
    await r.lookup('203.0.113.7')
    clock.advance(299_000)
    expect(r.peek('203.0.113.7')?.source).toBe('l1')
    clock.advance(2_000)
    expect(r.peek('203.0.113.7')).toBeUndefined()
    expect((await r.lookup('203.0.113.7')).source).toBe('upstream')
    expect(provider.calls).toBe(2)
  })

  it('cache.ttlSeconds sets the freshness', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({})
    const r = resolver({ clock, provider, cache: { ttlSeconds: 10 } })
    await r.lookup('203.0.113.7')
    clock.advance(11_000)
    await r.lookup('203.0.113.7')
    expect(provider.calls).toBe(2)
  })

  it('cache.flaggedTtlSeconds keeps flagged answers (VPN here) for their own duration', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({ '203.0.113.45': 'vpn' })
    const r = resolver({ clock, provider, cache: { ttlSeconds: 60, flaggedTtlSeconds: 600 } })
    await r.lookup('203.0.113.45')
    await r.lookup('203.0.113.7')
    clock.advance(120_000)
    expect(r.peek('203.0.113.45')?.source).toBe('l1')
    expect(r.peek('203.0.113.7')).toBeUndefined()
  })

  it('serves an expired answer as stale (source stale, error set, data kept) when the provider then fails', async () => {
    const clock = createTestClock(T0)
    let up = true
    const provider = createMemoryProvider(() => {
      if (!up) throw new ProviderError('http_error', 'down', 503)
      return 'vpn'
    })
    const r = resolver({ clock, provider })
    await r.lookup('203.0.113.7')
    clock.advance(301_000)
    up = false
    const answer = await r.lookup('203.0.113.7')
    expect(answer).toMatchObject({ status: 'scored', source: 'stale', error: 'http_error', isVpn: true, score: 45 })
    expect(r.check(answer, { threshold: 40 })).toMatchObject({ action: 'block', reason: 'risk_score_exceeded' })
  })

  it('cache.staleSeconds bounds how long after expiry stale data is served (0: never)', async () => {
    const clock = createTestClock(T0)
    let up = true
    const provider = createMemoryProvider(() => {
      if (!up) throw new ProviderError('network', 'down')
      return 'clean'
    })
    const withStale = resolver({ clock, provider, cache: { staleSeconds: 100, failureTtlSeconds: 0 } })
    const noStale = resolver({ clock, provider, cache: { staleSeconds: 0 } })
    await withStale.lookup('203.0.113.7')
    await noStale.lookup('203.0.113.7')
    up = false
    clock.advance(350_000)
    expect((await withStale.lookup('203.0.113.7')).source).toBe('stale')
    expect(await noStale.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'network' })
    clock.advance(100_000)
    expect(await withStale.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', source: 'none' })
  })

  it('remembers a failed lookup for cache.failureTtlSeconds (default 10) instead of retrying on every request', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider(() => {
      throw new ProviderError('http_error', 'down', 500)
    })
    const r = resolver({ clock, provider })
    const first = await r.lookup('203.0.113.7')
    const again = await r.lookup('203.0.113.7')
    expect(first).toMatchObject({ status: 'unavailable', error: 'http_error' })
    expect(again).toMatchObject({ status: 'unavailable', error: 'http_error', lookupMs: 0 })
    expect(r.peek('203.0.113.7')).toBe(again)
    expect(provider.calls).toBe(1)
    clock.advance(10_001)
    await r.lookup('203.0.113.7')
    expect(provider.calls).toBe(2)
  })

  it('cache.failureTtlSeconds: 0 retries every time', async () => {
    const provider = createMemoryProvider(() => {
      throw new ProviderError('http_error', 'down', 500)
    })
    const r = resolver({ provider, cache: { failureTtlSeconds: 0 } })
    await r.lookup('203.0.113.7')
    await r.lookup('203.0.113.7')
    expect(provider.calls).toBe(2)
  })

  it('cache.l1: false disables L1: every lookup asks the provider and peek always misses', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, cache: { l1: false } })
    await r.lookup('203.0.113.7')
    await r.lookup('203.0.113.7')
    expect(provider.calls).toBe(2)
    expect(r.peek('203.0.113.7')).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Budgets
// ---------------------------------------------------------------------------------------------------------------------

describe('budgets', () => {
  it('budget.timeoutMs on the injected clock: a provider that never answers is answered timeout when the clock passes the deadline', async () => {
    const clock = createTestClock(T0)
    let aborted = false
    const provider: Provider = {
      name: 'silent',
      lookup: (_ip, signal) => {
        signal?.addEventListener('abort', () => void (aborted = true))
        return new Promise<RiskData>(() => undefined) // never settles, ignores the signal
      },
    }
    const r = resolver({ clock, provider, budget: { timeoutMs: 1_000 } })
    let answer: IpRisk | undefined
    void r.lookup('203.0.113.5').then((a) => void (answer = a))
    await clock.advanceAsync(900)
    expect(answer, 'not before the deadline').toBeUndefined()
    await clock.advanceAsync(100)
    expect(answer).toMatchObject({ status: 'unavailable', error: 'timeout' })
    expect(aborted, 'the call was aborted').toBe(true)
  })

  it('budget.timeoutMs: a provider slower than the budget is aborted and the answer is timeout', async () => {
    const { provider, signals, release } = gatedProvider()
    const r = resolver({ provider, budget: { timeoutMs: 50 } })
    const answer = await r.lookup('203.0.113.7')
    release()
    expect(answer).toMatchObject({ status: 'unavailable', error: 'timeout' })
    expect(signals).toHaveLength(1)
    expect(signals[0]?.aborted).toBe(true)
  })

  it('budget.timeoutMs through the simulator: a hanging upstream answers timeout', async () => {
    const sim = await simulator()
    sim.setFault('timeout')
    const r = resolver({ provider: ipasisFor(sim), budget: { timeoutMs: 80 } })
    expect(await r.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'timeout' })
  })

  it('a provider that ignores its abort signal is still answered at the deadline', async () => {
    const provider: Provider = { name: 'deaf', lookup: () => new Promise<RiskData>(() => undefined) }
    const r = resolver({ provider, budget: { timeoutMs: 30 } })
    expect(await r.lookup('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'timeout' })
  })

  it('budget.maxInFlight: past the cap a lookup answers budget_exceeded at once, without queueing', async () => {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider, budget: { maxInFlight: 2, timeoutMs: 5_000 } })
    // Three source networks (/24s), so that only the global cap is at work (budget.perNetwork: see budget-share.test.ts).
    const held = [r.lookup('203.0.113.1'), r.lookup('198.51.100.2')]
    await vi.waitUntil(() => resolverInternals(r).inFlight() === 2)
    expect(await r.lookup('192.0.2.3')).toMatchObject({ status: 'unavailable', error: 'budget_exceeded' })
    expect(provider.calls).toBe(2)
    release()
    await Promise.all(held)
    // a refused lookup is not remembered: it goes through once there is room
    const next = r.lookup('192.0.2.3')
    await vi.waitUntil(() => provider.calls === 3)
    release()
    expect((await next).status).toBe('scored')
  })

  it('budget.maxInFlight defaults to 64', async () => {
    const { provider, release } = gatedProvider()
    const r = resolver({ provider, budget: { timeoutMs: 5_000 } })
    // 64 source networks (/24s): one network alone holds at most a quarter of the budget.
    const held = Array.from({ length: 64 }, (_, i) => r.lookup(`11.${i + 1}.0.1`))
    await vi.waitUntil(() => resolverInternals(r).inFlight() === 64)
    expect((await r.lookup('11.200.0.1')).error).toBe('budget_exceeded')
    release()
    await Promise.all(held)
  })

  it('budget.maxPerMinute: past it lookups answer budget_exceeded until tokens come back', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({})
    const r = resolver({ clock, provider, budget: { maxPerMinute: 3 } })
    // One address per source network (/24), so that only the global bucket is at work.
    for (const ip of ['203.0.113.1', '198.51.100.2', '192.0.2.3']) expect((await r.lookup(ip)).status).toBe('scored')
    expect(await r.lookup('11.0.4.4')).toMatchObject({ status: 'unavailable', error: 'budget_exceeded' })
    expect(provider.calls).toBe(3)
    clock.advance(20_000) // one token per 20 s
    expect((await r.lookup('11.0.4.4')).status).toBe('scored')
    expect((await r.lookup('11.0.5.5')).error).toBe('budget_exceeded')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Breaker and Retry-After
// ---------------------------------------------------------------------------------------------------------------------

describe('circuit breaker and Retry-After', () => {
  it('upstream down: after breaker.failures failures the breaker opens and lookups answer breaker_open without touching it', async () => {
    const sim = await simulator()
    sim.setFault(503)
    const r = resolver({ provider: ipasisFor(sim), breaker: { failures: 3, halfOpenAfterMs: 60_000 } })
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      expect(await r.lookup(ip)).toMatchObject({ status: 'unavailable', error: 'http_error' })
    }
    expect(sim.calls).toBe(3)
    for (const ip of ['203.0.113.4', '203.0.113.5', '203.0.113.6', '198.51.100.1']) {
      expect(await r.lookup(ip)).toMatchObject({ status: 'unavailable', error: 'breaker_open' })
    }
    expect(sim.calls).toBe(3)
  })

  it('breaker.failures defaults to 5', async () => {
    const sim = await simulator()
    sim.setFault(500)
    const r = resolver({ provider: ipasisFor(sim) })
    for (let i = 1; i <= 5; i++) expect((await r.lookup(`203.0.113.${i}`)).error).toBe('http_error')
    expect((await r.lookup('203.0.113.6')).error).toBe('breaker_open')
    expect(sim.calls).toBe(5)
  })

  it('while it is open, stale entries are served', async () => {
    const clock = createTestClock(T0)
    const sim = await simulator({ profiles: { '203.0.113.9': 'proxy' } })
    const r = resolver({ clock, provider: ipasisFor(sim), breaker: { failures: 1, halfOpenAfterMs: 3_600_000 } })
    await r.lookup('203.0.113.9')
    clock.advance(301_000)
    sim.setFault(503)
    await r.lookup('203.0.113.1') // opens the breaker
    const calls = sim.calls
    expect(await r.lookup('203.0.113.9')).toMatchObject({ source: 'stale', error: 'breaker_open', isProxy: true })
    expect(sim.calls).toBe(calls)
  })

  it('after breaker.halfOpenAfterMs one probe call is made; its success closes the breaker', async () => {
    const clock = createTestClock(T0)
    const sim = await simulator()
    sim.setFault(503)
    const r = resolver({ clock, provider: ipasisFor(sim), breaker: { failures: 2, halfOpenAfterMs: 30_000 } })
    await r.lookup('203.0.113.1')
    await r.lookup('203.0.113.2')
    expect((await r.lookup('203.0.113.3')).error).toBe('breaker_open')
    sim.clearFaults()
    clock.advance(29_000)
    expect((await r.lookup('203.0.113.4')).error).toBe('breaker_open')
    clock.advance(2_000)
    expect((await r.lookup('203.0.113.5')).status).toBe('scored')
    expect((await r.lookup('203.0.113.6')).status).toBe('scored')
    expect(sim.calls).toBe(4)
  })

  it('a lookup refused by the open breaker spends no per-minute token', async () => {
    const clock = createTestClock(T0)
    let failing = true
    const provider: Provider = {
      name: 'flaky',
      lookup: () => (failing ? Promise.reject(new ProviderError('http_error', 'down', 503)) : Promise.resolve(data(5))),
    }
    const r = resolver({ clock, provider, breaker: { failures: 1, halfOpenAfterMs: 1_000 }, budget: { maxPerMinute: 2, perNetwork: false } })
    expect((await r.lookup('203.0.113.1')).error).toBe('http_error') // one token spent, the breaker opens
    for (let i = 2; i <= 6; i++) expect((await r.lookup(`203.0.113.${i}`)).error).toBe('breaker_open')
    failing = false
    clock.advance(1_000)
    expect((await r.lookup('203.0.113.7')).status, 'the probe still finds the second token').toBe('scored')
  })

  it('the breaker runs on the injected clock: its open period passes only when the clock moves', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider(() => {
      throw new ProviderError('network', 'refused')
    })
    const r = resolver({ clock, provider, breaker: { failures: 1, halfOpenAfterMs: 60_000 }, cache: { failureTtlSeconds: 0 } })
    await r.lookup('203.0.113.1')
    expect(r.status().provider.breaker).toBe('open')
    clock.advance(59_999)
    expect((await r.lookup('203.0.113.2')).error).toBe('breaker_open')
    clock.advance(1)
    expect((await r.lookup('203.0.113.3')).error, 'the probe is called (and fails)').toBe('network')
    expect(provider.calls).toBe(2)
  })

  it('breaker: false never stops calling the provider', async () => {
    const sim = await simulator()
    sim.setFault(503)
    const r = resolver({ provider: ipasisFor(sim), breaker: false })
    for (let i = 1; i <= 8; i++) expect((await r.lookup(`203.0.113.${i}`)).error).toBe('http_error')
    expect(sim.calls).toBe(8)
  })

  it('a 429 with Retry-After stops every call until it has passed', async () => {
    const clock = createTestClock(T0)
    const sim = await simulator()
    sim.setFault(429, { times: 1, retryAfter: 2 })
    const r = resolver({ clock, provider: ipasisFor(sim) })
    expect(await r.lookup('203.0.113.1')).toMatchObject({ status: 'unavailable', error: 'rate_limited' })
    expect(await r.lookup('203.0.113.2')).toMatchObject({ status: 'unavailable', error: 'rate_limited' })
    expect(await r.lookup('198.51.100.7')).toMatchObject({ error: 'rate_limited' })
    expect(sim.calls).toBe(1)
    clock.advance(1_500)
    expect((await r.lookup('198.51.100.8')).error).toBe('rate_limited')
    expect(sim.calls).toBe(1)
    clock.advance(600)
    expect((await r.lookup('198.51.100.9')).status).toBe('scored')
    expect(sim.calls).toBe(2)
  })

  it('a rejected API key (401) is reported once, as a problem with provider.apiKey, without the key', async () => {
    const sim = await simulator({ apiKey: 'right-key' })
    const log = logger()
    const r = resolver({ provider: ipasisFor(sim, 'wrong-key-123'), logger: log, cache: { failureTtlSeconds: 0 } })
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) expect((await r.lookup(ip)).error).toBe('auth')
    expect(configErrors(log)).toEqual(['provider.apiKey'])
    expect(JSON.stringify(log.warn.mock.calls)).not.toContain('wrong-key-123')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Background lookups
// ---------------------------------------------------------------------------------------------------------------------

describe('background lookups (wait: false)', () => {
  it('answer pending at once, score in the background, and the next request is answered from cache', async () => {
    const sim = await simulator({ latency: 30, profiles: { '203.0.113.66': 'tor' } })
    const r = resolver({ provider: ipasisFor(sim) })
    expect(await r.lookup('203.0.113.66', { wait: false })).toMatchObject({ status: 'pending', ip: '203.0.113.66', source: 'none' })
    await vi.waitUntil(() => r.peek('203.0.113.66') !== undefined)
    expect(r.peek('203.0.113.66')).toMatchObject({ status: 'scored', isTor: true, source: 'l1' })
    expect(sim.calls).toBe(1)
  })

  it('background and waiting lookups of one IP share one call', async () => {
    const sim = await simulator({ latency: 30 })
    const r = resolver({ provider: ipasisFor(sim) })
    void r.lookup('203.0.113.8', { wait: false })
    void r.lookup('203.0.113.8', { wait: false })
    expect((await r.lookup('203.0.113.8')).status).toBe('scored')
    expect(sim.calls).toBe(1)
  })

  it('a failing background lookup never rejects: its failure is remembered and served', async () => {
    const provider = createMemoryProvider(() => {
      throw new ProviderError('network', 'ECONNREFUSED')
    })
    const r = resolver({ provider })
    expect((await r.lookup('203.0.113.7', { wait: false })).status).toBe('pending')
    await vi.waitUntil(() => r.peek('203.0.113.7') !== undefined)
    expect(r.peek('203.0.113.7')).toMatchObject({ status: 'unavailable', error: 'network' })
  })

  it('an expired entry is served at once as stale (error null) while it is refreshed in the background', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({ '203.0.113.45': 'vpn' })
    const r = resolver({ clock, provider })
    await r.lookup('203.0.113.45')
    clock.advance(301_000)
    expect(await r.lookup('203.0.113.45', { wait: false })).toMatchObject({ status: 'scored', source: 'stale', error: null, isVpn: true })
    await vi.waitUntil(() => r.peek('203.0.113.45') !== undefined)
    expect(provider.calls).toBe(2)
  })

  it('a fresh entry is answered from L1 without a background call', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider })
    await r.lookup('203.0.113.7')
    expect((await r.lookup('203.0.113.7', { wait: false })).source).toBe('l1')
    expect(resolverInternals(r).flights()).toBe(0)
    expect(provider.calls).toBe(1)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------------------------------

describe('static lists', () => {
  const lists = { allow: ['203.0.113.0/28', '2001:db8:a::/48'], deny: ['198.51.100.66', '203.0.113.5'] }

  it.each([
    ['203.0.113.1', 'allow', 'allowlisted', 'allow'],
    ['2001:db8:a:1::9', 'allow', 'allowlisted', 'allow'],
    ['198.51.100.66', 'deny', 'denylisted', 'block'],
    ['203.0.113.5', 'deny', 'denylisted', 'block'], // in both: deny wins
  ] as const)('%s is listed %s without a lookup (%s)', async (ip, listed, reason, action) => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, lists })
    const answer = await r.lookup(ip)
    expect(answer).toMatchObject({ ip, listed, status: 'skipped', source: 'none' })
    expect(r.peek(ip)).toBe(answer)
    expect(r.check(answer, policies.baseline)).toMatchObject({ action, reason })
    expect(provider.calls).toBe(0)
  })

  it('an address outside the lists is looked up as usual', async () => {
    const provider = createMemoryProvider({})
    const r = resolver({ provider, lists })
    expect(await r.lookup('203.0.113.200')).toMatchObject({ listed: null, status: 'scored' })
    expect(provider.calls).toBe(1)
  })

  it('lists accept a comma-separated string and range names', async () => {
    const r = resolver({ provider: createMemoryProvider({}), lists: { allow: 'loopback, 203.0.113.7' } })
    expect((await r.lookup('127.0.0.1')).listed).toBe('allow')
    expect((await r.lookup('203.0.113.7')).listed).toBe('allow')
  })

  it('allowlisted addresses are never blocked: neither by block() nor by the automatic blocklist', async () => {
    const provider = createMemoryProvider({ '203.0.113.0/24': 'high-risk' })
    const r = resolver({ provider, lists: { allow: ['203.0.113.1'] } })
    await r.block('203.0.113.1')
    expect((await r.lookup('203.0.113.1')).listed).toBe('allow')
    expect(provider.calls).toBe(0)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Blocklist
// ---------------------------------------------------------------------------------------------------------------------

describe('automatic blocklist and block / unblock', () => {
  it('an IP scored >= 95 is hard-blocked for an hour, without further lookups', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({ '203.0.113.99': 'high-risk' })
    const r = resolver({ clock, provider })
    expect(await r.lookup('203.0.113.99')).toMatchObject({ listed: 'blocklist', score: 97, source: 'upstream' })
    clock.advance(301_000) // the answer expired; the block did not
    expect(r.peek('203.0.113.99')).toMatchObject({ listed: 'blocklist', score: 97, countryCode: 'CN' })
    expect(r.check(await r.lookup('203.0.113.99'), policies.baseline)).toMatchObject({ action: 'block', reason: 'blocklisted' })
    expect(provider.calls).toBe(1)
    clock.advance(3_300_000)
    expect((await r.lookup('203.0.113.99')).source).toBe('upstream')
    expect(provider.calls).toBe(2)
  })

  it('blocklist.score and blocklist.ttlSeconds set the threshold and the duration', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({ '203.0.113.45': 'vpn' })
    const r = resolver({ clock, provider, blocklist: { score: 45, ttlSeconds: 10 } })
    expect((await r.lookup('203.0.113.45')).listed).toBe('blocklist')
    expect((await r.lookup('203.0.113.7')).listed).toBe(null)
    clock.advance(11_000)
    expect(r.peek('203.0.113.45')).toMatchObject({ listed: null, source: 'l1' })
  })

  it('blocklist: false turns automatic blocking off', async () => {
    const r = resolver({ provider: createMemoryProvider({ '203.0.113.99': 'high-risk' }), blocklist: false })
    expect(await r.lookup('203.0.113.99')).toMatchObject({ listed: null, score: 97 })
  })

  it('block(ip) blocks at once, keeping the last known data; unblock(ip) lifts it and forgets the entry', async () => {
    const provider = createMemoryProvider({ '203.0.113.45': 'vpn' })
    const r = resolver({ provider })
    await r.lookup('203.0.113.45')
    await r.block('203.0.113.45')
    expect(r.peek('203.0.113.45')).toMatchObject({ listed: 'blocklist', status: 'scored', isVpn: true, score: 45 })
    await r.unblock('203.0.113.45')
    expect(r.peek('203.0.113.45')).toBeUndefined()
    expect(await r.lookup('203.0.113.45')).toMatchObject({ listed: null, source: 'upstream' })
    expect(provider.calls).toBe(2)
  })

  it('block(ip, seconds) of a never-seen IP blocks it (status skipped: no data) for that long', async () => {
    const clock = createTestClock(T0)
    const provider = createMemoryProvider({})
    const r = resolver({ clock, provider })
    await r.block('198.51.100.23', 5)
    expect(await r.lookup('198.51.100.23')).toMatchObject({ listed: 'blocklist', status: 'skipped', score: null })
    clock.advance(5_001)
    expect((await r.lookup('198.51.100.23')).listed).toBe(null)
    expect(provider.calls).toBe(1)
  })

  it('block() of an IPv6 address blocks its whole /64', async () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    await r.block('2001:db8:5:6::1')
    expect((await r.lookup('2001:db8:5:6:ffff::2')).listed).toBe('blocklist')
    expect((await r.lookup('2001:db8:5:7::1')).listed).toBe(null)
  })

  it('block() can block a private address (operator decision)', async () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    await r.block('10.0.0.5')
    expect((await r.lookup('10.0.0.5')).listed).toBe('blocklist')
  })

  it.each([
    ['not an IP', 'nope', undefined],
    ['zero seconds', '203.0.113.7', 0],
    ['negative seconds', '203.0.113.7', -5],
    ['over 30 days', '203.0.113.7', 31 * 24 * 3600],
    ['NaN', '203.0.113.7', Number.NaN],
  ])('block() rejects %s with an IpRiskError', async (_name, ip, seconds) => {
    const r = resolver({ provider: createMemoryProvider({}) })
    await expect(r.block(ip, seconds)).rejects.toThrow(IpRiskError)
  })

  it('unblock() rejects what is not an IP', async () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    await expect(r.unblock('nope')).rejects.toThrow(IpRiskError)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Policies and reports
// ---------------------------------------------------------------------------------------------------------------------

describe('check, compile and report', () => {
  const unavailable = async (r: RiskResolver) => r.lookup('203.0.113.7')
  const failing = () =>
    createMemoryProvider(() => {
      throw new ProviderError('network', 'down')
    })

  it("failMode 'open' (default) lets unavailable answers through, marked failOpen", async () => {
    const r = resolver({ provider: failing() })
    expect(r.check(await unavailable(r), policies.baseline)).toMatchObject({ action: 'allow', reason: 'lookup_unavailable', failOpen: true })
  })

  it("failMode 'closed' blocks unavailable answers", async () => {
    const r = resolver({ provider: failing(), failMode: 'closed' })
    expect(r.check(await unavailable(r), policies.baseline)).toMatchObject({ action: 'block', reason: 'lookup_unavailable' })
  })

  it("a policy's onUnavailable overrides the resolver's failMode", async () => {
    const r = resolver({ provider: failing(), failMode: 'closed' })
    expect(r.check(await unavailable(r), { onUnavailable: 'allow' }).action).toBe('allow')
  })

  it('check without a policy applies policies.baseline (score >= 90)', async () => {
    const r = resolver({ provider: createMemoryProvider({ '203.0.113.66': 'tor', '203.0.113.60': 'proxy' }) })
    expect(r.check(await r.lookup('203.0.113.66')).action).toBe('block')
    expect(r.check(await r.lookup('203.0.113.60')).action).toBe('allow')
  })

  it('check validates a policy it has not seen (once) and rejects a bad one', async () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    const answer = await r.lookup('203.0.113.7')
    const policy = { threshold: 3 }
    expect(r.check(answer, policy).action).toBe('block')
    expect(r.check(answer, policy).action).toBe('block')
    expect(() => r.check(answer, { threshold: 101 })).toThrow(IpRiskConfigError)
  })

  it('check applies the policy it is given when calls alternate between policies', async () => {
    const r = resolver({ provider: createMemoryProvider({ '203.0.113.60': 'proxy' }) })
    const answer = await r.lookup('203.0.113.60') // score 60, a proxy
    const strict = r.compile({ threshold: 50 })
    const lenient = r.compile({ threshold: 90 })
    const noProxy = { blockProxy: true } // not compiled: validated on first use
    const sequence = [strict, lenient, strict, noProxy, lenient, noProxy, strict].map((p) => r.check(answer, p))
    expect(sequence.map((d) => `${d.action}:${d.reason}`)).toEqual([
      'block:risk_score_exceeded',
      'allow:clean',
      'block:risk_score_exceeded',
      'block:proxy_detected',
      'allow:clean',
      'block:proxy_detected',
      'block:risk_score_exceeded',
    ])
  })

  it('compile returns a frozen policy and throws IpRiskConfigError on a bad one', () => {
    const r = resolver({ provider: createMemoryProvider({}) })
    expect(Object.isFrozen(r.compile({ threshold: 70 }))).toBe(true)
    expect(() => r.compile({ threshold: -1 })).toThrow(IpRiskConfigError)
  })

  it('report emits to the observability options and never throws, even when they do', async () => {
    const seen: string[] = []
    const r = resolver({
      provider: createMemoryProvider({ '203.0.113.66': 'tor' }),
      logger: {
        info: () => {
          throw new Error('logger down')
        },
        warn: () => {
          throw new Error('logger down')
        },
      },
      onBlock: (event) => {
        seen.push(event.reason)
        throw new Error('hook down')
      },
    })
    const decision = r.check(await r.lookup('203.0.113.66'), policies.human)
    expect(() => r.report(decision, { adapter: 'test', path: 'a.b' })).not.toThrow()
    expect(() => r.report(null as never)).not.toThrow()
    await vi.waitUntil(() => seen.length === 1)
    expect(seen).toEqual(['tor_exit_node'])
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Client IP
// ---------------------------------------------------------------------------------------------------------------------

describe('client IP (trustProxy, clientIpHeaders, maxHops)', () => {
  const behindProxy = { headers: { 'x-forwarded-for': '203.0.113.7' }, socket: { remoteAddress: '127.0.0.1' } }

  it("trustProxy: 'loopback' reads the client from X-Forwarded-For set by a local proxy", async () => {
    const r = resolver({ provider: createMemoryProvider({}), trustProxy: 'loopback' })
    expect(r.clientIp(behindProxy)).toEqual({ ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' })
    expect(await r.fromRequest(behindProxy)).toMatchObject({ ip: '203.0.113.7', status: 'scored' })
  })

  it('trustProxy defaults to false: the header is ignored, and the likely misconfiguration is reported once', async () => {
    const log = logger()
    const r = resolver({ provider: createMemoryProvider({}), logger: log })
    expect(r.clientIp(behindProxy)).toEqual({ ip: '127.0.0.1', source: 'socket', kind: 'loopback' })
    expect((await r.fromRequest(behindProxy)).status).toBe('skipped')
    expect(degradedWarnings(log)).toEqual(['untrusted_proxy:trustProxy'])
  })

  it.each([
    ['a global peer', { headers: { 'x-forwarded-for': '203.0.113.7' }, socket: { remoteAddress: '8.8.8.8' } }, {}],
    ['a local peer without the header', { headers: {}, socket: { remoteAddress: '127.0.0.1' } }, {}],
    ['trustProxy set', behindProxy, { trustProxy: 'loopback' }],
  ])('does not warn for %s', (_name, req, extra) => {
    const log = logger()
    const r = resolver({ provider: createMemoryProvider({}), logger: log, ...extra })
    r.clientIp(req)
    expect(configErrors(log)).toEqual([])
    expect(degradedWarnings(log)).toEqual([])
  })

  it('reads fetch Requests with the peer address passed alongside', async () => {
    const r = resolver({ provider: createMemoryProvider({}), trustProxy: 'loopback' })
    const req = new Request('http://localhost/', { headers: { 'x-forwarded-for': '198.51.100.4' } })
    expect(await r.fromRequest(req, { peerAddress: '127.0.0.1' })).toMatchObject({ ip: '198.51.100.4' })
    expect(await r.fromRequest(req)).toMatchObject({ ip: null, error: 'no_ip' })
  })

  it("clientIpHeaders: ['x-real-ip'] is read from a trusted proxy", () => {
    const r = resolver({ provider: createMemoryProvider({}), trustProxy: 'loopback', clientIpHeaders: ['x-real-ip'] })
    const req = { headers: { 'x-real-ip': '198.51.100.9' }, socket: { remoteAddress: '127.0.0.1' } }
    expect(r.clientIp(req)).toMatchObject({ ip: '198.51.100.9', source: 'x-real-ip' })
  })

  it('maxHops bounds how far X-Forwarded-For is walked', () => {
    const req = { headers: { 'x-forwarded-for': '198.51.100.1, 198.51.100.2, 198.51.100.3' }, socket: { remoteAddress: '127.0.0.1' } }
    const all = resolver({ provider: createMemoryProvider({}), trustProxy: true })
    const one = resolver({ provider: createMemoryProvider({}), trustProxy: true, maxHops: 1 })
    expect(all.clientIp(req).ip).toBe('198.51.100.1')
    expect(one.clientIp(req).ip).toBe('198.51.100.3')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// close
// ---------------------------------------------------------------------------------------------------------------------

describe('unscoredRisk', () => {
  it('builds a frozen answer with no provider data, from no source, that policies treat by the fail mode', () => {
    const answer = unscoredRisk('192.0.2.1', 'documentation', 'unavailable', 'network')
    expect(answer).toEqual({
      ip: '192.0.2.1', ipKind: 'documentation', status: 'unavailable', error: 'network', listed: null, source: 'none',
      lookupMs: 0, score: null, isVpn: null, isProxy: null, isTor: null, isDatacenter: null, countryCode: null,
      asn: null, isp: null,
    })
    expect(Object.isFrozen(answer)).toBe(true)
    const risk = createRiskResolver({ provider: createMemoryProvider({}), failMode: 'closed' })
    expect(risk.check(answer, policies.human)).toMatchObject({ action: 'block', reason: 'lookup_unavailable' })
    return risk.close()
  })
})

describe('close', () => {
  it('aborts lookups in flight (they answer, never reject), closes the provider, and later misses call nothing', async () => {
    const { provider, signals } = gatedProvider()
    const r = createRiskResolver({ provider, scoreDocumentationRanges: true, budget: { timeoutMs: 10_000 } })
    const pending = r.lookup('203.0.113.7')
    await vi.waitUntil(() => signals.length === 1)
    await r.close()
    expect(await pending).toMatchObject({ status: 'unavailable' })
    expect(signals[0]?.aborted).toBe(true)
    expect(provider.closed).toBe(true)
    expect(await r.lookup('203.0.113.8')).toMatchObject({ status: 'unavailable' })
    expect(provider.calls).toBe(1)
    await r.close() // idempotent
  })
})
