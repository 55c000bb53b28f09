/**
 * The request kernel both adapters call: the one per-request memo rule, the one wait vocabulary, the one fail-mode
 * vocabulary, the one client-IP rule for `getClientIp`, and its safety (a broken resolver or app callback never fails
 * a call). The resolver is a recording stand-in, so each case states exactly which lookups the rule makes.
 */
import { describe, expect, it } from 'vitest'
import {
  customClientIp,
  failModeOf,
  needOf,
  RequestKernel,
  userAgentOf,
  waitModeOf,
  type Need,
  type WaitMode,
} from '../../src/core/kernel.js'
import { compilePolicy, evaluate, policies } from '../../src/core/policy.js'
import type { ClientIp, IpRisk, LookupOptions, Policy, RiskResolver } from '../../src/core/types.js'
import { configError } from '../support/errors.js'
import { NO_DATA, risk } from '../support/risk.js'

const CLIENT: ClientIp = Object.freeze({ ip: '81.2.69.160', source: 'socket', kind: 'global' })
const SCORED = Object.freeze(risk({ score: 20 }))
const UNAVAILABLE = Object.freeze(risk({ ...NO_DATA, status: 'unavailable', error: 'timeout', source: 'none' }))
const PENDING = Object.freeze(risk({ ...NO_DATA, status: 'pending', source: 'none', lookupMs: 0 }))

/** A resolver whose cache and lookups the test scripts; it records every lookup and every report. */
function stubResolver(answers: Array<IpRisk | 'throw' | 'reject'>) {
  const lookups: LookupOptions[] = []
  const reports: unknown[] = []
  const cache = new Map<string, IpRisk>()
  const resolver = {
    clientIp: () => CLIENT,
    peek: (ip: string | null) => (ip === null ? undefined : cache.get(ip)),
    lookup(_ip: string | null, options: LookupOptions = {}) {
      lookups.push(options)
      const next = answers.shift() ?? SCORED
      if (next === 'throw') throw new Error('broken resolver')
      if (next === 'reject') return Promise.reject(new Error('broken resolver'))
      return Promise.resolve(next)
    },
    compile: (policy: Policy) => compilePolicy(policy),
    check: (answer: IpRisk, policy: Policy) => evaluate(answer, policy),
    report: (decision: unknown) => {
      reports.push(decision)
    },
  } as unknown as RiskResolver
  return { resolver, lookups, reports, cache }
}

describe('waitModeOf / failModeOf: one vocabulary, a clear error for anything else', () => {
  it.each([true, false, 'on-demand'] as const)('accepts wait %j', (value) => {
    expect(waitModeOf(value, 'wait')).toBe(value)
  })

  it.each([['always-wait'], ['auto'], [1], [null], ['sometimes']])('rejects wait %j naming the option', (value) => {
    const error = configError(() => waitModeOf(value, 'withIpRisk.wait'))
    expect(error.option).toBe('withIpRisk.wait')
    expect(error.message).toMatch(/must be true, false or 'on-demand'/)
  })

  it.each([['open'], ['closed'], [undefined]])('accepts failMode %j', (value) => {
    expect(failModeOf(value, 'failMode')).toBe(value)
  })

  it.each([['allow'], ['block'], [true]])('rejects failMode %j (the policy alias values are not adapter values)', (value) => {
    expect(() => failModeOf(value, 'failMode')).toThrow(/`failMode`: must be 'open' or 'closed'/)
  })

  it.each([
    [true, false, 'verdict'],
    [false, false, 'background'],
    ['on-demand', false, 'cache'],
    [false, true, 'verdict'],
    ['on-demand', true, 'verdict'],
  ] satisfies Array<[WaitMode, boolean, Need]>)('wait %j with a policy applying: %j needs %j', (wait, applies, need) => {
    expect(needOf(wait, applies)).toBe(need)
  })
})

