/**
 * Shared-cache (L2) keys: short and versioned, `<prefix>:1:<provider>:<ip key>` for answers and
 * `<prefix>:1:block:<ip key>` for the blocklist, where the IP key is `cacheKeyForIp(ip, ipv6Prefix)` (an IPv4 address
 * itself, an IPv6 address's /64). Public: operators use them to inspect or pre-warm the shared store.
 *
 * @module
 */

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
