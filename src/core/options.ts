/**
 * Options of `createRiskResolver`: their types (with defaults, documented once here) and their validation, done once
 * at creation so that a bad option is an {@link IpRiskConfigError} naming it, never a surprise on the first request.
 *
 * @module
 */

import { z } from 'zod'
import { compileClientList, compileNat64Prefixes } from './cidr.js'
import { IpRiskConfigError } from './errors.js'
import { readEnv } from './env.js'
import type { ObservabilityOptions } from './events.js'
import type { ClientIpOptions, TrustProxy } from './ip.js'
import type { Ipv4Embedding } from './ip-address.js'
import { MAX_BLOCK_SECONDS, MAX_TTL_SECONDS, isKeyvLike, hasUnboundedMapStore, redisUrlProblem, type KeyvLike } from './cache.js'
import type { FailMode, Provider } from './types.js'
import type { NetworkShare } from './budget.js'
import { isClock, systemClock, type Clock } from './clock.js'

// ---------------------------------------------------------------------------------------------------------------------
// Public option types
// ---------------------------------------------------------------------------------------------------------------------

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
   * Shared store: a `redis://` / `rediss://` URL (needs the optional package `@keyv/redis`), or any Keyv instance
   * (not one on keyv's default in-memory `Map`, which is unbounded).
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
  /** First segment of L2 keys (`<prefix>:1:<provider>:<ip>`), to separate applications or environments sharing one Redis. @default 'iprisk' */
  prefix?: string
}

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
 * Circuit breaker around the provider (cockatiel's `ConsecutiveBreaker`).
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

// ---------------------------------------------------------------------------------------------------------------------
// Resolved options
// ---------------------------------------------------------------------------------------------------------------------

/** The shared store to use, as found in the options. @internal */
export type L2Source = { kind: 'url'; url: string } | { kind: 'keyv'; keyv: KeyvLike }

/** Options after validation, with every default applied and durations in ms. @internal */
export interface ResolvedOptions {
  provider: Provider
  ip: ClientIpOptions
  failMode: FailMode
  scoreDocumentationRanges: boolean
  /** `development.scoreLocalAddresses`: loopback callers are scored too. */
  scoreLoopback: boolean
  l1Max: number
  l2: L2Source | undefined
  /** Option path of the L2 setting, for run-time reports (`cache` or `cache.l2`). */
  l2Option: string
  ttlMs: number
  flaggedTtlMs: number
  staleMs: number
  failureTtlMs: number
  ipv6Prefix: number
  l2TimeoutMs: number
  prefix: string
  timeoutMs: number
  maxInFlight: number
  /** 0: no per-minute limit. */
  maxPerMinute: number
  /** `undefined`: the budgets are one pool (`budget.perNetwork: false`). */
  perNetwork: NetworkShare | undefined
  breaker: { failures: number; halfOpenAfterMs: number } | undefined
  allow: ((ip: string) => boolean) | undefined
  deny: ((ip: string) => boolean) | undefined
  /** Compiled `nat64Prefixes` (the well-known embedding prefixes are not in it). */
  nat64Prefixes: readonly Ipv4Embedding[]
  blocklist: { score: number; ttlMs: number } | undefined
  observability: ObservabilityOptions
  clock: Clock
}

// ---------------------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------------------



function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 24 ? `${value.slice(0, 24)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}

/** A finite number in [min, max] (optionally an integer), with one message for every way of getting it wrong. */
function num(min: number, max: number, opts: { int?: boolean; exclusiveMin?: boolean; unit?: string } = {}) {
  const range = `${opts.exclusiveMin === true ? `greater than ${min}` : `from ${min}`} to ${max}`
  const what = `${opts.int === true ? 'an integer' : 'a number'} ${range}${opts.unit === undefined ? '' : ` (${opts.unit})`}`
  const message = (issue: { input?: unknown }) => `must be ${what}, got ${describe(issue.input)}`
  let schema = z.number({ error: message })
  if (opts.int === true) schema = schema.int({ error: message })
  schema = opts.exclusiveMin === true ? schema.gt(min, { error: message }) : schema.min(min, { error: message })
  return schema.max(max, { error: message })
}

const bool = z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` })

