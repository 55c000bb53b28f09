/**
 * The risk resolver: the one engine every adapter shares. `createRiskResolver` only assembles it from parts, one
 * concern each:
 *
 * ```
 *   options.ts ──► createRiskResolver ──► RiskResolver (types.ts)
 *                     │
 *                     ├─ lists.ts          where a client is filed (address, cache key), allow / deny lists
 *                     ├─ answer-cache.ts   answers, failures and blocks in L1 / L2 (cache.ts)
 *                     ├─ provider-gate.ts  Retry-After, breaker.ts, budget.ts, deadlines.ts, provider-contract.ts
 *                     ├─ lookup.ts         the lookup pipeline, one flight per key (single-flight.ts)
 *                     ├─ answers.ts        the one constructor of answers
 *                     └─ resolver-parts.ts client-IP reader, L2 wiring, policy memo, ready(), block()
 * ```
 *
 * The order of a lookup is in lookup.ts. Every time read and timer goes through the one injected `clock`.
 *
 * @module
 */
import { MemoryTier, type SharedTier } from './cache.js'
import { AnswerCache } from './answer-cache.js'
import type { ProviderBudget } from './budget.js'
import type { FleetBudget } from './fleet/budget.js'
import type { FleetLease } from './fleet/lease.js'
import { systemClock } from './clock.js'
import { IpRiskError } from './errors.js'
import { createReporter } from './events.js'
import type { BlockPropagation } from './fleet/propagation.js'
import { blockEverywhere, startPropagation, unblockEverywhere } from './fleet/propagation-wiring.js'
import { createResolverLease } from './fleet/lease-link.js'
import { ClientLists, ipOf, keyOf } from './lists.js'
import { Lookups } from './lookup.js'
import { DEVELOPMENT_WARNING, parseResolverOptions, type RiskResolverOptions } from './options.js'
import { compilePolicy } from './policy.js'
import { ProviderGate } from './provider-gate.js'
import { PolicyChecker, blockMs, createIpReader, createSharedTier, probeReady, watchedIpReader } from './resolver-parts.js'
import { SelfCheck } from './self-check.js'
import { fleetLinkOf } from './fleet/budget-link.js'
import type { RiskResolver } from './types.js'

export type {
  BlocklistOptions,
  BreakerOptions,
  BudgetOptions,
  CacheOptions,
  DevelopmentOptions,
  ListOptions,
  NetworkShareOptions,
  RiskResolverOptions,
} from './option-types.js'
export { resolverDefaults } from './option-types.js'
export { FLAGGED_SCORE, unscoredRisk } from './answers.js'

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
  /** `budget.fleet`, when set. */
  readonly fleetBudget: FleetBudget | undefined
  /** The fleet lease, when on (`cache.leaseMs`). */
  readonly lease: FleetLease | undefined
  /** Block propagation (`cache.propagateBlocks`), when on. */
  readonly propagation: BlockPropagation | undefined
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
  const { provider, clock } = opts
  const readIp = createIpReader(opts.ip)
  const reporter = createReporter({ ...opts.observability, clock })
  if (opts.scoreLoopback) reporter.configError('development.scoreLocalAddresses', DEVELOPMENT_WARNING)
  const metrics = reporter.metrics
  const selfCheck = new SelfCheck({ warn: (event) => reporter.degraded(event), providerName: provider.name }, clock)
  const clientIp = watchedIpReader(readIp, selfCheck)
  const l2 = createSharedTier(opts, reporter, clock)
  const cache = new AnswerCache(new MemoryTier(opts.l1Max), l2, { ...opts, providerName: provider.name }, clock, metrics)
  const gate = new ProviderGate(opts, {
    metrics,
    configError: (option, message) => reporter.configError(option, message),
    providerCall: (error) => selfCheck.providerCall(error),
    fleetLink: l2?.link !== undefined ? () => l2.connectedLink() : fleetLinkOf(opts.l2), // URL: the L2's own link
    degraded: (event) => reporter.degraded(event),
  })
  const lists = new ClientLists(opts)
  const fleetLease = createResolverLease(opts, reporter, clock, l2?.link !== undefined ? () => l2.connectedLink() : undefined)
  const lookups = new Lookups(lists, cache, gate, clock, fleetLease?.lease)
  const propagation = startPropagation(opts, options.cache, cache, lists, reporter, clock, l2?.link)
  const checker = new PolicyChecker(opts.failMode)

  /** The client `block()` / `unblock()` act on (an embedded IPv4 client, else the address itself). */
  function target(ip: string): { ip: string; key: string } {
    const located = typeof ip === 'string' ? lists.locate(ip) : null
    if (located === null) throw new IpRiskError('iprisk: block()/unblock() expect an IP address')
    return { ip: ipOf(located), key: keyOf(located) }
  }

  const resolver: RiskResolver = {
    clientIp,
    peek: (ip) => lookups.answerNow(ip),
    lookup: (ip, lookupOptions) => lookups.lookup(ip, lookupOptions),
    fromRequest(req, lookupOptions) {
      let ip: string | null
      try {
        ip = clientIp(req, lookupOptions?.peerAddress).ip
      } catch {
        ip = null
      }
      return lookups.lookup(ip, lookupOptions)
    },
    compile: (policy) => compilePolicy(policy),
    check: (risk, policy) => checker.check(risk, policy),
    report(decision, info) {
      try {
        reporter.decision(decision, info)
        selfCheck.decision(decision, info)
      } catch {
        // never breaks a request
      }
    },
    status: () => selfCheck.snapshot({ breaker: gate.breakerState(), l2: l2 === undefined ? 'none' : l2.state(), closed: gate.closed }),
    ready: (readyOptions) => probeReady(provider, selfCheck, gate.closed, readyOptions, clock),
    block: async (ip, seconds) => blockEverywhere(cache, propagation, target(ip), blockMs(seconds, opts.blocklist), clock),
    unblock: async (ip) => unblockEverywhere(cache, propagation, target(ip)),
    async close() {
      if (gate.closed) return
      gate.close() // answers the calls in flight now
      lookups.close() // ends waits for other instances' answers
      await lookups.flights.drain()
      await propagation?.close()
      fleetLease?.close()
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
  const { budget, fleet: fleetBudget } = gate
  const parts = { l1: cache.l1, l2, budget, fleetBudget, lease: fleetLease?.lease, propagation }
  internals.set(resolver, { ...parts, flights: () => lookups.flights.size, inFlight: () => budget.inFlight })
  return resolver
}
