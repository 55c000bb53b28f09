/**
 * The fleet-wide per-minute budget (`budget.fleet`): every provider call of every instance spends one token from one
 * bucket in Redis (the script and its keys: budget-script.ts), so 50 instances spend the fleet's quota once, not 50
 * times. It is asked after the local budgets said yes (budget.ts: `maxInFlight`, `maxPerMinute`, per network), on a
 * cache miss only: one round trip per provider call, never on a cache hit.
 *
 * When Redis cannot answer (an error, no link, or no answer within `timeoutMs`), the call spends from a **bounded
 * local budget** instead (`fallbackPerMinute`, budget.ts's bucket on the injected clock, shared between networks
 * like `maxPerMinute`), and a `degraded` event names the cause. For {@link RETRY_MS} after a failure every call spends
 * locally without asking Redis (a partitioned Redis costs one time budget, not one per call); then one call at a time
 * asks Redis again, and the first answer returns the instance to the shared budget.
 *
 * A fleet bucket that is empty refuses the call like a spent `maxPerMinute` (`unavailable` / `budget_exceeded`, the
 * fail mode applies) and raises a `degraded` event (`fleet_budget_exhausted`), at most once per
 * {@link EVENT_INTERVAL_MS} per kind.
 *
 * `maxInFlight` stays per process (see the report in docs/fleet.md): a fleet-wide count of calls in flight needs a
 * second round trip per call (the release) and leaks slots when an instance dies or Redis drops a release, which a
 * lease per slot would then have to expire; the per-minute quota is what costs money, and `maxInFlight × instances`
 * already bounds the fleet's concurrency.
 *
 * @internal
 * @module
 */
import { ProviderBudget, type NetworkShare } from '../budget.js'
import type { Clock } from '../clock.js'
import type { DegradedEvent } from '../self-check/vocabulary.js'
import { TIMEOUT, withTimeout } from '../cache/l2-store.js'
import type { RedisLink } from './link.js'
import { fallbackEvent, exhaustedEvent, type FallbackCause } from './budget-events.js'
import {
  TAKE_SCRIPT,
  TAKE_SCRIPT_SHA,
  WINDOW_MS,
  fleetBudgetKey,
  isNoScript,
  networkBudgetKey,
  parseReply,
  type TakeReply,
} from './budget-script.js'

/** After Redis failed, calls spend locally for this long (injected clock) before Redis is asked again. */
export const RETRY_MS = 5_000
/** At most one `degraded` event of each kind per this interval (injected clock). */
export const EVENT_INTERVAL_MS = 60_000

/** Resolved `budget.fleet`. @internal */
export interface FleetBudgetSettings {
  /** Calls per minute for the whole fleet. */
  readonly perMinute: number
  /** Calls per minute of this instance while Redis cannot answer (0: none). */
  readonly fallbackPerMinute: number
  /** Time budget of one Redis round trip, in ms. */
  readonly timeoutMs: number
}

/** What the fleet budget needs from the resolver. @internal */
export interface FleetBudgetHost {
  /** The Redis link, once connected; `undefined` when there is none (then every call spends locally, loudly). */
  link(): RedisLink | undefined
  /** Raise a `degraded` event. */
  degraded(event: DegradedEvent): void
  /** A budget key held a value the script replaced (reported once as a configuration problem). */
  invalid(message: string): void
}

/** Where the last call's token came from (diagnostics and tests). @internal */
export type FleetBudgetMode = 'shared' | 'fallback'

/** The fleet budget of one resolver. @internal */
export class FleetBudget {
  /** `shared` while Redis answers, `fallback` from a failure until Redis answers again. */
  mode: FleetBudgetMode = 'shared'
  /** Calls granted by each side and refused by the fleet (tests, diagnostics). */
  readonly counts = { shared: 0, local: 0, refused: 0 }
  readonly #settings: FleetBudgetSettings
  readonly #share: NetworkShare | undefined
  readonly #clock: Clock
  readonly #host: FleetBudgetHost
  readonly #local: ProviderBudget | undefined
  readonly #fleetKey: string
  readonly #prefix: string
  readonly #provider: string
  readonly #args: readonly string[]
  /** Before this (clock.now()), calls spend locally without asking Redis. */
  #retryAt = 0
  #probing = false
  readonly #lastEvent = new Map<string, number>()

