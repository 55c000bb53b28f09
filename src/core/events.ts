/**
 * Security events: one structured record per policy decision (the guide's `SecurityEventLogger`), delivered to a
 * pino-compatible logger and to application hooks, plus the single warning iprisk prints for a configuration error.
 *
 * Volume is bounded by requests, not by calls: the decisions of one request (`RequestInfo.request`) with the same
 * policy and outcome, made in the same turn of the event loop (the calls of a tRPC batch, the operations of a GraphQL
 * batch), are one event carrying their `count`; and a would-block repeated for the same client IP, path, policy and
 * reason is written to the log at most {@link DECISION_LOG_BURST} times per {@link DECISION_LOG_INTERVAL_MS}, the next
 * line carrying how many were `suppressed`. Metrics count every decision.
 *
 * Reporting never throws and never waits: a decision without a request is logged inline (inside `try`); the events of
 * a request are logged at the end of the current turn of the event loop, once its calls have been decided; hooks run
 * after the current request code has yielded (`setImmediate`), their exceptions and rejections are caught, and their
 * promises are never awaited.
 *
 * @module
 */

import type { MeterProvider } from '@opentelemetry/api'
import { LRUCache } from 'lru-cache'
import { z } from 'zod'
import { IpRiskConfigError } from './errors.js'
import { createMetrics, type HookName, type Metrics, type ReportedAction } from './metrics.js'
import type { DegradedEvent, DegradedEventHook } from './self-check.js'
import type { Decision, DecisionReason, LookupError, RequestInfo, RiskStatus } from './types.js'

/**
 * The logging interface iprisk needs: pino, bunyan, `console` and most structured loggers fit. Methods are called as
 * methods (`logger.warn(obj, msg)`), so bound `this` is preserved.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * const logger: Logger = pino({ name: 'iprisk' })
 * ```
 */
export interface Logger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error?(obj: object, msg?: string): void
}

/**
 * One policy decision, or several identical ones of one request (see `count`), as logged and passed to hooks. Field
 * names are snake_case like the guide's security log, so existing SIEM parsers and dashboards keep working. Only these
 * fields exist: never the API key, never a header dump.
 *
 * @example
 * ```json
 * { "timestamp": "2025-01-01T00:00:00.000Z", "event": "bot_detection", "action": "block", "reason": "tor_exit_node",
 *   "fail_open": false, "policy": "human", "ip": "185.220.101.1", "path": "user.signup", "method": "mutation",
 *   "operation_name": null, "adapter": "trpc", "risk_score": 92, "is_vpn": false, "is_proxy": false, "is_tor": true,
 *   "is_datacenter": true, "country": "DE", "asn": 60729, "isp": "Example Hosting", "user_agent": "curl/8.5.0",
 *   "cached": true, "lookup_ms": 0, "monitored": false, "status": "scored", "error": null, "count": 1 }
 * ```
 */
export interface SecurityEvent {
  /** ISO 8601, when the decision was reported. */
  timestamp: string
  event: 'bot_detection'
  /** `monitor` is a would-block of a policy in monitor mode: the request went through. */
  action: 'allow' | 'block' | 'monitor'
  reason: DecisionReason
  /** The request was allowed only because no verdict could be had. */
  fail_open: boolean
  /** The policy's `name`, or `null` for an unnamed policy. */
  policy: string | null
  ip: string | null
  /** tRPC procedure path, or `Operation.field` for GraphQL (at most 200 characters). */
  path: string | null
  /** tRPC procedure type, or GraphQL operation type (at most 200 characters). */
  method: string | null
  /** GraphQL operation name as sent by the client (at most 200 characters). */
  operation_name: string | null
  adapter: string | null
  risk_score: number | null
  is_vpn: boolean | null
  is_proxy: boolean | null
  is_tor: boolean | null
  is_datacenter: boolean | null
  /** ISO 3166-1 alpha-2. */
  country: string | null
  asn: number | null
  isp: string | null
  /** The `User-Agent` header, truncated to 200 characters. */
  user_agent: string | null
  /** The answer came from a cache (L1, L2, or a stale entry), not from a provider call made for this request. */
  cached: boolean
  /** Time spent obtaining the answer, in milliseconds rounded to 0.01 ms. */
  lookup_ms: number
  /** The policy is in monitor mode and would have blocked. */
  monitored: boolean
  status: RiskStatus
  error: LookupError | null
  /**
   * How many decisions this event stands for (at least 1): the calls of one request (a tRPC batch, a GraphQL batch)
   * decided in the same turn of the event loop with the same policy, action and reason are reported as one event,
   * whose other fields are those of the first. Allows dropped by `sampleAllows` are not included (only the metrics
   * count them).
   */
  count: number
}

