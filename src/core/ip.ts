/**
 * The client IP of a request, under a trust model Express / proxy-addr users know: the socket peer is the client
 * unless it is a trusted proxy, in which case `X-Forwarded-For` is walked from the right through trusted hops only.
 * Every address is strictly parsed and canonicalized; a malformed entry ends the walk and is never returned.
 *
 * Performance: the reader is compiled once; per request it validates with `net.isIP` (~17 ns), reads at most
 * `maxHops` list entries scanning from the right (never splitting the whole header), and canonicalizes IPv6 with
 * a single char loop (see `parseValidIpv6` in ip-address.ts for why that is hand-written). A returning client's
 * X-Forwarded-For value is answered from the reader's memo (see `createClientIpReader`).
 *
 * @module
 */
import { isIP } from 'node:net'
import { compileCidrList } from './cidr.js'
import { IpRiskConfigError } from './errors.js'
import {
  embeddedClientIpv4,
  embeddedIpv4,
  groupsToIpv6,
  ipv4ToUint32,
  isMappedGroups,
  parseValidIpv6,
  uint32ToIpv4,
} from './ip-address.js'
import { platformChainOf } from './platforms.js'
import type { ClientIp, IpKind, IpSource, RequestLike } from './types.js'

/**
 * Which proxies to trust, as in Express's `trust proxy` setting:
 * - `false` (default): trust none; the socket peer is the client.
 * - `true`: trust every hop; the client is the furthest (leftmost) usable address.
 * - a number `n`: trust the `n` closest hops (the socket peer is hop 0).
 * - a string or list of addresses, CIDR ranges and the names `loopback`, `linklocal`, `uniquelocal`, `private`
 *   (a string may be comma-separated).
 * - a function `(addr, hop) => boolean`, given the canonical address and its hop number (0 = the socket peer).
 * - a platform preset (`platforms.cloudflare()`, `platforms.awsAlb({ vpc })`, ...) or a list of them: the whole trust
 *   model of a deployment, including the headers the platform overwrites (see `platforms`).
 *
 * @example
 * ```ts
 * const behindCloudflareAndNginx: TrustProxy = platforms.cloudflare({ behind: 'loopback' })
 * const behindNginx: TrustProxy = 'loopback'
 * const behindTwoProxies: TrustProxy = 2
 * const behindMyNetwork: TrustProxy = ['10.0.0.0/8', 'fd00::/8']
 * const custom: TrustProxy = (addr, hop) => hop === 0 || addr.startsWith('10.')
 * ```
 */
export type TrustProxy =
  | boolean
  | number
  | string
  | readonly string[]
  | ((addr: string, hop: number) => boolean)
  | PlatformPreset
  | readonly PlatformPreset[]

/**
 * A header a platform sets (overwriting whatever the client sent) to the address of the client that connected to it.
 * Only platform presets read these (see `platforms`).
 */
export type PlatformHeader =
  | 'cf-connecting-ip'
  | 'cf-connecting-ipv6'
  | 'fly-client-ip'
  | 'x-vercel-forwarded-for'
  | 'x-real-ip'
  | 'x-nf-client-connection-ip'
  | 'cloudfront-viewer-address'
  | 'x-azure-socketip'
  | 'fastly-client-ip'
  | 'true-client-ip'

/**
 * One link of a trust chain: a platform (CDN, load balancer, PaaS router) or your own reverse proxy, and how it
 * forwards the address of its client. Built by the `platforms` presets.
 */
export interface TrustLayer {
  /** The preset that made it (`'cloudflare'`, `'reverseProxy'`, ...). */
  readonly name: string
  /**
   * The addresses this layer connects from (addresses, CIDR ranges, range names), or `null` when its hop is trusted by
   * position, whatever its address: only right when nothing else can reach the layer's position.
   */
  readonly ranges: string | readonly string[] | null
  /** Headers the layer overwrites with its client's address, most precise first. */
  readonly headers: readonly PlatformHeader[]
  /**
   * What the layer does to `X-Forwarded-For`: `'append'` its client's address; `'append-with-self'` its client's
   * address and then its own (Google Cloud load balancers, Fly.io); `'none'` (not read: the header is the client's).
   */
  readonly forwardedFor: 'append' | 'append-with-self' | 'none'
  /** Believe the layer only when the request carries this header with this value (Azure Front Door's X-Azure-FDID). */
  readonly requireHeader?: { readonly name: string; readonly value: string } | undefined
}

/**
 * A whole trust model for one deployment: the chain of platforms and proxies a request travels through, client side
 * first. Created by the `platforms` presets (`platforms.cloudflare()`, `platforms.fly()`, ...) and given as
 * `trustProxy`; a list of presets is one longer chain, in the order the request passes them.
 *
 * @example
 * ```ts
 * import { createRiskResolver, platforms } from 'iprisk'
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) }) // → nginx → app
 * ```
 */
