/**
 * The risk resolver: the one engine every adapter shares. It reads the client IP, applies the static lists and the
 * blocklist, answers from the cache tiers, and otherwise asks the provider, within budgets, behind a circuit breaker,
 * one call per IP key however many requests wait for it.
 *
 * Order of a lookup (first match answers):
 *
 * 1. no / invalid IP → `unavailable` / `no_ip`;
 * 2. static deny list → `listed: 'deny'`, then static allow list → `listed: 'allow'` (no lookup, never blocked);
 * 3. L1: the blocklist, a fresh answer, a recently failed lookup;
 * 4. a non-global address → `skipped` (never looked up);
 * 5. (`wait: false`: answer now — stale data or `pending` — and go on in the background;)
 * 6. one flight per IP key: L2 (answer and blocklist in one read, within `cache.l2TimeoutMs`), then the provider
 *    (retry-after gate, breaker, budgets, whole-lookup timeout); on failure, stale data if any.
 *
 * @module
 */

import { setMaxListeners } from 'node:events'
import { isIPv4 } from 'node:net'
import { types as utilTypes } from 'node:util'
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel'
import { LRUCache } from 'lru-cache'
import {
  SharedTier,
  MemoryTier,
  CACHE_KEY_VERSION,
  MAX_BLOCK_SECONDS,
  assertRedisAdapterInstalled,
  blockCacheKey,
  connectRedisKeyv,
  encodeBlock,
  encodeRisk,
  riskCacheKey,
  type L1Entry,
  type SharedRead,
} from './cache.js'
import { ProviderBudget, networkOf } from './budget.js'
import { locateClient } from './cidr.js'
import { IpRiskConfigError, IpRiskError, providerErrorKind } from './errors.js'
import { createReporter } from './events.js'
import { classifyIp, createClientIpReader, parseIp } from './ip.js'
import type { BreakerState } from './metrics.js'
import { DEVELOPMENT_WARNING, parseResolverOptions, type RiskResolverOptions } from './options.js'
import { compilePolicy, evaluate, policies } from './policy.js'
import { normalizeData } from './risk-data.js'
import { IpRiskProbeError, PROBE_IP, PROBE_TIMEOUT_MS, SelfCheck, probeProvider } from './self-check.js'
import type {
  ClientIp,
  IpKind,
  IpRisk,
  LookupError,
  LookupOptions,
  Policy,
  Provider,
  ProviderErrorKind,
  RequestLike,
  RiskData,
  RiskResolver,
  RiskSource,
  RiskStatus,
} from './types.js'

export type {
  BlocklistOptions,
  BreakerOptions,
  BudgetOptions,
  CacheOptions,
  DevelopmentOptions,
  ListOptions,
  NetworkShareOptions,
  RiskResolverOptions,
} from './options.js'
export { resolverDefaults } from './options.js'

// ---------------------------------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------------------------------

/** The only constructor of answers: one property order, so every IpRisk shares one hidden class. Frozen (shared). */
function makeRisk(
  ip: string | null,
  ipKind: IpKind | null,
  status: RiskStatus,
  error: LookupError | null,
  listed: IpRisk['listed'],
  source: RiskSource,
  lookupMs: number,
  d: RiskData | null,
): IpRisk {
  return Object.freeze({
    ip,
    ipKind,
    status,
    error,
    listed,
    source,
    lookupMs,
    score: d === null ? null : d.score,
    isVpn: d === null ? null : d.isVpn,
    isProxy: d === null ? null : d.isProxy,
    isTor: d === null ? null : d.isTor,
    isDatacenter: d === null ? null : d.isDatacenter,
    countryCode: d === null ? null : d.countryCode,
    asn: d === null ? null : d.asn,
    isp: d === null ? null : d.isp,
  })
}

/**
 * An answer with no provider data: for adapters that must answer without a lookup (no verdict could be had, or none
 * was asked for). Frozen, like every answer.
 *
 * @example
 * ```ts
 * const answer = unscoredRisk('203.0.113.7', 'documentation', 'unavailable', 'network')
 * risk.check(answer, policies.human) // fail mode decides: allow (failOpen) by default
 * ```
 */
export function unscoredRisk(
  ip: string | null,
  ipKind: IpKind | null,
  status: RiskStatus,
  error: LookupError | null,
): IpRisk {
  return makeRisk(ip, ipKind, status, error, null, 'none', 0, null)
}

/** The same answer for another address (another IPv6 address of the same cached prefix). */
function withIp(risk: IpRisk, ip: string): IpRisk {
  return risk.ip === ip ? risk : Object.freeze({ ...risk, ip })
}

/** The data part of an answer. */
function dataOf(risk: IpRisk): RiskData {
  return {
    score: risk.score,
    isVpn: risk.isVpn,
    isProxy: risk.isProxy,
    isTor: risk.isTor,
    isDatacenter: risk.isDatacenter,
    countryCode: risk.countryCode,
    asn: risk.asn,
    isp: risk.isp,
  }
}

const NO_IP: IpRisk = makeRisk(null, null, 'unavailable', 'no_ip', null, 'none', 0, null)

