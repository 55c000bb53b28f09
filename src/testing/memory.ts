/**
 * An in-process {@link Provider} for unit tests: no HTTP, answers from a table or a function, counts calls.
 *
 * @module
 */
import { IpRiskConfigError, IpRiskError, ProviderError } from '../core/errors.js'
import { describeUntrusted, isCanonicalIp } from '../core/provider-schema.js'
import type { Provider, RiskData } from '../core/types.js'
import { IpCallCounts } from './simulator/counters.js'
import { ProfileTable, resolveProfile, type SimulatorProfile } from './simulator/profiles.js'

/**
 * A profile the memory provider can answer with: a built-in name or (partial) risk data.
 *
 * @example
 * ```ts
 * const answers: MemoryProfile[] = ['tor', { score: 80, isDatacenter: true }]
 * ```
 */
export type MemoryProfile = Exclude<SimulatorProfile, { readonly json: unknown }>

/**
 * Where a memory provider's answers come from:
 * - a table keyed by IP or CIDR (exact IPs first, then the longest matching prefix, then `defaultProfile`);
 * - a function of the IP and the lookup's signal, returning a profile (or a promise of one), or throwing (e.g. a
 *   `ProviderError`) to simulate a failure.
 *
 * @example
 * ```ts
 * const table: MemoryProviderSource = { '203.0.113.66': 'tor', '10.0.0.0/8': 'clean' }
 * const fn: MemoryProviderSource = (ip) => (ip === '203.0.113.66' ? 'tor' : { score: 10 })
 * ```
 */
export type MemoryProviderSource =
  | Readonly<Record<string, MemoryProfile>>
  | ((ip: string, signal: AbortSignal) => MemoryProfile | Promise<MemoryProfile>)

/**
 * Options of {@link createMemoryProvider}.
 *
 * @example
 * ```ts
 * createMemoryProvider({}, { name: 'fake-intel', defaultProfile: 'high-risk' })
 * ```
 */
export interface MemoryProviderOptions {
  /** Provider name (`[a-z0-9-]`, part of cache keys). @default 'memory' */
  name?: string
  /** Answer for IPs the table does not list. @default 'clean' */
  defaultProfile?: MemoryProfile
}

/**
 * A {@link Provider} that also counts its calls.
 *
 * @example
 * ```ts
 * const provider: MemoryProvider = createMemoryProvider({})
 * expect(provider.callsFor('203.0.113.7')).toBe(0)
 * ```
 */
export interface MemoryProvider extends Provider {
  /** Lookups made since creation or the last `reset()`. */
  readonly calls: number
  /** Lookups of this IP (any notation) since creation or the last `reset()`. */
  callsFor(ip: string): number
  /** Zero the counters. */
  reset(): void
  /** True once `close()` was called. */
  readonly closed: boolean
}

/**
 * Create an in-process provider. Like `ipasis()`, it rejects a non-canonical IP with an `IpRiskError` (without
 * counting it). Partial answers are completed with `null` (like a real provider that did not send a
 * field); an aborted signal rejects with `ProviderError('aborted')`, also while a function's promise is pending.
 *
 * @example
 * ```ts
 * import { createMemoryProvider } from 'iprisk/testing'
 *
 * const provider = createMemoryProvider({ '203.0.113.66': 'tor', '198.51.100.0/24': { score: 80 } })
 * await provider.lookup('203.0.113.66', new AbortController().signal) // { score: 92, isTor: true, … }
 * provider.calls // 1
 *
 * const failing = createMemoryProvider(() => {
 *   throw new ProviderError('timeout', 'simulated')
 * })
 * ```
 */
export function createMemoryProvider(source: MemoryProviderSource, options: MemoryProviderOptions = {}): MemoryProvider {
  const name = options.name ?? 'memory'
  if (typeof name !== 'string' || !/^[a-z0-9-]+$/.test(name)) {
    throw new IpRiskConfigError('name', 'must match [a-z0-9-]+')
  }
  const choose = chooser(source, options)
  const perIp = new IpCallCounts()
  let closed = false

  async function lookup(ip: string, signal: AbortSignal): Promise<RiskData> {
    // Same contract as ipasis(): only canonical IPs (what the resolver passes) are accepted.
    if (!isCanonicalIp(ip)) {
      throw new IpRiskError(`iprisk: memory provider refused ${describeUntrusted(ip)}: not a canonical IP address`)
    }
    perIp.add(ip)
    if (signal?.aborted) throw new ProviderError('aborted', 'memory provider: lookup aborted by the caller')
    const resolved = resolveProfile(await choose(ip, signal), ip)
    if ('json' in resolved) throw new TypeError('memory provider: { json } profiles are only for the HTTP simulator')
    return completeRiskData(resolved)
  }

  return {
    name,
    lookup,
    get calls() {
      return perIp.total
    },
    get closed() {
      return closed
    },
    callsFor(ip: string): number {
      return perIp.callsFor(ip)
    },
    reset() {
      perIp.clear()
    },
    async close() {
      closed = true
    },
  }
}

type Chooser = (ip: string, signal: AbortSignal) => MemoryProfile | Promise<MemoryProfile>

/** How a lookup picks its profile: the source function (raced against the signal), or the rule table built once. */
function chooser(source: MemoryProviderSource, options: MemoryProviderOptions): Chooser {
  if (typeof source === 'function') {
    return (ip, signal) => raceAbort(Promise.resolve().then(() => source(ip, signal)), signal)
  }
  if (typeof source !== 'object' || source === null) {
    throw new IpRiskConfigError('source', 'must be a table of profiles or a function')
  }
  const table = new ProfileTable(options.defaultProfile ?? 'clean')
  for (const [key, p] of Object.entries(source)) table.set(key, p)
  return (ip) => table.lookup(ip) as MemoryProfile
}

/** A partial answer completed with `null` for every field it does not send (as a real provider that left it out). */
function completeRiskData(partial: Partial<RiskData>): RiskData {
  const { score = null, isVpn = null, isProxy = null, isTor = null, isDatacenter = null } = partial
  const { countryCode = null, asn = null, isp = null } = partial
  return { score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ProviderError('aborted', 'memory provider: lookup aborted by the caller'))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
