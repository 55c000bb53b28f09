/**
 * OpenTelemetry metrics of iprisk. Instruments are created once per {@link createMetrics} call and attribute sets are
 * pre-built, so recording allocates nothing. Without an SDK registered (and no `meterProvider` passed), the global
 * provider of `@opentelemetry/api` is a no-op: iprisk then records into empty functions, touching no instrument or
 * attribute table on the request path.
 *
 * @module
 */

import {
  createNoopMeter,
  metrics as otelMetrics,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableCallback,
  type ObservableGauge,
} from '@opentelemetry/api'
import { PROVIDER_ERROR_KINDS } from './errors.js'
import type { DegradedKind } from './self-check.js'
import type { DecisionReason, ProviderErrorKind } from './types.js'

/**
 * The instrument names, as registered with OpenTelemetry (Prometheus shows dots as `_` and counters with `_total`).
 *
 * @example
 * ```ts
 * const decisions = collected.find((m) => m.descriptor.name === metricNames.decisions) // 'iprisk.decisions'
 * ```
 */
export const metricNames = Object.freeze({
  /** Counter; attributes `action` (`allow` / `block` / `monitor`), `reason`. */
  decisions: 'iprisk.decisions',
  /** Counter; attribute `tier` (`l1` / `l2` / `stale` / `miss`). */
  cacheLookups: 'iprisk.cache.lookups',
  /** Histogram in ms; attribute `outcome` (`ok` or the error kind). Only calls that reached the provider. */
  upstreamDuration: 'iprisk.upstream.duration',
  /** Counter; attribute `kind` (provider error kind, `breaker_open`, `budget_exceeded`). */
  upstreamErrors: 'iprisk.upstream.errors',
  /** Gauge, one series per `state` (`closed` / `open` / `half_open`): 1 for the current state, 0 for the others. */
  breakerState: 'iprisk.breaker.state',
  /** Counter; attribute `kind` (`in_flight` / `per_minute`). */
  budgetRejections: 'iprisk.budget.rejections',
  /** Counter; attribute `hook` (`onDecision` / `onBlock` / `onHighRisk`). */
  hookErrors: 'iprisk.hook.errors',
  /**
   * Counter; attribute `kind`: `timeout` / `error` for shared-cache (L2) reads and writes that failed, `invalid` for
   * values read that were not valid records (misses, not failures).
   */
  l2Errors: 'iprisk.cache.l2_errors',
  /**
   * Counter; attribute `kind` (`untrusted_proxy` / `no_client_ip` / `no_verdict` / `provider_failing`): `degraded`
   * warnings of the self-check (each kind at most once, or once per recovery; alert on any increase).
   */
  degraded: 'iprisk.degraded',
} as const)

/**
 * The action of a decision as counted and logged: `monitor` is a monitored would-block (the request went through).
 *
 * @example
 * ```ts
 * const action: ReportedAction = decision.monitored ? 'monitor' : decision.action
 * ```
 */
export type ReportedAction = 'allow' | 'block' | 'monitor'

/**
 * How an upstream call ended: `ok`, a provider error kind, or refused before the call.
 *
 * @example
 * ```ts
 * const outcome: UpstreamOutcome = error instanceof ProviderError ? error.kind : 'ok'
 * ```
 */
export type UpstreamOutcome = 'ok' | ProviderErrorKind | 'provider_error' | 'breaker_open' | 'budget_exceeded'

/**
 * State of the circuit breaker around the provider.
 *
 * @example
 * ```ts
 * breaker.onStateChange((s) => metrics.breakerState(s === CircuitState.Open ? 'open' : s === CircuitState.HalfOpen ? 'half_open' : 'closed'))
 * ```
 */
export type BreakerState = 'closed' | 'open' | 'half_open'

/**
 * A hook of the observability options.
 *
 * @example
 * ```ts
 * const hook: HookName = 'onBlock'
 * metrics.hookError(hook)
 * ```
 */
export type HookName = 'onDecision' | 'onBlock' | 'onHighRisk' | 'onDegraded'

/**
 * The recording side of iprisk's metrics, used by the resolver and the reporter. Every method is synchronous, never
 * throws and allocates nothing for the values the types allow.
 *
 * @example
 * ```ts
 * const metrics: Metrics = createMetrics(meterProvider)
 * metrics.cache('miss')
 * metrics.upstream(120, 'timeout')
 * metrics.budgetRejected('in_flight')
 * ```
 */
