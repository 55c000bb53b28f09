/**
 * The registry of platform presets: a preset is plain frozen data, and only those made here are accepted as
 * `trustProxy` (a look-alike object is refused), so a preset's layers are known to have been checked.
 *
 * @module
 */
import { compileCidrList } from '../cidr.js'
import type { PlatformPreset, TrustLayer } from '../client-ip/types.js'
import { IpRiskConfigError } from '../errors.js'

/** Presets made by {@link definePlatformPreset}: only these are accepted as `trustProxy`, not look-alike objects. */
const PRESETS = new WeakSet<object>()

/**
 * Freeze and register a preset: the chain of layers a request travels through, client side first. Each layer's ranges
 * are checked here, once, so a bad range fails where the preset is made. @internal
 */
export function definePlatformPreset(platform: string, layers: readonly TrustLayer[], optionName: string): PlatformPreset {
  // Layers are built by the functions below from typed literals (and hand-made presets are refused through
  // `PRESETS`), so only the user's ranges need checking.
  const frozen: TrustLayer[] = []
  for (const layer of layers) {
    if (layer.ranges !== null) compileCidrList(layer.ranges, optionName)
    frozen.push(
      Object.freeze({
        name: layer.name,
        ranges:
          typeof layer.ranges === 'string' || layer.ranges === null ? layer.ranges : Object.freeze([...layer.ranges]),
        headers: Object.freeze([...layer.headers]),
        forwardedFor: layer.forwardedFor,
        requireHeader:
          layer.requireHeader === undefined
            ? undefined
            : Object.freeze({ name: layer.requireHeader.name.toLowerCase(), value: layer.requireHeader.value }),
      }),
    )
  }
  const preset: PlatformPreset = Object.freeze({ platform, layers: Object.freeze(frozen) })
  PRESETS.add(preset)
  return preset
}

/**
 * The layers of a preset or a list of presets (client side first), `null` for any other `trustProxy` value. Read by
 * the client-IP reader (ip.ts); not part of the package's API.
 *
 * @internal
 */
export function platformChainOf(trust: unknown, optionName: string): readonly TrustLayer[] | null {
  if (typeof trust !== 'object' || trust === null) return null
  if (!Array.isArray(trust)) {
    if (PRESETS.has(trust)) return (trust as PlatformPreset).layers
    if ('layers' in trust && 'platform' in trust) {
      throw new IpRiskConfigError(optionName, 'is not a preset made by `platforms` (presets cannot be written by hand)')
    }
    return null
  }
  const list = trust as readonly unknown[]
  const presets = list.filter((item) => typeof item === 'object' && item !== null && PRESETS.has(item))
  if (presets.length === 0) return null
  if (presets.length !== list.length) {
    throw new IpRiskConfigError(
      optionName,
      'mixes platform presets with other entries; give your own proxies as platforms.reverseProxy({ ranges }) in the list, or as a preset\'s `behind` option',
    )
  }
  return (presets as PlatformPreset[]).flatMap((preset) => preset.layers)
}
