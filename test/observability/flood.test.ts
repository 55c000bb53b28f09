/**
 * One request cannot flood the security log (issue #15, item 10), over real HTTP through the example servers: a tRPC
 * batch of 1,000 blocked calls from one Tor client is one log line and one `onBlock` call carrying `count: 1000`,
 * while the `iprisk.decisions` metric counts the 1,000 calls; a Yoga batch likewise; distinct policies and outcomes in
 * one request each get their event; and a client blocked again and again, request after request, is written to the
 * log at most `DECISION_LOG_BURST` times per `DECISION_LOG_INTERVAL_MS` for each (IP, adapter, path, policy, outcome),
 * the next window's first line carrying how many decisions were `suppressed` (time is the injected test clock; the servers'
 * timers run for real).
 */
import { AggregationTemporality, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { metricNames, type RiskResolverOptions, type SecurityEvent } from '../../src/core/index.js'
import { DECISION_LOG_BURST, DECISION_LOG_INTERVAL_MS } from '../../src/core/events.js'
import { createTestClock, type IpasisSimulator } from '../../src/testing/index.js'
import {
  LONG_UA,
  afterHooks,
  freshIp,
  memoryPino,
  operations,
  recordingHooks,
  resolverFor,
  startSimulator,
  startStack,
  type Caller,
  type Served,
  type Stack,
} from './helpers.js'

/** A pull reader: `collect()` returns what the instruments hold now (cumulative). */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }

  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** `{ 'action=…,reason=…': count }` of `iprisk.decisions`. */
async function decisionCounts(reader: TestReader): Promise<Record<string, number>> {
  const { resourceMetrics, errors } = await reader.collect()
  expect(errors).toStrictEqual([])
  const all: MetricData[] = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'iprisk').flatMap((s) => s.metrics)
  const out: Record<string, number> = {}
  for (const point of all.find((m) => m.descriptor.name === metricNames.decisions)?.dataPoints ?? []) {
    out[`action=${String(point.attributes.action)},reason=${String(point.attributes.reason)}`] = point.value as number
  }
  return out
}

interface Harness {
  stack: Stack
  pino: ReturnType<typeof memoryPino>
  received: ReturnType<typeof recordingHooks>['received']
  reader: TestReader
  /** The `iprisk decision` lines, parsed. */
  decisionLines(): Record<string, unknown>[]
}

let sim: IpasisSimulator
const stacks: Stack[] = []

beforeAll(async () => {
  sim = await startSimulator()
})
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})
afterAll(async () => {
  await sim.close()
})

/** The example servers (tRPC and Yoga) on one resolver with a real pino logger, every hook and a metrics reader. */
async function harness(options: Partial<RiskResolverOptions> = {}): Promise<Harness> {
  const pino = memoryPino()
  const { hooks, received } = recordingHooks()
  const reader = new TestReader()
  const stack = await startStack(
    resolverFor(sim, { logger: pino.logger, ...hooks, meterProvider: new MeterProvider({ readers: [reader] }), ...options }),
  )
  stacks.push(stack)
  return {
    stack,
    pino,
    received,
    reader,
    decisionLines: () => pino.lines().filter((line) => line.msg === 'iprisk decision'),
  }
}

interface BatchReply {
  status: number
  results: unknown[]
}

async function sendBatch(url: string, init: RequestInit, caller: Caller): Promise<BatchReply> {
  const res = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', 'x-forwarded-for': caller.ip, 'user-agent': caller.ua },
  })
  const json = (await res.json()) as unknown
  expect(Array.isArray(json)).toBe(true)
  return { status: res.status, results: json as unknown[] }
}

/** A tRPC batch of mutations (POST `/a,b,…?batch=1`, inputs keyed by index), as `httpBatchLink` sends it. */
function trpcMutationBatch(
  server: Served,
  calls: readonly (readonly [path: string, input: unknown])[],
  caller: Caller,
): Promise<BatchReply> {
  const body = Object.fromEntries(calls.map(([, input], i) => [String(i), input]))
  const paths = calls.map(([path]) => path).join(',')
  return sendBatch(`${server.url}/${paths}?batch=1`, { method: 'POST', body: JSON.stringify(body) }, caller)
}

/** A tRPC batch of queries without input (GET `/a,b,…?batch=1`). */
function trpcQueryBatch(server: Served, paths: readonly string[], caller: Caller): Promise<BatchReply> {
  return sendBatch(`${server.url}/${paths.join(',')}?batch=1`, { method: 'GET' }, caller)
}

