/**
 * The system under test, assembled as an application would: the local IPASIS simulator, the real `ipasis()` provider
 * (wrapped in a spy that only observes), a resolver, and the example tRPC and Yoga servers on real sockets. Plus a raw
 * HTTP client (undici, optionally bound to a chosen local address) that records every response as evidence.
 */
import { performance } from 'node:perf_hooks'
import { Agent, type Dispatcher } from 'undici'
import {
  createRiskResolver,
  ipasis,
  type IpasisOptions,
  type Provider,
  type RiskData,
  type RiskResolver,
  type RiskResolverOptions,
  type SecurityEvent,
} from '../../../src/core/index.js'
import { systemClock, type Clock } from '../../../src/core/clock.js'
import { startIpasisSimulator, type IpasisSimulator, type IpasisSimulatorOptions } from '../../../src/testing/index.js'
import { startYogaExample, type RunningYogaExample } from '../../../examples/graphql/server.js'
import { startTrpcExample, type TrpcExample } from '../../../examples/trpc/server.js'
import { SECRET_API_KEY, type Evidence } from './evidence.js'

// ---------------------------------------------------------------------------------------------------------------------
// Spy provider
// ---------------------------------------------------------------------------------------------------------------------

/** What the spy saw: every IP the resolver asked about, errors, and concurrency. */
export interface ProviderSpy extends Provider {
  /** Every IP passed to `lookup`, in call order. */
  readonly ips: string[]
  /** Most lookups in flight at once, overall and for a single IP. */
  readonly maxInFlight: number
  readonly maxInFlightPerIp: number
  readonly inFlight: number
  /** Outcome counts. */
  readonly ok: number
  readonly failed: number
  /** The last 2 000 calls: start (epoch ms), duration and outcome (`ok` or the error kind), for diagnostics. */
  readonly recent: readonly { at: number; ms: number; outcome: string }[]
  reset(): void
}

/**
 * Wrap a provider, observing only: every call goes through unchanged. Errors are added to the evidence.
 * `recordIps: false` keeps `ips` empty (a long soak measures the heap).
 */
export function spyProvider(inner: Provider, evidence?: Evidence, recordIps = true): ProviderSpy {
  const ips: string[] = []
  const perIp = new Map<string, number>()
  let inFlight = 0
  let maxInFlight = 0
  let maxInFlightPerIp = 0
  let ok = 0
  let failed = 0
  const recent: { at: number; ms: number; outcome: string }[] = []
  const note = (at: number, t0: number, outcome: string): void => {
    recent.push({ at, ms: Math.round(performance.now() - t0), outcome })
    if (recent.length > 2_000) recent.splice(0, recent.length - 2_000)
  }
  const spy: ProviderSpy = {
    get recent() {
      return recent
    },
    name: inner.name,
    get ips() {
      return ips
    },
    get maxInFlight() {
      return maxInFlight
    },
    get maxInFlightPerIp() {
      return maxInFlightPerIp
    },
    get inFlight() {
      return inFlight
    },
    get ok() {
      return ok
    },
    get failed() {
      return failed
    },
    reset() {
      ips.length = 0
      maxInFlight = inFlight
      maxInFlightPerIp = 0
      ok = 0
      failed = 0
    },
    async lookup(ip: string, signal: AbortSignal): Promise<RiskData> {
      if (recordIps) ips.push(ip)
      const at = Date.now()
      const t0 = performance.now()
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      const n = (perIp.get(ip) ?? 0) + 1
      perIp.set(ip, n)
      maxInFlightPerIp = Math.max(maxInFlightPerIp, n)
      try {
        const data = await inner.lookup(ip, signal)
        ok++
        note(at, t0, 'ok')
        return data
      } catch (error) {
        failed++
        note(at, t0, String((error as { kind?: unknown }).kind ?? (error as Error).name))
        evidence?.error(`provider.lookup(${ip})`, error)
        throw error
      } finally {
        inFlight--
        const left = (perIp.get(ip) ?? 1) - 1
        if (left === 0) perIp.delete(ip)
        else perIp.set(ip, left)
      }
    },
    close: () => inner.close?.() ?? Promise.resolve(),
  }
  return spy
}

// ---------------------------------------------------------------------------------------------------------------------
// Stack
// ---------------------------------------------------------------------------------------------------------------------