/**
 * A hook receiving security events. It may be async; it is never awaited and its failures are only logged.
 *
 * @example
 * ```ts
 * const onBlock: SecurityEventHook = async (event) => {
 *   await fetch(webhookUrl, { method: 'POST', body: JSON.stringify(event), signal: AbortSignal.timeout(3000) })
 * }
 * ```
 */
export type SecurityEventHook = (event: SecurityEvent) => void | Promise<void>

/**
 * Where decisions are reported: options of `createRiskResolver`. Every field is optional; with none, decisions are
 * only counted in metrics (on the global OpenTelemetry meter provider, a no-op unless an SDK is registered).
 *
 * @example
 * ```ts
 * const resolver = createRiskResolver({
 *   logger: pino(),
 *   sampleAllows: 0.01,
 *   onBlock: (event) => alerts.push(event),
 *   onHighRisk: (event) => notifyOnCall(event),
 * })
 * ```
 */
export interface ObservabilityOptions {
  /**
   * Receives emitted events as `logger.warn(event, 'iprisk decision')` for blocks and monitored would-blocks,
   * `logger.info` for allows. Would-blocks repeated for the same client IP, adapter, path, policy, action and reason
   * are written at most {@link DECISION_LOG_BURST} times per {@link DECISION_LOG_INTERVAL_MS}; the next line written
   * for them carries `suppressed`, the number of decisions left out (hooks and metrics are not rate-limited).
   */
  logger?: Logger
  /**
   * Fraction of allow decisions emitted to `logger` and `onDecision`, from 0 (none: allows are only counted in
   * metrics) to 1 (all). Blocks and monitored would-blocks are always emitted; `onBlock` and `onHighRisk` are never
   * sampled.
   * @default 1
   */
  sampleAllows?: number
  /** Every emitted event (allows subject to `sampleAllows`). */
  onDecision?: SecurityEventHook
  /**
   * Every request actually blocked (`action: 'block'`), once per request, policy and reason (`count` tells how many
   * calls of the request it stands for); not monitored would-blocks.
   */
  onBlock?: SecurityEventHook
  /** Every decision whose risk score is at least `highRiskScore`, whatever the action. */
  onHighRisk?: SecurityEventHook
  /**
   * Every `degraded` warning of the deployment self-check (an untrusted proxy, calls without a client IP, most
   * decisions without a verdict, a provider whose calls all fail): see `DegradedEvent`. Each kind is raised once
   * (`no_verdict` and `provider_failing` again after a recovery, at most once a minute), never per request.
   */
  onDegraded?: DegradedEventHook
  /** Score (0–100) from which `onHighRisk` fires. @default 95 */
  highRiskScore?: number
  /** OpenTelemetry `MeterProvider` for iprisk's metrics. Default: the global one of `@opentelemetry/api`. */
  meterProvider?: MeterProvider
}

/**
 * {@link ObservabilityOptions} plus what the resolver (or a test) shares with the reporter.
 *
 * @example
 * ```ts
 * // Deterministic reporter for a test: fixed clock, every second allow sampled.
 * let i = 0
 * const options: ReporterOptions = { logger, sampleAllows: 0.5, now: () => 0, random: () => (i++ % 2) / 2 }
 * ```
 */
