/**
 * The two cache tiers behind the risk resolver: the front of src/core/cache/, one module per concern.
 *
 * - keys ({@link riskCacheKey}, {@link blockCacheKey}, {@link CACHE_KEY_VERSION}): cache/keys.ts, the public part,
 *   for operators who inspect or pre-warm the shared store.
 * - **L1** ({@link MemoryTier}): a bounded in-process LRU (`lru-cache`); cache/l1.ts.
 * - the **L2 record format** (encode, strict parse: a value that is not a record is a miss): cache/l2-codec.ts.
 * - the **L2 tier** ({@link SharedTier}): an optional shared store (any Keyv, or Redis from a `redis://` URL) behind a
 *   read time budget and its own breaker, fire-and-forget writes; cache/l2-tier.ts, cache/l2-breaker.ts and
 *   cache/l2-store.ts. Its timers and time checks run on the injected clock (`SharedTierOptions.clock`).
 * - the **Redis connection** ({@link connectRedisKeyv}, `@keyv/redis` imported at run time only): cache/redis.ts.
 *
 * @module
 */

export { CACHE_KEY_VERSION, blockCacheKey, riskCacheKey } from './cache/keys.js'
export { MemoryTier, type L1Entry } from './cache/l1.js'
export {
  InvalidRecord,
  L2_CLOCK_TOLERANCE_MS,
  L2_DEFAULT_MAX_FRESH_MS,
  L2_MAX_BLOCK_MS,
  L2_MAX_VALUE_CHARS,
  MAX_BLOCK_SECONDS,
  MAX_TTL_SECONDS,
  deserializeEntry,
  storedValue,
  encodeBlock,
  encodeData,
  encodeRisk,
  parseBlock,
  parseRisk,
  type RecordLimits,
  type StoredBlock,
  type StoredRisk,
} from './cache/l2-codec.js'
export { hasUnboundedMapStore, isKeyvLike, type KeyvLike } from './cache/l2-store.js'
export { L2_BREAKER_FAILURES, L2_BREAKER_OPEN_MS, type SharedTierState } from './cache/l2-breaker.js'
export {
  L2_MAX_WAITING_WRITES,
  L2_OPERATOR_TIMEOUT_MS,
  SharedTier,
  type SharedRead,
  type SharedTierOptions,
  type SharedTierStats,
} from './cache/l2-tier.js'
export {
  REDIS_CONNECT_TIMEOUT_MS,
  REDIS_MAX_QUEUE,
  assertRedisAdapterInstalled,
  connectRedisKeyv,
  redisUrlProblem,
} from './cache/redis.js'