export interface PlatformPreset {
  /** The preset's name, e.g. `'cloudflare'` or `'cloudflare+reverseProxy'`. */
  readonly platform: string
  /** The chain, client side first. */
  readonly layers: readonly TrustLayer[]
}

/**
 * Options of {@link createClientIpReader} and {@link clientIp}.
 *
 * @example
 * ```ts
 * // Cloudflare in front of the app: trust its ranges, prefer the header it overwrites
 * const options: ClientIpOptions = { trustProxy: cloudflareRanges, headers: ['cf-connecting-ip'] }
 * ```
 */
export interface ClientIpOptions {
  /** Which proxies to trust; see {@link TrustProxy}. @default false */
  trustProxy?: TrustProxy
  /**
   * Extra headers, opt-in, honoured only when the socket peer is trusted, in the order listed and before
   * `X-Forwarded-For`. Enable only headers that your trusted proxy sets or overwrites on every request.
   * @default []
   */
  headers?: readonly ('x-real-ip' | 'cf-connecting-ip' | 'forwarded')[]
  /**
   * The most `X-Forwarded-For` entries / `Forwarded` elements examined per request (an integer from 1 to 1024), so
   * a giant header costs bounded work. When the walk reaches it while still on trusted hops, the last address read
   * is the client. A hop-count `trustProxy` may not exceed it.
   * @default 32
   */
  maxHops?: number
}

/** The default of {@link ClientIpOptions.maxHops}. */
const DEFAULT_MAX_HOPS = 32
const MAX_MAX_HOPS = 1024
/** Longest address text read: an X-Forwarded-For entry, an X-Real-IP value, a `for=` node, `parseIp` input. */
const MAX_ADDRESS_CHARS = 64
/** Longest RFC 7239 element (`for=...;by=...;proto=...;host=...`) read. */
const MAX_FORWARDED_ELEMENT_CHARS = 256
/** Interface names and numeric scope ids; anything else after `%` is not a zone id. */
const ZONE_RE = /^[0-9A-Za-z._~-]{1,32}$/
const OPTIONAL_HEADERS = ['x-real-ip', 'cf-connecting-ip', 'forwarded'] as const
type OptionalHeader = (typeof OPTIONAL_HEADERS)[number]

const NO_CLIENT_IP: ClientIp = Object.freeze({ ip: null, source: null, kind: null })
/** X-Forwarded-For values remembered per reader (then the memo starts over): a few hundred KB at most. */
const WALK_MEMO_MAX_ENTRIES = 4096
/** Longer X-Forwarded-For values are walked every time (they are rare, and would make the memo large). */
const WALK_MEMO_MAX_CHARS = 160

// ---------------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------------

function isOws(c: number): boolean {
  return c === 32 || c === 9
}

/** Digits 1–65535 (1–5 digits), or with `obfuscated`, RFC 7239's `_` + 1*(ALPHA / DIGIT / "." / "_" / "-"). */
function isPort(s: string, from: number, obfuscated: boolean): boolean {
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
 * the port may be obfuscated (`:_p1`).
 */
function parseAddress(s: string, forwardedNode: boolean): string | null {
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

// ---------------------------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------------------------------------

const TRUST_NONE = (): boolean => false
const TRUST_ALL = (): boolean => true

/**
 * Compile a {@link TrustProxy} value into a predicate `(canonicalAddr, hop) => boolean`, once, at start-up.
 * `hop` 0 is the socket peer, 1 the closest `X-Forwarded-For` entry, and so on (proxy-addr's numbering).
 *
 * A user function is called with canonical addresses (IPv4-mapped already mapped to IPv4); it must return `true`
 * to trust (a merely truthy value does not), and if it throws, the hop is not trusted.
 *
 * @param trust - see {@link TrustProxy}.
 * @param optionName - the option path reported in errors (default `'trustProxy'`).
 * @throws IpRiskConfigError for a negative or fractional hop count, an unparsable range, or another type.
 *
 * @example
 * ```ts
 * const trusted = compileTrust('loopback, 10.0.0.0/8')
 * trusted('10.1.2.3', 0) // true
 * compileTrust(2)('203.0.113.7', 1) // true: hops 0 and 1 are trusted
 * ```
 */
export function compileTrust(trust: TrustProxy, optionName = 'trustProxy'): (addr: string, hop: number) => boolean {
  if (trust === false) return TRUST_NONE
  if (platformChainOf(trust, optionName) !== null) {
    throw new IpRiskConfigError(
      optionName,
      'a platform preset also chooses which headers to read, so it cannot be compiled to an address predicate; give it as trustProxy to createClientIpReader or createRiskResolver',
    )
  }
  if (trust === true) return TRUST_ALL
  if (typeof trust === 'number') {
    if (!Number.isInteger(trust) || trust < 0) {
      throw new IpRiskConfigError(
        optionName,
        `a hop count must be a non-negative integer, got ${String(trust)} (use true to trust every hop)`,
      )
    }
    const hops = trust
    return hops === 0 ? TRUST_NONE : (_addr: string, hop: number): boolean => hop < hops
  }
  if (typeof trust === 'string' || Array.isArray(trust)) {
    return compileCidrList(trust as string | readonly string[], optionName)
  }
  if (typeof trust === 'function') {
    const fn = trust
    return (addr: string, hop: number): boolean => {
      try {
        return fn(addr, hop) === true
      } catch {
        return false
      }
    }
  }
  throw new IpRiskConfigError(
    optionName,
    `must be a boolean, a hop count, an address / CIDR string or list, or a function (addr, hop) => boolean; got ${
      trust === null ? 'null' : typeof trust
    }`,
  )
}

// ---------------------------------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------------------------------

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1
}

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
}

