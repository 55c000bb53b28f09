/**
 * The two cache tiers behind the risk resolver.
 *
 * - **L1** ({@link MemoryTier}): a bounded in-process LRU (`lru-cache`). Every answer the resolver hands out from it
 *   is a frozen object stored ahead of time, so a warm hit is one map lookup and no allocation.
 * - **L2** ({@link SharedTier}): an optional shared store (any Keyv, or Redis through `@keyv/redis` from a
 *   `redis://` URL) so that a fleet of instances scores each IP once and shares the automatic blocklist. L2 is a cache,
 *   never a dependency of availability: reads have a small time budget and their own breaker, writes are
 *   fire-and-forget, errors are swallowed and counted.
 *
 * Keys are short and versioned: `<prefix>:1:<provider>:<ip key>` for answers and `<prefix>:1:block:<ip key>` for the
 * blocklist, where the IP key is `cacheKeyForIp(ip, ipv6Prefix)` (an IPv4 address itself, an IPv6 address's /64).
 *
 * Most of this module is internal to the resolver; the public part is the {@link CACHE_KEY_VERSION} and key helpers
 * ({@link riskCacheKey}, {@link blockCacheKey}) for operators who inspect or pre-warm the shared store.
 *
 * @module
 */

import { createRequire } from 'node:module'
import { LRUCache } from 'lru-cache'
import { IpRiskConfigError, IpRiskError } from './errors.js'
import { dataFromTuple } from './risk-data.js'
import type { IpRisk, RiskData } from './types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Version segment of every shared-cache key. Bumped whenever the stored format changes, so old entries are ignored.
 *
 * @example
 * ```ts
 * import { CACHE_KEY_VERSION } from 'iprisk'
 * // clear everything iprisk stored in Redis for this version (redis-cli):
 * //   redis-cli --scan --pattern "iprisk:${CACHE_KEY_VERSION}:*" | xargs redis-cli unlink
 * ```
 */
export const CACHE_KEY_VERSION = 1

/**
 * The shared-cache (L2) key of a provider's answer for an IP key.
 *
 * @param prefix The resolver's `cache.prefix` (default `iprisk`).
 * @param providerName `provider.name`, so that two providers never read each other's answers.
 * @param ipKey `cacheKeyForIp(ip, cache.ipv6Prefix)`.
 *
 * @example
 * ```ts
 * import { cacheKeyForIp, riskCacheKey } from 'iprisk'
 * riskCacheKey('iprisk', 'ipasis', cacheKeyForIp('203.0.113.7')) // 'iprisk:1:ipasis:203.0.113.7'
 * riskCacheKey('iprisk', 'ipasis', cacheKeyForIp('2001:db8:1:2::9')) // 'iprisk:1:ipasis:2001:db8:1:2::/64'
 * ```
 */
export function riskCacheKey(prefix: string, providerName: string, ipKey: string): string {
  return `${prefix}:${CACHE_KEY_VERSION}:${providerName}:${ipKey}`
}

/**
 * The shared-cache (L2) key of a blocklist entry for an IP key (shared by every provider).
 *
 * @example
 * ```ts
 * import { blockCacheKey } from 'iprisk'
 * blockCacheKey('iprisk', '203.0.113.7') // 'iprisk:1:block:203.0.113.7'
 * ```
 */
export function blockCacheKey(prefix: string, ipKey: string): string {
  return `${prefix}:${CACHE_KEY_VERSION}:block:${ipKey}`
}

