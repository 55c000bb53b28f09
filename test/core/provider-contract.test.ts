/**
 * A provider that breaks its contract (issue #15, item 7). `lookup` must return a promise of RiskData and reject with
 * an Error; a custom provider may not. Whatever it does, `resolver.lookup` never rejects and the process never crashes:
 * a broken lookup is a `provider_error` answer (the fail mode applies), reported once as a configuration problem with
 * `provider`. Checked with and without the circuit breaker (without it, the provider's return value reached
 * `call.then` directly: `TypeError: call.then is not a function`, an unhandled rejection, exit 1).
 *
 * A crash is detected by process-level listeners installed around every test: any unhandled rejection or uncaught
 * exception fails the test that caused it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ProviderError } from '../../src/core/errors.js'
import { policies } from '../../src/core/policy.js'
import { createRiskResolver, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, LookupError, Provider, RiskData, RiskResolver } from '../../src/core/types.js'

const DATA: RiskData = { score: 12, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'US', asn: 64500, isp: 'Example' }

// ---------------------------------------------------------------------------------------------------------------------
// Crash detection
// ---------------------------------------------------------------------------------------------------------------------

const crashes: string[] = []
const onRejection = (reason: unknown): void => {
  crashes.push(`unhandledRejection: ${String(reason)}`)
}
const onException = (error: unknown): void => {
  crashes.push(`uncaughtException: ${String(error)}`)
}
const open: RiskResolver[] = []

beforeEach(() => {
  crashes.length = 0
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
})

afterEach(async () => {
  for (const r of open.splice(0)) await r.close()
  // Unhandled rejections are reported after the microtask queue drains: let two macrotask turns pass.
  await new Promise((resolve) => setTimeout(resolve, 0))
  await new Promise((resolve) => setTimeout(resolve, 0))
  process.off('unhandledRejection', onRejection)
  process.off('uncaughtException', onException)
  expect(crashes, 'no unhandled rejection or uncaught exception').toEqual([])
})

function logger() {
  return { info: vi.fn(), warn: vi.fn() }
}

function resolverWith(lookup: () => unknown, options: Partial<RiskResolverOptions> = {}): RiskResolver {
  const provider = { name: 'custom', lookup } as unknown as Provider
  const r = createRiskResolver({ provider, logger: logger(), budget: { timeoutMs: 50 }, ...options })
  open.push(r)
  return r
}

/** A lookup must settle (never reject); the answer it gives. */
async function answerOf(r: RiskResolver, ip: string): Promise<IpRisk> {
  let rejected: unknown = 'no'
  const answer = await r.lookup(ip).catch((error: unknown) => {
    rejected = error
    return undefined
  })
  expect(rejected, 'lookup never rejects').toBe('no')
  return answer as IpRisk
}

// ---------------------------------------------------------------------------------------------------------------------
// Every way of breaking the contract
// ---------------------------------------------------------------------------------------------------------------------

/** A native promise of valid data whose own `then` property throws: read as a promise (its value), like `await` does. */
function promiseWithHostileThen(): Promise<RiskData> {
  const p = Promise.resolve(DATA)
  Object.defineProperty(p, 'then', {
    value: () => {
      throw new Error('own then')
    },
  })
  return p
}

const cases: Array<{ name: string; lookup: () => unknown; expected: { status: IpRisk['status']; error: LookupError | null } }> = [
  { name: 'throws a TypeError synchronously', lookup: () => { throw new TypeError('x is undefined') }, expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'throws a string synchronously', lookup: () => { throw 'nope' }, expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'returns a plain object that is not RiskData', lookup: () => ({ hello: 'world' }), expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'returns undefined', lookup: () => undefined, expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'returns null', lookup: () => null, expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'returns a number', lookup: () => 42, expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'returns a function', lookup: () => () => DATA, expected: { status: 'unavailable', error: 'provider_error' } },
  {
    name: 'returns a thenable whose then throws',
    lookup: () => ({ then: () => { throw new Error('then') } }),
    expected: { status: 'unavailable', error: 'provider_error' },
  },
  {
    name: 'returns an object whose then getter throws',
    lookup: () => ({ get then(): never { throw new Error('getter') } }),
    expected: { status: 'unavailable', error: 'provider_error' },
  },
  { name: 'rejects with a string', lookup: () => Promise.reject('quota'), expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'rejects with undefined', lookup: () => Promise.reject(undefined), expected: { status: 'unavailable', error: 'provider_error' } },
  { name: 'rejects with a plain object', lookup: () => Promise.reject({ message: 'x' }), expected: { status: 'unavailable', error: 'provider_error' } },
  {
    name: 'returns a thenable that rejects with a number',
    lookup: () => ({ then: (_ok: unknown, fail: (e: unknown) => void) => fail(7) }),
    expected: { status: 'unavailable', error: 'provider_error' },
  },
  {
    name: 'rejects with a ProviderError of an unknown kind',
    lookup: () => Promise.reject(Object.assign(new Error('x'), { name: 'ProviderError', kind: 'weird' })),
    expected: { status: 'unavailable', error: 'provider_error' },
  },
  // What the contract allows, or tolerates, for comparison:
  { name: 'returns a thenable that never settles (the deadline answers)', lookup: () => ({ then: () => undefined }), expected: { status: 'unavailable', error: 'timeout' } },
  { name: 'returns a promise that never settles (the deadline answers)', lookup: () => new Promise(() => undefined), expected: { status: 'unavailable', error: 'timeout' } },
  { name: 'rejects with a plain Error (documented: network)', lookup: () => Promise.reject(new Error('socket hang up')), expected: { status: 'unavailable', error: 'network' } },
  {
    name: 'throws a ProviderError synchronously (its kind is kept)',
    lookup: () => { throw new ProviderError('rate_limited', 'slow down') },
    expected: { status: 'unavailable', error: 'rate_limited' },
  },
  { name: 'returns valid data without a promise (tolerated)', lookup: () => DATA, expected: { status: 'scored', error: null } },
  { name: 'returns a thenable of valid data', lookup: () => ({ then: (ok: (v: unknown) => void) => ok(DATA) }), expected: { status: 'scored', error: null } },
  { name: 'returns a native promise with a hostile own then (read as a promise)', lookup: promiseWithHostileThen, expected: { status: 'scored', error: null } },
]

