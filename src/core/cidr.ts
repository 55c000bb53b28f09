/**
 * CIDR lists (trusted proxies, allow / deny lists) compiled once at start-up into fast matchers, and the cache key
 * of an address (IPv6 clients are keyed by their network prefix).
 *
 * Parsing is strict: an entry is a plain IPv4 or IPv6 address, optionally followed by `/prefix` (or, for IPv4, a
 * dotted netmask), or one of the named ranges of proxy-addr (`loopback`, `linklocal`, `uniquelocal`) plus
 * `private`. Anything else is an {@link IpRiskConfigError} naming the option.
 *
 * @module
 */
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { IpRiskConfigError } from './errors.js'
import {
  WELL_KNOWN_EMBEDDINGS,
  embeddedClientIpv4,
  embeddedIpv4,
  extractIpv4,
  groupsToIpv6,
  hasPrefix,
  ipv4Embedding,
  ipv4ToUint32,
  ipv6Groups,
  isMappedGroups,
  parseValidIpv6,
  uint32ToIpv4,
  type Ipv4Embedding,
} from './ip-address.js'

// ---------------------------------------------------------------------------------------------------------------------
// CIDR lists
// ---------------------------------------------------------------------------------------------------------------------

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

interface V4Range {
  net: number
  mask: number
}
interface V6Range {
  net: number[]
  mask: number[]
}

const PREFIX_RE = /^(?:0|[1-9]\d{0,2})$/

function describe(entry: string): string {
  return JSON.stringify(entry.length > 80 ? `${entry.slice(0, 80)}…` : entry)
}

/** The IPv4 netmask of a prefix length, as an unsigned 32-bit integer. @internal */
export function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

function v6Mask(prefix: number): number[] {
  const mask: number[] = []
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, prefix - i * 16))
    mask.push(bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff)
  }
  return mask
}

/**
 * @param embeddings - for client lists (allow / deny): the deployment's NAT64 prefixes, whose clients (like those of
 *   the well-known embedding prefixes) are matched as the IPv4 address they embed. `undefined` for trust lists.
 */
function parseEntry(
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

  let prefix: number
  if (family === 4) {
    if (prefixText === null) prefix = 32
    else if (PREFIX_RE.test(prefixText)) prefix = Number(prefixText)
    else if (isIP(prefixText) === 4) {
      const fromMask = ipaddr.IPv4.parse(prefixText).prefixLengthFromSubnetMask()
      if (fromMask === null) {
        throw new IpRiskConfigError(option, `${describe(entry)} has a non-contiguous netmask`)
      }
      prefix = fromMask
    } else prefix = -1
    if (prefix < 0 || prefix > 32) {
      throw new IpRiskConfigError(option, `${describe(entry)} has an invalid prefix length (0–32 for IPv4)`)
    }
    const mask = v4Mask(prefix)
    v4.push({ net: (ipv4ToUint32(address) & mask) >>> 0, mask })
    return
  }

  prefix = prefixText === null ? 128 : PREFIX_RE.test(prefixText) ? Number(prefixText) : -1
  if (prefix < 0 || prefix > 128) {
    throw new IpRiskConfigError(option, `${describe(entry)} has an invalid prefix length (0–128 for IPv6)`)
  }
  const groups = ipv6Groups(address)
  if (groups === null) {
    throw new IpRiskConfigError(option, `${describe(entry)} is not a valid IPv6 address or range`)
  }
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

function compileList(
  list: string | readonly string[],
  optionName: string,
  embeddings: readonly Ipv4Embedding[] | undefined,
): (canonicalIp: string) => boolean {
  let items: readonly unknown[]
  if (typeof list === 'string') items = [list]
  else if (Array.isArray(list)) items = list
  else {
    throw new IpRiskConfigError(
      optionName,
      'must be a string or an array of strings (IP addresses, CIDR ranges or range names)',
    )
  }
  const v4: V4Range[] = []
  const v6: V6Range[] = []
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new IpRiskConfigError(optionName, `entries must be strings, got ${item === null ? 'null' : typeof item}`)
    }
    for (const part of item.split(',')) {
      const entry = part.trim()
      if (entry === '') {
        throw new IpRiskConfigError(optionName, `contains an empty entry in ${describe(item)}`)
      }
      parseEntry(entry, optionName, v4, v6, embeddings)
    }
  }
  return makeMatcher(v4, v6)
}

function makeMatcher(v4: readonly V4Range[], v6: readonly V6Range[]): (canonicalIp: string) => boolean {
  if (v4.length === 0 && v6.length === 0) return () => false

  const matchV4 = (n: number): boolean => {
    for (const r of v4) if (((n & r.mask) >>> 0) === r.net) return true
    return false
  }
  const matchV6 = (g: readonly number[]): boolean => {
    outer: for (const r of v6) {
      for (let i = 0; i < 8; i++) if (((g[i] ?? 0) & (r.mask[i] ?? 0)) !== r.net[i]) continue outer
      return true
    }
    return false
  }

  return (ip: string): boolean => {
    if (typeof ip !== 'string') return false
    const family = isIP(ip)
    if (family === 4) return v4.length !== 0 && matchV4(ipv4ToUint32(ip))
    if (family !== 6) return false
    // net.isIP allows a zone id; the address before it is valid on its own.
    const pct = ip.indexOf('%')
    const groups = parseValidIpv6(pct === -1 ? ip : ip.slice(0, pct))
    if (isMappedGroups(groups)) return v4.length !== 0 && matchV4(embeddedIpv4(groups))
    return v6.length !== 0 && matchV6(groups)
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Cache keys
// ---------------------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------------------
// Addresses that stand for an IPv4 client
// ---------------------------------------------------------------------------------------------------------------------

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
  let items: readonly unknown[]
  if (typeof value === 'string') items = [value]
  else if (Array.isArray(value)) items = value
  else {
    throw new IpRiskConfigError(optionName, 'must be an array of IPv6 prefixes, e.g. ["2001:db8:64::/96"]')
  }
  const out: Ipv4Embedding[] = []
  for (const item of items) {
    if (typeof item !== 'string') {
      throw new IpRiskConfigError(optionName, `entries must be strings, got ${item === null ? 'null' : typeof item}`)
    }
    for (const part of item.split(',')) {
      const entry = part.trim()
      if (entry === '') throw new IpRiskConfigError(optionName, `contains an empty entry in ${describe(item)}`)
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
      for (const other of out) {
        const shorter = Math.min(length, other.length)
        if (hasPrefix(net, other.net.map((g, i) => g & (v6Mask(shorter)[i] ?? 0)), shorter)) {
          throw new IpRiskConfigError(optionName, `${describe(entry)} overlaps ${other.label}`)
        }
      }
      out.push(ipv4Embedding(net, length, 'rfc6052', `the NAT64 prefix ${canonical} (${optionName})`))
    }
  }
  if (out.length > MAX_NAT64_PREFIXES) {
    throw new IpRiskConfigError(optionName, `lists ${out.length} prefixes; at most ${MAX_NAT64_PREFIXES} are allowed`)
  }
  return Object.freeze(out)
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
