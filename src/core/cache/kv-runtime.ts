/**
 * Where a `redis://` URL cannot work, said at start-up: Cloudflare Workers and the Vercel Edge runtime. iprisk loads
 * `@keyv/redis` (node-redis, over TCP sockets) with a run-time import that a bundle cannot contain, and the Edge runtime
 * has no TCP sockets at all; without this check the resolver started, warned "run `npm install @keyv/redis`" (which
 * does not help there) and ran without its shared cache.
 *
 * @internal
 * @module
 */

import { IpRiskConfigError } from '../errors.js'

/** The runtime's name when it is one where `redis://` cannot work, else `undefined`. @internal */
export function runtimeWithoutRedis(): string | undefined {
  const g = globalThis as { navigator?: { userAgent?: unknown }; EdgeRuntime?: unknown }
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'Cloudflare Workers'
  if (typeof g.EdgeRuntime === 'string') return 'the Vercel Edge runtime'
  return undefined
}

/**
 * Throw an {@link IpRiskConfigError} naming `option` on a runtime where a `redis://` URL cannot work, naming what can:
 * a Workers KV namespace through `workersKvStore`, or any Keyv over an HTTP store. @internal
 */
export function assertRedisRuntime(option: string, runtime: string | undefined = runtimeWithoutRedis()): void {
  if (runtime === undefined) return
  throw new IpRiskConfigError(
    option,
    `a redis:// URL cannot work on ${runtime} (node-redis needs TCP sockets and a run-time import the bundle cannot hold): ` +
      'pass a shared store over HTTP instead, e.g. `cache: workersKvStore(env.IPRISK_KV)` on Workers, or a Keyv on an HTTP ' +
      'Redis such as Upstash (see docs/runtimes.md, "The shared cache")',
  )
}
