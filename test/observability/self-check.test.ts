/**
 * The deployment self-check (issue #17 §2): protection never vanishes silently.
 *
 * - `untrusted_proxy` and `no_client_ip` over real HTTP, with the header shapes that cause them and the trusted
 *   variants that must not warn (a node:http app on the resolver, tRPC's fetch adapter), against the IPASIS simulator;
 * - `no_verdict` and `provider_failing` over the sliding minute, on an injected clock (no sleeps);
 * - `risk.status()` snapshots and the start-up probe `risk.ready()` against the simulator.
 *
 * Each warning is checked on its three channels: the logger line, the `onDegraded` hook and the `iprisk.degraded`
 * counter; and "once": several requests, one warning.
 */
import { once } from 'node:events'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AggregationTemporality, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { initTRPC } from '@trpc/server'
import Keyv from 'keyv'
import { LRUCache } from 'lru-cache'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  IpRiskConfigError,
  IpRiskProbeError,
  ProviderError,
  createRiskResolver,
  ipasis,
  platforms,
  policies,
  type DegradedEvent,
  type Logger,
  type RiskResolver,
  type RiskResolverOptions,
  type TrustProxy,
} from '../../src/core/index.js'
import { createTestClock } from '../../src/testing/clock.js'
import { createMemoryProvider, startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createTrpcRisk } from '../../src/trpc/index.js'
import { serveFetch } from '../trpc/helpers.js'
import { afterHooks } from './helpers.js'

const TOR = '185.220.101.66'
const KEY = 'sim-key-0123456789'

let sim: IpasisSimulator
beforeAll(async () => {
  sim = await startIpasisSimulator({ apiKey: KEY, profiles: { [TOR]: 'tor' } })
})
afterAll(async () => {
  await sim.close()
})
afterEach(() => {
  vi.restoreAllMocks()
})

// ---------------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------------

/** A pull reader: `collect()` returns what the instruments hold now. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** A resolver on the simulator with a recording logger, `onDegraded` and metrics. */
function watched(options: Partial<RiskResolverOptions> = {}) {
  const warnings: Array<{ obj: object; msg: string | undefined }> = []
  const logger: Logger = { info: () => undefined, warn: (obj, msg) => void warnings.push({ obj, msg }) }
  const hooked: DegradedEvent[] = []
  const reader = new TestReader()
  const risk = createRiskResolver({
    provider: ipasis({ apiKey: KEY, baseUrl: sim.url }),
    logger,
    onDegraded: (event) => void hooked.push(event),
    meterProvider: new MeterProvider({ readers: [reader] }),
    breaker: false,
    blocklist: false,
    ...options,
  })
  return {
    risk,
    hooked,
    /** The `degraded` log lines (objects). */
    degradedLines: () => warnings.filter((w) => (w.obj as { event?: string }).event === 'degraded'),
    /** `{ kind: count }` of `iprisk.degraded`. */
    async counter(): Promise<Record<string, number>> {
      const { resourceMetrics } = await reader.collect()
      const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
      const out: Record<string, number> = {}
      for (const p of all.find((m) => m.descriptor.name === 'iprisk.degraded')?.dataPoints ?? []) {
        out[String(p.attributes.kind)] = p.value as number
      }
      return out
    },
  }
}

/** A node:http app gated by `policies.admin`; `peerAddress` stands for a platform that hands the peer over. */
async function serveApp(risk: RiskResolver, peerAddress?: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const answer = await risk.fromRequest(req, peerAddress === undefined ? undefined : { peerAddress })
      const decision = risk.check(answer, policies.admin)
      risk.report(decision, { adapter: 'http', path: req.url ?? '/', request: req })
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ip: answer.ip, action: decision.action, reason: decision.reason }))
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function get(url: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve(JSON.parse(body)))
    })
    req.on('error', reject)
    req.end()
  })
}

// ---------------------------------------------------------------------------------------------------------------------
// (a) untrusted_proxy
// ---------------------------------------------------------------------------------------------------------------------

interface ProxyCase {
  name: string
  trustProxy: TrustProxy
  /** The peer as a platform hands it over; default: the socket (127.0.0.1). */
  peer?: string
  headers: Record<string, string>
  /** What the app sees. */
  seen: { ip: string; action: 'allow' | 'block'; reason: string }
  /** The warning, or `null` for none. */
  warning: { peer_kind: string; header: string } | null
}

