/**
 * What the resolver remembers, on top of the cache tiers of cache.ts: how an answer, a failure or a block is written
 * to L1 (and L2), how a warm L1 entry answers, and how an L2 read and the L1 entry combine into an answer or a miss
 * (with stale data for the provider step). All freshness is wall time from the injected clock.
 *
 * @module
 * @internal
 */
import { dataOf, failedRisk, isFlagged, knownData, makeRisk, withIp } from './answers.js'
import {
  InvalidRecord,
  blockCacheKey,
  encodeBlock,
  encodeRisk,
  riskCacheKey,
  storedValue,
  type L1Entry,
  type MemoryTier,
  type SharedRead,
  type SharedTier,
} from './cache.js'
import type { Clock } from './clock.js'
import type { LeaseRecord } from './fleet/lease.js'
import type { Metrics } from './metrics.js'
import type { IpKind, IpRisk, LookupError, RiskData } from './types.js'

/** No answer in the caches: the provider is asked, with `stale` data to fall back on if it fails. @internal */
export class CacheMiss {
  constructor(readonly stale: RiskData | undefined) {}
}
const NO_STALE = new CacheMiss(undefined)

/**
 * Where the lease holder's records go instead of the fire-and-forget L2 write: the answer, and the block when the
 * answer is blocklisted. @internal
 */
export type Publish = (answer: LeaseRecord, block: LeaseRecord | undefined) => void

/** The resolved options the answer cache needs. @internal */
export interface AnswerCacheOptions {
  readonly ttlMs: number
  readonly flaggedTtlMs: number
  readonly staleMs: number
  readonly failureTtlMs: number
  readonly prefix: string
  readonly providerName: string
  readonly blocklist: { score: number; ttlMs: number } | undefined
}

/** The answers of one resolver, in L1 and (when configured) L2. @internal */
export class AnswerCache {
  /** Told of every automatic block once it is written (block propagation publishes it to the other instances). */
  onAutoBlock: ((ip: string, until: number, data: RiskData) => void) | undefined

  constructor(
    readonly l1: MemoryTier,
    readonly l2: SharedTier | undefined,
    private readonly options: AnswerCacheOptions,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
  ) {}

  /**
   * The answer a warm L1 entry gives now (the blocklist, a fresh answer, a recent failure), or `undefined` when the
   * lookup must go on (nothing usable, or an expired block that L2 must confirm). Hot path: one clock read.
   */
  warm(entry: L1Entry, ip: string): IpRisk | undefined {
    const now = this.clock.now()
    if (entry.blockedUntil > now) {
      this.metrics.cache('l1')
      return withIp(entry.blocked as IpRisk, ip)
    }
    if (entry.blocked !== undefined) {
      // An expired L1 block: with L2, ask it again (another instance may have lifted or renewed it).
      if (this.l2 !== undefined) return undefined
      clearBlock(entry)
    }
    if (entry.freshUntil > now) {
      this.metrics.cache('l1')
      return withIp(entry.risk as IpRisk, ip)
    }
    if (entry.failureUntil > now) {
      this.metrics.cache('l1')
      return withIp(entry.failure as IpRisk, ip)
    }
    return undefined
  }

  /** Stale-while-revalidate: the last known data for `key` (`source: 'stale'`), if any and not blocked. */
  staleNow(ip: string, key: string): IpRisk | undefined {
    const entry = this.l1.get(key)
    if (entry === undefined || entry.risk === undefined || entry.blocked !== undefined) return undefined
    if (entry.staleUntil <= this.clock.now()) return undefined
    return makeRisk(ip, entry.risk.ipKind, 'scored', null, null, 'stale', 0, dataOf(entry.risk))
  }

  /** The start of a flight: what L1 still holds for `key` (a dead entry is dropped). */
  flightStart(key: string): L1Entry | undefined {
    const now = this.clock.now()
    const entry = this.l1.prune(key, now)
    // Without L2 no one else can renew an expired block: it is cleared here.
    if (this.l2 === undefined && entry !== undefined && entry.blocked !== undefined && entry.blockedUntil <= now) {
      clearBlock(entry)
    }
    return entry
  }

  /** Read `key`'s answer and block from L2 in one read (`undefined`: no L2, or it could not be read). */
  readL2(key: string): Promise<SharedRead | undefined> | undefined {
    if (this.l2 === undefined) return undefined
    const { answer, block } = this.sharedKeys(key)
    return this.l2.read(answer, block)
  }

