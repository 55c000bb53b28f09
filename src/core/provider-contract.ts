/**
 * The provider contract, enforced: `provider.lookup` must return a promise of {@link RiskData} and reject with an
 * `Error`. Whatever a provider does instead (throws synchronously, returns a plain value or a hostile thenable,
 * rejects with a string) becomes a `provider_error` answer here, never a crash of the resolver.
 *
 * @module
 * @internal
 */
import { IpRiskError, kindOf, providerErrorKind } from './errors.js'
import { nodeBuiltin } from './node-builtin.js'
import { normalizeData } from './risk-data.js'
import type { LookupError, Provider } from './types.js'

/** What a provider did instead of keeping its contract; becomes a `provider_error` answer. @internal */
export class ContractBreach {
  constructor(readonly what: string) {}
}

/** Settles a call whose lookup deadline passed first. @internal */
export const DEADLINE = new IpRiskError('iprisk: lookup budget exhausted')
/** Stands for a fulfilled call whose value is not RiskData. @internal */
export const BAD_RESPONSE = new IpRiskError('iprisk: the provider returned data of the wrong shape')

/** `Promise.prototype.then`, captured once: a promise's own `then` property (the provider's object) is never called. */
const promiseThen = Promise.prototype.then

/** Recognises an `Error` of another realm: `Error.isError` (ES2026), else Node's `util.types`, else the brand tag. */
let isForeignError: ((value: unknown) => boolean) | undefined

/** An `Error` (any realm), as a provider must reject with. */
function isError(value: unknown): boolean {
  if (value instanceof Error) return true
  isForeignError ??=
    (Error as { isError?: (value: unknown) => boolean }).isError ??
    nodeBuiltin<typeof import('node:util')>('node:util')?.types.isNativeError ??
    ((v: unknown) => Object.prototype.toString.call(v) === '[object Error]')
  return isForeignError(value)
}


/**
 * Call `provider.lookup` so that whatever it does becomes a promise: `lookup never rejects` must hold for any
 * provider, including one that throws synchronously, returns a plain value or a hostile thenable. A native promise is
 * passed through as is (the common case, no extra allocation); a thenable is adopted by hand so that a `then` that
 * throws is a {@link ContractBreach}, not a crash; plain valid data is tolerated; anything else is a breach.
 * @internal
 */
export function invokeLookup(provider: Provider, ip: string, signal: AbortSignal): Promise<unknown> {
  let result: unknown
  try {
    result = provider.lookup(ip, signal)
  } catch (error) {
    // A ProviderError thrown synchronously keeps its kind (a non-async provider may throw it before any I/O).
    return Promise.reject(providerErrorKind(error) === undefined ? new ContractBreach('threw synchronously') : error)
  }
  if (result instanceof Promise) return result
  if ((typeof result === 'object' && result !== null) || typeof result === 'function') {
    let then: unknown
    try {
      then = (result as { then?: unknown }).then
    } catch {
      return Promise.reject(new ContractBreach('returned an object whose `then` getter threw'))
    }
    if (typeof then === 'function') {
      return new Promise((resolve, reject) => {
        try {
          ;(then as (ok: (v: unknown) => void, fail: (e: unknown) => void) => unknown).call(result, resolve, reject)
        } catch {
          reject(new ContractBreach('returned a thenable whose `then` threw'))
        }
      })
    }
  }
  // Not a promise: valid data is accepted (checked again, like any answer); anything else breaks the contract.
  if (normalizeData(result) !== undefined) return Promise.resolve(result)
  return Promise.reject(new ContractBreach(`returned ${kindOf(result)} instead of a promise of RiskData`))
}

/**
 * Subscribe to a call with the intrinsic `then` (as `await` does), reporting a promise that cannot be awaited (a
 * Promise subclass whose species constructor throws) as a breach. @internal
 */
export function whenSettled(call: Promise<unknown>, ok: (value: unknown) => void, fail: (error: unknown) => void): void {
  try {
    promiseThen.call(call, ok, fail)
  } catch {
    fail(new ContractBreach('returned a promise that cannot be awaited'))
  }
}

/** How a failed call is answered, and the breach to report if the provider broke its contract. @internal */
export interface CallFailure {
  readonly error: LookupError
  readonly breach: string | undefined
}

/** Classify what a provider call rejected with (`deadlineHit`: its lookup deadline passed first). @internal */
export function classifyFailure(error: unknown, deadlineHit: boolean): CallFailure {
  const kind = providerErrorKind(error)
  if (deadlineHit || kind === 'aborted' || kind === 'timeout') return { error: 'timeout', breach: undefined }
  if (error === BAD_RESPONSE) return { error: 'bad_response', breach: undefined }
  if (error instanceof ContractBreach) return { error: 'provider_error', breach: error.what }
  if (kind === null) return { error: 'provider_error', breach: 'threw a ProviderError of an unknown kind' }
  if (kind === undefined && !isError(error)) {
    return { error: 'provider_error', breach: `rejected with ${kindOf(error)} instead of an Error` }
  }
  return { error: kind ?? 'network', breach: undefined }
}
