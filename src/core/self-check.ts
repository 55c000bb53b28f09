/**
 * The deployment self-check: protection never vanishes silently. The resolver feeds it what it sees (client IPs read
 * from local peers, reported decisions, provider call outcomes); it raises a `degraded` warning, once, naming the fix,
 * when protection is not effective, and keeps the last minute of counts for `risk.status()`.
 *
 * Cost: a reported decision reads no clock, and costs a few integer operations on fixed arrays and no allocation:
 * the sliding window (`self-check/window.ts`) keeps its totals up to date as buckets expire, and it is a coarse clock
 * (`self-check/coarse-clock.ts`, a once-a-second timer of the injected {@link Clock}) that moves the window on, not
 * the decision. The timer is started by the first decision (inside a request: some runtimes refuse timers at module
 * scope) and stopped by `close()`; without timers, each decision reads the clock instead. Nothing here throws into a
 * request.
 *
 * Hand-written because it is a few counters: a metrics SDK would need an exporter and a reader to be queried back.
 * The vocabulary is in `self-check/vocabulary.ts`, the warnings' texts in `self-check/warnings.ts`, the start-up probe
 * in `self-check/probe.ts`; this module re-exports them.
 *
 * @module
 */

import type { SharedTierState } from './cache.js'
import { systemClock, type Clock } from './clock.js'
import type { BreakerState } from './metrics.js'
import { CoarseClock } from './self-check/coarse-clock.js'
import {
  NO_VERDICT_MIN_DECISIONS,
  NO_VERDICT_SHARE,
  PROVIDER_FAILING_MIN_CALLS,
  SELF_CHECK_WINDOW_MS,
  type DegradedEvent,
  type DegradedKind,
  type ResolverStatus,
} from './self-check/vocabulary.js'
import {
  LOCAL_PEERS,
  forwardingHeaderOf,
  noClientIpEvent,
  noVerdictEvent,
  providerFailingEvent,
  untrustedProxyEvent,
} from './self-check/warnings.js'
import {
  BUCKET_MS,
  CALLS,
  DECISIONS,
  FAILURES,
  FAIL_OPEN,
  NON_GLOBAL,
  NO_IP,
  NO_VERDICT,
  PENDING,
  SCORED,
  SKIPPED,
  SlidingWindow,
  UNAVAILABLE,
} from './self-check/window.js'
import type { Decision, IpKind, LookupError, RequestInfo, RequestLike } from './types.js'

export {
  NO_VERDICT_MIN_DECISIONS,
  NO_VERDICT_SHARE,
  PROVIDER_FAILING_MIN_CALLS,
  SELF_CHECK_WINDOW_MS,
  type DegradedEvent,
  type DegradedEventHook,
  type DegradedKind,
  type ResolverStatus,
} from './self-check/vocabulary.js'
export {
  IpRiskProbeError,
  PROBE_IP,
  PROBE_TIMEOUT_MS,
  probeProvider,
  type ProbeErrorKind,
  type ReadyOptions,
} from './self-check/probe.js'

/** What the self-check needs from the resolver. */
export interface SelfCheckHost {
  /** Deliver a warning (log, `onDegraded`, metric). */
  warn(event: DegradedEvent): void
  /** The provider's name, for messages. */
  readonly providerName: string
}

/**
 * The self-check of one resolver. Internal: the resolver owns one and exposes it through `status()`.
 * @internal
 */