/**
 * Score at or above which an answer is "flagged" and kept for `cache.flaggedTtlSeconds` (as is any answer with a VPN,
 * proxy, Tor or datacenter flag set).
 *
 * @example
 * ```ts
 * import { FLAGGED_SCORE } from 'iprisk'
 * const flagged = (r: IpRisk) => r.isVpn === true || (r.score ?? 0) >= FLAGGED_SCORE
 * ```
 */
export const FLAGGED_SCORE = 50

function isFlagged(d: RiskData): boolean {
  return (
    d.isVpn === true ||
    d.isProxy === true ||
    d.isTor === true ||
    d.isDatacenter === true ||
    (d.score !== null && d.score >= FLAGGED_SCORE)
  )
}

/** Upstream errors a lookup remembers for `cache.failureTtlSeconds` (not the cheap local refusals). */
const REMEMBERED: ReadonlySet<LookupError> = new Set<LookupError>([
  'timeout',
  'network',
  'http_error',
  'rate_limited',
  'auth',
  'bad_response',
  'provider_error',
])

/** An `Error` (any realm), as a provider must reject with. */
function isError(value: unknown): boolean {
  return value instanceof Error || utilTypes.isNativeError(value)
}

/** `Promise.prototype.then`, captured once (see `callProvider`). */
const promiseThen = Promise.prototype.then

/** What a provider did instead of keeping its contract; becomes a `provider_error` answer. */
class ContractBreach {
  constructor(readonly what: string) {}
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return type === 'undefined' ? 'undefined' : type === 'object' ? 'an object' : `a ${type}`
}

/**
 * Call `provider.lookup` so that whatever it does becomes a promise: `lookup never rejects` must hold for any
 * provider, including one that throws synchronously, returns a plain value or a hostile thenable. A native promise is
 * passed through as is (the common case, no extra allocation); a thenable is adopted by hand so that a `then` that
 * throws is a {@link ContractBreach}, not a crash; plain valid data is tolerated; anything else is a breach.
 */
function invokeLookup(provider: Provider, ip: string, signal: AbortSignal): Promise<unknown> {
  let result: unknown
  try {
    result = provider.lookup(ip, signal)
  } catch (error) {
    // A ProviderError thrown synchronously keeps its kind (a non-async provider may throw it before any I/O).
    return Promise.reject(providerErrorKind(error) === undefined ? new ContractBreach('threw synchronously') : error)
  }
  if (result instanceof Promise) return result
  if ((typeof result === 'object' && result !== null) || typeof result === 'function') {
    let then: unknown
    try {
      then = (result as { then?: unknown }).then
    } catch {
      return Promise.reject(new ContractBreach('returned an object whose `then` getter threw'))
    }
    if (typeof then === 'function') {
      return new Promise((resolve, reject) => {
        try {
          ;(then as (ok: (v: unknown) => void, fail: (e: unknown) => void) => unknown).call(result, resolve, reject)
        } catch {
          reject(new ContractBreach('returned a thenable whose `then` threw'))
        }
      })
    }
  }
  // Not a promise: valid data is accepted (checked again, like any answer); anything else breaks the contract.
  if (normalizeData(result) !== undefined) return Promise.resolve(result)
  return Promise.reject(new ContractBreach(`returned ${describeValue(result)} instead of a promise of RiskData`))
}

function retryAfterOf(error: unknown): number | undefined {
  const ms = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined
}

/** Calls whose deadlines fall in one window share an AbortController and a timer (see `joinDeadline`). */
interface DeadlineWindow {
  readonly index: number
  readonly controller: AbortController
  /** Called with {@link DEADLINE} when the window fires (a call already settled ignores it). */
  readonly waiters: Array<(reason: unknown) => void>
  users: number
  timer: ReturnType<typeof setTimeout> | undefined
}

const DEADLINE = new IpRiskError('iprisk: lookup budget exhausted')
const BAD_RESPONSE = new IpRiskError('iprisk: the provider returned data of the wrong shape')

/** Longest `Retry-After` honoured: a misbehaving upstream cannot silence the provider for more than an hour. */
const MAX_RETRY_AFTER_MS = 3_600_000
/** IPv6 (and unusual IPv4 spellings) → canonical address and cache key, remembered to keep IPv6 hits cheap. */
const KEY_MEMO_MAX = 10_000
/** Listed and non-global answers, remembered per address so that repeated local / listed callers allocate nothing. */
const STATIC_MEMO_MAX = 4_096

const BREAKER_STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
}

// ---------------------------------------------------------------------------------------------------------------------
// Internals (tests and diagnostics)
// ---------------------------------------------------------------------------------------------------------------------

/** What a resolver holds, for tests and diagnostics. Not part of the public API. @internal */
export interface ResolverInternals {
  readonly l1: MemoryTier
  readonly l2: SharedTier | undefined
  /** Lookups being scored now (one per IP key). */
  flights(): number
  /** Provider calls in flight now. */
  inFlight(): number
  /** The provider budgets (in flight, per minute, per network). */
  readonly budget: ProviderBudget
  /** Replace the clock of the per-minute budget (epoch ms; default `Date.now()`), for tests. */
  setBudgetClock(now: () => number): void
}