export interface Metrics {
  /** Count one decision (`iprisk.decisions`). */
  decision(action: ReportedAction, reason: DecisionReason): void
  /** Count one cache lookup by the tier that answered, or `miss` (`iprisk.cache.lookups`). */
  cache(tier: 'l1' | 'l2' | 'stale' | 'miss'): void
  /**
   * Record one upstream attempt: its latency (`iprisk.upstream.duration`, skipped for `breaker_open` and
   * `budget_exceeded`, which never reach the provider) and, unless `ok`, one error (`iprisk.upstream.errors`).
   */
  upstream(durationMs: number, outcome: UpstreamOutcome): void
  /** Set the current circuit-breaker state (`iprisk.breaker.state`); `closed` until told otherwise. */
  breakerState(state: BreakerState): void
  /** Count one lookup refused by a budget (`iprisk.budget.rejections`). */
  budgetRejected(kind: 'in_flight' | 'per_minute'): void
  /** Count one hook that threw or rejected (`iprisk.hook.errors`). */
  hookError(hook: HookName): void
  /**
   * Count one failed shared-cache (L2) read or write, or one value read from it that was not a valid record
   * (`iprisk.cache.l2_errors`).
   */
  l2Error(kind: 'timeout' | 'error' | 'invalid'): void
  /** Count one `degraded` warning (`iprisk.degraded`). */
  degraded(kind: DegradedKind): void
  /** Stop reporting the breaker gauge (call when the resolver closes). Recording afterwards is harmless. */
  close(): void
}

const ACTIONS = ['allow', 'block', 'monitor'] as const satisfies readonly ReportedAction[]
const REASONS = [
  'risk_score_exceeded',
  'tor_exit_node',
  'vpn_detected',
  'proxy_detected',
  'datacenter_ip',
  'denylisted',
  'blocklisted',
  'lookup_unavailable',
  'clean',
  'allowlisted',
  'non_global_ip',
] as const satisfies readonly DecisionReason[]
const TIERS = ['l1', 'l2', 'stale', 'miss'] as const
const OUTCOMES = [
  'ok',
  ...PROVIDER_ERROR_KINDS,
  'provider_error',
  'breaker_open',
  'budget_exceeded',
] as const satisfies readonly UpstreamOutcome[]
const BREAKER_STATES = ['closed', 'open', 'half_open'] as const satisfies readonly BreakerState[]
const BUDGETS = ['in_flight', 'per_minute'] as const
const HOOKS = ['onDecision', 'onBlock', 'onHighRisk', 'onDegraded'] as const satisfies readonly HookName[]
const DEGRADED = ['untrusted_proxy', 'no_client_ip', 'no_verdict', 'provider_failing', 'fleet_budget_fallback', 'fleet_budget_exhausted'] as const satisfies readonly DegradedKind[]

/** `{ [value]: Object.freeze({ [key]: value }) }`, built once so that recording reuses the same attribute objects. */
function attributeTable<V extends string>(key: string, values: readonly V[]): Record<V, Attributes> {
  const table = Object.create(null) as Record<V, Attributes>
  for (const value of values) table[value] = Object.freeze({ [key]: value })
  return table
}

const nothing = (): void => undefined

/** What {@link createMetrics} returns on OpenTelemetry's no-op meter. */
const NOOP_METRICS: Metrics = Object.freeze({
  decision: nothing,
  cache: nothing,
  upstream: nothing,
  breakerState: nothing,
  budgetRejected: nothing,
  hookError: nothing,
  l2Error: nothing,
  degraded: nothing,
  close: nothing,
})

/** Upstream latencies are tens to hundreds of ms; the SDK's default buckets (0–10 000, coarse below 25) fit poorly. */
const DURATION_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000]

// The attribute objects of every recording, built once (frozen): recording reuses them and allocates nothing.
const DECISION_ATTRS = decisionAttributes()
const TIER_ATTRS = attributeTable('tier', TIERS)
const OUTCOME_ATTRS = attributeTable('outcome', OUTCOMES)
const ERROR_ATTRS = attributeTable('kind', OUTCOMES)
const STATE_ATTRS = attributeTable('state', BREAKER_STATES)
const BUDGET_ATTRS = attributeTable('kind', BUDGETS)
const HOOK_ATTRS = attributeTable('hook', HOOKS)
const L2_ERROR_ATTRS = attributeTable('kind', ['timeout', 'error', 'invalid'] as const)
const DEGRADED_ATTRS = attributeTable('kind', DEGRADED)

/** `{ [action]: { [reason]: { action, reason } } }`, frozen. */
function decisionAttributes(): Record<ReportedAction, Record<DecisionReason, Attributes>> {
  const table = Object.create(null) as Record<ReportedAction, Record<DecisionReason, Attributes>>
  for (const action of ACTIONS) {
    table[action] = Object.create(null) as Record<DecisionReason, Attributes>
    for (const reason of REASONS) table[action][reason] = Object.freeze({ action, reason })
  }
  return table
}

/** iprisk's instruments on one meter (the breaker gauge is {@link BreakerGauge}'s). */
interface Instruments {
  readonly decisions: Counter
  readonly cacheLookups: Counter
  readonly upstreamDuration: Histogram
  readonly upstreamErrors: Counter
  readonly budgetRejections: Counter
  readonly hookErrors: Counter
  readonly l2Errors: Counter
  readonly degraded: Counter
}

/** A counter of iprisk: its unit and description. */
function counter(meter: Meter, name: string, unit: string, description: string): Counter {
  return meter.createCounter(name, { description, unit })
}

