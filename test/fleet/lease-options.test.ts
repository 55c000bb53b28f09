/**
 * `cache.leaseMs`: its default (on with a redis:// L2, a third of `budget.timeoutMs`; off without Redis), `false`,
 * a value, the values refused, and the loud report when it is asked for on an L2 it cannot use. No Redis needed: the
 * URLs point at a port nothing listens on, and nothing here waits for a connection.
 */
import KeyvRedis, { Keyv } from '@keyv/redis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseResolverOptions } from '../../src/core/options.js'
import { createRiskResolver, resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { configError } from '../support/errors.js'

const URL = 'redis://127.0.0.1:7232' // nothing listens there
const provider = createMemoryProvider({})
const leaseMsOf = (cache: RiskResolverOptions['cache'], budget?: RiskResolverOptions['budget']): number =>
  parseResolverOptions({ provider, cache, budget }).leaseMs

const made: RiskResolver[] = []
afterEach(async () => {
  for (const r of made.splice(0)) await r.close()
})
function resolver(options: Omit<RiskResolverOptions, 'provider'>): RiskResolver {
  const r = createRiskResolver({ provider, ...options })
  made.push(r)
  return r
}

describe('cache.leaseMs', () => {
  it('defaults to a third of budget.timeoutMs with a redis:// L2 (500 ms by default), shorthand or not', () => {
    expect(leaseMsOf(URL)).toBe(500)
    expect(leaseMsOf({ l2: URL })).toBe(500)
    expect(leaseMsOf({ l2: URL }, { timeoutMs: 900 })).toBe(300)
    expect(leaseMsOf({ l2: URL }, { timeoutMs: 20 })).toBe(10) // never under the smallest lease
  })

  it('is off by default without L2, and with a Keyv (no Redis connection to take it on)', () => {
    expect(leaseMsOf(undefined)).toBe(0)
    expect(leaseMsOf({ ttlSeconds: 60 })).toBe(0)
    expect(leaseMsOf({ l2: new Keyv({ store: new KeyvRedis(URL) }) })).toBe(0)
  })

  it('false turns it off; a number sets it', () => {
    expect(leaseMsOf({ l2: URL, leaseMs: false })).toBe(0)
    expect(leaseMsOf({ l2: URL, leaseMs: 250 })).toBe(250)
    expect(leaseMsOf({ l2: URL, leaseMs: 10 })).toBe(10)
    expect(leaseMsOf({ l2: URL, leaseMs: 60_000 })).toBe(60_000)
  })

  it.each([[5], [9], [60_001], [1.5], ['300'], [true], [null], [Number.NaN]])('refuses %j, naming cache.leaseMs', (value) => {
    const e = configError(() => parseResolverOptions({ provider, cache: { l2: URL, leaseMs: value as never } }))
    expect(e.option).toBe('cache.leaseMs')
    expect(e.message).toContain('must be an integer from 10 to 60000 (milliseconds) or false')
  })

  it('a lease without L2 is refused: it lives in Redis', () => {
    const e = configError(() => parseResolverOptions({ provider, cache: { leaseMs: 300 } }))
    expect(e.option).toBe('cache.leaseMs')
    expect(e.message).toContain('needs a shared cache')
  })

  it('the resolver has a lease with a redis:// L2, none with leaseMs: false', () => {
    expect(resolverInternals(resolver({ cache: URL })).lease).toBeDefined()
    expect(resolverInternals(resolver({ cache: { l2: URL, leaseMs: false } })).lease).toBeUndefined()
    expect(resolverInternals(resolver({})).lease).toBeUndefined()
  })

  it('asked for on a Keyv L2: reported loudly (a config_error naming cache.leaseMs), and each instance asks alone', () => {
    const warn = vi.fn()
    const keyv = new Keyv({ store: new KeyvRedis(URL) })
    const r = resolver({ cache: { l2: keyv, leaseMs: 300 }, logger: { info: vi.fn(), warn } })
    expect(resolverInternals(r).lease).toBeUndefined()
    expect(warn).toHaveBeenCalledWith({ event: 'config_error', option: 'cache.leaseMs' }, expect.stringContaining('needs a redis:// URL'))
  })
})
