/**
 * `ctx.ipRisk`: the risk answer of the caller plus the decision of the iprisk policy that ran last on the call.
 *
 * The resolver's answer object is shared (cached, read-only), so it cannot carry a per-call decision. Instead of copying
 * its 15 fields into a new object on every call, `ctx.ipRisk` is a two-field view (`risk`, `decision`) whose IpRisk
 * fields are prototype getters reading through to the shared answer: one small allocation per call, no copy.
 *
 * @module
 */
import type { Decision, IpKind, IpRisk, LookupError, RiskSource, RiskStatus } from '../core/types.js'

/**
 * What the tRPC middleware puts on `ctx.ipRisk` (the context is an `IpRiskContext<IpRiskResult>`): every field of the
 * caller's {@link IpRisk} (score, flags, country, ASN, ISP, status…), the `decision` of the last iprisk policy evaluated on this call, and the shared answer itself as `risk`.
 *
 * The IpRisk fields are read-through getters: `Object.keys(ctx.ipRisk)` and `{ ...ctx.ipRisk }` do not list them (use
 * `ctx.ipRisk.risk` for a plain object); `JSON.stringify(ctx.ipRisk)` gives every field plus a summary of the decision.
 *
 * @example
 * ```ts
 * export const contact = protectedProcedure.mutation(({ ctx }) => {
 *   if ((ctx.ipRisk.score ?? 0) >= 70) return { ok: false, message: 'Please try again later.' }
 *   if (ctx.ipRisk.decision?.monitored) audit('would have blocked', ctx.ipRisk.decision.reason)
 *   return { ok: true }
 * })
 * ```
 */
export interface IpRiskResult extends Readonly<IpRisk> {
  /**
   * The decision of the last iprisk policy evaluated on this call (the gate's own policy when a gate ran last), or
   * `null` when no policy applied (only `withIpRisk()` ran, or the procedure has `meta.ipRisk.skip`).
   */
  readonly decision: Decision | null
  /** The resolver's answer object (shared and read-only: do not mutate it). */
  readonly risk: IpRisk
}

/**
 * The JSON form of `ctx.ipRisk` (what `JSON.stringify` writes, and what a procedure returning `ctx.ipRisk` sends).
 *
 * @example
 * ```ts
 * // { ip: '203.0.113.7', status: 'scored', score: 55, isDatacenter: true, …,
 * //   decision: { action: 'allow', reason: 'clean', wouldBlock: false, monitored: false, failOpen: false, policy: 'lowRisk(70)' } }
 * const json: IpRiskResultJson = JSON.parse(JSON.stringify(ctx.ipRisk))
 * ```
 */
export type IpRiskResultJson = IpRisk & {
  decision: Pick<Decision, 'action' | 'reason' | 'wouldBlock' | 'monitored' | 'failOpen'> & { policy: string | null }
  | null
}

/**
 * @deprecated Renamed {@link IpRiskResultJson} (`IpRiskContext` is now the context type both adapters share); kept for
 * one minor version.
 */
export type IpRiskContextJson = IpRiskResultJson

/**
 * The implementation of {@link IpRiskResult}. Not exported from the package: adapters create it, apps read it.
 * `scope` is the procedure path whose path and meta policies this call has already enforced (so a later iprisk
 * middleware on the same call does not evaluate and report them twice).
 *
 * @internal
 */
export class RiskContext implements IpRiskResult {
  /** Private (not enumerable, not visible to apps): the path whose path and meta policies were enforced. */
  readonly #scope: string

  constructor(
    readonly risk: IpRisk,
    readonly decision: Decision | null,
    scope: string,
  ) {
    this.#scope = scope
  }

  /** The procedure path whose path and meta policies this call already enforced. */
  static scopeOf(context: RiskContext): string {
    return context.#scope
  }

  get ip(): string | null {
    return this.risk.ip
  }
  get ipKind(): IpKind | null {
    return this.risk.ipKind
  }
  get status(): RiskStatus {
    return this.risk.status
  }
  get error(): LookupError | null {
    return this.risk.error
  }
  get listed(): 'allow' | 'deny' | 'blocklist' | null {
    return this.risk.listed
  }
  get source(): RiskSource {
    return this.risk.source
  }
  get lookupMs(): number {
    return this.risk.lookupMs
  }
  get score(): number | null {
    return this.risk.score
  }
  get isVpn(): boolean | null {
    return this.risk.isVpn
  }
  get isProxy(): boolean | null {
    return this.risk.isProxy
  }
  get isTor(): boolean | null {
    return this.risk.isTor
  }
  get isDatacenter(): boolean | null {
    return this.risk.isDatacenter
  }
  get countryCode(): string | null {
    return this.risk.countryCode
  }
  get asn(): number | null {
    return this.risk.asn
  }
  get isp(): string | null {
    return this.risk.isp
  }

  /** Every IpRisk field, plus the decision without its (duplicate) risk and with the policy reduced to its name. */
  toJSON(): IpRiskResultJson {
    const d = this.decision
    return {
      ...this.risk,
      decision:
        d === null
          ? null
          : {
              action: d.action,
              reason: d.reason,
              wouldBlock: d.wouldBlock,
              monitored: d.monitored,
              failOpen: d.failOpen,
              policy: d.policy.name ?? null,
            },
    }
  }
}
