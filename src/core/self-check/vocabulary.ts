/**
 * The vocabulary of the deployment self-check: the kinds of degraded protection, the `degraded` event, the window
 * constants and the `risk.status()` snapshot.
 *
 * @module
 */

import type { SharedTierState } from '../cache.js'
import type { BreakerState } from '../metrics.js'
import type { IpKind, LookupError } from '../types.js'

/**
 * Why protection is degraded:
 * - `untrusted_proxy`: a peer in private, loopback, link-local, unique-local or CGNAT space sent forwarding headers
 *   (`X-Forwarded-For`, `Forwarded`, `X-Real-IP` or a platform header) but the client IP was read from the socket:
 *   every client looks like the proxy (a non-global address, never scored);
 * - `no_client_ip`: a gated call had no client IP (e.g. tRPC's fetch adapter without `getClientIp`);
 * - `no_verdict`: over the last minute, more than {@link NO_VERDICT_SHARE} of at least
 *   {@link NO_VERDICT_MIN_DECISIONS} gated decisions were made without a verdict (no IP, a non-global IP, the
 *   provider unavailable, a background lookup pending);
 * - `provider_failing`: every provider call of the last minute failed (at least {@link PROVIDER_FAILING_MIN_CALLS});
 * - `fleet_budget_fallback`: the fleet budget (`budget.fleet`) cannot be read from Redis (error, timeout, no
 *   connection): this instance spends from its local fallback budget until Redis answers again;
 * - `fleet_budget_exhausted`: the fleet budget is spent: new lookups answer `unavailable` until it refills.
 *
 * @example
 * ```ts
 * const kind: DegradedKind = 'untrusted_proxy'
 * ```
 */
export type DegradedKind =
  | 'untrusted_proxy'
  | 'no_client_ip'
  | 'no_verdict'
  | 'provider_failing'
  | 'fleet_budget_fallback'
  | 'fleet_budget_exhausted'

/**
 * A `degraded` event: protection is not effective and why, with the fix. Logged as
 * `logger.warn(event, event.message)` (or `console.warn(event.message)` without a logger), passed to `onDegraded`,
 * counted in `iprisk.degraded{kind}`. Fields not relevant to a kind are `null`. Never contains the API key or a
 * header value.
 *
 * @example
 * ```json
 * { "timestamp": "2026-12-07T12:00:00.000Z", "event": "degraded", "kind": "untrusted_proxy", "option": "trustProxy",
 *   "docs": "docs/client-ip.md", "message": "iprisk: protection degraded (untrusted_proxy): ...",
 *   "peer_kind": "private", "header": "x-forwarded-for", "adapter": null, "share": null, "sample": null, "error": null }
 * ```
 */
export interface DegradedEvent {
  /** ISO 8601, when the condition was found. */
  timestamp: string
  event: 'degraded'
  kind: DegradedKind
  /** The option to change: `trustProxy`, `getClientIp`, `provider`, `provider.apiKey`, `budget`. */
  option: string
  /** Where the fix is documented (a path in iprisk's docs). */
  docs: string
  /** What happened and the fix, in one line (the log message). */
  message: string
  /** `untrusted_proxy`: the kind of the peer that sent forwarding headers. */
  peer_kind: IpKind | null
  /** `untrusted_proxy`: the first forwarding header found (its name, never its value). */
  header: string | null
  /** `no_client_ip`: the adapter of the call (`trpc`, `graphql`, ...). */
  adapter: string | null
  /** `no_verdict`: the share of gated decisions without a verdict over the window (0–1, 2 decimals). */
  share: number | null
  /** `no_verdict`: decisions in the window; `provider_failing`: failed calls in the window. */
  sample: number | null
  /** `provider_failing`: the kind of the last failure (`auth`, `network`, `timeout`, ...). */
  error: LookupError | null
}

/**
 * A hook receiving `degraded` events. It may be async; it is never awaited and its failures are only logged.
 *
 * @example
 * ```ts
 * const onDegraded: DegradedEventHook = (event) => pager.page(`iprisk: ${event.kind}: ${event.message}`)
 * ```
 */
export type DegradedEventHook = (event: DegradedEvent) => void | Promise<void>

/** The sliding window of the self-check and of `risk.status()`: the last 60 s. */
export const SELF_CHECK_WINDOW_MS = 60_000
/** `no_verdict` is raised when more than this share of the window's gated decisions had no verdict. */
export const NO_VERDICT_SHARE = 0.5
/** ... and the window holds at least this many gated decisions. */
export const NO_VERDICT_MIN_DECISIONS = 20
/** `provider_failing` is raised when at least this many provider calls failed in the window, and none succeeded. */
export const PROVIDER_FAILING_MIN_CALLS = 5

/**
 * A snapshot of the resolver's health for a readiness endpoint; see `RiskResolver.status()`.
 *
 * @example
 * ```ts
 * const s: ResolverStatus = risk.status()
 * if (!s.protected) console.error('iprisk is not protecting:', s.problems)
 * ```
 */
export interface ResolverStatus {
  /**
   * Whether protection is effective now: `false` while a condition of `problems` holds (the provider's calls all
   * failed over the last minute, or most gated decisions had no verdict), or once the resolver is closed.
   */
  protected: boolean
  /** The conditions holding now (`no_verdict`, `provider_failing`), empty when protected. */
  problems: DegradedKind[]
  /** Every kind of warning raised since the resolver was created, in the order first raised. */
  warnings: DegradedKind[]
  /** The window the counts cover, in milliseconds (60 000). */
  windowMs: number
  /** Gated decisions (those reported by the adapters or `risk.report`) over the window. */
  decisions: {
    total: number
    /** By the status of the answer they were made on. */
    byStatus: { scored: number; unavailable: number; skipped: number; pending: number }
    /** Made without a verdict: not scored and not listed (no IP, a non-global IP, unavailable, pending). */
    withoutVerdict: number
    /** Of which: no client IP. */
    noIp: number
    /** Of which: a non-global client IP (private, loopback, documentation...). */
    nonGlobal: number
    /** Allowed only because no verdict could be had (fail open). */
    failOpen: number
  }
  provider: {
    name: string
    /** Calls that reached the provider over the window, and how many failed. */
    calls: number
    failures: number
    /** The circuit breaker (`open` also while a 429's `Retry-After` is honoured), `disabled` with `breaker: false`. */
    breaker: BreakerState | 'disabled'
    /** The last failed provider call (`kind`: `auth`, `network`, `timeout`, ...) and when (ISO 8601), if any. */
    lastError: { kind: LookupError; at: string } | null
  }
  /** The shared cache's breaker, or `none` without L2. */
  l2: SharedTierState | 'none'
  /** When the snapshot was taken (ISO 8601). */
  at: string
}
