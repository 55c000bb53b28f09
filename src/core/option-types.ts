/**
 * The public options of `createRiskResolver`: their types, with every default documented once here, and
 * {@link resolverDefaults}. Validated by options.ts.
 *
 * @module
 */
import type { KeyvLike } from './cache.js'
import type { CacheOptions } from './cache-options.js'
import type { Clock } from './clock.js'
import type { ObservabilityOptions } from './events.js'
import type { ClientIpOptions, TrustProxy } from './ip.js'
import type { FleetBudgetOptions } from './fleet/budget-options.js'
import type { FailMode, Provider } from './types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Public option types
// ---------------------------------------------------------------------------------------------------------------------

export type { CacheOptions } from './cache-options.js'

/**
 * Limits on upstream (provider) calls: how long a lookup may take and how many calls may run.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, budget: { timeoutMs: 800, maxInFlight: 32, maxPerMinute: 6_000 } })
 * ```
 */
export interface BudgetOptions {
  /**
   * Whole-lookup budget in ms (L2 read and provider call together): past it the provider call is aborted and the
   * answer is `unavailable` / `timeout` (or stale data).
   * @default 1500
   */
  timeoutMs?: number
  /**
   * Provider calls in flight at once. Past it a lookup answers `unavailable` / `budget_exceeded` at once: never a
   * queue. Bounds the quota an IP-rotating attacker can burn.
   * @default 64
   */
  maxInFlight?: number
  /** Provider calls started per minute (token bucket, bursts up to this number). @default undefined (no limit) */
  maxPerMinute?: number
  /**
   * Share `maxInFlight` and `maxPerMinute` fairly between source networks, so that one network rotating addresses
   * (the /64s of its /48, the hosts of its /24) cannot spend the budget that protects everyone else: a network holds
   * at most its share of each budget, and a reserve is kept for networks that hold nothing. `false`: one pool, first
   * come, first served. See {@link NetworkShareOptions}.
   * @default { share: 0.25, reserve: 0.25, ipv4Prefix: 24, ipv6Prefix: 48 }
   */
  perNetwork?: NetworkShareOptions | false
  /**
   * A per-minute budget shared by every instance through the Redis shared cache, on top of the per-process budgets
   * above. See {@link FleetBudgetOptions}.
   * @default undefined (budgets are per process)
   */
  fleet?: FleetBudgetOptions
}

/**
 * How the provider budgets are shared between source networks (`budget.perNetwork`).
 *
 * With `maxInFlight` 64 and the defaults, one network (an IPv4 /24 or an IPv6 /48) holds at most
 * `max(1, floor(64 × 0.25))` = 16 calls in flight, and the last `floor(64 × 0.25)` = 16 slots only go to a network
 * with nothing in flight: whatever the other networks do, a newcomer is looked up while the pool is not full. The
 * same rule applies to `maxPerMinute` (a network starts at most its share of calls per minute; the reserve goes to
 * networks that spent nothing lately). A lookup refused by its network's share answers `budget_exceeded`, like any
 * budget refusal, and the fail mode applies: give sensitive policies `onUnavailable: 'block'` to refuse such
 * callers there while other policies fail open.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, budget: { maxInFlight: 64, maxPerMinute: 6_000, perNetwork: { share: 0.1 } } })
 * createRiskResolver({ provider, budget: { perNetwork: { ipv6Prefix: 56 } } }) // IPv6 sites are /56s here
 * createRiskResolver({ provider, budget: { perNetwork: false } })               // one shared pool
 * ```
 */
export interface NetworkShareOptions {
  /**
   * Fraction of each budget one network may hold: at most `max(1, floor(maxInFlight × share))` calls in flight and
   * `max(1, floor(maxPerMinute × share))` calls started per minute. Greater than 0, at most 1.
   * @default 0.25
   */
  share?: number
  /**
   * Fraction of each budget kept for networks that hold nothing (no call in flight; nothing spent in the last
   * minute's refill): `floor(maxInFlight × reserve)` slots, `floor(maxPerMinute × reserve)` tokens. From 0 to 0.99.
   * @default 0.25
   */
  reserve?: number
  /** Prefix length of an IPv4 source network (8–32). @default 24 */
  ipv4Prefix?: number
  /**
   * Prefix length of an IPv6 source network (16–128); never finer than `cache.ipv6Prefix` (clients of one cache key
   * are one network).
   * @default 48
   */
  ipv6Prefix?: number
}

/**
 * Circuit breaker around the provider: `failures` consecutive failed calls (rejections, including timeouts) open it;
 * after `halfOpenAfterMs` of the resolver's `clock` one probe call is let through, and its success closes it.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, breaker: { failures: 3, halfOpenAfterMs: 10_000 } })
 * createRiskResolver({ provider, breaker: false }) // never stop calling
 * ```
 */
export interface BreakerOptions {
  /** Consecutive failed calls that open the breaker. @default 5 */
  failures?: number
  /** How long it stays open before one probe call is let through, in ms. @default 30_000 */
  halfOpenAfterMs?: number
}

