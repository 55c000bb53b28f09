/**
 * How a preset is built from its options: every preset is one layer (a platform's ranges, the headers it overwrites,
 * how it writes `X-Forwarded-For`) described by a {@link LayerSpec}, plus the user's own proxies (`behind`).
 *
 * @module
 */
import { compileCidrList } from '../cidr.js'
import type { PlatformHeader, PlatformPreset, TrustLayer } from '../client-ip/types.js'
import { IpRiskConfigError } from '../errors.js'
import { CLOUDFLARE_IP_RANGES } from '../platform-ranges.js'
import type { PlatformOptions, PlatformRanges } from './options.js'
import { definePlatformPreset } from './registry.js'

/** Cloudflare's bundled ranges, both families, as one list (shared by `cloudflare()` and `render()`). @internal */
export const CLOUDFLARE_BUNDLED: readonly string[] = Object.freeze([
  ...CLOUDFLARE_IP_RANGES.ipv4,
  ...CLOUDFLARE_IP_RANGES.ipv6,
])

/** What a preset's platform layer is, and how its options are read. @internal */
export interface LayerSpec<O> {
  /** The headers the platform overwrites with its client's address, most precise first. */
  readonly headers: readonly PlatformHeader[]
  /** How the platform writes `X-Forwarded-For` (see {@link TrustLayer}). */
  readonly forwardedFor: TrustLayer['forwardedFor']
  /** The default ranges (`'any'`: trusted by position); leave out when the user must give them. */
  readonly ranges?: PlatformRanges
  /** When the user must give the ranges: what to give, for the error that says they are missing. */
  readonly required?: string
  /** The option holding the ranges. @default 'ranges' */
  readonly rangesOption?: 'ranges' | 'vpc'
  /** Refuse `'any'`, with this message. */
  readonly anyRefused?: string
  /** Layers the request passes before this one (client side first). */
  readonly before?: readonly TrustLayer[]
  /** The header the request must carry to be believed, from the (checked) options. */
  readonly requireHeader?: (options: Partial<O>) => TrustLayer['requireHeader']
}

/**
 * Build and register the preset `name` from the user's options: the platform's layer as `spec` says, then the own
 * proxies of `behind` nearest the app.
 *
 * @throws IpRiskConfigError naming `platforms.<name>.<option>` for missing or unparsable options.
 * @internal
 */
export function layerPreset<O extends PlatformOptions>(
  name: string,
  options: O | undefined,
  spec: LayerSpec<O>,
): PlatformPreset {
  const o = optionsOf(options, name, spec.required !== undefined)
  const option = `platforms.${name}.${spec.rangesOption ?? 'ranges'}`
  const given = (o as Record<string, unknown>)[spec.rangesOption ?? 'ranges']
  const ranges = rangesOf(given, option, spec.ranges, spec.required ?? null)
  if (ranges === null && spec.anyRefused !== undefined) throw new IpRiskConfigError(option, spec.anyRefused)
  const layer: TrustLayer = {
    name,
    ranges,
    headers: spec.headers,
    forwardedFor: spec.forwardedFor,
    requireHeader: spec.requireHeader?.(o),
  }
  return withBehind(name, [...(spec.before ?? []), layer], o)
}

/**
 * `platforms.reverseProxy`'s layer: your own proxies, at `ranges` (default `'loopback'`), never `'any'`.
 * @internal
 */
export function reverseProxyPreset(options: { ranges?: string | readonly string[] } | undefined): PlatformPreset {
  const o = optionsOf(options, 'reverseProxy', false)
  const ranges = rangesOf(o.ranges, 'platforms.reverseProxy.ranges', 'loopback', null)
  if (ranges === null) {
    throw new IpRiskConfigError(
      'platforms.reverseProxy.ranges',
      "must be your proxies' addresses; 'any' would trust every peer",
    )
  }
  return definePlatformPreset('reverseProxy', [ownProxies(ranges)], 'platforms.reverseProxy.ranges')
}
/** A preset's options object (`{}` when optional and absent). */
function optionsOf<T extends object>(value: T | undefined, preset: string, required: boolean): Partial<T> {
  if (value === undefined && !required) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IpRiskConfigError(
      `platforms.${preset}`,
      `options must be an object${required ? ' (they are required)' : ''}`,
    )
  }
  return value
}

/** `ranges` as a layer wants it: `null` for `'any'` (trusted by position). */
function rangesOf(
  value: unknown,
  option: string,
  fallback: PlatformRanges | undefined,
  required: string | null,
): string | readonly string[] | null {
  if (value === undefined) {
    if (fallback !== undefined) return fallback === 'any' ? null : fallback
    throw new IpRiskConfigError(option, `is required: ${required ?? ''}`)
  }
  if (typeof value === 'string' && value.trim().toLowerCase() === 'any') return null
  if (typeof value === 'string') {
    compileCidrList(value, option) // a bad entry is reported under the option it was written in
    return value
  }
  if (Array.isArray(value)) {
    if (value.some((entry) => typeof entry === 'string' && entry.trim().toLowerCase() === 'any')) {
      throw new IpRiskConfigError(option, "'any' stands alone; it cannot be part of a list")
    }
    compileCidrList(value as readonly string[], option)
    return value as readonly string[]
  }
  throw new IpRiskConfigError(
    option,
    `must be a string or an array of strings (addresses, CIDR ranges, 'any'), got ${value === null ? 'null' : typeof value}`,
  )
}

/** The layer of your own reverse proxies. @internal */
export function ownProxies(ranges: string | readonly string[]): TrustLayer {
  return { name: 'reverseProxy', ranges, headers: [], forwardedFor: 'append' }
}

/** Register `layers` (client side first), with the own proxies of `behind` nearest the app. */
function withBehind(name: string, layers: TrustLayer[], options: PlatformOptions): PlatformPreset {
  const behind = (options as { behind?: unknown }).behind
  if (behind === undefined) return definePlatformPreset(name, layers, `platforms.${name}`)
  if (typeof behind !== 'string' && !Array.isArray(behind)) {
    throw new IpRiskConfigError(
      `platforms.${name}.behind`,
      'must be a string or an array of strings (addresses, CIDR ranges, range names)',
    )
  }
  // Validate under the option's own name first, so a bad entry is reported where it was written.
  compileCidrList(behind, `platforms.${name}.behind`)
  return definePlatformPreset(`${name}+reverseProxy`, [...layers, ownProxies(behind)], `platforms.${name}`)
}

/** Cloudflare's layer (also Render's edge). @internal */
export function cloudflareLayer(ranges: string | readonly string[] | null): TrustLayer {
  return { name: 'cloudflare', ranges, headers: ['cf-connecting-ipv6', 'cf-connecting-ip'], forwardedFor: 'append' }
}
