/**
 * The shared vocabulary of iprisk: what a client IP, a risk answer, a policy and a decision look like.
 * Every module (core, adapters, testing) speaks these types; nothing here has behaviour.
 *
 * @module
 */

import type { ReadyOptions, ResolverStatus } from './self-check.js'

// ---------------------------------------------------------------------------------------------------------------------
// Client IP
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The range an address belongs to. Only `'global'` addresses are ever sent to the provider: the others cannot have a
 * reputation (they are your own network, a test range, or not an address a client can have).
 */
export type IpKind =
  | 'global'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'linkLocal'
  | 'uniqueLocal'
  | 'carrierGradeNat'
  | 'documentation'
  | 'multicast'
  | 'reserved'

/** Where the client IP was read from (the header names after `custom` are read by platform presets only). */
export type IpSource =
  | 'socket'
  | 'x-forwarded-for'
  | 'forwarded'
  | 'x-real-ip'
  | 'cf-connecting-ip'
  | 'custom'
  | 'cf-connecting-ipv6'
  | 'fly-client-ip'
  | 'x-vercel-forwarded-for'
  | 'x-nf-client-connection-ip'
  | 'cloudfront-viewer-address'
  | 'x-azure-socketip'
  | 'fastly-client-ip'
  | 'true-client-ip'

/**
 * The client IP of a request, or why there is none. Read-only: the same (frozen) object may answer several requests.
 */
export type ClientIp =
  | {
      /** Canonical form: dotted IPv4, or lower-case compressed IPv6 (IPv4-mapped IPv6 is reported as IPv4). */
      readonly ip: string
      readonly source: IpSource
      readonly kind: IpKind
    }
  | { readonly ip: null; readonly source: null; readonly kind: null }

/** Anything `clientIp` can read: a Node `IncomingMessage`, a fetch `Request` (peer address passed alongside), or a plain object. */
export type RequestLike =
  | { headers: Headers; url?: string }
  | {
      headers: Record<string, string | string[] | undefined>
      socket?: { remoteAddress?: string | undefined } | null
      remoteAddress?: string | null | undefined
    }

// ---------------------------------------------------------------------------------------------------------------------
// Provider and risk answers
// ---------------------------------------------------------------------------------------------------------------------

/**
 * What a provider knows about an IP, normalized. A field the provider did not send is `null`, never a silent
 * `false` or `0`: a policy can tell "not a VPN" from "unknown".
 */
export interface RiskData {
  /** 0 (clean) – 100 (certainly abusive). */
  score: number | null
  isVpn: boolean | null
  isProxy: boolean | null
  isTor: boolean | null
  isDatacenter: boolean | null
  /** ISO 3166-1 alpha-2, upper case. */
  countryCode: string | null
  asn: number | null
  isp: string | null
}

/**
 * - `scored`: the provider answered (now or from cache).
 * - `pending`: a background lookup was started (`wait: false`) and nothing is cached yet.
 * - `unavailable`: no answer could be had (see {@link IpRisk.error}); policies apply their fail mode.
 * - `skipped`: no lookup was made because none is meaningful: no client IP, a non-global address, or a static
 *   allow / deny list entry (see {@link IpRisk.listed} and {@link IpRisk.ipKind}).
 */
export type RiskStatus = 'scored' | 'pending' | 'unavailable' | 'skipped'

/**
 * Why a lookup is `unavailable`. `bad_response`: the provider answered data of the wrong shape, or with no verdict
 * (no score and no flag). `provider_error`: the provider broke its contract (its `lookup` did not return a promise of
 * data, threw synchronously, or rejected with something that is not an `Error`): a bug in the provider's code, reported
 * once as a configuration problem with `provider`.
 */
export type LookupError =
  | 'timeout'
  | 'network'
  | 'http_error'
  | 'rate_limited'
  | 'auth'
  | 'bad_response'
  | 'provider_error'
  | 'breaker_open'
  | 'budget_exceeded'
  | 'no_ip'

/** Where an answer came from. `stale` is an expired cache entry served because the upstream failed. */
export type RiskSource = 'upstream' | 'l1' | 'l2' | 'stale' | 'none'