  /** The L2 keys of `key`'s answer and block. */
  sharedKeys(key: string): { answer: string; block: string } {
    const { prefix, providerName } = this.options
    return { answer: riskCacheKey(prefix, providerName, key), block: blockCacheKey(prefix, key) }
  }

  /**
   * Texts read from Redis by the fleet lease (keyv entries), checked by the L2 tier's own {@link SharedTier.parse}: a
   * value that is not a record this resolver could have written is absent (the tier reports such values when it reads
   * them). '' is absent. The lease exists only with an L2.
   */
  parseShared(answer: string, block: string): SharedRead {
    if (this.l2 === undefined) return { risk: undefined, block: undefined }
    const read = this.l2.parse(entryValue(answer), entryValue(block))
    return {
      risk: read.risk instanceof InvalidRecord ? undefined : read.risk,
      block: read.block instanceof InvalidRecord ? undefined : read.block,
    }
  }

  /**
   * What L1 (`before`, read when the flight started) and L2 (`read`, if any) give, or a miss with its stale data.
   * `countMiss: false`: a miss is not counted yet (the fleet lease may still find the answer; see {@link missed}).
   */
  combine(
    ip: string,
    key: string,
    kind: IpKind,
    t0: number,
    before: L1Entry | undefined,
    read: SharedRead | undefined,
    countMiss = true,
  ): IpRisk | CacheMiss {
    const now = this.clock.now()
    // After an L2 read (an await) the entry may have changed; without L2, `before` is current.
    const entry = this.l2 === undefined ? before : (this.l1.prune(key, now) ?? before)
    if (entry !== undefined && entry.blockedUntil > now) {
      // A block arrived during the L2 read (`block()` here, or propagated from another instance): it stands, whatever
      // the read (started before it) found. A flight only starts when L1 holds no block in force.
      this.metrics.cache('l1')
      return withIp(entry.blocked as IpRisk, ip)
    }
    const l1Fresh = entry !== undefined && entry.risk !== undefined && entry.freshUntil > now
    // An IpRisk is RiskData: the stored answer serves as stale data without a copy.
    let stale: RiskData | undefined = entry !== undefined && entry.staleUntil > now ? entry.risk : undefined
    if (read !== undefined) {
      const block = read.block
      if (block !== undefined && block.until > now) {
        const e = entry ?? this.l1.upsert(key)
        const known = block.data ?? knownData(e.risk) ?? read.risk?.data ?? null
        const stored = this.#installBlock(e, ip, kind, known, block.until, now)
        return makeRisk(ip, kind, stored.status, null, 'blocklist', 'l2', this.clock.monotonic() - t0, known)
      }
      if (entry !== undefined && entry.blocked !== undefined) clearBlock(entry)
      const risk = read.risk
      if (!l1Fresh && risk !== undefined) {
        if (risk.freshUntil > now) {
          // L2 checked the record against the longest TTL; L1 keeps it no longer than this answer's own TTL from now.
          const freshUntil = Math.min(risk.freshUntil, now + this.#ttlOf(risk.data))
          this.#installRisk(entry ?? this.l1.upsert(key), ip, kind, risk.data, freshUntil)
          this.metrics.cache('l2')
          return makeRisk(ip, kind, 'scored', null, null, 'l2', this.clock.monotonic() - t0, risk.data)
        }
        const staleUntil = stale === undefined ? 0 : (entry as L1Entry).staleUntil
        if (risk.freshUntil + this.options.staleMs > Math.max(now, staleUntil)) stale = risk.data
      }
    }
    if (l1Fresh && entry !== undefined && entry.risk !== undefined) {
      // Only here because an L1 block expired: the answer itself is still fresh.
      this.metrics.cache('l1')
      return withIp(entry.risk, ip)
    }
    if (countMiss) this.metrics.cache('miss')
    return stale === undefined ? NO_STALE : new CacheMiss(stale)
  }

  /** Count a miss that {@link combine} left uncounted: the provider is asked. */
  missed(): void {
    this.metrics.cache('miss')
  }

  /**
   * Keep the provider's answer (both tiers), blocklisting it when its score calls for that; the answer. With `publish`
   * (the fleet lease holder) the L2 records go there instead of the tier's fire-and-forget write.
   */
  scored(ip: string, key: string, kind: IpKind, t0: number, d: RiskData, publish?: Publish): IpRisk {
    const now = this.clock.now()
    const { prefix, providerName, staleMs, blocklist } = this.options
    const ttl = this.#ttlOf(d)
    const freshUntil = now + ttl
    const entry = this.l1.upsert(key)
    this.#installRisk(entry, ip, kind, d, freshUntil)
    const answer: LeaseRecord = { value: encodeRisk(d, freshUntil), ttlMs: ttl + staleMs }
    let block: LeaseRecord | undefined
    let listed: IpRisk['listed'] = null
    if (blocklist !== undefined && d.score !== null && d.score >= blocklist.score) {
      const until = now + blocklist.ttlMs
      this.#installBlock(entry, ip, kind, d, until, now)
      block = { value: encodeBlock(until, d), ttlMs: blocklist.ttlMs }
      listed = 'blocklist'
      this.onAutoBlock?.(ip, until, d)
    }
    if (publish !== undefined) publish(answer, block)
    else if (this.l2 !== undefined) {
      this.l2.write(riskCacheKey(prefix, providerName, key), answer.value, answer.ttlMs)
      if (block !== undefined) this.l2.write(blockCacheKey(prefix, key), block.value, block.ttlMs)
    }
    return makeRisk(ip, kind, 'scored', null, listed, 'upstream', this.clock.monotonic() - t0, d)
  }

  /** A failed lookup's answer (stale data if any), remembered in L1 for `cache.failureTtlSeconds` if `remember`. */
  failed(ip: string, key: string, kind: IpKind, t0: number, error: LookupError, stale: RiskData | undefined, remember: boolean): IpRisk {
    const lookupMs = this.clock.monotonic() - t0
    if (stale !== undefined) this.metrics.cache('stale')
    const failureTtlMs = this.options.failureTtlMs
    if (remember && failureTtlMs > 0) {
      const entry = this.l1.upsert(key)
      entry.failure = failedRisk(ip, kind, error, stale, 0)
      entry.failureUntil = this.clock.now() + failureTtlMs
    }
    return failedRisk(ip, kind, error, stale, lookupMs)
  }

  /** `block(ip, seconds)`: a block in L1 now, and in L2 (awaited) when there is one. */
  async block(ip: string, key: string, kind: IpKind, ms: number): Promise<void> {
    const now = this.clock.now()
    const until = now + ms
    const entry = this.l1.upsert(key)
    const known = knownData(entry.risk)
    this.#installBlock(entry, ip, kind, known, until, now)
    await this.l2?.writeNow(blockCacheKey(this.options.prefix, key), encodeBlock(until, known), ms)
  }

  /** `unblock(ip)`: forget everything L1 holds for `key`, and the L2 block. */
  async unblock(key: string): Promise<void> {
    this.l1.delete(key)
    await this.l2?.deleteNow([blockCacheKey(this.options.prefix, key)])
  }

  /** A block read from the propagation stream (made here or on another instance): in L1 now, as L2 already has it. */
  applyBlock(ip: string, key: string, kind: IpKind, data: RiskData | null, until: number): void {
    const now = this.clock.now()
    const entry = this.l1.upsert(key)
    this.#installBlock(entry, ip, kind, data ?? knownData(entry.risk), until, now)
  }

  /** An unblock read from the propagation stream: L1 forgets `key` (L2 no longer has the block). */
  applyUnblock(key: string): void {
    this.l1.delete(key)
  }

  #ttlOf(d: RiskData): number {
    return isFlagged(d) ? this.options.flaggedTtlMs : this.options.ttlMs
  }

