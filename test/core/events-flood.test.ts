/**
 * The reporter's flood bounds (issue #15, item 10), on `createReporter` with an injected clock: the decisions of one
 * request (`RequestInfo.request`) with the same policy, action and reason in one turn of the event loop are one event
 * carrying their `count`; would-blocks repeated for one (client IP, policy, action, reason) are written to the log at
 * most once per `DECISION_LOG_INTERVAL_MS`, the next line carrying `suppressed`; hooks and metrics are not thinned.
 * A property-based test checks both rules against a model on random scripts of requests, turns and clock steps.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createReporter,
  DECISION_LOG_BURST,
  DECISION_LOG_INTERVAL_MS,
  DECISION_LOG_KEYS,
  securityEvent,
  type Logger,
  type SecurityEvent,
} from '../../src/core/events.js'
import type { Metrics, ReportedAction } from '../../src/core/metrics.js'
import { compilePolicy, evaluate, policies } from '../../src/core/policy.js'
import type { Decision, IpRisk, Policy, RequestInfo } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'
import { risk } from '../support/risk.js'

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0)

interface LogCall {
  level: 'info' | 'warn'
  obj: Record<string, unknown>
}

function recordingLogger(): Logger & { calls: LogCall[] } {
  const calls: LogCall[] = []
  return {
    calls,
    info: (obj) => void calls.push({ level: 'info', obj: obj as Record<string, unknown> }),
    warn: (obj) => void calls.push({ level: 'warn', obj: obj as Record<string, unknown> }),
  }
}

/** Metrics that only count decisions by `action/reason` (the reporter records nothing else). */
function countingMetrics(): { metrics: Metrics; counts: Record<string, number> } {
  const counts: Record<string, number> = {}
  const ignore = () => undefined
  const metrics = {
    decision(action: ReportedAction, reason: string) {
      counts[`${action}/${reason}`] = (counts[`${action}/${reason}`] ?? 0) + 1
    },
    cache: ignore,
    upstream: ignore,
    breakerState: ignore,
    budgetRejected: ignore,
    hookError: ignore,
    l2Error: ignore,
  } as unknown as Metrics
  return { metrics, counts }
}

/** Let the end-of-turn delivery (`setImmediate`) run. */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

const human = policies.human
const lowRisk = compilePolicy({ name: 'lowRisk(70)', threshold: 70 })
const monitorHuman = compilePolicy({ ...policies.human, monitor: true })
const tor = (ip = '185.220.101.1'): IpRisk => risk({ ip, score: 92, isTor: true })
const decide = (answer: IpRisk, policy: Readonly<Policy> = human): Decision => evaluate(answer, policy, 'open')
const info = (request: object | undefined, path = 'signup', method = 'mutation'): RequestInfo => ({
  adapter: 'trpc',
  path,
  method,
  request,
})

/** The fields that tell events apart, the count, and `suppressed` when present. */
function summary(e: Record<string, unknown> | SecurityEvent): Record<string, unknown> {
  const o = e as Record<string, unknown>
  const out: Record<string, unknown> = { action: o.action, reason: o.reason, policy: o.policy, ip: o.ip, path: o.path, count: o.count }
  if ('suppressed' in o) out.suppressed = o.suppressed
  return out
}

describe('securityEvent: count', () => {
  it.each([
    { name: 'no count', count: undefined, expected: 1 },
    { name: '1000', count: 1000, expected: 1000 },
    { name: '0 (not a count)', count: 0, expected: 1 },
    { name: '-3', count: -3, expected: 1 },
    { name: '2.5', count: 2.5, expected: 1 },
    { name: 'NaN', count: Number.NaN, expected: 1 },
    { name: 'Infinity', count: Number.POSITIVE_INFINITY, expected: 1 },
  ])('$name gives count $expected', ({ count, expected }) => {
    expect(securityEvent(decide(tor()), undefined, T0, count).count).toBe(expected)
  })

  it('never copies info.request into the event', () => {
    const request = { headers: { cookie: 'session=secret' }, secret: 'x' }
    const event = securityEvent(decide(tor()), info(request), T0)
    expect(Object.keys(event)).not.toContain('request')
    expect(JSON.stringify(event)).not.toContain('secret')
  })
})

