import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import {
  createReporter,
  DECISION_LOG_MESSAGE,
  securityEvent,
  type Logger,
  type ReporterOptions,
  type SecurityEvent,
} from '../../src/core/events.js'
import { compilePolicy, evaluate, policies } from '../../src/core/policy.js'
import type { Decision, FailMode, IpRisk, Policy, RequestInfo } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'
import { NO_DATA, risk } from '../support/risk.js'

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0)
const ISO0 = '2025-01-01T12:00:00.000Z'

const INFO: RequestInfo = {
  adapter: 'trpc',
  path: 'user.signup',
  method: 'mutation',
  operationName: null,
  userAgent: 'Mozilla/5.0',
}

/** The event of a clean allow by `human` for {@link INFO}; cases list what differs. */
const BASE_EVENT: SecurityEvent = {
  timestamp: ISO0,
  event: 'bot_detection',
  action: 'allow',
  reason: 'clean',
  fail_open: false,
  policy: 'human',
  ip: '81.2.69.160',
  path: 'user.signup',
  method: 'mutation',
  operation_name: null,
  adapter: 'trpc',
  risk_score: 10,
  is_vpn: false,
  is_proxy: false,
  is_tor: false,
  is_datacenter: false,
  country: 'GB',
  asn: 20712,
  isp: 'Example ISP',
  user_agent: 'Mozilla/5.0',
  cached: false,
  lookup_ms: 42,
  monitored: false,
  status: 'scored',
  error: null,
  count: 1,
}

interface LogCall {
  level: 'info' | 'warn' | 'error'
  obj: Record<string, unknown>
  msg: string | undefined
}

function recordingLogger(withError = true): Logger & { calls: LogCall[] } {
  const calls: LogCall[] = []
  const logger: Logger & { calls: LogCall[] } = {
    calls,
    info: (obj, msg) => void calls.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => void calls.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  }
  if (withError) logger.error = (obj, msg) => void calls.push({ level: 'error', obj: obj as Record<string, unknown>, msg })
  return logger
}

/** Let the reporter's deferred hook delivery (and any promise jobs after it) run. */
async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  await new Promise<void>((resolve) => setImmediate(resolve))
}

function decide(answer: IpRisk, policy: Readonly<Policy> = policies.human, failMode: FailMode = 'open'): Decision {
  return evaluate(answer, policy, failMode)
}

/** A test clock standing at T0 (a new one per reporter: nothing moves it). */
const clockAtT0 = () => createTestClock(T0)

