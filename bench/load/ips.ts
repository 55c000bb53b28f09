/**
 * Client addresses the load generator puts in `X-Forwarded-For` (the servers trust the loopback proxy, so that header
 * chooses the client IP). All are documentation ranges (RFC 5737 / RFC 3849): never a real host, and scored only
 * because the benchmark resolver sets `scoreDocumentationRanges`.
 */

/**
 * A fixed population of returning clients: `size` IPv4 addresses from 198.51.100.0/24 then 192.0.2.0/24
 * (at most 508). Requests rotate through it, so concurrent requests rarely share an address.
 */
export function clientPool(size: number): string[] {
  if (!Number.isInteger(size) || size < 1 || size > 508) throw new RangeError(`pool size must be 1–508, got ${size}`)
  const ips: string[] = []
  for (let i = 0; i < size; i++) ips.push(i < 254 ? `198.51.100.${i + 1}` : `192.0.2.${i - 253}`)
  return ips
}

/**
 * The `n`-th never-seen client: a distinct IPv6 /48 inside 2001:db8::/32 for each of the first 65 536 (then the next
 * /64 of each), so a run of new clients never wraps around and, like real newcomers, comes from many networks: the
 * resolver shares its provider budget between /48s (`budget.perNetwork`), and clients drawn from one /48 would
 * measure that share, not the cold path. `host` (1–65535) picks the interface identifier inside that /64.
 * Canonical text.
 *
 * @example
 * ```ts
 * newClientIp(0x10002, 1) // '2001:db8:2:1::1'
 * ```
 */
export function newClientIp(n: number, host = 1): string {
  const net48 = n & 0xffff
  const net64 = Math.floor(n / 0x10000) & 0xffff
  const h = host.toString(16)
  // Canonical (RFC 5952) text: the longest run of zero groups is the one compressed.
  if (net64 === 0) return net48 === 0 ? `2001:db8::${h}` : `2001:db8:${net48.toString(16)}::${h}`
  return `2001:db8:${net48.toString(16)}:${net64.toString(16)}::${h}`
}
