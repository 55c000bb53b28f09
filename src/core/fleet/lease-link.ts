/**
 * The resolver's fleet lease (lease.ts), wired: built when `cache.leaseMs` is on, speaking through a
 * {@link RedisLink}.
 *
 * The link is the resolver's own, on the connection its L2 reads through (`SharedTier.connectedLink()`): a Redis URL
 * of any topology. A Keyv passed by the application gives none: the lease writes answers under iprisk's own keys,
 * which such a store (its own namespace and serializer) would not read.
 *
 * @internal
 * @module
 */
import type { Clock } from '../clock.js'
import type { Reporter } from '../events.js'
import type { ResolvedOptions } from '../options.js'
import { FleetLease } from './lease.js'
import type { RedisLink } from './link.js'

/** The lease of a resolver and how to close it, or `undefined` when `cache.leaseMs` is off. @internal */
export function createResolverLease(
  opts: ResolvedOptions,
  reporter: Reporter,
  clock: Clock,
  link?: () => RedisLink | undefined,
): { lease: FleetLease; close(): void } | undefined {
  if (opts.leaseMs === 0 || opts.l2 === undefined) return undefined
  if (link === undefined) {
    reporter.configError(
      'cache.leaseMs',
      'a fleet lease needs a redis:// URL as `cache.l2` (a Keyv instance gives no Redis connection to take it on); each instance asks the provider on its own',
    )
    return undefined
  }
  const options = { prefix: opts.prefix, providerName: opts.provider.name, leaseMs: opts.leaseMs, l2TimeoutMs: opts.l2TimeoutMs, waitMs: Math.floor(opts.timeoutMs / 2) }
  const lease = new FleetLease(link, options, clock)
  return {
    lease,
    close() {
      lease.close()
    },
  }
}