describe('securityEvent: exact shape for every reason and action', () => {
  const human = policies.human
  const monitorHuman = compilePolicy({ ...policies.human, monitor: true })
  const vpnProxyDc = compilePolicy({ name: 'strict', blockVpn: true, blockProxy: true, blockDatacenter: true })
  const cases: Array<{ name: string; decision: Decision; expected: Partial<SecurityEvent> }> = [
    { name: 'allow / clean', decision: decide(risk()), expected: {} },
    {
      name: 'block / risk_score_exceeded',
      decision: decide(risk({ score: 88 })),
      expected: { action: 'block', reason: 'risk_score_exceeded', risk_score: 88 },
    },
    {
      name: 'block / tor_exit_node',
      decision: decide(risk({ score: 20, isTor: true })),
      expected: { action: 'block', reason: 'tor_exit_node', risk_score: 20, is_tor: true },
    },
    {
      name: 'block / vpn_detected',
      decision: decide(risk({ isVpn: true }), vpnProxyDc),
      expected: { action: 'block', reason: 'vpn_detected', policy: 'strict', is_vpn: true },
    },
    {
      name: 'block / proxy_detected',
      decision: decide(risk({ isProxy: true }), vpnProxyDc),
      expected: { action: 'block', reason: 'proxy_detected', policy: 'strict', is_proxy: true },
    },
    {
      name: 'block / datacenter_ip',
      decision: decide(risk({ isDatacenter: true, source: 'l1', lookupMs: 0 }), vpnProxyDc),
      expected: { action: 'block', reason: 'datacenter_ip', policy: 'strict', is_datacenter: true, cached: true, lookup_ms: 0 },
    },
    {
      name: 'block / denylisted',
      decision: decide(risk({ ...NO_DATA, status: 'skipped', listed: 'deny', source: 'none', lookupMs: 0 })),
      expected: {
        action: 'block',
        reason: 'denylisted',
        risk_score: null,
        is_vpn: null,
        is_proxy: null,
        is_tor: null,
        is_datacenter: null,
        country: null,
        asn: null,
        isp: null,
        lookup_ms: 0,
        status: 'skipped',
      },
    },
    {
      name: 'block / blocklisted',
      decision: decide(risk({ score: 99, listed: 'blocklist', source: 'l2', lookupMs: 3 })),
      expected: { action: 'block', reason: 'blocklisted', risk_score: 99, cached: true, lookup_ms: 3 },
    },
    {
      name: 'block / lookup_unavailable (fail closed)',
      decision: decide(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout', source: 'none', lookupMs: 150 }), human, 'closed'),
      expected: {
        action: 'block',
        reason: 'lookup_unavailable',
        risk_score: null,
        is_vpn: null,
        is_proxy: null,
        is_tor: null,
        is_datacenter: null,
        country: null,
        asn: null,
        isp: null,
        lookup_ms: 150,
        status: 'unavailable',
        error: 'timeout',
      },
    },
    {
      name: 'allow / lookup_unavailable (fail open)',
      decision: decide(risk({ ...NO_DATA, status: 'unavailable', error: 'breaker_open', source: 'none', lookupMs: 0 })),
      expected: {
        reason: 'lookup_unavailable',
        fail_open: true,
        risk_score: null,
        is_vpn: null,
        is_proxy: null,
        is_tor: null,
        is_datacenter: null,
        country: null,
        asn: null,
        isp: null,
        lookup_ms: 0,
        status: 'unavailable',
        error: 'breaker_open',
      },
    },
    {
      name: 'allow / allowlisted',
      decision: decide(risk({ score: 99, listed: 'allow', status: 'skipped', source: 'none', lookupMs: 0 })),
      expected: { reason: 'allowlisted', risk_score: 99, status: 'skipped', lookup_ms: 0 },
    },
    {
      name: 'allow / non_global_ip',
      decision: decide(risk({ ...NO_DATA, ip: '10.0.0.8', ipKind: 'private', status: 'skipped', source: 'none', lookupMs: 0 })),
      expected: {
        reason: 'non_global_ip',
        ip: '10.0.0.8',
        risk_score: null,
        is_vpn: null,
        is_proxy: null,
        is_tor: null,
        is_datacenter: null,
        country: null,
        asn: null,
        isp: null,
        status: 'skipped',
        lookup_ms: 0,
      },
    },
    {
      name: 'monitor / tor_exit_node (monitored would-block)',
      decision: decide(risk({ isTor: true, source: 'stale', error: 'network' }), monitorHuman),
      expected: { action: 'monitor', reason: 'tor_exit_node', is_tor: true, monitored: true, cached: true, error: 'network' },
    },
    {
      name: 'allow by an unnamed policy',
      decision: decide(risk(), compilePolicy({ threshold: 50 })),
      expected: { policy: null },
    },
  ]

  it.each(cases)('$name', ({ decision, expected }) => {
    const event = securityEvent(decision, INFO, T0)
    expect(event).toStrictEqual({ ...BASE_EVENT, ...expected })
    expect(Object.isFrozen(event)).toBe(true)
  })

  it.each([
    { source: 'upstream', cached: false },
    { source: 'l1', cached: true },
    { source: 'l2', cached: true },
    { source: 'stale', cached: true },
    { source: 'none', cached: false },
  ] as const)('cached is $cached for source $source', ({ source, cached }) => {
    expect(securityEvent(decide(risk({ source })), INFO, T0).cached).toBe(cached)
  })

  it.each([
    [7.794786000000386, 7.79],
    [0.004, 0],
    [12.345, 12.35],
    [150, 150],
  ])('rounds lookup_ms %s to %s (0.01 ms)', (lookupMs, expected) => {
    expect(securityEvent(decide(risk({ lookupMs })), INFO, T0).lookup_ms).toBe(expected)
  })

  it('fills request fields with null when no request info is given', () => {
    const event = securityEvent(decide(risk()), undefined, T0)
    expect(event).toStrictEqual({ ...BASE_EVENT, path: null, method: null, operation_name: null, adapter: null, user_agent: null })
  })

  it('truncates the user agent to 200 characters', () => {
    const event = securityEvent(decide(risk()), { userAgent: 'a'.repeat(5000) }, T0)
    expect(event.user_agent).toBe('a'.repeat(200))
  })

  it('keeps a 200-character user agent whole', () => {
    expect(securityEvent(decide(risk()), { userAgent: 'b'.repeat(200) }, T0).user_agent).toBe('b'.repeat(200))
  })

  it('does not cut a surrogate pair in half when truncating', () => {
    const userAgent = `${'a'.repeat(199)}😀tail`
    const event = securityEvent(decide(risk()), { userAgent }, T0)
    expect(event.user_agent).toBe('a'.repeat(199))
  })

  it('truncates attacker-controlled operation names and paths to 200 characters', () => {
    const event = securityEvent(decide(risk()), { operationName: 'Q'.repeat(10_000), path: 'p'.repeat(300) }, T0)
    expect(event.operation_name).toHaveLength(200)
    expect(event.path).toHaveLength(200)
  })

  it('ignores a user agent that is not a string (e.g. a repeated header array)', () => {
    const event = securityEvent(decide(risk()), { userAgent: ['a', 'b'] as unknown as string }, T0)
    expect(event.user_agent).toBeNull()
  })

  it('copies only the documented fields, never extra properties of the answer or policy', () => {
    const answer = Object.assign(risk(), { apiKey: 'sk_live_SECRET', headers: { authorization: 'Bearer SECRET' } })
    const policy = Object.assign({ ...policies.human }, { apiKey: 'sk_live_SECRET' })
    const event = securityEvent(evaluate(answer, policy), INFO, T0)
    expect(Object.keys(event)).toStrictEqual(Object.keys(BASE_EVENT))
    expect(JSON.stringify(event)).not.toContain('SECRET')
  })

  it('uses the current time by default', () => {
    const before = Date.now()
    const event = securityEvent(decide(risk()))
    const at = Date.parse(event.timestamp)
    expect(at).toBeGreaterThanOrEqual(before)
    expect(at).toBeLessThanOrEqual(Date.now())
  })
})

describe('createReporter: logger', () => {
  it.each([
    { name: 'a block is logged at warn', decision: () => decide(risk({ score: 90 })), level: 'warn', action: 'block' },
    {
      name: 'a monitored would-block is logged at warn',
      decision: () => decide(risk({ score: 90 }), compilePolicy({ ...policies.human, monitor: true })),
      level: 'warn',
      action: 'monitor',
    },
    { name: 'an allow is logged at info', decision: () => decide(risk()), level: 'info', action: 'allow' },
    {
      name: 'a fail-open allow is logged at info',
      decision: () => decide(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout' })),
      level: 'info',
      action: 'allow',
    },
  ] as const)('$name', ({ decision, level, action }) => {
    const logger = recordingLogger()
    const d = decision()
    createReporter({ logger, clock: clockAtT0() }).decision(d, INFO)
    expect(logger.calls).toHaveLength(1)
    expect(logger.calls[0]?.level).toBe(level)
    expect(logger.calls[0]?.msg).toBe(DECISION_LOG_MESSAGE)
    expect(logger.calls[0]?.obj).toStrictEqual(securityEvent(d, INFO, T0))
    expect(logger.calls[0]?.obj.action).toBe(action)
  })

  it('the log message is "iprisk decision"', () => {
    expect(DECISION_LOG_MESSAGE).toBe('iprisk decision')
  })

  it('calls logger methods as methods (a class-based logger keeps its this)', () => {
    class ClassLogger {
      lines: string[] = []
      info(obj: object): void {
        this.lines.push(`info ${(obj as SecurityEvent).reason}`)
      }
      warn(obj: object): void {
        this.lines.push(`warn ${(obj as SecurityEvent).reason}`)
      }
    }
    const logger = new ClassLogger()
    const reporter = createReporter({ logger })
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk({ isTor: true })))
    expect(logger.lines).toStrictEqual(['info clean', 'warn tor_exit_node'])
  })

  it('writes real JSON lines through pino', async () => {
    const { default: pino } = await import('pino')
    const lines: string[] = []
    const logger = pino({ base: null, timestamp: false }, { write: (line: string) => void lines.push(line) })
    createReporter({ logger, clock: clockAtT0() }).decision(decide(risk({ isTor: true })), INFO)
    expect(lines).toHaveLength(1)
    const parsed = JSON.parse(lines[0] ?? '') as Record<string, unknown>
    expect(parsed).toStrictEqual({ level: 40, ...BASE_EVENT, action: 'block', reason: 'tor_exit_node', is_tor: true, msg: 'iprisk decision' })
  })

  it('a throwing logger does not break the request, and hooks still run', async () => {
    const onDecision = vi.fn()
    const logger: Logger = {
      info: () => {
        throw new Error('disk full')
      },
      warn: () => {
        throw new Error('disk full')
      },
    }
    const reporter = createReporter({ logger, onDecision })
    expect(() => reporter.decision(decide(risk()))).not.toThrow()
    await flush()
    expect(onDecision).toHaveBeenCalledTimes(1)
  })
})

