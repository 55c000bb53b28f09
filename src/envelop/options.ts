/**
 * The options of `useIpRisk` and their validation (start-up only).
 *
 * @module
 */
import { IpRiskConfigError } from '../core/errors.js'
import { failModeOf, waitModeOf, type WaitMode } from '../core/kernel.js'
import type { FailMode, Policy, RiskResolver } from '../core/types.js'
import type { FieldPolicies } from './directives.js'
import type { GetClientIp } from './ip.js'

/**
 * @deprecated Use `wait` (see {@link WaitMode}): `'auto'` is `wait: false`, `'always-wait'` is `wait: true`,
 * `'on-demand'` is `wait: 'on-demand'`. Kept for one minor version.
 *
 * @example
 * ```ts
 * useIpRisk({ resolver: risk, wait: true, policy: policies.baseline }) // was lookup: 'always-wait'
 * ```
 */
export type IpRiskLookupMode = 'auto' | 'always-wait' | 'on-demand'

/**
 * Options of {@link useIpRisk}. Only `resolver` is required.
 *
 * @example
 * ```ts
 * const options: UseIpRiskOptions = {
 *   resolver: risk,
 *   policy: policies.baseline,                          // block score >= 90 everywhere
 *   fieldPolicies: { 'Mutation.signup': policies.human }, // code-first
 *   failMode: 'closed',
 * }
 * ```
 */
export interface UseIpRiskOptions<TContext extends object = Record<string, unknown>> {
  /** The shared risk resolver (`createRiskResolver`). Required. */
  resolver: RiskResolver
  /**
   * Whether an operation that selects no protected field waits for a verdict on a cache miss (the same option as the
   * tRPC middleware's; see {@link WaitMode}): `false` never delays it (a background lookup fills the cache: the
   * guide's async mode); `true` always waits (the guide's synchronous middleware); `'on-demand'` never looks up for it
   * (the cached answer, else `status: 'skipped'`). An operation selecting a protected field always waits.
   * @default false
   */
  wait?: WaitMode
  /** @deprecated Use {@link UseIpRiskOptions.wait} (see {@link IpRiskLookupMode}); setting both is an error. */
  lookup?: IpRiskLookupMode
  /**
   * A plugin-wide policy applied to every operation (the guide's global middleware: `policies.baseline` blocks scores
   * of 90 or more). With `wait: false` it applies once the IP's answer is known (an operation that selects no
   * protected field does not wait for it); use `wait: true` to enforce it on an IP's first request too.
   * @default undefined (none)
   */
  policy?: Policy
  /**
   * Policies for code-first schemas, by schema coordinate: `'Type.field'` guards a field, `'Type'` every field of an
   * object type (or of every implementation of an interface). Validated against the schema at start-up: an unknown
   * type or field throws `IpRiskConfigError`. They add to the schema's directives.
   * @default {}
   */
  fieldPolicies?: FieldPolicies
  /** Dry run: decide and report every decision, never block. @default false */
  monitor?: boolean
  /**
   * Fail mode for policies that set no `failMode` of their own: `'open'` allows and `'closed'` blocks when no verdict
   * can be had. The same option as the tRPC middleware's.
   * @default the resolver's `failMode`
   */
  failMode?: FailMode
  /**
   * Reads the client IP from the context instead of the request (e.g. from your own auth gateway's header, already
   * verified). The result is parsed and classified like any IP (source `'custom'`); invalid text, `null` or a throw
   * mean "no IP". Default: `resolver.clientIp(context.request, <peer address of context.req>)`, under the resolver's
   * trust settings.
   */
  getClientIp?: GetClientIp<TContext>
  /** The error message of a blocked operation. @default 'Request blocked' */
  message?: string
  /** Add the risk score to the error's `extensions.score` (the score is not disclosed by default). @default false */
  exposeScore?: boolean
}

const OPTION_KEYS = [
  'resolver',
  'wait',
  'lookup',
  'policy',
  'fieldPolicies',
  'monitor',
  'failMode',
  'getClientIp',
  'message',
  'exposeScore',
] as const satisfies readonly (keyof UseIpRiskOptions)[]
const RESOLVER_METHODS = ['clientIp', 'peek', 'lookup', 'compile', 'check', 'report'] as const
const LOOKUP_MODES: Readonly<Record<IpRiskLookupMode, WaitMode>> = { auto: false, 'always-wait': true, 'on-demand': 'on-demand' }

function validateResolver(resolver: unknown): void {
  if (typeof resolver !== 'object' || resolver === null) {
    throw new IpRiskConfigError('resolver', 'is required: pass the resolver from createRiskResolver()')
  }
  for (const method of RESOLVER_METHODS) {
    if (typeof (resolver as Record<string, unknown>)[method] !== 'function') {
      throw new IpRiskConfigError('resolver', `is not a RiskResolver (no \`${method}\` method)`)
    }
  }
}

/** The `wait` option, or its deprecated alias `lookup` (never both). */
function waitOption(wait: unknown, lookup: unknown): WaitMode {
  if (lookup === undefined) return waitModeOf(wait ?? false, 'wait')
  if (wait !== undefined) {
    throw new IpRiskConfigError('lookup', "set only `wait` (`lookup` is its deprecated alias: 'auto' = false, 'always-wait' = true)")
  }
  if (typeof lookup === 'string' && Object.hasOwn(LOOKUP_MODES, lookup)) return LOOKUP_MODES[lookup as IpRiskLookupMode]
  throw new IpRiskConfigError('lookup', `must be 'auto', 'always-wait' or 'on-demand', got ${JSON.stringify(lookup)} (deprecated: use \`wait\`)`)
}

/** Validates the options and returns the wait mode they ask for. */
export function validateOptions(options: UseIpRiskOptions<never>): WaitMode {
  if (typeof options !== 'object' || options === null) {
    throw new IpRiskConfigError('options', 'useIpRisk needs an options object with a `resolver`')
  }
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      throw new IpRiskConfigError(key, `unknown option (known options: ${OPTION_KEYS.join(', ')})`)
    }
  }
  validateResolver(options.resolver)
  const { monitor, getClientIp, message, exposeScore } = options
  const wait = waitOption(options.wait, options.lookup)
  if (monitor !== undefined && typeof monitor !== 'boolean') {
    throw new IpRiskConfigError('monitor', `must be true or false, got ${typeof monitor}`)
  }
  failModeOf(options.failMode, 'failMode')
  if (getClientIp !== undefined && typeof getClientIp !== 'function') {
    throw new IpRiskConfigError('getClientIp', `must be a function, got ${typeof getClientIp}`)
  }
  if (message !== undefined && (typeof message !== 'string' || message.length === 0)) {
    throw new IpRiskConfigError('message', 'must be a non-empty string')
  }
  if (exposeScore !== undefined && typeof exposeScore !== 'boolean') {
    throw new IpRiskConfigError('exposeScore', `must be true or false, got ${typeof exposeScore}`)
  }
  return wait
}