describe('createReporter: one event per request, policy and outcome', () => {
  it('1,000 identical decisions of one request in one turn: one log line and one call of each hook, count 1000; metrics count 1,000', async () => {
    const logger = recordingLogger()
    const { metrics, counts } = countingMetrics()
    const received: Record<string, SecurityEvent[]> = { onDecision: [], onBlock: [] }
    const clock = createTestClock(T0)
    const reporter = createReporter({
      logger,
      metrics,
      clock,
      onDecision: (e) => void received.onDecision?.push(e),
      onBlock: (e) => void received.onBlock?.push(e),
    })
    const request = {}
    for (let i = 0; i < 1000; i++) {
      reporter.decision(decide(tor()), info(request, `call${String(i)}`))
      clock.advance(1) // each decision a millisecond later than the one before
    }
    // Nothing written yet: the calls of the request are still being decided.
    expect(logger.calls).toStrictEqual([])
    await endOfTurn()

    const expected = { action: 'block', reason: 'tor_exit_node', policy: 'human', ip: '185.220.101.1', path: 'call0', count: 1000 }
    expect(logger.calls.map((c) => [c.level, summary(c.obj)])).toStrictEqual([['warn', expected]])
    // The first decision's fields, its time included.
    expect(logger.calls[0]?.obj.timestamp).toBe(new Date(T0).toISOString())
    expect(received.onBlock?.map(summary)).toStrictEqual([expected])
    expect(received.onDecision?.[0]).toBe(logger.calls[0]?.obj)
    expect(counts).toStrictEqual({ 'block/tor_exit_node': 1000 })
  })

  it.each([
    ['another policy', decide(tor(), human), decide(tor(), lowRisk)],
    ['another action (monitored would-block)', decide(tor(), human), decide(tor(), monitorHuman)],
    ['another reason', decide(tor(), human), decide(risk({ score: 88 }), human)],
    ['another outcome (allow)', decide(tor(), lowRisk), decide(risk({ score: 10 }), lowRisk)],
  ])('%s in the same request: its own event, in the order first decided', async (_name, first, second) => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, clock: createTestClock(T0) })
    const request = {}
    for (const d of [first, second, first, second, second]) reporter.decision(d, info(request))
    await endOfTurn()
    expect(logger.calls.map((c) => [c.obj.action, c.obj.reason, c.obj.policy, c.obj.count])).toStrictEqual([
      [first.monitored ? 'monitor' : first.action, first.reason, first.policy.name, 2],
      [second.monitored ? 'monitor' : second.action, second.reason, second.policy.name, 3],
    ])
  })

  it('two requests are two events, even with identical decisions in the same turn', async () => {
    const { hooks, events } = recordingOnDecision()
    const reporter = createReporter({ ...hooks, clock: createTestClock(T0) })
    const a = {}
    const b = {}
    for (const request of [a, b, a, b, a]) reporter.decision(decide(tor()), info(request))
    await endOfTurn()
    expect(events.map((e) => e.count)).toStrictEqual([3, 2])
  })

  it('the same request deciding again in a later turn (a WebSocket connection) gets a new event', async () => {
    const { hooks, events } = recordingOnDecision()
    const reporter = createReporter({ ...hooks, clock: createTestClock(T0) })
    const connection = {}
    reporter.decision(decide(tor()), info(connection))
    reporter.decision(decide(tor()), info(connection))
    await endOfTurn()
    reporter.decision(decide(tor()), info(connection))
    await endOfTurn()
    expect(events.map((e) => e.count)).toStrictEqual([2, 1])
  })

  it('without info.request every decision is its own event, logged at once (as before)', async () => {
    const logger = recordingLogger()
    const { hooks, events } = recordingOnDecision()
    const reporter = createReporter({ logger, ...hooks, clock: createTestClock(T0) })
    reporter.decision(decide(risk()), info(undefined))
    reporter.decision(decide(risk()), info(undefined))
    expect(logger.calls.map((c) => [c.level, c.obj.count])).toStrictEqual([
      ['info', 1],
      ['info', 1],
    ])
    await endOfTurn()
    expect(events).toHaveLength(2)
  })

  it('a sampled-out allow is counted in metrics only; the event counts the sampled allows of the request', async () => {
    const logger = recordingLogger()
    const { metrics, counts } = countingMetrics()
    const draws = [0.9, 0.1, 0.9, 0.1, 0.1] // sampleAllows 0.5: the 2nd, 4th and 5th are sampled
    const reporter = createReporter({ logger, metrics, sampleAllows: 0.5, random: () => draws.shift() ?? 1, clock: createTestClock(T0) })
    const request = {}
    for (let i = 0; i < 5; i++) reporter.decision(decide(risk(), lowRisk), info(request, `call${String(i)}`))
    await endOfTurn()
    expect(logger.calls.map((c) => [c.level, c.obj.path, c.obj.count])).toStrictEqual([['info', 'call1', 3]])
    expect(counts).toStrictEqual({ 'allow/clean': 5 })
  })
})