// ---------------------------------------------------------------------------------------------------------------------
// L1: in-process LRU
// ---------------------------------------------------------------------------------------------------------------------

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
  failureUntil: number
  /** The blocklist answer (`listed: 'blocklist'`), served until `blockedUntil`. */
  blocked: IpRisk | undefined
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

  delete(key: string): void {
    this.#lru?.delete(key)
  }

  /** Number of entries held (never above `max`). */
  get size(): number {
    return this.#lru?.size ?? 0
  }

  clear(): void {
    this.#lru?.clear()
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// L2 record format
// ---------------------------------------------------------------------------------------------------------------------

/**
 * RiskData as a positional tuple: `[score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp]`. Shared-cache
 * values are small (a Redis fleet may hold millions) and the field names are implied by the key version.
 */
type DataTuple = [
  number | null,
  boolean | null,
  boolean | null,
  boolean | null,
  boolean | null,
  string | null,
  number | null,
  string | null,
]

/** A scored answer in L2: data and the epoch ms until which it is fresh (kept longer, for stale-on-error). */
export interface StoredRisk {
  data: RiskData
  freshUntil: number
}

/** A blocklist entry in L2: until when, and the last known data (if any) to keep in blocked answers. */
export interface StoredBlock {
  until: number
  data: RiskData | null
}

/**
 * Clock difference tolerated between instances sharing L2: a record may say it is fresh (or blocked) up to this much
 * longer than this instance would have written it.
 */
export const L2_CLOCK_TOLERANCE_MS = 60_000
/** Longest block, in seconds: `block(ip, seconds)` and `blocklist.ttlSeconds` take at most 30 days. */
export const MAX_BLOCK_SECONDS = 30 * 24 * 3600
/** Longest `cache.ttlSeconds` / `flaggedTtlSeconds` / `staleSeconds` allowed: a week. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600
/** Longest block the resolver writes, ms. */
export const L2_MAX_BLOCK_MS = MAX_BLOCK_SECONDS * 1000
/** Longest freshness a record may have when no limit is given: the largest `cache.ttlSeconds` allowed. */
export const L2_DEFAULT_MAX_FRESH_MS = MAX_TTL_SECONDS * 1000
/**
 * Longest stored text the Redis connection parses (an iprisk record is at most about 3.3 KB: a 512-character ISP name,
 * JSON-escaped, and a few numbers). Longer values are refused without being parsed.
 */
export const L2_MAX_VALUE_CHARS = 8_192

/**
 * What L2 records are checked against, besides their shape: the time now and the longest lifetimes this resolver
 * writes. A record fresh or blocked for longer than that (plus {@link L2_CLOCK_TOLERANCE_MS}) was not written by a
 * resolver with this configuration, and is refused. A record in the past is not refused: an expired answer is still
 * stale data (served only when the provider fails), an expired block is no block.
 */
export interface RecordLimits {
  /** Epoch ms. */
  now: number
  /** Longest freshness written, ms: the larger of `cache.ttlSeconds` and `cache.flaggedTtlSeconds`. */
  maxFreshMs: number
  /** Longest block written, ms. */
  maxBlockMs: number
}

/**
 * An L2 value that is not an iprisk record: not JSON, the wrong shape, a field out of range, or a lifetime longer
 * than this resolver would have written. `problem` is a fixed text (never the value, which may be huge or hostile).
 * Such a value is a miss, never an L2 failure.
 */
export class InvalidRecord {
  constructor(readonly problem: string) {
    Object.freeze(this)
  }
}

const NOT_JSON = new InvalidRecord('not JSON')
const TOO_LARGE = new InvalidRecord(`longer than ${L2_MAX_VALUE_CHARS} characters`)
const NOT_ENTRY = new InvalidRecord('not a keyv entry ({"value": …})')
const NOT_RECORD = new InvalidRecord('not an object with exactly the expected keys')
const BAD_DATA = new InvalidRecord('data not eight fields in range')
const BAD_TIME = new InvalidRecord('a time that is not a finite number')
const TOO_FRESH = new InvalidRecord('fresh for longer than the configured TTL')
const TOO_LONG_BLOCK = new InvalidRecord('blocked for longer than the longest block')

// L2 is shared with other processes (and possibly other software, or whoever can write to the store): everything read
// from it is checked, on the miss path only, against the rules a provider's answer is held to (risk-data.ts), strictly
// (the resolver only writes normalized data) and against the lifetimes the resolver writes. Hand-written: zod's parse
// of a tuple costs several times more, and the checks must be exactly those of the provider's answer.

/** `o` is a plain object whose own keys are exactly `a` and `b` (a `__proto__` or any other extra key is refused). */
function hasExactKeys(o: unknown, a: string, b: string): o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false
  const proto: unknown = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) return false
  const keys = Object.keys(o)
  return keys.length === 2 && (keys[0] === a ? keys[1] === b : keys[0] === b && keys[1] === a)
}

