/**
 * CIDR lists (trusted proxies, allow / deny lists) compiled once at start-up into fast matchers, and the cache key
 * of an address (IPv6 clients are keyed by their network prefix).
 *
 * Parsing is strict: an entry is a plain IPv4 or IPv6 address, optionally followed by `/prefix` (or, for IPv4, a
 * dotted netmask), or one of the named ranges of proxy-addr (`loopback`, `linklocal`, `uniquelocal`) plus
 * `private`. Anything else is an {@link IpRiskConfigError} naming the option.
 *
 * This is the front module; the work is done in cidr/: `entries.ts` (one entry, the list input), `matcher.ts` (the
 * compiled matcher), `nat64.ts` (`nat64Prefixes`), `cache-key.ts` (cache keys, client location).
 *
 * @module
 */
import type { Ipv4Embedding } from './ip-address.js'
import { compileList } from './cidr/matcher.js'

export { cacheKeyForIp, locateClient } from './cidr/cache-key.js'
export { v4Mask } from './cidr/entries.js'
export { compileNat64Prefixes } from './cidr/nat64.js'

/**
 * Compile a list of addresses, CIDR ranges and named ranges into a matcher, once, at start-up.
 *
 * - Entries: `203.0.113.7`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0` (IPv4 netmask), `2001:db8::/32`, `::ffff:10.0.0.0/104`
 *   (an IPv4-mapped range is stored as the IPv4 range it covers), and the names `loopback` (127.0.0.0/8, ::1),
 *   `linklocal` (169.254.0.0/16, fe80::/10), `uniquelocal` (10/8, 172.16/12, 192.168/16, fc00::/7) — proxy-addr's —
 *   plus `private` (`loopback` + `uniquelocal`). Names are case-insensitive.
 * - A string is split on commas (`'loopback, 10.0.0.0/8'`), and so is each entry of an array. An empty array matches
 *   nothing; an empty string or entry is an error (it is usually an unset environment variable).
 * - IPv4 addresses (including IPv4-mapped IPv6 input) match only IPv4 ranges; IPv6 addresses only IPv6 ranges.
 *
 * The matcher expects a canonical address (as returned by `parseIp`); other valid spellings (upper case, mapped,
 * with a zone id) are accepted too, and anything that is not an IP address never matches. It never throws.
 *
 * @param list - the entries.
 * @param optionName - the option path reported in errors, e.g. `'allowList'`.
 * @throws IpRiskConfigError naming `optionName` when an entry cannot be parsed.
 *
 * @example
 * ```ts
 * const isOffice = compileCidrList(['203.0.113.0/24', '2001:db8:1::/48'], 'allowList')
 * isOffice('203.0.113.7') // true
 * isOffice('2001:db8:1:2::5') // true
 * isOffice('198.51.100.1') // false
 * compileCidrList('10.0.0.0/33', 'trustProxy') // throws IpRiskConfigError: invalid option `trustProxy`: ...
 * ```
 */
export function compileCidrList(
  list: string | readonly string[],
  optionName: string,
): (canonicalIp: string) => boolean {
  return compileList(list, optionName, undefined)
}

/**
 * {@link compileCidrList} for the resolver's allow / deny lists, whose matcher is given the address the resolver
 * treats the client as: for an address embedding an IPv4 client (NAT64 `64:ff9b::/96`, `64:ff9b:1::/48`, Teredo
 * `2001::/32`, 6to4 `2002::/16`, or one of `nat64Prefixes`), that IPv4 address. So an IPv6 entry inside such a prefix
 * is stored as the IPv4 range it pins down (`64:ff9b::198.51.100.0/120` is `198.51.100.0/24`), an entry inside one
 * that does not pin any IPv4 bit (`2002::/16`, a Teredo server's `2001:0:4136:e378::/64`) is an
 * {@link IpRiskConfigError}, and an IPv6 range containing a whole such prefix (`2000::/3`) does not match its clients.
 *
 * @internal
 */
export function compileClientList(
  list: string | readonly string[],
  optionName: string,
  nat64Prefixes: readonly Ipv4Embedding[],
): (canonicalIp: string) => boolean {
  return compileList(list, optionName, nat64Prefixes)
}
