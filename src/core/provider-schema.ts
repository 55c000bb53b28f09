/**
 * Internal helpers of the IPASIS provider: the tolerant response schema, the canonical-IP check that guards the
 * upstream URL, and the `Retry-After` parser. Not part of the public API (not re-exported by `src/core/index.ts`);
 * `src/testing` imports the IP check so that the simulator and the provider agree on what a valid IP is.
 *
 * @module
 * @internal
 */
import { isIP, isIPv4 } from './ip-address.js'
import ipaddr from 'ipaddr.js'
import * as z from 'zod'
import type { RiskData } from './types.js'
import { quoteForError } from './errors.js'

// ---------------------------------------------------------------------------------------------------------------------
// Canonical IP
// ---------------------------------------------------------------------------------------------------------------------

/**
 * True when `ip` is an IP address written in its canonical form: dotted IPv4 without leading zeros, or lower-case
 * RFC 5952 compressed IPv6 without a zone (`%eth0`). This is the only text the provider ever puts into a URL.
 *
 * `net.isIP` (17 ns) rejects nearly everything first; the IPv6 round trip through ipaddr.js (~1 µs) only runs for
 * strings that already are IPv6 addresses, and only on cache misses.
 *
 * @example
 * ```ts
 * isCanonicalIp('203.0.113.7')          // true
 * isCanonicalIp('2001:db8::1')          // true
 * isCanonicalIp('2001:DB8:0::1')        // false: not canonical
 * isCanonicalIp('fe80::1%eth0')         // false: zone identifiers are never sent upstream
 * isCanonicalIp('1.2.3.4/../../admin')  // false
 * ```
 */
export function isCanonicalIp(ip: unknown): ip is string {
  if (typeof ip !== 'string') return false
  const family = isIP(ip)
  if (family === 4) return true // node's isIPv4 already refuses leading zeros, octal and short forms
  if (family !== 6 || ip.includes('%')) return false
  try {
    return ipaddr.IPv6.parse(ip).toRFC5952String() === ip
  } catch {
    return false
  }
}

/**
 * The canonical form (as {@link isCanonicalIp} defines it) of an IP address in any notation `net.isIP` accepts, or
 * `null` (zone identifiers included). IPv4-mapped IPv6 stays IPv6 (`::ffff:102:304`): unmapping is the client-IP
 * module's job, not the provider's.
 */
export function canonicalIp(ip: string): string | null {
  if (typeof ip !== 'string') return null
  if (isIPv4(ip)) return ip
  if (isIP(ip) !== 6 || ip.includes('%')) return null
  try {
    return ipaddr.IPv6.parse(ip).toRFC5952String()
  } catch {
    return null
  }
}

/**
 * A short, JSON-escaped and truncated rendering of untrusted text for an error message: control characters (CR/LF)
 * are escaped so the text cannot forge log lines.
 */
export function describeUntrusted(value: unknown): string {
  return typeof value === 'string' ? quoteForError(value, 64) : typeof value
}

// ---------------------------------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The longest back-off a `Retry-After` may impose (1 h): a misbehaving upstream cannot silence the provider for days.
 * The one definition: {@link parseRetryAfter} caps what IPASIS sends, {@link retryAfterOf} what any provider rejects with.
 */
export const MAX_RETRY_AFTER_MS = 3_600_000

/**
 * The back-off a rejected lookup asks for: its `retryAfterMs` when that is a positive finite number, capped at
 * {@link MAX_RETRY_AFTER_MS} (a custom provider's `ProviderError` was not made by {@link parseRetryAfter}), else
 * `undefined`. @internal
 */
export function retryAfterOf(error: unknown): number | undefined {
  const ms = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined
}

/**
 * Parse a `Retry-After` header (RFC 9110 §10.2.3): delta-seconds or an HTTP date. Returns milliseconds from `now`,
 * clamped to `[0, MAX_RETRY_AFTER_MS]`, or `undefined` when the header is absent or unreadable.
 *
 * @example
 * ```ts
 * parseRetryAfter('120')                                 // 120000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)  // ms until then, 0 if past
 * ```
 */
export function parseRetryAfter(header: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header
  if (raw === undefined) return undefined
  const value = raw.trim()
  if (value === '') return undefined
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS)
  // Only HTTP dates (IMF-fixdate and the two obsolete forms all contain a day name or a month name and "GMT"-ish
  // text); Date.parse is lenient, so insist on at least a letter to refuse things like "-5" or "1.5".
  if (!/[A-Za-z]/.test(value)) return undefined
  const at = Date.parse(value)
  if (Number.isNaN(at)) return undefined
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS)
}

// ---------------------------------------------------------------------------------------------------------------------
// Response schema
// ---------------------------------------------------------------------------------------------------------------------

const score = z.number().min(0).max(100) // zod 4 numbers refuse NaN and ±Infinity (JSON `1e999`)
const flag = z.boolean()
const asnNumber = z.number().int().min(0).max(4_294_967_295)
const asnString = z.string().regex(/^\s*(?:AS)?\d{1,10}\s*$/i)
const asnValue = z.union([asnNumber, asnString])
/** ISO 3166-1 alpha-2 in any case, or empty (unknown). */
const countryCode = z.string().regex(/^\s*(?:[A-Za-z]{2})?\s*$/)
const text = z.string()

