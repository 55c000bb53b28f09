/** Small pieces the resolver assembles, tested on their own where the resolver cannot reach them from outside. */
import { describe, expect, it } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { loadProblem } from '../../src/core/resolver-parts.js'

describe('loadProblem: what the resolver reports when the shared cache never loads', () => {
  it.each([
    [
      'an IpRiskConfigError: its problem alone (the report names the option itself)',
      new IpRiskConfigError('cache', 'a redis:// URL needs the optional package @keyv/redis'),
      'the shared cache (L2) could not be loaded: a redis:// URL needs the optional package @keyv/redis',
    ],
    ['another Error: its message', new Error('ECONNREFUSED'), 'the shared cache (L2) could not be loaded: ECONNREFUSED'],
    ['not an Error', 'boom', 'the shared cache (L2) could not be loaded: unknown error'],
  ])('%s', (_name, error, expected) => {
    expect(loadProblem(error)).toBe(expected)
  })
})

describe('IpRiskConfigError', () => {
  it('keeps the problem apart from the message it prefixes', () => {
    const error = new IpRiskConfigError('clock', 'must be a Clock')
    expect(error.message).toBe('iprisk: invalid option `clock`: must be a Clock')
    expect(error.problem).toBe('must be a Clock')
    expect(error.option).toBe('clock')
  })
})
