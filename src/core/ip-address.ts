/**
 * Address primitives shared by the client-IP modules (ip.ts, client-ip/) and the CIDR lists (cidr.ts, cidr/).
 * Internal: this module is not re-exported from the package entry (keep it out of src/core/index.ts), so these helpers
 * can change freely.
 *
 * @module
 * @internal
 */

// ---------------------------------------------------------------------------------------------------------------------
// Address syntax: `net.isIP`, without `node:net`
// ---------------------------------------------------------------------------------------------------------------------

// Node's own patterns (lib/internal/net.js; identical in Node 20 and 22), so that these accept exactly the strings
// `net.isIP` accepts, including an embedded dotted IPv4 tail and a `%zone` suffix, at the same speed (Node's functions
// are these regular expressions too). Copied, not imported, so that the core needs no `node:net`: edge runtimes and
// Workers have none. test/build/ip-syntax.test.ts checks them against `node:net` on random input.
const V4_SEG = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])'
const V4 = `(?:${V4_SEG}\\.){3}${V4_SEG}`
const V6_SEG = '(?:[0-9a-fA-F]{1,4})'
const IPV4 = new RegExp(`^${V4}$`)
const IPV6 = new RegExp(
  '^(?:' +
    `(?:${V6_SEG}:){7}(?:${V6_SEG}|:)|` +
    `(?:${V6_SEG}:){6}(?:${V4}|:${V6_SEG}|:)|` +
    `(?:${V6_SEG}:){5}(?::${V4}|(?::${V6_SEG}){1,2}|:)|` +
    `(?:${V6_SEG}:){4}(?:(?::${V6_SEG}){0,1}:${V4}|(?::${V6_SEG}){1,3}|:)|` +
    `(?:${V6_SEG}:){3}(?:(?::${V6_SEG}){0,2}:${V4}|(?::${V6_SEG}){1,4}|:)|` +
    `(?:${V6_SEG}:){2}(?:(?::${V6_SEG}){0,3}:${V4}|(?::${V6_SEG}){1,5}|:)|` +
    `(?:${V6_SEG}:){1}(?:(?::${V6_SEG}){0,4}:${V4}|(?::${V6_SEG}){1,6}|:)|` +
    `(?::(?:(?::${V6_SEG}){0,5}:${V4}|(?::${V6_SEG}){1,7}|:))` +
    ')(?:%[0-9a-zA-Z-.:]{1,})?$',
)

/** True when `s` is a dotted IPv4 address as Node's `net.isIPv4` accepts it (no leading zeros). @internal */
export function isIPv4(s: string): boolean {
  return IPV4.test(s)
}

/** True when `s` is an IPv6 address as Node's `net.isIPv6` accepts it (a `%zone` suffix included). @internal */
export function isIPv6(s: string): boolean {
  return IPV6.test(s)
}

/**
 * `4`, `6` or `0`, as Node's `net.isIP`: the address check of the client-IP, CIDR and provider modules.
 *
 * @example
 * ```ts
 * isIP('203.0.113.7') // 4
 * isIP('2001:db8::1') // 6
 * isIP('203.0.113.07') // 0
 * ```
 * @internal
 */
export function isIP(s: string): 0 | 4 | 6 {
  if (IPV4.test(s)) return 4
  return IPV6.test(s) ? 6 : 0
}

/**
 * The 32-bit value of a dotted IPv4 address that `net.isIP` accepted (so: four decimal octets, no leading zeros).
 * Written by hand because it runs per request and per trusted hop: a char loop allocates nothing, where
 * `ipaddr.IPv4.parse` costs a regex match and an object.
 *
 * @internal
 */
export function ipv4ToUint32(ip: string): number {
  let value = 0
  let octet = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46 /* . */) {
      value = value * 256 + octet
      octet = 0
    } else {
      octet = octet * 10 + (c - 48)
    }
  }
  return value * 256 + octet
}

/** Dotted form of a 32-bit IPv4 value. @internal */
export function uint32ToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87
}