function recordingOnDecision(): { hooks: { onDecision: (e: SecurityEvent) => void }; events: SecurityEvent[] } {
  const events: SecurityEvent[] = []
  return { events, hooks: { onDecision: (e) => void events.push(e) } }
}

describe('createReporter: repeated would-blocks are rate-limited in the log', () => {
  const block = () => decide(tor())

  it(`writes at most ${String(DECISION_LOG_BURST)} lines per key per ${String(DECISION_LOG_INTERVAL_MS)} ms window; the first line of the next window carries the decisions suppressed`, async () => {
    const logger = recordingLogger()
    const blocked: SecurityEvent[] = []
    const clock = createTestClock(T0)
    const reporter = createReporter({ logger, clock, onBlock: (e) => void blocked.push(e) })
    const steps: [atMs: number, decisions: number][] = [
      [0, DECISION_LOG_BURST], // the window starts: all logged
      [1_000, 1], // suppressed (1)
      [30_000, 1], // suppressed (2)
      [DECISION_LOG_INTERVAL_MS - 1, 1], // suppressed (3): the window is not over
      [DECISION_LOG_INTERVAL_MS, 1], // a new window: logged, suppressed: 3
      [DECISION_LOG_INTERVAL_MS + 1, DECISION_LOG_BURST - 1], // logged: the window's burst is now spent
      [DECISION_LOG_INTERVAL_MS + 2, 1], // suppressed (1)
      [3 * DECISION_LOG_INTERVAL_MS, 1], // a new window: logged, suppressed: 1
    ]
    for (const [at, decisions] of steps) {
      clock.advance(T0 + at - clock.now())
      for (let i = 0; i < decisions; i++) reporter.decision(block(), info(undefined))
    }
    const line = (at: number, suppressed?: number) => [new Date(T0 + at).toISOString(), suppressed]
    expect(logger.calls.map((c) => [c.obj.timestamp, c.obj.suppressed])).toStrictEqual([
      ...Array(DECISION_LOG_BURST).fill(line(0)),
      line(DECISION_LOG_INTERVAL_MS, 3),
      ...Array(DECISION_LOG_BURST - 1).fill(line(DECISION_LOG_INTERVAL_MS + 1)),
      line(3 * DECISION_LOG_INTERVAL_MS, 1),
    ])
    // The line with `suppressed` is a copy; the event itself (as the hooks get it) has no such field.
    const withSuppressed = logger.calls[DECISION_LOG_BURST]?.obj ?? {}
    expect(Object.isFrozen(withSuppressed)).toBe(false)
    // Hooks get every event, none of them with `suppressed`.
    await endOfTurn()
    expect(blocked).toHaveLength(steps.reduce((sum, [, decisions]) => sum + decisions, 0))
    expect(blocked.every((e) => !('suppressed' in e))).toBe(true)
  })

  it('suppressed counts decisions, not events: a held-back batch adds its count', async () => {
    const logger = recordingLogger()
    const clock = createTestClock(T0)
    const reporter = createReporter({ logger, clock })
    for (let i = 0; i < DECISION_LOG_BURST; i++) reporter.decision(block(), info(undefined))
    clock.advance(1_000)
    const batch = {}
    for (let i = 0; i < 250; i++) reporter.decision(block(), info(batch))
    await endOfTurn()
    clock.advance(DECISION_LOG_INTERVAL_MS)
    reporter.decision(block(), info(undefined))
    expect(logger.calls.map((c) => [c.obj.count, c.obj.suppressed])).toStrictEqual([
      ...Array(DECISION_LOG_BURST).fill([1, undefined]),
      [1, 250],
    ])
  })

  it.each([
    ['another client IP', decide(tor('185.220.101.2')), info(undefined)],
    ['another policy', decide(tor(), lowRisk), info(undefined)],
    ['another action (monitored would-block)', decide(tor(), monitorHuman), info(undefined)],
    ['another reason', decide(risk({ ip: '185.220.101.1', score: 88 })), info(undefined)],
    ['another path', decide(tor()), info(undefined, 'login')],
    ['another adapter', decide(tor()), { ...info(undefined), adapter: 'graphql' }],
  ])('%s is another key: logged while the first key is held back', (_name, other, otherInfo) => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, clock: createTestClock(T0) })
    for (let i = 0; i <= DECISION_LOG_BURST; i++) reporter.decision(block(), info(undefined)) // the last is held back
    reporter.decision(other, otherInfo)
    reporter.decision(block(), info(undefined)) // held back
    expect(logger.calls).toHaveLength(DECISION_LOG_BURST + 1)
    expect([logger.calls.at(-1)?.obj.path, logger.calls.at(-1)?.obj.adapter, logger.calls.at(-1)?.obj.ip]).toStrictEqual([
      otherInfo.path,
      otherInfo.adapter,
      other.risk.ip,
    ])
  })

  it('the user agent, method and operation name are not part of the key: a client cannot vary them to be logged', () => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, clock: createTestClock(T0) })
    for (let i = 0; i < 10; i++) {
      const varied = { ...info(undefined), userAgent: `ua${String(i)}`, operationName: `Op${String(i)}`, method: `m${String(i)}` }
      reporter.decision(block(), varied)
    }
    expect(logger.calls).toHaveLength(DECISION_LOG_BURST)
  })

  it('allows are not rate-limited (sampleAllows thins them)', () => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, clock: createTestClock(T0) })
    for (let i = 0; i < 2 * DECISION_LOG_BURST; i++) reporter.decision(decide(risk()), info(undefined))
    expect(logger.calls.map((c) => c.level)).toStrictEqual(Array(2 * DECISION_LOG_BURST).fill('info'))
  })

  it('a clock that went back opens a new window instead of muting the key', () => {
    const logger = recordingLogger()
    const clock = createTestClock(T0)
    const reporter = createReporter({ logger, clock })
    for (let i = 0; i <= DECISION_LOG_BURST; i++) reporter.decision(block(), info(undefined)) // the last is held back
    clock.setWallTime(T0 - 3_600_000) // an NTP step back
    reporter.decision(block(), info(undefined))
    expect(logger.calls.map((c) => c.obj.suppressed)).toStrictEqual([...Array<undefined>(DECISION_LOG_BURST).fill(undefined), 1])
  })

  it(`remembers at most ${String(DECISION_LOG_KEYS)} keys: the least recently used is forgotten and logged again`, () => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, clock: createTestClock(T0) })
    const ipOf = (n: number) => `10.${String((n >> 16) & 255)}.${String((n >> 8) & 255)}.${String(n & 255)}`
    const blockIp = (n: number, times = 1) => {
      for (let i = 0; i < times; i++) reporter.decision(decide(tor(ipOf(n))), info(undefined))
    }
    blockIp(0, DECISION_LOG_BURST) // key 0's burst is spent
    blockIp(DECISION_LOG_KEYS, DECISION_LOG_BURST) // so is this one's
    for (let n = 1; n < DECISION_LOG_KEYS; n++) blockIp(n) // one key more than remembered: key 0, the oldest, goes
    const lines = logger.calls.length
    expect(lines).toBe(2 * DECISION_LOG_BURST + DECISION_LOG_KEYS - 1)
    blockIp(DECISION_LOG_KEYS) // remembered: held back
    expect(logger.calls).toHaveLength(lines)
    blockIp(0) // forgotten: logged again, although its window is not over
    expect(logger.calls).toHaveLength(lines + 1)
    expect(logger.calls.at(-1)?.obj.ip).toBe(ipOf(0))
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Property: random scripts against a model of the documented rules
// ---------------------------------------------------------------------------------------------------------------------