/** @internal */
export function encodeData(d: RiskData): DataTuple {
  return [d.score, d.isVpn, d.isProxy, d.isTor, d.isDatacenter, d.countryCode, d.asn, d.isp]
}

/** @internal */
export function encodeRisk(data: RiskData, freshUntil: number): unknown {
  return { f: freshUntil, d: encodeData(data) }
}

/** @internal */
export function encodeBlock(until: number, data: RiskData | null): unknown {
  return { u: until, d: data === null ? null : encodeData(data) }
}

/**
 * A stored answer; `undefined` when absent; an {@link InvalidRecord} when the value is not one the resolver could
 * have written under `limits`. @internal
 */
export function parseRisk(value: unknown, limits: RecordLimits): StoredRisk | InvalidRecord | undefined {
  if (value === undefined || value === null) return undefined
  if (value instanceof InvalidRecord) return value
  if (!hasExactKeys(value, 'f', 'd')) return NOT_RECORD
  const f = value.f
  if (typeof f !== 'number' || !Number.isFinite(f)) return BAD_TIME
  if (f > limits.now + limits.maxFreshMs + L2_CLOCK_TOLERANCE_MS) return TOO_FRESH
  const data = dataFromTuple(value.d)
  return data === undefined ? BAD_DATA : { data, freshUntil: f }
}

/** A stored blocklist entry, `undefined` or an {@link InvalidRecord}; see {@link parseRisk}. @internal */
export function parseBlock(value: unknown, limits: RecordLimits): StoredBlock | InvalidRecord | undefined {
  if (value === undefined || value === null) return undefined
  if (value instanceof InvalidRecord) return value
  if (!hasExactKeys(value, 'u', 'd')) return NOT_RECORD
  const u = value.u
  if (typeof u !== 'number' || !Number.isFinite(u)) return BAD_TIME
  if (u > limits.now + limits.maxBlockMs + L2_CLOCK_TOLERANCE_MS) return TOO_LONG_BLOCK
  if (value.d === null) return { until: u, data: null }
  const data = dataFromTuple(value.d)
  return data === undefined ? BAD_DATA : { until: u, data }
}

// ---------------------------------------------------------------------------------------------------------------------
// L2: shared store behind a time budget and a breaker
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The part of a Keyv instance L2 uses (Keyv 5). Any Keyv works; the structural type avoids tying users to our copy
 * of the `keyv` package (an `instanceof` check would fail across copies).
 *
 * @example
 * ```ts
 * import { Keyv } from 'keyv'
 * import KeyvRedis from '@keyv/redis'
 *
 * const shared = new Keyv({ store: new KeyvRedis('redis://10.0.0.5:6379'), useKeyPrefix: false, namespace: undefined })
 * createRiskResolver({ provider, cache: shared }) // the resolver does not close it: it is yours
 * ```
 */
export interface KeyvLike {
  get(key: string): Promise<unknown>
  set(key: string, value: unknown, ttl?: number): Promise<unknown>
  delete(key: string): Promise<unknown>
  getMany?(keys: string[]): Promise<unknown[]>
  on(event: 'error', listener: (error: unknown) => void): unknown
}

/** True when `value` looks like a Keyv instance (the methods L2 calls). @internal */
export function isKeyvLike(value: unknown): value is KeyvLike {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    typeof v.get === 'function' && typeof v.set === 'function' && typeof v.delete === 'function' && typeof v.on === 'function'
  )
}

/**
 * True when a Keyv instance keeps its data in keyv's default in-memory `Map`, which is unbounded (an IP-rotating
 * attacker would grow it without limit). Such an instance is refused as L2. @internal
 */
export function hasUnboundedMapStore(keyv: KeyvLike): boolean {
  const k = keyv as unknown as { store?: unknown; opts?: { store?: unknown } }
  const store = k.store ?? k.opts?.store
  return store instanceof Map
}

