/**
 * An address list compiled once into a matcher `(canonicalIp) => boolean`, proxy-addr style: the ranges are parsed at
 * start-up, and the closure returned is specialised for no range, one range and many ranges of each family, so the
 * per-request check is `net.isIP`, one integer conversion and the fewest comparisons (never ipaddr.js).
 *
 * @module
 */
import { embeddedIpv4, ipv4ToUint32, isIP, isMappedGroups, parseValidIpv6, type Ipv4Embedding } from '../ip-address.js'
import { forEachListEntry, parseEntry, type V4Range, type V6Range } from './entries.js'

const NEVER = (): boolean => false

/**
 * Compile `list` (see `compileCidrList` for the entries it takes) into a matcher.
 *
 * @param embeddings - the deployment's NAT64 prefixes for a client list (allow / deny), `undefined` for a trust list.
 * @throws IpRiskConfigError naming `optionName` when the list or an entry cannot be parsed.
 * @internal
 */
export function compileList(
  list: string | readonly string[],
  optionName: string,
  embeddings: readonly Ipv4Embedding[] | undefined,
): (canonicalIp: string) => boolean {
  const v4: V4Range[] = []
  const v6: V6Range[] = []
  const typeMessage = 'must be a string or an array of strings (IP addresses, CIDR ranges or range names)'
  forEachListEntry(list, optionName, typeMessage, (entry) => parseEntry(entry, optionName, v4, v6, embeddings))
  return makeMatcher(v4, v6)
}

/** Whether an IPv4 address (as an unsigned 32-bit integer) is in one of `ranges`. */
function v4Matcher(ranges: readonly V4Range[]): (n: number) => boolean {
  if (ranges.length === 0) return NEVER
  if (ranges.length === 1) {
    const { net, mask } = ranges[0] as V4Range
    return (n) => ((n & mask) >>> 0) === net
  }
  return (n) => {
    for (const r of ranges) if (((n & r.mask) >>> 0) === r.net) return true
    return false
  }
}

/** Whether an IPv6 address (eight 16-bit groups) is in one of `ranges`. */
function v6Matcher(ranges: readonly V6Range[]): (g: readonly number[]) => boolean {
  if (ranges.length === 0) return NEVER
  return (g) => {
    outer: for (const r of ranges) {
      for (let i = 0; i < 8; i++) if (((g[i] ?? 0) & (r.mask[i] ?? 0)) !== r.net[i]) continue outer
      return true
    }
    return false
  }
}

function makeMatcher(v4: readonly V4Range[], v6: readonly V6Range[]): (canonicalIp: string) => boolean {
  if (v4.length === 0 && v6.length === 0) return NEVER
  const matchV4 = v4Matcher(v4)
  const matchV6 = v6Matcher(v6)
  const hasV4 = v4.length !== 0
  const hasV6 = v6.length !== 0
  return (ip: string): boolean => {
    if (typeof ip !== 'string') return false
    const family = isIP(ip)
    if (family === 4) return hasV4 && matchV4(ipv4ToUint32(ip))
    if (family !== 6) return false
    // net.isIP allows a zone id; the address before it is valid on its own.
    const pct = ip.indexOf('%')
    const groups = parseValidIpv6(pct === -1 ? ip : ip.slice(0, pct))
    if (isMappedGroups(groups)) return hasV4 && matchV4(embeddedIpv4(groups))
    return hasV6 && matchV6(groups)
  }
}