/** A Yoga batch: a JSON array of operations in one POST. */
function graphqlBatch(server: Served, operationsList: readonly object[], caller: Caller): Promise<BatchReply> {
  return sendBatch(server.url, { method: 'POST', body: JSON.stringify(operationsList) }, caller)
}

/** What the client sees of each call of a tRPC batch: `ok`, or the error code and the exposed reason. */
function trpcOutcomes(reply: BatchReply): string[] {
  return reply.results.map((result) => {
    const r = result as { result?: unknown; error?: { data?: { code?: string; ipRiskReason?: string } } }
    return r.error === undefined ? 'ok' : `${String(r.error.data?.code)} ${String(r.error.data?.ipRiskReason)}`
  })
}

/** What the client sees of each operation of a Yoga batch: `ok`, or the error codes. */
function graphqlOutcomes(reply: BatchReply): string[] {
  return reply.results.map((result) => {
    const r = result as { errors?: { extensions?: { code?: string; reason?: string } }[] }
    return r.errors === undefined ? 'ok' : r.errors.map((e) => `${String(e.extensions?.code)} ${String(e.extensions?.reason)}`).join(';')
  })
}

/** The fields that tell events apart, plus the count (and `suppressed` on log lines, when present). */
function summary(event: Record<string, unknown> | SecurityEvent): Record<string, unknown> {
  const e = event as Record<string, unknown>
  const out: Record<string, unknown> = { action: e.action, reason: e.reason, policy: e.policy, ip: e.ip, path: e.path, count: e.count }
  if ('suppressed' in e) out.suppressed = e.suppressed
  return out
}

describe('one request, one event per policy and outcome (the issue: a tRPC batch of 1,000 blocked calls)', () => {
  it('a Tor client batching 1,000 signups: 1,000 calls refused, one log line and one onBlock call with count 1000, 1,000 decisions in the metrics', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'tor')
    const calls = Array.from({ length: 1000 }, (_, i) => ['signup', { email: `user${String(i)}@example.com` }] as const)

    const reply = await trpcMutationBatch(h.stack.trpc, calls, { ip, ua: LONG_UA })
    await afterHooks()

    // Every call is still refused: coalescing changes what is reported, never what is enforced.
    expect(reply.status).toBe(403)
    expect(trpcOutcomes(reply)).toStrictEqual(Array<string>(1000).fill('FORBIDDEN tor_exit_node'))
    expect(sim.callsFor(ip)).toBe(1)

    const expected = { action: 'block', reason: 'tor_exit_node', policy: 'human', ip, path: 'signup', count: 1000 }
    const lines = h.decisionLines()
    expect(lines.map(summary)).toStrictEqual([expected])
    expect(lines[0]).toMatchObject({ level: 40, method: 'mutation', adapter: 'trpc', is_tor: true })
    // The issue measured 459 KiB of log for this request; one line is well under 2 KiB.
    expect(Buffer.byteLength(h.pino.text())).toBeLessThan(2048)

    expect(h.received.onBlock.map(summary)).toStrictEqual([expected])
    expect(h.received.onDecision.map(summary)).toStrictEqual([expected])
    expect(h.received.onHighRisk).toStrictEqual([]) // score 92 < 95
    expect(await decisionCounts(h.reader)).toStrictEqual({ 'action=block,reason=tor_exit_node': 1000 })
  })

  it('the same batch from a client already cached (every call decided synchronously): still one event, count 1000', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'tor')
    // Warm the cache with a call no policy applies to (annotated, not reported).
    expect(trpcOutcomes(await trpcQueryBatch(h.stack.trpc, ['hello'], { ip, ua: 'warm-up' }))).toStrictEqual(['ok'])
    expect(h.decisionLines()).toStrictEqual([])

    const calls = Array.from({ length: 1000 }, () => ['signup', { email: 'ada@example.com' }] as const)
    const reply = await trpcMutationBatch(h.stack.trpc, calls, { ip, ua: 'curl/8.5.0' })
    await afterHooks()

    expect(trpcOutcomes(reply)).toStrictEqual(Array<string>(1000).fill('FORBIDDEN tor_exit_node'))
    expect(sim.callsFor(ip)).toBe(1)
    const expected = { action: 'block', reason: 'tor_exit_node', policy: 'human', ip, path: 'signup', count: 1000 }
    expect(h.decisionLines().map(summary)).toStrictEqual([expected])
    expect(h.decisionLines()[0]).toMatchObject({ cached: true, lookup_ms: 0 })
    expect(h.received.onBlock.map(summary)).toStrictEqual([expected])
    expect(await decisionCounts(h.reader)).toStrictEqual({ 'action=block,reason=tor_exit_node': 1000 })
  })

  it('distinct policies and outcomes in one tRPC batch each get their own event', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'vpn') // score 45: allowed by lowRisk(70), blocked by admin (VPN)
    const reply = await trpcQueryBatch(
      h.stack.trpc,
      ['orders', 'admin.stats', 'orders', 'hello', 'admin.stats', 'orders'],
      { ip, ua: LONG_UA },
    )
    await afterHooks()

    expect(trpcOutcomes(reply)).toStrictEqual([
      'ok',
      'FORBIDDEN vpn_detected',
      'ok',
      'ok',
      'FORBIDDEN vpn_detected',
      'ok',
    ])
    const allow = { action: 'allow', reason: 'clean', policy: 'lowRisk(70)', ip, path: 'orders', count: 3 }
    const block = { action: 'block', reason: 'vpn_detected', policy: 'admin', ip, path: 'admin.stats', count: 2 }
    // In the order they were first decided (which tRPC's middleware chain decides): compared by path.
    const byPath = (events: Record<string, unknown>[]) => events.map(summary).sort((x, y) => String(x.path).localeCompare(String(y.path)))
    expect(byPath(h.decisionLines())).toStrictEqual([block, allow])
    expect(h.decisionLines().map((line) => [line.action, line.level]).sort()).toStrictEqual([['allow', 30], ['block', 40]])
    expect(byPath(h.received.onDecision as unknown as Record<string, unknown>[])).toStrictEqual([block, allow])
    expect(h.received.onBlock.map(summary)).toStrictEqual([block])
    expect(await decisionCounts(h.reader)).toStrictEqual({
      'action=allow,reason=clean': 3,
      'action=block,reason=vpn_detected': 2,
    })
  })

  it('separate requests are separate events, even in parallel from one client', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'vpn')
    const replies = await Promise.all(
      [1, 2, 3].map(() => trpcQueryBatch(h.stack.trpc, ['orders', 'orders'], { ip, ua: 'curl/8.5.0' })),
    )
    await afterHooks()
    for (const reply of replies) expect(trpcOutcomes(reply)).toStrictEqual(['ok', 'ok'])
    // Allows are not rate-limited: one line per request, each standing for its two calls.
    expect(h.decisionLines().map(summary)).toStrictEqual(
      Array(3).fill({ action: 'allow', reason: 'clean', policy: 'lowRisk(70)', ip, path: 'orders', count: 2 }),
    )
  })
})

