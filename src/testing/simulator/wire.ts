/**
 * The simulator's HTTP wire format: which route a request target names (both API styles), and the JSON answers in the
 * flat and nested shapes.
 *
 * @module
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { RiskData } from '../../core/types.js'

/** Which API route a request matched: the path style `/v1/ip/{ip}` or the query style `/v1/lookup?ip=`. */
export type RouteStyle = 'path' | 'query'

/** The answer shape a simulator was asked for (see `IpasisSimulatorOptions.shape`). */
export type ShapeOption = 'auto' | 'flat' | 'nested'

/**
 * The route of a raw request target under `basePath`: its style and the IP it names (`null` when the IP is missing,
 * repeated or not decodable), or `null` for a path the API does not serve.
 */
export function parseRoute(rawUrl: string, basePath: string): { style: RouteStyle; ip: string | null } | null {
  if (!rawUrl.startsWith(`${basePath}/v1/`)) return null
  const rest = rawUrl.slice(basePath.length)
  const pathMatch = /^\/v1\/ip\/([^/?#]*)$/.exec(rest)
  if (pathMatch) return { style: 'path', ip: decode(pathMatch[1] ?? '') }
  const queryMatch = /^\/v1\/lookup\?([^#]*)$/.exec(rest)
  if (queryMatch) {
    const values = new URLSearchParams(queryMatch[1] ?? '').getAll('ip')
    return { style: 'query', ip: values.length === 1 ? (values[0] ?? null) : null }
  }
  if (/^\/v1\/(?:ip\/|lookup(?:\?|$))/.test(rest)) return { style: rest.startsWith('/v1/ip/') ? 'path' : 'query', ip: null }
  return null
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}

/** Send `body` as JSON with this status (and extra headers), with an exact `content-length`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** A profile in the API's wire format; fields absent from the profile are absent from the answer. */
export function toWire(data: Partial<RiskData>, ip: string, shape: 'flat' | 'nested'): Record<string, unknown> {
  if (shape === 'flat') {
    const out: Record<string, unknown> = {}
    if (data.score !== undefined) out.risk_score = data.score
    if (data.isVpn !== undefined) out.is_vpn = data.isVpn
    if (data.isProxy !== undefined) out.is_proxy = data.isProxy
    if (data.isTor !== undefined) out.is_tor = data.isTor
    if (data.isDatacenter !== undefined) out.is_datacenter = data.isDatacenter
    if (data.countryCode !== undefined) out.country_code = data.countryCode
    if (data.asn !== undefined) out.asn = data.asn
    if (data.isp !== undefined) out.isp = data.isp
    return out
  }
  const out: Record<string, unknown> = { ip }
  if (data.score !== undefined) out.risk_score = data.score
  const privacy: Record<string, unknown> = {}
  if (data.isVpn !== undefined) privacy.vpn = data.isVpn
  if (data.isProxy !== undefined) privacy.proxy = data.isProxy
  if (data.isTor !== undefined) privacy.tor = data.isTor
  if (data.isDatacenter !== undefined) privacy.hosting = data.isDatacenter
  if (Object.keys(privacy).length > 0) out.privacy = privacy
  if (data.asn !== undefined || data.isp !== undefined) {
    const asn: Record<string, unknown> = {}
    if (data.asn !== undefined) asn.asn = data.asn === null ? null : `AS${data.asn}`
    if (data.isp !== undefined) asn.name = data.isp
    out.asn = asn
  }
  if (data.countryCode !== undefined) out.country = data.countryCode === null ? null : { code: data.countryCode.toLowerCase() }
  return out
}

/** The wire shape of an answer: the configured one, or with `'auto'` flat for the path style and nested for the query style. */
export function wireShape(shape: ShapeOption, style: RouteStyle): 'flat' | 'nested' {
  if (shape !== 'auto') return shape
  return style === 'path' ? 'flat' : 'nested'
}

/** The API keys a request carries: `Authorization: Bearer <key>` and `X-API-Key: <key>` (first value). */
export interface RequestKeys {
  readonly bearer: string | undefined
  readonly xKey: string | undefined
}

/** Read the API keys of a request's headers. */
export function readKeys(headers: IncomingHttpHeaders): RequestKeys {
  const bearer = /^Bearer (.+)$/i.exec(headers.authorization ?? '')?.[1]
  const headerKey = headers['x-api-key']
  return { bearer, xKey: Array.isArray(headerKey) ? headerKey[0] : headerKey }
}

/** Which auth header carried a key (the bearer token wins), or `null`. */
export function authKind(keys: RequestKeys): 'bearer' | 'x-api-key' | null {
  return keys.bearer !== undefined ? 'bearer' : keys.xKey !== undefined ? 'x-api-key' : null
}

/** What a simulator accepts as a key (see `IpasisSimulatorOptions`). */
export interface KeyPolicy {
  readonly apiKey: string
  readonly auth: 'any' | 'bearer' | 'x-api-key'
  readonly acceptAnyKey: boolean
}

/** Whether an accepted header carries the key (or, with `acceptAnyKey`, any non-empty key). */
export function keyAccepted(keys: RequestKeys, policy: KeyPolicy): boolean {
  const { bearer, xKey } = keys
  const ok = (key: string): boolean => key === policy.apiKey || policy.acceptAnyKey
  return (
    (policy.auth !== 'x-api-key' && bearer !== undefined && ok(bearer)) ||
    (policy.auth !== 'bearer' && xKey !== undefined && xKey !== '' && ok(xKey))
  )
}