/** RFC 9110 qdtext and quoted-pair characters: HTAB, SP, VCHAR, obs-text. */
function isQuotedChar(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127 && c <= 255)
}

/**
 * The `for=` address of one RFC 7239 element (`for=192.0.2.60;proto=http;by=203.0.113.43`), or `null` when the
 * element is malformed, has no `for`, or names an `unknown` / obfuscated (`_hidden`) node.
 */
function parseForwardedElement(el: string): string | null {
  const n = el.length
  let i = 0
  let forValue: string | null = null
  for (;;) {
    while (i < n && isOws(el.charCodeAt(i))) i++
    if (i < n && el.charCodeAt(i) !== 59 /* ; */) {
      const nameStart = i
      while (i < n && isTchar(el.charCodeAt(i))) i++
      if (i === nameStart || i >= n || el.charCodeAt(i) !== 61 /* = */) return null
      const isFor = i - nameStart === 3 && el.slice(nameStart, i).toLowerCase() === 'for'
      i++
      let value: string
      if (i < n && el.charCodeAt(i) === 34 /* " */) {
        i++
        value = ''
        let run = i
        for (;;) {
          if (i >= n) return null
          const c = el.charCodeAt(i)
          if (c === 34) break
          if (!isQuotedChar(c)) return null
          if (c === 92 /* \ */) {
            value += el.slice(run, i)
            i++
            if (i >= n || !isQuotedChar(el.charCodeAt(i))) return null
            run = i
          }
          i++
        }
        value += el.slice(run, i)
        i++
      } else {
        const valueStart = i
        while (i < n && isTchar(el.charCodeAt(i))) i++
        if (i === valueStart) return null
        value = el.slice(valueStart, i)
      }
      if (isFor) {
        if (forValue !== null) return null // a parameter may appear once per element (RFC 7239 §4)
        forValue = value
      }
      while (i < n && isOws(el.charCodeAt(i))) i++
    }
    if (i >= n) break
    if (el.charCodeAt(i) !== 59) return null
    i++
  }
  if (forValue === null || forValue.length > MAX_ADDRESS_CHARS) return null
  // `unknown` and obfuscated identifiers (`_hidden`) are not addresses: parseAddress rejects them.
  return parseAddress(forValue, true)
}

/**
 * Walk a comma-separated list header (`X-Forwarded-For`, or `Forwarded` elements) from the right, starting at the
 * trusted socket peer: each trusted hop's claim about the next hop is believed, until an untrusted hop, a malformed
 * entry, the end of the list, or `maxHops` entries. Returns the client address, or `null` when not even one entry
 * could be used (so the caller falls back to the next source).
 *
 * Work is bounded: each entry is found by scanning at most its length limit to the left, never the whole header.
 */
function walkList(
  values: readonly unknown[],
  forwarded: boolean,
  peer: string,
  trust: (addr: string, hop: number) => boolean,
  maxHops: number,
): string | null {
  const window = forwarded ? MAX_FORWARDED_ELEMENT_CHARS : MAX_ADDRESS_CHARS
  let vi = values.length - 1
  let v = values[vi]
  let end = typeof v === 'string' ? v.length : 0
  let addr = peer
  let hop = 0
  while (hop < maxHops && vi >= 0) {
    if (typeof v !== 'string') break
    const lowest = Math.max(0, end - window - 1)
    let i = end - 1
    let inQuote = false
    for (; i >= lowest; i--) {
      const c = v.charCodeAt(i)
      if (c === 44 /* , */ && !inQuote) break
      if (forwarded && c === 34 /* " */) {
        if (!inQuote) inQuote = true
        else {
          // An opening quote is preceded by an even number of backslashes; `\"` inside a quoted string is not one.
          let j = i - 1
          while (j >= lowest && v.charCodeAt(j) === 92) j--
          if ((i - 1 - j) % 2 === 0) inQuote = false
        }
      }
    }
    // An unterminated quote, or an entry longer than the limit (no comma within it): malformed.
    if (inQuote || end - i - 1 > window) break
    const raw = v.slice(i + 1, end)
    if (i < 0) {
      vi--
      v = values[vi]
      end = typeof v === 'string' ? v.length : 0
    } else end = i
    const next = forwarded ? parseForwardedElement(raw) : parseIp(raw)
    if (next === null) break
    addr = next
    hop++
    if (!trust(addr, hop)) break
  }
  return hop === 0 ? null : addr
}

