/**
 * The observability options (where decisions are reported) and their validation, done once when the reporter is
 * created.
 *
 * @module
 */

import type { MeterProvider } from '@opentelemetry/api'
import * as z from 'zod'
import { isClock, systemClock, type Clock } from '../clock.js'
import { IpRiskConfigError } from '../errors.js'
import { createMetrics, type Metrics } from '../metrics.js'
import type { DegradedEventHook } from '../self-check/vocabulary.js'
import type { SecurityEventHook } from './security-event.js'

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
 * // Deterministic reporter for a test: a clock moved by hand, every second allow sampled.
 * let i = 0
 * const options: ReporterOptions = { logger, sampleAllows: 0.5, clock: createTestClock(), random: () => (i++ % 2) / 2 }
 * ```
 */
export interface ReporterOptions extends ObservabilityOptions {
  /** Use these metrics instead of creating them from `meterProvider`. */
  metrics?: Metrics
  /**
   * Where time is read: event timestamps and the log intervals (repeated would-blocks, hook errors) use `clock.now()`.
   * @default systemClock
   */
  clock?: Clock
  /**
   * Clock in epoch milliseconds, for event timestamps and the log intervals. Ignored when `clock` is given.
   * @deprecated Pass `clock` (a {@link Clock}, e.g. `createTestClock()` from `iprisk/testing`) instead; `now` will be
   *   removed in the next minor version.
   * @default Date.now
   */
  now?: () => number
  /** Source of randomness in [0, 1) for `sampleAllows`. @default Math.random */
  random?: () => number
}

/** {@link ReporterOptions} validated, with their defaults applied. @internal */
export interface ReporterConfig {
  readonly logger: Logger | undefined
  readonly onDecision: SecurityEventHook | undefined
  readonly onBlock: SecurityEventHook | undefined
  readonly onHighRisk: SecurityEventHook | undefined
  readonly onDegraded: DegradedEventHook | undefined
  readonly sampleAllows: number
  readonly highRiskScore: number
  readonly clock: Clock
  readonly random: () => number
  readonly metrics: Metrics
}


const isFunction = (value: unknown): boolean => typeof value === 'function'
const hookOf = <H>() => z.custom<H>(isFunction, { error: 'must be a function (event) => void | Promise<void>' })
const hook = hookOf<SecurityEventHook>()
/** A number in [min, max], with one message for every way of getting it wrong. */
function numberFrom(min: number, max: number) {
  const error = `must be a number from ${String(min)} to ${String(max)}`
  return z.number({ error }).min(min, { error }).max(max, { error })
}

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
  sampleAllows: numberFrom(0, 1).optional(),
  onDecision: hook.optional(),
  onBlock: hook.optional(),
  onHighRisk: hook.optional(),
  onDegraded: hookOf<DegradedEventHook>().optional(),
  highRiskScore: numberFrom(0, 100).optional(),
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
  clock: z.custom<Clock>(isClock, { error: 'must be a Clock (now, monotonic, setTimeout, clearTimeout)' }).optional(),
  now: z.custom<() => number>(isFunction, { error: 'must be a function returning epoch milliseconds' }).optional(),
  random: z.custom<() => number>(isFunction, { error: 'must be a function returning a number in [0, 1)' }).optional(),
})

/** The clock of the deprecated `now` option: its wall time, the system's monotonic time and timers. */
function clockOfNow(now: () => number): Clock {
  return Object.freeze({ ...systemClock, now })
}

/**
 * Validate reporter options and apply their defaults.
 *
 * @throws {IpRiskConfigError} naming the bad option (`sampleAllows`, `logger`, `onBlock`, ...).
 * @internal
 */
export function parseReporterOptions(options: ReporterOptions): ReporterConfig {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    if (issue === undefined || issue.path.length === 0) throw new IpRiskConfigError('options', 'must be an object')
    throw new IpRiskConfigError(issue.path.map(String).join('.'), issue.message)
  }
  return {
    logger: options.logger,
    onDecision: options.onDecision,
    onBlock: options.onBlock,
    onHighRisk: options.onHighRisk,
    onDegraded: options.onDegraded,
    sampleAllows: options.sampleAllows ?? 1,
    highRiskScore: options.highRiskScore ?? 95,
    clock: options.clock ?? (options.now === undefined ? systemClock : clockOfNow(options.now)),
    random: options.random ?? Math.random,
    metrics: options.metrics ?? createMetrics(options.meterProvider),
  }
}
