import { expect } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'

/**
 * The `IpRiskConfigError` that `fn` throws; fails the test when it throws nothing or another error.
 *
 * @example
 * ```ts
 * expect(configError(() => createRiskResolver({ provider: 42 as never })).option).toBe('provider')
 * ```
 */
export function configError(fn: () => unknown): IpRiskConfigError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(IpRiskConfigError)
    return error as IpRiskConfigError
  }
  throw new Error('expected an IpRiskConfigError, nothing was thrown')
}
