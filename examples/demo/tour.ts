/**
 * The demo's scripted tour: real HTTP requests, through the real clients, "from" clean, VPN, proxy, Tor, datacenter
 * and high-risk addresses (via `X-Forwarded-For`, which the servers trust from loopback only: this script plays the
 * reverse proxy), against public, protected, human-only and admin operations of both example APIs; then a burst of
 * concurrent requests from a never-seen address. Each step declares the decision it expects, so the tour doubles as
 * an end-to-end smoke test (`npm start -- --once`, and `test/demo.test.ts`).
 *
 * @module
 */
import { randomInt } from 'node:crypto'
import { TRPCClientError } from '@trpc/client'
import type { SecurityEvent } from '../../src/core/index.js'
import type { DecisionReason } from '../../src/core/types.js'
import { blockReason, createExampleClient, type ExampleClient } from '../trpc/client.js'
import { startDemoServers, type DemoAddresses, type DemoRole, type DemoServerOptions, type DemoServers } from './servers.js'

/** What a step expects. `reason: null` means no policy applies (a public operation: risk is only annotated). */
export interface Expectation {
  action: 'allow' | 'block'
  reason: DecisionReason | null
  /**
   * Whether the answer must come from the cache. Checked in simulator mode only, and `false` only when no shared
   * cache is configured (with `REDIS_URL`, an earlier run may have cached the address).
   */
  cached?: boolean
}

/** What a request got, as the client saw it. */
export interface CallOutcome {
  /** `allow`: data came back; `block`: iprisk refused it (403); `error`: anything else (a bug, a network failure). */
  outcome: 'allow' | 'block' | 'error'
  /** The reason the server exposed with a block (`error.data.ipRiskReason`, GraphQL `extensions.reason`). */
  blockReason: string | null
  /** For public operations that report what the server saw (`whoami`, `myRisk`). */
  seen?: { score: number | null; source: string; status: string }
  /** Error text, for `error`. */
  detail?: string
}

/** Everything a step can use. */
export interface StepContext {
  readonly servers: DemoServers
  /** A typed tRPC client per role (`X-Forwarded-For` set, no batching: one HTTP request per call). */
  trpc(role: DemoRole): ExampleClient
  /** POSTs a GraphQL operation as `role` with fetch. */
  graphql(role: DemoRole, query: string, variables?: Record<string, unknown>): Promise<CallOutcome>
  /** Per-request time limit for `fetch` / tRPC calls. */
  signal(): AbortSignal
}

/** One step of the tour. */
export interface TourStep {
  who: DemoRole
  api: 'tRPC' | 'GraphQL'
  /** Short label: the operation and the protection it has. */
  operation: string
  expect: Expectation
  /** Runs before the request and is not timed (e.g. waits for a background lookup to fill the cache). */
  before?(ctx: StepContext): Promise<void>
  call(ctx: StepContext): Promise<CallOutcome>
}

/** One line of the demo's table: a step, what happened, and whether it matched its expectation. */
export interface TourRow {
  step: number
  who: DemoRole
  /** The address played (`null` for `local`: the loopback peer itself). */
  ip: string | null
  api: TourStep['api']
  operation: string
  expected: Expectation
  /** `error` when the request failed for another reason than a policy. */
  decision: 'allow' | 'block' | 'error'
  /** The reason of the decisive security event; `null` when no policy ran. */
  reason: DecisionReason | null
  /** `pending` when a public operation did not wait for the lookup (it runs in the background). */
  status: string | null
  score: number | null
  /** The answer came from a cache (no upstream call for this request). `null` when unknown. */
  cached: boolean | null
  /** Round trip as the client measured it, in ms. */
  latencyMs: number
  /** The security events the request produced (usually one, none for a public operation). */
  events: SecurityEvent[]
  /** `true`/`false` in simulator mode; `null` in live mode (expectations are not checked). */
  matched: boolean | null
  /** Why the step did not match (or failed), for the report. */
  problem: string | null
}

/** The burst: many concurrent requests from one never-seen address. */
export interface BurstResult {
  ip: string
  requests: number
  allowed: number
  blocked: number
  failed: number
  /** Calls the simulator received for this address during the burst; `null` against the real service (not counted). */
  upstreamCalls: number | null
  elapsedMs: number
  matched: boolean | null
  problem: string | null
}

