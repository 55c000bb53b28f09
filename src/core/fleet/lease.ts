/**
 * Fleet-wide single flight: of the instances that miss L1 and L2 for one IP key at about the same time, one (the
 * holder) takes a short lease in Redis and asks the provider; the others (waiters) read L2 at short intervals until the
 * holder's answer lands, then answer from it. The holder writes its answer and releases the lease in one atomic
 * script, so a waiter that finds the lease gone finds the answer, and a late instance that still misses L2 finds the
 * lease held until the answer is there (the fire-and-forget L2 write no longer races a second instance).
 *
 * Waiters poll (one short script per poll: answer, or the lease if it is free) rather than being notified. A waiter
 * exists only while another instance is asking the provider about the same IP at that moment, so polls are few (about
 * 4 for a 100 ms provider call, 12 for 500 ms) and need no connection of their own; pub/sub or a blocking read would
 * cost a dedicated connection per instance, a (un)subscribe round trip per waited key anyway, sharded channels on a
 * cluster, and a poll fallback for messages lost across a reconnect. The price is up to one poll interval
 * ({@link LEASE_MAX_POLL_MS}) of extra latency for a waiter.
 *
 * Nothing here can fail a lookup or stall it past the L2 budget: every script runs within `l2TimeoutMs`, an error or a
 * timeout means "no lease" (the instance asks the provider itself, as without a fleet), a waiter waits at most until
 * its `until` (the lookup keeps the rest of its budget for its own call), and a lease whose holder died expires after
 * `leaseMs`: the first waiter to see it free takes it over. Every timer is on the injected clock.
 *
 * @internal
 * @module
 */
import type { Clock, TimerHandle } from '../clock.js'
import { L2_MAX_VALUE_CHARS } from '../cache/l2-codec.js'
import { TIMEOUT, withTimeout } from '../cache/l2-store.js'
import type { RedisLink } from './link.js'
import { RELEASE_SCRIPT, RENEW_SCRIPT, TAKE, TAKE_SCRIPT, leaseCacheKey, newToken } from './lease-scripts.js'

/** First poll of a waiter, ms after it found the lease taken (then doubling). */
export const LEASE_FIRST_POLL_MS = 10
/** Longest interval between a waiter's polls, ms: the most a waiter answers after the holder's answer landed. */
export const LEASE_MAX_POLL_MS = 50
/** Longest lease accepted as one an instance wrote (`cache.leaseMs` at most): a longer-lived value is not a lease. */
export const LEASE_MAX_MS = 60_000

/** The resolved options of {@link FleetLease}. @internal */
export interface FleetLeaseOptions {
  readonly prefix: string
  readonly providerName: string
  /** How long a lease lives unless released (`cache.leaseMs`). */
  readonly leaseMs: number
  /** Budget of one script (`cache.l2TimeoutMs`). */
  readonly l2TimeoutMs: number
  /**
   * How long after its lookup started a waiter stops waiting and asks the provider itself: half of
   * `budget.timeoutMs`, the other half being kept for that call.
   */
  readonly waitMs: number
}

/** The three keys of one IP key (answer, block, lease), all in its hash slot. @internal */
export interface LeaseKeys {
  readonly answer: string
  readonly block: string
  readonly lease: string
}

/** A record to publish: the value as the L2 tier stores it and its lifetime. @internal */
export interface LeaseRecord {
  readonly value: unknown
  readonly ttlMs: number
}

/** What a lease attempt or a wait came to. @internal */
export type LeaseOutcome =
  /** A fresh answer or block is in L2 (the raw texts, to be checked like any L2 value). */
  | { readonly state: 'found'; readonly answer: string; readonly block: string; readonly digest: string }
  /** This instance holds the lease: it asks the provider, then {@link FleetLease.release}s with the answer. */
  | { readonly state: 'held'; readonly token: string }
  /** Another instance holds it: {@link FleetLease.wait}. */
  | { readonly state: 'taken' }
  /** No lease (no link, Redis failed or too slow, closed, or the wait is over): the instance asks on its own. */
  | { readonly state: 'off' }

