/**
 * The reporter behind `resolver.report`: counts every decision in metrics and, when someone listens, turns decisions
 * into security events for the logger and the hooks (see the `events` module for the volume rules).
 *
 * @module
 */

import type { Metrics, ReportedAction } from '../metrics.js'
import type { DegradedEvent, DegradedKind } from '../self-check/vocabulary.js'
import type { Decision, RequestInfo } from '../types.js'
import { DecisionLog } from './decision-log.js'
import { HookRunner } from './hooks.js'
import type { ReporterConfig } from './options.js'
import { securityEvent } from './security-event.js'
import { TO_BLOCK, TO_DECISION, TO_HIGH_RISK, TO_HOOKS, TO_LOG, TurnBatch, later, type Pending } from './turn-batch.js'

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
  /**
   * The end of a condition reported by {@link Reporter.degraded} that has one (`blocks_not_propagating`): written with
   * `logger.info({ event: 'recovered', kind }, message)` (or `console.info(message)` without a logger). Never throws.
   */
  recovered(kind: DegradedKind, message: string): void
  /** The metrics this reporter records into (shared with the resolver). */
  readonly metrics: Metrics
}

/** Distinct options remembered by `configError`; beyond, further distinct options are dropped (they are a bug). */
const MAX_CONFIG_ERRORS = 100

/**
 * The {@link Reporter} made by `createReporter`: the options validated once, the decision log, the hook runner and
 * the batch of the current turn, each owning its own state.
 * @internal
 */
export class EventReporter implements Reporter {
  readonly metrics: Metrics
  readonly #config: ReporterConfig
  /** Whether allows are written anywhere (they are sampled). */
  readonly #sampledSinks: boolean
  /** Whether anything but the metrics receives decisions. */
  readonly #listening: boolean
  readonly #log: DecisionLog | undefined
  readonly #hooks: HookRunner
  readonly #batch: TurnBatch
  readonly #reportedOptions = new Set<string>()

  constructor(config: ReporterConfig) {
    this.#config = config
    this.metrics = config.metrics
    this.#sampledSinks = config.logger !== undefined || config.onDecision !== undefined
    this.#listening = this.#sampledSinks || config.onBlock !== undefined || config.onHighRisk !== undefined
    this.#log = config.logger === undefined ? undefined : new DecisionLog(config.logger, config.clock)
    this.#hooks = new HookRunner(config.logger, config.metrics, config.clock)
    this.#batch = new TurnBatch(config.clock, (pending) => this.#deliver(pending))
  }

  decision(decision: Decision, info?: RequestInfo): void {
    try {
      const action: ReportedAction = decision.monitored ? 'monitor' : decision.action
      this.metrics.decision(action, decision.reason)
      if (!this.#listening) return
      const mask = this.#destinations(decision)
      if (mask === 0) return

      const request = info?.request
      if (typeof request === 'object' && request !== null) {
        this.#batch.coalesce(request, decision, info, action, mask)
        return
      }
      // No request to coalesce with: this decision is its own event, logged now.
      const time = this.#config.clock.now()
      const event = securityEvent(decision, info, time)
      if ((mask & TO_LOG) !== 0) this.#log?.write(event, decision.wouldBlock)
      if ((mask & TO_HOOKS) !== 0) this.#batch.push({ decision, info, action, time, count: 1, mask, event })
    } catch {
      // Reporting never breaks a request (e.g. a malformed decision from a JavaScript caller).
    }
  }

  /** The `TO_*` bits of a decision: where its event goes (allows to the sampled sinks only when drawn). */
  #destinations(decision: Decision): number {
    const { logger, onDecision, onBlock, onHighRisk, sampleAllows, highRiskScore, random } = this.#config
    const score = decision.risk.score
    const sampled =
      this.#sampledSinks && (decision.wouldBlock || sampleAllows >= 1 || (sampleAllows > 0 && random() < sampleAllows))
    return (
      (sampled && logger !== undefined ? TO_LOG : 0) |
      (sampled && onDecision !== undefined ? TO_DECISION : 0) |
      (onBlock !== undefined && decision.action === 'block' ? TO_BLOCK : 0) |
      (onHighRisk !== undefined && score !== null && score >= highRiskScore ? TO_HIGH_RISK : 0)
    )
  }

  /** At the end of the turn: build (and log) the event of a pending batch, then run its hooks. */
  #deliver(pending: Pending): void {
    const { onDecision, onBlock, onHighRisk } = this.#config
    let event = pending.event
    if (event === undefined) {
      event = securityEvent(pending.decision, pending.info, pending.time, pending.count)
      if ((pending.mask & TO_LOG) !== 0) this.#log?.write(event, pending.decision.wouldBlock)
    }
    const mask = pending.mask
    if ((mask & TO_DECISION) !== 0 && onDecision !== undefined) this.#hooks.invoke('onDecision', onDecision, event)
    if ((mask & TO_BLOCK) !== 0 && onBlock !== undefined) this.#hooks.invoke('onBlock', onBlock, event)
    if ((mask & TO_HIGH_RISK) !== 0 && onHighRisk !== undefined) this.#hooks.invoke('onHighRisk', onHighRisk, event)
  }

  configError(option: string, message: string): void {
    if (this.#reportedOptions.has(option) || this.#reportedOptions.size >= MAX_CONFIG_ERRORS) return
    this.#reportedOptions.add(option)
    const text = `iprisk: configuration problem with \`${option}\`: ${message}`
    try {
      const logger = this.#config.logger
      if (logger !== undefined) logger.warn({ event: 'config_error', option }, text)
      else console.warn(text)
    } catch {
      // Nothing else to try.
    }
  }

  degraded(event: DegradedEvent): void {
    const { logger, onDegraded } = this.#config
    try {
      this.metrics.degraded(event.kind)
      if (logger !== undefined) logger.warn(event, event.message)
      else console.warn(event.message)
    } catch {
      // Nothing else to try.
    }
    if (onDegraded !== undefined) later(() => this.#hooks.invoke('onDegraded', onDegraded, event))
  }

  recovered(kind: DegradedKind, message: string): void {
    try {
      const logger = this.#config.logger
      if (logger !== undefined) logger.info({ event: 'recovered', kind }, message)
      else console.info(message)
    } catch {
      // Nothing else to try.
    }
  }
}