const internals = new WeakMap<RiskResolver, ResolverInternals>()

/** The internals of a resolver made by {@link createRiskResolver}. @internal */
export function resolverInternals(resolver: RiskResolver): ResolverInternals {
  const found = internals.get(resolver)
  if (found === undefined) throw new TypeError('not a resolver made by createRiskResolver')
  return found
}

// ---------------------------------------------------------------------------------------------------------------------
// createRiskResolver
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Create the risk resolver: one per process, shared by every adapter. Every option is validated here; a bad one
 * throws an {@link IpRiskConfigError} naming it.
 *
 * What is promised:
 * - `lookup` / `fromRequest` never reject and never take longer than `budget.timeoutMs` (plus scheduling);
 * - a warm answer (`peek`) costs one map lookup and no allocation;
 * - memory is bounded (`cache.l1.max` entries); provider calls are bounded (`budget.maxInFlight`, optionally
 *   `budget.maxPerMinute`), and concurrent lookups of one IP (IPv6: one /64) share one call;
 * - the budgets are shared between source networks (`budget.perNetwork`: an IPv4 /24, an IPv6 /48): one network
 *   cannot spend the budget of the others, and a network with nothing in flight is looked up while the pool is not full;
 * - a provider that breaks its contract (throws synchronously, returns no promise, rejects with a non-Error) gives a
 *   `provider_error` answer, never a crash;
 * - a shared cache that fails costs at most `cache.l2TimeoutMs` per lookup until its breaker opens; it never fails a
 *   request.
 *
 * @throws {IpRiskConfigError} naming the bad option (`provider`, `cache.ttlSeconds`, `lists.allow`, `trustProxy`, ...).
 *
 * @example
 * ```ts
 * import { createRiskResolver, ipasis, policies } from 'iprisk'
 *
 * const risk = createRiskResolver({
 *   provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }),
 *   trustProxy: 'loopback',
 *   cache: 'redis://127.0.0.1:6379',
 * })
 * const answer = await risk.fromRequest(req)          // IpRisk
 * const decision = risk.check(answer, policies.admin) // Decision
 * risk.report(decision, { adapter: 'http', path: req.url })
 * if (decision.action === 'block') res.writeHead(403).end()
 * await risk.close()
 * ```
 */