/** A resolver and both example servers on it. */
export interface Stack {
  resolver: RiskResolver
  provider: ProviderSpy
  trpc: TrpcExample
  yoga: RunningYogaExample
  /** Security events of this resolver (also in the evidence). */
  events: SecurityEvent[]
  /** Closes the servers, then the resolver (which closes the provider). */
  close(): Promise<void>
}

export interface StackOptions {
  /** Simulator to score with (its `url`). */
  simUrl: string
  evidence: Evidence
  /** Resolver options (provider and observability are set here). */
  resolver?: Partial<Omit<RiskResolverOptions, 'provider'>>
  /** `ipasis()` options besides `apiKey` / `baseUrl`. */
  ipasis?: Partial<Omit<IpasisOptions, 'apiKey' | 'baseUrl'>>
  /**
   * Keep every security event in `Stack.events` and every IP the provider was asked about in `provider.ips`
   * (default `true`; the soak turns it off to keep its heap flat).
   */
  keepEvents?: boolean
  /** Called with every security event (after it is recorded). */
  onEvent?: (event: SecurityEvent) => void
}

/** Default resolver settings of the suites: XFF trusted from loopback (so a local test client can play any IP). */
export const baseResolverOptions = {
  trustProxy: 'loopback',
  scoreDocumentationRanges: true,
} as const satisfies Partial<RiskResolverOptions>

/** Start a resolver (real `ipasis()` on the simulator, spied) and both example servers. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const { evidence } = options
  const provider = spyProvider(
    ipasis({ apiKey: SECRET_API_KEY, baseUrl: options.simUrl, timeoutMs: 5_000, ...options.ipasis }),
    evidence,
    options.keepEvents !== false,
  )
  const events: SecurityEvent[] = []
  const resolver = createRiskResolver({
    ...baseResolverOptions,
    ...options.resolver,
    provider,
    logger: evidence.logger,
    onDecision: (event) => {
      if (options.keepEvents !== false) events.push(event)
      options.onEvent?.(event)
      return evidence.onDecision(event)
    },
    onBlock: evidence.onBlock,
    onHighRisk: evidence.onHighRisk,
  })
  const trpc = await startTrpcExample({ resolver })
  const yoga = await startYogaExample({ resolver })
  return {
    resolver,
    provider,
    trpc,
    yoga,
    events,
    async close() {
      await Promise.all([trpc.close(), yoga.close()])
      await resolver.close()
    },
  }
}

/** Start the simulator with the suites' secret key. */
export function startSimulator(options: Omit<IpasisSimulatorOptions, 'apiKey'> = {}): Promise<IpasisSimulator> {
  return startIpasisSimulator({ ...options, apiKey: SECRET_API_KEY })
}

// ---------------------------------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------------------------------

/** One HTTP exchange as the client saw it. */
export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: unknown
  /** Wall time from sending to the end of the body. */
  ms: number
}

/** What the example servers answered, reduced to what the suites assert on. */
export interface Outcome {
  /** `ok`: the operation ran; `blocked`: iprisk refused it (403); `error`: anything else (must never happen). */
  kind: 'ok' | 'blocked' | 'error'
  /** The block reason the example exposes (`ipRiskReason` / `extensions.reason`). */
  reason: string | null
  reply: Reply
}

