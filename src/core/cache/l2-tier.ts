/**
 * L2: an optional shared store (any Keyv, or Redis from a `redis://` URL) so that a fleet of instances scores each IP
 * once and shares the automatic blocklist. L2 is a cache, never a dependency of availability: reads have a small time
 * budget and their own breaker ({@link L2Breaker}), writes are fire-and-forget, errors are swallowed and counted, and a
 * value that is not a record the resolver writes is a miss (l2-codec.ts).
 *
 * Every timer and time check here (the read budget, the write and operator timeouts, the breaker's cool-down, the
 * record limits) runs on the {@link Clock} given in {@link SharedTierOptions.clock}.
 *
 * @internal
 * @module
 */

import { systemClock, type Clock } from '../clock.js'
import { IpRiskError } from '../errors.js'
import type { RedisLink } from '../fleet/link.js'
import { L2Breaker, type SharedTierState } from './l2-breaker.js'
import {
  InvalidRecord,
  L2_DEFAULT_MAX_FRESH_MS,
  L2_MAX_BLOCK_MS,
  parseBlock,
  parseRisk,
  type RecordLimits,
  type StoredBlock,
  type StoredRisk,
} from './l2-codec.js'
import { StoreErrors, TIMEOUT, errorText, isKeyvLike, readPair, withTimeout, type KeyvLike } from './l2-store.js'

/** Writes held while the store is still connecting; beyond, writes are dropped (it is only a cache). */
export const L2_MAX_WAITING_WRITES = 1_000
/** Time budget of operator writes (`block`, `unblock`), which are awaited. */
export const L2_OPERATOR_TIMEOUT_MS = 2_000

/** Counters of the shared tier, for tests and diagnostics. */
export interface SharedTierStats {
  /** Reads sent to the store. */
  reads: number
  /** Reads that found an answer or a blocklist entry. */
  hits: number
  /** Reads and writes that failed or timed out (including the ones swallowed as `error` events). */
  failures: number
  /** Reads that ran out of their budget (also counted in `failures`). */
  timeouts: number
  /** Reads and writes not attempted (breaker open, store still loading, tier closed). */
  skipped: number
  /** Fire-and-forget writes sent to the store. */
  writes: number
  /** Values read that were not valid records ({@link InvalidRecord}): misses, not failures. */
  invalid: number
}

/** Options of {@link SharedTier}. @internal */
export interface SharedTierOptions {
  /** Budget of one read, ms (fire-and-forget writes get four times as much). */
  timeoutMs: number
  /** Called once per breaker opening, with what failed (never contains secrets: error messages of the client). */
  onOpen?: (reason: string) => void
  /** Called for every failed read or write (for the `iprisk.cache.l2_errors` metric). Must not throw. */
  onFailure?: (kind: 'timeout' | 'error') => void
  /**
   * Called for every value read that is not a valid record (a miss, not a failure; `l2_errors{kind="invalid"}`), with
   * the problem (a fixed text, never the value) and the key it was read from.
   */
  onInvalid?: (problem: string, key: string) => void
  /** Longest freshness a record may carry, ms (see {@link RecordLimits}). @default {@link L2_DEFAULT_MAX_FRESH_MS} */
  maxFreshMs?: number
  /** Longest block a record may carry, ms. @default {@link L2_MAX_BLOCK_MS} */
  maxBlockMs?: number
  /**
   * Called once when the store never loads (its promise rejects: for a Redis URL, `@keyv/redis` missing, an
   * `IpRiskConfigError` naming `npm install @keyv/redis`); L2 then stays a miss. Not called after `close()`.
   */
  onLoadError?: (error: unknown) => void
  /** Release what the tier owns (a Redis client it created). Not called for a user's Keyv. */
  dispose?: () => void
  /**
   * Raw Redis commands on the same connections as the store, when the tier was made from a URL (see
   * {@link SharedTier.link}). @default undefined
   */
  link?: RedisLink
  /** {@link SharedTier.link} when connected now (see {@link SharedTier.connectedLink}). @default undefined */
  connectedLink?: () => RedisLink | undefined
  /**
   * Where time is read and timers are set: the read budget, the write and operator timeouts, the breaker's cool-down
   * and the time records are checked against. @default systemClock
   */
  clock?: Clock
}

