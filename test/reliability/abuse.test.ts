/**
 * Abuse: a client rotating source addresses to burn the upstream quota or grow memory. IPv6 rotation inside one /64,
 * across many /64s, IPv4 from many hosts, bursts against the in-flight and per-minute budgets, and the L1 bound.
 *
 * Promises checked: upstream calls are bounded by the cache (one call per /64 or IPv4 address while cached) and by the
 * budgets (`maxInFlight` calls at once, `maxPerMinute` per minute); a lookup refused by a budget is
 * `budget_exceeded` and the fail mode applies; memory is bounded by `cache.l1.max`.
 */
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRiskResolver, type Provider, type RiskData } from '../../src/core/index.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { captureConsole, createEvidence, SECRET_API_KEY, watchProcess, describeProcessHygiene } from './helpers/evidence.js'
import {
  createHttpClient,
  flushHooks,
  globalIp,
  manualWallClock,
  mapConcurrent,
  startSimulator,
  startStack,
  type HttpClient,
  type Outcome,
  type Stack,
} from './helpers/stack.js'

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)
let http: HttpClient

beforeAll(() => {
  http = createHttpClient(evidence)
})
afterAll(async () => {
  await http.close()
  restoreConsole()
  watch.stop()
})

const hex = (n: number): string => (n & 0xffff).toString(16)
/** The i-th address inside the /64 `2a01:4f8:<net>::/64` (global unicast). */
const inSlash64 = (net: number, i: number): string => `2a01:4f8:${hex(net >>> 16)}:${hex(net)}:${hex(i >>> 16)}:${hex(i)}:${hex(i * 7)}:${hex(i * 13 + 1)}`
/** Cache key of an IPv6 address: its /64 (first four groups). */
const slash64 = (ip: string): string => ip.split(':').slice(0, 4).join(':')

function call(stack: Stack, ip: string, i: number): Promise<Outcome> {
  return i % 2 === 0
    ? http.trpc(stack.trpc.url, 'orders', { xff: ip })
    : http.graphql(stack.yoga.url, 'mutation { login(email: "a@example.com", password: "pw") { token } }', { xff: ip })
}

/** An in-process provider for the direct (no HTTP) bounds: answers after `latencyMs`, counting calls. */
function countingProvider(latencyMs = 0): Provider & { calls: number } {
  const data: RiskData = { score: 3, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'US', asn: 1, isp: 'x' }
  const p = {
    name: 'counting',
    calls: 0,
    lookup(): Promise<RiskData> {
      p.calls++
      return latencyMs === 0 ? Promise.resolve(data) : new Promise((resolve) => setTimeout(resolve, latencyMs, data))
    },
  }
  return p
}

// ---------------------------------------------------------------------------------------------------------------------

describe('address rotation through the example servers', () => {
  let sim: IpasisSimulator
  beforeAll(async () => {
    sim = await startSimulator()
  })
  afterAll(async () => {
    await sim.close()
  })

  it('IPv6 rotating inside one /64: 100 requests (16 at a time, both servers) cost exactly one upstream call', async () => {
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { failMode: 'closed', breaker: false } })
    try {
      const before = sim.calls
      const ips = Array.from({ length: 100 }, (_, i) => inSlash64(0x51, i + 1))
      const outcomes = await mapConcurrent(ips, 16, (ip, i) => call(stack, ip, i))
      expect(outcomes.filter((o) => o.kind !== 'ok').map((o) => o.reply.text)).toEqual([])
      expect(sim.calls - before).toBe(1)
      // The provider scored a full address the client used (not a network address it made up).
      expect(ips).toContain(stack.provider.ips[0])
    } finally {
      await stack.close()
    }
  })

  it('IPv6 across 60 /64s then rotating inside each: one upstream call per /64, never two at once for one /64', async () => {
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { failMode: 'closed', breaker: false } })
    try {
      const before = sim.calls
      const ips = Array.from({ length: 180 }, (_, i) => inSlash64(0x1000 + (i % 60), Math.floor(i / 60) + 1))
      const outcomes = await mapConcurrent(ips, 16, (ip, i) => call(stack, ip, i))
      expect(outcomes.filter((o) => o.kind !== 'ok').length).toBe(0)
      expect(sim.calls - before).toBe(60)
      expect(new Set(stack.provider.ips.map(slash64)).size).toBe(60)
    } finally {
      await stack.close()
    }
  })

  it('IPv4 from 120 hosts, each coming back: exactly one upstream call per address', async () => {
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { failMode: 'closed', breaker: false } })
    try {
      const before = sim.calls
      const hosts = Array.from({ length: 120 }, (_, i) => globalIp(600_000 + i))
      const outcomes = await mapConcurrent([...hosts, ...hosts], 16, (ip, i) => call(stack, ip, i))
      expect(outcomes.filter((o) => o.kind !== 'ok').length).toBe(0)
      expect(sim.calls - before).toBe(120)
      expect(stack.provider.maxInFlightPerIp).toBe(1)
    } finally {
      await stack.close()
    }
  })

  it.each(['open', 'closed'] as const)(
    'burst from 160 fresh addresses, maxInFlight 8, 20 ms upstream latency, fail-%s: ≤ 8 calls in flight, the rest budget_exceeded per the fail mode',
    async (failMode) => {
      const slow = await startSimulator({ latency: 20 })
      const stack = await startStack({
        simUrl: slow.url,
        evidence,
        resolver: { failMode, breaker: false, budget: { maxInFlight: 8 } },
      })
      try {
        const ips = Array.from({ length: 160 }, (_, i) => globalIp((failMode === 'open' ? 700_000 : 800_000) + i))
        const outcomes = await mapConcurrent(ips, 32, (ip, i) => call(stack, ip, i))
        await flushHooks()
        expect(stack.provider.maxInFlight, 'never more than maxInFlight upstream calls at once').toBeLessThanOrEqual(8)
        let refused = 0
        let scored = 0
        for (const [i, ip] of ips.entries()) {
          const event = stack.events.findLast((e) => e.ip === ip)
          const outcome = outcomes[i] as Outcome
          if (event?.status === 'scored') {
            scored++
            expect(outcome.kind).toBe('ok')
          } else {
            refused++
            expect(event?.error).toBe('budget_exceeded')
            if (failMode === 'open') expect(outcome.kind).toBe('ok')
            else expect([outcome.kind, outcome.reason]).toEqual(['blocked', 'lookup_unavailable'])
          }
        }
        expect(refused, 'the budget engaged (32 concurrent clients against 8 slots)').toBeGreaterThan(0)
        expect(slow.calls, 'every upstream call produced exactly one scored answer').toBe(scored)
        expect(scored + refused).toBe(ips.length)
      } finally {
        await stack.close()
        await slow.close()
      }
    },
  )
})