export interface ReporterOptions extends ObservabilityOptions {
  /** Use these metrics instead of creating them from `meterProvider`. */
  metrics?: Metrics
  /**
   * Clock in epoch milliseconds, for event timestamps and the log intervals (repeated would-blocks, hook errors).
   * @default Date.now
   */
  now?: () => number
  /** Source of randomness in [0, 1) for `sampleAllows`. @default Math.random */
  random?: () => number
}

/**
 * Emits decisions and configuration errors. Created by {@link createReporter}; the resolver owns one.
 *
 * @example
 * ```ts
 * const reporter: Reporter = createReporter({ logger })
 * reporter.decision(decision, { adapter: 'graphql', path: 'Mutation.login', operationName: 'Login' })
 * reporter.configError('apiKey', 'the provider rejected the API key (HTTP 401)')
 * reporter.metrics.cache('l1')
 * ```
 */
export interface Reporter {
  /**
   * Count a decision and, when someone listens, emit its {@link SecurityEvent}: at once without `info.request`; with
   * one, at the end of the current turn of the event loop, as one event per request, policy, action and reason
   * (carrying the `count` of decisions). Synchronous, never throws; hooks run later and are never awaited.
   */
  decision(decision: Decision, info?: RequestInfo): void
  /**
   * Report a configuration problem found at run time (bad API key, unreachable Redis, ...). Reported once per
   * `option`: via `logger.warn`, or `console.warn` when no logger is configured — the only output iprisk ever
   * produces without a logger. `message` must not contain secrets.
   */
  configError(option: string, message: string): void
  /**
   * Report a `degraded` warning of the self-check (the resolver calls it, once per kind): counted in
   * `iprisk.degraded{kind}`, written with `logger.warn(event, event.message)` (or `console.warn(event.message)`
   * without a logger), passed to `onDegraded` later. Never throws.
   */
  degraded(event: DegradedEvent): void
  /** The metrics this reporter records into (shared with the resolver). */
  readonly metrics: Metrics
}

/**
 * The message of every decision log line.
 *
 * @example
 * ```ts
 * // jq filter on a pino log file:  select(.msg == "iprisk decision" and .action == "block")
 * lines.filter((l) => l.msg === DECISION_LOG_MESSAGE)
 * ```
 */
export const DECISION_LOG_MESSAGE = 'iprisk decision'

/**
 * The window of the log rate limit of repeated would-blocks (60 s): for one client IP, adapter, path, policy, action
 * (`block` or `monitor`) and reason, at most {@link DECISION_LOG_BURST} `iprisk decision` lines are written per
 * window, which starts with the first line written for the key. The decisions after those lines are not logged; the
 * first line of the key's next window carries `suppressed`, how many were left out. Allows (thinned by `sampleAllows`
 * instead), hooks and metrics are not rate-limited.
 *
 * @example
 * ```ts
 * // A Tor exit hammering one procedure for an hour: at most 300 log lines, and the metrics count every call.
 * const maxLinesPerHour = (3_600_000 / DECISION_LOG_INTERVAL_MS) * DECISION_LOG_BURST // 300
 * ```
 */
export const DECISION_LOG_INTERVAL_MS = 60_000

/**
 * How many lines one key of the log rate limit may write per {@link DECISION_LOG_INTERVAL_MS} (5): a person retrying
 * by hand sees each attempt; a flood is cut after the fifth.
 *
 * @example
 * ```ts
 * const maxLinesPerMinutePerKey = DECISION_LOG_BURST // 5
 * ```
 */
export const DECISION_LOG_BURST = 5

/**
 * How many keys (client IP, adapter, path, policy, action, reason) the log rate limit remembers; beyond, the least
 * recently used is forgotten (its next would-block is logged again, and a `suppressed` count it held is only in the
 * metrics). Bounds the rate limiter's memory whatever the number of client IPs: a key is at most about 700 bytes
 * (paths are capped at 200 characters), typically under 200.
 *
 * @example
 * ```ts
 * const worstCaseBytes = DECISION_LOG_KEYS * 700 // ~7 MB; typically under 2 MB
 * ```
 */
