/**
 * The `degraded` warnings of the self-check: what each one says and the fix it names, built from the counts the
 * self-check hands in. Pure functions: no state, no clock (the time of the event is given).
 *
 * @module
 */

import { readHeader } from '../ip.js'
import type { IpKind, LookupError, RequestInfo, RequestLike } from '../types.js'
import type { DegradedEvent, DegradedKind } from './vocabulary.js'

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
export function forwardingHeaderOf(req: RequestLike): string | null {
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

/** Peer kinds that suggest a reverse proxy in front of an app that does not trust it. */
export const LOCAL_PEERS: ReadonlySet<IpKind> = new Set<IpKind>(['loopback', 'private', 'uniqueLocal', 'linkLocal', 'carrierGradeNat'])

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

/** The fix named by `provider_failing`, by the last error (others: HTTP errors). */
const FAILING_HINTS: Partial<Record<LookupError, string>> = {
  auth: 'the provider rejects the API key: check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
  network: "the provider cannot be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall",
  timeout: 'the provider does not answer within `budget.timeoutMs`: check the network path, or raise the timeout',
  rate_limited: "the provider's rate limit or quota is exhausted: check the plan, `budget.maxPerMinute` and the cache TTLs",
  bad_response: "the provider answers data iprisk cannot read: check that `baseUrl` points at the provider's API",
  provider_error: "the provider answers data iprisk cannot read: check that `baseUrl` points at the provider's API",
}

/** What every warning says: the option to change, where the fix is documented, and the message. @internal */
export interface WarningText {
  option: string
  docs: string
  message: string
}

/** The fields of a warning that only some kinds have. @internal */
export type Details = Partial<Pick<DegradedEvent, 'peer_kind' | 'header' | 'adapter' | 'share' | 'sample' | 'error'>>

/** The details of a warning that does not have them (and their order in the event). */
const NO_DETAILS: Required<Details> = Object.freeze({
  peer_kind: null,
  header: null,
  adapter: null,
  share: null,
  sample: null,
  error: null,
})

/**
 * A frozen `degraded` event of `kind` at `t` (epoch ms); the details not given are `null`. The one builder of every
 * `degraded` event (the self-check's here, the fleet's in fleet/budget-events.ts and fleet/propagation-wiring.ts).
 *
 * @internal
 */
export function degradedEvent(kind: DegradedKind, t: number, text: WarningText, details: Details = {}): DegradedEvent {
  return Object.freeze<DegradedEvent>({
    timestamp: new Date(t).toISOString(),
    event: 'degraded',
    kind,
    option: text.option,
    docs: text.docs,
    message: `iprisk: protection degraded (${kind}): ${text.message}`,
    ...NO_DETAILS,
    ...details,
  })
}

/** (a) A local peer sent forwarding header `header`, but the client IP was read from the socket. */
export function untrustedProxyEvent(t: number, kind: IpKind, header: string): DegradedEvent {
  return degradedEvent('untrusted_proxy', t, {
    option: 'trustProxy',
    docs: 'docs/client-ip.md',
    message: `a request from a ${kind} peer carries \`${header}\`, but the client IP was read from the socket (the peer is not a trusted proxy under \`trustProxy\`, or its header held no usable address): every client looks like the proxy, a non-global address that is never scored, so policies allow it. Fix: behind a platform use its preset (\`trustProxy: platforms.awsAlb({ vpc })\`, \`platforms.cloudflare()\`, \`platforms.fly()\`, ...); behind your own proxy or a load balancer in your network trust its address (\`trustProxy: 'loopback'\` on the same host, \`trustProxy: 'private'\` in a private network); see docs/client-ip.md`,
  }, { peer_kind: kind, header })
}

/** (b) A gated call had no client IP. */
export function noClientIpEvent(t: number, info: RequestInfo | undefined): DegradedEvent {
  const adapter = typeof info?.adapter === 'string' ? info.adapter.slice(0, 200) : null
  const { option, docs, fix } = noIpFix(adapter)
  return degradedEvent('no_client_ip', t, {
    option,
    docs,
    message: `a gated ${adapter === null ? '' : `${adapter} `}call had no client IP, so it was decided without a verdict (the policy's fail mode applies: allowed by default). Fix: ${fix}`,
  }, { adapter })
}

/** The window's counts behind a `no_verdict` warning. */
export interface NoVerdictCounts {
  /** Gated decisions in the window. */
  readonly total: number
  /** Of which without a verdict. */
  readonly without: number
  /** Of which without a client IP. */
  readonly noIp: number
  /** Of which on a non-global client IP. */
  readonly nonGlobal: number
}

/** The option, docs and fix of the main cause of decisions without a verdict. */
function noVerdictFix(c: NoVerdictCounts, lastError: LookupError | null): { option: string; docs: string; fix: string } {
  const other = c.without - c.noIp - c.nonGlobal
  if (c.nonGlobal >= c.noIp && c.nonGlobal >= other) {
    return {
      option: 'trustProxy',
      docs: 'docs/client-ip.md',
      fix: "most clients have a non-global address: behind a load balancer or proxy set `trustProxy` to its platform preset or its addresses (`'private'`, `'loopback'`); see docs/client-ip.md",
    }
  }
  if (c.noIp >= other) {
    return {
      option: 'getClientIp',
      docs: 'docs/client-ip.md',
      fix: 'most calls have no client IP: pass `getClientIp` or the peer address to the adapter; see docs/trpc.md, docs/graphql.md',
    }
  }
  return {
    option: 'provider',
    docs: 'docs/resolver.md',
    fix: `most lookups were unavailable or pending (last provider error: ${lastError ?? 'none'}): check the provider's key and reach (\`await risk.ready()\`), \`budget\` and \`breaker\`; see docs/resolver.md`,
  }
}

/** (c) Most gated decisions of the window had no verdict. */
export function noVerdictEvent(t: number, c: NoVerdictCounts, lastError: LookupError | null): DegradedEvent {
  const other = c.without - c.noIp - c.nonGlobal
  const share = Math.round((c.without / c.total) * 100) / 100
  const { option, docs, fix } = noVerdictFix(c, lastError)
  return degradedEvent('no_verdict', t, {
    option,
    docs,
    message: `over the last minute ${c.without} of ${c.total} gated decisions (${Math.round(share * 100)}%) were made without a verdict (no client IP: ${c.noIp}, non-global IP: ${c.nonGlobal}, unavailable or pending: ${other}); they were decided by the fail mode. Fix: ${fix}`,
  }, { share, sample: c.total })
}

/** (d) Every provider call of the window failed; `error` is the last failure. */
export function providerFailingEvent(t: number, failures: number, error: LookupError, providerName: string): DegradedEvent {
  const hint = FAILING_HINTS[error] ?? 'the provider answers HTTP errors: check its status page'
  return degradedEvent('provider_failing', t, {
    option: error === 'auth' ? 'provider.apiKey' : 'provider',
    docs: 'docs/resolver.md',
    message: `all ${failures} calls to the provider \`${providerName}\` over the last minute failed (last: ${error}); every lookup falls back to the fail mode. Fix: ${hint}; \`await risk.ready()\` at start-up reports this before the first request`,
  }, { sample: failures, error })
}