/**
 * Static lists of addresses and CIDR ranges (also the names `loopback`, `private`, `linklocal`, `uniquelocal`),
 * compiled once at creation.
 *
 * A client whose address embeds an IPv4 client (NAT64, 6to4, Teredo: see `nat64Prefixes`) is matched as that IPv4
 * address, so `'185.220.101.66'` also matches `64:ff9b::185.220.101.66`. An IPv6 entry inside such a prefix is read
 * as the IPv4 range it pins down (`'64:ff9b::198.51.100.0/120'` is `'198.51.100.0/24'`); one that pins no IPv4 bit
 * (`'2002::/16'`) is an `IpRiskConfigError`; a wider IPv6 range (`'2000::/3'`) does not match those clients.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, lists: { allow: ['10.0.0.0/8', '2001:db8:1::/48'], deny: ['198.51.100.66'] } })
 * ```
 */
export interface ListOptions {
  /** Never looked up, never blocked (`listed: 'allow'`). @default [] */
  allow?: string | readonly string[]
  /** Blocked without a lookup (`listed: 'deny'`). Takes precedence over `allow`. @default [] */
  deny?: string | readonly string[]
}

/**
 * The automatic blocklist (the guide's "score >= 95: blocked for an hour"). Blocks are stored in L2 when there is one,
 * so every instance sees them.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, blocklist: { score: 90, ttlSeconds: 6 * 3600 } })
 * createRiskResolver({ provider, blocklist: false }) // no automatic blocks; block(ip) still works
 * ```
 */
export interface BlocklistOptions {
  /** An IP scored at least this (0–100) is blocklisted. @default 95 */
  score?: number
  /** For how long, in seconds (also the default of `block(ip)`). @default 3600 */
  ttlSeconds?: number
}

/**
 * The development switch: local development against the simulator (`npx iprisk simulate`) only.
 *
 * @example
 * ```ts
 * createRiskResolver({
 *   provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }), // IPASIS_BASE_URL=http://127.0.0.1:8420
 *   development: { scoreLocalAddresses: process.env.NODE_ENV === 'development' },
 * })
 * // curl --interface 127.0.0.40 http://127.0.0.1:3000/…   → scored as the simulator's Tor profile, blocked
 * ```
 */
export interface DevelopmentOptions {
  /**
   * Score loopback callers (127.0.0.0/8, ::1) and documentation-range callers (192.0.2.0/24, 198.51.100.0/24,
   * 203.0.113.0/24, 2001:db8::/32, 3fff::/20) through the provider like global addresses, so that `curl` against
   * your own server gets real decisions from the simulator's profiles (127.0.0.40: Tor, ...). Other non-global
   * addresses (private, link-local, ...) are still never looked up.
   *
   * It changes only which addresses are scored, never which peers are trusted: the client IP is read exactly as
   * without it (`trustProxy`), so a request header cannot choose the address either way.
   *
   * Refused with an {@link IpRiskConfigError} when `NODE_ENV` is `production` (trimmed, any case); when on, the
   * resolver warns once at creation (logger, else `console.warn`).
   * @default false
   */
  scoreLocalAddresses?: boolean
}

/**
 * Options of `createRiskResolver`. Only `provider` is required.
 *
 * @example
 * ```ts
 * import { createRiskResolver, ipasis } from 'iprisk'
 *
 * const risk = createRiskResolver({
 *   provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }),
 *   trustProxy: 'loopback',
 *   cache: 'redis://127.0.0.1:6379',
 *   failMode: 'open',
 *   budget: { timeoutMs: 1000 },
 *   lists: { allow: ['10.0.0.0/8'] },
 * })
 * ```
 */
