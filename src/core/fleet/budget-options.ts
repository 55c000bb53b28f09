/**
 * The option `budget.fleet` (a per-minute budget shared by every instance through Redis): its type, defaults and
 * validation. Kept out of option-types.ts / options.ts (their size), which reference it.
 *
 * @module
 */
import * as z from 'zod'
import { IpRiskConfigError, quoteForError } from '../errors.js'
import type { FleetBudgetSettings } from './budget.js'

/**
 * A budget of provider calls per minute for the whole fleet (`budget.fleet`): every instance with the same Redis,
 * `cache.prefix` and provider spends from one bucket in Redis (token bucket refilled over a minute on Redis's clock,
 * shared between source networks like `maxPerMinute`, see `budget.perNetwork`). Needs a Redis shared cache
 * (`cache: 'redis://…'`); without one, `createRiskResolver` throws. It is checked after the per-process budgets
 * (`maxInFlight`, `maxPerMinute`, which keep their meaning), on a cache miss only: one Redis round trip per provider
 * call, never on a cache hit.
 *
 * A spent fleet budget answers like a spent `maxPerMinute`: `unavailable` / `budget_exceeded` (the fail mode
 * applies), with a `degraded` event (`fleet_budget_exhausted`). When Redis errs or does not answer within
 * `timeoutMs`, the instance spends from `fallbackPerMinute` of its own instead, raises a `degraded` event
 * (`fleet_budget_fallback`) naming the cause, asks Redis again every 5 s and returns to the fleet budget when it
 * answers. During a full Redis outage the fleet spends at most `instances × fallbackPerMinute` per minute.
 *
 * @example
 * ```ts
 * // 50 instances share 6 000 calls a minute; each spends at most 200 a minute of its own while Redis is down.
 * createRiskResolver({
 *   provider,
 *   cache: 'redis://10.0.0.5:6379',
 *   budget: { fleet: { perMinute: 6_000, fallbackPerMinute: 200 } },
 * })
 * ```
 */
export interface FleetBudgetOptions {
  /** Provider calls per minute for all the instances together (1–10 000 000). Required. */
  perMinute: number
  /**
   * Provider calls per minute of one instance while Redis cannot answer (0–`perMinute`). 0 refuses every call then
   * (a strict quota: lookups answer `unavailable`). Set it to `perMinute / instances` to keep an outage within quota.
   * @default max(1, floor(perMinute / 10))
   */
  fallbackPerMinute?: number
  /**
   * Time budget of the Redis round trip, in ms (1–10 000). Past it the call spends from the fallback budget (and
   * Redis is not asked again for 5 s); never more than what is left of `budget.timeoutMs`.
   * @default 50
   */
  timeoutMs?: number
}

/** Defaults of {@link FleetBudgetOptions}. @internal */
export const FLEET_BUDGET_DEFAULTS = Object.freeze({ fallbackShare: 0.1, timeoutMs: 50 })

const MAX_PER_MINUTE = 10_000_000

function int(min: number, max: number, unit?: string) {
  const message = (issue: { input?: unknown }) =>
    `must be an integer from ${min} to ${max}${unit === undefined ? '' : ` (${unit})`}, got ${quoteForError(issue.input, 24)}`
  return z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message })
}

const fleetSchema = z.strictObject({
  perMinute: int(1, MAX_PER_MINUTE),
  fallbackPerMinute: int(0, MAX_PER_MINUTE).optional(),
  timeoutMs: int(1, 10_000, 'milliseconds').optional(),
})

/**
 * `budget.fleet`, checked and with its defaults: `undefined` when not set.
 * @param hasSharedCache Whether `cache` names a shared store (the fleet budget lives in its Redis).
 * @throws {IpRiskConfigError} naming `budget.fleet…`.
 * @internal
 */
export function parseFleetBudget(given: unknown, hasSharedCache: boolean): FleetBudgetSettings | undefined {
  if (given === undefined) return undefined
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new IpRiskConfigError('budget.fleet', `must be an object { perMinute, fallbackPerMinute?, timeoutMs? }, got ${quoteForError(given, 24)}`)
  }
  const parsed = fleetSchema.safeParse(given)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue === undefined || issue.path.length === 0 ? '' : `.${issue.path.join('.')}`
    throw new IpRiskConfigError(`budget.fleet${path}`, issue?.message ?? 'is invalid')
  }
  const { perMinute, fallbackPerMinute, timeoutMs } = parsed.data
  if (fallbackPerMinute !== undefined && fallbackPerMinute > perMinute) {
    throw new IpRiskConfigError('budget.fleet.fallbackPerMinute', `must be at most budget.fleet.perMinute (${perMinute}), got ${fallbackPerMinute}`)
  }
  if (!hasSharedCache) {
    throw new IpRiskConfigError(
      'budget.fleet',
      "needs a Redis shared cache (`cache: 'redis://…'`), where the fleet's bucket lives; without one it would silently be a budget of this process alone: use `budget.maxPerMinute` for that",
    )
  }
  return {
    perMinute,
    fallbackPerMinute: fallbackPerMinute ?? Math.max(1, Math.floor(perMinute * FLEET_BUDGET_DEFAULTS.fallbackShare)),
    timeoutMs: timeoutMs ?? FLEET_BUDGET_DEFAULTS.timeoutMs,
  }
}