/** Create iprisk's counters and histogram on `meter`, with their descriptions and units. */
function createInstruments(meter: Meter): Instruments {
  return {
    decisions: counter(meter, metricNames.decisions, '{decision}', 'Policy decisions, by action (allow, block, monitor) and reason.'),
    cacheLookups: counter(meter, metricNames.cacheLookups, '{lookup}', 'Risk lookups by the cache tier that answered (l1, l2, stale) or miss.'),
    upstreamDuration: meter.createHistogram(metricNames.upstreamDuration, {
      description: 'Latency of calls to the IP-intelligence provider, by outcome.',
      unit: 'ms',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
    }),
    upstreamErrors: counter(meter, metricNames.upstreamErrors, '{error}', 'Failed or refused provider lookups, by kind.'),
    budgetRejections: counter(meter, metricNames.budgetRejections, '{lookup}', 'Lookups refused by the in-flight or per-minute budget.'),
    hookErrors: counter(meter, metricNames.hookErrors, '{error}', 'Observability hooks that threw or rejected.'),
    l2Errors: counter(
      meter,
      metricNames.l2Errors,
      '{error}',
      'Shared-cache (L2) reads and writes that failed or timed out, and values read that were not valid records; iprisk answered without them.',
    ),
    degraded: counter(
      meter,
      metricNames.degraded,
      '{warning}',
      'Degraded-protection warnings of the self-check (untrusted proxy, no client IP, no verdict, provider failing).',
    ),
  }
}

/** The breaker gauge: holds the current state and reports it when the SDK collects. */
class BreakerGauge {
  #state: BreakerState = 'closed'
  readonly #gauge: ObservableGauge
  /** Bound once, so that it can be removed again. */
  readonly #observe: ObservableCallback = (result) => {
    for (const s of BREAKER_STATES) result.observe(s === this.#state ? 1 : 0, STATE_ATTRS[s])
  }

  constructor(meter: Meter) {
    this.#gauge = meter.createObservableGauge(metricNames.breakerState, {
      description: 'Circuit breaker around the provider: 1 for the current state, 0 for the others.',
    })
    this.#gauge.addCallback(this.#observe)
  }

  /** Set the state reported from now on; values outside {@link BreakerState} are ignored. */
  set(next: BreakerState): void {
    if (STATE_ATTRS[next] !== undefined) this.#state = next
  }

  /** Stop reporting. */
  close(): void {
    this.#gauge.removeCallback(this.#observe)
  }
}

/**
 * Create iprisk's instruments on a meter provider. Call once per resolver; the returned object records into them.
 *
 * @param meterProvider An OpenTelemetry `MeterProvider`. Default: the global one of `@opentelemetry/api`, a no-op
 *   unless the application registered an SDK.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics'
 * import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
 * import { createMetrics } from 'iprisk'
 *
 * const metrics = createMetrics(new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] }))
 * metrics.cache('l1')
 * metrics.upstream(84, 'ok')
 * ```
 */
export function createMetrics(meterProvider?: MeterProvider): Metrics {
  const meter = (meterProvider ?? otelMetrics.getMeterProvider()).getMeter('iprisk')
  // The API's no-op provider hands out one shared no-op meter: nothing it is given is ever read, so skip the work.
  // (Its metrics API has no proxy: instruments made before an SDK is registered stay no-ops anyway.)
  if (meter === createNoopMeter()) return NOOP_METRICS
  const instruments = createInstruments(meter)
  const { decisions, cacheLookups, upstreamDuration, upstreamErrors, budgetRejections, hookErrors, l2Errors } = instruments
  const degradedWarnings = instruments.degraded
  const breaker = new BreakerGauge(meter)
  return {
    decision(action, reason) {
      // A value outside the types (a JavaScript caller) still gets counted, at the cost of one allocation.
      decisions.add(1, DECISION_ATTRS[action]?.[reason] ?? { action: String(action), reason: String(reason) })
    },
    cache(tier) {
      cacheLookups.add(1, TIER_ATTRS[tier] ?? { tier: String(tier) })
    },
    upstream(durationMs, outcome) {
      if (outcome !== 'breaker_open' && outcome !== 'budget_exceeded' && durationMs >= 0 && durationMs < Infinity) {
        upstreamDuration.record(durationMs, OUTCOME_ATTRS[outcome] ?? { outcome: String(outcome) })
      }
      if (outcome !== 'ok') upstreamErrors.add(1, ERROR_ATTRS[outcome] ?? { kind: String(outcome) })
    },
    breakerState(next) {
      breaker.set(next)
    },
    budgetRejected(kind) {
      budgetRejections.add(1, BUDGET_ATTRS[kind] ?? { kind: String(kind) })
    },
    hookError(hook) {
      hookErrors.add(1, HOOK_ATTRS[hook] ?? { hook: String(hook) })
    },
    l2Error(kind) {
      l2Errors.add(1, L2_ERROR_ATTRS[kind] ?? L2_ERROR_ATTRS.error)
    },
    degraded(kind) {
      degradedWarnings.add(1, DEGRADED_ATTRS[kind] ?? { kind: String(kind) })
    },
    close() {
      breaker.close()
    },
  }
}