/**
 * The eight 16-bit groups of an IPv6 address that `net.isIP` already accepted, without a zone id.
 *
 * Written by hand, like {@link groupsToIpv6}, because IPv6 clients go through it on every request: with the text
 * already validated it is a single char loop (~0.1 µs), where ipaddr.js's regex parse and RFC 5952 formatting cost
 * 3–5 µs together. ipaddr.js also reads the deprecated IPv4-compatible `::a.b.c.d` as the IPv4-*mapped*
 * `::ffff:a.b.c.d`, a different address (RFC 4291 §2.5.5); this parser does not. The tests check both functions
 * against ipaddr.js on random addresses.
 *
 * @internal
 */
export function parseValidIpv6(s: string): number[] {
  const head: number[] = []
  let tail: number[] | null = null
  let current = head
  const n = s.length
  let i = 0
  if (s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    tail = []
    current = tail
    i = 2
  }
  while (i < n) {
    let j = i
    let value = 0
    let dotted = false
    for (; j < n; j++) {
      const c = s.charCodeAt(j)
      if (c === 58 /* : */) break
      if (c === 46 /* . */) {
        dotted = true
        break
      }
      value = value * 16 + hexValue(c)
    }
    if (dotted) {
      const v4 = ipv4ToUint32(s.slice(i))
      current.push(v4 >>> 16, v4 & 0xffff)
      break
    }
    current.push(value)
    if (j >= n) break
    if (s.charCodeAt(j + 1) === 58) {
      tail = []
      current = tail
      i = j + 2
    } else i = j + 1
  }
  if (tail === null) return head
  while (head.length + tail.length < 8) head.push(0)
  for (const g of tail) head.push(g)
  return head
}

/**
 * The eight 16-bit groups of a bare IPv6 address (no brackets, port or zone id), or `null` when it is not one.
 *
 * @internal
 */
export function ipv6Groups(text: string): number[] | null {
  if (isIP(text) !== 6 || text.includes('%')) return null
  return parseValidIpv6(text)
}

/** True when the groups are an IPv4-mapped address (`::ffff:0:0/96`). @internal */
export function isMappedGroups(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff
}

/** The IPv4 value embedded in the last 32 bits of IPv6 groups. @internal */
export function embeddedIpv4(g: readonly number[]): number {
  return ((g[6] ?? 0) * 65536 + (g[7] ?? 0)) >>> 0
}

/**
 * RFC 5952 text of IPv6 groups: lower-case hex without leading zeros, the longest run of two or more zero groups
 * (the first one on ties) compressed to `::`. Hand-written for the reason given at {@link parseValidIpv6}.
 *
 * @internal
 */
export function groupsToIpv6(g: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  let runStart = -1
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && g[i] === 0) {
      if (runStart === -1) runStart = i
    } else if (runStart !== -1) {
      if (i - runStart > bestLength) {
        bestStart = runStart
        bestLength = i - runStart
      }
      runStart = -1
    }
  }
  let out = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::'
      i += bestLength - 1
      continue
    }
    if (i !== 0 && i !== bestStart + bestLength) out += ':'
    out += (g[i] ?? 0).toString(16)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------------
// IPv4 clients embedded in IPv6 addresses (NAT64, 6to4, Teredo)
// ---------------------------------------------------------------------------------------------------------------------

/**
 * A prefix whose addresses stand for an IPv4 client, and where that IPv4 address sits in them:
 * - `rfc6052`: a NAT64 / SIIT translation prefix of length 32, 40, 48, 56, 64 or 96, in the RFC 6052 §2.2 layout
 *   (the IPv4 bits follow the prefix and skip bits 64–71, the "u" octet);
 * - `last32`: the last 32 bits (the local-use prefix `64:ff9b:1::/48` of RFC 8215, read as holding /96 subnets);
 * - `6to4`: bits 16–47 (RFC 3056);
 * - `teredo`: the last 32 bits, inverted (RFC 4380: the client's public address, XOR 0xffffffff).
 *
 * @internal
 */
export interface Ipv4Embedding {
  /** The prefix as eight groups (bits past `length` are zero). */
  readonly net: readonly number[]
  readonly length: number
  /** The IPv6 bit index (0 = most significant) of each IPv4 bit, most significant first: 32 increasing numbers. */
  readonly positions: readonly number[]
  /** True for Teredo: the IPv4 bits are stored inverted. */
  readonly inverted: boolean
  /** How the prefix is named in messages, e.g. `the NAT64 prefix 64:ff9b::/96`. */
  readonly label: string
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i)
}

