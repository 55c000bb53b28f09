/**
 * The lookup pipeline of the resolver (first match answers):
 *
 * 1. no / invalid IP → `unavailable` / `no_ip`;
 * 2. static deny list → `listed: 'deny'`, then static allow list → `listed: 'allow'` (lists.ts);
 * 3. L1: the blocklist, a fresh answer, a recently failed lookup (answer-cache.ts);
 * 4. a non-global address → `skipped` (never looked up);
 * 5. (`wait: false`: answer now — stale data or `pending` — and go on in the background;)
 * 6. one flight per IP key (single-flight.ts): L2 (answer and blocklist in one read, within `cache.l2TimeoutMs`),
 *    then the provider through its gate (provider-gate.ts); on failure, stale data if any.
 *
 * Steps 1–4 are synchronous, allocation-free on a warm hit, and are all `peek` does. Every value a step needs is
 * passed to it: no step leaves results for another in shared variables.
 *
 * @module
 * @internal
 */
import { NO_IP, makeRisk, withIp } from './answers.js'
import { CacheMiss, type AnswerCache } from './answer-cache.js'
import type { SharedRead } from './cache.js'
import type { Clock } from './clock.js'
import { classifyIp } from './ip.js'
import { ipOf, keyOf, type ClientLists } from './lists.js'
import { GateFailure, type GateOutcome, type ProviderGate } from './provider-gate.js'
import { SingleFlight } from './single-flight.js'
import type { IpKind, IpRisk, LookupOptions, RiskData } from './types.js'

/** The lookups of one resolver. @internal */
export class Lookups {
  readonly flights = new SingleFlight<IpRisk>()

  readonly #hasLists: boolean

  constructor(
    private readonly lists: ClientLists,
    private readonly cache: AnswerCache,
    private readonly gate: ProviderGate,
    private readonly clock: Clock,
  ) {
    this.#hasLists = lists.hasLists
  }

  /** Steps 1–4: an answer now, or `undefined` when the address must be looked up. */
  answerNow(raw: string | null): IpRisk | undefined {
    if (typeof raw !== 'string') return NO_IP
    const located = this.lists.locate(raw)
    if (located === null) return NO_IP
    return typeof located === 'string' ? this.#warm(located, located) : this.#warm(located.ip, located.key)
  }

  /** Steps 1–6. Never rejects. */
  lookup(raw: string | null, options?: LookupOptions): Promise<IpRisk> {
    try {
      const located = typeof raw === 'string' ? this.lists.locate(raw) : null
      if (located === null) return Promise.resolve(NO_IP)
      const ip = ipOf(located)
      const key = keyOf(located)
      const now = this.#warm(ip, key)
      if (now !== undefined) return Promise.resolve(now)
      const flight = this.#flight(ip, key)
      if (options?.wait === false) {
        // stale-while-revalidate: the last known data now, a fresh answer for the next request.
        const stale = this.cache.staleNow(ip, key)
        return Promise.resolve(stale ?? makeRisk(ip, classifyIp(ip), 'pending', null, null, 'none', 0, null))
      }
      // An IPv4 address is its own key; another IPv6 address of the same prefix gets the answer under its own name.
      return ip === key ? flight : flight.then((answer) => withIp(answer, ip))
    } catch {
      // Defensive: nothing above is expected to throw; a lookup never rejects.
      return Promise.resolve(NO_IP)
    }
  }

  /** Steps 2–4 for a located client. */
  #warm(ip: string, key: string): IpRisk | undefined {
    if (this.#hasLists) {
      const listed = this.lists.listed(ip)
      if (listed !== undefined) return listed
    }
    const entry = this.cache.l1.get(key)
    if (entry !== undefined) return this.cache.warm(entry, ip)
    return this.lists.unscorable(ip, classifyIp(ip))
  }

  /** Step 6: the flight of `key`, joined or started. */
  #flight(ip: string, key: string): Promise<IpRisk> {
    const existing = this.flights.get(key)
    if (existing !== undefined) return existing
    const kind = classifyIp(ip)
    const t0 = this.clock.monotonic()
    let result: IpRisk | Promise<IpRisk>
    try {
      result = this.#fly(ip, key, kind, t0)
    } catch {
      result = this.#broken(ip, kind, t0)
    }
    // Answered without waiting (a refusal, a closed resolver): nothing to share.
    return this.flights.share(key, result)
  }

  /** L2, then the provider. Returns a promise only when it has to wait (L2, provider). */
  #fly(ip: string, key: string, kind: IpKind, t0: number): IpRisk | Promise<IpRisk> {
    if (this.gate.closed) return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', 0, null)
    const before = this.cache.flightStart(key)
    const reading = this.cache.readL2(key)
    if (reading === undefined) return this.#afterCaches(ip, key, kind, t0, this.cache.combine(ip, key, kind, t0, before, undefined))
    return reading.then((read: SharedRead | undefined) => {
      try {
        return this.#afterCaches(ip, key, kind, t0, this.cache.combine(ip, key, kind, t0, before, read))
      } catch {
        return this.#broken(ip, kind, t0)
      }
    })
  }

  /** An answer from the caches, or the provider step for a miss. */
  #afterCaches(ip: string, key: string, kind: IpKind, t0: number, found: IpRisk | CacheMiss): IpRisk | Promise<IpRisk> {
    if (!(found instanceof CacheMiss)) return found
    const stale = found.stale
    const outcome = this.gate.call(ip, key, t0)
    if (!(outcome instanceof Promise)) return this.#answer(ip, key, kind, t0, outcome, stale)
    return outcome.then((o) => {
      try {
        return this.#answer(ip, key, kind, t0, o, stale)
      } catch {
        return this.#broken(ip, kind, t0)
      }
    })
  }

  /** The provider step's answer, kept in the caches. */
  #answer(ip: string, key: string, kind: IpKind, t0: number, outcome: GateOutcome, stale: RiskData | undefined): IpRisk {
    if (!(outcome instanceof GateFailure)) return this.cache.scored(ip, key, kind, t0, outcome)
    const remember = outcome.remember && !this.gate.closed
    return this.cache.failed(ip, key, kind, t0, outcome.error, stale, remember)
  }

  /** Defensive: a step threw (nothing is expected to); a lookup never rejects. */
  #broken(ip: string, kind: IpKind, t0: number): IpRisk {
    return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', this.clock.monotonic() - t0, null)
  }
}