describe('the per-request memo rule (no clock)', () => {
  it('the calls of one request share one lookup, and its answer for the rest of the request', async () => {
    const { resolver, lookups } = stubResolver([SCORED])
    const kernel = new RequestKernel(resolver, {})
    const request = {}
    const [a, b] = await Promise.all([kernel.answer(request, CLIENT, 'verdict'), kernel.answer(request, CLIENT, 'verdict')])
    expect(a).toBe(SCORED)
    expect(b).toBe(SCORED)
    // Later in the same request (a resolver calling waitForIpRisk, a WebSocket call): the memo, synchronously.
    expect(kernel.answer(request, CLIENT, 'verdict')).toBe(SCORED)
    expect(lookups).toEqual([{ wait: true }])
  })

  it('another request looks up on its own', async () => {
    const { resolver, lookups } = stubResolver([SCORED, SCORED])
    const kernel = new RequestKernel(resolver, {})
    await kernel.answer({}, CLIENT, 'verdict')
    await kernel.answer({}, CLIENT, 'verdict')
    expect(lookups).toHaveLength(2)
  })

  it('an unavailable answer is shared by the calls that waited for it, and asked again by the next call', async () => {
    const { resolver, lookups } = stubResolver([UNAVAILABLE, SCORED])
    const kernel = new RequestKernel(resolver, {})
    const request = {}
    const both = await Promise.all([kernel.answer(request, CLIENT, 'verdict'), kernel.answer(request, CLIENT, 'verdict')])
    expect(both).toEqual([UNAVAILABLE, UNAVAILABLE])
    expect(lookups).toHaveLength(1)
    await expect(kernel.answer(request, CLIENT, 'verdict')).resolves.toBe(SCORED)
    expect(lookups).toHaveLength(2)
  })

  it('the cache is read first on every call: a newer cached answer wins over the memo', async () => {
    const { resolver, cache } = stubResolver([SCORED])
    const kernel = new RequestKernel(resolver, {})
    const request = {}
    await kernel.answer(request, CLIENT, 'verdict')
    const blocked = Object.freeze(risk({ ...NO_DATA, status: 'skipped', listed: 'blocklist', source: 'none' }))
    cache.set(CLIENT.ip as string, blocked)
    expect(kernel.answer(request, CLIENT, 'verdict')).toBe(blocked)
  })

  it('a cache hit creates no request state', () => {
    const { resolver, cache, lookups } = stubResolver([])
    cache.set(CLIENT.ip as string, SCORED)
    const kernel = new RequestKernel(resolver, {})
    const request = {}
    expect(kernel.answer(request, CLIENT, 'verdict')).toBe(SCORED)
    expect(kernel.stateOf(request)).toBeUndefined()
    expect(lookups).toEqual([])
  })

  it("'background': one background lookup per request; a verdict found meanwhile replaces pending", async () => {
    const { resolver, lookups } = stubResolver([PENDING, SCORED])
    const kernel = new RequestKernel(resolver, {})
    const request = {}
    await expect(kernel.answer(request, CLIENT, 'background')).resolves.toBe(PENDING)
    // The next calls of the request take the memo (pending) at once: no second background lookup.
    expect(kernel.answer(request, CLIENT, 'background')).toBe(PENDING)
    expect(lookups).toEqual([{ wait: false }])
    await expect(kernel.answer(request, CLIENT, 'verdict')).resolves.toBe(SCORED)
    expect(kernel.answer(request, CLIENT, 'background')).toBe(SCORED)
    expect(lookups).toEqual([{ wait: false }, { wait: true }])
  })

  it("'cache' (wait: 'on-demand'): no lookup; nothing known gives undefined and the adapter's placeholder", () => {
    const { resolver, lookups } = stubResolver([])
    const kernel = new RequestKernel(resolver, {})
    expect(kernel.answer({}, CLIENT, 'cache')).toBeUndefined()
    expect(kernel.placeholder(CLIENT)).toMatchObject({ ip: CLIENT.ip, status: 'skipped', score: null, source: 'none' })
    expect(lookups).toEqual([])
  })

  it.each(['throw', 'reject'] as const)('a resolver whose lookup breaks (%s) gives unavailable, never a rejection', async (how) => {
    const { resolver } = stubResolver([how])
    const kernel = new RequestKernel(resolver, {})
    await expect(kernel.answer({}, CLIENT, 'verdict')).resolves.toMatchObject({ status: 'unavailable', error: 'network' })
  })
})