/**
 * An {@link Ipv4Embedding} from its groups and layout. `length` must be 32, 40, 48, 56, 64 or 96 for `rfc6052`.
 *
 * @internal
 */
export function ipv4Embedding(
  net: readonly number[],
  length: number,
  layout: 'rfc6052' | 'last32' | '6to4' | 'teredo',
  label: string,
): Ipv4Embedding {
  let positions: number[]
  if (layout === 'last32' || layout === 'teredo') positions = range(96, 32)
  else if (layout === '6to4') positions = range(16, 32)
  else if (length >= 64) positions = range(length === 64 ? 72 : 96, 32)
  else positions = [...range(length, 64 - length), ...range(72, 32 - (64 - length))]
  return Object.freeze({
    net: Object.freeze([...net]),
    length,
    positions: Object.freeze(positions),
    inverted: layout === 'teredo',
    label,
  })
}

/** True when the first `length` bits of `g` are those of `net`. @internal */
export function hasPrefix(g: readonly number[], net: readonly number[], length: number): boolean {
  for (let i = 0; i * 16 < length; i++) {
    const bits = Math.min(16, length - i * 16)
    const mask = (0xffff << (16 - bits)) & 0xffff
    if (((g[i] ?? 0) & mask) !== (net[i] ?? 0)) return false
  }
  return true
}

/** The IPv4 value an address of `e` stands for (its bits read at `e.positions`). @internal */
export function extractIpv4(g: readonly number[], e: Ipv4Embedding): number {
  let v = 0
  for (const p of e.positions) v = v * 2 + (((g[p >>> 4] ?? 0) >>> (15 - (p & 15))) & 1)
  return e.inverted ? (~v >>> 0) : v
}

/**
 * The prefixes whose addresses always stand for an IPv4 client (IANA special-purpose registry), most specific
 * first. The resolver checks a deployment's own `nat64Prefixes` before these.
 *
 * @internal
 */
export const WELL_KNOWN_EMBEDDINGS: readonly Ipv4Embedding[] = Object.freeze([
  ipv4Embedding([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, 'rfc6052', 'the NAT64 prefix 64:ff9b::/96'),
  ipv4Embedding([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, 'last32', 'the local-use NAT64 prefix 64:ff9b:1::/48'),
  ipv4Embedding([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, 'teredo', 'the Teredo prefix 2001::/32'),
  ipv4Embedding([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, '6to4', 'the 6to4 prefix 2002::/16'),
])

const NO_EMBEDDINGS: readonly Ipv4Embedding[] = Object.freeze([])

/**
 * The IPv4 client an IPv6 address stands for, or -1 when it embeds none: first the deployment's own prefixes
 * (`extra`, in order), then NAT64 `64:ff9b::/96`, local-use NAT64 `64:ff9b:1::/48` (last 32 bits), Teredo
 * `2001::/32` (last 32 bits inverted) and 6to4 `2002::/16` (bits 16–47). IPv4-mapped addresses are not handled here
 * (the parser already turns them into IPv4).
 *
 * Called on cache-key misses and by `classifyIp`: the well-known prefixes cost one comparison when the address is in
 * none of them.
 *
 * @internal
 */
export function embeddedClientIpv4(g: readonly number[], extra: readonly Ipv4Embedding[] = NO_EMBEDDINGS): number {
  for (let i = 0; i < extra.length; i++) {
    const e = extra[i] as Ipv4Embedding
    if (hasPrefix(g, e.net, e.length)) return extractIpv4(g, e)
  }
  const g0 = g[0]
  if (g0 === 0x64) {
    if (g[1] !== 0xff9b) return -1
    if (g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) return embeddedIpv4(g) // 64:ff9b::/96
    return g[2] === 1 ? embeddedIpv4(g) : -1 // 64:ff9b:1::/48
  }
  if (g0 === 0x2001) return g[1] === 0 ? ~embeddedIpv4(g) >>> 0 : -1 // Teredo 2001::/32
  if (g0 === 0x2002) return ((g[1] ?? 0) * 65536 + (g[2] ?? 0)) >>> 0 // 6to4 2002::/16
  return -1
}
