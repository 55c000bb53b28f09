/**
 * The events of one turn of the event loop: the decisions of one request with the same policy, action and reason
 * (the calls of a tRPC batch, the operations of a GraphQL batch) become one pending event carrying their `count`, and
 * every pending event is delivered once the turn ends, whatever the number of decisions in between.
 *
 * @module
 */

import type { Clock } from '../clock.js'
import type { ReportedAction } from '../metrics.js'
import type { Decision, RequestInfo } from '../types.js'
import type { SecurityEvent } from './security-event.js'

/** Destination bit: the `onDecision` hook. @internal */
export const TO_DECISION = 1
/** Destination bit: the `onBlock` hook. @internal */
export const TO_BLOCK = 2
/** Destination bit: the `onHighRisk` hook. @internal */
export const TO_HIGH_RISK = 4
/** Destination bit: the logger. @internal */
export const TO_LOG = 8
/** Destination bits of the hooks (they run at the end of the turn). @internal */
export const TO_HOOKS = TO_DECISION | TO_BLOCK | TO_HIGH_RISK

/**
 * An event waiting for the end of the turn: the decisions of one request with one policy, action and reason (built
 * then, with their count), or the event of a decision without a request (built and logged at once; only its hooks
 * wait).
 * @internal
 */
export interface Pending {
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

/**
 * Run `fn` after the current synchronous work and its pending promise jobs: the request's own code goes first. Not
 * `setImmediate` on Cloudflare Workers (workerd defines it with nodejs_compat): there a callback a request scheduled
 * with it or `setTimeout` is dropped once the response is sent, so `onDegraded` and the other hooks never ran.
 * @internal
 */
export const later: (fn: () => void) => void =
  typeof setImmediate === 'function' && (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent !== 'Cloudflare-Workers'
    ? (fn) => void setImmediate(fn)
    : (fn) => queueMicrotask(fn)

/**
 * The pending events of the current turn, in the order of their first decision, and the ones still open to more
 * decisions, by request. Drained once per turn (`later`), handing each pending event to `deliver`.
 * @internal
 */
export class TurnBatch {
  #queue: Pending[] = []
  readonly #open = new Map<object, Pending[]>()
  #scheduled = false
  readonly #clock: Clock
  readonly #deliver: (pending: Pending) => void
  /** Bound once: scheduling the drain allocates no closure. */
  readonly #drain = (): void => this.#flush()

  constructor(clock: Clock, deliver: (pending: Pending) => void) {
    this.#clock = clock
    this.#deliver = deliver
  }

  /**
   * Count a decision of `request`: into the request's pending event of the same policy, action and reason in this
   * turn if there is one, else into a new pending event (the clock is read only then).
   */
  coalesce(request: object, decision: Decision, info: RequestInfo | undefined, action: ReportedAction, mask: number): void {
    let pendings = this.#open.get(request)
    if (pendings === undefined) {
      pendings = []
      this.#open.set(request, pendings)
    } else {
      for (const pending of pendings) {
        if (pending.decision.policy === decision.policy && pending.action === action && pending.decision.reason === decision.reason) {
          pending.count++
          pending.mask |= mask
          return
        }
      }
    }
    const pending: Pending = { decision, info, action, time: this.#clock.now(), count: 1, mask, event: undefined }
    pendings.push(pending)
    this.push(pending)
  }

  /** Queue a pending event for the end of the turn. */
  push(pending: Pending): void {
    this.#queue.push(pending)
    if (!this.#scheduled) {
      this.#scheduled = true
      later(this.#drain)
    }
  }

  #flush(): void {
    const batch = this.#queue
    this.#queue = []
    this.#open.clear()
    this.#scheduled = false
    for (const pending of batch) this.#deliver(pending)
  }
}