describe('createReporter: sampling of allows', () => {
  it.each([
    { sampleAllows: 0.5, random: 0.49, emitted: true },
    { sampleAllows: 0.5, random: 0.5, emitted: false },
    { sampleAllows: 0.5, random: 0.99, emitted: false },
    { sampleAllows: 0.01, random: 0.009, emitted: true },
    { sampleAllows: 0.01, random: 0.01, emitted: false },
  ])('sampleAllows $sampleAllows with random() = $random emits: $emitted', async ({ sampleAllows, random, emitted }) => {
    const logger = recordingLogger()
    const onDecision = vi.fn()
    createReporter({ logger, onDecision, sampleAllows, random: () => random }).decision(decide(risk()))
    await flush()
    expect(logger.calls).toHaveLength(emitted ? 1 : 0)
    expect(onDecision).toHaveBeenCalledTimes(emitted ? 1 : 0)
  })

  it('emits a deterministic fraction of allows', () => {
    const logger = recordingLogger()
    let i = 0
    const random = () => (i++ % 10) / 10 // 0.0, 0.1, … 0.9, 0.0, …
    const reporter = createReporter({ logger, sampleAllows: 0.3, random })
    for (let n = 0; n < 100; n++) reporter.decision(decide(risk()))
    expect(logger.calls).toHaveLength(30)
  })

  it('sampleAllows 1 (default) emits every allow without drawing random numbers', () => {
    const logger = recordingLogger()
    const random = vi.fn(() => 0.99)
    const reporter = createReporter({ logger, random })
    for (let n = 0; n < 5; n++) reporter.decision(decide(risk()))
    expect(logger.calls).toHaveLength(5)
    expect(random).not.toHaveBeenCalled()
  })

  it('sampleAllows 0 turns allow events off without drawing random numbers', async () => {
    const logger = recordingLogger()
    const onDecision = vi.fn()
    const random = vi.fn(() => 0)
    const reporter = createReporter({ logger, onDecision, sampleAllows: 0, random })
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout' })))
    await flush()
    expect(logger.calls).toHaveLength(0)
    expect(onDecision).not.toHaveBeenCalled()
    expect(random).not.toHaveBeenCalled()
  })

  it('blocks and monitored would-blocks are always emitted, even with sampleAllows 0', async () => {
    const logger = recordingLogger()
    const onDecision = vi.fn()
    const random = vi.fn(() => 0.999)
    const reporter = createReporter({ logger, onDecision, sampleAllows: 0, random })
    reporter.decision(decide(risk({ isTor: true })))
    reporter.decision(decide(risk({ isTor: true }), compilePolicy({ ...policies.human, monitor: true })))
    await flush()
    expect(logger.calls.map((c) => c.obj.action)).toStrictEqual(['block', 'monitor'])
    expect(onDecision).toHaveBeenCalledTimes(2)
    expect(random).not.toHaveBeenCalled()
  })
})