const proxyCases: ProxyCase[] = [
  {
    name: "trustProxy: 'loopback' behind a cloud load balancer at 10.0.3.7 (the issue's case): the Tor client is seen as the LB",
    trustProxy: 'loopback',
    peer: '10.0.3.7',
    headers: { 'x-forwarded-for': TOR },
    seen: { ip: '10.0.3.7', action: 'allow', reason: 'non_global_ip' },
    warning: { peer_kind: 'private', header: 'x-forwarded-for' },
  },
  {
    name: "trustProxy: 'private' behind that load balancer: the client is read and blocked, no warning",
    trustProxy: 'private',
    peer: '10.0.3.7',
    headers: { 'x-forwarded-for': TOR },
    seen: { ip: TOR, action: 'block', reason: 'tor_exit_node' },
    warning: null,
  },
  {
    name: 'trustProxy set to a VPC range while the proxy is on this host (loopback)',
    trustProxy: '10.0.0.0/8',
    headers: { 'x-forwarded-for': TOR },
    seen: { ip: '127.0.0.1', action: 'allow', reason: 'non_global_ip' },
    warning: { peer_kind: 'loopback', header: 'x-forwarded-for' },
  },
  {
    name: "trustProxy: 'loopback' and the loopback proxy's X-Forwarded-For: trusted, no warning",
    trustProxy: 'loopback',
    headers: { 'x-forwarded-for': TOR },
    seen: { ip: TOR, action: 'block', reason: 'tor_exit_node' },
    warning: null,
  },
  {
    name: 'trustProxy off and a Forwarded header from the loopback proxy',
    trustProxy: false,
    headers: { forwarded: `for=${TOR}` },
    seen: { ip: '127.0.0.1', action: 'allow', reason: 'non_global_ip' },
    warning: { peer_kind: 'loopback', header: 'forwarded' },
  },
  {
    name: 'trustProxy off and X-Real-IP (nginx proxy_set_header X-Real-IP)',
    trustProxy: false,
    headers: { 'x-real-ip': TOR },
    seen: { ip: '127.0.0.1', action: 'allow', reason: 'non_global_ip' },
    warning: { peer_kind: 'loopback', header: 'x-real-ip' },
  },
  {
    name: "platforms.cloudflare() while the peer is a proxy on this host: CF-Connecting-IP arrives from loopback",
    trustProxy: platforms.cloudflare(),
    headers: { 'cf-connecting-ip': TOR },
    seen: { ip: '127.0.0.1', action: 'allow', reason: 'non_global_ip' },
    warning: { peer_kind: 'loopback', header: 'cf-connecting-ip' },
  },
  {
    name: 'platforms.cloudflare({ behind: "loopback" }) with the CF-Connecting-IP of a Cloudflare edge: trusted, no warning',
    trustProxy: platforms.cloudflare({ behind: 'loopback' }),
    headers: { 'cf-connecting-ip': TOR, 'x-forwarded-for': `${TOR}, 173.245.48.1` },
    seen: { ip: TOR, action: 'block', reason: 'tor_exit_node' },
    warning: null,
  },
  {
    name: 'a loopback peer without forwarding headers (local development): no warning',
    trustProxy: false,
    headers: {},
    seen: { ip: '127.0.0.1', action: 'allow', reason: 'non_global_ip' },
    warning: null,
  },
  {
    name: 'a global peer (a client reaching the app directly) forging X-Forwarded-For: no warning, the peer is scored',
    trustProxy: 'loopback',
    peer: '8.8.4.4',
    headers: { 'x-forwarded-for': '10.0.0.1' },
    seen: { ip: '8.8.4.4', action: 'allow', reason: 'clean' },
    warning: null,
  },
]