/** Result of {@link runTour}. */
export interface TourResult {
  mode: DemoServers['mode']
  /** Whether expectations were checked (simulator mode). */
  checked: boolean
  rows: TourRow[]
  burst: BurstResult | null
  /** Decision events of the tour steps, in order (the burst's are counted, not kept here). */
  events: SecurityEvent[]
  /** The JSON lines of those events, exactly as pino wrote them. */
  eventLines: string[]
  /** Other log lines (configuration warnings such as a rejected API key). */
  warnings: string[]
  /** Simulator mode: every step and the burst matched. Live mode: no request failed. */
  ok: boolean
}

/** Options of {@link runTour}. */
export interface TourOptions extends DemoServerOptions {
  /** Run against these (already started) servers and leave them running; otherwise start and close them. */
  servers?: DemoServers
  /** Requests of the burst (half tRPC, half GraphQL); 0 skips it. @default 200 */
  burst?: number
  /** Time limit of each request, in ms. @default 10_000 */
  requestTimeoutMs?: number
  /** The steps to play. @default tourSteps */
  steps?: readonly TourStep[]
}

// ---------------------------------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------------------------------

const USER_AGENT = 'iprisk-demo'

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ''
    return `${error.message}${cause}`
  }
  return String(error)
}

/** An allowed call; with what the server saw when the data is a risk report (`whoami`, `myRisk`). */
function allowed(data: unknown): CallOutcome {
  const risk = data as { score?: unknown; source?: unknown; status?: unknown } | null | undefined
  if (typeof risk === 'object' && risk !== null && typeof risk.source === 'string' && typeof risk.status === 'string') {
    const score = typeof risk.score === 'number' ? risk.score : null
    return { outcome: 'allow', blockReason: null, seen: { score, source: risk.source, status: risk.status } }
  }
  return { outcome: 'allow', blockReason: null }
}

/** Runs a tRPC call and classifies what came back. */
async function viaTrpc(call: () => Promise<unknown>): Promise<CallOutcome> {
  try {
    return allowed(await call())
  } catch (error) {
    if (error instanceof TRPCClientError && (error.data as { code?: unknown } | undefined)?.code === 'FORBIDDEN') {
      return { outcome: 'block', blockReason: blockReason(error) }
    }
    return { outcome: 'error', blockReason: null, detail: errorText(error) }
  }
}

interface GraphQLResponse {
  data?: Record<string, unknown> | null
  errors?: { message?: string; extensions?: { code?: string; reason?: string } }[]
}