/**
 * One tolerant schema for both answers IPASIS has been seen giving:
 *
 * - the integration guide's flat shape, `GET /v1/ip/{ip}`:
 *   `{ risk_score, is_vpn, is_proxy, is_tor, is_datacenter, country_code, asn, isp }`
 * - the nested shape of `GET /v1/lookup?ip=`:
 *   `{ ip, risk_score, privacy: { vpn, proxy, tor, hosting }, asn: { asn, name } | "AS15169" | 15169, country: "US" | { code } }`
 *
 * Every field may be absent or `null` (then it is `null` in {@link RiskData}); a present field of the wrong type or out
 * of range fails the parse. Unknown keys are ignored.
 */
export const ipasisResponseSchema = z.object({
  risk_score: score.nullish(),
  is_vpn: flag.nullish(),
  is_proxy: flag.nullish(),
  is_tor: flag.nullish(),
  is_datacenter: flag.nullish(),
  country_code: countryCode.nullish(),
  isp: text.nullish(),
  asn: z.union([asnValue, z.object({ asn: asnValue.nullish(), name: text.nullish() })]).nullish(),
  privacy: z
    .object({ vpn: flag.nullish(), proxy: flag.nullish(), tor: flag.nullish(), hosting: flag.nullish() })
    .nullish(),
  country: z.union([countryCode, z.object({ code: countryCode.nullish() })]).nullish(),
})

type IpasisResponse = z.infer<typeof ipasisResponseSchema>

const RECOGNIZED_KEYS = [
  'risk_score',
  'is_vpn',
  'is_proxy',
  'is_tor',
  'is_datacenter',
  'country_code',
  'isp',
  'asn',
  'privacy',
  'country',
] as const

/** Why a body could not be read as an IPASIS answer (never contains body text). */
export class IpasisSchemaError extends Error {
  override name = 'IpasisSchemaError'
}

/**
 * Validate and normalize a parsed IPASIS JSON body into {@link RiskData}. Throws {@link IpasisSchemaError} when the body
 * is not an object, is an error object (a truthy `error` member, e.g. `{ "error": "quota exceeded", "risk_score": 0 }`
 * with a 200: its fields are placeholders, not a verdict), carries none of the known fields (e.g. `{}`), or has a field
 * of the wrong type; the message names the offending field paths only. (A body with known fields but no verdict, such
 * as `{ "risk_score": null }`, parses here; the resolver refuses it as a `bad_response`, for every provider.)
 */
export function parseIpasisBody(body: unknown): RiskData {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new IpasisSchemaError('the response body is not a JSON object')
  }
  if ((body as { error?: unknown }).error) {
    throw new IpasisSchemaError('the response body is an error object (its `error` member is set)')
  }
  if (!RECOGNIZED_KEYS.some((key) => Object.hasOwn(body, key))) {
    throw new IpasisSchemaError('the response body has none of the known fields')
  }
  const result = ipasisResponseSchema.safeParse(body)
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((issue) => issue.path.join('.') || '(root)'))]
    throw new IpasisSchemaError(`unexpected type or value for ${fields.slice(0, 5).join(', ')}`)
  }
  return normalize(result.data)
}

function normalize(r: IpasisResponse): RiskData {
  const privacy = r.privacy ?? null
  let asn: number | null = null
  let asnName: string | null = null
  if (typeof r.asn === 'number' || typeof r.asn === 'string') {
    asn = asnToNumber(r.asn)
  } else if (r.asn) {
    asn = r.asn.asn == null ? null : asnToNumber(r.asn.asn)
    asnName = nonEmpty(r.asn.name)
  }
  const country = typeof r.country === 'string' ? r.country : (r.country?.code ?? null)
  return {
    score: r.risk_score ?? null,
    isVpn: r.is_vpn ?? privacy?.vpn ?? null,
    isProxy: r.is_proxy ?? privacy?.proxy ?? null,
    isTor: r.is_tor ?? privacy?.tor ?? null,
    isDatacenter: r.is_datacenter ?? privacy?.hosting ?? null,
    countryCode: normalizeCountry(r.country_code) ?? normalizeCountry(country),
    asn,
    isp: nonEmpty(r.isp) ?? asnName,
  }
}

/** `15169`, `'15169'`, `'AS15169'`, `'as15169'` → 15169. AS 0 is reserved (RFC 7607): APIs use it for "unknown" → null. */
function asnToNumber(value: number | string): number | null {
  const n = typeof value === 'number' ? value : Number(value.trim().replace(/^AS/i, ''))
  if (!Number.isSafeInteger(n) || n > 4_294_967_295) {
    throw new IpasisSchemaError('unexpected type or value for asn')
  }
  return n === 0 ? null : n
}

function normalizeCountry(value: string | null | undefined): string | null {
  if (value == null) return null
  const code = value.trim()
  return code === '' ? null : code.toUpperCase()
}

function nonEmpty(value: string | null | undefined): string | null {
  if (value == null) return null
  const trimmed = value.trim()
  return trimmed === '' ? null : trimmed
}