type HeaderValue = string | readonly unknown[]

/** A header from a fetch `Headers`, a Node headers object (lower-case keys) or a plain object (any case). */
/**
 * A header of a Node or fetch request (a `Headers`-like `get`, or a plain object, case-insensitively when the object
 * is not Node's lower-cased one). May throw on a hostile request: callers catch. @internal (not exported by `iprisk`)
 */
export function readHeader(req: RequestLike, name: string): HeaderValue | undefined {
  const headers = (req as { headers?: unknown }).headers
  if (headers === null || typeof headers !== 'object') return undefined
  const get = (headers as { get?: unknown }).get
  if (typeof get === 'function') {
    // A `get` that throws is left to the reader's catch: a header that cannot be read makes the client unknown.
    const value: unknown = get.call(headers, name)
    return typeof value === 'string' ? value : undefined
  }
  const record = headers as Record<string, unknown>
  let value = record[name]
  // Node lower-cases header names (and keeps the raw ones in `rawHeaders`); a user's plain object may not.
  if (value === undefined && !Array.isArray((req as { rawHeaders?: unknown }).rawHeaders)) {
    for (const key of Object.keys(record)) {
      if (key.length === name.length && key.toLowerCase() === name) {
        value = record[key]
        break
      }
    }
  }
  return typeof value === 'string' || Array.isArray(value) ? value : undefined
}

/** A header that must hold exactly one address (`X-Real-IP`, `CF-Connecting-IP`). A list is not one address. */
function readSingleAddress(value: HeaderValue): string | null {
  const text = typeof value === 'string' ? value : value.length === 1 ? value[0] : undefined
  if (typeof text !== 'string' || text.length > MAX_ADDRESS_CHARS) return null
  return parseIp(text)
}

function socketAddressOf(req: RequestLike): string | undefined {
  const r = req as { socket?: { remoteAddress?: unknown } | null; remoteAddress?: unknown }
  const fromSocket = r.socket?.remoteAddress
  if (typeof fromSocket === 'string') return fromSocket
  return typeof r.remoteAddress === 'string' ? r.remoteAddress : undefined
}

/** `ip` is canonical (from parseIp): skip classifyIp's validation. */
function result(ip: string, source: IpSource): ClientIp {
  const kind = ip.includes(':') ? classifyIpv6(parseValidIpv6(ip)) : classifyIpv4(ipv4ToUint32(ip))
  return { ip, source, kind }
}

// ---------------------------------------------------------------------------------------------------------------------
// Platform presets: trust chains
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Reads `X-Forwarded-For` entries one at a time from the right, with walkList's bounds: each entry is found by
 * scanning at most its length limit to the left, at most `maxHops` entries are read, and a malformed entry (or the
 * start of the list) ends it: `next()` then answers `null` for good.
 */
class ForwardedForCursor {
  private index: number
  private value: unknown
  private end: number
  private read = 0
  private done = false

  constructor(
    private readonly values: readonly unknown[],
    private readonly maxHops: number,
  ) {
    this.index = values.length - 1
    this.value = values[this.index]
    this.end = typeof this.value === 'string' ? this.value.length : 0
  }

  next(): string | null {
    const v = this.value
    if (this.done || this.read >= this.maxHops || this.index < 0 || typeof v !== 'string') {
      this.done = true
      return null
    }
    const end = this.end
    const lowest = Math.max(0, end - MAX_ADDRESS_CHARS - 1)
    let i = end - 1
    while (i >= lowest && v.charCodeAt(i) !== 44 /* , */) i--
    if (end - i - 1 > MAX_ADDRESS_CHARS) {
      this.done = true
      return null
    }
    const raw = v.slice(i + 1, end)
    if (i < 0) {
      this.index--
      this.value = this.values[this.index]
      this.end = typeof this.value === 'string' ? this.value.length : 0
    } else this.end = i
    this.read++
    const ip = parseIp(raw)
    if (ip === null) this.done = true
    return ip
  }
}

interface CompiledLayer {
  readonly match: ((canonicalIp: string) => boolean) | null
  readonly headers: readonly PlatformHeader[]
  readonly forwardedFor: TrustLayer['forwardedFor']
  readonly requireHeader: { readonly name: string; readonly value: string } | undefined
}

