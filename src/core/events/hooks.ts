/**
 * Running the application's hooks (`onDecision`, `onBlock`, `onHighRisk`, `onDegraded`): never awaited, their
 * exceptions and rejections caught, counted in `iprisk.hook.errors` and logged at most once a minute per hook.
 *
 * @module
 */

import type { Clock } from '../clock.js'
import type { HookName, Metrics } from '../metrics.js'
import type { Logger } from './options.js'

/** A failing hook is logged at most once per this interval (failures in between are counted and reported with it). */
const HOOK_ERROR_LOG_INTERVAL_MS = 60_000

/** Where the error log of one hook stands. */
interface HookErrorLog {
  /** When its last error line was written (epoch ms). */
  loggedAt: number
  /** Failures not logged since. */
  suppressed: number
}

/**
 * Calls hooks so that they can neither throw into nor hold up the caller. Not rate-limited itself: only the log lines
 * of failures are.
 * @internal
 */
export class HookRunner {
  readonly #logger: Logger | undefined
  readonly #metrics: Metrics
  readonly #clock: Clock
  readonly #errors: Record<HookName, HookErrorLog> = {
    onDecision: { loggedAt: -Infinity, suppressed: 0 },
    onBlock: { loggedAt: -Infinity, suppressed: 0 },
    onHighRisk: { loggedAt: -Infinity, suppressed: 0 },
    onDegraded: { loggedAt: -Infinity, suppressed: 0 },
  }
  /** Bound once: a hook returning a promise gets its rejection handler without a closure per call. */
  readonly #rejected: Record<HookName, (error: unknown) => void> = {
    onDecision: (error) => this.failed('onDecision', error),
    onBlock: (error) => this.failed('onBlock', error),
    onHighRisk: (error) => this.failed('onHighRisk', error),
    onDegraded: (error) => this.failed('onDegraded', error),
  }

  constructor(logger: Logger | undefined, metrics: Metrics, clock: Clock) {
    this.#logger = logger
    this.#metrics = metrics
    this.#clock = clock
  }

  /** Call `fn(event)`; a throw or a rejection is reported by {@link failed}. Never throws. */
  invoke<E>(name: HookName, fn: (event: E) => unknown, event: E): void {
    try {
      const result: unknown = fn(event)
      if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
        ;(result as PromiseLike<unknown>).then(undefined, this.#rejected[name])
      }
    } catch (error) {
      this.failed(name, error)
    }
  }

  /** Count a hook failure and log it, at most once per interval per hook (with how many were left out). */
  failed(name: HookName, error: unknown): void {
    try {
      this.#metrics.hookError(name)
      const logger = this.#logger
      if (logger === undefined) return
      const log = this.#errors[name]
      const t = this.#clock.now()
      if (t - log.loggedAt < HOOK_ERROR_LOG_INTERVAL_MS) {
        log.suppressed++
        return
      }
      log.loggedAt = t
      const entry = { hook: name, err: error, suppressed: log.suppressed }
      log.suppressed = 0
      const message = `iprisk ${name} hook failed`
      if (typeof logger.error === 'function') logger.error(entry, message)
      else logger.warn(entry, message)
    } catch {
      // A failing logger must not turn a hook failure into an uncaught exception.
    }
  }
}
