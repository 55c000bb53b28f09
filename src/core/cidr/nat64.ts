/**
 * The resolver's `nat64Prefixes`: a deployment's own (network-specific) NAT64 prefixes, validated and compiled once.
 *
 * @module
 */
import { IpRiskConfigError } from '../errors.js'
import {
  WELL_KNOWN_EMBEDDINGS,
  groupsToIpv6,
  hasPrefix,
  ipv4Embedding,
  ipv6Groups,
  type Ipv4Embedding,
} from '../ip-address.js'
import { PREFIX_RE, describe, forEachListEntry, v6Mask } from './entries.js'

/** The prefix lengths RFC 6052 §2.2 defines for IPv4-embedded IPv6 addresses. */
const NAT64_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96]
/** Most entries of `nat64Prefixes` (each is tried on every cache-key miss of an IPv6 address). */
const MAX_NAT64_PREFIXES = 16

/**
 * Validate and compile the resolver's `nat64Prefixes`: IPv6 prefixes of length 32, 40, 48, 56, 64 or 96 with no bit
 * set past the length, not overlapping each other, and not covering (equal to or containing) a well-known embedding
 * prefix (a prefix inside one, such as a /64 of the local-use `64:ff9b:1::/48`, is fine and takes precedence). At most 16. A string may be
 * comma-separated, like the other address lists.
 *
 * @throws IpRiskConfigError naming `optionName`.
 * @internal
 */
export function compileNat64Prefixes(value: unknown, optionName: string): readonly Ipv4Embedding[] {
  if (value === undefined) return []
  const out: Ipv4Embedding[] = []
  const typeMessage = 'must be an array of IPv6 prefixes, e.g. ["2001:db8:64::/96"]'
  forEachListEntry(value, optionName, typeMessage, (entry) => out.push(compilePrefix(entry, optionName, out)))
  if (out.length > MAX_NAT64_PREFIXES) {
    throw new IpRiskConfigError(optionName, `lists ${out.length} prefixes; at most ${MAX_NAT64_PREFIXES} are allowed`)
  }
  return Object.freeze(out)
}

/** One entry of `nat64Prefixes`, checked against the well-known prefixes and the entries before it (`earlier`). */
function compilePrefix(entry: string, optionName: string, earlier: readonly Ipv4Embedding[]): Ipv4Embedding {
  const slash = entry.indexOf('/')
  const groups = ipv6Groups(slash === -1 ? entry : entry.slice(0, slash))
  if (groups === null) {
    throw new IpRiskConfigError(optionName, `${describe(entry)} is not an IPv6 prefix (e.g. "2001:db8:64::/96")`)
  }
  const lengthText = slash === -1 ? '' : entry.slice(slash + 1)
  const length = PREFIX_RE.test(lengthText) ? Number(lengthText) : -1
  if (!NAT64_LENGTHS.includes(length)) {
    throw new IpRiskConfigError(
      optionName,
      `${describe(entry)} needs a prefix length of 32, 40, 48, 56, 64 or 96 (RFC 6052), e.g. "2001:db8:64::/96"`,
    )
  }
  const mask = v6Mask(length)
  const net = groups.map((g, i) => g & (mask[i] ?? 0))
  const canonical = `${groupsToIpv6(net)}/${length}`
  if (net.some((g, i) => g !== groups[i])) {
    throw new IpRiskConfigError(optionName, `${describe(entry)} has bits set past /${length} (did you mean "${canonical}"?)`)
  }
  for (const known of WELL_KNOWN_EMBEDDINGS) {
    if (length <= known.length && hasPrefix(known.net, net, length)) {
      throw new IpRiskConfigError(
        optionName,
        `${describe(entry)} covers ${known.label}, which is always read as such; list only your own prefixes`,
      )
    }
  }
  for (const other of earlier) {
    const shorter = Math.min(length, other.length)
    if (hasPrefix(net, other.net.map((g, i) => g & (v6Mask(shorter)[i] ?? 0)), shorter)) {
      throw new IpRiskConfigError(optionName, `${describe(entry)} overlaps ${other.label}`)
    }
  }
  return ipv4Embedding(net, length, 'rfc6052', `the NAT64 prefix ${canonical} (${optionName})`)
}