describe.each([
  ['breaker: false', { breaker: false }],
  ['with the circuit breaker', {}],
] as const)('a custom provider, %s', (_label, options) => {
  it.each(cases)('that $name: lookup answers $expected.status / $expected.error, nothing crashes', async ({ lookup, expected }) => {
    const r = resolverWith(lookup, options)
    const answer = await answerOf(r, '11.7.0.1')
    expect({ status: answer.status, error: answer.error }).toEqual(expected)
    if (expected.status === 'scored') expect(answer.score).toBe(DATA.score)
    else expect(answer.score).toBeNull()
  })
})

describe('provider_error answers', () => {
  it('are reported once as a configuration problem with `provider`, whatever the breach and however often', async () => {
    const log = logger()
    const breaches = [() => undefined, () => ({ then: () => { throw new Error('then') } }), () => Promise.reject('x')]
    let call = 0
    const r = resolverWith(() => (breaches[call++ % breaches.length] as () => unknown)(), { logger: log, breaker: false })
    for (let i = 0; i < 6; i++) expect((await answerOf(r, `11.7.${i}.1`)).error).toBe('provider_error')
    const reports = log.warn.mock.calls.filter(
      ([fields]) => (fields as { event?: string; option?: string }).event === 'config_error' && (fields as { option?: string }).option === 'provider',
    )
    expect(reports).toHaveLength(1)
    expect(reports[0]?.[1]).toBe(
      'iprisk: configuration problem with `provider`: the provider `custom` broke its contract: lookup() returned undefined instead of a promise of RiskData; such lookups answer `provider_error` (lookup must return a promise of RiskData and reject with an Error)',
    )
  })

  it('apply the fail mode: allowed (failOpen) by default, refused with failMode closed or onUnavailable block', async () => {
    const r = resolverWith(() => undefined, { breaker: false })
    const answer = await answerOf(r, '11.7.0.2')
    expect(r.check(answer, policies.human)).toMatchObject({ action: 'allow', reason: 'lookup_unavailable', failOpen: true })
    expect(r.check(answer, { ...policies.human, onUnavailable: 'block' })).toMatchObject({ action: 'block', reason: 'lookup_unavailable' })
    const closed = resolverWith(() => undefined, { breaker: false, failMode: 'closed' })
    expect(closed.check(await answerOf(closed, '11.7.0.3'), policies.human)).toMatchObject({ action: 'block', reason: 'lookup_unavailable' })
  })

  it('are remembered like other provider failures (cache.failureTtlSeconds): the broken provider is not called again at once', async () => {
    let calls = 0
    const r = resolverWith(() => {
      calls++
      return undefined
    }, { breaker: false })
    expect((await answerOf(r, '11.7.0.4')).error).toBe('provider_error')
    expect((await answerOf(r, '11.7.0.4')).error).toBe('provider_error')
    expect(calls).toBe(1)
  })

  it('count as failures for the circuit breaker: a provider that keeps breaking its contract is no longer called', async () => {
    let calls = 0
    const r = resolverWith(() => {
      calls++
      return { not: 'data' }
    }, { breaker: { failures: 2, halfOpenAfterMs: 60_000 } })
    expect((await answerOf(r, '11.7.1.1')).error).toBe('provider_error')
    expect((await answerOf(r, '11.7.1.2')).error).toBe('provider_error')
    expect((await answerOf(r, '11.7.1.3')).error).toBe('breaker_open')
    expect(calls).toBe(2)
  })
})
