/**
 * Policies: when to block, given a risk answer. Evaluation is pure and synchronous: no I/O, no promise, no closure
 * and exactly one small allocation (the returned {@link Decision}) per call, so it can run per request or per field.
 *
 * Validation happens once, at start-up, in {@link compilePolicy}; {@link evaluate} trusts its input.
 *
 * Evaluation order (first match wins):
 *
 * | # | Condition                                                          | Action         | Reason                |
 * |---|--------------------------------------------------------------------|----------------|-----------------------|
 * | 1 | `listed === 'allow'`                                               | allow          | `allowlisted`         |
 * | 2 | `listed === 'deny'`                                                | block          | `denylisted`          |
 * | 3 | `listed === 'blocklist'`                                           | block          | `blocklisted`         |
 * | 4 | `status === 'skipped'` and `ipKind` is set and not `'global'`      | allow          | `non_global_ip`       |
 * | 5 | no data: `unavailable`, `pending`, or `skipped` without an IP      | fail mode      | `lookup_unavailable`  |
 * | 6 | `blockTor` and `isTor === true`                                    | block          | `tor_exit_node`       |
 * | 7 | `blockVpn` and `isVpn === true`                                    | block          | `vpn_detected`        |
 * | 8 | `blockProxy` and `isProxy === true`                                | block          | `proxy_detected`      |
 * | 9 | `isDatacenter === true` and (`blockDatacenter` or `score > datacenterThreshold`) | block | `datacenter_ip` |
 * |10 | `score >= threshold`                                               | block          | `risk_score_exceeded` |
 * |11 | a criterion needed the score but it is `null`                      | fail mode      | `lookup_unavailable`  |
 * |12 | otherwise                                                          | allow          | `clean`               |
 *
 * @module
 */

import * as z from 'zod'
import { IpRiskConfigError, quoteForError } from './errors.js'
import type { Decision, DecisionReason, FailMode, IpRisk, Policy } from './types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Validation (start-up only)
// ---------------------------------------------------------------------------------------------------------------------

/** Renders a rejected value for an error message: enough to spot the mistake, never more than a few characters. */
function describe(value: unknown): string {
  return typeof value === 'string' ? `the string ${quoteForError(value, 20)}` : quoteForError(value, 20)
}

const percent = z
  .number({ error: (issue) => `must be a finite number from 0 to 100, got ${describe(issue.input)}` })
  .min(0, { error: (issue) => `must be a finite number from 0 to 100, got ${describe(issue.input)}` })
  .max(100, { error: (issue) => `must be a finite number from 0 to 100, got ${describe(issue.input)}` })

