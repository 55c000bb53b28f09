/**
 * `iprisk`: IP risk scoring for Node APIs. Create one resolver per process, then use it through an adapter
 * (`iprisk/trpc`, `iprisk/envelop`) or directly.
 *
 * The public surface is small on purpose (issue #16: at most 30 names, checked by `test/docs/public-surface.test.ts`
 * and written down in `etc/iprisk.api.md`). Types that are part of an answer or an option but not exported by name
 * are reached through the exported ones, e.g. `RiskResolverOptions['cache']`, `Decision['reason']`,
 * `IpRisk['error']`. Everything else in `src/core/` is internal: tests import it from its module.
 *
 * @example
 * ```ts
 * import { createRiskResolver, ipasis, policies } from 'iprisk'
 *
 * const risk = createRiskResolver({ provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }), trustProxy: 'loopback' })
 * const decision = risk.check(await risk.fromRequest(req), policies.human)
 * ```
 *
 * @packageDocumentation
 */

// The resolver: the one engine every adapter uses.
export { createRiskResolver } from './resolver.js'
export type { RiskResolver } from './types.js'
export type { RiskResolverOptions } from './resolver.js'

// Answers, policies and decisions.
export type { IpRisk, Policy, Decision } from './types.js'
export { policies } from './policy.js'

// Providers: IPASIS by default, or your own.
export { ipasis, type IpasisOptions } from './provider.js'
export type { Provider, RiskData } from './types.js'

// The client IP: trust settings, platform presets, and the reader for code that has no resolver.
export { platforms } from './platforms.js'
export { createClientIpReader, type TrustProxy } from './ip.js'
export type { ClientIp, RequestLike } from './types.js'

// The shared cache where redis:// cannot work (Cloudflare Workers): a Workers KV namespace.
export { workersKvStore } from './cache/kv-store.js'

// Observability: events, logs, metrics, health.
export type { SecurityEvent, Logger } from './events.js'
export type { DegradedEvent, ResolverStatus } from './self-check.js'
export { metricNames } from './metrics.js'

// Errors.
export { IpRiskError, IpRiskConfigError, ProviderError, IpRiskBlockedError } from './errors.js'
export { IpRiskProbeError } from './self-check.js'

// Time.
export type { Clock } from './clock.js'