export interface HttpClient {
  /** A tRPC call (query: GET with `?input=`, mutation: POST) to the example server at `base`. */
  trpc(base: string, path: string, options?: CallOptions & { type?: 'query' | 'mutation'; input?: unknown }): Promise<Outcome>
  /** A GraphQL operation (POST) to the example Yoga endpoint `url`. */
  graphql(url: string, query: string, options?: CallOptions): Promise<Outcome>
  /** A raw request. */
  raw(url: string, options?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply>
  close(): Promise<void>
}

export interface CallOptions {
  /** Sent as `X-Forwarded-For` (the servers trust it from loopback peers in most suites). */
  xff?: string
  headers?: Record<string, string>
}

/**
 * A raw HTTP client recording every reply (status, headers, body) as evidence.
 *
 * @param localAddress Bind outgoing connections to this address (e.g. `127.0.0.2`: Linux routes all of 127/8 to lo).
 */
export function createHttpClient(evidence: Evidence, localAddress?: string): HttpClient {
  const agent = new Agent({
    keepAliveTimeout: 2_000,
    connections: 64,
    ...(localAddress === undefined ? {} : { localAddress }),
  })
  async function raw(
    url: string,
    options: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Reply> {
    const t0 = performance.now()
    const target = new URL(url)
    const res = await agent.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method: (options.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: options.headers ?? {},
      body: options.body ?? null,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
    const text = await res.body.text()
    const ms = performance.now() - t0
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    evidence.add('response', `${options.method ?? 'GET'} ${target.pathname}`, `${res.statusCode} ${JSON.stringify(res.headers)} ${text}`)
    return { status: res.statusCode, headers: res.headers, text, json, ms }
  }
  const headersOf = (o: CallOptions = {}): Record<string, string> => ({
    ...(o.xff === undefined ? {} : { 'x-forwarded-for': o.xff }),
    ...o.headers,
  })
  return {
    raw,
    async trpc(base, path, options = {}) {
      const type = options.type ?? 'query'
      const headers = headersOf(options)
      let reply: Reply
      if (type === 'query') {
        const q = options.input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(options.input))}`
        reply = await raw(`${base}/${path}${q}`, { headers })
      } else {
        reply = await raw(`${base}/${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(options.input ?? null),
        })
      }
      const error = (reply.json as { error?: { data?: { ipRiskReason?: unknown; code?: unknown } } } | undefined)?.error
      if (reply.status === 200) return { kind: 'ok', reason: null, reply }
      if (reply.status === 403 && error?.data?.code === 'FORBIDDEN') {
        const reason = typeof error.data.ipRiskReason === 'string' ? error.data.ipRiskReason : null
        return { kind: 'blocked', reason, reply }
      }
      return { kind: 'error', reason: null, reply }
    },
    async graphql(url, query, options = {}) {
      const reply = await raw(url, {
        method: 'POST',
        headers: { ...headersOf(options), 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query }),
      })
      const body = reply.json as
        | { data?: unknown; errors?: { extensions?: { code?: unknown; reason?: unknown } }[] }
        | undefined
      const errors = body?.errors ?? []
      if (reply.status === 200 && errors.length === 0 && body?.data !== undefined) return { kind: 'ok', reason: null, reply }
      const blocked = errors.find((e) => e.extensions?.code === 'IP_RISK_BLOCKED')
      if (reply.status === 403 && blocked !== undefined) {
        return { kind: 'blocked', reason: typeof blocked.extensions?.reason === 'string' ? blocked.extensions.reason : null, reply }
      }
      return { kind: 'error', reason: null, reply }
    },
    close: () => agent.close(),
  }
}

/** Wait until pending `setImmediate` hooks (security events are delivered there) have run. */
export function flushHooks(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}

/** A {@link Clock} whose wall time moves only by {@link WallClock.advance}; see {@link manualWallClock}. */
export interface WallClock extends Clock {
  /** Move wall time forward by `ms` (the breaker's wait, Retry-After, TTLs and the per-minute budget read it). */
  advance(ms: number): void
}

/**
 * Real timers and monotonic time (so deadlines and sockets keep real time, as these suites need over real HTTP), but
 * a wall clock that stands still until the test moves it: a time window (breaker, Retry-After) neither passes early on
 * a loaded machine nor needs a sleep to pass.
 */
export function manualWallClock(startEpochMs = Date.UTC(2026, 0, 1)): WallClock {
  let wall = startEpochMs
  return {
    ...systemClock,
    now: () => wall,
    advance(ms: number): void {
      wall += ms
    },
  }
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Poll `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await sleep(intervalMs)
  }
}

/** Run `fn` over `items` with at most `concurrency` at once; results in input order. */
export async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (;;) {
      const i = next++
      if (i >= items.length) return
      results[i] = await fn(items[i] as T, i)
    }
  })
  await Promise.all(workers)
  return results
}

/** The n-th address of a documentation range (scored only with `scoreDocumentationRanges`). 0 ≤ n < 3 × 254. */
export function docIp(n: number): string {
  const nets = ['192.0.2', '198.51.100', '203.0.113']
  return `${nets[Math.floor(n / 254) % 3] ?? '192.0.2'}.${(n % 254) + 1}`
}

/** A distinct global IPv4 address per `n` (0 ≤ n < 2^24), in 11.0.0.0/8 (US DoD space, globally routed, never local). */
export function globalIp(n: number): string {
  return `11.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}