describe('one request, one event per policy and outcome: a Yoga batch (the example enables batching, 10 operations)', () => {
  it('a Tor client batching 10 signups: 10 refusals, one log line and one onBlock call with count 10, 10 decisions in the metrics', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'tor')
    const reply = await graphqlBatch(h.stack.graphql, Array<object>(10).fill(operations.signup), { ip, ua: LONG_UA })
    await afterHooks()

    expect(graphqlOutcomes(reply)).toStrictEqual(Array<string>(10).fill('IP_RISK_BLOCKED tor_exit_node'))
    const expected = { action: 'block', reason: 'tor_exit_node', policy: 'human', ip, path: 'Mutation.signup', count: 10 }
    expect(h.decisionLines().map(summary)).toStrictEqual([expected])
    expect(h.decisionLines()[0]).toMatchObject({ adapter: 'graphql', operation_name: 'SignUp' })
    expect(h.received.onBlock.map(summary)).toStrictEqual([expected])
    expect(await decisionCounts(h.reader)).toStrictEqual({ 'action=block,reason=tor_exit_node': 10 })
  })

  it('two guarded policies in each operation of the batch: two events, each counting every operation', async () => {
    const h = await harness()
    const ip = freshIp(sim, 'tor')
    const signupEmail = { query: 'mutation SignUp { signup(email: "ada@example.com") { email } }', operationName: 'SignUp' }
    const reply = await graphqlBatch(h.stack.graphql, Array<object>(3).fill(signupEmail), { ip, ua: LONG_UA })
    await afterHooks()

    expect(graphqlOutcomes(reply)).toStrictEqual(Array<string>(3).fill('IP_RISK_BLOCKED tor_exit_node'))
    expect(h.decisionLines().map(summary)).toStrictEqual([
      { action: 'block', reason: 'tor_exit_node', policy: 'human', ip, path: 'Mutation.signup', count: 3 },
      { action: 'block', reason: 'risk_score_exceeded', policy: 'lowRisk(80)', ip, path: 'User.email', count: 3 },
    ])
    expect(await decisionCounts(h.reader)).toStrictEqual({
      'action=block,reason=tor_exit_node': 3,
      'action=block,reason=risk_score_exceeded': 3,
    })
  })
})

