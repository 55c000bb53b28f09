/**
 * The policy compiler of one plugin: each distinct policy object compiled once, with the plugin-wide overrides.
 *
 * @module
 */

import { IpRiskConfigError } from '../../core/errors.js'
import { compilePolicy } from '../../core/policy.js'
import type { Policy, RiskResolver } from '../../core/types.js'

/** How policies are compiled: once per distinct policy, with the plugin-wide `monitor` / `failMode` applied. */
export interface PolicyCompiler {
  (policy: Policy, option: string): Readonly<Policy>
}

/**
 * Builds a policy compiler that compiles each distinct policy object once through the resolver (`risk.compile`) after
 * applying the plugin-wide overrides: `monitor: true` turns every policy into a dry run, `failMode` fills in
 * `onUnavailable` where a policy has none.
 */
export function createPolicyCompiler(
  resolver: RiskResolver,
  overrides: { monitor: boolean; failMode: 'open' | 'closed' | undefined },
): PolicyCompiler {
  const cache = new Map<Policy, Readonly<Policy>>()
  return (policy, option) => {
    const hit = cache.get(policy)
    if (hit !== undefined) return hit
    if (typeof policy !== 'object' || policy === null) {
      throw new IpRiskConfigError(option, `must be a policy object, got ${policy === null ? 'null' : typeof policy}`)
    }
    let effective: Policy = policy
    if (overrides.monitor && policy.monitor !== true) effective = { ...effective, monitor: true }
    if (overrides.failMode !== undefined && policy.onUnavailable === undefined) {
      effective = { ...effective, onUnavailable: overrides.failMode === 'closed' ? 'block' : 'allow' }
    }
    // Validate with the option's name in any error, then hand the frozen result to the resolver (which may add its
    // own checks); both return an already compiled policy unchanged, so presets keep their identity.
    const compiled = resolver.compile(compilePolicy(effective, option))
    cache.set(policy, compiled)
    return compiled
  }
}