const flag = z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` })

const POLICY_KEYS = [
  'name',
  'threshold',
  'blockTor',
  'blockVpn',
  'blockProxy',
  'blockDatacenter',
  'datacenterThreshold',
  'failMode',
  'onUnavailable',
  'monitor',
] as const satisfies readonly (keyof Policy)[]

const policySchema = z.strictObject(
  {
    name: z
      .string({ error: (issue) => `must be a string, got ${describe(issue.input)}` })
      .min(1, { error: 'must not be empty' })
      .max(100, { error: 'must be at most 100 characters' })
      .optional(),
    threshold: percent.optional(),
    blockTor: flag.optional(),
    blockVpn: flag.optional(),
    blockProxy: flag.optional(),
    blockDatacenter: flag.optional(),
    datacenterThreshold: percent.optional(),
    failMode: z
      .enum(['open', 'closed'], { error: (issue) => `must be 'open' or 'closed', got ${describe(issue.input)}` })
      .optional(),
    onUnavailable: z
      .enum(['allow', 'block'], { error: (issue) => `must be 'allow' or 'block', got ${describe(issue.input)}` })
      .optional(),
    monitor: flag.optional(),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? `must be an object, got ${describe(issue.input)}` : undefined) },
)

/** Policies returned by {@link compilePolicy} (frozen, validated): compiling them again is free. */
const compiled = new WeakSet<object>()

/**
 * What an adapter (or any caller) imposes on every policy it compiles: a dry run, and the fail mode of the policies
 * that set none. Used by the tRPC middleware's and the Envelop plugin's `monitor` and `failMode` options.
 *
 * @example
 * ```ts
 * const defaults: PolicyDefaults = { monitor: true, failMode: 'closed' }
 * compilePolicy({ threshold: 70 }, 'policy', defaults) // { threshold: 70, failMode: 'closed', monitor: true }
 * ```
 */
export interface PolicyDefaults {
  /** Force every policy into monitor mode (decide and report, never block). @default false */
  readonly monitor?: boolean | undefined
  /** The fail mode of a policy that sets neither `failMode` nor `onUnavailable`. @default undefined (the resolver's) */
  readonly failMode?: FailMode | undefined
}

/**
 * Validate a policy once, at start-up, and return a frozen copy to pass to {@link evaluate}. The one compile path of
 * iprisk: the resolver's `compile`, the tRPC gates, path and meta policies, and the Envelop directives and
 * `fieldPolicies` all come through here.
 *
 * Thresholds must be finite numbers from 0 to 100, flags booleans, `failMode` `'open'` or `'closed'` (or its
 * deprecated alias `onUnavailable`, `'allow'` or `'block'`; not both); unknown keys are rejected so that a typo
 * (`treshold`) cannot silently disable a check. Compiling an already compiled policy returns it unchanged (when
 * `defaults` change nothing in it).
 *
 * @param policy The policy as written by the application.
 * @param optionName Where the policy came from, used in error messages (default `policy`).
 * @param defaults What the caller imposes on every policy (see {@link PolicyDefaults}).
 * @returns A frozen copy holding only the fields that were set.
 * @throws {IpRiskConfigError} naming the offending option, e.g. `` invalid option `policy.threshold` ``.
 *
 * @example
 * ```ts
 * import { compilePolicy, evaluate } from 'iprisk'
 *
 * const checkout = compilePolicy({ name: 'checkout', threshold: 70, blockTor: true, failMode: 'closed' })
 * const decision = evaluate(risk, checkout)
 * if (decision.action === 'block') return new Response('Forbidden', { status: 403 })
 * ```
 */
export function compilePolicy(policy: Policy, optionName = 'policy', defaults?: PolicyDefaults): Readonly<Policy> {
  const valid = typeof policy === 'object' && policy !== null && compiled.has(policy) ? policy : validated(policy, optionName)
  return defaults === undefined ? valid : withDefaults(valid, defaults)
}

/** A frozen, registered copy of a policy that passed the schema (throws the first problem found otherwise). */
function validated(policy: Policy, optionName: string): Readonly<Policy> {
  const result = policySchema.safeParse(policy)
  if (!result.success) {
    const issue = result.error.issues[0]
    if (issue === undefined) throw new IpRiskConfigError(optionName, 'is not a valid policy')
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? ''
      throw new IpRiskConfigError(
        `${optionName}.${key}`,
        `unknown policy field (known fields: ${POLICY_KEYS.join(', ')})`,
      )
    }
    const path = issue.path.length === 0 ? optionName : `${optionName}.${issue.path.map(String).join('.')}`
    throw new IpRiskConfigError(path, issue.message)
  }
  const data = result.data
  if (data.failMode !== undefined && data.onUnavailable !== undefined) {
    throw new IpRiskConfigError(
      `${optionName}.onUnavailable`,
      'set only `failMode` (`onUnavailable` is its deprecated alias: allow = open, block = closed)',
    )
  }
  const copy: Policy = {}
  for (const key of POLICY_KEYS) {
    const value = data[key]
    if (value !== undefined) (copy as Record<string, unknown>)[key] = value
  }
  return register(copy)
}

function register(copy: Policy): Readonly<Policy> {
  Object.freeze(copy)
  compiled.add(copy)
  return copy
}

/** A compiled policy with the caller's defaults applied; the same object when they change nothing. */
function withDefaults(policy: Readonly<Policy>, defaults: PolicyDefaults): Readonly<Policy> {
  const monitor = defaults.monitor === true && policy.monitor !== true
  const failMode =
    defaults.failMode !== undefined && policy.failMode === undefined && policy.onUnavailable === undefined
      ? defaults.failMode
      : undefined
  if (!monitor && failMode === undefined) return policy
  const copy: Policy = { ...policy }
  if (failMode !== undefined) copy.failMode = failMode
  if (monitor) copy.monitor = true
  return register(copy)
}

// ---------------------------------------------------------------------------------------------------------------------
// Evaluation (hot path)
// ---------------------------------------------------------------------------------------------------------------------

/** The single allocation of an evaluation. Property order is fixed so every decision shares one hidden class. */
function decide(
  risk: IpRisk,
  policy: Readonly<Policy>,
  wouldBlock: boolean,
  reason: DecisionReason,
  failOpen: boolean,
): Decision {
  const monitored = wouldBlock && policy.monitor === true
  return {
    action: wouldBlock && !monitored ? 'block' : 'allow',
    reason,
    wouldBlock,
    monitored,
    failOpen,
    risk,
    policy,
  }
}

/**
 * A deny-list entry or a block (automatic or `block()`): an operator's decision made outside the policy, so it blocks
 * whatever the policy says, monitor mode included. A team trying a stricter policy out in monitor mode must not lift
 * its deny list on that route without a word. Same property order as {@link decide}.
 */
function listedBlock(risk: IpRisk, policy: Readonly<Policy>, reason: 'denylisted' | 'blocklisted'): Decision {
  return { action: 'block', reason, wouldBlock: true, monitored: false, failOpen: false, risk, policy }
}

/** No verdict can be had: the policy's `failMode` (or its deprecated `onUnavailable`), else the resolver's. */
function unavailable(risk: IpRisk, policy: Readonly<Policy>, failMode: FailMode | undefined): Decision {
  const own = policy.onUnavailable
  const mode = policy.failMode ?? (own === undefined ? failMode : own === 'block' ? 'closed' : 'open')
  return mode === 'closed'
    ? decide(risk, policy, true, 'lookup_unavailable', false)
    : decide(risk, policy, false, 'lookup_unavailable', true)
}

/**
 * Apply a policy to a risk answer. Pure, synchronous, never throws on a well-typed input.
 *
 * The policy should come from {@link compilePolicy} (or be a preset from {@link policies}): `evaluate` does not
 * validate it. Order of checks: lists, non-global addresses, missing data (fail mode), then Tor, VPN, proxy,
 * datacenter and finally the score threshold; the first that matches gives the reason. A `null` flag never blocks; a
 * `null` score cannot satisfy a score criterion, so when nothing else blocks the fail mode decides (reason
 * `lookup_unavailable`). A `stale` answer (served from an expired cache entry) counts as scored.
 *
 * @param risk The answer from the resolver (`lookup`, `peek` or `fromRequest`).
 * @param policy A compiled policy.
 * @param failMode Used when the policy has no `onUnavailable`: `'open'` (default) allows, `'closed'` blocks.
 *
 * @example
 * ```ts
 * import { evaluate, policies } from 'iprisk'
 *
 * const decision = evaluate(await resolver.fromRequest(req), policies.human, 'closed')
 * // { action: 'block', reason: 'tor_exit_node', wouldBlock: true, monitored: false, failOpen: false, ... }
 * ```
 */
export function evaluate(risk: IpRisk, policy: Readonly<Policy>, failMode: FailMode = 'open'): Decision {
  const listed = risk.listed
  if (listed !== null) {
    if (listed === 'allow') return decide(risk, policy, false, 'allowlisted', false)
    if (listed === 'deny') return listedBlock(risk, policy, 'denylisted')
    if (listed === 'blocklist') return listedBlock(risk, policy, 'blocklisted')
  }

  const status = risk.status
  if (status !== 'scored' && risk.source !== 'stale') {
    const kind = risk.ipKind
    if (status === 'skipped' && kind !== null && kind !== 'global') {
      return decide(risk, policy, false, 'non_global_ip', false)
    }
    // unavailable, pending, or skipped without a usable IP: nothing to judge.
    return unavailable(risk, policy, failMode)
  }

  if (policy.blockTor === true && risk.isTor === true) return decide(risk, policy, true, 'tor_exit_node', false)
  if (policy.blockVpn === true && risk.isVpn === true) return decide(risk, policy, true, 'vpn_detected', false)
  if (policy.blockProxy === true && risk.isProxy === true) return decide(risk, policy, true, 'proxy_detected', false)

  const score = risk.score
  let undecidable = false
  if (risk.isDatacenter === true) {
    if (policy.blockDatacenter === true) return decide(risk, policy, true, 'datacenter_ip', false)
    const limit = policy.datacenterThreshold
    if (typeof limit === 'number') {
      if (score === null) undecidable = true
      else if (score > limit) return decide(risk, policy, true, 'datacenter_ip', false)
    }
  }

  const threshold = policy.threshold
  if (typeof threshold === 'number') {
    if (score === null) undecidable = true
    else if (score >= threshold) return decide(risk, policy, true, 'risk_score_exceeded', false)
  }

  return undecidable ? unavailable(risk, policy, failMode) : decide(risk, policy, false, 'clean', false)
}

// ---------------------------------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The presets, all compiled and frozen, each with a `name` for logs.
 *
 * @example
 * ```ts
 * const presets: PolicyPresets = policies
 * presets.lowRisk(75).threshold // 75
 * ```
 */
export interface PolicyPresets {
  /** `score >= 90`: the guide's global middleware. Name `baseline`. */
  readonly baseline: Readonly<Policy>
  /**
   * `score >= threshold` (default 70): the guide's `@require_low_risk`. Name `lowRisk(<threshold>)`.
   * @throws {IpRiskConfigError} (`policies.lowRisk.threshold`) unless `threshold` is a finite number from 0 to 100.
   */
  lowRisk(threshold?: number): Readonly<Policy>
  /** Tor, or `score >= 80`: the guide's `@require_human`. Name `human`. */
  readonly human: Readonly<Policy>
  /** Tor, datacenter with `score > 60`, or `score >= 85`: the guide's DRF `IsNotBot`. Name `notBot`. */
  readonly notBot: Readonly<Policy>
  /** Tor, VPN, datacenter with `score > 40`, or `score >= 60`: the guide's admin protection. Name `admin`. */
  readonly admin: Readonly<Policy>
}

/**
 * Ready-made policies carrying the rules of the integration guide. Combine a preset with your own fields by spreading
 * it into a new policy (`{ ...policies.human, blockVpn: true, name: 'signup' }`) and compiling that.
 *
 * @example
 * ```ts
 * import { evaluate, policies } from 'iprisk'
 *
 * evaluate(risk, policies.baseline)       // blocks score >= 90
 * evaluate(risk, policies.lowRisk(75))    // blocks score >= 75
 * evaluate(risk, policies.admin, 'closed') // strict, and blocks when no verdict can be had
 * ```
 */
export const policies: PolicyPresets = Object.freeze({
  baseline: compilePolicy({ name: 'baseline', threshold: 90 }, 'policies.baseline'),
  lowRisk(threshold = 70): Readonly<Policy> {
    const name = typeof threshold === 'number' ? `lowRisk(${String(threshold)})` : 'lowRisk'
    return compilePolicy({ name, threshold }, 'policies.lowRisk')
  },
  human: compilePolicy({ name: 'human', threshold: 80, blockTor: true }, 'policies.human'),
  notBot: compilePolicy({ name: 'notBot', threshold: 85, blockTor: true, datacenterThreshold: 60 }, 'policies.notBot'),
  admin: compilePolicy(
    { name: 'admin', threshold: 60, blockTor: true, blockVpn: true, datacenterThreshold: 40 },
    'policies.admin',
  ),
})
