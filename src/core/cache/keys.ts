/**
 * Shared-cache (L2) keys: short, versioned and hash-tagged, `<prefix>:2:{<ip key>}:<provider>` for answers and
 * `<prefix>:2:{<ip key>}:block` for the blocklist, where the IP key is `cacheKeyForIp(ip, ipv6Prefix)` (an IPv4
 * address itself, an IPv6 address's /64). The braces are a Redis Cluster hash tag: every key of one IP lives in one
 * hash slot, so one lookup reads its answer and its block in one `MGET`, one round trip, on a cluster too. Public:
 * operators use them to inspect or pre-warm the shared store.
 *
 * Version 2 (iprisk 0.x, the fleet release) added the hash tag; version 1 keys (`<prefix>:1:<provider>:<ip key>`)
 * are no longer read, and expire by their TTL.
 *
 * @module
 */

/**
 * Version segment of every shared-cache key. Bumped whenever the stored format or the key layout changes, so old
 * entries are ignored.
 *
 * @example
 * ```ts
 * import { CACHE_KEY_VERSION } from 'iprisk'
 * // clear everything iprisk stored in Redis for this version (redis-cli; on a cluster, on each master):
 * //   redis-cli --scan --pattern "iprisk:${CACHE_KEY_VERSION}:*" | xargs redis-cli unlink
 * ```
 */
export const CACHE_KEY_VERSION = 2

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
 * riskCacheKey('iprisk', 'ipasis', cacheKeyForIp('203.0.113.7')) // 'iprisk:2:{203.0.113.7}:ipasis'
 * riskCacheKey('iprisk', 'ipasis', cacheKeyForIp('2001:db8:1:2::9')) // 'iprisk:2:{2001:db8:1:2::/64}:ipasis'
 * ```
 */
export function riskCacheKey(prefix: string, providerName: string, ipKey: string): string {
  return `${prefix}:${CACHE_KEY_VERSION}:{${ipKey}}:${providerName}`
}

/**
 * The shared-cache (L2) key of a blocklist entry for an IP key (shared by every provider), in the same hash slot as
 * the IP's answers.
 *
 * @example
 * ```ts
 * import { blockCacheKey } from 'iprisk'
 * blockCacheKey('iprisk', '203.0.113.7') // 'iprisk:2:{203.0.113.7}:block'
 * ```
 */
export function blockCacheKey(prefix: string, ipKey: string): string {
  return `${prefix}:${CACHE_KEY_VERSION}:{${ipKey}}:block`
}