export const DECISION_LOG_KEYS = 10_000

/** Longest string copied from the request into an event. */
const MAX_TEXT = 200
/** A failing hook is logged at most once per this interval (failures in between are counted and reported with it). */
const HOOK_ERROR_LOG_INTERVAL_MS = 60_000
/** Distinct options remembered by `configError`; beyond, further distinct options are dropped (they are a bug). */
const MAX_CONFIG_ERRORS = 100

function clip(text: string | null | undefined): string | null {
  if (typeof text !== 'string') return null
  if (text.length <= MAX_TEXT) return text
  // Do not cut a surrogate pair in half: a lone surrogate is invalid UTF-8 for some log sinks.
  const code = text.charCodeAt(MAX_TEXT - 1)
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? MAX_TEXT - 1 : MAX_TEXT)
}

/**
 * Build the security event of a decision. Exposed for applications that emit events through their own channel
 * (e.g. attach it to an audit record); the reporter uses the same function.
 *
 * @param decision A decision from `evaluate` / `resolver.check`.
 * @param info What the adapter knows about the request (`info.request` is not copied).
 * @param timestamp Epoch milliseconds (default: now).
 * @param count How many decisions the event stands for (a positive integer; anything else counts as 1).
 * @returns A frozen event.
 *
 * @example
 * ```ts
 * const event = securityEvent(resolver.check(risk, policies.human), { adapter: 'trpc', path: 'user.signup' })
 * audit.write(JSON.stringify(event))
 * ```
 */
export function securityEvent(
  decision: Decision,
  info?: RequestInfo,
  timestamp: number = Date.now(),
  count: number = 1,
): SecurityEvent {
  const risk = decision.risk
  const source = risk.source
  return Object.freeze<SecurityEvent>({
    timestamp: new Date(Number.isFinite(timestamp) ? timestamp : Date.now()).toISOString(),
    event: 'bot_detection',
    action: decision.monitored ? 'monitor' : decision.action,
    reason: decision.reason,
    fail_open: decision.failOpen,
    policy: decision.policy.name ?? null,
    ip: risk.ip,
    path: clip(info?.path),
    method: clip(info?.method),
    operation_name: clip(info?.operationName),
    adapter: clip(info?.adapter),
    risk_score: risk.score,
    is_vpn: risk.isVpn,
    is_proxy: risk.isProxy,
    is_tor: risk.isTor,
    is_datacenter: risk.isDatacenter,
    country: risk.countryCode,
    asn: risk.asn,
    isp: risk.isp,
    user_agent: clip(info?.userAgent),
    cached: source === 'l1' || source === 'l2' || source === 'stale',
    lookup_ms: Math.round(risk.lookupMs * 100) / 100,
    monitored: decision.monitored,
    status: risk.status,
    error: risk.error,
    count: Number.isSafeInteger(count) && count > 0 ? count : 1,
  })
}

// ---------------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------------

const isFunction = (value: unknown): boolean => typeof value === 'function'
const hookOf = <H>() => z.custom<H>(isFunction, { error: 'must be a function (event) => void | Promise<void>' })
const hook = hookOf<SecurityEventHook>()