describe('createReporter: hooks', () => {
  let unhandled: unknown[]
  const onUnhandled = (reason: unknown) => void unhandled.push(reason)
  beforeEach(() => {
    unhandled = []
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled)
    vi.restoreAllMocks()
  })

  it('routes each decision to the hooks it concerns', async () => {
    const seen: string[] = []
    const reporter = createReporter({
      onDecision: (e) => void seen.push(`decision:${e.reason}`),
      onBlock: (e) => void seen.push(`block:${e.reason}`),
      onHighRisk: (e) => void seen.push(`highRisk:${e.reason}`),
    })
    reporter.decision(decide(risk())) // clean allow
    reporter.decision(decide(risk({ isTor: true }))) // block, score 10
    reporter.decision(decide(risk({ score: 97 }))) // block, high risk
    reporter.decision(decide(risk({ score: 97 }), compilePolicy({ ...policies.human, monitor: true }))) // monitor, high risk
    reporter.decision(decide(risk({ score: 96, listed: 'allow' }))) // allowlisted, high risk
    await flush()
    expect(seen).toStrictEqual([
      'decision:clean',
      'decision:tor_exit_node',
      'block:tor_exit_node',
      'decision:risk_score_exceeded',
      'block:risk_score_exceeded',
      'highRisk:risk_score_exceeded',
      'decision:risk_score_exceeded',
      'highRisk:risk_score_exceeded',
      'decision:allowlisted',
      'highRisk:allowlisted',
    ])
  })

  it('every hook and the logger receive the same event', async () => {
    const logger = recordingLogger()
    const events: SecurityEvent[] = []
    const reporter = createReporter({
      logger,
      clock: clockAtT0(),
      onDecision: (e) => void events.push(e),
      onBlock: (e) => void events.push(e),
      onHighRisk: (e) => void events.push(e),
    })
    const d = decide(risk({ score: 99 }))
    reporter.decision(d, INFO)
    await flush()
    expect(events).toHaveLength(3)
    expect(events[0]).toStrictEqual(securityEvent(d, INFO, T0))
    expect(events[1]).toBe(events[0])
    expect(events[2]).toBe(events[0])
    expect(logger.calls[0]?.obj).toBe(events[0])
  })

  it('onBlock does not fire for monitored would-blocks or allows', async () => {
    const onBlock = vi.fn()
    const reporter = createReporter({ onBlock })
    reporter.decision(decide(risk({ isTor: true }), compilePolicy({ ...policies.human, monitor: true })))
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout' })))
    await flush()
    expect(onBlock).not.toHaveBeenCalled()
  })

  it('onBlock fires for a fail-closed block', async () => {
    const onBlock = vi.fn()
    createReporter({ onBlock }).decision(decide(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout' }), policies.human, 'closed'))
    await flush()
    expect(onBlock).toHaveBeenCalledTimes(1)
    expect((onBlock.mock.calls[0]?.[0] as SecurityEvent).reason).toBe('lookup_unavailable')
  })

  it.each([
    { highRiskScore: undefined, score: 94, fires: false },
    { highRiskScore: undefined, score: 95, fires: true },
    { highRiskScore: undefined, score: 100, fires: true },
    { highRiskScore: 80, score: 79, fires: false },
    { highRiskScore: 80, score: 80, fires: true },
    { highRiskScore: 0, score: 0, fires: true },
    { highRiskScore: undefined, score: null, fires: false },
  ])('onHighRisk with highRiskScore $highRiskScore and score $score fires: $fires', async ({ highRiskScore, score, fires }) => {
    const onHighRisk = vi.fn()
    const options: ReporterOptions = { onHighRisk }
    if (highRiskScore !== undefined) options.highRiskScore = highRiskScore
    createReporter(options).decision(decide(risk({ score }), compilePolicy({})))
    await flush()
    expect(onHighRisk).toHaveBeenCalledTimes(fires ? 1 : 0)
  })

  it('onBlock and onHighRisk are not sampled', async () => {
    const onBlock = vi.fn()
    const onHighRisk = vi.fn()
    const onDecision = vi.fn()
    const reporter = createReporter({ onBlock, onHighRisk, onDecision, sampleAllows: 0 })
    reporter.decision(decide(risk({ score: 98 }), compilePolicy({}))) // high-risk allow
    reporter.decision(decide(risk({ isTor: true })))
    await flush()
    expect(onHighRisk).toHaveBeenCalledTimes(1)
    expect(onBlock).toHaveBeenCalledTimes(1)
    expect(onDecision).toHaveBeenCalledTimes(1) // the block only
  })

  it('hooks run after decision() has returned', async () => {
    const order: string[] = []
    const reporter = createReporter({ onDecision: () => void order.push('hook') })
    reporter.decision(decide(risk()))
    order.push('returned')
    await Promise.resolve()
    order.push('after a promise job')
    await flush()
    expect(order).toStrictEqual(['returned', 'after a promise job', 'hook'])
  })

  it('a throwing hook never reaches the caller and the other hooks still run', async () => {
    const logger = recordingLogger()
    const onHighRisk = vi.fn()
    const reporter = createReporter({
      logger,
      onBlock: () => {
        throw new Error('webhook misconfigured')
      },
      onHighRisk,
    })
    expect(() => reporter.decision(decide(risk({ score: 99 })))).not.toThrow()
    await flush()
    expect(onHighRisk).toHaveBeenCalledTimes(1)
    const errors = logger.calls.filter((c) => c.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0]?.msg).toBe('iprisk onBlock hook failed')
    expect(errors[0]?.obj).toMatchObject({ hook: 'onBlock', suppressed: 0 })
    expect((errors[0]?.obj.err as Error).message).toBe('webhook misconfigured')
  })

  it('a rejecting hook causes no unhandled rejection and is logged', async () => {
    const logger = recordingLogger()
    const reporter = createReporter({ logger, onDecision: async () => Promise.reject(new Error('503 from webhook')) })
    reporter.decision(decide(risk()))
    await flush()
    await flush() // Node reports unhandled rejections once the microtask queue drains, before the next macrotask
    expect(unhandled).toStrictEqual([])
    const errors = logger.calls.filter((c) => c.level === 'error')
    expect(errors).toHaveLength(1)
    expect((errors[0]?.obj.err as Error).message).toBe('503 from webhook')
  })

  it('a rejecting thenable that is not a Promise is handled too', async () => {
    const logger = recordingLogger()
    const thenable = { then: (_: unknown, reject: (e: unknown) => void) => reject(new Error('custom thenable')) }
    createReporter({ logger, onDecision: () => thenable as unknown as Promise<void> }).decision(decide(risk()))
    await flush()
    expect(logger.calls.filter((c) => c.level === 'error')).toHaveLength(1)
  })

  it('a hanging hook delays nothing: decisions keep being delivered', async () => {
    const received: string[] = []
    const reporter = createReporter({
      onDecision: (e) => {
        received.push(e.reason)
        return new Promise<void>(() => {}) // never settles
      },
    })
    reporter.decision(decide(risk()))
    await flush()
    reporter.decision(decide(risk({ isTor: true })))
    await flush()
    expect(received).toStrictEqual(['clean', 'tor_exit_node'])
  })

  it('logs a failing hook at most once per minute, then reports how many failures it suppressed', async () => {
    const logger = recordingLogger()
    const clock = createTestClock(T0)
    const reporter = createReporter({
      logger,
      clock,
      onBlock: () => {
        throw new Error('down')
      },
    })
    const block = decide(risk({ isTor: true }))
    reporter.decision(block)
    await flush()
    clock.advance(30_000)
    reporter.decision(block)
    reporter.decision(block)
    await flush()
    clock.advance(30_000) // a minute after the first log
    reporter.decision(block)
    await flush()
    const errors = logger.calls.filter((c) => c.level === 'error').map((c) => c.obj.suppressed)
    expect(errors).toStrictEqual([0, 2])
  })

  it('each hook has its own log interval', async () => {
    const logger = recordingLogger()
    const boom = () => {
      throw new Error('boom')
    }
    createReporter({ logger, onBlock: boom, onHighRisk: boom, onDecision: boom }).decision(decide(risk({ score: 99 })))
    await flush()
    expect(logger.calls.filter((c) => c.level === 'error').map((c) => c.obj.hook)).toStrictEqual([
      'onDecision',
      'onBlock',
      'onHighRisk',
    ])
  })

  it('falls back to logger.warn for hook failures when the logger has no error method', async () => {
    const logger = recordingLogger(false)
    createReporter({
      logger,
      sampleAllows: 0,
      onHighRisk: () => {
        throw new Error('x')
      },
    }).decision(decide(risk({ score: 99 }), compilePolicy({})))
    await flush()
    expect(logger.calls).toHaveLength(1)
    expect(logger.calls[0]).toMatchObject({ level: 'warn', msg: 'iprisk onHighRisk hook failed' })
  })

  it('without a logger a failing hook prints nothing but is counted in metrics', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    const reader = new TestReader()
    const reporter = createReporter({
      meterProvider: new MeterProvider({ readers: [reader] }),
      onBlock: () => {
        throw new Error('x')
      },
    })
    reporter.decision(decide(risk({ isTor: true })))
    await flush()
    expect(warn).not.toHaveBeenCalled()
    expect(error).not.toHaveBeenCalled()
    expect(log).not.toHaveBeenCalled()
    expect(await counter(reader, 'iprisk.hook.errors')).toStrictEqual({ 'hook=onBlock': 1 })
  })

  it('many decisions in one tick are delivered in order', async () => {
    const reasons: string[] = []
    const reporter = createReporter({ onDecision: (e) => void reasons.push(`${e.reason}:${String(e.risk_score)}`) })
    for (let score = 0; score < 100; score += 10) reporter.decision(decide(risk({ score })))
    await flush()
    expect(reasons).toStrictEqual([
      'clean:0',
      'clean:10',
      'clean:20',
      'clean:30',
      'clean:40',
      'clean:50',
      'clean:60',
      'clean:70',
      'risk_score_exceeded:80',
      'risk_score_exceeded:90',
    ])
  })
})