/** An object of options; `orFalse` adds "or false" to the message for the options that can be turned off. */
function objectOf<T extends z.core.$ZodLooseShape>(shape: T, orFalse = false) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'invalid_type' ? `must be an object${orFalse ? ' or false' : ''}, got ${describe(issue.input)}` : undefined,
  })
}

const providerSchema = z.custom<Provider>(
  (value) => {
    if (typeof value !== 'object' || value === null) return false
    const p = value as Record<string, unknown>
    return (
      typeof p.name === 'string' &&
      /^[a-z0-9-]{1,64}$/.test(p.name) &&
      typeof p.lookup === 'function' &&
      (p.close === undefined || typeof p.close === 'function')
    )
  },
  {
    error: (issue) =>
      issue.input === undefined
        ? 'is required: pass a provider, e.g. `provider: ipasis({ apiKey: process.env.IPASIS_API_KEY })`'
        : 'must be a provider: an object with `name` ([a-z0-9-], up to 64 characters) and `lookup(ip, signal)`, e.g. `ipasis({ apiKey })`',
  },
)

const cacheSchema = objectOf({
  l1: objectOf({ max: num(1, 10_000_000, { int: true, unit: 'entries' }).optional() }, true).optional(),
  l2: z
    .custom<string | KeyvLike>((value) => typeof value === 'string' || isKeyvLike(value), {
      error: 'must be a redis:// URL or a Keyv instance',
    })
    .optional(),
  ttlSeconds: num(0, MAX_TTL_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
  flaggedTtlSeconds: num(0, MAX_TTL_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
  staleSeconds: num(0, MAX_TTL_SECONDS, { unit: 'seconds' }).optional(),
  failureTtlSeconds: num(0, 3_600, { unit: 'seconds' }).optional(),
  ipv6Prefix: num(32, 128, { int: true }).optional(),
  l2TimeoutMs: num(1, 10_000, { unit: 'milliseconds' }).optional(),
  prefix: z
    .string({ error: (issue) => `must be a string, got ${describe(issue.input)}` })
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'must be 1–32 characters of [A-Za-z0-9_.-]' })
    .optional(),
})

const networkShareSchema = objectOf(
  {
    share: num(0, 1, { exclusiveMin: true }).optional(),
    reserve: num(0, 0.99).optional(),
    ipv4Prefix: num(8, 32, { int: true }).optional(),
    ipv6Prefix: num(16, 128, { int: true }).optional(),
  },
  true,
)

const cidrList = z.union([z.string(), z.array(z.string())], {
  error: (issue) => `must be an array of addresses / CIDR ranges, got ${describe(issue.input)}`,
})

const optionsSchema = objectOf({
  provider: providerSchema,
  trustProxy: z.unknown().optional(), // validated by the client-IP reader
  clientIpHeaders: z.unknown().optional(),
  maxHops: z.unknown().optional(),
  nat64Prefixes: z.unknown().optional(), // validated by compileNat64Prefixes
  failMode: z
    .enum(['open', 'closed'], { error: (issue) => `must be 'open' or 'closed', got ${describe(issue.input)}` })
    .optional(),
  scoreDocumentationRanges: bool.optional(),
  development: objectOf({ scoreLocalAddresses: bool.optional() }).optional(),
  cache: z.unknown().optional(), // shorthand handled in parseResolverOptions, then cacheSchema
  budget: objectOf({
    timeoutMs: num(1, 60_000, { unit: 'milliseconds' }).optional(),
    maxInFlight: num(1, 100_000, { int: true }).optional(),
    maxPerMinute: num(1, 10_000_000, { int: true }).optional(),
    perNetwork: z.unknown().optional(), // `false` or networkShareSchema, checked in parseResolverOptions
  }).optional(),
  breaker: objectOf(
    {
      failures: num(1, 1_000, { int: true }).optional(),
      halfOpenAfterMs: num(1, 86_400_000, { unit: 'milliseconds' }).optional(),
    },
    true,
  ).optional(),
  lists: objectOf({ allow: cidrList.optional(), deny: cidrList.optional() }).optional(),
  blocklist: objectOf(
    {
      score: num(0, 100).optional(),
      ttlSeconds: num(0, MAX_BLOCK_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
    },
    true,
  ).optional(),
  // Observability options: validated by createReporter.
  logger: z.unknown().optional(),
  sampleAllows: z.unknown().optional(),
  onDecision: z.unknown().optional(),
  onBlock: z.unknown().optional(),
  onHighRisk: z.unknown().optional(),
  onDegraded: z.unknown().optional(),
  highRiskScore: z.unknown().optional(),
  meterProvider: z.unknown().optional(),
  clock: z
    .custom<Clock>((value) => isClock(value), {
      error:
        'must be a Clock: an object with now(), monotonic(), setTimeout(callback, ms) and clearTimeout(handle), e.g. createTestClock() from iprisk/testing',
    })
    .optional(),
})

/** Throw the first issue of a failed parse as an {@link IpRiskConfigError} naming the option path. */
function check(schema: z.ZodType, value: unknown, prefix: string): void {
  const result = schema.safeParse(value)
  if (result.success) return
  const issue = result.error.issues[0]
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.')
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? ''
    throw new IpRiskConfigError(path === '' ? key : `${path}.${key}`, 'unknown option (check the spelling)')
  }
  throw new IpRiskConfigError(path === '' ? 'options' : path, issue?.message ?? 'is invalid')
}

