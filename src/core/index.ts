export * from './types.js'
export { IpRiskBlockedError, IpRiskConfigError, IpRiskError, ProviderError } from './errors.js'
export * from './provider.js'
export * from './policy.js'
export * from './events.js'
export * from './metrics.js'
export {
  classifyIp,
  clientIp,
  compileTrust,
  createClientIpReader,
  parseIp,
  type ClientIpOptions,
  type PlatformHeader,
  type PlatformPreset,
  type TrustLayer,
  type TrustProxy,
} from './ip.js'
// cidr.ts also holds internals (NAT64 prefixes, client location): only these two are public.
export { cacheKeyForIp, compileCidrList } from './cidr.js'
export {
  IpRiskProbeError,
  NO_VERDICT_MIN_DECISIONS,
  NO_VERDICT_SHARE,
  PROBE_IP,
  PROBE_TIMEOUT_MS,
  PROVIDER_FAILING_MIN_CALLS,
  SELF_CHECK_WINDOW_MS,
  type DegradedEvent,
  type DegradedEventHook,
  type DegradedKind,
  type ProbeErrorKind,
  type ReadyOptions,
  type ResolverStatus,
} from './self-check.js'
export {
  platforms,
  CLOUDFLARE_IP_RANGES,
  CLOUDFLARE_RANGES_MAX_AGE_DAYS,
  GOOGLE_FRONT_END_RANGES,
  type AwsAlbOptions,
  type AzureFrontDoorOptions,
  type PlatformOptions,
  type PlatformRanges,
  type PlatformRangesOptions,
  type PublishedRanges,
  type RequiredRangesOptions,
  type ReverseProxyOptions,
} from './platforms.js'
export { CACHE_KEY_VERSION, blockCacheKey, riskCacheKey, type KeyvLike } from './cache.js'
export {
  createRiskResolver,
  resolverDefaults,
  FLAGGED_SCORE,
  unscoredRisk,
  type BlocklistOptions,
  type BreakerOptions,
  type BudgetOptions,
  type CacheOptions,
  type DevelopmentOptions,
  type ListOptions,
  type NetworkShareOptions,
  type RiskResolverOptions,
} from './resolver.js'