const TAKEN: LeaseOutcome = Object.freeze({ state: 'taken' })
const OFF: LeaseOutcome = Object.freeze({ state: 'off' })

/** Counters, for tests and diagnostics. */
export interface LeaseStats {
  /** Scripts sent (attempts and polls). */
  scripts: number
  /** Leases taken (first attempt or takeover). */
  held: number
  /** Attempts that found the lease taken (waits started). */
  waits: number
  /** Answers found by a waiter's poll. */
  answered: number
  /** Waits that ended at their limit (the instance then asked on its own). */
  gaveUp: number
  /** Scripts that failed or timed out (no lease). */
  failures: number
  /** Leases released by their holder (the token still ours). */
  released: number
  /** Leases extended while their holder's call ran longer than a third of `leaseMs`. */
  renewed: number
}

/** A value read from Redis as text, else '' (a nil or anything unexpected). */
const textOf = (v: unknown): string => (typeof v === 'string' ? v : '')

/** The fleet lease of one resolver. @internal */
export class FleetLease {
  readonly stats: LeaseStats = { scripts: 0, held: 0, waits: 0, answered: 0, gaveUp: 0, failures: 0, released: 0, renewed: 0 }
  readonly #wakers = new Set<() => void>()
  readonly #renewals = new Set<() => void>()
  #closed = false

  constructor(
    private readonly link: () => RedisLink | undefined,
    private readonly options: FleetLeaseOptions,
    private readonly clock: Clock,
  ) {}

  /** Waiters asleep between two polls now. */
  get sleeping(): number {
    return this.#wakers.size
  }

  /** Whether a link is there now (connected): without one, lookups run without a lease. */
  linked(): boolean {
    return !this.#closed && this.link() !== undefined
  }

  /** The lease key of `ipKey` (see {@link leaseCacheKey}). */
  leaseKey(ipKey: string): string {
    return leaseCacheKey(this.options.prefix, this.options.providerName, ipKey)
  }

  /**
   * One attempt: a fresh answer, the lease (ours or another's), or `off`. Within `l2TimeoutMs`; never rejects.
   * `past`: the digest of values found before that were not valid records; while they are still there, the lease is
   * taken (or waited for) as if there were no answer.
   */
  async take(keys: LeaseKeys, past = ''): Promise<LeaseOutcome> {
    const token = newToken()
    const { leaseMs } = this.options
    const args = [token, String(leaseMs), String(Math.floor(this.clock.now())), String(LEASE_MAX_MS), past, String(L2_MAX_VALUE_CHARS)]
    const reply = await this.#run(TAKE_SCRIPT, allOf(keys), args)
    const state: unknown = Array.isArray(reply) ? reply[0] : undefined
    if (state === TAKE.held) {
      this.stats.held++
      return { state: 'held', token }
    }
    if (state === TAKE.taken) return TAKEN
    if (state === TAKE.found) {
      const [, answer, block, digest] = reply as unknown[]
      return { state: 'found', answer: textOf(answer), block: textOf(block), digest: textOf(digest) }
    }
    if (reply !== undefined) this.stats.failures++ // not a reply of this script
    return OFF
  }