  #installRisk(entry: L1Entry, ip: string, kind: IpKind, d: RiskData, freshUntil: number): void {
    entry.risk = makeRisk(ip, kind, 'scored', null, null, 'l1', 0, d)
    entry.freshUntil = freshUntil
    entry.staleUntil = freshUntil + this.options.staleMs
    entry.failure = undefined
    entry.failureUntil = 0
  }

  /**
   * Put a block in L1. With L2, the local copy lives at most one TTL, then L2 is asked again: that bounds how long a
   * block (or an unblock) made on another instance takes to be seen here.
   */
  #installBlock(entry: L1Entry, ip: string, kind: IpKind, d: RiskData | null, until: number, now: number): IpRisk {
    entry.blocked = makeRisk(ip, kind, d === null ? 'skipped' : 'scored', null, 'blocklist', 'l1', 0, d)
    entry.blockedUntil = this.l2 === undefined ? until : Math.min(until, now + this.options.ttlMs)
    return entry.blocked
  }
}

/** The record in a keyv entry's text (`{"value": …}`), an {@link InvalidRecord}, or `undefined` for ''. */
function entryValue(text: string): unknown {
  return text === '' ? undefined : storedValue(text)
}

function clearBlock(entry: L1Entry): void {
  entry.blocked = undefined
  entry.blockedUntil = 0
}