export function createRiskResolver(options: RiskResolverOptions): RiskResolver {
  const opts = parseResolverOptions(options)

  let readIp: (req: RequestLike, peer?: string | null) => ClientIp
  try {
    readIp = createClientIpReader(opts.ip)
  } catch (error) {
    if (error instanceof IpRiskConfigError && error.option === 'headers') {
      throw new IpRiskConfigError('clientIpHeaders', error.message.replace(/^iprisk: invalid option `headers`: /, ''))
    }
    throw error
  }
  const reporter = createReporter({ ...opts.observability, clock: opts.clock })
  if (opts.scoreLoopback) reporter.configError('development.scoreLocalAddresses', DEVELOPMENT_WARNING)
  const metrics = reporter.metrics
  const provider = opts.provider
  const selfCheck = new SelfCheck({ warn: (event) => reporter.degraded(event), providerName: provider.name }, opts.clock)
  const { ttlMs, flaggedTtlMs, staleMs, failureTtlMs, timeoutMs, maxInFlight, maxPerMinute, ipv6Prefix, prefix } = opts
  const perNetwork = opts.perNetwork
  const blocklist = opts.blocklist
  const { allow, deny } = opts
  const hasLists = allow !== undefined || deny !== undefined
  const scoreDocs = opts.scoreDocumentationRanges

  // --- tiers ------------------------------------------------------------------------------------------------------
  const l1 = new MemoryTier(opts.l1Max)
  let l2: SharedTier | undefined
  if (opts.l2 !== undefined) {
    const onOpen = (reason: string): void =>
      reporter.configError(
        opts.l2Option,
        `the shared cache (L2) is failing (${reason}); answering from L1 and the provider, probing it again every few seconds`,
      )
    const onFailure = (kind: 'timeout' | 'error'): void => reporter.metrics.l2Error(kind)
    // A value in L2 that is not a record this resolver could have written is a miss, counted and reported once (under
    // `cache.prefix`: the L2 option's own report is the one about the store failing).
    const onInvalid = (problem: string, key: string): void => {
      reporter.metrics.l2Error('invalid')
      reporter.configError(
        'cache.prefix',
        `the shared cache (L2) holds a value under \`${prefix}:${CACHE_KEY_VERSION}:\` that is not a record iprisk writes with this configuration (${key}: ${problem}); it is read as a miss (the provider is asked, and its answer replaces a stored answer). Another program, instances configured differently, or someone with write access to the store writes under this prefix`,
      )
    }
    const tierOptions = {
      timeoutMs: opts.l2TimeoutMs,
      onOpen,
      onFailure,
      onInvalid,
      // The longest lifetimes this resolver writes: a record claiming longer ones was not written by it.
      maxFreshMs: Math.max(ttlMs, flaggedTtlMs),
      maxBlockMs: MAX_BLOCK_SECONDS * 1000,
    }
    if (opts.l2.kind === 'url') {
      assertRedisAdapterInstalled(opts.l2Option)
      const redis = connectRedisKeyv(opts.l2.url, () => undefined)
      l2 = new SharedTier(redis.keyv, { ...tierOptions, dispose: redis.destroy })
    } else {
      l2 = new SharedTier(opts.l2.keyv, tierOptions)
    }
  }
  /** Raw text → the address the client is treated as (an embedded IPv4 client, else itself) and its cache key. */
  const keyMemo = new LRUCache<string, { ip: string; key: string }>({ max: KEY_MEMO_MAX })
  const nat64Prefixes = opts.nat64Prefixes
  const staticMemo = new LRUCache<string, IpRisk>({ max: STATIC_MEMO_MAX })

  // --- provider guards ----------------------------------------------------------------------------------------------
  let breaker: CircuitBreakerPolicy | undefined
  if (opts.breaker !== undefined) {
    breaker = circuitBreaker(handleAll, {
      halfOpenAfter: opts.breaker.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(opts.breaker.failures),
    })
    breaker.onStateChange((state) => metrics.breakerState(BREAKER_STATES[state]))
  }
  // cockatiel cannot open a breaker for a given duration, so a 429's Retry-After is a separate gate in front of it.
  let retryAfterUntil = 0
  // Budgets: counters and token buckets shared fairly between source networks (see budget.ts; a few comparisons on
  // the miss path, where cockatiel's bulkhead would add a promise layer and knows no networks).
  let budgetClock = (): number => Date.now()
  const budget = new ProviderBudget(maxInFlight, maxPerMinute, perNetwork, budgetClock())

  const flights = new Map<string, Promise<IpRisk>>()

  // Deadlines. A lookup's provider call is aborted when its whole-lookup budget runs out. An AbortController and a
  // timer per call cost several µs and much GC on the miss path, so calls whose deadlines fall in the same short
  // window share one controller and one timer, fired at the window's start: a call is cut at most `windowMs` early,
  // never late. Hand-rolled because no library batches abort signals.
  const windowMs = Math.max(1, Math.min(10, Math.floor(timeoutMs / 20)))
  const deadlines = new Map<number, DeadlineWindow>()

  function joinDeadline(at: number): DeadlineWindow {
    const index = Math.floor(at / windowMs)
    let w = deadlines.get(index)
    if (w === undefined) {
      const controller = new AbortController()
      setMaxListeners(0, controller.signal) // every call of the window may listen to it
      const window: DeadlineWindow = { index, controller, waiters: [], users: 0, timer: undefined }
      window.timer = setTimeout(fireDeadline, Math.max(0, index * windowMs - performance.now()), window)
      deadlines.set(index, window)
      w = window
    }
    w.users++
    return w
  }

  function fireDeadline(w: DeadlineWindow): void {
    deadlines.delete(w.index)
    w.controller.abort()
    for (const waiter of w.waiters) waiter(DEADLINE)
  }

  function leaveDeadline(w: DeadlineWindow): void {
    if (--w.users === 0 && !w.controller.signal.aborted) {
      clearTimeout(w.timer)
      deadlines.delete(w.index)
    }
  }

  let closed = false

  // --- addresses ----------------------------------------------------------------------------------------------------
  // `locate` leaves its result in these two variables: the hot path returns two strings without allocating.
  let curIp = ''
  let curKey = ''
  /** Set by `answerNow` when it returns `undefined` after classifying the address (an L1 miss). */
  let curKind: IpKind | undefined

  function locate(raw: string): boolean {
    if (isIPv4(raw)) {
      curIp = raw
      curKey = raw
      return true
    }
    const memo = keyMemo.get(raw)
    if (memo !== undefined) {
      curIp = memo.ip
      curKey = memo.key
      return true
    }
    const ip = parseIp(raw)
    if (ip === null) return false
    // An address standing for an IPv4 client (NAT64, 6to4, Teredo, `nat64Prefixes`) becomes that IPv4 address here,
    // so lists, the blocklist, the cache, the lookup, the answer and the events all see the IPv4 client. Miss path only.
    const located = locateClient(ip, ipv6Prefix, nat64Prefixes)
    keyMemo.set(raw, located)
    curIp = located.ip
    curKey = located.key
    return true
  }

  function scorable(kind: IpKind): boolean {
    return kind === 'global' || (kind === 'documentation' && scoreDocs) || (kind === 'loopback' && opts.scoreLoopback)
  }

  function staticAnswer(ip: string, listed: 'allow' | 'deny' | null, kind: IpKind | null): IpRisk {
    const memo = staticMemo.get(ip)
    if (memo !== undefined && memo.listed === listed) return memo
    const answer = makeRisk(ip, kind ?? classifyIp(ip), 'skipped', null, listed, 'none', 0, null)
    staticMemo.set(ip, answer)
    return answer
  }

  /**
   * Steps 1–4 of a lookup: synchronous, no I/O. Returns an answer, or `undefined` with `curIp` / `curKey` set and the
   * address known to be scorable.
   */
  function answerNow(raw: string | null): IpRisk | undefined {
    curKind = undefined
    if (typeof raw !== 'string' || !locate(raw)) return NO_IP
    const ip = curIp
    if (hasLists) {
      if (deny !== undefined && deny(ip)) return staticAnswer(ip, 'deny', null)
      if (allow !== undefined && allow(ip)) return staticAnswer(ip, 'allow', null)
    }
    const entry = l1.get(curKey)
    if (entry !== undefined) {
      const now = Date.now()
      if (entry.blockedUntil > now) {
        metrics.cache('l1')
        return withIp(entry.blocked as IpRisk, ip)
      }
      if (entry.blocked !== undefined) {
        // An expired L1 block: with L2, ask it again (another instance may have lifted or renewed it).
        if (l2 !== undefined) return undefined
        clearBlock(entry)
      }
      if (entry.freshUntil > now) {
        metrics.cache('l1')
        return withIp(entry.risk as IpRisk, ip)
      }
      if (entry.failureUntil > now) {
        metrics.cache('l1')
        return withIp(entry.failure as IpRisk, ip)
      }
      return undefined
    }
    const kind = classifyIp(ip)
    curKind = kind
    if (!scorable(kind)) return staticAnswer(ip, null, kind)
    return undefined
  }

  // --- cache writes -------------------------------------------------------------------------------------------------

  function installRisk(entry: L1Entry, ip: string, kind: IpKind, d: RiskData, freshUntil: number): void {
    entry.risk = makeRisk(ip, kind, 'scored', null, null, 'l1', 0, d)
    entry.freshUntil = freshUntil
    entry.staleUntil = freshUntil + staleMs
    entry.failure = undefined
    entry.failureUntil = 0
  }

  /**
   * Put a block in L1. With L2, the local copy lives at most one TTL, then L2 is asked again: that bounds how long a
   * block (or an unblock) made on another instance takes to be seen here.
   */
  function installBlock(entry: L1Entry, ip: string, kind: IpKind, d: RiskData | null, until: number, now: number): IpRisk {
    entry.blocked = makeRisk(ip, kind, d === null ? 'skipped' : 'scored', null, 'blocklist', 'l1', 0, d)
    entry.blockedUntil = l2 === undefined ? until : Math.min(until, now + ttlMs)
    return entry.blocked
  }

  function clearBlock(entry: L1Entry): void {
    entry.blocked = undefined
    entry.blockedUntil = 0
  }

  // --- the flight ---------------------------------------------------------------------------------------------------

  function startFlight(ip: string, key: string, knownKind: IpKind | undefined): Promise<IpRisk> {
    const existing = flights.get(key)
    if (existing !== undefined) return existing
    const kind = knownKind ?? classifyIp(ip)
    const t0 = performance.now()
    let result: IpRisk | Promise<IpRisk>
    try {
      result = fly(ip, key, kind, t0)
    } catch {
      result = makeRisk(ip, kind, 'unavailable', 'network', null, 'none', performance.now() - t0, null)
    }
    // Answered without waiting (a refusal, a closed resolver): nothing to share.
    if (!(result instanceof Promise)) return Promise.resolve(result)
    const flight = result
    flights.set(key, flight)
    // Flights never reject (every step turns failures into answers).
    void flight.then(() => {
      if (flights.get(key) === flight) flights.delete(key)
    })
    return flight
  }

  /** Steps of a flight: L2, then the provider. Returns a promise only when it has to wait (L2, provider). */
  function fly(ip: string, key: string, kind: IpKind, t0: number): IpRisk | Promise<IpRisk> {
    if (closed) return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', 0, null)
    const now = Date.now()
    const entry = l1.prune(key, now)
    if (l2 !== undefined) {
      const tier = l2
      return tier
        .read(riskCacheKey(prefix, provider.name, key), blockCacheKey(prefix, key))
        .then((read) => {
          try {
            return afterL2(ip, key, kind, t0, entry, read)
          } catch {
            return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', performance.now() - t0, null)
          }
        })
    }
    if (entry !== undefined && entry.blocked !== undefined && entry.blockedUntil <= now) clearBlock(entry)
    return afterL2(ip, key, kind, t0, entry, undefined)
  }

  /** What L1 (`before`, read when the flight started) and L2 (`read`, if any) give; else the provider. */
  function afterL2(
    ip: string,
    key: string,
    kind: IpKind,
    t0: number,
    before: L1Entry | undefined,
    read: SharedRead | undefined,
  ): IpRisk | Promise<IpRisk> {
    const now = Date.now()
    // After an L2 read (an await) the entry may have changed; without one, `before` is current.
    const entry = read === undefined && l2 === undefined ? before : (l1.prune(key, now) ?? before)
    const l1Fresh = entry !== undefined && entry.risk !== undefined && entry.freshUntil > now
    // An IpRisk is RiskData: the stored answer serves as stale data without a copy.
    let stale: RiskData | undefined = entry !== undefined && entry.staleUntil > now ? entry.risk : undefined
    let staleUntil = stale === undefined ? 0 : (entry as L1Entry).staleUntil

    if (read !== undefined) {
      const block = read.block
      if (block !== undefined && block.until > now) {
        const e = entry ?? l1.upsert(key)
        const known =
          block.data ?? (e.risk !== undefined && e.risk.status === 'scored' ? dataOf(e.risk) : null) ?? read.risk?.data ?? null
        const stored = installBlock(e, ip, kind, known, block.until, now)
        return makeRisk(ip, kind, stored.status, null, 'blocklist', 'l2', performance.now() - t0, known)
      }
      if (entry !== undefined && entry.blocked !== undefined) clearBlock(entry)
      const risk = read.risk
      if (!l1Fresh && risk !== undefined) {
        if (risk.freshUntil > now) {
          // L2 checked the record against the longest TTL; L1 keeps it no longer than this answer's own TTL from now.
          const freshUntil = Math.min(risk.freshUntil, now + (isFlagged(risk.data) ? flaggedTtlMs : ttlMs))
          installRisk(entry ?? l1.upsert(key), ip, kind, risk.data, freshUntil)
          metrics.cache('l2')
          return makeRisk(ip, kind, 'scored', null, null, 'l2', performance.now() - t0, risk.data)
        }
        if (risk.freshUntil + staleMs > now && risk.freshUntil + staleMs > staleUntil) {
          stale = risk.data
          staleUntil = risk.freshUntil + staleMs
        }
      }
    }

    if (l1Fresh && entry !== undefined && entry.risk !== undefined) {
      // Only here because an L1 block expired: the answer itself is still fresh.
      metrics.cache('l1')
      return withIp(entry.risk, ip)
    }
    metrics.cache('miss')
    return callProvider(ip, key, kind, t0, stale)
  }

  /** The source network a lookup's budget is drawn from ('' when the budgets are one pool). */
  function networkFor(ip: string, key: string): string {
    if (perNetwork === undefined) return ''
    try {
      return networkOf(ip, key, perNetwork.ipv4Prefix, perNetwork.ipv6Prefix)
    } catch {
      return key // defensive: an address that cannot be read is its own network
    }
  }

  /**
   * The provider call, behind the Retry-After gate, the breaker and the budgets (each refusal answers synchronously).
   * The call settles when the provider answers or its deadline window fires, whichever comes first: the provider must
   * honour the signal, but one that does not is still answered at the deadline.
   */
  function callProvider(ip: string, key: string, kind: IpKind, t0: number, stale: RiskData | undefined): IpRisk | Promise<IpRisk> {
    const now = Date.now()
    if (retryAfterUntil !== 0) {
      if (retryAfterUntil > now) {
        metrics.upstream(0, 'breaker_open')
        return failed(ip, key, kind, t0, 'rate_limited', stale, false)
      }
      retryAfterUntil = 0
      metrics.breakerState(breaker === undefined ? 'closed' : BREAKER_STATES[breaker.state])
    }
    if (breaker !== undefined && breaker.state === CircuitState.HalfOpen) {
      // cockatiel queues callers behind the half-open probe; we answer at once instead.
      metrics.upstream(0, 'breaker_open')
      return failed(ip, key, kind, t0, 'breaker_open', stale, false)
    }
    const remaining = t0 + timeoutMs - performance.now()
    if (remaining <= 0) {
      metrics.upstream(0, 'timeout')
      return failed(ip, key, kind, t0, 'timeout', stale, true)
    }
    const network = networkFor(ip, key)
    const refused = budget.acquire(network, maxPerMinute > 0 ? budgetClock() : 0)
    if (refused !== undefined) {
      metrics.budgetRejected(refused)
      metrics.upstream(0, 'budget_exceeded')
      return failed(ip, key, kind, t0, 'budget_exceeded', stale, false)
    }

    const window = joinDeadline(t0 + timeoutMs)
    const signal = window.controller.signal
    const started = performance.now()
    return new Promise<IpRisk>((resolve) => {
      let settled = false
      const settle = (value: unknown, error: unknown, ok: boolean): void => {
        if (settled) return
        settled = true
        leaveDeadline(window)
        budget.release(network)
        let answer: IpRisk
        try {
          answer = providerOutcome(ip, key, kind, t0, stale, network, signal.aborted, started, value, error, ok)
        } catch {
          answer = makeRisk(ip, kind, 'unavailable', 'network', null, 'none', performance.now() - t0, null)
        }
        resolve(answer)
      }
      const onError = (error: unknown): void => settle(undefined, error, false)
      window.waiters.push(onError)
      try {
        const call = breaker === undefined ? invokeLookup(provider, ip, signal) : breaker.execute(() => invokeLookup(provider, ip, signal), signal)
        // The intrinsic `then`, as `await` uses: a promise's own `then` property (the provider's object) is not called.
        promiseThen.call(call, (value: unknown) => settle(value, undefined, true), onError)
      } catch {
        // Defensive: a Promise subclass whose species constructor throws.
        onError(new ContractBreach('returned a promise that cannot be awaited'))
      }
    })
  }

  /** Turn what the provider call gave into an answer, and update the gates, metrics and caches accordingly. */
  function providerOutcome(
    ip: string,
    key: string,
    kind: IpKind,
    t0: number,
    stale: RiskData | undefined,
    network: string,
    deadlineHit: boolean,
    started: number,
    value: unknown,
    error: unknown,
    ok: boolean,
  ): IpRisk {
    const ms = performance.now() - started
    const data = ok ? normalizeData(value) : undefined
    if (data !== undefined) {
      metrics.upstream(ms, 'ok')
      selfCheck.providerCall(null)
      return scored(ip, key, kind, t0, data)
    }
    if (ok) error = BAD_RESPONSE

    let lookupError: LookupError
    if (error instanceof BrokenCircuitError) {
      lookupError = 'breaker_open'
      budget.refund(network) // no call was made
      metrics.upstream(0, 'breaker_open')
    } else {
      const kindOf = providerErrorKind(error)
      if (deadlineHit || kindOf === 'aborted' || kindOf === 'timeout') lookupError = 'timeout'
      else if (error === BAD_RESPONSE) lookupError = 'bad_response'
      else if (error instanceof ContractBreach || kindOf === null || (kindOf === undefined && !isError(error))) {
        lookupError = 'provider_error'
        const what =
          error instanceof ContractBreach
            ? error.what
            : kindOf === null
              ? 'threw a ProviderError of an unknown kind'
              : `rejected with ${describeValue(error)} instead of an Error`
        reporter.configError(
          'provider',
          `the provider \`${provider.name}\` broke its contract: lookup() ${what}; such lookups answer \`provider_error\` (lookup must return a promise of RiskData and reject with an Error)`,
        )
      } else lookupError = kindOf ?? 'network'
      if (closed) lookupError = 'network'
      metrics.upstream(ms, lookupError as ProviderErrorKind | 'provider_error')
      if (lookupError === 'rate_limited') {
        const wait = retryAfterOf(error)
        if (wait !== undefined) {
          retryAfterUntil = Date.now() + Math.min(wait, MAX_RETRY_AFTER_MS)
          metrics.breakerState('open')
        }
      } else if (lookupError === 'auth') {
        reporter.configError(
          'provider.apiKey',
          'the provider rejected the API key (HTTP 401/403): every lookup fails until it is fixed',
        )
      }
      selfCheck.providerCall(lookupError)
    }
    return failed(ip, key, kind, t0, lookupError, stale, REMEMBERED.has(lookupError))
  }

  function scored(ip: string, key: string, kind: IpKind, t0: number, d: RiskData): IpRisk {
    const now = Date.now()
    const ttl = isFlagged(d) ? flaggedTtlMs : ttlMs
    const freshUntil = now + ttl
    const entry = l1.upsert(key)
    installRisk(entry, ip, kind, d, freshUntil)
    l2?.write(riskCacheKey(prefix, provider.name, key), encodeRisk(d, freshUntil), ttl + staleMs)
    let listed: IpRisk['listed'] = null
    if (blocklist !== undefined && d.score !== null && d.score >= blocklist.score) {
      const until = now + blocklist.ttlMs
      installBlock(entry, ip, kind, d, until, now)
      l2?.write(blockCacheKey(prefix, key), encodeBlock(until, d), blocklist.ttlMs)
      listed = 'blocklist'
    }
    return makeRisk(ip, kind, 'scored', null, listed, 'upstream', performance.now() - t0, d)
  }

  function failed(
    ip: string,
    key: string,
    kind: IpKind,
    t0: number,
    error: LookupError,
    stale: RiskData | undefined,
    remember: boolean,
  ): IpRisk {
    const lookupMs = performance.now() - t0
    if (stale !== undefined) metrics.cache('stale')
    if (remember && failureTtlMs > 0 && !closed) {
      const entry = l1.upsert(key)
      entry.failure =
        stale === undefined
          ? makeRisk(ip, kind, 'unavailable', error, null, 'none', 0, null)
          : makeRisk(ip, kind, 'scored', error, null, 'stale', 0, stale)
      entry.failureUntil = Date.now() + failureTtlMs
    }
    return stale === undefined
      ? makeRisk(ip, kind, 'unavailable', error, null, 'none', lookupMs, null)
      : makeRisk(ip, kind, 'scored', error, null, 'stale', lookupMs, stale)
  }

  // --- public surface -----------------------------------------------------------------------------------------------

  function lookup(ip: string | null, options?: LookupOptions): Promise<IpRisk> {
    try {
      const now = answerNow(ip)
      if (now !== undefined) return Promise.resolve(now)
      const canonical = curIp
      const key = curKey
      const kind = curKind
      if (options?.wait === false) {
        void startFlight(canonical, key, kind)
        const t = Date.now()
        const entry = l1.get(key)
        if (entry !== undefined && entry.risk !== undefined && entry.blocked === undefined && entry.staleUntil > t) {
          // stale-while-revalidate: the last known data now, a fresh answer for the next request.
          const r = entry.risk
          return Promise.resolve(makeRisk(canonical, r.ipKind, 'scored', null, null, 'stale', 0, dataOf(r)))
        }
        return Promise.resolve(makeRisk(canonical, kind ?? classifyIp(canonical), 'pending', null, null, 'none', 0, null))
      }
      const flight = startFlight(canonical, key, kind)
      // An IPv4 address is its own key; another IPv6 address of the same prefix gets the answer under its own name.
      return canonical === key ? flight : flight.then((answer) => withIp(answer, canonical))
    } catch {
      // Defensive: nothing above is expected to throw; a lookup never rejects.
      return Promise.resolve(NO_IP)
    }
  }

  function clientIp(req: RequestLike, peerAddress?: string | null): ClientIp {
    const result = readIp(req, peerAddress)
    // Self-check (a): a local peer read from the socket may be a proxy that is not trusted. Until warned once.
    if (selfCheck.watchProxy && result.source === 'socket' && result.kind !== 'global') selfCheck.socketPeer(req, result.kind)
    return result
  }

  const compiledPolicies = new WeakMap<Policy, Policy>()

  // The adapters check the same few compiled policies on every request: the last one is remembered, sparing the
  // WeakMap read on the hot path.
  let lastPolicy: Policy | undefined
  let lastCompiled: Policy | undefined
  function compiled(policy: Policy): Policy {
    if (policy === lastPolicy) return lastCompiled as Policy
    let p = compiledPolicies.get(policy)
    if (p === undefined) {
      p = compilePolicy(policy)
      compiledPolicies.set(policy, p)
    }
    lastPolicy = policy
    lastCompiled = p
    return p
  }

  function blockTarget(ip: string): { ip: string; key: string } {
    if (typeof ip !== 'string' || !locate(ip)) throw new IpRiskError('iprisk: block()/unblock() expect an IP address')
    return { ip: curIp, key: curKey }
  }

  const resolver: RiskResolver = {
    clientIp,

    peek(ip) {
      return answerNow(ip)
    },

    lookup,

    fromRequest(req, options) {
      let ip: string | null
      try {
        ip = clientIp(req, options?.peerAddress).ip
      } catch {
        ip = null
      }
      return lookup(ip, options)
    },

    compile(policy) {
      return compilePolicy(policy)
    },

    check(risk, policy) {
      return evaluate(risk, policy === undefined ? policies.baseline : compiled(policy), opts.failMode)
    },

    report(decision, info) {
      try {
        reporter.decision(decision, info)
        selfCheck.decision(decision, info)
      } catch {
        // never breaks a request
      }
    },

    status() {
      const now = Date.now()
      const breakerState =
        breaker === undefined ? 'disabled' : retryAfterUntil > now ? 'open' : BREAKER_STATES[breaker.state]
      return selfCheck.snapshot({ breaker: breakerState, l2: l2 === undefined ? 'none' : l2.state(), closed })
    },

    async ready(options) {
      const timeout = options?.timeoutMs ?? PROBE_TIMEOUT_MS
      if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) {
        throw new IpRiskConfigError('ready.timeoutMs', 'must be an integer from 1 to 60000 (milliseconds)')
      }
      const ip = options?.ip === undefined ? PROBE_IP : typeof options.ip === 'string' ? parseIp(options.ip) : null
      if (ip === null) throw new IpRiskConfigError('ready.ip', 'must be an IP address')
      if (closed) throw new IpRiskError('iprisk: ready() on a closed resolver')
      try {
        await probeProvider(provider.name, (a, signal) => invokeLookup(provider, a, signal), (v) => normalizeData(v) !== undefined, ip, timeout, opts.clock)
      } catch (error) {
        if (error instanceof IpRiskProbeError) selfCheck.providerCall(error.kind) // shown by status(): lastError
        throw error
      }
      selfCheck.providerCall(null)
    },

    async block(ip, seconds) {
      const target = blockTarget(ip)
      const s = seconds ?? (blocklist === undefined ? 3_600 : blocklist.ttlMs / 1000)
      if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > MAX_BLOCK_SECONDS) {
        throw new IpRiskError(`iprisk: block() seconds must be a number greater than 0 and at most ${MAX_BLOCK_SECONDS}`)
      }
      const now = Date.now()
      const until = now + s * 1000
      const entry = l1.upsert(target.key)
      const known = entry.risk !== undefined && entry.risk.status === 'scored' ? dataOf(entry.risk) : null
      installBlock(entry, target.ip, classifyIp(target.ip), known, until, now)
      await l2?.writeNow(blockCacheKey(prefix, target.key), encodeBlock(until, known), s * 1000)
    },

    async unblock(ip) {
      const target = blockTarget(ip)
      l1.delete(target.key)
      await l2?.deleteNow([blockCacheKey(prefix, target.key)])
    },

    async close() {
      if (closed) return
      closed = true
      for (const w of [...deadlines.values()]) {
        clearTimeout(w.timer)
        fireDeadline(w)
      }
      await Promise.allSettled([...flights.values()])
      l2?.close()
      selfCheck.stop()
      try {
        await provider.close?.()
      } catch {
        // closing is best effort
      }
      metrics.close()
    },
  }
  internals.set(resolver, {
    l1,
    l2,
    flights: () => flights.size,
    inFlight: () => budget.inFlight,
    budget,
    setBudgetClock: (now) => {
      budgetClock = now
    },
  })
  return resolver
}
