/**
 * The cache key of a client address (IPv6 clients are keyed by their network prefix), and where the resolver files a
 * client whose address embeds an IPv4 one.
 *
 * @module
 */
import { IpRiskConfigError } from '../errors.js'
import {
  embeddedClientIpv4,
  embeddedIpv4,
  groupsToIpv6,
  isIP,
  isMappedGroups,
  parseValidIpv6,
  uint32ToIpv4,
  type Ipv4Embedding,
} from '../ip-address.js'
import { v6Mask } from './entries.js'

/**
 * The cache key of a client address. An IPv4 address is its own key. An IPv6 client usually owns a whole prefix
 * (a /64 or more; it can rotate addresses within it at will), so IPv6 addresses are keyed by their network prefix in
 * canonical form, always with the length: `2001:db8:1:2::/64`. An address standing for an IPv4 client is keyed as
 * that IPv4 address: IPv4-mapped (`::ffff:0:0/96`), NAT64 (`64:ff9b::/96`, local-use `64:ff9b:1::/48`), Teredo
 * (`2001::/32`) and 6to4 (`2002::/16`), as {@link classifyIp} reads them. (A deployment's own NAT64 prefixes are the
 * resolver's `nat64Prefixes` option; this function does not know them.)
 *
 * @param canonicalIp - a valid IP address, normally the canonical one from `parseIp` / `clientIp`.
 * @param ipv6PrefixLength - an integer from 1 to 128 (default 64; 128 keys every address on its own).
 * @throws IpRiskConfigError (option `ipv6PrefixLength`) for a prefix length that is not an integer in 1–128.
 * @throws TypeError when `canonicalIp` is not an IP address (callers pass validated addresses only).
 *
 * @example
 * ```ts
 * cacheKeyForIp('203.0.113.7') // '203.0.113.7'
 * cacheKeyForIp('2001:db8:1:2:aaaa:bbbb:cccc:dddd') // '2001:db8:1:2::/64'
 * cacheKeyForIp('2001:db8:1:2:aaaa::1', 48) // '2001:db8:1::/48'
 * cacheKeyForIp('64:ff9b::b9dc:6542') // '185.220.101.66' (NAT64)
 * ```
 */
export function cacheKeyForIp(canonicalIp: string, ipv6PrefixLength = 64): string {
  if (!Number.isInteger(ipv6PrefixLength) || ipv6PrefixLength < 1 || ipv6PrefixLength > 128) {
    throw new IpRiskConfigError('ipv6PrefixLength', `must be an integer from 1 to 128, got ${String(ipv6PrefixLength)}`)
  }
  const family = typeof canonicalIp === 'string' ? isIP(canonicalIp) : 0
  if (family === 4) return canonicalIp
  if (family === 6) {
    const pct = canonicalIp.indexOf('%')
    const groups = parseValidIpv6(pct === -1 ? canonicalIp : canonicalIp.slice(0, pct))
    if (isMappedGroups(groups)) return uint32ToIpv4(embeddedIpv4(groups))
    const v4 = embeddedClientIpv4(groups)
    if (v4 !== -1) return uint32ToIpv4(v4)
    const mask = v6Mask(ipv6PrefixLength)
    return `${groupsToIpv6(groups.map((g, i) => g & (mask[i] ?? 0)))}/${ipv6PrefixLength}`
  }
  throw new TypeError('iprisk: cacheKeyForIp expects a valid IP address')
}

/**
 * Where the resolver files a client: the address it treats the client as (the IPv4 client an address embeds — see
 * {@link cacheKeyForIp} and `nat64Prefixes` — else the address itself) and its cache key. For canonical addresses
 * (from `parseIp`); called on the resolver's cache-key misses only.
 *
 * @internal
 */
export function locateClient(
  canonicalIp: string,
  ipv6PrefixLength: number,
  nat64Prefixes: readonly Ipv4Embedding[],
): { ip: string; key: string } {
  if (canonicalIp.includes(':')) {
    const v4 = embeddedClientIpv4(parseValidIpv6(canonicalIp), nat64Prefixes)
    if (v4 !== -1) {
      const ip = uint32ToIpv4(v4)
      return { ip, key: ip }
    }
  }
  return { ip: canonicalIp, key: cacheKeyForIp(canonicalIp, ipv6PrefixLength) }
}