/** Fixed, so that `npm test` runs the same scripts every time; change it (or drop it) to explore further. */
const SEED = 1510
const RUNS = 300

const POLICIES = [human, lowRisk, monitorHuman] as const
const IPS = ['185.220.101.1', '185.220.101.2'] as const
// Few requests, IPs, policies and answers, and long scripts: keys repeat, so groups and held-back lines are common.
/** Answers: clean, Tor, score 88 (each policy decides them its own way). */
const ANSWERS = [(ip: string) => risk({ ip }), (ip: string) => tor(ip), (ip: string) => risk({ ip, score: 88 })] as const

type Step =
  | { kind: 'decide'; request: number | null; ip: number; path: number; policy: number; answer: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'turn' }

/** Mostly the first value: keys repeat, so windows fill up and lines are held back. */
const mostlyFirst = (count: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: count - 1 }) })

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      request: fc.option(fc.integer({ min: 0, max: 1 }), { nil: null, freq: 4 }),
      ip: mostlyFirst(IPS.length),
      path: mostlyFirst(2),
      policy: mostlyFirst(POLICIES.length),
      answer: fc.integer({ min: 0, max: ANSWERS.length - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // The window's edges come up often, not only by chance; other steps are short, so windows fill up.
      ms: fc.oneof(
        fc.constantFrom(1, DECISION_LOG_INTERVAL_MS - 1, DECISION_LOG_INTERVAL_MS),
        fc.integer({ min: 0, max: DECISION_LOG_INTERVAL_MS / 4 }),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'turn' as const }) },
)