  /**
   * Wait for another instance's answer: poll ({@link FleetLease.take}, with `past`) at growing intervals until an answer is found,
   * the lease is free (then it is ours: `held`), a poll fails, or {@link FleetLeaseOptions.waitMs} after the lookup's
   * start `t0` (monotonic; then `off`). Never rejects.
   */
  async wait(keys: LeaseKeys, t0: number, past = ''): Promise<LeaseOutcome> {
    this.stats.waits++
    const until = t0 + this.options.waitMs
    let delay = LEASE_FIRST_POLL_MS
    for (;;) {
      const left = until - this.clock.monotonic()
      if (left <= 0 || this.#closed) break
      await this.#sleep(Math.min(delay, left))
      if (this.#closed || this.clock.monotonic() >= until) break
      const outcome = await this.take(keys, past)
      if (outcome !== TAKEN) {
        if (outcome.state === 'found') this.stats.answered++
        return outcome
      }
      delay = Math.min(delay * 2, LEASE_MAX_POLL_MS)
    }
    this.stats.gaveUp++
    return OFF
  }

  /**
   * Write the holder's records (if any) and release its lease, in one script, awaited within `l2TimeoutMs`: a waiter
   * that sees the lease gone finds the answer. The lease is deleted only if it still holds `token`. Never rejects;
   * `true` when the lease was ours and is released.
   */
  async release(keys: LeaseKeys, token: string, answer?: LeaseRecord, block?: LeaseRecord): Promise<boolean> {
    const args = [token, ...recordArgs(answer), ...recordArgs(block)]
    const reply = await this.#run(RELEASE_SCRIPT, allOf(keys), args)
    if (reply === undefined) return false
    if (reply === 1) this.stats.released++
    return reply === 1
  }

  /**
   * Keep the holder's lease alive while its call runs: extended to `leaseMs` every third of `leaseMs`, until the
   * returned function is called (before {@link FleetLease.release}) or the lease is found to be another's. So `leaseMs`
   * bounds how long a dead holder (a process that stopped) keeps the others waiting, not how long a live one may take.
   * A failed renewal is tried again at the next tick (the lease lives on in Redis meanwhile).
   */
  keepAlive(keys: LeaseKeys, token: string): () => void {
    const every = Math.max(1, Math.floor(this.options.leaseMs / 3))
    let timer: TimerHandle = undefined
    let stopped = false
    const stop = (): void => {
      stopped = true
      this.clock.clearTimeout(timer)
      this.#renewals.delete(stop)
    }
    const tick = (): void => {
      void this.#run(RENEW_SCRIPT, [keys.lease], [token, String(this.options.leaseMs)]).then((reply) => {
        if (reply === 1) this.stats.renewed++
        if (reply === 0 || stopped) stop()
        else timer = this.clock.setTimeout(tick, every)
      })
    }
    this.#renewals.add(stop)
    timer = this.clock.setTimeout(tick, every)
    return stop
  }

  /** Stop: waits end now (`off`), renewals stop (a lease held now expires as a dead holder's would), no script is sent. */
  close(): void {
    this.#closed = true
    for (const wake of [...this.#wakers]) wake()
    for (const stop of [...this.#renewals]) stop()
  }

  /** A script's reply, or `undefined` (counted) when there is no link, it failed or it took longer than the budget. */
  async #run(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const link = this.#closed ? undefined : this.link()
    if (link === undefined) return undefined
    this.stats.scripts++
    try {
      // Routed by the last key, the lease's: every key of a script is in its slot.
      const sent = link.command(keys[keys.length - 1] as string, ['EVAL', script, String(keys.length), ...keys, ...args])
      const reply = await withTimeout(sent, this.options.l2TimeoutMs, this.clock)
      if (reply !== TIMEOUT) return reply
    } catch {
      // a Redis error: no lease
    }
    this.stats.failures++
    return undefined
  }

  /** Resolves after `ms` on the clock, or at once on close. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: TimerHandle = undefined
      const wake = (): void => {
        this.#wakers.delete(wake)
        this.clock.clearTimeout(timer)
        resolve()
      }
      this.#wakers.add(wake)
      timer = this.clock.setTimeout(wake, ms)
    })
  }
}

/** The keys of a take or release script, the lease last (it routes the script). */
const allOf = (keys: LeaseKeys): string[] => [keys.answer, keys.block, keys.lease]

/** A record as script arguments: the stored text (a keyv entry, as the L2 tier writes it) and its lifetime. */
function recordArgs(record: LeaseRecord | undefined): [string, string] {
  if (record === undefined) return ['', '0']
  // The tier stores `{ value }` entries (l2-codec.ts); Redis's own expiry (PX) ends them, as it does the tier's.
  return [JSON.stringify({ value: record.value }), String(Math.max(1, Math.ceil(record.ttlMs)))]
}
