/**
 * Strict parsing of one address as it appears in a request (socket peer, header entry, `for=` node): canonical text
 * out, or `null`. Validation is `net.isIP` (fast, and strict about leading zeros and short forms); IPv6 is
 * canonicalized by ip-address.ts's single char loop.
 *
 * @module
 */
import { embeddedIpv4, groupsToIpv6, isIP, isMappedGroups, parseValidIpv6, uint32ToIpv4 } from '../ip-address.js'

/** Longest address text read: an X-Forwarded-For entry, an X-Real-IP value, a `for=` node, `parseIp` input. @internal */
export const MAX_ADDRESS_CHARS = 64
/** Interface names and numeric scope ids; anything else after `%` is not a zone id. */
const ZONE_RE = /^[0-9A-Za-z._~-]{1,32}$/

/** Optional white space (RFC 9110 OWS): space or tab. @internal */
export function isOws(c: number): boolean {
  return c === 32 || c === 9
}

/**
 * Whether `s` from `from` to its end is a port: digits 1–65535 (1–5 digits), or with `obfuscated`, RFC 7239's `_` +
 * 1*(ALPHA / DIGIT / "." / "_" / "-"). @internal
 */
export function isPort(s: string, from: number, obfuscated: boolean): boolean {
  const n = s.length - from
  if (n < 1) return false
  if (obfuscated && s.charCodeAt(from) === 95 /* _ */) {
    if (n < 2) return false
    for (let i = from + 1; i < s.length; i++) {
      const c = s.charCodeAt(i)
      const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
      const ok = alnum || c === 46 /* . */ || c === 95 /* _ */ || c === 45 /* - */
      if (!ok) return false
    }
    return true
  }
  if (n > 5) return false
  let value = 0
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
    value = value * 10 + (c - 48)
  }
  return value <= 65535
}

/** `::ffff:` in any case at the start of `s`. */
function startsWithMappedPrefix(s: string): boolean {
  if (s.length < 14 || s.charCodeAt(0) !== 58 || s.charCodeAt(1) !== 58 || s.charCodeAt(6) !== 58) return false
  for (let i = 2; i < 6; i++) if ((s.charCodeAt(i) | 0x20) !== 102 /* f */) return false
  return true
}

/** Canonical form of a bare IPv6 address with an optional zone id; IPv4-mapped addresses become IPv4. */
function canonicalIpv6(text: string): string | null {
  let host = text
  const pct = host.indexOf('%')
  if (pct !== -1) {
    if (!ZONE_RE.test(host.slice(pct + 1))) return null
    host = host.slice(0, pct)
  }
  // Node's dual-stack sockets report every IPv4 client as `::ffff:a.b.c.d`: the cheapest case comes first.
  if (startsWithMappedPrefix(host)) {
    const v4 = host.slice(7)
    if (isIP(v4) === 4) return v4
  }
  if (isIP(host) !== 6) return null
  const groups = parseValidIpv6(host)
  return isMappedGroups(groups) ? uint32ToIpv4(embeddedIpv4(groups)) : groupsToIpv6(groups)
}

/**
 * Parse a trimmed address with an optional port: `1.2.3.4`, `1.2.3.4:443`, `2001:db8::1`, `fe80::1%eth0`,
 * `[2001:db8::1]`, `[2001:db8::1]:443`. With `forwardedNode` (RFC 7239 `for=` values) IPv6 must be bracketed and
 * the port may be obfuscated (`:_p1`). @internal
 */
export function parseAddress(s: string, forwardedNode: boolean): string | null {
  if (s.charCodeAt(0) === 91 /* [ */) {
    const close = s.indexOf(']')
    if (close === -1) return null
    if (close + 1 !== s.length && !(s.charCodeAt(close + 1) === 58 && isPort(s, close + 2, forwardedNode))) return null
    return canonicalIpv6(s.slice(1, close))
  }
  const colon = s.indexOf(':')
  if (colon === -1) return isIP(s) === 4 ? s : null
  if (s.indexOf(':', colon + 1) === -1) {
    // Exactly one colon: IPv4 with a port (an IPv6 address has at least two).
    if (!isPort(s, colon + 1, forwardedNode)) return null
    const host = s.slice(0, colon)
    return isIP(host) === 4 ? host : null
  }
  return forwardedNode ? null : canonicalIpv6(s)
}

/**
 * Strictly parse and canonicalize one IP address, or return `null`.
 *
 * - Trims spaces and tabs (only: a CR, LF or any other character makes the text invalid).
 * - Strips a port (`1.2.3.4:443`, `[2001:db8::1]:443`) and a zone id (`fe80::1%eth0`).
 * - Maps IPv4-mapped IPv6 (`::ffff:1.2.3.4`, `::ffff:7f00:1`) to IPv4.
 * - Rejects leading-zero octets (`01.2.3.4`), hex (`0x7f.0.0.1`) and short IPv4 forms (`127.1`, `2130706433`),
 *   unbracketed IPv6 with a port, non-ASCII digits, and text longer than 64 characters after trimming.
 * - IPv6 comes out lower-case and compressed as RFC 5952 says (`2001:DB8:0:0::1` → `2001:db8::1`).
 *
 * @example
 * ```ts
 * parseIp(' [2001:DB8::1]:443 ') // '2001:db8::1'
 * parseIp('::ffff:203.0.113.7') // '203.0.113.7'
 * parseIp('127.1') // null
 * ```
 */
export function parseIp(text: string): string | null {
  if (typeof text !== 'string') return null
  let start = 0
  let end = text.length
  while (start < end && isOws(text.charCodeAt(start))) start++
  while (end > start && isOws(text.charCodeAt(end - 1))) end--
  if (end === start || end - start > MAX_ADDRESS_CHARS) return null
  return parseAddress(start === 0 && end === text.length ? text : text.slice(start, end), false)
}