/** Stands for an absent header in a preset reader's memo. */
const ABSENT = Symbol('absent')

/** Longest `CloudFront-Viewer-Address` read: an address and a port. */
const MAX_ADDRESS_PORT_CHARS = MAX_ADDRESS_CHARS + 8

/**
 * `CloudFront-Viewer-Address`: `198.51.100.10:46532`, and for IPv6 the address and port joined by a colon without
 * brackets (`2001:db8::1:46532`; `[2001:db8::1]:46532` is accepted too). The port is required: without it an IPv6
 * value would be cut in the wrong place.
 */
function readAddressAndPort(value: HeaderValue): string | null {
  const text = typeof value === 'string' ? value : value.length === 1 ? value[0] : undefined
  if (typeof text !== 'string' || text.length > MAX_ADDRESS_PORT_CHARS) return null
  const s = text.trim()
  if (s.charCodeAt(0) === 91 /* [ */) return s.includes(']:') ? parseIp(s) : null
  const colon = s.lastIndexOf(':')
  if (colon === -1 || !/^[0-9]{1,5}$/.test(s.slice(colon + 1)) || Number(s.slice(colon + 1)) > 65535) return null
  const host = s.slice(0, colon)
  const family = isIP(host)
  // The host must be a bare address: not itself carrying a port (`1.2.3.4:80:443`) or a zone id.
  return family === 4 || (family === 6 && !host.includes('%')) ? parseIp(host) : null
}

/** Cloudflare's Pseudo IPv4 addresses are in the Class E space, 240.0.0.0/4. */
function isPseudoIpv4(canonicalIp: string): boolean {
  return !canonicalIp.includes(':') && ipv4ToUint32(canonicalIp) >= 0xf0000000
}

/** The address a platform header states, or `null` when it is absent or unusable. */
function readPlatformHeader(req: RequestLike, name: PlatformHeader): string | null {
  const value = readHeader(req, name)
  if (value === undefined) return null
  if (name === 'cloudfront-viewer-address') return readAddressAndPort(value)
  if (name === 'cf-connecting-ipv6') {
    // Cloudflare sets CF-Connecting-IPv6 in its Pseudo IPv4 "Overwrite Headers" mode, where CF-Connecting-IP holds a
    // Class E stand-in for an IPv6 visitor. Otherwise a visitor's own CF-Connecting-IPv6 could pass through: read it
    // only next to a pseudo address.
    const ipv6 = readSingleAddress(value)
    if (ipv6 === null || !ipv6.includes(':')) return null
    const v4 = readHeader(req, 'cf-connecting-ip')
    const pseudo = v4 === undefined ? null : readSingleAddress(v4)
    return pseudo !== null && isPseudoIpv4(pseudo) ? ipv6 : null
  }
  return readSingleAddress(value)
}

function hasHeaderValue(req: RequestLike, expected: { readonly name: string; readonly value: string }): boolean {
  const value = readHeader(req, expected.name)
  const text = typeof value === 'string' ? value : value?.length === 1 ? value[0] : undefined
  return typeof text === 'string' && text.trim().toLowerCase() === expected.value.toLowerCase()
}

/**
 * Walk a trust chain from the app outwards. `addr` is the hop being looked at (first the socket peer, `null` when the
 * request has none); for each layer, innermost first:
 *
 * 1. `addr` must be one of the layer's addresses (any address for a layer trusted by position), and the layer's
 *    required header must match; otherwise `addr` is the client (the request did not come through this layer).
 * 2. The layer's claim about its own client is the first of its headers holding one usable address, else the entry
 *    it appended to `X-Forwarded-For`. Its `X-Forwarded-For` entries are consumed either way, so that outer layers
 *    read their own. Further entries in the layer's ranges are more hops of the same layer (nginx behind nginx).
 * 3. No usable claim (no header, the start of the list, a malformed entry, `maxHops`): the last address reached is
 *    the client.
 *
 * After the outermost layer, the address it stated is the client. Headers are read only at a layer the request is
 * proven to have come through, so a client that bypasses it cannot choose the answer. The caller has checked the
 * peer against the innermost layer.
 */
