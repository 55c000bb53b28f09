/**
 * The provider gate: every provider call passes it, in this order, and each refusal answers synchronously:
 *
 * 1. the Retry-After gate (a 429's `Retry-After` stops every call until it has passed) → `rate_limited`;
 * 2. the circuit breaker (see breaker.ts) → `breaker_open`;
 * 3. what is left of the lookup's time budget → `timeout`;
 * 4. the budgets (`maxInFlight`, `maxPerMinute`, shared between networks: see budget.ts) → `budget_exceeded`;
 * 5. with `budget.fleet`, the fleet's per-minute budget in Redis (fleet/budget.ts: one round trip, or its local
 *    fallback) → `budget_exceeded`; the only step that may wait, and only on this miss path;
 *
 * then the call, under one deadline (`budget.timeoutMs` from the lookup's start, see deadlines.ts). The call settles
 * when the provider answers or the deadline fires, whichever comes first: the provider must honour the signal, but one
 * that does not is still answered at the deadline. All time is read from the injected clock.
 *
 * @module
 * @internal
 */
import { ConsecutiveBreaker } from './breaker.js'
import { ProviderBudget, networkOf, type NetworkShare } from './budget.js'
import type { Clock } from './clock.js'
import { Deadlines } from './deadlines.js'
import type { BreakerState, Metrics } from './metrics.js'
import { BAD_RESPONSE, classifyFailure, invokeLookup, whenSettled } from './provider-contract.js'
import { retryAfterOf } from './provider-schema.js'
import { REMEMBERED } from './answers.js'
import { normalizeData } from './risk-data.js'
import type { LookupError, Provider, ProviderErrorKind, RiskData } from './types.js'
import { FleetBudget, type FleetBudgetSettings } from './fleet/budget.js'
import type { RedisLink } from './fleet/link.js'
import type { DegradedEvent } from './self-check/vocabulary.js'

/** A call that gave no data: the answer's error, and whether it is remembered for `cache.failureTtlSeconds`. @internal */
export class GateFailure {
  constructor(
    readonly error: LookupError,
    readonly remember: boolean,
  ) {}
}

/** What the gate gives: the provider's data, or a failure. @internal */
export type GateOutcome = RiskData | GateFailure

const RETRY_AFTER = new GateFailure('rate_limited', false)
const BREAKER_OPEN = new GateFailure('breaker_open', false)
const OUT_OF_TIME = new GateFailure('timeout', true)
const OVER_BUDGET = new GateFailure('budget_exceeded', false)
function failureOf(error: LookupError): GateFailure {
  return new GateFailure(error, REMEMBERED.has(error))
}

/** Where the gate reports what it sees. @internal */
export interface GateHost {
  readonly metrics: Metrics
  /** A configuration problem found at run time (a broken provider contract, a rejected API key). */
  configError(option: string, message: string): void
  /** The outcome of one provider call, for the self-check (`null`: it answered). */
  providerCall(error: LookupError | null): void
  /** With `budget.fleet`: the Redis link once connected (`undefined`: none, the fleet budget falls back loudly). */
  fleetLink?(): RedisLink | undefined
  /** With `budget.fleet`: raise a `degraded` event. */
  degraded?(event: DegradedEvent): void
}

/** The resolved options the gate needs. @internal */
export interface GateOptions {
  readonly provider: Provider
  readonly clock: Clock
  readonly timeoutMs: number
  readonly maxInFlight: number
  readonly maxPerMinute: number
  readonly perNetwork: NetworkShare | undefined
  readonly breaker: { failures: number; halfOpenAfterMs: number } | undefined
  /** `budget.fleet` (needs `prefix`). */
  readonly fleetBudget?: FleetBudgetSettings | undefined
  /** `cache.prefix`, the first segment of the fleet budget's keys. */
  readonly prefix?: string
}

