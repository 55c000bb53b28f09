/**
 * The kind of range an address belongs to (IANA special-purpose registries), and the reader's answer built from a
 * canonical address.
 *
 * @module
 */
import type { ClientIp, IpKind, IpSource } from '../types.js'
import { embeddedClientIpv4, embeddedIpv4, ipv4ToUint32, isIP, isMappedGroups, parseValidIpv6 } from '../ip-address.js'
import { parseIp } from './parse.js'

/** IANA IPv4 special-purpose registry, reduced to the kinds iprisk acts on. */
function classifyIpv4(n: number): IpKind {
  const a = n >>> 24
  const b = (n >>> 16) & 255
  const c = (n >>> 8) & 255
  if (n === 0) return 'unspecified'
  if (a === 0) return 'reserved' // 0.0.0.0/8 "this network"
  if (a === 10) return 'private'
  if (a === 100 && (b & 0xc0) === 64) return 'carrierGradeNat' // 100.64.0.0/10
  if (a === 127) return 'loopback'
  if (a === 169 && b === 254) return 'linkLocal'
  if (a === 172 && (b & 0xf0) === 16) return 'private' // 172.16.0.0/12
  if (a === 192) {
    if (b === 168) return 'private'
    if (b === 0 && c === 0) return 'reserved' // IETF protocol assignments
    if (b === 0 && c === 2) return 'documentation' // TEST-NET-1
    if (b === 88 && c === 99) return 'reserved' // deprecated 6to4 relay anycast
  }
  if (a === 198) {
    if ((b & 0xfe) === 18) return 'reserved' // 198.18.0.0/15 benchmarking
    if (b === 51 && c === 100) return 'documentation' // TEST-NET-2
  }
  if (a === 203 && b === 0 && c === 113) return 'documentation' // TEST-NET-3
  if (a >= 224 && a < 240) return 'multicast'
  if (a >= 240) return 'reserved' // 240.0.0.0/4 and the limited broadcast address
  return 'global'
}

/** IANA IPv6 special-purpose registry, reduced; only 2000::/3 (global unicast) is `global`. */
function classifyIpv6(g: readonly number[]): IpKind {
  const g0 = g[0] ?? 0
  const g1 = g[1] ?? 0
  if (g0 === 0 && g1 === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0 && g[6] === 0) {
    if (g[7] === 0) return 'unspecified'
    if (g[7] === 1) return 'loopback'
  }
  if (isMappedGroups(g)) return classifyIpv4(embeddedIpv4(g))
  // NAT64 (64:ff9b::/96, 64:ff9b:1::/48), Teredo (2001::/32), 6to4 (2002::/16): the address stands for an IPv4 client,
  // which is what the resolver keys, lists and looks up (see embeddedClientIpv4).
  const v4 = embeddedClientIpv4(g)
  if (v4 !== -1) return classifyIpv4(v4)
  if ((g0 & 0xffc0) === 0xfe80) return 'linkLocal' // fe80::/10
  if ((g0 & 0xfe00) === 0xfc00) return 'uniqueLocal' // fc00::/7
  if ((g0 & 0xff00) === 0xff00) return 'multicast' // ff00::/8
  if (g0 === 0x2001 && g1 === 0x0db8) return 'documentation' // 2001:db8::/32
  if (g0 === 0x3fff && (g1 & 0xf000) === 0) return 'documentation' // 3fff::/20 (RFC 9637)
  if (g0 === 0x2001 && g1 < 0x0200) return 'reserved' // 2001::/23 (Teredo 2001::/32 is classified above)
  if ((g0 & 0xe000) === 0x2000) return 'global' // 2000::/3
  return 'reserved' // unassigned space, ::/96 IPv4-compatible, 100::/64 discard, fec0::/10 site-local, ...
}

/**
 * The kind of range an address belongs to. Only `'global'` addresses can have a reputation: the resolver never sends
 * the others upstream. Follows the IANA special-purpose registries:
 *
 * | kind | IPv4 | IPv6 |
 * | --- | --- | --- |
 * | `unspecified` | 0.0.0.0 | :: |
 * | `loopback` | 127.0.0.0/8 | ::1 |
 * | `private` | 10/8, 172.16/12, 192.168/16 | |
 * | `linkLocal` | 169.254/16 | fe80::/10 |
 * | `uniqueLocal` | | fc00::/7 |
 * | `carrierGradeNat` | 100.64/10 | |
 * | `documentation` | 192.0.2/24, 198.51.100/24, 203.0.113/24 | 2001:db8::/32, 3fff::/20 |
 * | `multicast` | 224/4 | ff00::/8 |
 * | `reserved` | 0/8, 192.0.0/24, 192.88.99/24, 198.18/15, 240/4, 255.255.255.255 | outside 2000::/3, 2001::/23 (not Teredo) |
 *
 * An address that stands for an IPv4 client is classified by that IPv4 address: IPv4-mapped (`::ffff:0:0/96`), NAT64
 * (`64:ff9b::/96`; local-use `64:ff9b:1::/48`, IPv4 in the last 32 bits), Teredo (`2001::/32`, the client's address
 * is the last 32 bits inverted) and 6to4 (`2002::/16`, IPv4 in bits 16–47). A deployment's own (network-specific)
 * NAT64 prefix is unknown here: the resolver's `nat64Prefixes` option handles it. Any valid spelling is accepted;
 * text that is not an IP address is classified `'reserved'` (so it is never looked up).
 *
 * @example
 * ```ts
 * classifyIp('8.8.8.8') // 'global'
 * classifyIp('100.64.1.2') // 'carrierGradeNat'
 * classifyIp('203.0.113.7') // 'documentation'
 * classifyIp('fd12:3456::1') // 'uniqueLocal'
 * classifyIp('64:ff9b::10.0.0.1') // 'private' (NAT64: the kind of 10.0.0.1)
 * ```
 */
export function classifyIp(canonicalIp: string): IpKind {
  if (typeof canonicalIp !== 'string') return 'reserved'
  const family = isIP(canonicalIp)
  if (family === 4) return classifyIpv4(ipv4ToUint32(canonicalIp))
  if (family === 6 && !canonicalIp.includes('%')) return classifyIpv6(parseValidIpv6(canonicalIp))
  const parsed = parseIp(canonicalIp)
  return parsed === null || parsed === canonicalIp ? 'reserved' : classifyIp(parsed)
}

/** The answer when no client address can be told. @internal */
export const NO_CLIENT_IP: ClientIp = Object.freeze({ ip: null, source: null, kind: null })

/** The answer for a canonical address (from parseIp): classifyIp's validation is skipped. @internal */
export function classified(ip: string, source: IpSource): ClientIp {
  const kind = ip.includes(':') ? classifyIpv6(parseValidIpv6(ip)) : classifyIpv4(ipv4ToUint32(ip))
  return { ip, source, kind }
}