describe('createReporter: the deprecated `now` option', () => {
  it('still stamps events and drives the log window when no `clock` is given', () => {
    const logger = recordingLogger()
    let now = T0
    const reporter = createReporter({ logger, now: () => now })
    const block = decide(risk({ isTor: true }))
    for (let i = 0; i < 6; i++) reporter.decision(block, INFO) // the sixth is held back
    now += 60_000
    reporter.decision(block, INFO)
    expect(logger.calls.map((c) => [c.obj.timestamp, c.obj.suppressed])).toStrictEqual([
      ...Array(5).fill([new Date(T0).toISOString(), undefined]),
      [new Date(T0 + 60_000).toISOString(), 1],
    ])
  })

  it('is ignored when `clock` is given', () => {
    const logger = recordingLogger()
    createReporter({ logger, now: () => 0, clock: createTestClock(T0) }).decision(decide(risk()), INFO)
    expect(logger.calls[0]?.obj.timestamp).toBe(new Date(T0).toISOString())
  })
})

describe('createReporter: cost when nobody listens', () => {
  it('builds no event (reads neither the clock nor the random source) without logger or hooks', () => {
    const clock = createTestClock(T0)
    const now = vi.spyOn(clock, 'now')
    const random = vi.fn(() => 0)
    const reporter = createReporter({ clock, random, sampleAllows: 0.5 })
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk({ isTor: true })))
    expect(now).not.toHaveBeenCalled()
    expect(random).not.toHaveBeenCalled()
  })

  it('builds no event for an allow that only onBlock would care about', () => {
    const clock = createTestClock(T0)
    const now = vi.spyOn(clock, 'now')
    createReporter({ clock, onBlock: () => {} }).decision(decide(risk()))
    expect(now).not.toHaveBeenCalled()
  })

  it('reads the clock once per event, not per decision: a request of 100 decisions reads it once', async () => {
    const clock = createTestClock(T0)
    const now = vi.spyOn(clock, 'now')
    const reporter = createReporter({ clock, onBlock: () => {} })
    const request = {}
    for (let i = 0; i < 100; i++) reporter.decision(decide(risk({ isTor: true })), { adapter: 'trpc', request })
    await flush()
    expect(now).toHaveBeenCalledTimes(1)
  })

  it('never throws, even on a malformed decision', () => {
    const reporter = createReporter({ logger: recordingLogger() })
    expect(() => reporter.decision({} as Decision)).not.toThrow()
    expect(() => reporter.decision(null as unknown as Decision)).not.toThrow()
  })
})

