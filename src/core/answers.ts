/**
 * Answers: the one constructor of {@link IpRisk} values and the small pure helpers around them. Every answer the
 * resolver gives is built by {@link makeRisk}, so all share one property order (one hidden class) and are frozen.
 *
 * @module
 * @internal
 */
import { PROVIDER_ERROR_KINDS } from './errors.js'
import type { IpKind, IpRisk, LookupError, RiskData, RiskSource, RiskStatus } from './types.js'

/** The only constructor of answers: one property order, so every IpRisk shares one hidden class. Frozen (shared). @internal */
export function makeRisk(
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

/**
 * A failed lookup's answer: the stale data if there is some (`source: 'stale'`), else `unavailable`. @internal
 */
export function failedRisk(
  ip: string,
  kind: IpKind,
  error: LookupError,
  stale: RiskData | undefined,
  lookupMs: number,
): IpRisk {
  return stale === undefined
    ? makeRisk(ip, kind, 'unavailable', error, null, 'none', lookupMs, null)
    : makeRisk(ip, kind, 'scored', error, null, 'stale', lookupMs, stale)
}

/** The same answer for another address (another IPv6 address of the same cached prefix). @internal */
export function withIp(risk: IpRisk, ip: string): IpRisk {
  return risk.ip === ip ? risk : Object.freeze({ ...risk, ip })
}

/** The data part of an answer. @internal */
export function dataOf(risk: IpRisk): RiskData {
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

/** The data of a scored answer, else `null` (what a block keeps of what was known). @internal */
export function knownData(risk: IpRisk | undefined): RiskData | null {
  return risk !== undefined && risk.status === 'scored' ? dataOf(risk) : null
}

/** The answer for no (or an unreadable) client IP. @internal */
export const NO_IP: IpRisk = makeRisk(null, null, 'unavailable', 'no_ip', null, 'none', 0, null)

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

/** Whether an answer is flagged (see {@link FLAGGED_SCORE}). @internal */
export function isFlagged(d: RiskData): boolean {
  return (
    d.isVpn === true ||
    d.isProxy === true ||
    d.isTor === true ||
    d.isDatacenter === true ||
    (d.score !== null && d.score >= FLAGGED_SCORE)
  )
}

/**
 * Upstream errors a lookup remembers for `cache.failureTtlSeconds` (not the cheap local refusals): every provider
 * error kind (`aborted` is answered as `timeout`) and a broken provider contract. @internal
 */
export const REMEMBERED: ReadonlySet<LookupError> = new Set<LookupError>([
  ...PROVIDER_ERROR_KINDS.filter((kind) => kind !== 'aborted'),
  'provider_error',
])