/** What one L2 read found. */
export interface SharedRead {
  /** The stored answer, if any (valid). */
  risk: StoredRisk | undefined
  /** The stored blocklist entry, if any (valid). */
  block: StoredBlock | undefined
}

/** Calls a reporting hook; reporting is best effort and never breaks the cache. */
function report<A extends unknown[]>(hook: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    hook?.(...args)
  } catch {
    // reporting is best effort
  }
}

/** A TTL in whole milliseconds, at least 1 (Keyv treats 0 as "forever"). */
const ttlOf = (ms: number): number => Math.max(1, Math.ceil(ms))

/**
 * L2: a Keyv store behind a read time budget and a small breaker.
 *
 * - `read` never rejects and never takes longer than `timeoutMs`; it answers `undefined` when L2 could not be read
 *   (error, timeout, breaker open, still loading).
 * - `write` is fire-and-forget: it is never awaited on the request path; failures are counted and swallowed.
 * - After `L2_BREAKER_FAILURES` consecutive failures the breaker opens (see {@link L2Breaker}).
 *
 * @internal
 */
export class SharedTier {
  /** Counters, for tests and diagnostics. */
  readonly stats: SharedTierStats = { reads: 0, hits: 0, failures: 0, timeouts: 0, skipped: 0, writes: 0, invalid: 0 }
  #keyv: KeyvLike | undefined
  readonly #ready: Promise<KeyvLike | undefined>
  readonly #options: SharedTierOptions
  readonly #clock: Clock
  readonly #breaker: L2Breaker
  readonly #errors = new StoreErrors()
  readonly #maxFreshMs: number
  readonly #maxBlockMs: number
  #waitingWrites = 0
  #closed = false
  /**
   * Raw Redis commands (leases, shared budgets, block propagation) on the same connections L2 reads and writes
   * through, for every topology; `undefined` for a Keyv the application passed (iprisk does not reach into it).
   * Closed with the tier. The fleet modules take it from here: `resolverInternals(resolver).l2?.link`.
   */
  readonly link: RedisLink | undefined

  /**
   * @param source A Keyv instance, or a promise of one (a Redis adapter still loading). Until the promise resolves,
   *   reads are misses and writes wait for it (up to {@link L2_MAX_WAITING_WRITES}).
   */
  constructor(source: KeyvLike | Promise<KeyvLike>, options: SharedTierOptions) {
    this.#options = options
    this.link = options.link
    this.#clock = options.clock ?? systemClock
    this.#breaker = new L2Breaker(this.#clock)
    this.#maxFreshMs = options.maxFreshMs ?? L2_DEFAULT_MAX_FRESH_MS
    this.#maxBlockMs = options.maxBlockMs ?? L2_MAX_BLOCK_MS
    if (isKeyvLike(source)) {
      this.#attach(source)
      this.#ready = Promise.resolve(source)
    } else {
      this.#ready = source.then(
        (keyv) => {
          if (!this.#closed) this.#attach(keyv)
          return keyv
        },
        (error: unknown) => {
          this.#errors.record(error)
          if (!this.#closed) report(this.#options.onLoadError, error)
          return undefined
        },
      )
    }
  }

  #attach(keyv: KeyvLike): void {
    this.#keyv = keyv
    // keyv re-emits every store / client error as an 'error' event; without a listener some emitters throw.
    keyv.on('error', (error: unknown) => this.#errors.record(error))
  }

  /**
   * {@link SharedTier.link} when its connection is up now, else `undefined` (a connection attempt is then started, not
   * awaited): the getter the fleet modules take (`fleetLink`, the lease's link), so that a request never waits for
   * Redis to connect. Always `undefined` after `close()` and for a Keyv the application passed.
   */
  connectedLink(): RedisLink | undefined {
    return this.#closed ? undefined : this.#options.connectedLink?.()
  }

  /** The breaker state now. */
  state(): SharedTierState {
    return this.#breaker.state()
  }

  /** Whether a request may be sent now; in half-open state exactly one (the probe) is let through. */
  #allow(probe: boolean): boolean {
    return !this.#closed && this.#breaker.allow(probe)
  }