/** Consecutive L2 failures (errors or timeouts) that open the L2 breaker. */
export const L2_BREAKER_FAILURES = 3
/** How long the L2 breaker stays open before one probe request is let through. */
export const L2_BREAKER_OPEN_MS = 5_000
/** Writes held while the store is still connecting; beyond, writes are dropped (it is only a cache). */
export const L2_MAX_WAITING_WRITES = 1_000
/** Time budget of operator writes (`block`, `unblock`), which are awaited. */
export const L2_OPERATOR_TIMEOUT_MS = 2_000

const TIMEOUT: unique symbol = Symbol('timeout')

/** What a deserializer throws on a text that is not JSON (`JSON.parse`'s error), as opposed to a store failure. */
const isParseError = (error: unknown): boolean => error instanceof SyntaxError

/**
 * Both values, in one round trip when the store can (`getMany`). A Keyv whose deserializer throws on a value that is
 * not JSON (keyv's default one does) fails the whole batch: the keys are then read one by one, so that such a value
 * is an invalid record for its key (a miss) and the other key is still read. Any other error rejects (a failure).
 */
async function readPair(keyv: KeyvLike, riskKey: string, blockKey: string): Promise<unknown> {
  if (typeof keyv.getMany === 'function') {
    try {
      return await keyv.getMany([riskKey, blockKey])
    } catch (error) {
      if (!isParseError(error)) throw error
    }
  }
  const settled = await Promise.allSettled([keyv.get(riskKey), keyv.get(blockKey)])
  return settled.map((s) => {
    if (s.status === 'fulfilled') return s.value
    if (isParseError(s.reason)) return NOT_JSON
    throw s.reason
  })
}

/**
 * `promise`, or {@link TIMEOUT} once `ms` elapse. A rejection after the timeout is absorbed (the `then` below handles
 * it), so a late failure can never surface as an unhandled rejection.
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  return new Promise<T | typeof TIMEOUT>((resolve, reject) => {
    const timer = setTimeout(resolve, ms, TIMEOUT)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** Counters of the shared tier, for tests and diagnostics. */
export interface SharedTierStats {
  reads: number
  hits: number
  /** Reads and writes that failed or timed out (including the ones swallowed as `error` events). */
  failures: number
  timeouts: number
  /** Reads and writes not attempted because the L2 breaker was open. */
  skipped: number
  writes: number
  /** Values read that were not valid records ({@link InvalidRecord}): misses, not failures. */
  invalid: number
}

/** State of the L2 breaker. */
export type SharedTierState = 'closed' | 'open' | 'half_open'

/** Options of {@link SharedTier}. @internal */
export interface SharedTierOptions {
  /** Budget of one read, ms. */
  timeoutMs: number
  /** Called once per breaker opening, with what failed (never contains secrets: error messages of the client). */
  onOpen?: (reason: string) => void
  /** Called for every failed read or write (for the `iprisk.cache.l2_errors` metric). Must not throw. */
  onFailure?: (kind: 'timeout' | 'error') => void
  /**
   * Called for every value read that is not a valid record (a miss, not a failure), with the problem (a fixed text,
   * never the value) and the key it was read from.
   */
  onInvalid?: (problem: string, key: string) => void
  /** Longest freshness a record may carry, ms (see {@link RecordLimits}). @default {@link L2_DEFAULT_MAX_FRESH_MS} */
  maxFreshMs?: number
  /** Longest block a record may carry, ms. @default {@link L2_MAX_BLOCK_MS} */
  maxBlockMs?: number
  /** Release what the tier owns (a Redis client it created). Not called for a user's Keyv. */
  dispose?: () => void
  /** Clock, epoch ms. @default () => Date.now() */
  now?: () => number
}

/** What one L2 read found. */
export interface SharedRead {
  risk: StoredRisk | undefined
  block: StoredBlock | undefined
}