export class SelfCheck {
  readonly #host: SelfCheckHost
  readonly #clock: Clock
  /** The time of the request path: the clock as of the last tick; its timer moves {@link #window} on. */
  readonly #coarse: CoarseClock
  readonly #window = new SlidingWindow()
  readonly #warned = new Set<DegradedKind>()
  /** Kinds raised and not re-armed yet, and when last raised. */
  readonly #active: Record<DegradedKind, boolean> = {
    untrusted_proxy: false,
    no_client_ip: false,
    no_verdict: false,
    provider_failing: false,
    fleet_budget_fallback: false, // raised by the fleet budget (fleet/budget.ts), not here
    fleet_budget_exhausted: false,
  }
  readonly #raisedAt: Record<'no_verdict' | 'provider_failing', number> = { no_verdict: -Infinity, provider_failing: -Infinity }
  #lastError: LookupError | null = null
  #lastErrorAt = 0
  /** Whether `untrusted_proxy` may still be raised (read on the request path). */
  watchProxy = true

  /**
   * @param host Where warnings go, and the provider's name.
   * @param clock Where time is read and the coarse clock's timer set. @default systemClock
   */
  constructor(host: SelfCheckHost, clock: Clock = systemClock) {
    this.#host = host
    this.#clock = clock
    const window = this.#window
    this.#coarse = new CoarseClock(clock, BUCKET_MS, (t) => window.advance(t))
  }

  /** A precise time from the clock (off the request path: provider calls, status, warnings). */
  now(): number {
    return this.#clock.now()
  }

  /** Stop the coarse clock's timer (the resolver's `close()`); later decisions read the clock. */
  stop(): void {
    this.#coarse.stop()
  }

  #raise(event: DegradedEvent): void {
    this.#active[event.kind] = true
    this.#warned.add(event.kind)
    try {
      this.#host.warn(event)
    } catch {
      // never breaks a request
    }
  }

  /**
   * (a) A client IP was read from the socket of a local peer: warn once if the request carries forwarding headers.
   * Called by `clientIp` only while {@link watchProxy}.
   */
  socketPeer(req: RequestLike, kind: IpKind): void {
    if (!LOCAL_PEERS.has(kind)) return
    const header = forwardingHeaderOf(req)
    if (header === null) return
    this.watchProxy = false
    this.#raise(untrustedProxyEvent(this.now(), kind, header))
  }

  /** (b) and (c): one gated decision. O(1), no clock read, no allocation unless a warning is raised. */
  decision(decision: Decision, info: RequestInfo | undefined): void {
    const coarse = this.#coarse
    if (coarse.manual) this.#window.advance(coarse.refresh())
    const window = this.#window
    const risk = decision.risk
    const status = risk.status
    window.add(DECISIONS)
    if (status === 'scored') {
      // The warm path: a verdict. The share without one can only fall, so only a raised `no_verdict` is looked at.
      window.add(SCORED)
      if (this.#active.no_verdict && !this.#noVerdictHolds() && window.total(DECISIONS) >= NO_VERDICT_MIN_DECISIONS) {
        this.#active.no_verdict = false // re-armed
      } else if (
        window.total(DECISIONS) === NO_VERDICT_MIN_DECISIONS && // the sample just became large enough, on a scored decision
        !this.#active.no_verdict &&
        this.#noVerdictHolds() &&
        coarse.now - this.#raisedAt.no_verdict >= SELF_CHECK_WINDOW_MS
      ) {
        this.#noVerdict(coarse.now)
      }
      return
    }
    this.#withoutScore(decision, info)
  }

  /** The rest of {@link decision} for an answer without a score (unavailable, skipped, pending). */
  #withoutScore(decision: Decision, info: RequestInfo | undefined): void {
    const window = this.#window
    const risk = decision.risk
    const status = risk.status
    const t = this.#coarse.now
    window.add(status === 'unavailable' ? UNAVAILABLE : status === 'skipped' ? SKIPPED : PENDING)
    if (decision.failOpen) window.add(FAIL_OPEN)
    if (risk.listed === null) {
      window.add(NO_VERDICT)
      if (risk.error === 'no_ip') {
        window.add(NO_IP)
        if (!this.#active.no_client_ip) this.#raise(noClientIpEvent(t, info))
      } else if (status === 'skipped') window.add(NON_GLOBAL)
    }
    const over = this.#noVerdictHolds()
    if (over !== this.#active.no_verdict) {
      if (over) {
        if (t - this.#raisedAt.no_verdict >= SELF_CHECK_WINDOW_MS) this.#noVerdict(t)
      } else if (window.total(DECISIONS) >= NO_VERDICT_MIN_DECISIONS) this.#active.no_verdict = false // re-armed
    }
  }

  /** (d) One provider call that reached the provider (not a refusal by the breaker or a budget): `null` is success. */
  providerCall(error: LookupError | null): void {
    const t = this.now()
    const window = this.#window
    window.advance(t)
    window.add(CALLS)
    if (error === null) {
      this.#active.provider_failing = false // re-armed by any success
      return
    }
    window.add(FAILURES)
    this.#lastError = error
    this.#lastErrorAt = t
    if (
      !this.#active.provider_failing &&
      this.#providerFailingHolds() &&
      t - this.#raisedAt.provider_failing >= SELF_CHECK_WINDOW_MS
    ) {
      this.#raisedAt.provider_failing = t
      this.#raise(providerFailingEvent(t, window.total(FAILURES), error, this.#host.providerName))
    }
  }

  #noVerdictHolds(): boolean {
    const total = this.#window.total(DECISIONS)
    return total >= NO_VERDICT_MIN_DECISIONS && this.#window.total(NO_VERDICT) > total * NO_VERDICT_SHARE
  }

  #providerFailingHolds(): boolean {
    const failures = this.#window.total(FAILURES)
    return failures >= PROVIDER_FAILING_MIN_CALLS && failures === this.#window.total(CALLS)
  }

  #noVerdict(t: number): void {
    this.#raisedAt.no_verdict = t
    const w = this.#window
    const counts = { total: w.total(DECISIONS), without: w.total(NO_VERDICT), noIp: w.total(NO_IP), nonGlobal: w.total(NON_GLOBAL) }
    this.#raise(noVerdictEvent(t, counts, this.#lastError))
  }

  /** The snapshot behind `risk.status()` (the resolver adds what it owns). */
  snapshot(
    extra: { breaker: BreakerState | 'disabled'; l2: SharedTierState | 'none'; closed: boolean },
  ): ResolverStatus {
    const t = this.now()
    const w = this.#window
    w.advance(t)
    const problems: DegradedKind[] = []
    if (this.#noVerdictHolds()) problems.push('no_verdict')
    if (this.#providerFailingHolds()) problems.push('provider_failing')
    return {
      protected: problems.length === 0 && !extra.closed,
      problems,
      warnings: [...this.#warned],
      windowMs: SELF_CHECK_WINDOW_MS,
      decisions: {
        total: w.total(DECISIONS),
        byStatus: { scored: w.total(SCORED), unavailable: w.total(UNAVAILABLE), skipped: w.total(SKIPPED), pending: w.total(PENDING) },
        withoutVerdict: w.total(NO_VERDICT),
        noIp: w.total(NO_IP),
        nonGlobal: w.total(NON_GLOBAL),
        failOpen: w.total(FAIL_OPEN),
      },
      provider: {
        name: this.#host.providerName,
        calls: w.total(CALLS),
        failures: w.total(FAILURES),
        breaker: extra.breaker,
        lastError: this.#lastError === null ? null : { kind: this.#lastError, at: new Date(this.#lastErrorAt).toISOString() },
      },
      l2: extra.l2,
      at: new Date(t).toISOString(),
    }
  }
}
