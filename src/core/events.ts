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
 * promises are never awaited. Time (event timestamps, log windows) is read from the injected `clock`.
 *
 * The pieces, one concern each: `events/security-event.ts` (the event and its builder), `events/options.ts` (the
 * options and their validation), `events/decision-log.ts` (the log and its rate limit), `events/hooks.ts` (running
 * hooks safely), `events/turn-batch.ts` (coalescing the decisions of a request within a turn) and `events/reporter.ts`
 * (the reporter assembling them). This module re-exports their public names and creates the reporter.
 *
 * @module
 */

import { parseReporterOptions, type ReporterOptions } from './events/options.js'
import { EventReporter, type Reporter } from './events/reporter.js'

export {
  DECISION_LOG_BURST,
  DECISION_LOG_INTERVAL_MS,
  DECISION_LOG_KEYS,
  DECISION_LOG_MESSAGE,
} from './events/decision-log.js'
export type { Logger, ObservabilityOptions, ReporterOptions } from './events/options.js'
export type { Reporter } from './events/reporter.js'
export { securityEvent, type SecurityEvent, type SecurityEventHook } from './events/security-event.js'

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
  return new EventReporter(parseReporterOptions(options))
}
