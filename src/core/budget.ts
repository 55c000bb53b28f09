/**
 * The provider-call budgets (`budget.maxInFlight`, `budget.maxPerMinute`), shared fairly between source networks.
 *
 * Why: the budgets bound what an IP-rotating client can cost, but a single pool is first come, first served. One
 * network rotating addresses (distinct /64s of its /48, hosts of its /24: each a cache miss) could hold every slot and
 * drain every token, and every other newcomer then got `budget_exceeded`: allowed unscored under `failMode: 'open'`
 * (a Tor exit got through), refused under `'closed'` (a clean client was locked out). The fail mode could be forced.
 *
 * The rule (one for both budgets; `share` and `reserve` are fractions of the budget, see `budget.perNetwork`):
 *
 * - **a cap per network**: a source network (IPv4 /24, IPv6 /48 by default) holds at most
 *   `cap = max(1, floor(budget × share))` calls in flight, and starts at most `cap` calls per minute (its own token
 *   bucket of `cap` tokens refilled over a minute, drawn together with the global bucket);
 * - **a reserve for newcomers**: the last `floor(budget × reserve)` slots (tokens) of the shared pool only go to a
 *   network that holds nothing: no call in flight (for the in-flight budget), a full bucket, i.e. nothing spent
 *   lately (for the per-minute budget). A network that already holds some waits for the pool to drain below the
 *   reserve.
 *
 * So a network with nothing in flight can always start a call while the pool is not full, whatever the others do;
 * one attacking network gets `cap` calls, not the pool; and N attacking networks hold at most
 * `budget − reserve` slots between them plus one slot each from the reserve: the rest of the world keeps the reserve
 * until the attacker controls more networks than the reserve has slots (a /24 of IPv4 or a /48 of IPv6 each: the
 * scarce resource). A cap alone would fall to `1 / share` networks, a reserve alone would let one network take all
 * but the reserve; together each bounds what the other cannot. Nothing queues: a refusal is immediate, as before.
 * The price: a legitimate network with more than `cap` simultaneous cache misses (a campus /24 waking up) gets
 * `budget_exceeded` for the extra ones (the fail mode applies); `share` and the prefix lengths tune that.
 *
 * Hand-written (a counter, a map and two token buckets): the pieces are a few comparisons on the miss path, and no
 * library offers a keyed fair-share limiter with a newcomer reserve. Per-network state is bounded: in-flight counts
 * are deleted when they drop to zero (at most `maxInFlight` entries); per-minute buckets live in an LRU of at most
 * `min(2 × maxPerMinute, 50 000)` entries (a bucket that is not full took a token in the last minute, and at most
 * `2 × maxPerMinute` tokens are taken in any minute; one evicted early only makes its network a newcomer again, the
 * global bucket still bounds the total).
 *
 * @module
 * @internal
 */
import { LRUCache } from 'lru-cache'
import { cacheKeyForIp, v4Mask } from './cidr.js'
import { ipv4ToUint32, isIPv4, uint32ToIpv4 } from './ip-address.js'

/** How the budgets are shared (resolved `budget.perNetwork`). @internal */
export interface NetworkShare {
  /** Fraction of each budget one network may hold, in (0, 1]. */
  share: number
  /** Fraction of each budget kept for networks that hold nothing, in [0, 1). */
  reserve: number
  /** Prefix length of an IPv4 source network (8–32). */
  ipv4Prefix: number
  /** Prefix length of an IPv6 source network (16–128). */
  ipv6Prefix: number
}

/** Which budget refused a call. @internal */
export type BudgetRefusal = 'in_flight' | 'per_minute'

/** Most per-network buckets kept for the per-minute budget (see the module comment). */
const MAX_BUCKETS = 50_000
const MINUTE_MS = 60_000

interface Bucket {
  tokens: number
  at: number
}

/**
 * The source network of a client, as a string key: `a.b.c.0/24`, `2001:db8:1::/48`. An IPv4-mapped IPv6 address is
 * its IPv4 client. The IPv6 network is never finer than `cacheKey`'s prefix (with `cache.ipv6Prefix` 32, every client
 * of a /32 is one key and one network).
 *
 * @param ip A canonical IP address (what the resolver looks up).
 * @param cacheKey Its cache key (the IPv4 address, or `prefix/len` for IPv6). When the key is an IPv4 address, that
 *   address is the client (also for an IPv6 address that embeds it, if the key says so).
 * @internal
 */
export function networkOf(ip: string, cacheKey: string, ipv4Prefix: number, ipv6Prefix: number): string {
  // An IPv4 key is the client itself (also for an IPv6 address that embeds it: the resolver keyed it so).
  if (isIPv4(cacheKey)) return `${uint32ToIpv4((ipv4ToUint32(cacheKey) & v4Mask(ipv4Prefix)) >>> 0)}/${ipv4Prefix}`
  const slash = cacheKey.lastIndexOf('/')
  const keyBits = slash === -1 ? 128 : Number(cacheKey.slice(slash + 1))
  return cacheKeyForIp(ip, Number.isInteger(keyBits) ? Math.min(ipv6Prefix, keyBits) : ipv6Prefix)
}

/** The in-flight cap of one network: `max(1, floor(max × share))`. @internal */
export function networkCap(max: number, share: number): number {
  return Math.max(1, Math.floor(max * share))
}

