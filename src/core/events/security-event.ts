/**
 * The security event of a decision: its shape (snake_case, like the guide's security log) and the one function that
 * builds it, shared by the reporter and by applications that emit events through their own channel.
 *
 * @module
 */

import { systemClock } from '../clock.js'
import type { Decision, DecisionReason, LookupError, RequestInfo, RiskStatus } from '../types.js'

/**
 * One policy decision, or several identical ones of one request (see `count`), as logged and passed to hooks. Field
 * names are snake_case like the guide's security log, so existing SIEM parsers and dashboards keep working. Only these
 * fields exist: never the API key, never a header dump.
 *
 * @example
 * ```json
 * { "timestamp": "2025-01-01T00:00:00.000Z", "event": "bot_detection", "action": "block", "reason": "tor_exit_node",
 *   "fail_open": false, "policy": "human", "ip": "185.220.101.1", "path": "user.signup", "method": "mutation",
 *   "operation_name": null, "adapter": "trpc", "risk_score": 92, "is_vpn": false, "is_proxy": false, "is_tor": true,
 *   "is_datacenter": true, "country": "DE", "asn": 60729, "isp": "Example Hosting", "user_agent": "curl/8.5.0",
 *   "cached": true, "lookup_ms": 0, "monitored": false, "status": "scored", "error": null, "count": 1 }
 * ```
 */
export interface SecurityEvent {
  /** ISO 8601, when the decision was reported. */
  timestamp: string
  event: 'bot_detection'
  /** `monitor` is a would-block of a policy in monitor mode: the request went through. */
  action: 'allow' | 'block' | 'monitor'
  reason: DecisionReason
  /** The request was allowed only because no verdict could be had. */
  fail_open: boolean
  /** The policy's `name`, or `null` for an unnamed policy. */
  policy: string | null
  ip: string | null
  /** tRPC procedure path, or `Operation.field` for GraphQL (at most 200 characters). */
  path: string | null
  /** tRPC procedure type, or GraphQL operation type (at most 200 characters). */
  method: string | null
  /** GraphQL operation name as sent by the client (at most 200 characters). */
  operation_name: string | null
  adapter: string | null
  risk_score: number | null
  is_vpn: boolean | null
  is_proxy: boolean | null
  is_tor: boolean | null
  is_datacenter: boolean | null
  /** ISO 3166-1 alpha-2. */
  country: string | null
  asn: number | null
  isp: string | null
  /** The `User-Agent` header, truncated to 200 characters. */
  user_agent: string | null
  /** The answer came from a cache (L1, L2, or a stale entry), not from a provider call made for this request. */
  cached: boolean
  /** Time spent obtaining the answer, in milliseconds rounded to 0.01 ms. */
  lookup_ms: number
  /** The policy is in monitor mode and would have blocked. */
  monitored: boolean
  status: RiskStatus
  error: LookupError | null
  /**
   * How many decisions this event stands for (at least 1): the calls of one request (a tRPC batch, a GraphQL batch)
   * decided in the same turn of the event loop with the same policy, action and reason are reported as one event,
   * whose other fields are those of the first. Allows dropped by `sampleAllows` are not included (only the metrics
   * count them).
   */
  count: number
}

/**
 * A hook receiving security events. It may be async; it is never awaited and its failures are only logged.
 *
 * @example
 * ```ts
 * const onBlock: SecurityEventHook = async (event) => {
 *   await fetch(webhookUrl, { method: 'POST', body: JSON.stringify(event), signal: AbortSignal.timeout(3000) })
 * }
 * ```
 */
export type SecurityEventHook = (event: SecurityEvent) => void | Promise<void>

/** Longest string copied from the request into an event. */
const MAX_TEXT = 200

function clip(text: string | null | undefined): string | null {
  if (typeof text !== 'string') return null
  if (text.length <= MAX_TEXT) return text
  // Do not cut a surrogate pair in half: a lone surrogate is invalid UTF-8 for some log sinks.
  const code = text.charCodeAt(MAX_TEXT - 1)
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? MAX_TEXT - 1 : MAX_TEXT)
}

/**
 * Build the security event of a decision. Exposed for applications that emit events through their own channel
 * (e.g. attach it to an audit record); the reporter uses the same function.
 *
 * @param decision A decision from `evaluate` / `resolver.check`.
 * @param info What the adapter knows about the request (`info.request` is not copied).
 * @param timestamp Epoch milliseconds (default: now).
 * @param count How many decisions the event stands for (a positive integer; anything else counts as 1).
 * @returns A frozen event.
 *
 * @example
 * ```ts
 * const event = securityEvent(resolver.check(risk, policies.human), { adapter: 'trpc', path: 'user.signup' })
 * audit.write(JSON.stringify(event))
 * ```
 */
export function securityEvent(
  decision: Decision,
  info?: RequestInfo,
  timestamp: number = systemClock.now(),
  count: number = 1,
): SecurityEvent {
  const risk = decision.risk
  const source = risk.source
  return Object.freeze<SecurityEvent>({
    timestamp: new Date(Number.isFinite(timestamp) ? timestamp : systemClock.now()).toISOString(),
    event: 'bot_detection',
    action: decision.monitored ? 'monitor' : decision.action,
    reason: decision.reason,
    fail_open: decision.failOpen,
    policy: decision.policy.name ?? null,
    ip: risk.ip,
    path: clip(info?.path),
    method: clip(info?.method),
    operation_name: clip(info?.operationName),
    adapter: clip(info?.adapter),
    risk_score: risk.score,
    is_vpn: risk.isVpn,
    is_proxy: risk.isProxy,
    is_tor: risk.isTor,
    is_datacenter: risk.isDatacenter,
    country: risk.countryCode,
    asn: risk.asn,
    isp: risk.isp,
    user_agent: clip(info?.userAgent),
    cached: source === 'l1' || source === 'l2' || source === 'stale',
    lookup_ms: Math.round(risk.lookupMs * 100) / 100,
    monitored: decision.monitored,
    status: risk.status,
    error: risk.error,
    count: Number.isSafeInteger(count) && count > 0 ? count : 1,
  })
}