/**
 * L2: a Keyv store behind a read time budget and a small breaker.
 *
 * - `read` never rejects and never takes longer than `timeoutMs`; it answers `undefined` when L2 could not be read
 *   (error, timeout, breaker open, still loading).
 * - `write` is fire-and-forget: it is never awaited on the request path; failures are counted and swallowed.
 * - After {@link L2_BREAKER_FAILURES} consecutive failures the breaker opens: for {@link L2_BREAKER_OPEN_MS} nothing
 *   is sent to L2, then a single probe read decides whether to close it again.
 *
 * The breaker is hand-rolled (a counter and a timestamp) rather than cockatiel's: a Keyv configured not to throw
 * reports failures only as `error` events while resolving `undefined`, which a policy wrapping the call cannot see,
 * and the write path needs a synchronous "is L2 usable" check without creating a promise.
 *
 * @internal
 */
export class SharedTier {
  readonly stats: SharedTierStats = { reads: 0, hits: 0, failures: 0, timeouts: 0, skipped: 0, writes: 0, invalid: 0 }
  #keyv: KeyvLike | undefined
  readonly #ready: Promise<KeyvLike | undefined>
  readonly #timeoutMs: number
  readonly #onOpen: ((reason: string) => void) | undefined
  readonly #onFailure: ((kind: 'timeout' | 'error') => void) | undefined
  readonly #onInvalid: ((problem: string, key: string) => void) | undefined
  readonly #maxFreshMs: number
  readonly #maxBlockMs: number
  readonly #dispose: (() => void) | undefined
  readonly #now: () => number
  #failures = 0
  #openUntil = 0
  #probing = false
  #errorEvents = 0
  #waitingWrites = 0
  #lastError = ''
  #closed = false