/** The risk answer for one IP: the provider's data plus how it was obtained. Treat it as read-only (it may be shared). */
export interface IpRisk extends RiskData {
  /** The client's canonical address (for an address embedding an IPv4 client, NAT64 / 6to4 / Teredo: that IPv4). */
  ip: string | null
  ipKind: IpKind | null
  status: RiskStatus
  /** Set when `status` is `unavailable` (and on a `stale` answer: what failed). */
  error: LookupError | null
  /** A static list or the automatic blocklist matched this IP. */
  listed: 'allow' | 'deny' | 'blocklist' | null
  source: RiskSource
  /** Time spent obtaining this answer (0 for an L1 hit). */
  lookupMs: number
}

/** Kinds of provider failure; see {@link ProviderError}. */
export type ProviderErrorKind = 'timeout' | 'network' | 'http_error' | 'rate_limited' | 'auth' | 'bad_response' | 'aborted'

/**
 * A source of IP intelligence. IPASIS (`ipasis()`) is the default; plug in another service or your own function.
 *
 * @example
 * ```ts
 * const provider: Provider = {
 *   name: 'mine',
 *   async lookup(ip, signal) {
 *     const r = await fetch(`https://intel.example/${ip}`, { signal })
 *     const j = await r.json()
 *     return { score: j.score, isVpn: j.vpn, isProxy: null, isTor: null, isDatacenter: null, countryCode: null, asn: null, isp: null }
 *   },
 * }
 * ```
 */
export interface Provider {
  /** Short identifier, part of cache keys (`[a-z0-9-]`). */
  readonly name: string
  /**
   * Score one validated, canonical, global IP. Must honour `signal` and throw a `ProviderError` (or any error, which
   * is treated as `network`) on failure; it is never called with attacker-controlled text. Must return a promise: a
   * lookup that throws synchronously (other than a `ProviderError`), returns something else than a promise of valid
   * data (plain valid data is tolerated), or rejects with a non-`Error` is answered `provider_error`, never a crash.
   * An answer with no verdict (no score and no VPN / proxy / Tor / datacenter flag) is a `bad_response`.
   */
  lookup(ip: string, signal: AbortSignal): Promise<RiskData>
  /** Release sockets and timers. */
  close?(): Promise<void>
}

// ---------------------------------------------------------------------------------------------------------------------
// Policies and decisions
// ---------------------------------------------------------------------------------------------------------------------

/** What to do when no verdict can be had: let the request through (`open`) or refuse it (`closed`). */
export type FailMode = 'open' | 'closed'

/**
 * When to block. Every field is optional; an empty policy blocks nothing but listed IPs.
 *
 * @example
 * ```ts
 * const checkout: Policy = { threshold: 70, blockTor: true, blockDatacenter: true, failMode: 'closed' }
 * ```
 */
export interface Policy {
  /** A name for logs and events (presets set it). */
  name?: string
  /** Block when `score >= threshold` (0–100). */
  threshold?: number
  blockTor?: boolean
  blockVpn?: boolean
  blockProxy?: boolean
  /** Block every datacenter / hosting IP. */
  blockDatacenter?: boolean
  /** Block datacenter IPs whose score is strictly greater than this (the guide's "datacenter with score > 60"). */
  datacenterThreshold?: number
  /**
   * What this policy does when no verdict can be had: `'open'` allows (the decision has `failOpen: true`), `'closed'`
   * blocks (reason `lookup_unavailable`).
   * @default the adapter's `failMode`, else the resolver's (`'open'`)
   */
  failMode?: FailMode
  /**
   * @deprecated Use {@link Policy.failMode} (`'allow'` is `'open'`, `'block'` is `'closed'`); kept for one minor
   * version. Setting both is an `IpRiskConfigError`.
   */
  onUnavailable?: 'allow' | 'block'
  /** Dry run: decide and report, never block. The decision tells what would have happened. */
  monitor?: boolean
}

/** Why a decision was taken. The first group blocks (or would, in monitor mode); the second allows. */
export type DecisionReason =
  | 'risk_score_exceeded'
  | 'tor_exit_node'
  | 'vpn_detected'
  | 'proxy_detected'
  | 'datacenter_ip'
  | 'denylisted'
  | 'blocklisted'
  | 'lookup_unavailable'
  | 'clean'
  | 'allowlisted'
  | 'non_global_ip'

/** The verdict of one policy on one risk answer. */
export interface Decision {
  /** What happens to the request. `monitor` policies always `allow`. */
  action: 'allow' | 'block'
  reason: DecisionReason
  /** True when the policy would block (equals `action === 'block'` unless monitored). */
  wouldBlock: boolean
  /** True when the policy is in monitor mode and would have blocked. */
  monitored: boolean
  /** True for an allow that happened only because no verdict could be had (fail open). */
  failOpen: boolean
  risk: IpRisk
  policy: Policy
}