/** The slots (tokens) kept for networks holding nothing: `floor(max × reserve)`, never the whole budget. @internal */
export function reserveOf(max: number, reserve: number): number {
  return Math.min(max - 1, Math.floor(max * reserve))
}

/**
 * The in-flight rule alone, as a pure function (the budget applies it; the tests check it directly).
 *
 * @param total Calls in flight now, all networks.
 * @param held Calls in flight now for the asking network.
 * @returns true when the asking network may start one more call.
 * @internal
 */
export function mayHold(total: number, held: number, max: number, cap: number, reserve: number): boolean {
  if (total >= max) return false
  if (held === 0) return true
  return held < cap && total < max - reserve
}

/**
 * The budgets of one resolver. `acquire` either starts a call (and then `release` must follow once) or says which
 * budget refused it (the gate asks the breaker first, so no token is spent on a call that is not made).
 * @internal
 */
export class ProviderBudget {
  /** Calls in flight now, all networks. */
  inFlight = 0
  private readonly fair: boolean
  private readonly inFlightCap: number
  private readonly inFlightReserve: number
  private readonly minuteCap: number
  private readonly minuteReserve: number
  private readonly held = new Map<string, number>()
  private tokens: number
  private tokensAt: number
  private readonly tokensPerMs: number
  private readonly buckets: LRUCache<string, Bucket> | undefined

  constructor(
    readonly maxInFlight: number,
    /** 0: no per-minute budget. */
    readonly maxPerMinute: number,
    share: NetworkShare | undefined,
    now: number,
  ) {
    this.fair = share !== undefined
    this.inFlightCap = share === undefined ? maxInFlight : networkCap(maxInFlight, share.share)
    this.inFlightReserve = share === undefined ? 0 : reserveOf(maxInFlight, share.reserve)
    this.minuteCap = share === undefined || maxPerMinute === 0 ? maxPerMinute : networkCap(maxPerMinute, share.share)
    this.minuteReserve = share === undefined || maxPerMinute === 0 ? 0 : reserveOf(maxPerMinute, share.reserve)
    this.tokens = maxPerMinute
    this.tokensAt = now
    this.tokensPerMs = maxPerMinute / MINUTE_MS
    this.buckets =
      share !== undefined && maxPerMinute > 0
        ? new LRUCache<string, Bucket>({ max: Math.min(MAX_BUCKETS, 2 * maxPerMinute) })
        : undefined
  }

  /** Calls in flight now for one network (tests and diagnostics). */
  heldBy(network: string): number {
    return this.held.get(network) ?? 0
  }

  /** Networks with calls in flight now (bounded by `maxInFlight`). */
  networks(): number {
    return this.held.size
  }

  /** Start one call for `network` (ignored when the budgets are not shared), or say which budget refuses it. */
  acquire(network: string, now: number): BudgetRefusal | undefined {
    const held = this.fair ? (this.held.get(network) ?? 0) : 0
    if (!mayHold(this.inFlight, held, this.maxInFlight, this.inFlightCap, this.inFlightReserve)) return 'in_flight'
    if (this.maxPerMinute > 0 && !this.takeToken(network, now)) return 'per_minute'
    this.inFlight++
    if (this.fair) this.held.set(network, held + 1)
    return undefined
  }

  /** The end of a call started by `acquire`. */
  release(network: string): void {
    this.inFlight--
    if (!this.fair) return
    const held = (this.held.get(network) ?? 1) - 1
    if (held <= 0) this.held.delete(network)
    else this.held.set(network, held)
  }

  /**
   * Give back the per-minute token `acquire` took for `network` (a call refused later, by the fleet budget). Refills
   * first, so a token is never returned above the buckets' caps.
   */
  refund(network: string, now: number): void {
    if (this.maxPerMinute === 0) return
    this.tokens = Math.min(this.maxPerMinute, this.tokens + Math.max(0, now - this.tokensAt) * this.tokensPerMs + 1)
    this.tokensAt = now
    const bucket = this.buckets?.get(network)
    if (bucket === undefined) return
    const cap = this.minuteCap
    bucket.tokens = Math.min(cap, bucket.tokens + (Math.max(0, now - bucket.at) * cap) / MINUTE_MS + 1)
    bucket.at = now
  }

  private takeToken(network: string, now: number): boolean {
    // A clock that goes back (an injected or adjusted one) refills nothing rather than draining.
    this.tokens = Math.min(this.maxPerMinute, this.tokens + Math.max(0, now - this.tokensAt) * this.tokensPerMs)
    this.tokensAt = now
    if (this.tokens < 1) return false
    const buckets = this.buckets
    if (buckets === undefined) {
      this.tokens -= 1
      return true
    }
    const cap = this.minuteCap
    const bucket = buckets.get(network)
    // The network's own bucket, refilled lazily (absent: full).
    const own = bucket === undefined ? cap : Math.min(cap, bucket.tokens + (Math.max(0, now - bucket.at) * cap) / MINUTE_MS)
    if (own < 1) return false
    // A network that spent nothing lately (a full bucket) may use the reserve; the others leave it.
    if (own < cap && this.tokens < 1 + this.minuteReserve) return false
    this.tokens -= 1
    if (bucket === undefined) buckets.set(network, { tokens: own - 1, at: now })
    else {
      bucket.tokens = own - 1
      bucket.at = now
    }
    return true
  }
}