// ---------------------------------------------------------------------------------------------------------------------

describe('exact budget bounds (resolver called directly, in-process provider)', () => {
  it.each([1, 8, 64])('maxInFlight %i: 500 lookups of distinct IPs started together make exactly that many upstream calls', async (maxInFlight) => {
    const provider = countingProvider(20)
    const resolver = createRiskResolver({ provider, breaker: false, budget: { maxInFlight } })
    try {
      // One address per source network (/24): the global cap is the subject (per-network shares: budget-share tests).
      const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => resolver.lookup(globalIp((3_500 + i) * 256 + 1))))
      expect(provider.calls).toBe(maxInFlight)
      expect(answers.filter((a) => a.status === 'scored').length).toBe(maxInFlight)
      expect(answers.filter((a) => a.error === 'budget_exceeded').length).toBe(500 - maxInFlight)
    } finally {
      await resolver.close()
    }
  })

  it('maxPerMinute 20: 100 distinct IPs in a row make 20 upstream calls; a minute later the bucket has refilled', async () => {
    const provider = countingProvider()
    // Wall time stands still unless moved: no refill while the 100 lookups run, however slow the machine.
    const clock = manualWallClock()
    const resolver = createRiskResolver({ provider, breaker: false, budget: { maxPerMinute: 20 }, clock })
    try {
      const answers = []
      for (let i = 0; i < 100; i++) answers.push(await resolver.lookup(globalIp((4_100 + i) * 256 + 1))) // one per /24
      expect(provider.calls).toBe(20)
      expect(answers.filter((a) => a.error === 'budget_exceeded').length).toBe(80)
      clock.advance(60_000)
      expect((await resolver.lookup(globalIp(4_300 * 256 + 1))).status, 'refilled after a minute').toBe('scored')
      expect(provider.calls).toBe(21)
    } finally {
      await resolver.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('memory is bounded by cache.l1.max', () => {
  it('L1 max 50 through the example server: after 150 new addresses the oldest are asked again, the newest are not', async () => {
    const sim = await startSimulator()
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { breaker: false, cache: { l1: { max: 50 } } } })
    try {
      const ips = Array.from({ length: 150 }, (_, i) => globalIp(1_000_000 + i))
      await mapConcurrent(ips, 8, (ip, i) => call(stack, ip, i))
      const oldest = ips.slice(0, 15)
      const newest = ips.slice(-15)
      await mapConcurrent([...oldest, ...newest], 8, (ip, i) => call(stack, ip, i))
      expect(oldest.map((ip) => sim.callsFor(ip)), 'evicted: scored again').toEqual(oldest.map(() => 2))
      expect(newest.map((ip) => sim.callsFor(ip)), 'still cached').toEqual(newest.map(() => 1))
    } finally {
      await stack.close()
      await sim.close()
    }
  })

  it('heap after 40 000 rotating IPv6 /64s stays flat once L1 (max 1 000) is full (an unbounded cache would grow ~15 MB)', async () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    const provider = countingProvider()
    // One /48 on purpose (500 at a time): this test measures memory, so the budget is one pool here.
    const resolver = createRiskResolver({
      provider,
      breaker: false,
      budget: { maxInFlight: 1_000, perNetwork: false },
      cache: { l1: { max: 1_000 } },
    })
    const heapAfterGc = (): number => {
      gc()
      gc()
      return process.memoryUsage().heapUsed
    }
    const burst = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, k) => resolver.lookup(inSlash64(i + k, 1))))
      }
    }
    try {
      await burst(0, 12_000) // fills L1 and the internal memo tables
      const filled = heapAfterGc()
      await burst(12_000, 28_000)
      const grown = heapAfterGc() - filled
      expect(provider.calls).toBe(40_000)
      expect(grown, `heap grew ${Math.round(grown / 1024)} KB`).toBeLessThan(5 * 1024 * 1024)
    } finally {
      await resolver.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describeProcessHygiene(watch, evidence, { minResponses: 300 })
