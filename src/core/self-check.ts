/**
 * The deployment self-check: protection never vanishes silently. The resolver feeds it what it sees (client IPs read
 * from local peers, reported decisions, provider call outcomes); it raises a `degraded` warning, once, naming the fix,
 * when protection is not effective, and keeps the last minute of counts for `risk.status()`.
 *
 * Cost: a reported decision reads no clock, and costs a few integer operations on fixed arrays and no allocation:
 * the sliding window is 60 one-second buckets whose totals are kept up to date as buckets expire (no sum is ever taken
 * on the request path), and it is an unref'd once-a-second timer that moves the window on, not the decision (on this
 * class of machine `Date.now()` alone costs ~75 ns, as much as the rest of the warm path). The timer is started by the
 * first decision (inside a request: some runtimes refuse timers at module scope) and stopped by `close()`; with an
 * injected clock (tests) or without timers, each decision reads the clock instead. Nothing here throws into a
 * request.
 *
 * Hand-written because it is a few counters: a metrics SDK would need an exporter and a reader to be queried back.
 *
 * @module
 */

import { IpRiskError, ProviderError, providerErrorKind } from './errors.js'
import { readHeader } from './ip.js'
import type { BreakerState } from './metrics.js'
import type { SharedTierState } from './cache.js'
import type { Decision, IpKind, LookupError, ProviderErrorKind, RequestInfo, RequestLike } from './types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Public vocabulary
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Why protection is degraded:
 * - `untrusted_proxy`: a peer in private, loopback, link-local, unique-local or CGNAT space sent forwarding headers
 *   (`X-Forwarded-For`, `Forwarded`, `X-Real-IP` or a platform header) but the client IP was read from the socket:
 *   every client looks like the proxy (a non-global address, never scored);
 * - `no_client_ip`: a gated call had no client IP (e.g. tRPC's fetch adapter without `getClientIp`);
 * - `no_verdict`: over the last minute, more than {@link NO_VERDICT_SHARE} of at least
 *   {@link NO_VERDICT_MIN_DECISIONS} gated decisions were made without a verdict (no IP, a non-global IP, the
 *   provider unavailable, a background lookup pending);
 * - `provider_failing`: every provider call of the last minute failed (at least {@link PROVIDER_FAILING_MIN_CALLS}).
 *
 * @example
 * ```ts
 * const kind: DegradedKind = 'untrusted_proxy'
 * ```
 */
export type DegradedKind = 'untrusted_proxy' | 'no_client_ip' | 'no_verdict' | 'provider_failing'

/**
 * A `degraded` event: protection is not effective and why, with the fix. Logged as
 * `logger.warn(event, event.message)` (or `console.warn(event.message)` without a logger), passed to `onDegraded`,
 * counted in `iprisk.degraded{kind}`. Fields not relevant to a kind are `null`. Never contains the API key or a
 * header value.
 *
 * @example
 * ```json
 * { "timestamp": "2026-12-07T12:00:00.000Z", "event": "degraded", "kind": "untrusted_proxy", "option": "trustProxy",
 *   "docs": "docs/client-ip.md", "message": "iprisk: protection degraded (untrusted_proxy): ...",
 *   "peer_kind": "private", "header": "x-forwarded-for", "adapter": null, "share": null, "sample": null, "error": null }
 * ```
 */
export interface DegradedEvent {
  /** ISO 8601, when the condition was found. */
  timestamp: string
  event: 'degraded'
  kind: DegradedKind
  /** The option to change: `trustProxy`, `getClientIp`, `provider`, `provider.apiKey`, `budget`. */
  option: string
  /** Where the fix is documented (a path in iprisk's docs). */
  docs: string
  /** What happened and the fix, in one line (the log message). */
  message: string
  /** `untrusted_proxy`: the kind of the peer that sent forwarding headers. */
  peer_kind: IpKind | null
  /** `untrusted_proxy`: the first forwarding header found (its name, never its value). */
  header: string | null
  /** `no_client_ip`: the adapter of the call (`trpc`, `graphql`, ...). */
  adapter: string | null
  /** `no_verdict`: the share of gated decisions without a verdict over the window (0–1, 2 decimals). */
  share: number | null
  /** `no_verdict`: decisions in the window; `provider_failing`: failed calls in the window. */
  sample: number | null
  /** `provider_failing`: the kind of the last failure (`auth`, `network`, `timeout`, ...). */
  error: LookupError | null
}

/**
 * A hook receiving `degraded` events. It may be async; it is never awaited and its failures are only logged.
 *
 * @example
 * ```ts
 * const onDegraded: DegradedEventHook = (event) => pager.page(`iprisk: ${event.kind}: ${event.message}`)
 * ```
 */
export type DegradedEventHook = (event: DegradedEvent) => void | Promise<void>

/** The sliding window of the self-check and of `risk.status()`: the last 60 s. */
export const SELF_CHECK_WINDOW_MS = 60_000
/** `no_verdict` is raised when more than this share of the window's gated decisions had no verdict. */
export const NO_VERDICT_SHARE = 0.5
/** ... and the window holds at least this many gated decisions. */
export const NO_VERDICT_MIN_DECISIONS = 20
/** `provider_failing` is raised when at least this many provider calls failed in the window, and none succeeded. */
export const PROVIDER_FAILING_MIN_CALLS = 5

/**
 * A snapshot of the resolver's health for a readiness endpoint; see `RiskResolver.status()`.
 *
 * @example
 * ```ts
 * const s: ResolverStatus = risk.status()
 * if (!s.protected) console.error('iprisk is not protecting:', s.problems)
 * ```
 */
export interface ResolverStatus {
  /**
   * Whether protection is effective now: `false` while a condition of `problems` holds (the provider's calls all
   * failed over the last minute, or most gated decisions had no verdict), or once the resolver is closed.
   */
  protected: boolean
  /** The conditions holding now (`no_verdict`, `provider_failing`), empty when protected. */
  problems: DegradedKind[]
  /** Every kind of warning raised since the resolver was created, in the order first raised. */
  warnings: DegradedKind[]
  /** The window the counts cover, in milliseconds (60 000). */
  windowMs: number
  /** Gated decisions (those reported by the adapters or `risk.report`) over the window. */
  decisions: {
    total: number
    /** By the status of the answer they were made on. */
    byStatus: { scored: number; unavailable: number; skipped: number; pending: number }
    /** Made without a verdict: not scored and not listed (no IP, a non-global IP, unavailable, pending). */
    withoutVerdict: number
    /** Of which: no client IP. */
    noIp: number
    /** Of which: a non-global client IP (private, loopback, documentation...). */
    nonGlobal: number
    /** Allowed only because no verdict could be had (fail open). */
    failOpen: number
  }
  provider: {
    name: string
    /** Calls that reached the provider over the window, and how many failed. */
    calls: number
    failures: number
    /** The circuit breaker (`open` also while a 429's `Retry-After` is honoured), `disabled` with `breaker: false`. */
    breaker: BreakerState | 'disabled'
    /** The last failed provider call (`kind`: `auth`, `network`, `timeout`, ...) and when (ISO 8601), if any. */
    lastError: { kind: LookupError; at: string } | null
  }
  /** The shared cache's breaker, or `none` without L2. */
  l2: SharedTierState | 'none'
  /** When the snapshot was taken (ISO 8601). */
  at: string
}

/**
 * What a start-up probe can find wrong: a provider error kind (`auth`, `network`, `timeout`, `http_error`,
 * `rate_limited`, `bad_response`) or `provider_error` (the provider broke its contract).
 */
export type ProbeErrorKind = Exclude<ProviderErrorKind, 'aborted'> | 'provider_error'

/**
 * `await risk.ready()` found the provider unusable. `kind` says why; the message names the fix and never contains
 * the API key.
 *
 * @example
 * ```ts
 * try {
 *   await risk.ready()
 * } catch (error) {
 *   if (error instanceof IpRiskProbeError && error.kind === 'auth') process.exit(1) // wrong IPASIS_API_KEY
 *   throw error
 * }
 * ```
 */
export class IpRiskProbeError extends IpRiskError {
  override name = 'IpRiskProbeError'
  constructor(
    readonly kind: ProbeErrorKind,
    message: string,
    /** The HTTP status the provider answered, when it did. */
    readonly status?: number,
  ) {
    super(message)
  }
}

/**
 * Options of `risk.ready()`.
 *
 * @example
 * ```ts
 * await risk.ready({ timeoutMs: 3_000, ip: '8.8.8.8' })
 * ```
 */
export interface ReadyOptions {
  /** How long the probe may take, in milliseconds (integer, 1–60 000). @default 5000 */
  timeoutMs?: number
  /** The address looked up: any valid IP address (it is sent to the provider). @default '1.1.1.1' */
  ip?: string
}

/** The address `risk.ready()` looks up by default: a well-known global address (Cloudflare's public resolver). */
export const PROBE_IP = '1.1.1.1'
/** Default time budget of `risk.ready()`: a cold TLS connection at start-up may take far longer than a warm lookup. */
export const PROBE_TIMEOUT_MS = 5_000

// ---------------------------------------------------------------------------------------------------------------------
// Forwarding headers
// ---------------------------------------------------------------------------------------------------------------------

/** Headers that say a proxy is in front: the common ones first, then the platforms' own. */
const FORWARDING_HEADERS = [
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'true-client-ip',
  'fly-client-ip',
  'x-vercel-forwarded-for',
  'x-nf-client-connection-ip',
  'cloudfront-viewer-address',
  'x-azure-clientip',
  'x-azure-socketip',
  'fastly-client-ip',
  'x-client-ip',
] as const

/** The first forwarding header a request carries (its name), or `null`. Never throws. */
function forwardingHeaderOf(req: RequestLike): string | null {
  try {
    const headers = (req as { headers?: unknown }).headers
    if (typeof headers !== 'object' || headers === null) return null
    if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
      for (const name of FORWARDING_HEADERS) if ((headers as Headers).has(name)) return name
      return null
    }
    // A plain object: the client-IP reader's own access (case-insensitive unless it is Node's lower-cased one).
    for (const name of FORWARDING_HEADERS) if (readHeader(req, name) !== undefined) return name
    return null
  } catch {
    return null // a hostile request object: no warning
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The self-check
// ---------------------------------------------------------------------------------------------------------------------

const BUCKETS = 60
const BUCKET_MS = SELF_CHECK_WINDOW_MS / BUCKETS

// Counter slots of a bucket.
const DECISIONS = 0
const NO_VERDICT = 1
const SCORED = 2
const UNAVAILABLE = 3
const SKIPPED = 4
const PENDING = 5
const NO_IP = 6
const NON_GLOBAL = 7
const FAIL_OPEN = 8
const CALLS = 9
const FAILURES = 10
const SLOTS = 11

/** Peer kinds that suggest a reverse proxy in front of an app that does not trust it. */
const LOCAL_PEERS: ReadonlySet<IpKind> = new Set<IpKind>(['loopback', 'private', 'uniqueLocal', 'linkLocal', 'carrierGradeNat'])

/** What the self-check needs from the resolver. */
export interface SelfCheckHost {
  /** Deliver a warning (log, `onDegraded`, metric). */
  warn(event: DegradedEvent): void
  /** The provider's name, for messages. */
  readonly providerName: string
}

/** The fix of a gated call without a client IP, by adapter. */
function noIpFix(adapter: string | null): { option: string; docs: string; fix: string } {
  if (adapter === 'trpc') {
    return {
      option: 'getClientIp',
      docs: 'docs/trpc.md',
      fix: "pass `getClientIp` (or `getPeerAddress`) to createTrpcRisk: tRPC's fetch adapter (Next.js route handlers, Bun, Deno, Workers) has no socket, so the peer address must come from the platform (see docs/trpc.md)",
    }
  }
  if (adapter === 'graphql') {
    return {
      option: 'getClientIp',
      docs: 'docs/graphql.md',
      fix: 'pass `getClientIp` to the plugin, or run it where the context carries the Node request or the server context with the peer address (see docs/graphql.md)',
    }
  }
  return {
    option: 'peerAddress',
    docs: 'docs/client-ip.md',
    fix: 'pass the peer address (`risk.fromRequest(req, { peerAddress })`, `risk.clientIp(req, peerAddress)`) where the request object has no socket (see docs/client-ip.md)',
  }
}

/**
 * The self-check of one resolver. Internal: the resolver owns one and exposes it through `status()`.
 * @internal
 */
export class SelfCheck {
  /** An injected clock (epoch ms, `resolverInternals(r).setSelfCheckClock`): read at each event instead of the coarse one. */
  #clock: (() => number) | undefined
  /** The coarse clock of the request path: `Date.now()` as of the last tick of {@link #timer}. */
  #coarse = 0
  #timer: ReturnType<typeof setInterval> | undefined
  #stopped = false
  /** Whether a decision must bring the window to now itself ({@link #tick}); false while the timer does. */
  #manual = true
  /** Offset in {@link #counts} of the newest bucket. */
  #base = 0
  readonly #host: SelfCheckHost
  readonly #counts = new Float64Array(BUCKETS * SLOTS)
  readonly #totals = new Float64Array(SLOTS)
  /** The second the newest bucket stands for. */
  #second = -1
  readonly #warned = new Set<DegradedKind>()
  /** Kinds raised and not re-armed yet, and when last raised. */
  readonly #active: Record<DegradedKind, boolean> = {
    untrusted_proxy: false,
    no_client_ip: false,
    no_verdict: false,
    provider_failing: false,
  }
  readonly #raisedAt: Record<'no_verdict' | 'provider_failing', number> = { no_verdict: -Infinity, provider_failing: -Infinity }
  #lastError: LookupError | null = null
  #lastErrorAt = 0
  /** Whether `untrusted_proxy` may still be raised (read on the request path). */
  watchProxy = true

  constructor(host: SelfCheckHost) {
    this.#host = host
  }

  /** Replace the clock (tests): every event reads it. */
  setClock(now: () => number): void {
    this.#clock = now
    this.#manual = true
  }

  /** A precise time: the injected clock, else `Date.now()` (off the request path: provider calls, status, warnings). */
  now(): number {
    return this.#clock === undefined ? Date.now() : this.#clock()
  }

  /**
   * Bring the window to now when the timer does not (an injected clock, before the first decision, or where no timer
   * can be had): sets {@link #coarse} and {@link #base}.
   */
  #tick(): void {
    if (this.#clock !== undefined) {
      this.#coarse = this.#clock()
    } else {
      this.#coarse = Date.now()
      if (this.#timer === undefined && !this.#stopped) {
        try {
          const timer = setInterval(() => {
            this.#coarse = Date.now()
            this.#advance(this.#coarse)
          }, BUCKET_MS)
          ;(timer as { unref?: () => void }).unref?.()
          this.#timer = timer
          this.#manual = false
        } catch {
          this.#stopped = true // no timers here: read the clock per decision
        }
      }
    }
    this.#advance(this.#coarse)
  }

  /** Stop the coarse clock's timer (the resolver's `close()`); later decisions read the clock. */
  stop(): void {
    this.#stopped = true
    this.#manual = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }

  /** Move the window to the second of `t`, expiring the buckets left behind. Amortized O(1). */
  #advance(t: number): number {
    const second = Math.floor(t / BUCKET_MS)
    const last = this.#second
    if (second <= last) return this.#base / SLOTS // same second (or a clock that went back: count in the newest bucket)
    const counts = this.#counts
    const totals = this.#totals
    if (last < 0 || second - last >= BUCKETS) {
      counts.fill(0)
      totals.fill(0)
    } else {
      for (let s = last + 1; s <= second; s++) {
        const base = (s % BUCKETS) * SLOTS
        for (let i = 0; i < SLOTS; i++) {
          totals[i] = (totals[i] as number) - (counts[base + i] as number)
          counts[base + i] = 0
        }
      }
    }
    this.#second = second
    this.#base = (second % BUCKETS) * SLOTS
    return second % BUCKETS
  }

  #add(bucket: number, slot: number): void {
    const i = bucket * SLOTS + slot
    this.#counts[i] = (this.#counts[i] as number) + 1
    this.#totals[slot] = (this.#totals[slot] as number) + 1
  }

  #event(kind: DegradedKind, t: number, fields: Partial<DegradedEvent> & { option: string; docs: string; message: string }): DegradedEvent {
    return Object.freeze<DegradedEvent>({
      timestamp: new Date(t).toISOString(),
      event: 'degraded',
      kind,
      option: fields.option,
      docs: fields.docs,
      message: `iprisk: protection degraded (${kind}): ${fields.message}`,
      peer_kind: fields.peer_kind ?? null,
      header: fields.header ?? null,
      adapter: fields.adapter ?? null,
      share: fields.share ?? null,
      sample: fields.sample ?? null,
      error: fields.error ?? null,
    })
  }

  #raise(event: DegradedEvent): void {
    this.#active[event.kind] = true
    this.#warned.add(event.kind)
    try {
      this.#host.warn(event)
    } catch {
      // never breaks a request
    }
  }

  /**
   * (a) A client IP was read from the socket of a local peer: warn once if the request carries forwarding headers.
   * Called by `clientIp` only while {@link watchProxy}.
   */
  socketPeer(req: RequestLike, kind: IpKind): void {
    if (!LOCAL_PEERS.has(kind)) return
    const header = forwardingHeaderOf(req)
    if (header === null) return
    this.watchProxy = false
    this.#raise(
      this.#event('untrusted_proxy', this.now(), {
        option: 'trustProxy',
        docs: 'docs/client-ip.md',
        peer_kind: kind,
        header,
        message: `a request from a ${kind} peer carries \`${header}\`, but the client IP was read from the socket (the peer is not a trusted proxy under \`trustProxy\`, or its header held no usable address): every client looks like the proxy, a non-global address that is never scored, so policies allow it. Fix: behind a platform use its preset (\`trustProxy: platforms.awsAlb({ vpc })\`, \`platforms.cloudflare()\`, \`platforms.fly()\`, ...); behind your own proxy or a load balancer in your network trust its address (\`trustProxy: 'loopback'\` on the same host, \`trustProxy: 'private'\` in a private network); see docs/client-ip.md`,
      }),
    )
  }

  /** (b) and (c): one gated decision. O(1), no clock read, no allocation unless a warning is raised. */
  decision(decision: Decision, info: RequestInfo | undefined): void {
    if (this.#manual) this.#tick()
    const base = this.#base
    const counts = this.#counts
    const totals = this.#totals
    const risk = decision.risk
    const status = risk.status
    counts[base + DECISIONS] = (counts[base + DECISIONS] as number) + 1
    totals[DECISIONS] = (totals[DECISIONS] as number) + 1
    if (status === 'scored') {
      // The warm path: a verdict. The share without one can only fall, so only a raised `no_verdict` is looked at.
      counts[base + SCORED] = (counts[base + SCORED] as number) + 1
      totals[SCORED] = (totals[SCORED] as number) + 1
      if (this.#active.no_verdict && !this.#noVerdictHolds() && (totals[DECISIONS] as number) >= NO_VERDICT_MIN_DECISIONS) {
        this.#active.no_verdict = false // re-armed
      } else if (
        totals[DECISIONS] === NO_VERDICT_MIN_DECISIONS && // the sample just became large enough, on a scored decision
        !this.#active.no_verdict &&
        this.#noVerdictHolds() &&
        this.#coarse - this.#raisedAt.no_verdict >= SELF_CHECK_WINDOW_MS
      ) {
        this.#noVerdict(this.#coarse)
      }
      return
    }
    const b = base / SLOTS
    this.#add(b, status === 'unavailable' ? UNAVAILABLE : status === 'skipped' ? SKIPPED : PENDING)
    if (decision.failOpen) this.#add(b, FAIL_OPEN)
    if (risk.listed === null) {
      this.#add(b, NO_VERDICT)
      if (risk.error === 'no_ip') {
        this.#add(b, NO_IP)
        if (!this.#active.no_client_ip) this.#noClientIp(this.#coarse, info)
      } else if (status === 'skipped') this.#add(b, NON_GLOBAL)
    }
    const over = this.#noVerdictHolds()
    if (over !== this.#active.no_verdict) {
      if (over) {
        if (this.#coarse - this.#raisedAt.no_verdict >= SELF_CHECK_WINDOW_MS) this.#noVerdict(this.#coarse)
      } else if ((totals[DECISIONS] as number) >= NO_VERDICT_MIN_DECISIONS) this.#active.no_verdict = false // re-armed
    }
  }

  /** (d) One provider call that reached the provider (not a refusal by the breaker or a budget): `null` is success. */
  providerCall(error: LookupError | null): void {
    const t = this.now()
    const b = this.#advance(t)
    this.#add(b, CALLS)
    if (error === null) {
      this.#active.provider_failing = false // re-armed by any success
      return
    }
    this.#add(b, FAILURES)
    this.#lastError = error
    this.#lastErrorAt = t
    if (
      !this.#active.provider_failing &&
      this.#providerFailingHolds() &&
      t - this.#raisedAt.provider_failing >= SELF_CHECK_WINDOW_MS
    ) {
      this.#providerFailing(t, error)
    }
  }

  #noVerdictHolds(): boolean {
    const total = this.#totals[DECISIONS] as number
    return total >= NO_VERDICT_MIN_DECISIONS && (this.#totals[NO_VERDICT] as number) > total * NO_VERDICT_SHARE
  }

  #providerFailingHolds(): boolean {
    const failures = this.#totals[FAILURES] as number
    return failures >= PROVIDER_FAILING_MIN_CALLS && failures === this.#totals[CALLS]
  }

  #noClientIp(t: number, info: RequestInfo | undefined): void {
    const adapter = typeof info?.adapter === 'string' ? info.adapter.slice(0, 200) : null
    const { option, docs, fix } = noIpFix(adapter)
    this.#raise(
      this.#event('no_client_ip', t, {
        option,
        docs,
        adapter,
        message: `a gated ${adapter === null ? '' : `${adapter} `}call had no client IP, so it was decided without a verdict (the policy's fail mode applies: allowed by default). Fix: ${fix}`,
      }),
    )
  }

  #noVerdict(t: number): void {
    this.#raisedAt.no_verdict = t
    const totals = this.#totals
    const total = totals[DECISIONS] as number
    const without = totals[NO_VERDICT] as number
    const noIp = totals[NO_IP] as number
    const nonGlobal = totals[NON_GLOBAL] as number
    const other = without - noIp - nonGlobal
    const share = Math.round((without / total) * 100) / 100
    let option: string
    let docs: string
    let fix: string
    if (nonGlobal >= noIp && nonGlobal >= other) {
      option = 'trustProxy'
      docs = 'docs/client-ip.md'
      fix =
        "most clients have a non-global address: behind a load balancer or proxy set `trustProxy` to its platform preset or its addresses (`'private'`, `'loopback'`); see docs/client-ip.md"
    } else if (noIp >= other) {
      option = 'getClientIp'
      docs = 'docs/client-ip.md'
      fix = 'most calls have no client IP: pass `getClientIp` or the peer address to the adapter; see docs/trpc.md, docs/graphql.md'
    } else {
      option = 'provider'
      docs = 'docs/resolver.md'
      fix = `most lookups were unavailable or pending (last provider error: ${this.#lastError ?? 'none'}): check the provider's key and reach (\`await risk.ready()\`), \`budget\` and \`breaker\`; see docs/resolver.md`
    }
    this.#raise(
      this.#event('no_verdict', t, {
        option,
        docs,
        share,
        sample: total,
        message: `over the last minute ${without} of ${total} gated decisions (${Math.round(share * 100)}%) were made without a verdict (no client IP: ${noIp}, non-global IP: ${nonGlobal}, unavailable or pending: ${other}); they were decided by the fail mode. Fix: ${fix}`,
      }),
    )
  }

  #providerFailing(t: number, error: LookupError): void {
    this.#raisedAt.provider_failing = t
    const failures = this.#totals[FAILURES] as number
    const hint = FAILING_HINTS[error] ?? 'the provider answers HTTP errors: check its status page'
    this.#raise(
      this.#event('provider_failing', t, {
        option: error === 'auth' ? 'provider.apiKey' : 'provider',
        docs: 'docs/resolver.md',
        sample: failures,
        error,
        message: `all ${failures} calls to the provider \`${this.#host.providerName}\` over the last minute failed (last: ${error}); every lookup falls back to the fail mode. Fix: ${hint}; \`await risk.ready()\` at start-up reports this before the first request`,
      }),
    )
  }

  /** The snapshot behind `risk.status()` (the resolver adds what it owns). */
  snapshot(
    extra: { breaker: BreakerState | 'disabled'; l2: SharedTierState | 'none'; closed: boolean },
  ): ResolverStatus {
    const t = this.now()
    this.#advance(t)
    const c = this.#totals
    const problems: DegradedKind[] = []
    if (this.#noVerdictHolds()) problems.push('no_verdict')
    if (this.#providerFailingHolds()) problems.push('provider_failing')
    return {
      protected: problems.length === 0 && !extra.closed,
      problems,
      warnings: [...this.#warned],
      windowMs: SELF_CHECK_WINDOW_MS,
      decisions: {
        total: c[DECISIONS] as number,
        byStatus: {
          scored: c[SCORED] as number,
          unavailable: c[UNAVAILABLE] as number,
          skipped: c[SKIPPED] as number,
          pending: c[PENDING] as number,
        },
        withoutVerdict: c[NO_VERDICT] as number,
        noIp: c[NO_IP] as number,
        nonGlobal: c[NON_GLOBAL] as number,
        failOpen: c[FAIL_OPEN] as number,
      },
      provider: {
        name: this.#host.providerName,
        calls: c[CALLS] as number,
        failures: c[FAILURES] as number,
        breaker: extra.breaker,
        lastError: this.#lastError === null ? null : { kind: this.#lastError, at: new Date(this.#lastErrorAt).toISOString() },
      },
      l2: extra.l2,
      at: new Date(t).toISOString(),
    }
  }
}

/** The fix named by `provider_failing`, by the last error (others: HTTP errors). */
const FAILING_HINTS: Partial<Record<LookupError, string>> = {
  auth: 'the provider rejects the API key: check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
  network: "the provider cannot be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall",
  timeout: 'the provider does not answer within `budget.timeoutMs`: check the network path, or raise the timeout',
  rate_limited: "the provider's rate limit or quota is exhausted: check the plan, `budget.maxPerMinute` and the cache TTLs",
  bad_response: "the provider answers data iprisk cannot read: check that `baseUrl` points at the provider's API",
  provider_error: "the provider answers data iprisk cannot read: check that `baseUrl` points at the provider's API",
}

// ---------------------------------------------------------------------------------------------------------------------
// Start-up probe
// ---------------------------------------------------------------------------------------------------------------------

const PROBE_HINTS: Record<ProbeErrorKind, string> = {
  auth: 'the provider rejected the API key (HTTP 401/403): check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
  network: "the provider could not be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall",
  timeout: 'the provider did not answer in time: check the network path to it (`baseUrl`), or pass a longer `timeoutMs`',
  http_error: 'the provider answered an HTTP error: it may be down; check its status page and retry',
  rate_limited: "the provider's rate limit or quota is exhausted: check the plan",
  bad_response: "the provider answered data iprisk cannot read: check that `baseUrl` points at the provider's API",
  provider_error: "the provider's lookup broke its contract (see the `provider` configuration warning)",
}

/**
 * The probe behind `risk.ready()`: one lookup of `ip` through `call` (the provider, directly: no cache, no budget,
 * no breaker), settled within `timeoutMs` even if the provider ignores the signal. Resolves when the provider
 * answered usable data; rejects with an {@link IpRiskProbeError}.
 * @internal
 */
export async function probeProvider(
  providerName: string,
  call: (ip: string, signal: AbortSignal) => Promise<unknown>,
  valid: (value: unknown) => boolean,
  ip: string,
  timeoutMs: number,
): Promise<void> {
  const controller = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new ProviderError('timeout', 'probe deadline'))
    }, timeoutMs)
  })
  let kind: ProbeErrorKind
  let status: number | undefined
  try {
    const value = await Promise.race([call(ip, controller.signal), deadline])
    if (valid(value)) return
    kind = 'bad_response'
  } catch (error) {
    const providerKind = providerErrorKind(error)
    if (controller.signal.aborted) kind = 'timeout'
    else if (providerKind === undefined) kind = error instanceof Error ? 'network' : 'provider_error'
    else {
      // A ProviderError (of any copy of iprisk); one of an unknown kind broke the provider's contract.
      kind = providerKind === null ? 'provider_error' : providerKind === 'aborted' ? 'timeout' : providerKind
      const s = (error as { status?: unknown }).status
      if (typeof s === 'number') status = s
    }
  } finally {
    clearTimeout(timer)
  }
  const what = status === undefined ? kind : `${kind}, HTTP ${status}`
  throw new IpRiskProbeError(kind, `iprisk: the provider \`${providerName}\` failed the start-up probe (${what}): ${PROBE_HINTS[kind]}`, status)
}