export interface RiskResolverOptions extends ObservabilityOptions {
  /** Where scores come from, e.g. `ipasis({ apiKey })`. Closed by `resolver.close()`. */
  provider: Provider
  /**
   * Which peers are trusted to set forwarding headers (see the client-IP documentation): `false` (use the socket
   * address only), `true` (trust everything: only behind a proxy that always overwrites the headers), a hop count,
   * a list of addresses / CIDR ranges / names such as `'loopback'`, or a platform preset that sets the whole trust
   * model of a deployment, headers included: `platforms.cloudflare()`, `platforms.awsAlb({ vpc: '10.0.0.0/16' })`,
   * `platforms.fly()`, ... (docs/client-ip.md lists them; with a preset, leave `clientIpHeaders` unset).
   * @default false
   * @example
   * ```ts
   * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) }) // Cloudflare → nginx
   * ```
   */
  trustProxy?: TrustProxy
  /**
   * Extra headers read (before `X-Forwarded-For`) when the peer is a trusted proxy: `'x-real-ip'`,
   * `'cf-connecting-ip'`, `'forwarded'`. List only headers your proxy sets or overwrites on every request.
   * @default []
   */
  clientIpHeaders?: ClientIpOptions['headers']
  /** Most `X-Forwarded-For` / `Forwarded` entries examined per request (1–1024). @default 32 */
  maxHops?: ClientIpOptions['maxHops']
  /**
   * Your deployment's own (network-specific) NAT64 / SIIT translation prefixes, RFC 6052 format: `/32`, `/40`, `/48`,
   * `/56`, `/64` or `/96`. Set it when IPv4 clients reach this app through a translator that writes them as IPv6
   * addresses inside such a prefix (an IPv6-only service behind SIIT-DC or a 4-to-6 load balancer).
   *
   * An address standing for an IPv4 client is treated as that IPv4 client everywhere: cache key, allow / deny lists,
   * blocklist and `block()`, the provider lookup, the answer's `ip` and the security events. That is always done for
   * the well-known prefixes — NAT64 `64:ff9b::/96`, local-use NAT64 `64:ff9b:1::/48` (IPv4 in the last 32 bits),
   * Teredo `2001::/32` (the client's address, inverted, in the last 32 bits) and 6to4 `2002::/16` (bits 16–47) — and
   * for the prefixes listed here, which are checked first (list `64:ff9b:1:…::/64` if you use a /64 of the local-use
   * prefix). A network-specific prefix that is *not* listed cannot be told from ordinary IPv6: its clients are keyed
   * by their `/64` (`cache.ipv6Prefix`), so every IPv4 client behind one translator /96 would share a single verdict.
   *
   * Entries must not overlap each other or cover (equal or contain) a well-known prefix; bits past the length must
   * be zero; at most 16. Bad input throws an `IpRiskConfigError` naming `nat64Prefixes`.
   * @default []
   * @example
   * ```ts
   * createRiskResolver({ provider, trustProxy: 'loopback', nat64Prefixes: ['2001:db8:64::/96'] })
   * // a request from 2001:db8:64::cb00:7107 is the client 203.0.113.7: its key, list entries, blocks, lookup and answer
   * ```
   */
  nat64Prefixes?: string | readonly string[]
  /** What policies do when no verdict can be had (policies may override with `onUnavailable`). @default 'open' */
  failMode?: FailMode
  /**
   * Score documentation addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) like global ones.
   * Only for tests, examples and demos against the simulator; every other non-global address (private, loopback,
   * ...) is never looked up (`status: 'skipped'`).
   * @default false
   */
  scoreDocumentationRanges?: boolean
  /**
   * Local development only: `{ scoreLocalAddresses: true }` scores loopback and documentation-range callers through
   * the provider (meant for `npx iprisk simulate`). Refused when `NODE_ENV` is `production`. See
   * {@link DevelopmentOptions}.
   * @default { scoreLocalAddresses: false }
   */
  development?: DevelopmentOptions
  /** Cache settings, or a shared store alone (`'redis://…'` or a Keyv) meaning `{ l2: … }`. @default L1 only */
  cache?: string | KeyvLike | CacheOptions
  /** Limits on provider calls. @default { timeoutMs: 1500, maxInFlight: 64, perNetwork: { share: 0.25, reserve: 0.25 } } */
  budget?: BudgetOptions
  /** Circuit breaker around the provider, or `false` for none. @default { failures: 5, halfOpenAfterMs: 30_000 } */
  breaker?: BreakerOptions | false
  /** Static allow / deny lists, checked before anything else. @default none */
  lists?: ListOptions
  /** Automatic blocklist, or `false` to disable it. @default { score: 95, ttlSeconds: 3600 } */
  blocklist?: BlocklistOptions | false
  /**
   * Where the resolver reads time and sets timers: cache freshness, stale and failure TTLs, blocks, Retry-After, the
   * breaker, the per-minute budget, lookup deadlines and the measured `lookupMs`. Pass a manual clock in tests to move
   * time by hand instead of sleeping; production code leaves it unset.
   * @default systemClock (`Date.now`, `performance.now`, unref'd `setTimeout`)
   * @example
   * ```ts
   * import { createTestClock } from 'iprisk/testing'
   *
   * const clock = createTestClock()
   * const risk = createRiskResolver({ provider, clock, breaker: { failures: 1, halfOpenAfterMs: 30_000 } })
   * clock.advance(30_000) // the breaker lets its probe through, without a sleep
   * ```
   */
  clock?: Clock
}

// ---------------------------------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Every default of {@link RiskResolverOptions}, in one place (frozen).
 *
 * @example
 * ```ts
 * import { resolverDefaults } from 'iprisk'
 * resolverDefaults.ttlSeconds // 300
 * ```
 */
export const resolverDefaults = Object.freeze({
  failMode: 'open' as FailMode,
  scoreDocumentationRanges: false,
  l1Max: 50_000,
  ttlSeconds: 300,
  staleSeconds: 3_600,
  failureTtlSeconds: 10,
  ipv6Prefix: 64,
  l2TimeoutMs: 50,
  prefix: 'iprisk',
  timeoutMs: 1_500,
  maxInFlight: 64,
  networkShare: 0.25,
  networkReserve: 0.25,
  networkIpv4Prefix: 24,
  networkIpv6Prefix: 48,
  breakerFailures: 5,
  halfOpenAfterMs: 30_000,
  blocklistScore: 95,
  blocklistTtlSeconds: 3_600,
})