function readChain(req: RequestLike, peer: string | null, layers: readonly CompiledLayer[], maxHops: number): ClientIp {
  let addr = peer
  let source: IpSource = 'socket'
  let cursor: ForwardedForCursor | null | undefined
  const nextEntry = (): string | null => {
    if (cursor === undefined) {
      const xff = readHeader(req, 'x-forwarded-for')
      cursor = xff === undefined ? null : new ForwardedForCursor(typeof xff === 'string' ? [xff] : xff, maxHops)
    }
    return cursor === null ? null : cursor.next()
  }
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i] as CompiledLayer
    const match = layer.match
    // The caller already checked the peer against the innermost layer.
    if (i !== 0 && match !== null && (addr === null || !match(addr))) break
    if (layer.requireHeader !== undefined && !hasHeaderValue(req, layer.requireHeader)) break
    let next: string | null = null
    let nextSource: IpSource = 'x-forwarded-for'
    for (const name of layer.headers) {
      next = readPlatformHeader(req, name)
      if (next !== null) {
        nextSource = name
        break
      }
    }
    if (layer.forwardedFor !== 'none') {
      let entry = nextEntry()
      // `append-with-self`: that rightmost entry is the layer's own address; its client is the one before.
      if (entry !== null && layer.forwardedFor === 'append-with-self') entry = nextEntry()
      if (next === null) {
        while (entry !== null && match !== null && match(entry) && layer.forwardedFor === 'append') {
          const further = nextEntry()
          if (further === null) break
          entry = further
        }
        next = entry
      }
    }
    if (next === null) break
    addr = next
    source = nextSource
  }
  return addr === null ? NO_CLIENT_IP : result(addr, source)
}

