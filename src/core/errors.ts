import type { Decision, ProviderErrorKind } from './types.js'

/** Base class of every error iprisk throws. */
export class IpRiskError extends Error {
  override name = 'IpRiskError'
}

/**
 * A bad option, found when the resolver, provider, policy or adapter is created (never on a request).
 * `option` names the offending option path, e.g. `cache.ttlSeconds`.
 */
export class IpRiskConfigError extends IpRiskError {
  override name = 'IpRiskConfigError'
  constructor(
    readonly option: string,
    /** What is wrong with the option, without the `iprisk: invalid option` prefix (for reports that add their own). */
    readonly problem: string,
  ) {
    super(`iprisk: invalid option \`${option}\`: ${problem}`)
  }
}

/** Every {@link ProviderErrorKind}, as a value (a foreign `ProviderError`'s kind is checked against it). @internal */
export const PROVIDER_ERROR_KINDS = [
  'timeout',
  'network',
  'http_error',
  'rate_limited',
  'auth',
  'bad_response',
  'aborted',
] as const satisfies readonly ProviderErrorKind[]

const PROVIDER_ERROR_KIND_SET: ReadonlySet<unknown> = new Set<ProviderErrorKind>(PROVIDER_ERROR_KINDS)

/**
 * A provider error's kind, also for a `ProviderError` from another copy of iprisk (no `instanceof`): `undefined` when
 * `error` is not a `ProviderError`, `null` when its kind is not one of {@link ProviderErrorKind} (a broken contract,
 * never copied into an answer). @internal
 */
export function providerErrorKind(error: unknown): ProviderErrorKind | null | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as { name?: unknown; kind?: unknown }
  if (e.name !== 'ProviderError') return undefined
  return PROVIDER_ERROR_KIND_SET.has(e.kind) ? (e.kind as ProviderErrorKind) : null
}

/**
 * A provider lookup failed. Messages never contain the API key or the request URL's query.
 * `retryAfterMs` is set for `rate_limited` when the provider sent `Retry-After`.
 */
export class ProviderError extends IpRiskError {
  override name = 'ProviderError'
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

/** Thrown (or set as `cause`) by adapters when a policy blocks a request; carries the decision. */
export class IpRiskBlockedError extends IpRiskError {
  override name = 'IpRiskBlockedError'
  readonly reason: Decision['reason']
  constructor(readonly decision: Decision) {
    super(`iprisk: request blocked (${decision.reason})`)
    this.reason = decision.reason
  }
}

/**
 * What kind of value `value` is, for an error message that must not echo it: `null`, `undefined`, `an array`,
 * `an object`, `a string`, `a number`, ... @internal
 */
export function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return type === 'object' ? 'an object' : `a ${type}`
}

/**
 * A rejected value rendered for an error message: a string JSON-escaped (so CR/LF cannot forge log lines) and cut at
 * `max` characters; a number, boolean, `null` or `undefined` as written; anything else by its {@link kindOf kind}.
 * The one renderer of option, policy and list errors. @internal
 */
export function quoteForError(value: unknown, max: number): string {
  if (typeof value === 'string') return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value)
  return kindOf(value)
}
