/**
 * One entry of an address list (`10.0.0.0/8`, `2001:db8::/32`, `loopback`), parsed strictly into the ranges a
 * matcher compares against, and the comma-separated string-or-array input every address list option takes.
 *
 * @module
 */
import ipaddr from 'ipaddr.js'
import { IpRiskConfigError, quoteForError } from '../errors.js'
import {
  WELL_KNOWN_EMBEDDINGS,
  embeddedIpv4,
  extractIpv4,
  hasPrefix,
  ipv4ToUint32,
  ipv6Groups,
  isIP,
  isMappedGroups,
  type Ipv4Embedding,
} from '../ip-address.js'

/**
 * Named ranges. `loopback`, `linklocal` and `uniquelocal` are exactly proxy-addr's (Express's `trust proxy`) sets;
 * `private` is `loopback` + `uniquelocal`: the addresses a reverse proxy on the same host or on a private network
 * (RFC 1918, IPv6 ULA) has. Link-local is deliberately not in `private`.
 */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  private: ['127.0.0.1/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

const CIDR_RANGE_NAMES: readonly string[] = Object.keys(NAMED_RANGES)

/** An IPv4 range: the network and its mask, unsigned 32-bit integers. @internal */
export interface V4Range {
  net: number
  mask: number
}
/** An IPv6 range: the network and its mask, eight 16-bit groups each. @internal */
export interface V6Range {
  net: number[]
  mask: number[]
}

/** A prefix length's digits (no sign, no leading zero). @internal */
export const PREFIX_RE = /^(?:0|[1-9]\d{0,2})$/

/**
 * An option's entry quoted for an error message, cut at 80 characters ({@link quoteForError}). @internal
 */
export function describe(entry: string): string {
  return quoteForError(entry, 80)
}

/** The IPv4 netmask of a prefix length, as an unsigned 32-bit integer. @internal */
export function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** The IPv6 netmask of a prefix length, as eight 16-bit groups. @internal */
export function v6Mask(prefix: number): number[] {
  const mask: number[] = []
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, prefix - i * 16))
    mask.push(bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff)
  }
  return mask
}

/**
 * Call `visit` with each trimmed entry of an address list option: a string or an array of strings, each split on
 * commas. An empty entry is an error (it is usually an unset environment variable), and so is any other type:
 * `typeMessage` says what the option takes. Entries are visited in order, so the first bad one is the one reported.
 * @internal
 */
export function forEachListEntry(
  list: unknown,
  optionName: string,
  typeMessage: string,
  visit: (entry: string) => void,
): void {
  let items: readonly unknown[]
  if (typeof list === 'string') items = [list]
  else if (Array.isArray(list)) items = list
  else throw new IpRiskConfigError(optionName, typeMessage)
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new IpRiskConfigError(optionName, `entries must be strings, got ${item === null ? 'null' : typeof item}`)
    }
    for (const part of item.split(',')) {
      const entry = part.trim()
      if (entry === '') throw new IpRiskConfigError(optionName, `contains an empty entry in ${describe(item)}`)
      visit(entry)
    }
  }
}

/** The prefix length of an IPv4 entry: none (32), digits, or a contiguous dotted netmask. */
function ipv4PrefixOf(entry: string, prefixText: string | null, option: string): number {
  let prefix: number
  if (prefixText === null) prefix = 32
  else if (PREFIX_RE.test(prefixText)) prefix = Number(prefixText)
  else if (isIP(prefixText) === 4) {
    const fromMask = ipaddr.IPv4.parse(prefixText).prefixLengthFromSubnetMask()
    if (fromMask === null) throw new IpRiskConfigError(option, `${describe(entry)} has a non-contiguous netmask`)
    prefix = fromMask
  } else prefix = -1
  if (prefix < 0 || prefix > 32) {
    throw new IpRiskConfigError(option, `${describe(entry)} has an invalid prefix length (0–32 for IPv4)`)
  }
  return prefix
}