  constructor(settings: FleetBudgetSettings, share: NetworkShare | undefined, prefix: string, provider: string, clock: Clock, host: FleetBudgetHost) {
    this.#settings = settings
    this.#share = share
    this.#clock = clock
    this.#host = host
    this.#prefix = prefix
    this.#provider = provider
    this.#fleetKey = fleetBudgetKey(prefix, provider)
    const { perMinute } = settings
    const netCap = share === undefined ? perMinute : Math.max(1, Math.floor(perMinute * share.share))
    const reserve = share === undefined ? 0 : Math.min(perMinute - 1, Math.floor(perMinute * share.reserve))
    this.#args = [String(perMinute), String(netCap), String(reserve), String(WINDOW_MS)]
    // The fallback: budget.ts's bucket (its in-flight budget unbounded: maxInFlight is checked before).
    this.#local =
      settings.fallbackPerMinute === 0
        ? undefined
        : new ProviderBudget(Number.MAX_SAFE_INTEGER, settings.fallbackPerMinute, share, clock.now())
  }

  /**
   * Spend one token for a call from `network` ('' when the budgets are one pool): `true` when the call may start.
   * Synchronous while falling back (no promise); otherwise one round trip, within `timeLeftMs` and `timeoutMs`.
   */
  take(network: string, timeLeftMs: number): boolean | Promise<boolean> {
    const now = this.#clock.now()
    if (this.mode === 'fallback' && (now < this.#retryAt || this.#probing)) return this.#spendLocal(network, now)
    const link = this.#host.link()
    if (link === undefined) {
      this.#fallBack('no_link', now)
      return this.#spendLocal(network, now)
    }
    if (this.mode === 'fallback') this.#probing = true
    return this.#askRedis(link, network, Math.max(1, Math.min(this.#settings.timeoutMs, timeLeftMs)))
  }

  async #askRedis(link: RedisLink, network: string, timeoutMs: number): Promise<boolean> {
    let reply: TakeReply | undefined
    let cause: FallbackCause
    try {
      const answer = await withTimeout(this.#evaluate(link, network), timeoutMs, this.#clock)
      reply = answer === TIMEOUT ? undefined : parseReply(answer)
      cause = answer === TIMEOUT ? 'timeout' : 'bad_reply'
    } catch (error) {
      cause = errorCause(error)
    }
    this.#probing = false
    const now = this.#clock.now()
    if (reply === undefined) {
      this.#fallBack(cause, now)
      return this.#spendLocal(network, now)
    }
    this.mode = 'shared'
    if (reply.invalid > 0) {
      this.#host.invalid(
        `a fleet budget key under \`${this.#fleetKey}\` held a value iprisk does not write (another program, or someone with write access to Redis); it was replaced by an empty bucket that refills over a minute`,
      )
    }
    if (reply.granted) {
      this.counts.shared++
      return true
    }
    this.counts.refused++
    if (reply.refusal === 'fleet' && this.#due('exhausted', now)) {
      this.#host.degraded(exhaustedEvent(now, this.#settings.perMinute, this.#provider))
    }
    return false
  }

  /** One EVALSHA (EVAL when this Redis has not cached the script). */
  async #evaluate(link: RedisLink, network: string): Promise<unknown> {
    const keys = this.#share === undefined ? [this.#fleetKey] : [this.#fleetKey, networkBudgetKey(this.#prefix, this.#provider, network)]
    const tail = [String(keys.length), ...keys, ...this.#args]
    try {
      return await link.command(this.#fleetKey, ['EVALSHA', TAKE_SCRIPT_SHA, ...tail])
    } catch (error) {
      if (!isNoScript(error)) throw error
      return link.command(this.#fleetKey, ['EVAL', TAKE_SCRIPT, ...tail])
    }
  }

  #fallBack(cause: FallbackCause, now: number): void {
    this.mode = 'fallback'
    this.#retryAt = now + RETRY_MS
    if (this.#due('fallback', now)) {
      this.#host.degraded(fallbackEvent(now, cause, this.#settings, this.#provider))
    }
  }

  #spendLocal(network: string, now: number): boolean {
    const local = this.#local
    if (local === undefined || local.acquire(network, now) !== undefined) {
      this.counts.refused++
      return false
    }
    local.release(network)
    this.counts.local++
    return true
  }

  /** True (and remembered) when no event of `kind` was raised in the last {@link EVENT_INTERVAL_MS}. */
  #due(kind: string, now: number): boolean {
    const last = this.#lastEvent.get(kind)
    if (last !== undefined && now - last < EVENT_INTERVAL_MS && now >= last) return false
    this.#lastEvent.set(kind, now)
    return true
  }
}

/** The cause of a Redis failure, without its message (which may name hosts): its code or class. */
function errorCause(error: unknown): FallbackCause {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^[A-Z_]{2,32}$/.test(code)) return `error:${code}`
  if (error instanceof Error) {
    const word = /^([A-Z]{3,20})\b/.exec(error.message)?.[1] // a Redis error reply: NOPERM, WRONGTYPE, BUSY, ...
    return `error:${word ?? error.name.slice(0, 40)}`
  }
  return 'error:unknown'
}
