/**
 * An independent oracle for "which IPv4 client does this IPv6 address stand for": written from the RFCs with BigInt
 * and bit strings (no code shared with src/core/ip-address.ts), so the suites can check the implementation against
 * it on random addresses.
 *
 * - NAT64 well-known prefix `64:ff9b::/96` (RFC 6052): the last 32 bits.
 * - Local-use NAT64 `64:ff9b:1::/48` (RFC 8215), read as holding /96 subnets: the last 32 bits.
 * - Teredo `2001::/32` (RFC 4380): the client's public address is the last 32 bits XOR 0xffffffff.
 * - 6to4 `2002::/16` (RFC 3056): bits 16–47.
 * - A network-specific prefix of length 32, 40, 48, 56, 64 or 96 (RFC 6052 §2.2): the 32 bits after the prefix,
 *   skipping bits 64–71 (the "u" octet).
 */
import ipaddr from 'ipaddr.js'

/** The 128 bits of an IPv6 address as a '0'/'1' string (ipaddr.js parses; any valid spelling). */
export function bitsOf(ipv6: string): string {
  return ipaddr.IPv6.parse(ipv6)
    .toByteArray()
    .map((b) => b.toString(2).padStart(8, '0'))
    .join('')
}

function dotted(bits32: string): string {
  return (bits32.match(/.{8}/g) ?? []).map((b) => String(parseInt(b, 2))).join('.')
}

function invert(bits: string): string {
  return [...bits].map((b) => (b === '1' ? '0' : '1')).join('')
}

/** A prefix `net/len` parsed to its first `len` bits. */
function prefixBits(cidr: string): { bits: string; length: number } {
  const [net, len] = cidr.split('/') as [string, string]
  const length = Number(len)
  return { bits: bitsOf(net).slice(0, length), length }
}

/**
 * The IPv4 client (dotted) an IPv6 address stands for, or `null`. `nat64Prefixes` (network-specific prefixes) are
 * tried first, in order.
 */
export function embeddedIpv4Oracle(ipv6: string, nat64Prefixes: readonly string[] = []): string | null {
  const bits = bitsOf(ipv6)
  for (const cidr of nat64Prefixes) {
    const p = prefixBits(cidr)
    if (!bits.startsWith(p.bits)) continue
    if (p.length === 96) return dotted(bits.slice(96))
    return dotted((bits.slice(p.length, 64) + bits.slice(72)).slice(0, 32))
  }
  /** The first `n` bits as a number. */
  const top = (n: number): bigint => BigInt(`0b${bits.slice(0, n)}`)
  if (top(96) === 0x0064_ff9b_0000_0000_0000_0000n) return dotted(bits.slice(96))
  if (top(48) === 0x0064_ff9b_0001n) return dotted(bits.slice(96))
  if (top(32) === 0x2001_0000n) return dotted(invert(bits.slice(96)))
  if (top(16) === 0x2002n) return dotted(bits.slice(16, 48))
  return null
}

/** The IPv6 address (RFC 5952 text) with these 128 bits. */
export function ipv6FromBits(bits: string): string {
  const bytes = (bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2))
  return ipaddr.fromByteArray(bytes).toString()
}

/** The 32 bits of a dotted IPv4 address. */
export function ipv4Bits(ipv4: string): string {
  return ipv4
    .split('.')
    .map((o) => Number(o).toString(2).padStart(8, '0'))
    .join('')
}

/**
 * Build an address of each kind that stands for `ipv4`, with the free bits (`filler`, a string of '0'/'1' long
 * enough) set as given: the ways a client can be written.
 */
export const embed = {
  nat64: (ipv4: string): string => ipv6FromBits(bitsOf('64:ff9b::').slice(0, 96) + ipv4Bits(ipv4)),
  /** Local-use: bits 48–95 are free. */
  nat64Local: (ipv4: string, filler: string): string =>
    ipv6FromBits(bitsOf('64:ff9b:1::').slice(0, 48) + filler.slice(0, 48) + ipv4Bits(ipv4)),
  /** Bits 48–127 (subnet and interface) are free. */
  sixToFour: (ipv4: string, filler: string): string => ipv6FromBits(bitsOf('2002::').slice(0, 16) + ipv4Bits(ipv4) + filler.slice(0, 80)),
  /** Bits 32–95 (server, flags, port) are free. */
  teredo: (ipv4: string, filler: string): string =>
    ipv6FromBits(bitsOf('2001::').slice(0, 32) + filler.slice(0, 64) + invert(ipv4Bits(ipv4))),
  /** RFC 6052 §2.2 layout under `cidr` (length 32–96); the u octet is zero and the suffix is `filler`. */
  networkSpecific: (cidr: string, ipv4: string, filler: string): string => {
    const p = prefixBits(cidr)
    const v4 = ipv4Bits(ipv4)
    if (p.length === 96) return ipv6FromBits(p.bits + v4)
    const before = 64 - p.length // IPv4 bits before the u octet
    const body = p.bits + v4.slice(0, before) + '00000000' + v4.slice(before)
    return ipv6FromBits(body + filler.slice(0, 128 - body.length))
  },
}