/**
 * Parse one list entry into `v4` / `v6`.
 *
 * @param embeddings - for client lists (allow / deny): the deployment's NAT64 prefixes, whose clients (like those of
 *   the well-known embedding prefixes) are matched as the IPv4 address they embed. `undefined` for trust lists.
 * @internal
 */
export function parseEntry(
  entry: string,
  option: string,
  v4: V4Range[],
  v6: V6Range[],
  embeddings: readonly Ipv4Embedding[] | undefined,
): void {
  const name = entry.toLowerCase()
  if (Object.hasOwn(NAMED_RANGES, name)) {
    for (const range of NAMED_RANGES[name] ?? []) parseEntry(range, option, v4, v6, embeddings)
    return
  }
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const prefixText = slash === -1 ? null : entry.slice(slash + 1)
  const family = address.includes('%') ? 0 : isIP(address)
  if (family === 0) {
    let hint = ''
    if (entry === 'true' || entry === 'false') hint = ` (did you mean the boolean ${entry}?)`
    else if (/^\d+$/.test(entry)) hint = ' (a hop count must be a number, not a string)'
    throw new IpRiskConfigError(
      option,
      `${describe(entry)} is not an IP address, a CIDR range or one of ${CIDR_RANGE_NAMES.join(', ')}${hint}`,
    )
  }
  if (family === 4) {
    const mask = v4Mask(ipv4PrefixOf(entry, prefixText, option))
    v4.push({ net: (ipv4ToUint32(address) & mask) >>> 0, mask })
    return
  }
  const prefix = prefixText === null ? 128 : PREFIX_RE.test(prefixText) ? Number(prefixText) : -1
  if (prefix < 0 || prefix > 128) {
    throw new IpRiskConfigError(option, `${describe(entry)} has an invalid prefix length (0–128 for IPv6)`)
  }
  const groups = ipv6Groups(address)
  if (groups === null) {
    throw new IpRiskConfigError(option, `${describe(entry)} is not a valid IPv6 address or range`)
  }
  parseIpv6Range(entry, groups, prefix, option, v4, v6, embeddings)
}

/** The IPv6 part of {@link parseEntry}: `groups` / `prefix` are valid. */
function parseIpv6Range(
  entry: string,
  groups: readonly number[],
  prefix: number,
  option: string,
  v4: V4Range[],
  v6: V6Range[],
  embeddings: readonly Ipv4Embedding[] | undefined,
): void {
  // Clients on IPv4-mapped addresses are matched as IPv4, so a mapped range is stored as the IPv4 range it covers.
  if (isMappedGroups(groups) && prefix >= 96) {
    const mask = v4Mask(prefix - 96)
    v4.push({ net: (embeddedIpv4(groups) & mask) >>> 0, mask })
    return
  }
  // Likewise a range inside a prefix whose addresses stand for an IPv4 client (NAT64, 6to4, Teredo): the resolver
  // matches such a client as that IPv4 address, so the entry is stored as the IPv4 range it pins down.
  const embedding = embeddings === undefined ? undefined : embeddingOfRange(groups, prefix, embeddings)
  if (embedding !== undefined) {
    let bits = 0
    for (const position of embedding.positions) if (position < prefix) bits++
    if (bits === 0) {
      throw new IpRiskConfigError(
        option,
        `${describe(entry)} lies in ${embedding.label}, whose clients are matched as the IPv4 address they embed, but it does not narrow that address down: list IPv4 addresses or ranges instead`,
      )
    }
    const mask = v4Mask(bits)
    v4.push({ net: (extractIpv4(groups, embedding) & mask) >>> 0, mask })
    return
  }
  const mask = v6Mask(prefix)
  v6.push({ net: groups.map((g, i) => g & (mask[i] ?? 0)), mask })
}

/** The embedding prefix (the deployment's first, then the well-known ones) that contains the range, if any. */
function embeddingOfRange(
  groups: readonly number[],
  prefix: number,
  embeddings: readonly Ipv4Embedding[],
): Ipv4Embedding | undefined {
  for (const list of [embeddings, WELL_KNOWN_EMBEDDINGS]) {
    for (const e of list) if (prefix >= e.length && hasPrefix(groups, e.net, e.length)) return e
  }
  return undefined
}
