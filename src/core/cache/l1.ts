/**
 * L1: the bounded in-process LRU (`lru-cache`) in front of everything. Every answer the resolver hands out from it is
 * a frozen object stored ahead of time, so a warm hit is one map lookup and no allocation.
 *
 * L1 reads no clock itself: every expiry check takes the caller's `now` (the resolver reads its injected clock once per
 * request and passes it down), so the warm path makes no extra clock call.
 *
 * @internal
 * @module
 */

import { LRUCache } from 'lru-cache'
import type { IpRisk } from '../types.js'

/**
 * What L1 knows about one IP key. One mutable record per key (a single hidden class); the answers it points to are
 * frozen and handed out as they are. A time of 0 means "not set".
 *
 * @internal
 */
export interface L1Entry {
  /** Last scored answer, stamped `source: 'l1'`, `lookupMs: 0`; or a memoized `skipped` answer (fresh forever). */
  risk: IpRisk | undefined
  /** Epoch ms until which `risk` is fresh. */
  freshUntil: number
  /** Epoch ms until which `risk` may still be served when the upstream fails (stale-on-error). */
  staleUntil: number
  /** A recent failed lookup's answer (`unavailable`, or `stale` data), served until `failureUntil`. */
  failure: IpRisk | undefined
  /** Epoch ms until which `failure` is served. */
  failureUntil: number
  /** The blocklist answer (`listed: 'blocklist'`), served until `blockedUntil`. */
  blocked: IpRisk | undefined
  /** Epoch ms until which `blocked` is served. */
  blockedUntil: number
}

function newEntry(): L1Entry {
  return {
    risk: undefined,
    freshUntil: 0,
    staleUntil: 0,
    failure: undefined,
    failureUntil: 0,
    blocked: undefined,
    blockedUntil: 0,
  }
}

/**
 * L1: a bounded LRU of {@link L1Entry} records keyed by IP key. With `max === 0` it is disabled: it stores nothing
 * and every `get` misses.
 *
 * Expiry is kept in the entry rather than in lru-cache's TTL machinery because one entry carries three lifetimes
 * (fresh, stale, blocked) and the stale copy must outlive the fresh one; entries past all of them are dropped when
 * next read ({@link MemoryTier.prune}) or evicted by the LRU bound. Memory is bounded by `max` either way.
 *
 * @internal
 */
export class MemoryTier {
  readonly max: number
  readonly #lru: LRUCache<string, L1Entry> | undefined

  constructor(max: number) {
    this.max = max
    this.#lru = max > 0 ? new LRUCache<string, L1Entry>({ max }) : undefined
  }

  /** The entry for `key` (marking it recently used), or `undefined`. Hot path: one map lookup. */
  get(key: string): L1Entry | undefined {
    return this.#lru?.get(key)
  }

  /** The entry for `key` if it still holds anything usable at `now`; a dead entry is deleted. */
  prune(key: string, now: number): L1Entry | undefined {
    const entry = this.#lru?.get(key)
    if (entry === undefined) return undefined
    if (entry.staleUntil > now || entry.failureUntil > now || entry.blockedUntil > now) return entry
    this.#lru?.delete(key)
    return undefined
  }

  /** The entry for `key`, created (and inserted) when missing. With L1 disabled, a detached entry. */
  upsert(key: string): L1Entry {
    const lru = this.#lru
    if (lru === undefined) return newEntry()
    let entry = lru.get(key)
    if (entry === undefined) {
      entry = newEntry()
      lru.set(key, entry)
    }
    return entry
  }

  /** Forget `key` (an `unblock`). */
  delete(key: string): void {
    this.#lru?.delete(key)
  }

  /** Number of entries held (never above `max`). */
  get size(): number {
    return this.#lru?.size ?? 0
  }

  /** Forget everything. */
  clear(): void {
    this.#lru?.clear()
  }
}
