/**
 * Start-up side of the tRPC adapter: compiling path and meta policies once (through the kernel's one compile path),
 * and matching a procedure path to its path policy (longest prefix wins) with a per-path memo, so the per-call work is
 * one `Map` read.
 *
 * @module
 */
import { IpRiskConfigError } from '../core/errors.js'
import type { RequestKernel } from '../core/kernel.js'
import type { Policy } from '../core/types.js'

/** A compiled procedure-path → policy table. */
export interface PathPolicyMatcher {
  /** The policy of the longest matching prefix, or `undefined`. */
  match(path: string): Policy | undefined
}

const NO_PATH_POLICIES: PathPolicyMatcher = Object.freeze({ match: () => undefined })

/**
 * The memo is bounded by the number of procedures (tRPC only runs middlewares for paths that exist in the router); the
 * cap is a second line of defence should an app route arbitrary paths to procedures.
 */
const MAX_MEMOIZED_PATHS = 10_000

/**
 * Compile `pathPolicies`. Key semantics:
 * - `''` matches every procedure;
 * - a key ending with `.` (`'admin.'`) matches every procedure under that router;
 * - any other key (`'admin'`, `'user.signup'`) matches that exact procedure path and every procedure under it as a
 *   router (`'admin'` matches `admin`, `admin.users.list`, but not `administrator`).
 *
 * The longest matching key wins.
 */
export function compilePathPolicies(kernel: RequestKernel, pathPolicies: unknown): PathPolicyMatcher {
  if (pathPolicies === undefined) return NO_PATH_POLICIES
  if (typeof pathPolicies !== 'object' || pathPolicies === null || Array.isArray(pathPolicies)) {
    throw new IpRiskConfigError('pathPolicies', 'must be an object mapping procedure path prefixes to policies')
  }
  const rules: { key: string; exact: string | null; prefix: string; policy: Policy }[] = []
  for (const [key, policy] of Object.entries(pathPolicies as Record<string, unknown>)) {
    const compiled = kernel.compile(policy, `pathPolicies[${JSON.stringify(key)}]`)
    const isNamespace = key === '' || key.endsWith('.')
    rules.push({ key, exact: isNamespace ? null : key, prefix: isNamespace ? key : `${key}.`, policy: compiled })
  }
  rules.sort((a, b) => b.key.length - a.key.length)
  if (rules.length === 0) return NO_PATH_POLICIES

  const memo = new Map<string, Policy | null>()
  const resolve = (path: string): Policy | null => {
    for (const rule of rules) {
      if (path === rule.exact || path.startsWith(rule.prefix)) return rule.policy
    }
    return null
  }
  return {
    match(path) {
      let found = memo.get(path)
      if (found === undefined) {
        found = resolve(path)
        if (memo.size < MAX_MEMOIZED_PATHS) memo.set(path, found)
      }
      return found ?? undefined
    },
  }
}

/** What a procedure's `meta.ipRisk` compiles to. */
export type CompiledMeta = { readonly skip: true } | { readonly skip: false; readonly policy: Policy | null }

export const NO_META: CompiledMeta = Object.freeze({ skip: false, policy: null })
const SKIP: CompiledMeta = Object.freeze({ skip: true })

/**
 * Compile a procedure's `meta.ipRisk` (a policy, `{ skip: true }`, or a policy with `skip`). Cached per meta object by
 * the caller, so it runs once per procedure.
 */
export function compileMeta(kernel: RequestKernel, value: unknown, optionName: string): CompiledMeta {
  if (value === undefined || value === null) return NO_META
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new IpRiskConfigError(optionName, 'must be a policy object or { skip: true }')
  }
  const { skip, ...policy } = value as Policy & { skip?: unknown }
  if (skip !== undefined && typeof skip !== 'boolean') {
    throw new IpRiskConfigError(`${optionName}.skip`, 'must be true or false')
  }
  if (skip === true) return SKIP
  if (Object.keys(policy).length === 0) return NO_META
  return { skip: false, policy: kernel.compile(policy, optionName) }
}