const optionsSchema = z.object({
  logger: z
    .custom<Logger>(
      (value) => {
        if (typeof value !== 'object' || value === null) return false
        const l = value as Record<string, unknown>
        return isFunction(l.info) && isFunction(l.warn) && (l.error === undefined || isFunction(l.error))
      },
      { error: 'must be a logger with info(obj, msg) and warn(obj, msg) methods (pino, console, ...)' },
    )
    .optional(),
  sampleAllows: z
    .number({ error: 'must be a number from 0 to 1' })
    .min(0, { error: 'must be a number from 0 to 1' })
    .max(1, { error: 'must be a number from 0 to 1' })
    .optional(),
  onDecision: hook.optional(),
  onBlock: hook.optional(),
  onHighRisk: hook.optional(),
  onDegraded: hookOf<DegradedEventHook>().optional(),
  highRiskScore: z
    .number({ error: 'must be a number from 0 to 100' })
    .min(0, { error: 'must be a number from 0 to 100' })
    .max(100, { error: 'must be a number from 0 to 100' })
    .optional(),
  meterProvider: z
    .custom<MeterProvider>(
      (value) => typeof value === 'object' && value !== null && isFunction((value as Record<string, unknown>).getMeter),
      { error: 'must be an OpenTelemetry MeterProvider (an object with getMeter())' },
    )
    .optional(),
  metrics: z
    .custom<Metrics>(
      (value) => typeof value === 'object' && value !== null && isFunction((value as Record<string, unknown>).decision),
      { error: 'must be a Metrics object from createMetrics()' },
    )
    .optional(),
  now: z.custom<() => number>(isFunction, { error: 'must be a function returning epoch milliseconds' }).optional(),
  random: z.custom<() => number>(isFunction, { error: 'must be a function returning a number in [0, 1)' }).optional(),
})

// ---------------------------------------------------------------------------------------------------------------------
// Reporter
// ---------------------------------------------------------------------------------------------------------------------

/** Bits telling where an event goes. */
const TO_DECISION = 1
const TO_BLOCK = 2
const TO_HIGH_RISK = 4
const TO_LOG = 8
const TO_HOOKS = TO_DECISION | TO_BLOCK | TO_HIGH_RISK

/** Run `fn` after the current synchronous work and its pending promise jobs: the request's own code goes first. */
const later: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => queueMicrotask(fn)

/**
 * An event waiting for the end of the turn: the decisions of one request with one policy, action and reason (built
 * then, with their count), or the event of a decision without a request (built and logged at once; only its hooks
 * wait).
 */
interface Pending {
  readonly decision: Decision
  readonly info: RequestInfo | undefined
  readonly action: ReportedAction
  /** Epoch milliseconds of the first decision. */
  readonly time: number
  count: number
  /** `TO_*` bits: the union of the decisions' destinations. */
  mask: number
  event: SecurityEvent | undefined
}

/** Where the log rate limit of one (client IP, adapter, path, policy, action, reason) stands. */
interface LogWindow {
  /** When the window began: the time of its first line (epoch ms). */
  start: number
  /** Lines written in the window. */
  lines: number
  /** Decisions not logged in the window (after its last line). */
  suppressed: number
}

/**
 * Create the reporter behind `resolver.report`. Options are validated here, once.
 *
 * @throws {IpRiskConfigError} naming the bad option (`sampleAllows`, `logger`, `onBlock`, ...).
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * import { createReporter, evaluate, policies } from 'iprisk'
 *
 * const reporter = createReporter({ logger: pino(), sampleAllows: 0.05, onBlock: (e) => void sendAlert(e) })
 * reporter.decision(evaluate(risk, policies.human), { adapter: 'trpc', path: 'user.signup', userAgent, request: req })
 * ```
 */