/** The reader for a platform preset (see {@link createClientIpReader}). */
function createChainReader(
  chain: readonly TrustLayer[],
  maxHops: number,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  // Compiled once; innermost (the layer the app's socket talks to) first.
  const layers: CompiledLayer[] = chain
    .map((layer) => ({
      match: layer.ranges === null ? null : compileCidrList(layer.ranges, 'trustProxy'),
      headers: layer.headers,
      forwardedFor: layer.forwardedFor,
      requireHeader: layer.requireHeader,
    }))
    .reverse()
  const innermost = layers[0] as CompiledLayer
  // As in createClientIpReader: the peer is nearly always the same proxy, so its parse and the innermost layer's
  // verdict are remembered.
  let lastRawPeer: string | undefined
  let lastPeer: string | null = null
  let lastPeerInLayer = false
  // And returning clients send the same header values again: the answer, a pure function of the peer and the values of
  // the headers the chain can read, is remembered in a tree of maps, one level per header (no key is built by
  // concatenation: hashing the fresh header strings is the only work). Bounded by starting over, like the
  // X-Forwarded-For memo of createClientIpReader; a header sent twice (a list) or a long value is not remembered.
  const readable = new Set<string>()
  for (const layer of layers) {
    for (const name of layer.headers) readable.add(name)
    if (layer.headers.includes('cf-connecting-ipv6')) readable.add('cf-connecting-ip')
    if (layer.requireHeader !== undefined) readable.add(layer.requireHeader.name)
    if (layer.forwardedFor !== 'none') readable.add('x-forwarded-for')
  }
  const memoHeaders = [...readable]
  const memoMaxNodes = WALK_MEMO_MAX_ENTRIES * (memoHeaders.length + 1)
  let memo = new Map<unknown, unknown>()
  let memoNodes = 0
  return function readClientIp(req: RequestLike, peerAddress?: string | null): ClientIp {
    if (req === null || typeof req !== 'object') return NO_CLIENT_IP
    const rawPeer = typeof peerAddress === 'string' ? peerAddress : socketAddressOf(req)
    let peer: string | null
    let inLayer: boolean
    if (rawPeer !== undefined && rawPeer === lastRawPeer) {
      peer = lastPeer
      inLayer = lastPeerInLayer
    } else {
      peer = rawPeer === undefined ? null : parseIp(rawPeer)
      inLayer = innermost.match === null || (peer !== null && innermost.match(peer))
      if (rawPeer !== undefined) {
        lastRawPeer = rawPeer
        lastPeer = peer
        lastPeerInLayer = inLayer
      }
    }
    // A layer trusted by position is trusted without a peer address too (a fetch Request on Vercel or Netlify has
    // none): the preset assumes nothing but the platform can reach the app.
    if (!inLayer) return peer === null ? NO_CLIENT_IP : result(peer, 'socket')
    if (memoNodes >= memoMaxNodes) {
      memo = new Map()
      memoNodes = 0
    }
    let level = memo
    let key: unknown = peer ?? ABSENT
    for (const name of memoHeaders) {
      const value = readHeader(req, name)
      if (value !== undefined && (typeof value !== 'string' || value.length > WALK_MEMO_MAX_CHARS)) {
        return readChain(req, peer, layers, maxHops)
      }
      let next = level.get(key) as Map<unknown, unknown> | undefined
      if (next === undefined) {
        next = new Map()
        level.set(key, next)
        memoNodes++
      }
      level = next
      key = value ?? ABSENT
    }
    let known = level.get(key) as ClientIp | undefined
    if (known === undefined) {
      known = Object.freeze(readChain(req, peer, layers, maxHops))
      level.set(key, known)
      memoNodes++
    }
    return known
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------------------------------------

function validateHeaders(value: unknown): readonly OptionalHeader[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    throw new IpRiskConfigError('headers', `must be an array of ${OPTIONAL_HEADERS.join(', ')}`)
  }
  const out: OptionalHeader[] = []
  for (const entry of value as unknown[]) {
    const name = typeof entry === 'string' ? entry.toLowerCase() : entry
    if (name === 'x-forwarded-for') {
      throw new IpRiskConfigError(
        'headers',
        'X-Forwarded-For is always read when trustProxy trusts the peer; do not list it',
      )
    }
    if (!OPTIONAL_HEADERS.includes(name as OptionalHeader)) {
      throw new IpRiskConfigError(
        'headers',
        `unknown header ${JSON.stringify(entry)}; expected ${OPTIONAL_HEADERS.join(', ')}`,
      )
    }
    if (out.includes(name as OptionalHeader)) {
      throw new IpRiskConfigError('headers', `${JSON.stringify(entry)} is listed twice`)
    }
    out.push(name as OptionalHeader)
  }
  return out
}

/**
 * A request object may be broken or hostile: a getter or a Proxy trap (on the request, its socket, its headers or a
 * header's value array) that throws. What it would have said is unknown, so the answer is "no IP" (policies apply
 * their fail mode), never the proxy's own address and never an exception. One try around the whole read, for every
 * reader (trust lists and platform presets alike; V8 optimizes functions with try/catch, and a micro-benchmark of the
 * warm path shows no difference beyond noise).
 */
function neverThrows(
  read: (req: RequestLike, peerAddress: string | null | undefined) => ClientIp,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  return function readClientIp(req: RequestLike, peerAddress?: string | null): ClientIp {
    try {
      return read(req, peerAddress)
    } catch {
      return NO_CLIENT_IP
    }
  }
}

/**
 * Compile the client IP options once and return a fast reader `(req, peerAddress?) => ClientIp`.
 * This is the hot-path API; {@link clientIp} recompiles on every call.
 *
 * How the client IP is chosen:
 * 1. The socket peer: `peerAddress` when it is a string, else `req.socket.remoteAddress`, else `req.remoteAddress`.
 *    None, or one that does not parse, gives `{ ip: null, source: null, kind: null }`.
 * 2. If the peer is not trusted (hop 0), it is the client (`source: 'socket'`). Headers are not even read.
 * 3. Else each header of `headers`, in the order listed: `x-real-ip` / `cf-connecting-ip` when they hold exactly one
 *    valid address; `forwarded` when its walk (like below) reaches at least one valid `for=` address.
 * 4. Else `X-Forwarded-For`, walked from the right through trusted hops (`source: 'x-forwarded-for'`): the first
 *    untrusted hop is the client; a malformed entry, the start of the list or `maxHops` ends the walk at the last
 *    valid address.
 * 5. Else the peer itself (`source: 'socket'`).
 *
 * With a platform preset as `trustProxy` (`platforms.cloudflare()`, ...), steps 2–5 follow the preset's chain: the
 * platform's header is read only at a hop proven to be the platform (in its ranges, or by position), else the entry the
 * platform appended to `X-Forwarded-For`; `headers` must then be unset.
 *
 * The reader never throws; all addresses are canonical (see {@link parseIp}) and classified (see {@link classifyIp}).
 * A request that throws while it is read (a getter or Proxy trap on the request, `socket`, `headers`, a header
 * value, or a `headers.get` that throws) has no client IP: `{ ip: null, source: null, kind: null }`, never the
 * address of the proxy that forwarded it. Headers are read only once the peer is trusted, so an untrusted peer is
 * still the client however its request's headers behave.
 *
 * @throws IpRiskConfigError when an option is invalid (naming `trustProxy`, `headers` or `maxHops`).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * const readIp = createClientIpReader({ trustProxy: 'loopback' }) // nginx on the same host
 * createServer((req, res) => {
 *   const { ip, kind } = readIp(req) // Node: the peer is req.socket.remoteAddress
 *   res.end(`${ip} (${kind})`)
 * })
 * // fetch Request (Bun): pass the peer address alongside
 * // Bun.serve({ fetch: (req, server) => Response.json(readIp(req, server.requestIP(req)?.address)) })
 * ```
 */
export function createClientIpReader(
  options?: ClientIpOptions,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  const opts: ClientIpOptions = options ?? {}
  if (typeof opts !== 'object' || opts === null) {
    throw new IpRiskConfigError('options', 'client IP options must be an object')
  }
  const trustOption = opts.trustProxy ?? false
  const chain = platformChainOf(trustOption, 'trustProxy')
  const trust = chain === null ? compileTrust(trustOption, 'trustProxy') : TRUST_NONE
  const maxHops = opts.maxHops ?? DEFAULT_MAX_HOPS
  if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > MAX_MAX_HOPS) {
    throw new IpRiskConfigError('maxHops', `must be an integer from 1 to ${MAX_MAX_HOPS}, got ${String(maxHops)}`)
  }
  if (chain !== null) {
    if (validateHeaders(opts.headers).length !== 0) {
      throw new IpRiskConfigError('headers', 'a platform preset chooses the headers it reads; remove this option')
    }
    return neverThrows(createChainReader(chain, maxHops))
  }
  if (typeof trustOption === 'number' && trustOption > maxHops) {
    throw new IpRiskConfigError(
      'trustProxy',
      `trusts ${trustOption} hops but only maxHops (${maxHops}) entries are read; raise maxHops`,
    )
  }
  const headers = validateHeaders(opts.headers)
  const trustsNothing = trust === TRUST_NONE
  // Behind a proxy nearly every request comes from the same peer (the proxy): remember the last peer's parse and
  // trust verdict, so the hot path skips both. Only for the trust we compiled ourselves (pure functions of the
  // address); a user's function is asked every time. No library offers this for a single string key without a Map
  // lookup, hence by hand.
  const memoizePeer = typeof trustOption !== 'function'
  let lastRawPeer: string | undefined
  let lastPeer: string | null = null
  let lastPeerTrusted = false
  // Returning clients send the same X-Forwarded-For value again (what makes the L1 cache work): remember the walk's
  // answer per value, so the hot path is one Map read instead of parsing, trusting and classifying each hop. The
  // answer of a walk does not depend on the peer (only on the value and the trust, a pure function here), so the
  // memo is read only once the peer is known to be trusted. Only without optional headers (they would take
  // precedence) and for short values. Bounded by starting over when full: no per-hit bookkeeping (an LRU's reordering
  // is what this avoids), and an attacker rotating values only costs the walk that would have been done anyway.
  const memoizeWalk = memoizePeer && headers.length === 0
  let walks = new Map<string, ClientIp | null>()

  return neverThrows(read)

  function read(req: RequestLike, peerAddress: string | null | undefined): ClientIp {
    if (req === null || typeof req !== 'object') return NO_CLIENT_IP
    const rawPeer = typeof peerAddress === 'string' ? peerAddress : socketAddressOf(req)
    if (rawPeer === undefined) return NO_CLIENT_IP
    let peer: string | null
    let peerTrusted: boolean
    if (rawPeer === lastRawPeer) {
      peer = lastPeer
      peerTrusted = lastPeerTrusted
    } else {
      peer = parseIp(rawPeer)
      peerTrusted = peer !== null && !trustsNothing && trust(peer, 0)
      if (memoizePeer) {
        lastRawPeer = rawPeer
        lastPeer = peer
        lastPeerTrusted = peerTrusted
      }
    }
    if (peer === null) return NO_CLIENT_IP
    if (!peerTrusted) return result(peer, 'socket')

    if (memoizeWalk) {
      const value = readHeader(req, 'x-forwarded-for')
      if (typeof value === 'string' && value.length <= WALK_MEMO_MAX_CHARS) {
        let known = walks.get(value)
        if (known === undefined) {
          const ip = walkList([value], false, peer, trust, maxHops)
          known = ip === null ? null : Object.freeze(result(ip, 'x-forwarded-for'))
          if (walks.size >= WALK_MEMO_MAX_ENTRIES) walks = new Map()
          walks.set(value, known)
        }
        return known ?? result(peer, 'socket')
      }
    }

    for (const name of headers) {
      const value = readHeader(req, name)
      if (value === undefined) continue
      if (name === 'forwarded') {
        const ip = walkList(typeof value === 'string' ? [value] : value, true, peer, trust, maxHops)
        if (ip !== null) return result(ip, 'forwarded')
      } else {
        const ip = readSingleAddress(value)
        if (ip !== null) return result(ip, name)
      }
    }
    const xff = readHeader(req, 'x-forwarded-for')
    if (xff !== undefined) {
      const ip = walkList(typeof xff === 'string' ? [xff] : xff, false, peer, trust, maxHops)
      if (ip !== null) return result(ip, 'x-forwarded-for')
    }
    return result(peer, 'socket')
  }
}

/**
 * The client IP of one request. Convenience for scripts and tests: it compiles the options on every call, so in a
 * server create the reader once with {@link createClientIpReader} (or use the resolver's `clientIp`).
 *
 * @throws IpRiskConfigError when an option is invalid.
 *
 * @example
 * ```ts
 * const req = { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' }, remoteAddress: '10.0.0.1' }
 * clientIp(req, { trustProxy: 'private' })
 * // { ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' }
 * clientIp(new Request('http://localhost/'), { peerAddress: '198.51.100.4' })
 * // { ip: '198.51.100.4', source: 'socket', kind: 'documentation' }
 * ```
 */
export function clientIp(req: RequestLike, options?: ClientIpOptions & { peerAddress?: string | null }): ClientIp {
  return createClientIpReader(options)(req, options?.peerAddress)
}
