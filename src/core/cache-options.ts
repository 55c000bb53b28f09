/**
 * The `cache` option of `createRiskResolver` (L1, L2 and the fleet features that ride on a Redis L2), kept apart from
 * option-types.ts, which re-exports it.
 *
 * @module
 */
import type { KeyvLike } from './cache.js'

/**
 * Cache settings. Answers are kept in an in-process LRU (L1) and, when `l2` is set, in a shared store (L2) so that a
 * fleet of instances scores each IP once and shares the automatic blocklist.
 *
 * @example
 * ```ts
 * createRiskResolver({
 *   provider,
 *   cache: { l2: 'redis://10.0.0.5:6379/2', ttlSeconds: 600, l1: { max: 100_000 } },
 * })
 * // shorthand for { l2: ... }:
 * createRiskResolver({ provider, cache: 'redis://10.0.0.5:6379' })
 * createRiskResolver({ provider, cache: 'redis+cluster://10.0.0.5:7000,10.0.0.6:7000' }) // or redis+sentinel://…/mymaster
 * ```
 */
export interface CacheOptions {
  /**
   * In-process LRU. `max` bounds the number of IP keys held (about 0.5 KB each). `false` disables L1 (every lookup
   * goes to L2 or the provider, failures are not remembered); only useful for tests.
   * @default { max: 50_000 }
   */
  l1?: { max?: number } | false
  /**
   * Shared store: a URL (needs the optional package `@keyv/redis`): `redis://[user:password@]host[:port][/db]`,
   * `valkey://…`, `redis+cluster://host:port,host:port` or `redis+sentinel://host:26379,host:26379/mymaster[/db]`
   * (`rediss`, `valkeys` for TLS; one round trip per read on each), or any Keyv (not on keyv's unbounded `Map`).
   * @default undefined (L1 only)
   */
  l2?: string | KeyvLike
  /** How long a scored answer is fresh, in both tiers (the guide's 5 minutes). @default 300 */
  ttlSeconds?: number
  /**
   * Freshness of a *flagged* answer (VPN, proxy, Tor or datacenter, or a score of 50 or more) when you want it to
   * differ, e.g. longer to save quota on known-bad traffic.
   * @default ttlSeconds
   */
  flaggedTtlSeconds?: number
  /**
   * How long after it expires an answer is kept to be served when the provider fails (`source: 'stale'`). 0 turns
   * stale-on-error off.
   * @default 3600
   */
  staleSeconds?: number
  /**
   * How long a failed lookup is remembered (in L1) and answered again without calling the provider, so that an outage
   * does not turn every request into a retry. 0 turns it off.
   * @default 10
   */
  failureTtlSeconds?: number
  /**
   * IPv6 addresses are cached (and blocklisted) by this prefix length, so that a client rotating addresses inside its
   * allocation cannot bust the cache; the full address is still what the provider scores. 32–128.
   * @default 64
   */
  ipv6Prefix?: number
  /** Time budget of one L2 read, in ms. Past it the read counts as a miss (and as a failure for the L2 breaker). @default 50 */
  l2TimeoutMs?: number
  /** First segment of L2 keys (`<prefix>:2:{<ip>}:<provider>`), to separate applications or environments sharing one Redis. @default 'iprisk' */
  prefix?: string
  /**
   * Fleet-wide single flight, with a Redis L2: of the instances that miss L1 and L2 for one IP at once, one takes a
   * lease of this many ms in Redis (renewed while its call runs) and asks the provider; the others wait (at most half
   * of `budget.timeoutMs`) for its answer, and take over if it dies. Costs one Redis round trip per L2 miss (never on
   * a hit), plus short polls for an instance that waits. `false` turns it off. Redis failing or slow never fails a
   * lookup: it then runs without a lease. 10–60000 (docs/fleet.md).
   * @default a third of `budget.timeoutMs` (500) with a `redis://` L2; off without L2
   *
   * @example
   * ```ts
   * createRiskResolver({ provider, cache: { l2: 'redis://10.0.0.5:6379', leaseMs: 300 } })
   * ```
   */
  leaseMs?: number | false
  /**
   * Block propagation: blocks, unblocks and automatic blocks reach every instance's L1 in ms (a Redis stream), not
   * after `ttlSeconds`; `true` needs `l2` (docs/fleet.md).
   * @default true when `l2` is Redis (a URL or a Keyv on `@keyv/redis`)
   *
   * @example
   * ```ts
   * createRiskResolver({ provider, cache: { l2: 'redis://10.0.0.5:6379', propagateBlocks: false } })
   * ```
   */
  propagateBlocks?: boolean
}