  #failure(reason: string, kind: 'timeout' | 'error' = 'error'): void {
    this.stats.failures++
    report(this.#options.onFailure, kind)
    if (this.#breaker.failure()) report(this.#options.onOpen, reason)
  }

  /**
   * Read an answer and a blocklist entry in one round trip (`getMany`). Resolves `undefined` when L2 cannot answer
   * within the budget. Never rejects.
   *
   * Only the store failing (an error, a timeout) counts against the breaker. A value that is not a valid record
   * ({@link parseRisk}, {@link parseBlock}: not JSON, the wrong shape, out of range, too long-lived) is a miss for that
   * key, counted in `stats.invalid` and reported through `onInvalid`: the lookup goes on to the provider, whose answer
   * overwrites it.
   */
  async read(riskKey: string, blockKey: string): Promise<SharedRead | undefined> {
    const keyv = this.#keyv
    // Still loading (the Redis adapter is imported in the background): a miss, at once. Not a failure.
    if (keyv === undefined || !this.#allow(true)) {
      this.stats.skipped++
      return undefined
    }
    this.stats.reads++
    const values = await this.#fetchPair(keyv, riskKey, blockKey)
    if (values === undefined) return undefined
    this.#breaker.success()
    let { risk, block } = this.parse(values[0], values[1])
    if (risk instanceof InvalidRecord) risk = this.#invalid(risk, riskKey)
    if (block instanceof InvalidRecord) block = this.#invalid(block, blockKey)
    if (risk !== undefined || block !== undefined) this.stats.hits++
    return { risk, block }
  }

  /**
   * An answer and a blocklist entry read from the store (by this tier, or by the fleet lease's scripts on the same
   * keys), checked against this tier's record limits: each an {@link InvalidRecord} when it is not a record this
   * resolver could have written, `undefined` when absent.
   */
  parse(riskValue: unknown, blockValue: unknown): { risk: StoredRisk | InvalidRecord | undefined; block: StoredBlock | InvalidRecord | undefined } {
    const limits: RecordLimits = { now: this.#clock.now(), maxFreshMs: this.#maxFreshMs, maxBlockMs: this.#maxBlockMs }
    return { risk: parseRisk(riskValue, limits), block: parseBlock(blockValue, limits) }
  }

  /** The two values read within the budget, or `undefined` after counting the failure. Never rejects. */
  async #fetchPair(keyv: KeyvLike, riskKey: string, blockKey: string): Promise<unknown[] | undefined> {
    const mark = this.#errors.mark()
    const timeoutMs = this.#options.timeoutMs
    let values: unknown
    try {
      values = await withTimeout(readPair(keyv, riskKey, blockKey), timeoutMs, this.#clock)
    } catch (error) {
      this.#failure(errorText(error))
      return undefined
    }
    if (values === TIMEOUT) {
      this.stats.timeouts++
      this.#failure(`no answer within ${timeoutMs} ms`, 'timeout')
      return undefined
    }
    // A Keyv that does not throw resolves misses on failure and reports the error as an event.
    const evented = this.#errors.since(mark)
    if (evented !== undefined) {
      this.#failure(evented)
      return undefined
    }
    if (!Array.isArray(values)) {
      this.#failure('the store answered a read with something other than a list')
      return undefined
    }
    return values
  }

  /** Count and report a value that is not a record; it reads as absent. */
  #invalid(record: InvalidRecord, key: string): undefined {
    this.stats.invalid++
    report(this.#options.onInvalid, record.problem, key)
    return undefined
  }

  /** Store a value, fire-and-forget: returns at once, never rejects, skipped while the breaker is open. */
  write(key: string, value: unknown, ttlMs: number): void {
    const keyv = this.#keyv
    if (keyv === undefined) {
      this.#writeWhenReady(key, value, ttlMs)
      return
    }
    if (!this.#allow(false)) {
      this.stats.skipped++
      return
    }
    this.stats.writes++
    const mark = this.#errors.mark()
    let pending: Promise<unknown>
    try {
      pending = keyv.set(key, value, ttlOf(ttlMs))
    } catch (error) {
      this.#failure(errorText(error))
      return
    }
    withTimeout(pending, this.#options.timeoutMs * 4, this.#clock).then(
      (result) => {
        if (result === TIMEOUT) this.#failure('write timed out', 'timeout')
        else {
          const evented = this.#errors.since(mark)
          if (evented !== undefined) this.#failure(evented)
        }
      },
      (error: unknown) => this.#failure(errorText(error)),
    )
  }

  /** Still connecting: write once connected, up to a bound (if the store never comes, these are dropped). */
  #writeWhenReady(key: string, value: unknown, ttlMs: number): void {
    if (this.#closed || this.#waitingWrites >= L2_MAX_WAITING_WRITES || !this.#allow(false)) {
      this.stats.skipped++
      return
    }
    this.#waitingWrites++
    void this.#ready.then((ready) => {
      this.#waitingWrites--
      if (ready !== undefined) this.write(key, value, ttlMs)
    })
  }

  /**
   * Store or delete now and wait for it (operator actions: `block`, `unblock`), ignoring the breaker: an operator
   * should learn that the shared store did not take the write. Rejects with an {@link IpRiskError} on failure.
   */
  async writeNow(key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.#operator((keyv) => keyv.set(key, value, ttlOf(ttlMs)))
  }

  /** Delete keys now and wait for it; see {@link SharedTier.writeNow}. */
  async deleteNow(keys: readonly string[]): Promise<void> {
    await this.#operator((keyv) => Promise.all(keys.map((k) => keyv.delete(k))))
  }

  async #operator(op: (keyv: KeyvLike) => Promise<unknown>): Promise<void> {
    if (this.#closed) throw new IpRiskError('iprisk: the resolver is closed')
    const mark = this.#errors.mark()
    const run = async (): Promise<unknown> => {
      const keyv = this.#keyv ?? (await this.#ready)
      if (keyv === undefined) throw new IpRiskError(this.#errors.last)
      return op(keyv)
    }
    let result: unknown
    try {
      result = await withTimeout(run(), L2_OPERATOR_TIMEOUT_MS, this.#clock)
    } catch (error) {
      this.#failure(errorText(error))
      throw new IpRiskError(`iprisk: the shared cache (L2) did not accept the write: ${errorText(error)}`)
    }
    if (result === TIMEOUT) {
      this.#failure('write timed out', 'timeout')
      throw new IpRiskError(`iprisk: the shared cache (L2) did not answer within ${L2_OPERATOR_TIMEOUT_MS} ms`)
    }
    const evented = this.#errors.since(mark)
    if (evented !== undefined) {
      this.#failure(evented)
      throw new IpRiskError(`iprisk: the shared cache (L2) did not accept the write: ${evented}`)
    }
  }

  /**
   * Resolves `true` once the store is loaded (for a Redis URL: the adapter imported and the first connection attempt
   * over), or `false` after `ms` on the tier's clock. Reads made before that are misses. For tests and start-up.
   */
  async whenReady(ms: number): Promise<boolean> {
    const result = await withTimeout(this.#ready, ms, this.#clock)
    return result !== TIMEOUT && result !== undefined
  }

  /** Stop using L2 and release what this tier created (never a Keyv the application passed in). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    report(this.#options.dispose)
  }
}