async function viaGraphql(
  url: string,
  ip: string | null,
  query: string,
  variables: Record<string, unknown> | undefined,
  signal: AbortSignal,
): Promise<CallOutcome> {
  try {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': USER_AGENT }
    if (ip !== null) headers['x-forwarded-for'] = ip
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal })
    const body = (await response.json()) as GraphQLResponse
    const errors = body.errors ?? []
    const blocked = errors.find((e) => e.extensions?.code === 'IP_RISK_BLOCKED')
    if (blocked !== undefined) {
      if (response.status !== 403) {
        return { outcome: 'error', blockReason: null, detail: `blocked with HTTP ${String(response.status)}, not 403` }
      }
      return { outcome: 'block', blockReason: blocked.extensions?.reason ?? null }
    }
    if (errors.length > 0 || !response.ok) {
      return { outcome: 'error', blockReason: null, detail: `HTTP ${String(response.status)}: ${errors[0]?.message ?? ''}` }
    }
    return allowed(body.data?.myRisk)
  } catch (error) {
    return { outcome: 'error', blockReason: null, detail: errorText(error) }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------------------------------------

const allow = (reason: DecisionReason | null, cached?: boolean): Expectation =>
  cached === undefined ? { action: 'allow', reason } : { action: 'allow', reason, cached }
const block = (reason: DecisionReason, cached?: boolean): Expectation =>
  cached === undefined ? { action: 'block', reason } : { action: 'block', reason, cached }

const MY_RISK = '{ myRisk { ip status score source } }'

/**
 * Waits for the background lookup of `role`'s address to finish: `lookup` joins the flight already under way (one
 * flight per address: never a second upstream call) and answers at once when the address is cached or never looked up.
 */
async function backgroundLookupDone(ctx: StepContext, role: DemoRole): Promise<void> {
  await ctx.servers.risk.resolver.lookup(ctx.servers.addresses[role])
}

/**
 * The tour, in order. Simulator scores: clean 5, vpn 45, proxy 60, datacenter 55, tor 92, high-risk 97 (which the
 * automatic blocklist takes: score >= 95). The order matters for `cached`: an address's first request goes upstream,
 * every later one (on either API: one shared resolver) is a cache hit.
 *
 * tRPC policies: `orders` riskGate(70), `checkout` {threshold 70, no VPN / datacenter / Tor}, `signup`
 * requireHuman (Tor or score >= 80), `admin.*` policies.admin (Tor, VPN, datacenter > 40, score >= 60).
 * GraphQL: `signup` @requireHuman, `login` @requireLowRisk(75), `admin` @ipRisk(ADMIN).
 */
export const tourSteps: readonly TourStep[] = Object.freeze([
  // --- tRPC, typed @trpc/client ------------------------------------------------------------------------------------
  {
    who: 'clean', api: 'tRPC', operation: 'whoami (public)', expect: allow(null, false),
    call: (c) => viaTrpc(() => c.trpc('clean').whoami.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'clean', api: 'tRPC', operation: 'orders (score < 70)', expect: allow('clean', true),
    call: (c) => viaTrpc(() => c.trpc('clean').orders.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'vpn', api: 'tRPC', operation: 'signup (human only)', expect: allow('clean', false),
    call: (c) => viaTrpc(() => c.trpc('vpn').signup.mutate({ email: 'vpn-user@example.com' }, { signal: c.signal() })),
  },
  {
    who: 'vpn', api: 'tRPC', operation: 'checkout (no VPN/DC)', expect: block('vpn_detected', true),
    call: (c) => viaTrpc(() => c.trpc('vpn').checkout.mutate({ items: ['book'] }, { signal: c.signal() })),
  },
  {
    who: 'tor', api: 'tRPC', operation: 'orders (score < 70)', expect: block('risk_score_exceeded', false),
    call: (c) => viaTrpc(() => c.trpc('tor').orders.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'tor', api: 'tRPC', operation: 'signup (human only)', expect: block('tor_exit_node', true),
    call: (c) => viaTrpc(() => c.trpc('tor').signup.mutate({ email: 'bot@example.com' }, { signal: c.signal() })),
  },
  {
    who: 'proxy', api: 'tRPC', operation: 'admin.stats (admin)', expect: block('risk_score_exceeded', false),
    call: (c) => viaTrpc(() => c.trpc('proxy').admin.stats.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'datacenter', api: 'tRPC', operation: 'orders (score < 70)', expect: allow('clean', false),
    call: (c) => viaTrpc(() => c.trpc('datacenter').orders.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'datacenter', api: 'tRPC', operation: 'admin.stats (admin)', expect: block('datacenter_ip', true),
    call: (c) => viaTrpc(() => c.trpc('datacenter').admin.stats.query(undefined, { signal: c.signal() })),
  },
  {
    who: 'highRisk', api: 'tRPC', operation: 'orders (score < 70)', expect: block('blocklisted', false),
    call: (c) => viaTrpc(() => c.trpc('highRisk').orders.query(undefined, { signal: c.signal() })),
  },
  {
    // No forwarding header: the client is the loopback peer itself, which is never sent to the provider.
    who: 'local', api: 'tRPC', operation: 'admin.stats (admin)', expect: allow('non_global_ip'),
    call: (c) => viaTrpc(() => c.trpc('local').admin.stats.query(undefined, { signal: c.signal() })),
  },
  // --- GraphQL (Yoga), plain fetch POST; same resolver, same cache --------------------------------------------------
  {
    who: 'clean', api: 'GraphQL', operation: 'myRisk (public)', expect: allow(null, true),
    call: (c) => c.graphql('clean', MY_RISK),
  },
  {
    who: 'tor', api: 'GraphQL', operation: 'signup @requireHuman', expect: block('tor_exit_node', true),
    call: (c) => c.graphql('tor', 'mutation($e: String!) { signup(email: $e) { id } }', { e: 'bot@example.com' }),
  },
  {
    who: 'vpn', api: 'GraphQL', operation: 'admin @ipRisk(ADMIN)', expect: block('vpn_detected', true),
    call: (c) => c.graphql('vpn', '{ admin { users { email } } }'),
  },
  {
    who: 'proxy', api: 'GraphQL', operation: 'login @requireLowRisk', expect: allow('clean', true),
    call: (c) =>
      c.graphql('proxy', 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }', {
        e: 'ada@example.com',
        p: 'correct horse',
      }),
  },
  {
    who: 'highRisk', api: 'GraphQL', operation: 'login @requireLowRisk', expect: block('blocklisted', true),
    call: (c) =>
      c.graphql('highRisk', 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }', {
        e: 'ada@example.com',
        p: 'hunter2',
      }),
  },
  {
    // A public operation never waits: the first request from an address is answered at once (`pending`) while the
    // lookup fills the cache in the background (the guide's async scoring, without Celery).
    who: 'visitor', api: 'GraphQL', operation: 'myRisk (public)', expect: allow(null, false),
    call: (c) => c.graphql('visitor', MY_RISK),
  },
  {
    who: 'visitor', api: 'GraphQL', operation: 'myRisk (public)', expect: allow(null, true),
    before: (c) => backgroundLookupDone(c, 'visitor'),
    call: (c) => c.graphql('visitor', MY_RISK),
  },
] satisfies TourStep[])

// ---------------------------------------------------------------------------------------------------------------------
// Running it
// ---------------------------------------------------------------------------------------------------------------------

/** The event that explains a request: its first block, else its last decision. */
function decisiveEvent(events: readonly SecurityEvent[]): SecurityEvent | null {
  return events.find((e) => e.action === 'block') ?? events.at(-1) ?? null
}

const CACHED_SOURCES = new Set(['l1', 'l2', 'stale'])

/** Whether the answer came from a cache; `null` when no lookup was meaningful (a loopback or private address). */
function cachedOf(event: SecurityEvent | null, outcome: CallOutcome): boolean | null {
  if (event !== null) return event.status === 'skipped' ? null : event.cached
  if (outcome.seen === undefined || outcome.seen.status === 'skipped') return null
  return CACHED_SOURCES.has(outcome.seen.source)
}

/** Compares a row with its expectation; returns what differs, or `null`. */
function mismatch(row: TourRow, outcome: CallOutcome, sharedCache: boolean): string | null {
  const exp = row.expected
  if (row.decision === 'error') return `request failed: ${outcome.detail ?? 'unknown error'}`
  if (row.decision !== exp.action) return `expected ${exp.action}, got ${row.decision}`
  if (row.reason !== exp.reason) {
    return `expected reason ${exp.reason ?? '(no policy)'}, got ${row.reason ?? '(no policy)'}`
  }
  if (row.decision === 'block' && outcome.blockReason !== row.reason) {
    return `the response says ${outcome.blockReason ?? 'nothing'}, the security event says ${String(row.reason)}`
  }
  const event = decisiveEvent(row.events)
  if (event !== null && event.action !== row.decision) {
    return `the security event says ${event.action}, the client got ${row.decision}`
  }
  if (exp.cached !== undefined && (exp.cached || !sharedCache) && row.cached !== exp.cached) {
    return `expected ${exp.cached ? 'a cache hit' : 'an upstream lookup'}, got ${row.cached ? 'a cache hit' : 'an upstream lookup'}`
  }
  return null
}

/** A random address in 2001:db8::/32 (documentation), so the burst's address is new even to a shared cache. */
function freshBurstAddress(): string {
  const group = () => randomInt(0x1000, 0x10000).toString(16)
  return `2001:db8:${group()}:${group()}::${group()}`
}

async function runBurst(ctx: StepContext, size: number): Promise<BurstResult> {
  const servers = ctx.servers
  const ip = freshBurstAddress()
  const sim = servers.risk.simulator
  const callsBefore = sim?.callsFor(ip) ?? 0
  const trpc = createExampleClient(servers.trpcUrl, { forwardedFor: ip, batch: false, userAgent: USER_AGENT })
  const login = 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }'
  const started = performance.now()
  const outcomes = await Promise.all(
    Array.from({ length: size }, (_, i) =>
      i % 2 === 0
        ? viaTrpc(() => trpc.orders.query(undefined, { signal: ctx.signal() }))
        : viaGraphql(servers.graphqlUrl, ip, login, { e: 'ada@example.com', p: 'pw' }, ctx.signal()),
    ),
  )
  const elapsedMs = performance.now() - started
  const count = (o: CallOutcome['outcome']) => outcomes.filter((x) => x.outcome === o).length
  const upstreamCalls = sim === null ? null : sim.callsFor(ip) - callsBefore
  const result: BurstResult = {
    ip,
    requests: size,
    allowed: count('allow'),
    blocked: count('block'),
    failed: count('error'),
    upstreamCalls,
    elapsedMs,
    matched: null,
    problem: null,
  }
  const firstError = outcomes.find((o) => o.outcome === 'error')
  if (firstError !== undefined) result.problem = `${String(result.failed)} requests failed: ${firstError.detail ?? ''}`
  if (servers.mode === 'simulator') {
    if (result.problem === null && result.allowed !== size) {
      result.problem = `expected ${String(size)} allowed, got ${String(result.allowed)}`
    }
    if (result.problem === null && upstreamCalls !== 1) {
      result.problem = `expected 1 upstream call for ${String(size)} concurrent requests, got ${String(upstreamCalls)}`
    }
    result.matched = result.problem === null
  }
  return result
}

/**
 * Plays the tour (and the burst) over real HTTP and returns one row per step. Without `servers`, starts the demo
 * servers (per `env`) and closes them at the end. Never throws for a failed request: it becomes a row with
 * `decision: 'error'` and `ok: false`.
 *
 * @example
 * ```ts
 * const result = await runTour({ env: {}, burst: 50 })
 * result.ok                                           // true: every step got its expected decision
 * result.rows.map((r) => `${r.who} ${r.operation} ${r.decision} ${r.reason}`)
 * ```
 */
export async function runTour(options: TourOptions = {}): Promise<TourResult> {
  const own = options.servers === undefined
  const servers = options.servers ?? (await startDemoServers(options))
  try {
    return await play(servers, options)
  } finally {
    if (own) await servers.close()
  }
}

async function play(servers: DemoServers, options: TourOptions): Promise<TourResult> {
  const timeoutMs = options.requestTimeoutMs ?? 10_000
  const steps = options.steps ?? tourSteps
  const addresses: DemoAddresses = servers.addresses
  const clients = new Map<DemoRole, ExampleClient>()
  const ctx: StepContext = {
    servers,
    trpc(role) {
      let client = clients.get(role)
      if (client === undefined) {
        const ip = addresses[role]
        client = createExampleClient(servers.trpcUrl, {
          ...(ip === null ? {} : { forwardedFor: ip }),
          userAgent: USER_AGENT,
          batch: false,
        })
        clients.set(role, client)
      }
      return client
    },
    graphql: (role, query, variables) =>
      viaGraphql(servers.graphqlUrl, addresses[role], query, variables, AbortSignal.timeout(timeoutMs)),
    signal: () => AbortSignal.timeout(timeoutMs),
  }

  const checked = servers.mode === 'simulator'
  const firstEntry = servers.log.entries.length
  const rows: TourRow[] = []
  const eventLines: string[] = []
  const events: SecurityEvent[] = []

  for (const [index, step] of steps.entries()) {
    await step.before?.(ctx)
    const mark = servers.log.entries.length
    const started = performance.now()
    const outcome = await step.call(ctx)
    const latencyMs = performance.now() - started
    // The logger is called inline by the server before it answers: the step's events are all in the log now.
    const ip = addresses[step.who]
    const stepEntries = servers.log.entries.slice(mark).filter((e) => e.event !== null && (ip === null || e.event.ip === ip))
    const stepEvents = stepEntries.map((e) => e.event as SecurityEvent)
    const event = decisiveEvent(stepEvents)
    const row: TourRow = {
      step: index + 1,
      who: step.who,
      ip,
      api: step.api,
      operation: step.operation,
      expected: step.expect,
      decision: outcome.outcome,
      reason: event?.reason ?? null,
      status: event?.status ?? outcome.seen?.status ?? null,
      score: event !== null ? event.risk_score : (outcome.seen?.score ?? null),
      cached: cachedOf(event, outcome),
      latencyMs,
      events: stepEvents,
      matched: null,
      problem: null,
    }
    const problem = mismatch(row, outcome, servers.sharedCache)
    if (checked) {
      row.matched = problem === null
      row.problem = problem
    } else if (row.decision === 'error') {
      row.problem = problem
    }
    rows.push(row)
    events.push(...stepEvents)
    eventLines.push(...stepEntries.map((e) => e.line))
  }

  const size = options.burst ?? 200
  const burst = size > 0 ? await runBurst(ctx, size) : null
  const warnings = servers.log.entries
    .slice(firstEntry)
    .filter((e) => e.event === null)
    .map((e) => e.msg)

  const failed = rows.some((r) => r.decision === 'error') || (burst !== null && burst.failed > 0)
  const ok = checked ? rows.every((r) => r.matched === true) && (burst === null || burst.matched === true) : !failed
  return { mode: servers.mode, checked, rows, burst, events, eventLines, warnings, ok }
}