describe('untrusted_proxy: a local peer sends forwarding headers but is not trusted, whatever trustProxy is', () => {
  it.each(proxyCases)('$name', async ({ trustProxy, peer, headers, seen, warning }) => {
    sim.setProfile('8.8.4.4', 'clean')
    const w = watched({ trustProxy })
    const app = await serveApp(w.risk, peer)
    try {
      for (let i = 0; i < 3; i++) expect(await get(app.url, headers)).toStrictEqual(seen)
      await afterHooks()
      if (warning === null) {
        expect(w.degradedLines()).toStrictEqual([])
        expect(w.hooked).toStrictEqual([])
        expect(await w.counter()).toStrictEqual({})
        expect(w.risk.status().warnings).toStrictEqual([])
        return
      }
      // Three requests, one warning, on each channel.
      expect(w.hooked).toHaveLength(1)
      const event = w.hooked[0] as DegradedEvent
      expect(event).toStrictEqual({
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown as string,
        event: 'degraded',
        kind: 'untrusted_proxy',
        option: 'trustProxy',
        docs: 'docs/client-ip.md',
        message: `iprisk: protection degraded (untrusted_proxy): a request from a ${warning.peer_kind} peer carries \`${warning.header}\`, but the client IP was read from the socket (the peer is not a trusted proxy under \`trustProxy\`, or its header held no usable address): every client looks like the proxy, a non-global address that is never scored, so policies allow it. Fix: behind a platform use its preset (\`trustProxy: platforms.awsAlb({ vpc })\`, \`platforms.cloudflare()\`, \`platforms.fly()\`, ...); behind your own proxy or a load balancer in your network trust its address (\`trustProxy: 'loopback'\` on the same host, \`trustProxy: 'private'\` in a private network); see docs/client-ip.md`,
        peer_kind: warning.peer_kind,
        header: warning.header,
        adapter: null,
        share: null,
        sample: null,
        error: null,
      })
      expect(w.degradedLines()).toStrictEqual([{ obj: event, msg: event.message }])
      expect(await w.counter()).toStrictEqual({ untrusted_proxy: 1 })
      expect(w.risk.status().warnings).toStrictEqual(['untrusted_proxy'])
      // The header's value (the client's claim) is never in the warning.
      expect(JSON.stringify(event)).not.toContain(TOR)
    } finally {
      await app.close()
      await w.risk.close()
    }
  })

  it('a logger and an onDegraded hook that throw never break the request; the hook failure is counted', async () => {
    const reader = new TestReader()
    const risk = createRiskResolver({
      provider: ipasis({ apiKey: KEY, baseUrl: sim.url }),
      trustProxy: 'loopback',
      logger: {
        info: () => undefined,
        warn: () => {
          throw new Error('logger down')
        },
      },
      onDegraded: () => {
        throw new Error('hook down')
      },
      meterProvider: new MeterProvider({ readers: [reader] }),
    })
    const app = await serveApp(risk, '10.0.3.7')
    try {
      for (let i = 0; i < 2; i++) {
        expect(await get(app.url, { 'x-forwarded-for': TOR })).toStrictEqual({ ip: '10.0.3.7', action: 'allow', reason: 'non_global_ip' })
      }
      await afterHooks()
      const { resourceMetrics } = await reader.collect()
      const metrics = resourceMetrics.scopeMetrics.flatMap((m) => m.metrics)
      const points = (name: string) =>
        (metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []).map((p) => [p.attributes, p.value])
      expect(points('iprisk.hook.errors')).toStrictEqual([[{ hook: 'onDegraded' }, 1]])
      expect(points('iprisk.degraded')).toStrictEqual([[{ kind: 'untrusted_proxy' }, 1]])
    } finally {
      await app.close()
      await risk.close()
    }
  })

  it('without a logger the warning is one console.warn line, and nothing else is printed', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const risk = createRiskResolver({ provider: ipasis({ apiKey: KEY, baseUrl: sim.url }), trustProxy: 'loopback' })
    const app = await serveApp(risk, '10.0.3.7')
    try {
      for (let i = 0; i < 3; i++) await get(app.url, { 'x-forwarded-for': TOR })
      expect(warn).toHaveBeenCalledTimes(1)
      expect(warn.mock.calls[0]?.[0]).toMatch(/^iprisk: protection degraded \(untrusted_proxy\): a request from a private peer carries `x-forwarded-for`/)
      expect(log).not.toHaveBeenCalled()
    } finally {
      await app.close()
      await risk.close()
    }
  })

  it('a plain headers object with a mixed-case name (as the reader reads it, case-insensitively) is seen too', async () => {
    const w = watched({ trustProxy: 'loopback' })
    try {
      const req = { headers: { 'X-Forwarded-For': TOR }, socket: { remoteAddress: '10.0.3.7' } }
      expect(w.risk.clientIp(req).ip).toBe('10.0.3.7')
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.header])).toStrictEqual([['untrusted_proxy', 'x-forwarded-for']])
    } finally {
      await w.risk.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// (b) no_client_ip
// ---------------------------------------------------------------------------------------------------------------------

describe("no_client_ip: a gated call without a client IP (tRPC's fetch adapter without getClientIp)", () => {
  function router(risk: RiskResolver, options: Parameters<typeof createTrpcRisk>[1] = {}) {
    const t = initTRPC.context<any>().create()
    const { requireHuman } = createTrpcRisk(risk, options)
    return t.router({ whoami: t.procedure.use(requireHuman()).query(({ ctx }) => ({ ip: ctx.ipRisk.ip, error: ctx.ipRisk.error })) })
  }
  async function call(url: string, headers: Record<string, string> = {}): Promise<unknown> {
    const res = await fetch(`${url}/whoami`, { headers })
    return { status: res.status, body: ((await res.json()) as { result?: { data?: unknown } }).result?.data }
  }

  it('Next.js-style context ({ req } only): calls answer no_ip, and one warning names getClientIp and docs/trpc.md', async () => {
    const w = watched({ trustProxy: 'loopback' })
    const served = await serveFetch(router(w.risk), ({ req }) => ({ req }))
    try {
      // A client's X-Forwarded-For does not stand in for the missing peer (it would choose its own IP).
      for (const headers of [{}, { 'x-forwarded-for': TOR }, {}] as Array<Record<string, string>>) {
        expect(await call(served.url, headers)).toStrictEqual({ status: 200, body: { ip: null, error: 'no_ip' } })
      }
      await afterHooks()
      expect(w.hooked).toStrictEqual([
        {
          timestamp: expect.any(String) as unknown as string,
          event: 'degraded',
          kind: 'no_client_ip',
          option: 'getClientIp',
          docs: 'docs/trpc.md',
          message:
            "iprisk: protection degraded (no_client_ip): a gated trpc call had no client IP, so it was decided without a verdict (the policy's fail mode applies: allowed by default). Fix: pass `getClientIp` (or `getPeerAddress`) to createTrpcRisk: tRPC's fetch adapter (Next.js route handlers, Bun, Deno, Workers) has no socket, so the peer address must come from the platform (see docs/trpc.md)",
          peer_kind: null,
          header: null,
          adapter: 'trpc',
          share: null,
          sample: null,
          error: null,
        },
      ])
      expect(w.degradedLines()).toHaveLength(1)
      expect(await w.counter()).toStrictEqual({ no_client_ip: 1 })
      expect(w.risk.status().decisions).toMatchObject({ total: 3, withoutVerdict: 3, noIp: 3, failOpen: 3 })
    } finally {
      await served.close()
      await w.risk.close()
    }
  })

  it('with getClientIp (the platform hands the peer over) the same calls are scored, and nothing is warned', async () => {
    const w = watched({ trustProxy: 'loopback' })
    const served = await serveFetch(
      router(w.risk, { getClientIp: (ctx) => (ctx as { peer: string }).peer }),
      () => ({ peer: '8.8.4.4' }),
    )
    try {
      sim.setProfile('8.8.4.4', 'clean')
      expect(await call(served.url, { 'x-forwarded-for': TOR })).toStrictEqual({ status: 200, body: { ip: '8.8.4.4', error: null } })
      await afterHooks()
      expect(w.hooked).toStrictEqual([])
      expect(await w.counter()).toStrictEqual({})
    } finally {
      await served.close()
      await w.risk.close()
    }
  })

  it.each([
    ['graphql', 'getClientIp', 'docs/graphql.md'],
    ['http', 'peerAddress', 'docs/client-ip.md'],
  ])('the fix named for a %s call is `%s` (%s)', async (adapter, option, docs) => {
    const w = watched()
    try {
      w.risk.report(w.risk.check(await w.risk.lookup(null), policies.human), { adapter })
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.option, e.docs, e.adapter])).toStrictEqual([['no_client_ip', option, docs, adapter]])
    } finally {
      await w.risk.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// (c) no_verdict and (d) provider_failing, on an injected clock
// ---------------------------------------------------------------------------------------------------------------------

/** A resolver on a memory provider and a clock the test moves. */
function clocked(options: Partial<RiskResolverOptions> = {}, provider = createMemoryProvider(() => ({ score: 5 }))) {
  const clock = createTestClock(Date.UTC(2026, 11, 7, 12, 0, 0))
  const w = watched({ provider, clock, ...options })
  return {
    ...w,
    advance(ms: number) {
      clock.advance(ms)
    },
    /** Report `n` decisions on answers for `ip` (a local address: no verdict; a global one: scored). */
    async decide(ip: string | null, n: number): Promise<void> {
      const answer = await w.risk.lookup(ip)
      for (let i = 0; i < n; i++) w.risk.report(w.risk.check(answer, policies.human), { adapter: 'trpc', path: 'p' })
    },
  }
}

describe('no_verdict: more than half of at least 20 gated decisions over the last minute had no verdict', () => {
  it.each([
    { name: '19 decisions, all without a verdict (below the minimum sample)', noVerdict: 19, scored: 0, warned: false },
    { name: '10 of 20 without a verdict (exactly half)', noVerdict: 10, scored: 10, warned: false },
    { name: '11 of 20 without a verdict', noVerdict: 11, scored: 9, warned: true },
    { name: '20 of 20 without a verdict', noVerdict: 20, scored: 0, warned: true },
  ])('$name: warned $warned', async ({ noVerdict, scored, warned }) => {
    const c = clocked()
    try {
      await c.decide('8.8.8.8', scored)
      await c.decide('10.0.3.7', noVerdict)
      await afterHooks()
      expect(c.hooked.map((e) => e.kind)).toStrictEqual(warned ? ['no_verdict'] : [])
      expect(c.risk.status().protected).toBe(!warned)
    } finally {
      await c.risk.close()
    }
  })

  it.each([
    { name: '11 without a verdict, then 9 scored (the 20th decision has a verdict)', noVerdict: 11, scored: 9, warned: true },
    { name: '10 without a verdict, then 10 scored', noVerdict: 10, scored: 10, warned: false },
  ])('$name: warned $warned, whatever the order', async ({ noVerdict, scored, warned }) => {
    const c = clocked()
    try {
      await c.decide('10.0.3.7', noVerdict)
      await c.decide('8.8.8.8', scored)
      await afterHooks()
      expect(c.hooked.map((e) => e.kind)).toStrictEqual(warned ? ['no_verdict'] : [])
      expect(c.risk.status().protected).toBe(!warned)
    } finally {
      await c.risk.close()
    }
  })

  it('the warning gives the counts and the fix of the main cause; it is raised once per episode', async () => {
    const c = clocked()
    try {
      await c.decide('10.0.3.7', 25)
      await afterHooks()
      expect(c.hooked).toStrictEqual([
        {
          timestamp: '2026-12-07T12:00:00.000Z',
          event: 'degraded',
          kind: 'no_verdict',
          option: 'trustProxy',
          docs: 'docs/client-ip.md',
          message:
            "iprisk: protection degraded (no_verdict): over the last minute 20 of 20 gated decisions (100%) were made without a verdict (no client IP: 0, non-global IP: 20, unavailable or pending: 0); they were decided by the fail mode. Fix: most clients have a non-global address: behind a load balancer or proxy set `trustProxy` to its platform preset or its addresses (`'private'`, `'loopback'`); see docs/client-ip.md",
          peer_kind: null,
          header: null,
          adapter: null,
          share: 1,
          sample: 20,
          error: null,
        },
      ])
      // Still degraded a minute later: no second warning.
      c.advance(61_000)
      await c.decide('10.0.3.7', 25)
      await afterHooks()
      expect(c.hooked).toHaveLength(1)
      // Recovered (a full window of scored decisions), then degraded again: a second warning.
      c.advance(61_000)
      await c.decide('8.8.8.8', 20)
      expect(c.risk.status().protected).toBe(true)
      c.advance(61_000)
      await c.decide('10.0.3.7', 20)
      await afterHooks()
      expect(c.hooked.map((e) => e.kind)).toStrictEqual(['no_verdict', 'no_verdict'])
      expect(await c.counter()).toStrictEqual({ no_verdict: 2 })
    } finally {
      await c.risk.close()
    }
  })

  it('the window slides: decisions older than 60 s no longer count', async () => {
    const c = clocked()
    try {
      await c.decide('10.0.3.7', 15)
      c.advance(59_000)
      await c.decide('10.0.3.7', 4)
      expect(c.risk.status().decisions.total).toBe(19)
      c.advance(1_000) // the first 15 fall out of the window
      await c.decide('10.0.3.7', 5)
      await afterHooks()
      expect(c.risk.status().decisions.total).toBe(9)
      expect(c.hooked).toStrictEqual([])
    } finally {
      await c.risk.close()
    }
  })

  it('without an injected clock, a once-a-second timer moves the window; close() stops it (fake timers)', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    try {
      const w = watched({ provider: createMemoryProvider(() => ({ score: 5 })) })
      expect(vi.getTimerCount()).toBe(0) // no timer until the first decision (runtimes that refuse module-scope timers)
      const answer = await w.risk.lookup('10.0.3.7')
      for (let i = 0; i < 19; i++) w.risk.report(w.risk.check(answer, policies.human))
      expect(vi.getTimerCount()).toBe(1)
      vi.advanceTimersByTime(30_000)
      w.risk.report(w.risk.check(answer, policies.human)) // the 20th within the minute
      expect(w.risk.status().problems).toStrictEqual(['no_verdict'])
      vi.advanceTimersByTime(30_000) // the first 19 leave the window
      expect(w.risk.status().decisions.total).toBe(1)
      await w.risk.close()
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('decisions on listed IPs have a verdict', async () => {
    const c = clocked({ lists: { allow: ['10.0.0.0/8'] } })
    try {
      await c.decide('10.0.3.7', 30)
      await afterHooks()
      expect(c.hooked).toStrictEqual([])
      expect(c.risk.status().decisions).toMatchObject({ total: 30, withoutVerdict: 0 })
    } finally {
      await c.risk.close()
    }
  })
})

describe('provider_failing: every provider call of the last minute failed (at least 5)', () => {
  const failing = (kind: 'auth' | 'network' | 'timeout') =>
    createMemoryProvider(() => {
      throw new ProviderError(kind, `simulated ${kind}`)
    })

  it.each([
    ['auth', 'provider.apiKey', 'the provider rejects the API key: check `apiKey` (e.g. IPASIS_API_KEY) and its plan'],
    ['network', 'provider', 'the provider cannot be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall'],
    ['timeout', 'provider', 'the provider does not answer within `budget.timeoutMs`: check the network path, or raise the timeout'],
  ] as const)('%s: the fifth failed call raises one warning naming the error kind (option %s)', async (kind, option, hint) => {
    const c = clocked({}, failing(kind))
    try {
      for (let i = 1; i <= 4; i++) await c.risk.lookup(`8.8.8.${i}`)
      await afterHooks()
      expect(c.hooked).toStrictEqual([])
      for (let i = 5; i <= 9; i++) await c.risk.lookup(`8.8.8.${i}`)
      await afterHooks()
      expect(c.hooked).toStrictEqual([
        {
          timestamp: '2026-12-07T12:00:00.000Z',
          event: 'degraded',
          kind: 'provider_failing',
          option,
          docs: 'docs/resolver.md',
          message: `iprisk: protection degraded (provider_failing): all 5 calls to the provider \`memory\` over the last minute failed (last: ${kind}); every lookup falls back to the fail mode. Fix: ${hint}; \`await risk.ready()\` at start-up reports this before the first request`,
          peer_kind: null,
          header: null,
          adapter: null,
          share: null,
          sample: 5,
          error: kind,
        },
      ])
      expect(await c.counter()).toStrictEqual({ provider_failing: 1 })
      expect(c.risk.status()).toMatchObject({
        protected: false,
        problems: ['provider_failing'],
        provider: { calls: 9, failures: 9, lastError: { kind, at: '2026-12-07T12:00:00.000Z' } },
      })
    } finally {
      await c.risk.close()
    }
  })

  it('one successful call in the window: not all failing, no warning', async () => {
    let calls = 0
    const c = clocked(
      {},
      createMemoryProvider(() => {
        if (calls++ === 0) return { score: 5 }
        throw new ProviderError('network', 'simulated')
      }),
    )
    try {
      for (let i = 1; i <= 8; i++) await c.risk.lookup(`8.8.8.${i}`)
      await afterHooks()
      expect(c.hooked).toStrictEqual([])
      // Once the success is out of the window, the failures alone are the picture.
      c.advance(60_000)
      for (let i = 11; i <= 15; i++) await c.risk.lookup(`8.8.8.${i}`)
      await afterHooks()
      expect(c.hooked.map((e) => [e.kind, e.error])).toStrictEqual([['provider_failing', 'network']])
    } finally {
      await c.risk.close()
    }
  })

  it('against the simulator answering 401: the warning names auth and the key option, never the key', async () => {
    const w = watched({ provider: ipasis({ apiKey: 'wrong-key-abcdef', baseUrl: sim.url }) })
    try {
      for (let i = 1; i <= 5; i++) expect((await w.risk.lookup(`8.8.7.${i}`)).error).toBe('auth')
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.option, e.error])).toStrictEqual([['provider_failing', 'provider.apiKey', 'auth']])
      expect(JSON.stringify(w.hooked)).not.toContain('wrong-key-abcdef')
    } finally {
      await w.risk.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// risk.status()
// ---------------------------------------------------------------------------------------------------------------------

describe('risk.status(): a snapshot a readiness endpoint can serve', () => {
  it('counts the last minute of decisions by answer status, provider calls, breaker and L2 state', async () => {
    const c = clocked({ cache: { l2: new Keyv({ store: new LRUCache<string, object>({ max: 100 }) }) }, breaker: { failures: 5, halfOpenAfterMs: 30_000 } })
    try {
      expect(c.risk.status()).toStrictEqual({
        protected: true,
        problems: [],
        warnings: [],
        windowMs: 60_000,
        decisions: {
          total: 0,
          byStatus: { scored: 0, unavailable: 0, skipped: 0, pending: 0 },
          withoutVerdict: 0,
          noIp: 0,
          nonGlobal: 0,
          failOpen: 0,
        },
        provider: { name: 'memory', calls: 0, failures: 0, breaker: 'closed', lastError: null },
        l2: 'closed',
        at: '2026-12-07T12:00:00.000Z',
      })
      await c.decide('8.8.8.8', 3) // scored
      await c.decide('10.0.3.7', 2) // skipped (non-global)
      await c.decide(null, 1) // unavailable (no_ip)
      const pending = await c.risk.lookup('8.8.4.4', { wait: false })
      c.risk.report(c.risk.check(pending, policies.human))
      c.advance(5_000)
      expect(c.risk.status()).toStrictEqual({
        protected: true,
        problems: [],
        warnings: ['no_client_ip'],
        windowMs: 60_000,
        decisions: {
          total: 7,
          byStatus: { scored: 3, unavailable: 1, skipped: 2, pending: 1 },
          withoutVerdict: 4,
          noIp: 1,
          nonGlobal: 2,
          failOpen: 2,
        },
        provider: { name: 'memory', calls: 1, failures: 0, breaker: 'closed', lastError: null },
        l2: 'closed',
        at: '2026-12-07T12:00:05.000Z',
      })
      c.advance(60_000)
      expect(c.risk.status().decisions.total).toBe(0)
    } finally {
      await c.risk.close()
    }
  })

  it('shows the breaker open and the last provider error; protected is false once closed', async () => {
    const c = clocked(
      { breaker: { failures: 2, halfOpenAfterMs: 30_000 } },
      createMemoryProvider(() => {
        throw new ProviderError('network', 'simulated')
      }),
    )
    await c.risk.lookup('8.8.8.1')
    await c.risk.lookup('8.8.8.2')
    expect((await c.risk.lookup('8.8.8.3')).error).toBe('breaker_open')
    expect(c.risk.status()).toMatchObject({
      protected: true, // 2 calls: below the minimum of 5 for `provider_failing`
      provider: { calls: 2, failures: 2, breaker: 'open', lastError: { kind: 'network', at: '2026-12-07T12:00:00.000Z' } },
      l2: 'none',
    })
    await c.risk.close()
    expect(c.risk.status().protected).toBe(false)
  })

  it('serves a readiness endpoint: 200 while protected, 503 when not', async () => {
    const c = clocked()
    const server = createServer((_req, res) => {
      const s = c.risk.status()
      res.writeHead(s.protected ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(s))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/readyz`
    try {
      expect((await fetch(url)).status).toBe(200)
      await c.decide('10.0.3.7', 20)
      const res = await fetch(url)
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ protected: false, problems: ['no_verdict'] })
    } finally {
      server.close()
      server.closeAllConnections()
      await c.risk.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// risk.ready()
// ---------------------------------------------------------------------------------------------------------------------

describe('risk.ready(): a start-up probe of the provider', () => {
  function resolverOn(apiKey: string, baseUrl = sim.url) {
    return createRiskResolver({ provider: ipasis({ apiKey, baseUrl }), logger: { info() {}, warn() {} } })
  }

  it('a good key: resolves after one provider call, which is not cached', async () => {
    sim.reset()
    const risk = resolverOn(KEY)
    try {
      await expect(risk.ready()).resolves.toBeUndefined()
      expect(sim.callsFor('1.1.1.1')).toBe(1)
      expect(risk.peek('1.1.1.1')).toBeUndefined()
      expect(risk.status().provider).toMatchObject({ calls: 1, failures: 0 })
    } finally {
      await risk.close()
    }
  })

  it('a wrong key: rejects with kind auth, naming the key option, never the key', async () => {
    const risk = resolverOn('wrong-key-abcdef')
    try {
      const error = await risk.ready().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(IpRiskProbeError)
      expect(error).toMatchObject({
        name: 'IpRiskProbeError',
        kind: 'auth',
        status: 401,
        message:
          'iprisk: the provider `ipasis` failed the start-up probe (auth, HTTP 401): the provider rejected the API key (HTTP 401/403): check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
      })
      expect(String((error as Error).message)).not.toContain('wrong-key-abcdef')
      expect(risk.status().provider.lastError).toMatchObject({ kind: 'auth' })
    } finally {
      await risk.close()
    }
  })

  it('a closed port: rejects with kind network', async () => {
    const gone = await startIpasisSimulator({ apiKey: KEY })
    const url = gone.url
    await gone.close()
    const risk = resolverOn(KEY, url)
    try {
      await expect(risk.ready()).rejects.toMatchObject({
        kind: 'network',
        message:
          'iprisk: the provider `ipasis` failed the start-up probe (network): the provider could not be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall',
      })
    } finally {
      await risk.close()
    }
  })

  it('a provider that does not answer: rejects with kind timeout at the probe deadline', async () => {
    const slow = await startIpasisSimulator({ apiKey: KEY })
    slow.setFault('timeout')
    const risk = resolverOn(KEY, slow.url)
    try {
      await expect(risk.ready({ timeoutMs: 100 })).rejects.toMatchObject({ name: 'IpRiskProbeError', kind: 'timeout' })
    } finally {
      await risk.close()
      await slow.close()
    }
  })

  it('a provider that ignores its signal is still cut at the deadline (fake timers)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const risk = createRiskResolver({ provider: { name: 'deaf', lookup: () => new Promise(() => undefined) } })
      const outcome = risk.ready({ timeoutMs: 2_000 }).then(
        () => 'resolved',
        (e: unknown) => (e as IpRiskProbeError).kind,
      )
      await vi.advanceTimersByTimeAsync(2_000)
      expect(await outcome).toBe('timeout')
      await risk.close()
    } finally {
      vi.useRealTimers()
    }
  })

  it.each([
    ['wrong-schema', 'bad_response'],
    [503, 'http_error'],
  ] as const)('the simulator answering %s: rejects with kind %s', async (fault, kind) => {
    const faulty = await startIpasisSimulator({ apiKey: KEY })
    faulty.setFault(fault)
    const risk = resolverOn(KEY, faulty.url)
    try {
      await expect(risk.ready()).rejects.toMatchObject({ kind })
    } finally {
      await risk.close()
      await faulty.close()
    }
  })

  it('a provider breaking its contract: rejects with kind provider_error', async () => {
    const risk = createRiskResolver({ provider: { name: 'broken', lookup: () => undefined as never }, logger: { info() {}, warn() {} } })
    await expect(risk.ready()).rejects.toMatchObject({ kind: 'provider_error' })
    await risk.close()
  })

  it.each(['constructor', 'toString', 'no_such_kind'])(
    'a ProviderError of an unknown kind (%s, e.g. from a foreign copy): rejects with kind provider_error and its hint',
    async (kind) => {
      const foreign = Object.assign(new Error('foreign'), { name: 'ProviderError', kind })
      const risk = createRiskResolver({
        provider: { name: 'foreign', lookup: () => Promise.reject(foreign) },
        logger: { info() {}, warn() {} },
      })
      const error = (await risk.ready().catch((e: unknown) => e)) as { kind: string; message: string }
      expect(error.kind).toBe('provider_error')
      expect(error.message).toBe(
        "iprisk: the provider `foreign` failed the start-up probe (provider_error): the provider's lookup broke its contract (see the `provider` configuration warning)",
      )
      await risk.close()
    },
  )

  it.each([
    [{ timeoutMs: 0 }, 'ready.timeoutMs'],
    [{ timeoutMs: 1.5 }, 'ready.timeoutMs'],
    [{ ip: 'not-an-ip' }, 'ready.ip'],
  ])('bad options %j: rejects with IpRiskConfigError naming %s', async (options, option) => {
    const risk = resolverOn(KEY)
    try {
      const error = await risk.ready(options).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(IpRiskConfigError)
      expect(error).toMatchObject({ option })
    } finally {
      await risk.close()
    }
  })
})