describe('clientIp: one rule for getClientIp in both adapters', () => {
  const req = { headers: {} }
  const noPeer = () => undefined

  it.each([
    ['8.8.8.8', { ip: '8.8.8.8', source: 'custom', kind: 'global' }],
    ['::ffff:203.0.113.10', { ip: '203.0.113.10', source: 'custom', kind: 'documentation' }],
    ['not an ip', { ip: null, source: null, kind: null }],
    [null, { ip: null, source: null, kind: null }],
  ])("getClientIp returning %j: source 'custom' (never 'socket')", (value, expected) => {
    const { resolver } = stubResolver([])
    const kernel = new RequestKernel(resolver, { getClientIp: () => value as string | null })
    expect(kernel.clientIp({}, req, noPeer)).toEqual(expected)
    expect(customClientIp(value)).toEqual(expected)
  })

  it('a throwing getClientIp or peer reader means no IP (the fail mode decides), not a failed call', () => {
    const { resolver } = stubResolver([])
    const throwing = new RequestKernel(resolver, {
      getClientIp: () => {
        throw new Error('boom')
      },
    })
    expect(throwing.clientIp({}, req, noPeer)).toEqual({ ip: null, source: null, kind: null })
    const kernel = new RequestKernel(resolver, {})
    const badPeer = () => {
      throw new Error('boom')
    }
    expect(kernel.clientIp({}, req, badPeer)).toEqual({ ip: null, source: null, kind: null })
  })

  it('no request and no getClientIp: no IP', () => {
    const { resolver } = stubResolver([])
    expect(new RequestKernel(resolver, {}).clientIp({}, undefined, noPeer)).toEqual({ ip: null, source: null, kind: null })
  })
})

describe('userAgentOf: one reader for fetch and Node requests', () => {
  it.each([
    ['a fetch Request', { headers: new Headers({ 'user-agent': 'ua/1' }) }, 'ua/1'],
    ['a Node request', { headers: { 'user-agent': 'ua/2' } }, 'ua/2'],
    ['a repeated header (first value)', { headers: { 'user-agent': ['ua/3', 'ua/4'] } }, 'ua/3'],
    ['no header', { headers: {} }, null],
    ['no request', undefined, null],
  ])('%s', (_name, req, expected) => {
    expect(userAgentOf(req as never)).toBe(expected)
  })

  it('a hostile request gives null', () => {
    const hostile = {
      get headers(): never {
        throw new Error('boom')
      },
    }
    expect(userAgentOf(hostile as never)).toBeNull()
  })
})

describe('compile and decide: the adapter-wide monitor and failMode', () => {
  it("fills the adapter's failMode into policies without one, once per policy object", () => {
    const { resolver } = stubResolver([])
    const kernel = new RequestKernel(resolver, { failMode: 'closed' })
    const policy = { threshold: 70 }
    const compiled = kernel.compile(policy, 'riskGate')
    expect(compiled).toStrictEqual({ threshold: 70, failMode: 'closed' })
    expect(kernel.compile(policy, 'riskGate')).toBe(compiled)
    expect(kernel.decide(UNAVAILABLE, compiled, {}).action).toBe('block')
  })

  it('monitor: a would-block decision allows, and is reported', () => {
    const { resolver, reports } = stubResolver([])
    const kernel = new RequestKernel(resolver, { monitor: true })
    const decision = kernel.decide(risk({ score: 95 }), kernel.compile(policies.baseline, 'policy'), { adapter: 'x' })
    expect(decision).toMatchObject({ action: 'allow', wouldBlock: true, monitored: true })
    expect(reports).toEqual([decision])
  })

  it.each([
    [null, 'null'],
    [[], 'an array'],
    [70, 'number'],
  ])('rejects %j as a policy, naming the option', (value, got) => {
    const { resolver } = stubResolver([])
    expect(() => new RequestKernel(resolver, {}).compile(value, 'guard')).toThrow(
      expect.objectContaining({ option: 'guard', message: expect.stringContaining(`must be a policy object, got ${got}`) }),
    )
  })

  it('a report that throws never fails the call', () => {
    const { resolver } = stubResolver([])
    ;(resolver as { report: unknown }).report = () => {
      throw new Error('broken logger')
    }
    const kernel = new RequestKernel(resolver, {})
    expect(kernel.decide(SCORED, policies.baseline, {}).action).toBe('allow')
  })
})