export function createReporter(options: ReporterOptions = {}): Reporter {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    if (issue === undefined || issue.path.length === 0) throw new IpRiskConfigError('options', 'must be an object')
    throw new IpRiskConfigError(issue.path.map(String).join('.'), issue.message)
  }
  const { logger, onDecision, onBlock, onHighRisk, onDegraded } = options
  const sampleAllows = options.sampleAllows ?? 1
  const highRiskScore = options.highRiskScore ?? 95
  // Read through `Date` at each call (not bound once), so that a test faking `Date` drives the log intervals too.
  const now = options.now ?? (() => Date.now())
  const random = options.random ?? Math.random
  const metrics = options.metrics ?? createMetrics(options.meterProvider)

  const sampledSinks = logger !== undefined || onDecision !== undefined
  const listening = sampledSinks || onBlock !== undefined || onHighRisk !== undefined

  // Events waiting for the end of the turn, in the order of their first decision, and the ones still open to more
  // decisions, by request. Drained once per turn of the event loop, whatever the number of decisions in between.
  let queue: Pending[] = []
  const open = new Map<object, Pending[]>()
  let scheduled = false

  // The log rate limit of repeated would-blocks, bounded (least recently used keys are forgotten).
  const logWindows = new LRUCache<string, LogWindow>({ max: DECISION_LOG_KEYS })

  const hookErrorLoggedAt: Record<HookName, number> = {
    onDecision: -Infinity,
    onBlock: -Infinity,
    onHighRisk: -Infinity,
    onDegraded: -Infinity,
  }
  const hookErrorsSuppressed: Record<HookName, number> = { onDecision: 0, onBlock: 0, onHighRisk: 0, onDegraded: 0 }

  function hookFailed(name: HookName, error: unknown): void {
    try {
      metrics.hookError(name)
      if (logger === undefined) return
      const t = now()
      if (t - hookErrorLoggedAt[name] < HOOK_ERROR_LOG_INTERVAL_MS) {
        hookErrorsSuppressed[name]++
        return
      }
      hookErrorLoggedAt[name] = t
      const suppressed = hookErrorsSuppressed[name]
      hookErrorsSuppressed[name] = 0
      const entry = { hook: name, err: error, suppressed }
      const message = `iprisk ${name} hook failed`
      if (typeof logger.error === 'function') logger.error(entry, message)
      else logger.warn(entry, message)
    } catch {
      // A failing logger must not turn a hook failure into an uncaught exception.
    }
  }
  // Bound once: a hook returning a promise gets its rejection handler without a closure per call.
  const rejected: Record<HookName, (error: unknown) => void> = {
    onDecision: (error) => hookFailed('onDecision', error),
    onBlock: (error) => hookFailed('onBlock', error),
    onHighRisk: (error) => hookFailed('onHighRisk', error),
    onDegraded: (error) => hookFailed('onDegraded', error),
  }

  function invoke<E>(name: HookName, fn: (event: E) => unknown, event: E): void {
    try {
      const result: unknown = fn(event)
      if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
        ;(result as PromiseLike<unknown>).then(undefined, rejected[name])
      }
    } catch (error) {
      hookFailed(name, error)
    }
  }

  /**
   * Write an event to the logger: allows at `info`; would-blocks at `warn`, at most {@link DECISION_LOG_BURST} lines
   * per {@link DECISION_LOG_INTERVAL_MS} per (client IP, adapter, path, policy, action, reason), by the clock when
   * written, the first line of a window after suppressed decisions carrying `suppressed` (a copy of the event is made
   * only then).
   */
  function log(event: SecurityEvent, wouldBlock: boolean): void {
    if (logger === undefined) return
    try {
      if (!wouldBlock) {
        logger.info(event, DECISION_LOG_MESSAGE)
        return
      }
      // Identical blocks: same client, same place (adapter, path), same policy and outcome. The IP is canonical and
      // the other fields come from the application's code (policy names, procedure paths, schema coordinates), so a
      // newline cannot make two keys collide by accident.
      const key = `${event.ip ?? ''}\n${event.adapter ?? ''}\n${event.path ?? ''}\n${event.policy ?? '\u0000'}\n${event.action}\n${event.reason}`
      const time = now()
      const window = logWindows.get(key)
      let suppressed = 0
      if (window === undefined) logWindows.set(key, { start: time, lines: 1, suppressed: 0 })
      else if (time >= window.start && time - window.start < DECISION_LOG_INTERVAL_MS) {
        // Inside the window. (A clock that went back opens a new window rather than muting the key until it catches up.)
        if (window.lines >= DECISION_LOG_BURST) {
          window.suppressed += event.count
          return
        }
        window.lines++
      } else {
        suppressed = window.suppressed
        window.start = time
        window.lines = 1
        window.suppressed = 0
      }
      logger.warn(suppressed === 0 ? event : { ...event, suppressed }, DECISION_LOG_MESSAGE)
    } catch {
      // Logging is best effort; the request must go on.
    }
  }

  function drain(): void {
    const batch = queue
    queue = []
    open.clear()
    scheduled = false
    for (const pending of batch) {
      let event = pending.event
      if (event === undefined) {
        event = securityEvent(pending.decision, pending.info, pending.time, pending.count)
        if ((pending.mask & TO_LOG) !== 0) log(event, pending.decision.wouldBlock)
      }
      const mask = pending.mask
      if ((mask & TO_DECISION) !== 0 && onDecision !== undefined) invoke('onDecision', onDecision, event)
      if ((mask & TO_BLOCK) !== 0 && onBlock !== undefined) invoke('onBlock', onBlock, event)
      if ((mask & TO_HIGH_RISK) !== 0 && onHighRisk !== undefined) invoke('onHighRisk', onHighRisk, event)
    }
  }

  function enqueue(pending: Pending): void {
    queue.push(pending)
    if (!scheduled) {
      scheduled = true
      later(drain)
    }
  }

  const reportedOptions = new Set<string>()

  return {
    metrics,

    decision(decision, info) {
      try {
        const action: ReportedAction = decision.monitored ? 'monitor' : decision.action
        metrics.decision(action, decision.reason)
        if (!listening) return

        const score = decision.risk.score
        const sampled =
          sampledSinks && (decision.wouldBlock || sampleAllows >= 1 || (sampleAllows > 0 && random() < sampleAllows))
        const mask =
          (sampled && logger !== undefined ? TO_LOG : 0) |
          (sampled && onDecision !== undefined ? TO_DECISION : 0) |
          (onBlock !== undefined && decision.action === 'block' ? TO_BLOCK : 0) |
          (onHighRisk !== undefined && score !== null && score >= highRiskScore ? TO_HIGH_RISK : 0)
        if (mask === 0) return

        const request = info?.request
        if (typeof request === 'object' && request !== null) {
          // Coalesce with the request's earlier decision of the same policy, action and reason in this turn, if any.
          let pendings = open.get(request)
          if (pendings === undefined) {
            pendings = []
            open.set(request, pendings)
          } else {
            for (const pending of pendings) {
              if (
                pending.decision.policy === decision.policy &&
                pending.action === action &&
                pending.decision.reason === decision.reason
              ) {
                pending.count++
                pending.mask |= mask
                return
              }
            }
          }
          const pending: Pending = { decision, info, action, time: now(), count: 1, mask, event: undefined }
          pendings.push(pending)
          enqueue(pending)
          return
        }

        // No request to coalesce with: this decision is its own event, logged now.
        const time = now()
        const event = securityEvent(decision, info, time)
        if ((mask & TO_LOG) !== 0) log(event, decision.wouldBlock)
        if ((mask & TO_HOOKS) !== 0) enqueue({ decision, info, action, time, count: 1, mask, event })
      } catch {
        // Reporting never breaks a request (e.g. a malformed decision from a JavaScript caller).
      }
    },
    configError(option, message) {
      if (reportedOptions.has(option) || reportedOptions.size >= MAX_CONFIG_ERRORS) return
      reportedOptions.add(option)
      const text = `iprisk: configuration problem with \`${option}\`: ${message}`
      try {
        if (logger !== undefined) logger.warn({ event: 'config_error', option }, text)
        else console.warn(text)
      } catch {
        // Nothing else to try.
      }
    },
    degraded(event) {
      try {
        metrics.degraded(event.kind)
        if (logger !== undefined) logger.warn(event, event.message)
        else console.warn(event.message)
      } catch {
        // Nothing else to try.
      }
      if (onDegraded !== undefined) later(() => invoke('onDegraded', onDegraded, event))
    },
  }
}
