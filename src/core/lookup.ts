/**
 * The lookup pipeline of the resolver (first match answers):
 *
 * 1. no / invalid IP → `unavailable` / `no_ip`;
 * 2. static deny list → `listed: 'deny'`, then static allow list → `listed: 'allow'` (lists.ts);
 * 3. L1: the blocklist, a fresh answer, a recently failed lookup (answer-cache.ts);
 * 4. a non-global address → `skipped` (never looked up);
 * 5. (`wait: false`: answer now — stale data or `pending` — and go on in the background;)
 * 6. one flight per IP key (single-flight.ts): L2 (answer and blocklist in one read, within `cache.l2TimeoutMs`),
 *    then (on an L2 miss, with a fleet lease: fleet/lease.ts) one lease attempt that either finds the answer another
 *    instance just wrote, takes the lease, or waits for the holder's answer; then the provider through its gate
 *    (provider-gate.ts); on failure, stale data if any. A holder publishes its answer and releases its lease in one
 *    awaited script before it answers.
 *
 * Steps 1–4 are synchronous, allocation-free on a warm hit, and are all `peek` does. Every value a step needs is
 * passed to it: no step leaves results for another in shared variables.
 *
 * @module
 * @internal
 */
import { NO_IP, makeRisk, withIp } from './answers.js'
import { CacheMiss, type AnswerCache, type Publish } from './answer-cache.js'
import type { L1Entry, SharedRead } from './cache.js'
import type { Clock } from './clock.js'
import type { FleetLease, LeaseKeys, LeaseOutcome, LeaseRecord } from './fleet/lease.js'
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
    private readonly lease?: FleetLease,
  ) {
    this.#hasLists = lists.hasLists
  }

  /** Stop waiting for other instances (closing the resolver): waits end now. */
  close(): void {
    this.lease?.close()
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
    if (this.gate.closed) return this.#closedAnswer(ip, kind)
    const before = this.cache.flightStart(key)
    const reading = this.cache.readL2(key)
    if (reading === undefined) return this.#afterCaches(ip, key, kind, t0, this.cache.combine(ip, key, kind, t0, before, undefined))
    return reading.then((read: SharedRead | undefined) => {
      try {
        // A lease only after L2 answered (a miss): when L2 could not be read, Redis is not asked a second time.
        const lease = read === undefined ? undefined : this.lease
        const found = this.cache.combine(ip, key, kind, t0, before, read, lease === undefined)
        if (lease === undefined || !(found instanceof CacheMiss)) return this.#afterCaches(ip, key, kind, t0, found)
        return this.#leased(ip, key, kind, t0, before, found, lease)
      } catch {
        return this.#broken(ip, kind, t0)
      }
    })
  }

  /** An L2 miss with a fleet lease: the answer another instance wrote, or the provider (as holder or on our own). */
  #leased(ip: string, key: string, kind: IpKind, t0: number, before: L1Entry | undefined, miss: CacheMiss, lease: FleetLease): Promise<IpRisk> {
    const keys: LeaseKeys = { ...this.cache.sharedKeys(key), lease: lease.leaseKey(key) }
    return this.#takeOrWait(lease, keys, t0, '')
      .then((o) => {
        if (o.state !== 'found') return this.#afterLease(ip, key, kind, t0, before, miss, keys, lease, o)
        const found = this.cache.combine(ip, key, kind, t0, before, this.cache.parseShared(o.answer, o.block), false)
        if (!(found instanceof CacheMiss)) return found
        // What looked fresh is not a record this resolver writes: the lease is taken (or waited for) as on a miss,
        // and a wait ends when different values land.
        return this.#takeOrWait(lease, keys, t0, o.digest).then((again) => this.#afterLease(ip, key, kind, t0, before, miss, keys, lease, again))
      })
      .catch(() => this.#broken(ip, kind, t0))
  }

  /** A lease attempt, then a wait if another instance holds it; `past`: see {@link FleetLease.take}. */
  #takeOrWait(lease: FleetLease, keys: LeaseKeys, t0: number, past: string): Promise<LeaseOutcome> {
    return lease.take(keys, past).then((o) => (o.state === 'taken' ? lease.wait(keys, t0, past) : o))
  }

  #afterLease(
    ip: string,
    key: string,
    kind: IpKind,
    t0: number,
    before: L1Entry | undefined,
    miss: CacheMiss,
    keys: LeaseKeys,
    lease: FleetLease,
    o: LeaseOutcome,
  ): IpRisk | Promise<IpRisk> {
    if (o.state === 'found') {
      // (the miss, if it is one, is counted by combine)
      const found = this.cache.combine(ip, key, kind, t0, before, this.cache.parseShared(o.answer, o.block))
      // Still not a record (a second look): the provider is asked, without a lease.
      return found instanceof CacheMiss ? this.#afterCaches(ip, key, kind, t0, miss) : found
    }
    this.cache.missed()
    if (o.state !== 'held') {
      // A wait ended by close(): the resolver is closed, the provider is not asked.
      return this.gate.closed ? this.#closedAnswer(ip, kind) : this.#afterCaches(ip, key, kind, t0, miss)
    }
    return this.#hold(ip, key, kind, t0, miss.stale, keys, lease, o.token)
  }

  /**
   * The holder: its lease kept alive while it asks the provider, its records given to the release script (written,
   * then the lease deleted), awaited (within `cache.l2TimeoutMs`) before it answers.
   */
  #hold(ip: string, key: string, kind: IpKind, t0: number, stale: RiskData | undefined, keys: LeaseKeys, lease: FleetLease, token: string): Promise<IpRisk> {
    let answer: LeaseRecord | undefined
    let block: LeaseRecord | undefined
    const publish: Publish = (a, b) => {
      answer = a
      block = b
    }
    const stopRenewing = lease.keepAlive(keys, token)
    const settle = (outcome: GateOutcome): Promise<IpRisk> => {
      stopRenewing()
      let risk: IpRisk
      try {
        risk = this.#answer(ip, key, kind, t0, outcome, stale, publish)
      } catch {
        risk = this.#broken(ip, kind, t0)
      }
      return lease.release(keys, token, answer, block).then(() => risk)
    }
    // Defensive: the gate never throws nor rejects; if it did, the lease would still be let go.
    const abandon = (): Promise<IpRisk> => {
      stopRenewing()
      return lease.release(keys, token).then(() => this.#broken(ip, kind, t0))
    }
    let outcome: GateOutcome | Promise<GateOutcome>
    try {
      outcome = this.gate.call(ip, key, t0)
    } catch {
      return abandon()
    }
    return outcome instanceof Promise ? outcome.then(settle, abandon) : settle(outcome)
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
  #answer(ip: string, key: string, kind: IpKind, t0: number, outcome: GateOutcome, stale: RiskData | undefined, publish?: Publish): IpRisk {
    if (!(outcome instanceof GateFailure)) return this.cache.scored(ip, key, kind, t0, outcome, publish)
    const remember = outcome.remember && !this.gate.closed
    return this.cache.failed(ip, key, kind, t0, outcome.error, stale, remember)
  }

  /** The answer of a closed resolver. */
  #closedAnswer(ip: string, kind: IpKind): IpRisk {
    return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', 0, null)
  }

  /** Defensive: a step threw (nothing is expected to); a lookup never rejects. */
  #broken(ip: string, kind: IpKind, t0: number): IpRisk {
    return makeRisk(ip, kind, 'unavailable', 'network', null, 'none', this.clock.monotonic() - t0, null)
  }
}