class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function counter(reader: TestReader, name: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect()
  const out: Record<string, number> = {}
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue
      for (const point of metric.dataPoints) {
        const key = Object.entries(point.attributes)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',')
        out[key] = point.value as number
      }
    }
  }
  return out
}

describe('createReporter: metrics', () => {
  it('counts every decision by reported action, whether or not it is logged', async () => {
    const reader = new TestReader()
    const reporter = createReporter({ meterProvider: new MeterProvider({ readers: [reader] }), sampleAllows: 0 })
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk()))
    reporter.decision(decide(risk({ isTor: true })))
    reporter.decision(decide(risk({ isTor: true }), compilePolicy({ ...policies.human, monitor: true })))
    expect(await counter(reader, 'iprisk.decisions')).toStrictEqual({
      'action=allow,reason=clean': 2,
      'action=block,reason=tor_exit_node': 1,
      'action=monitor,reason=tor_exit_node': 1,
    })
  })

  it('exposes its metrics, or the ones it was given', () => {
    const reporter = createReporter({})
    expect(typeof reporter.metrics.cache).toBe('function')
    const shared = createReporter({}).metrics
    expect(createReporter({ metrics: shared }).metrics).toBe(shared)
  })

  it('records decisions into the metrics object it was given', () => {
    const decision = vi.fn()
    const metrics = { ...createReporter({}).metrics, decision }
    createReporter({ metrics }).decision(decide(risk({ score: 85 })))
    expect(decision).toHaveBeenCalledWith('block', 'risk_score_exceeded')
  })
})