interface ModelEvent {
  /** Unique per decision (carried as the event's `method`), to tell events apart. */
  id: string
  path: string
  action: string
  reason: string
  policy: string | null
  ip: string | null
  count: number
  wouldBlock: boolean
}

describe('property: coalescing and the log rate limit follow their rules on random scripts', () => {
  it(`${String(RUNS)} scripts (seed ${String(SEED)}): hooks, log lines and metrics equal the model's`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 10, maxLength: 120, size: 'max' }), async (steps) => {
        const clock = createTestClock(T0)
        const logger = recordingLogger()
        const { metrics, counts } = countingMetrics()
        const hooked: SecurityEvent[] = []
        const reporter = createReporter({ logger, metrics, clock, onDecision: (e) => void hooked.push(e) })
        const requests = [{}, {}]

        // The model: events in creation order, open groups of the current turn, the log and its rate limit.
        const events: ModelEvent[] = []
        let open = new Map<string, ModelEvent>()
        let turnQueue: ModelEvent[] = []
        const logged: { id: string; suppressed: number | undefined }[] = []
        const windows = new Map<string, { start: number; lines: number; held: number }>()
        const expectedCounts: Record<string, number> = {}
        const writeLog = (e: ModelEvent): void => {
          if (!e.wouldBlock) return void logged.push({ id: e.id, suppressed: undefined })
          const key = `${String(e.ip)} ${e.path} ${String(e.policy)} ${e.action} ${e.reason}`
          // A window opens with a line and lasts the interval; it holds at most the burst of lines, then holds back.
          const w = windows.get(key)
          const now = clock.now()
          if (w !== undefined && now >= w.start && now - w.start < DECISION_LOG_INTERVAL_MS) {
            if (w.lines === DECISION_LOG_BURST) w.held += e.count
            else {
              w.lines++
              logged.push({ id: e.id, suppressed: undefined })
            }
            return
          }
          logged.push({ id: e.id, suppressed: w === undefined || w.held === 0 ? undefined : w.held })
          windows.set(key, { start: clock.now(), lines: 1, held: 0 })
        }
        const endTurn = async (): Promise<void> => {
          await endOfTurn()
          for (const e of turnQueue) writeLog(e)
          turnQueue = []
          open = new Map()
        }

        let n = 0
        for (const step of steps) {
          if (step.kind === 'advance') clock.advance(step.ms)
          else if (step.kind === 'turn') await endTurn()
          else {
            const policy = POLICIES[step.policy] as Readonly<Policy>
            const d = decide((ANSWERS[step.answer] as (ip: string) => IpRisk)(IPS[step.ip] as string), policy)
            const action = d.monitored ? 'monitor' : d.action
            const id = `d${String(n++)}`
            const path = `p${String(step.path)}`
            expectedCounts[`${action}/${d.reason}`] = (expectedCounts[`${action}/${d.reason}`] ?? 0) + 1
            const request = step.request === null ? undefined : requests[step.request]
            reporter.decision(d, info(request, path, id))

            const fresh: ModelEvent = { id, path, action, reason: d.reason, policy: d.policy.name ?? null, ip: d.risk.ip, count: 1, wouldBlock: d.wouldBlock }
            if (step.request === null) {
              events.push(fresh)
              writeLog(fresh) // logged at once
              continue
            }
            const key = `${String(step.request)} ${String(step.policy)} ${action} ${d.reason}`
            const group = open.get(key)
            if (group !== undefined) group.count++
            else {
              open.set(key, fresh)
              events.push(fresh)
              turnQueue.push(fresh)
            }
          }
        }
        await endTurn()

        // Hooks: exactly the model's events (one per request, policy and outcome per turn), in creation order.
        expect(hooked.map((e) => [e.method, e.path, e.action, e.reason, e.policy, e.ip, e.count])).toStrictEqual(
          events.map((e) => [e.id, e.path, e.action, e.reason, e.policy, e.ip, e.count]),
        )
        // Log: exactly the lines the rate limit lets through, with their suppressed counts.
        expect(logger.calls.map((c) => ({ id: c.obj.method, suppressed: c.obj.suppressed }))).toStrictEqual(logged)
        // Metrics: every decision.
        expect(counts).toStrictEqual(expectedCounts)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})
