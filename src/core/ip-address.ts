/**
 * Address primitives shared by ip.ts and cidr.ts. Internal: this module is not re-exported from the package entry
 * (keep it out of src/core/index.ts), so these helpers can change freely.
 *
 * @module
 * @internal
 */
import { isIP } from 'node:net'

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