describe('createReporter: configError', () => {
  afterEach(() => vi.restoreAllMocks())

  it('logs each option once via logger.warn and prints nothing', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const logger = recordingLogger()
    const reporter = createReporter({ logger })
    reporter.configError('apiKey', 'the provider rejected the API key (401)')
    reporter.configError('apiKey', 'the provider rejected the API key (401)')
    reporter.configError('cache.redis', 'cannot connect to redis://127.0.0.1:6390')
    expect(logger.calls).toStrictEqual([
      {
        level: 'warn',
        obj: { event: 'config_error', option: 'apiKey' },
        msg: 'iprisk: configuration problem with `apiKey`: the provider rejected the API key (401)',
      },
      {
        level: 'warn',
        obj: { event: 'config_error', option: 'cache.redis' },
        msg: 'iprisk: configuration problem with `cache.redis`: cannot connect to redis://127.0.0.1:6390',
      },
    ])
    expect(warn).not.toHaveBeenCalled()
  })

  it('prints with console.warn, once per option, when no logger is configured', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const reporter = createReporter({})
    for (let i = 0; i < 5; i++) reporter.configError('apiKey', 'the provider rejected the API key (401)')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn).toHaveBeenCalledWith('iprisk: configuration problem with `apiKey`: the provider rejected the API key (401)')
  })

  it('each reporter remembers its own options', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    createReporter({}).configError('apiKey', 'bad')
    createReporter({}).configError('apiKey', 'bad')
    expect(warn).toHaveBeenCalledTimes(2)
  })

  it('stops after 100 distinct options', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const reporter = createReporter({})
    for (let i = 0; i < 150; i++) reporter.configError(`option${String(i)}`, 'bad')
    expect(warn).toHaveBeenCalledTimes(100)
  })

  it('a throwing logger does not make configError throw', () => {
    const logger: Logger = {
      info: () => {},
      warn: () => {
        throw new Error('closed stream')
      },
    }
    expect(() => createReporter({ logger }).configError('apiKey', 'bad')).not.toThrow()
  })
})