// ---------------------------------------------------------------------------------------------------------------------
// Resolver
// ---------------------------------------------------------------------------------------------------------------------

/** What an adapter knows about the request a decision was taken for; added to security events. */
export interface RequestInfo {
  adapter?: 'trpc' | 'graphql' | (string & {})
  /** tRPC procedure path, or `Operation.field` for GraphQL. */
  path?: string
  /** tRPC `query` / `mutation` / `subscription`, or the GraphQL operation type. */
  method?: string
  operationName?: string | null
  userAgent?: string | null
  /**
   * The HTTP request (or connection) the decision was taken for: the adapters pass the request object, or the
   * context when there is none. An identity only: compared by reference, never read, never copied into the event.
   * Decisions of one request with the same policy and outcome made in the same turn of the event loop (the calls of a
   * tRPC batch, the operations of a GraphQL batch) are reported as one event carrying their `count`. Without it, each
   * decision is its own event.
   */
  request?: object
}

export interface LookupOptions {
  /**
   * `true` (default): wait for a verdict (cache, then upstream within the budget).
   * `false`: answer at once from cache, or `status: 'pending'` while the lookup runs in the background.
   */
  wait?: boolean
}

/** The shared engine behind every adapter. Create one per process with `createRiskResolver`. */
export interface RiskResolver {
  /** The client IP of a request under the resolver's trust settings. Synchronous, no I/O. */
  clientIp(req: RequestLike, peerAddress?: string | null): ClientIp
  /**
   * The cached answer for an IP if L1 holds a fresh one (lists and the blocklist applied), else `undefined`.
   * Synchronous and allocation-free: adapters call it before `lookup` to keep the warm path free of promises.
   */
  peek(ip: string | null): IpRisk | undefined
  /** Risk for one IP: L1, L2, then the provider (single-flight, budgets, breaker). Never rejects. */
  lookup(ip: string | null, options?: LookupOptions): Promise<IpRisk>
  /** `clientIp` + `lookup`. Never rejects. */
  fromRequest(req: RequestLike, options?: LookupOptions & { peerAddress?: string | null }): Promise<IpRisk>
  /** Validate a policy once (throws `IpRiskConfigError`); the result is frozen and can be passed to `check`. */
  compile(policy: Policy): Policy
  /** Apply a policy to an answer. Pure and synchronous; uses the resolver's `failMode` when the policy has none. */
  check(risk: IpRisk, policy?: Policy): Decision
  /** Emit a decision to the configured logger, hooks and metrics. Never throws, never waits. */
  report(decision: Decision, info?: RequestInfo): void
  /** Hard-block an IP for `seconds` (default: the blocklist TTL), shared through L2 when configured. */
  block(ip: string, seconds?: number): Promise<void>
  unblock(ip: string): Promise<void>
  /**
   * A snapshot of the last minute for a readiness or health endpoint: gated decisions by answer status (and how many
   * had no verdict), provider calls and the last provider error, the breaker and L2 states, the `degraded` warnings
   * raised, and whether protection is effective (`protected`). Synchronous, no I/O; never throws.
   *
   * @example
   * ```ts
   * app.get('/readyz', (_req, res) => {
   *   const s = risk.status()
   *   res.status(s.protected ? 200 : 503).json(s)
   * })
   * ```
   */
  status(): ResolverStatus
  /**
   * Start-up probe: look up one address through the provider directly (no cache, no budget, no breaker) and
   * resolve if it answered usable data. Rejects with an `IpRiskProbeError` whose `kind` says what is wrong (`auth`,
   * `network`, `timeout`, `http_error`, `rate_limited`, `bad_response`, `provider_error`) and whose message names the
   * fix and never contains the API key; with an `IpRiskConfigError` for a bad option. Optional: without it, a broken
   * provider shows as `unavailable` answers, the `provider_failing` warning and `status()`.
   *
   * @example
   * ```ts
   * const risk = createRiskResolver({ provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }) })
   * await risk.ready() // throws IpRiskProbeError { kind: 'auth' } on a wrong key, before the server listens
   * server.listen(3000)
   * ```
   */
  ready(options?: ReadyOptions): Promise<void>
  /** Stop background work and release sockets and timers. */
  close(): Promise<void>
}