describe('repeated identical blocks across requests are rate-limited in the log (hooks and metrics are not)', () => {
  const T0 = Date.UTC(2025, 0, 1, 12, 0, 0)
  const signup = ['signup', { email: 'ada@example.com' }] as const

  it(`at most ${String(DECISION_LOG_BURST)} lines per (ip, path, policy, outcome) per ${String(DECISION_LOG_INTERVAL_MS)} ms window; the next window's first line carries the decisions suppressed`, async () => {
    const clock = createTestClock(T0)
    const h = await harness({ clock })
    const a = freshIp(sim, 'tor')
    const b = freshIp(sim, 'tor')
    const at = async (ms: number, ip: string, calls: number): Promise<void> => {
      clock.advance(T0 + ms - clock.now())
      const reply = await trpcMutationBatch(h.stack.trpc, Array(calls).fill(signup), { ip, ua: 'curl/8.5.0' })
      expect(trpcOutcomes(reply)).toStrictEqual(Array<string>(calls).fill('FORBIDDEN tor_exit_node'))
    }

    for (let i = 0; i < DECISION_LOG_BURST; i++) await at(i * 1_000, a, 1) // a's window (from 0): all logged
    await at(20_000, a, 5) // a's burst is spent: suppressed, 5 decisions
    await at(30_000, b, 1) // another client: its own key, logged
    await at(DECISION_LOG_INTERVAL_MS - 1, a, 1) // still inside a's window: suppressed, 6 in all
    await at(DECISION_LOG_INTERVAL_MS, a, 2) // a's next window: logged, carrying the 6
    await at(DECISION_LOG_INTERVAL_MS + 1, a, 1) // the new window's second line
    await afterHooks()

    const line = (ip: string, count: number) => ({ action: 'block', reason: 'tor_exit_node', policy: 'human', ip, path: 'signup', count })
    expect(h.decisionLines().map(summary)).toStrictEqual([
      ...Array(DECISION_LOG_BURST).fill(line(a, 1)),
      line(b, 1),
      { ...line(a, 2), suppressed: 6 },
      line(a, 1),
    ])
    expect(h.decisionLines().at(-2)?.timestamp).toBe(new Date(T0 + DECISION_LOG_INTERVAL_MS).toISOString())
    // Hooks: one call per request, none held back.
    expect(h.received.onBlock.map(summary)).toStrictEqual([
      ...Array(DECISION_LOG_BURST).fill(line(a, 1)),
      line(a, 5),
      line(b, 1),
      line(a, 1),
      line(a, 2),
      line(a, 1),
    ])
    // Metrics: every call.
    expect(await decisionCounts(h.reader)).toStrictEqual({ 'action=block,reason=tor_exit_node': DECISION_LOG_BURST + 10 })
  })

  it('the key is the client IP, adapter, path, policy, action and reason: a new user agent does not reopen it, another place does', async () => {
    const clock = createTestClock(T0)
    const h = await harness({ clock })
    const ip = freshIp(sim, 'tor')
    const caller = { ip, ua: 'curl/8.5.0' }
    for (let i = 0; i < DECISION_LOG_BURST; i++) await trpcMutationBatch(h.stack.trpc, [signup], caller) // logged
    clock.advance(1_000)
    await trpcMutationBatch(h.stack.trpc, [signup], { ip, ua: 'another-agent/2.0' }) // same key: suppressed
    clock.advance(1_000)
    await trpcQueryBatch(h.stack.trpc, ['orders', 'admin.stats'], caller) // lowRisk(70) and admin: logged
    clock.advance(1_000)
    await graphqlBatch(h.stack.graphql, [operations.signup], caller) // human, tor_exit_node, but GraphQL: logged
    await afterHooks()

    expect(h.decisionLines().map((l) => [l.adapter, l.path, l.policy, l.reason, l.count, l.suppressed])).toStrictEqual([
      ...Array(DECISION_LOG_BURST).fill(['trpc', 'signup', 'human', 'tor_exit_node', 1, undefined]),
      ['trpc', 'orders', 'lowRisk(70)', 'risk_score_exceeded', 1, undefined],
      ['trpc', 'admin.stats', 'admin', 'tor_exit_node', 1, undefined],
      ['graphql', 'Mutation.signup', 'human', 'tor_exit_node', 1, undefined],
    ])
    expect(h.received.onBlock).toHaveLength(DECISION_LOG_BURST + 4)
  })
})