/** The gate of one resolver. @internal */
export class ProviderGate {
  readonly budget: ProviderBudget
  /** `budget.fleet`, when set. */
  readonly fleet: FleetBudget | undefined
  readonly #breaker: ConsecutiveBreaker | undefined
  readonly #deadlines: Deadlines
  readonly #provider: Provider
  readonly #clock: Clock
  #retryAfterUntil = 0
  #closed = false

  constructor(
    private readonly options: GateOptions,
    private readonly host: GateHost,
  ) {
    const { clock, breaker } = options
    this.#provider = options.provider
    this.#clock = clock
    this.budget = new ProviderBudget(options.maxInFlight, options.maxPerMinute, options.perNetwork, clock.now())
    this.#deadlines = new Deadlines(options.timeoutMs, clock)
    this.fleet = options.fleetBudget === undefined ? undefined : fleetBudgetOf(options, options.fleetBudget, host)
    this.#breaker =
      breaker === undefined
        ? undefined
        : new ConsecutiveBreaker(breaker.failures, breaker.halfOpenAfterMs, clock, (s) => host.metrics.breakerState(s))
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** The breaker as `status()` shows it: open while a Retry-After runs. */
  breakerState(): BreakerState | 'disabled' {
    if (this.#breaker === undefined) return 'disabled'
    return this.#retryAfterUntil > this.#clock.now() ? 'open' : this.#breaker.state
  }

  /** Ask the provider about `ip` (cache key `key`) for a lookup that started at monotonic time `t0`. */
  call(ip: string, key: string, t0: number): GateOutcome | Promise<GateOutcome> {
    const refused = this.#refusal(t0)
    if (refused !== undefined) return refused
    const network = this.#networkFor(ip, key)
    const budgetRefused = this.budget.acquire(network, this.options.maxPerMinute > 0 ? this.#clock.now() : 0)
    if (budgetRefused !== undefined) {
      this.host.metrics.budgetRejected(budgetRefused)
      this.host.metrics.upstream(0, 'budget_exceeded')
      return OVER_BUDGET
    }
    if (this.fleet === undefined) {
      this.#breaker?.begin()
      return this.#start(ip, network, t0)
    }
    const granted = this.fleet.take(network, t0 + this.options.timeoutMs - this.#clock.monotonic())
    if (granted === true) {
      this.#breaker?.begin()
      return this.#start(ip, network, t0)
    }
    if (granted === false) return this.#fleetRefused(network)
    return granted.then((ok) => (ok ? this.#afterFleet(ip, network, t0) : this.#fleetRefused(network)))
  }

  /** The fleet budget said yes after a round trip: the gate may have closed, the breaker half-opened meanwhile. */
  #afterFleet(ip: string, network: string, t0: number): GateOutcome | Promise<GateOutcome> {
    const refused = this.#closed ? failureOf('network') : this.#breaker !== undefined && !this.#breaker.permits() ? BREAKER_OPEN : undefined
    if (refused !== undefined) {
      this.budget.release(network)
      return refused
    }
    this.#breaker?.begin()
    return this.#start(ip, network, t0)
  }

  /** The fleet budget refused: the local slot and token taken for the call are given back. */
  #fleetRefused(network: string): GateFailure {
    this.budget.release(network)
    this.budget.refund(network, this.#clock.now())
    this.host.metrics.budgetRejected('per_minute')
    this.host.metrics.upstream(0, 'budget_exceeded')
    return OVER_BUDGET
  }

  /** Fire every deadline: calls in flight are answered now. Later outcomes are `network` and not remembered. */
  close(): void {
    this.#closed = true
    this.#deadlines.fireAll()
  }

  /** Steps 1–3: the Retry-After gate, the breaker, the time left. */
  #refusal(t0: number): GateFailure | undefined {
    const metrics = this.host.metrics
    if (this.#retryAfterUntil !== 0) {
      if (this.#retryAfterUntil > this.#clock.now()) {
        metrics.upstream(0, 'breaker_open')
        return RETRY_AFTER
      }
      this.#retryAfterUntil = 0
      metrics.breakerState(this.#breaker === undefined ? 'closed' : this.#breaker.state)
    }
    if (this.#breaker !== undefined && !this.#breaker.permits()) {
      metrics.upstream(0, 'breaker_open')
      return BREAKER_OPEN
    }
    if (t0 + this.options.timeoutMs - this.#clock.monotonic() <= 0) {
      metrics.upstream(0, 'timeout')
      return OUT_OF_TIME
    }
    return undefined
  }

  /** The source network a lookup's budget is drawn from ('' when the budgets are one pool). */
  #networkFor(ip: string, key: string): string {
    const perNetwork = this.options.perNetwork
    if (perNetwork === undefined) return ''
    try {
      return networkOf(ip, key, perNetwork.ipv4Prefix, perNetwork.ipv6Prefix)
    } catch {
      return key // defensive: an address that cannot be read is its own network
    }
  }

  #start(ip: string, network: string, t0: number): Promise<GateOutcome> {
    const window = this.#deadlines.join(t0 + this.options.timeoutMs)
    const signal = window.controller.signal
    const started = this.#clock.monotonic()
    return new Promise<GateOutcome>((resolve) => {
      let settled = false
      const settle = (value: unknown, error: unknown, ok: boolean): void => {
        if (settled) return
        settled = true
        this.#deadlines.leave(window)
        this.budget.release(network)
        let outcome: GateOutcome
        try {
          outcome = this.#outcome(signal.aborted, started, value, error, ok)
        } catch {
          outcome = failureOf('network') // defensive
        }
        resolve(outcome)
      }
      const onError = (error: unknown): void => settle(undefined, error, false)
      window.waiters.push(onError)
      whenSettled(invokeLookup(this.#provider, ip, signal), (value) => settle(value, undefined, true), onError)
    })
  }

  /** Turn what the call gave into an outcome, and update the breaker, the Retry-After gate and the reports. */
  #outcome(deadlineHit: boolean, started: number, value: unknown, error: unknown, ok: boolean): GateOutcome {
    const { metrics } = this.host
    const ms = this.#clock.monotonic() - started
    // The breaker counts calls, as cockatiel did: a fulfilled call (even with data of the wrong shape) is a success.
    if (ok) this.#breaker?.success()
    else this.#breaker?.failure()
    const data = ok ? normalizeData(value) : undefined
    if (data !== undefined) {
      metrics.upstream(ms, 'ok')
      this.host.providerCall(null)
      return data
    }
    const failure = classifyFailure(ok ? BAD_RESPONSE : error, deadlineHit)
    if (failure.breach !== undefined) {
      this.host.configError(
        'provider',
        `the provider \`${this.#provider.name}\` broke its contract: lookup() ${failure.breach}; such lookups answer \`provider_error\` (lookup must return a promise of RiskData and reject with an Error)`,
      )
    }
    const lookupError = this.#closed ? 'network' : failure.error
    metrics.upstream(ms, lookupError as ProviderErrorKind | 'provider_error')
    if (lookupError === 'rate_limited') {
      const wait = retryAfterOf(error)
      if (wait !== undefined) {
        this.#retryAfterUntil = this.#clock.now() + wait
        metrics.breakerState('open')
      }
    } else if (lookupError === 'auth') {
      this.host.configError('provider.apiKey', 'the provider rejected the API key (HTTP 401/403): every lookup fails until it is fixed')
    }
    this.host.providerCall(lookupError)
    return failureOf(lookupError)
  }
}

/** The fleet budget of a gate, reporting through the gate's host. */
function fleetBudgetOf(options: GateOptions, settings: FleetBudgetSettings, host: GateHost): FleetBudget {
  return new FleetBudget(settings, options.perNetwork, options.prefix ?? 'iprisk', options.provider.name, options.clock, {
    link: () => host.fleetLink?.(),
    degraded: (event) => host.degraded?.(event),
    invalid: (message) => host.configError('budget.fleet', message),
  })
}