/** Reported once by the resolver at creation when `development.scoreLocalAddresses` is on. @internal */
export const DEVELOPMENT_WARNING =
  'development scoring is on: loopback (127.0.0.0/8, ::1) and documentation-range callers are looked up like global addresses (for local development against `npx iprisk simulate`); never turn it on in production'

/**
 * Whether `NODE_ENV` says production. Read defensively: `process` does not exist on every runtime, and reading the
 * environment may throw where it needs a permission (Deno).
 */
function isProductionEnv(): boolean {
  return readEnv('NODE_ENV')?.trim().toLowerCase() === 'production'
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

// ---------------------------------------------------------------------------------------------------------------------
// Parse
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Validate `createRiskResolver` options and apply defaults.
 *
 * @throws {IpRiskConfigError} naming the first bad option (e.g. `cache.ttlSeconds`, `lists.allow`, `provider`).
 * @internal
 */
export function parseResolverOptions(options: unknown): ResolvedOptions {
  if (!isPlainObject(options)) {
    throw new IpRiskConfigError('options', 'createRiskResolver() expects an options object with at least `provider`')
  }
  // `false` (turned off) is taken out before the schema so that issues inside the object form get exact paths.
  const input: Record<string, unknown> = { ...options }
  if (input.breaker === false) delete input.breaker
  if (input.blocklist === false) delete input.blocklist
  check(optionsSchema, input, '')
  const o = options as unknown as RiskResolverOptions

  // cache: a URL or a Keyv alone is shorthand for { l2 }.
  let cache: CacheOptions = {}
  let l2Option = 'cache.l2'
  if (o.cache !== undefined) {
    if (typeof o.cache === 'string' || isKeyvLike(o.cache)) {
      cache = { l2: o.cache }
      l2Option = 'cache'
    } else if (isPlainObject(o.cache)) {
      const copy: Record<string, unknown> = { ...o.cache }
      if (copy.l1 === false) delete copy.l1
      check(cacheSchema, copy, 'cache')
      cache = o.cache as CacheOptions
    } else {
      throw new IpRiskConfigError(
        'cache',
        `must be a redis:// URL, a Keyv instance or { l1, l2, ttlSeconds, ... }, got ${describe(o.cache)}`,
      )
    }
  }

  let l2: L2Source | undefined
  if (typeof cache.l2 === 'string') {
    const problem = redisUrlProblem(cache.l2)
    if (problem !== undefined) throw new IpRiskConfigError(l2Option, problem)
    l2 = { kind: 'url', url: cache.l2 }
  } else if (cache.l2 !== undefined) {
    if (hasUnboundedMapStore(cache.l2)) {
      throw new IpRiskConfigError(
        l2Option,
        "a Keyv on keyv's default in-memory Map is unbounded (an IP-rotating client would grow it forever); L1 already caches in memory: pass a Redis URL or a Keyv with a bounded store",
      )
    }
    l2 = { kind: 'keyv', keyv: cache.l2 }
  }

  const ttlSeconds = cache.ttlSeconds ?? resolverDefaults.ttlSeconds
  const l1Max = cache.l1 === false ? 0 : (cache.l1?.max ?? resolverDefaults.l1Max)

  const nat64Prefixes = compileNat64Prefixes(o.nat64Prefixes, 'nat64Prefixes')
  const lists = o.lists ?? {}
  const allow = lists.allow === undefined ? undefined : compileClientList(lists.allow, 'lists.allow', nat64Prefixes)
  const deny = lists.deny === undefined ? undefined : compileClientList(lists.deny, 'lists.deny', nat64Prefixes)

  const ip: ClientIpOptions = {}
  if (o.trustProxy !== undefined) ip.trustProxy = o.trustProxy
  if (o.clientIpHeaders !== undefined) ip.headers = o.clientIpHeaders
  if (o.maxHops !== undefined) ip.maxHops = o.maxHops

  const observability: ObservabilityOptions = {}
  for (const key of [
    'logger',
    'sampleAllows',
    'onDecision',
    'onBlock',
    'onHighRisk',
    'onDegraded',
    'highRiskScore',
    'meterProvider',
  ] as const) {
    if (o[key] !== undefined) (observability as Record<string, unknown>)[key] = o[key]
  }

  const scoreLocal = o.development?.scoreLocalAddresses === true
  if (scoreLocal && isProductionEnv()) {
    throw new IpRiskConfigError(
      'development.scoreLocalAddresses',
      'is refused when NODE_ENV is "production": it scores loopback and documentation-range callers, for local development against `npx iprisk simulate` only',
    )
  }

  const budget = o.budget ?? {}
  let perNetwork: NetworkShare | undefined
  if (budget.perNetwork !== false) {
    const given = budget.perNetwork ?? {}
    check(networkShareSchema, given, 'budget.perNetwork')
    perNetwork = {
      share: given.share ?? resolverDefaults.networkShare,
      reserve: given.reserve ?? resolverDefaults.networkReserve,
      ipv4Prefix: given.ipv4Prefix ?? resolverDefaults.networkIpv4Prefix,
      ipv6Prefix: given.ipv6Prefix ?? resolverDefaults.networkIpv6Prefix,
    }
  }
  const breaker = o.breaker === false ? undefined : (o.breaker ?? {})
  const blocklist = o.blocklist === false ? undefined : (o.blocklist ?? {})

  return {
    provider: o.provider,
    ip,
    failMode: o.failMode ?? resolverDefaults.failMode,
    scoreDocumentationRanges: (o.scoreDocumentationRanges ?? resolverDefaults.scoreDocumentationRanges) || scoreLocal,
    scoreLoopback: scoreLocal,
    l1Max,
    l2,
    l2Option,
    ttlMs: ttlSeconds * 1000,
    flaggedTtlMs: (cache.flaggedTtlSeconds ?? ttlSeconds) * 1000,
    staleMs: (cache.staleSeconds ?? resolverDefaults.staleSeconds) * 1000,
    failureTtlMs: (cache.failureTtlSeconds ?? resolverDefaults.failureTtlSeconds) * 1000,
    ipv6Prefix: cache.ipv6Prefix ?? resolverDefaults.ipv6Prefix,
    l2TimeoutMs: cache.l2TimeoutMs ?? resolverDefaults.l2TimeoutMs,
    prefix: cache.prefix ?? resolverDefaults.prefix,
    timeoutMs: budget.timeoutMs ?? resolverDefaults.timeoutMs,
    maxInFlight: budget.maxInFlight ?? resolverDefaults.maxInFlight,
    maxPerMinute: budget.maxPerMinute ?? 0,
    perNetwork,
    breaker:
      breaker === undefined
        ? undefined
        : {
            failures: breaker.failures ?? resolverDefaults.breakerFailures,
            halfOpenAfterMs: breaker.halfOpenAfterMs ?? resolverDefaults.halfOpenAfterMs,
          },
    allow,
    deny,
    nat64Prefixes,
    blocklist:
      blocklist === undefined
        ? undefined
        : {
            score: blocklist.score ?? resolverDefaults.blocklistScore,
            ttlMs: (blocklist.ttlSeconds ?? resolverDefaults.blocklistTtlSeconds) * 1000,
          },
    observability,
    clock: o.clock ?? systemClock,
  }
}