  /**
   * @param source A Keyv instance, or a promise of one (a Redis adapter still loading). Until the promise resolves,
   *   reads are misses and writes wait for it (up to {@link L2_MAX_WAITING_WRITES}).
   */
  constructor(source: KeyvLike | Promise<KeyvLike>, options: SharedTierOptions) {
    this.#timeoutMs = options.timeoutMs
    this.#onOpen = options.onOpen
    this.#onFailure = options.onFailure
    this.#onInvalid = options.onInvalid
    this.#dispose = options.dispose
    this.#maxFreshMs = options.maxFreshMs ?? L2_DEFAULT_MAX_FRESH_MS
    this.#maxBlockMs = options.maxBlockMs ?? L2_MAX_BLOCK_MS
    // Read through a closure (not `Date.now` captured now), so that a clock faked later is seen.
    this.#now = options.now ?? (() => Date.now())
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
          this.#lastError = errorText(error)
          return undefined
        },
      )
    }
  }

  #attach(keyv: KeyvLike): void {
    this.#keyv = keyv
    // keyv re-emits every store / client error as an 'error' event; without a listener some emitters throw.
    keyv.on('error', (error: unknown) => {
      this.#errorEvents++
      this.#lastError = errorText(error)
    })
  }

  /** The breaker state at `now`. */
  state(now: number = this.#now()): SharedTierState {
    if (this.#openUntil === 0) return 'closed'
    return this.#openUntil > now ? 'open' : 'half_open'
  }

  /** Whether a request may be sent now; in half-open state exactly one (the probe) is let through. */
  #allow(now: number, probe: boolean): boolean {
    if (this.#closed) return false
    if (this.#openUntil === 0) return true
    if (this.#openUntil > now) return false
    if (!probe || this.#probing) return false
    this.#probing = true
    return true
  }

  #success(): void {
    this.#failures = 0
    this.#openUntil = 0
    this.#probing = false
  }

  #failure(reason: string, kind: 'timeout' | 'error' = 'error'): void {
    this.stats.failures++
    try {
      this.#onFailure?.(kind)
    } catch {
      // reporting is best effort
    }
    this.#failures++
    const wasProbing = this.#probing
    this.#probing = false
    if (wasProbing || (this.#failures >= L2_BREAKER_FAILURES && this.#openUntil === 0)) {
      const opening = this.#openUntil === 0
      this.#openUntil = this.#now() + L2_BREAKER_OPEN_MS
      if (opening) {
        try {
          this.#onOpen?.(reason)
        } catch {
          // reporting is best effort
        }
      }
    }
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
    if (keyv === undefined || !this.#allow(this.#now(), true)) {
      this.stats.skipped++
      return undefined
    }
    this.stats.reads++
    const errorsBefore = this.#errorEvents
    let values: unknown
    try {
      values = await withTimeout(readPair(keyv, riskKey, blockKey), this.#timeoutMs)
    } catch (error) {
      this.#failure(errorText(error))
      return undefined
    }
    if (values === TIMEOUT) {
      this.stats.timeouts++
      this.#failure(`no answer within ${this.#timeoutMs} ms`, 'timeout')
      return undefined
    }
    if (this.#errorEvents !== errorsBefore) {
      // A Keyv that does not throw resolves misses on failure and reports the error as an event.
      this.#failure(this.#lastError)
      return undefined
    }
    if (!Array.isArray(values)) {
      this.#failure('the store answered a read with something other than a list')
      return undefined
    }
    this.#success()
    const limits: RecordLimits = { now: this.#now(), maxFreshMs: this.#maxFreshMs, maxBlockMs: this.#maxBlockMs }
    let risk = parseRisk(values[0], limits)
    let block = parseBlock(values[1], limits)
    if (risk instanceof InvalidRecord) risk = this.#invalid(risk, riskKey)
    if (block instanceof InvalidRecord) block = this.#invalid(block, blockKey)
    if (risk !== undefined || block !== undefined) this.stats.hits++
    return { risk, block }
  }

  /** Count and report a value that is not a record; it reads as absent. */
  #invalid(record: InvalidRecord, key: string): undefined {
    this.stats.invalid++
    try {
      this.#onInvalid?.(record.problem, key)
    } catch {
      // reporting is best effort
    }
    return undefined
  }

  /** Store a value, fire-and-forget: returns at once, never rejects, skipped while the breaker is open. */
  write(key: string, value: unknown, ttlMs: number): void {
    const keyv = this.#keyv
    if (keyv === undefined) {
      // Still connecting: write once connected, up to a bound (if the store never comes, these are dropped).
      if (this.#closed || this.#waitingWrites >= L2_MAX_WAITING_WRITES || !this.#allow(this.#now(), false)) {
        this.stats.skipped++
        return
      }
      this.#waitingWrites++
      void this.#ready.then((ready) => {
        this.#waitingWrites--
        if (ready !== undefined) this.write(key, value, ttlMs)
      })
      return
    }
    if (!this.#allow(this.#now(), false)) {
      this.stats.skipped++
      return
    }
    this.stats.writes++
    const errorsBefore = this.#errorEvents
    let pending: Promise<unknown>
    try {
      pending = keyv.set(key, value, Math.max(1, Math.ceil(ttlMs)))
    } catch (error) {
      this.#failure(errorText(error))
      return
    }
    withTimeout(pending, this.#timeoutMs * 4).then(
      (result) => {
        if (result === TIMEOUT) this.#failure('write timed out', 'timeout')
        else if (this.#errorEvents !== errorsBefore) this.#failure(this.#lastError)
      },
      (error: unknown) => this.#failure(errorText(error)),
    )
  }

  /**
   * Store or delete now and wait for it (operator actions: `block`, `unblock`), ignoring the breaker: an operator
   * should learn that the shared store did not take the write. Rejects with an {@link IpRiskError} on failure.
   */
  async writeNow(key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.#operator((keyv) => keyv.set(key, value, Math.max(1, Math.ceil(ttlMs))))
  }

  /** Delete keys now and wait for it; see {@link SharedTier.writeNow}. */
  async deleteNow(keys: readonly string[]): Promise<void> {
    await this.#operator((keyv) => Promise.all(keys.map((k) => keyv.delete(k))))
  }

  async #operator(op: (keyv: KeyvLike) => Promise<unknown>): Promise<void> {
    if (this.#closed) throw new IpRiskError('iprisk: the resolver is closed')
    const errorsBefore = this.#errorEvents
    const run = async (): Promise<unknown> => {
      const keyv = this.#keyv ?? (await this.#ready)
      if (keyv === undefined) throw new IpRiskError(this.#lastError)
      return op(keyv)
    }
    let result: unknown
    try {
      result = await withTimeout(run(), L2_OPERATOR_TIMEOUT_MS)
    } catch (error) {
      this.#failure(errorText(error))
      throw new IpRiskError(`iprisk: the shared cache (L2) did not accept the write: ${errorText(error)}`)
    }
    if (result === TIMEOUT) {
      this.#failure('write timed out', 'timeout')
      throw new IpRiskError(`iprisk: the shared cache (L2) did not answer within ${L2_OPERATOR_TIMEOUT_MS} ms`)
    }
    if (this.#errorEvents !== errorsBefore) {
      this.#failure(this.#lastError)
      throw new IpRiskError(`iprisk: the shared cache (L2) did not accept the write: ${this.#lastError}`)
    }
  }

  /**
   * Resolves `true` once the store is loaded (for a Redis URL: the adapter imported and the first connection attempt
   * over), or `false` after `ms`. Reads made before that are misses. For tests and start-up.
   */
  async whenReady(ms: number): Promise<boolean> {
    const result = await withTimeout(this.#ready, ms)
    return result !== TIMEOUT && result !== undefined
  }

  /** Stop using L2 and release what this tier created (never a Keyv the application passed in). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      this.#dispose?.()
    } catch {
      // already gone
    }
  }
}

/** A short description of an error for logs: the message only (no stack, no object dump, no URL). */
function errorText(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 200) || error.name
  if (typeof error === 'string') return error.slice(0, 200)
  return 'unknown error'
}

// ---------------------------------------------------------------------------------------------------------------------
// Redis from a URL
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Check a `redis://` / `rediss://` URL at start-up. Returns an error message (never containing the URL, which may
 * hold a password), or `undefined` when it is fine. @internal
 */
export function redisUrlProblem(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)'
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `must use the redis: or rediss: scheme, got ${JSON.stringify(parsed.protocol.slice(0, 20))}`
  }
  if (parsed.hostname === '') return 'has no host (expected redis://host:port)'
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d{1,5}$/.test(db)) return 'has a database path that is not a number (expected redis://host:port/0)'
  return undefined
}

type Resolve = (specifier: string) => string

const defaultResolve: Resolve = (specifier) => createRequire(import.meta.url).resolve(specifier)

/**
 * Throw an {@link IpRiskConfigError} naming `option` unless `@keyv/redis` can be loaded. Synchronous, so that a
 * missing optional dependency is reported by `createRiskResolver`, not by the first request. @internal
 */
export function assertRedisAdapterInstalled(option: string, resolve: Resolve = defaultResolve): void {
  try {
    resolve('@keyv/redis')
  } catch {
    throw new IpRiskConfigError(
      option,
      'a redis:// URL needs the optional package @keyv/redis: run `npm install @keyv/redis` (or pass your own Keyv instance)',
    )
  }
}

/** Connect timeout of a Redis client built from a URL. */
export const REDIS_CONNECT_TIMEOUT_MS = 2_000
/** Commands allowed to wait for a reply on the Redis connection; beyond, new commands fail at once. */
export const REDIS_MAX_QUEUE = 10_000

/** Plain JSON: keyv's default serializer (with its Buffer / BigInt handling) is about 5x slower. */
const serialize = (data: unknown): string => JSON.stringify(data)

/**
 * Plain JSON, and never a throw: keyv lets a deserializer's error reject the whole `getMany`, which would make a value
 * that is not JSON look like a store failure (and open the L2 breaker). A text that is too long (refused unparsed), not
 * JSON, or not a keyv entry `{"value": …}` is read as an entry holding an {@link InvalidRecord}: a miss for its key.
 * @internal
 */
export function deserializeEntry(text: string): unknown {
  if (text.length > L2_MAX_VALUE_CHARS) return { value: TOO_LARGE }
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch {
    return { value: NOT_JSON }
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.hasOwn(entry, 'value')) {
    return { value: NOT_ENTRY }
  }
  return entry
}

/** The part of a node-redis client used here. */
interface RedisClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const noop = (): void => undefined

/**
 * A Keyv backed by Redis at `url`, with settings that keep Redis from ever stalling a request or the process: a
 * connect timeout, no offline queue (while disconnected, commands fail at once instead of piling up), a bounded
 * command queue, plain JSON (de)serialization, no key namespace (keys are already prefixed and versioned), and errors
 * thrown (so the L2 breaker counts them) as well as emitted (and listened to: never an unhandled `error`).
 *
 * Reconnection is ours, not node-redis's: its reconnect loop keeps timers alive (a closed resolver would keep the
 * process running, or reconnect after close). With `reconnectStrategy: false` a lost connection just closes the
 * client, and the next read the L2 breaker lets through (the probe) connects again, one attempt at a time. After
 * `destroy()`, nothing connects again.
 *
 * `@keyv/redis` is imported dynamically so that applications without a shared cache never need it. The returned
 * promise resolves once it is loaded and the first connection attempt is over (successful or not).
 *
 * @internal
 */
export function connectRedisKeyv(url: string, onError: (error: unknown) => void): {
  keyv: Promise<KeyvLike>
  destroy: () => void
} {
  let destroyed = false
  let client: RedisClientLike | undefined
  let connecting: Promise<void> | undefined
  const closedError = (): IpRiskError => new IpRiskError('the shared cache is closed')

  function startConnect(c: RedisClientLike): Promise<void> {
    const attempt: Promise<void> = c.connect().then(
      () => {
        if (connecting === attempt) connecting = undefined
      },
      (error: unknown) => {
        if (connecting === attempt) connecting = undefined
        throw error
      },
    )
    attempt.catch(noop) // callers may time out and stop listening
    connecting = attempt
    return attempt
  }

  /** `undefined` when connected (no promise on the common path), else a promise of the connection. */
  function ensure(): Promise<void> | undefined {
    const c = client
    if (destroyed || c === undefined) return Promise.reject(closedError())
    if (c.isReady) return undefined
    if (connecting !== undefined) return connecting
    if (c.isOpen) return Promise.reject(new IpRiskError('the Redis connection is not ready'))
    return startConnect(c)
  }

  const keyv = (async (): Promise<KeyvLike> => {
    const mod = await import('@keyv/redis')
    if (destroyed) throw closedError()
    const c = mod.createClient({
      url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: REDIS_MAX_QUEUE,
      socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS, reconnectStrategy: false },
    })
    c.on('error', onError)
    client = c as unknown as RedisClientLike
    const store = new mod.default(c, { throwOnConnectError: true, throwOnErrors: true })
    const instance = new mod.Keyv({
      store,
      namespace: undefined,
      useKeyPrefix: false,
      serialize,
      deserialize: deserializeEntry as never,
      throwOnErrors: true,
    })
    instance.on('error', onError)
    // Every call connects first if needed: @keyv/redis would otherwise connect by itself (adding listeners each time).
    const wrapped: KeyvLike = {
      async get(key) {
        await ensure()
        return instance.get(key)
      },
      async set(key, value, ttl) {
        await ensure()
        return instance.set(key, value, ttl)
      },
      async delete(key) {
        await ensure()
        return instance.delete(key)
      },
      async getMany(keys) {
        const waiting = ensure()
        if (waiting !== undefined) await waiting
        return instance.getMany(keys)
      },
      on(event, listener) {
        instance.on(event, listener)
        return wrapped
      },
    }
    await startConnect(client).catch(noop)
    if (destroyed) throw closedError()
    return wrapped
  })()
  // The promise is consumed by SharedTier; this guard keeps an early failure from being reported as unhandled.
  keyv.catch(noop)
  return {
    keyv,
    destroy: () => {
      destroyed = true
      const c = client
      try {
        if (c !== undefined && c.isOpen) c.destroy()
      } catch {
        // already closed
      }
    },
  }
}