describe('createReporter: option validation', () => {
  const cases: Array<{ name: string; options: unknown; option: string; message: RegExp }> = [
    { name: 'sampleAllows above 1', options: { sampleAllows: 1.5 }, option: 'sampleAllows', message: /from 0 to 1/ },
    { name: 'negative sampleAllows', options: { sampleAllows: -0.1 }, option: 'sampleAllows', message: /from 0 to 1/ },
    { name: 'NaN sampleAllows', options: { sampleAllows: Number.NaN }, option: 'sampleAllows', message: /from 0 to 1/ },
    { name: 'sampleAllows as a string', options: { sampleAllows: '0.5' }, option: 'sampleAllows', message: /from 0 to 1/ },
    { name: 'highRiskScore above 100', options: { highRiskScore: 101 }, option: 'highRiskScore', message: /from 0 to 100/ },
    { name: 'logger without methods', options: { logger: {} }, option: 'logger', message: /info\(obj, msg\) and warn/ },
    { name: 'logger with a non-function warn', options: { logger: { info() {}, warn: 1 } }, option: 'logger', message: /logger/ },
    { name: 'logger with a non-function error', options: { logger: { info() {}, warn() {}, error: 'x' } }, option: 'logger', message: /logger/ },
    { name: 'onDecision not a function', options: { onDecision: 'https://hooks.example' }, option: 'onDecision', message: /must be a function/ },
    { name: 'onBlock not a function', options: { onBlock: {} }, option: 'onBlock', message: /must be a function/ },
    { name: 'onHighRisk not a function', options: { onHighRisk: 1 }, option: 'onHighRisk', message: /must be a function/ },
    { name: 'meterProvider without getMeter', options: { meterProvider: {} }, option: 'meterProvider', message: /MeterProvider/ },
    { name: 'metrics not a Metrics object', options: { metrics: {} }, option: 'metrics', message: /createMetrics/ },
    { name: 'now not a function', options: { now: 5 }, option: 'now', message: /function/ },
    { name: 'clock without timers', options: { clock: { now: () => 0 } }, option: 'clock', message: /must be a Clock/ },
    { name: 'random not a function', options: { random: 0.5 }, option: 'random', message: /function/ },
    { name: 'options not an object', options: 'verbose', option: 'options', message: /must be an object/ },
  ]
  it.each(cases)('rejects $name naming `$option`', ({ options, option, message }) => {
    let thrown: unknown
    try {
      createReporter(options as ReporterOptions)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(IpRiskConfigError)
    expect((thrown as IpRiskConfigError).option).toBe(option)
    expect((thrown as IpRiskConfigError).message).toMatch(message)
  })

  it('accepts console as a logger and every option at its limits', () => {
    expect(() =>
      createReporter({ logger: console, sampleAllows: 0, highRiskScore: 100, onDecision() {}, onBlock() {}, onHighRisk() {} }),
    ).not.toThrow()
    expect(() => createReporter({ sampleAllows: 1, highRiskScore: 0 })).not.toThrow()
  })

  it('ignores options that belong to the resolver', () => {
    expect(() => createReporter({ apiKey: 'x', failMode: 'closed' } as ReporterOptions)).not.toThrow()
  })
})
