import { describe, expect, it } from 'vitest'
import { IpRiskConfigError, IpRiskError, ProviderError } from '../../src/core/errors.js'
import type { RiskData } from '../../src/core/types.js'
import { createMemoryProvider, hashProfile, simulatorProfiles, type MemoryProfile } from '../../src/testing/index.js'

const live = (): AbortSignal => new AbortController().signal
const allNull: RiskData = {
  score: null,
  isVpn: null,
  isProxy: null,
  isTor: null,
  isDatacenter: null,
  countryCode: null,
  asn: null,
  isp: null,
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

describe('createMemoryProvider from a table', () => {
  const provider = createMemoryProvider({
    '203.0.113.66': 'tor',
    '198.51.100.0/24': { score: 80, isDatacenter: true },
    '198.51.100.7': 'vpn',
    '2001:db8::/32': 'proxy',
    '192.0.2.5': 'hash',
  })

  it.each<[string, RiskData]>([
    ['203.0.113.66', simulatorProfiles.tor],
    ['198.51.100.7', simulatorProfiles.vpn],
    ['198.51.100.8', { ...allNull, score: 80, isDatacenter: true }],
    ['2001:db8::9', simulatorProfiles.proxy],
    ['192.0.2.5', hashProfile('192.0.2.5')],
    ['8.8.8.8', simulatorProfiles.clean],
  ])('answers %s from the matching rule (exact, CIDR, default clean), partial fields null', async (ip, expected) => {
    await expect(provider.lookup(ip, live())).resolves.toEqual(expected)
  })

  it('uses defaultProfile for unlisted IPs and the given name', async () => {
    const p = createMemoryProvider({}, { defaultProfile: 'high-risk', name: 'fake-intel' })
    expect(p.name).toBe('fake-intel')
    await expect(p.lookup('8.8.8.8', live())).resolves.toEqual(simulatorProfiles['high-risk'])
  })

  it('is named "memory" by default', () => {
    expect(createMemoryProvider({}).name).toBe('memory')
  })
})

describe('createMemoryProvider from a function', () => {
  it('passes the IP and signal and completes partial answers with null', async () => {
    const seen: Array<[string, boolean]> = []
    const p = createMemoryProvider((ip, signal) => {
      seen.push([ip, signal instanceof AbortSignal])
      return { score: ip === '1.1.1.1' ? 70 : 10 }
    })
    await expect(p.lookup('1.1.1.1', live())).resolves.toEqual({ ...allNull, score: 70 })
    await expect(p.lookup('2.2.2.2', live())).resolves.toEqual({ ...allNull, score: 10 })
    expect(seen).toEqual([
      ['1.1.1.1', true],
      ['2.2.2.2', true],
    ])
  })

  it('passes through what the function throws', async () => {
    const p = createMemoryProvider(() => {
      throw new ProviderError('rate_limited', 'simulated', 429, 5_000)
    })
    expect(await rejection(p.lookup('1.1.1.1', live()))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 5_000 })
  })

  it('rejects with aborted when the signal aborts while the function is pending', async () => {
    const p = createMemoryProvider(() => new Promise<MemoryProfile>(() => {}))
    const controller = new AbortController()
    const pending = p.lookup('1.1.1.1', controller.signal)
    controller.abort()
    const error = await rejection(pending)
    expect(error).toBeInstanceOf(ProviderError)
    expect((error as ProviderError).kind).toBe('aborted')
  })

  it('rejects with aborted at once for an already-aborted signal', async () => {
    const p = createMemoryProvider({})
    expect(await rejection(p.lookup('1.1.1.1', AbortSignal.abort()))).toMatchObject({ kind: 'aborted' })
  })
})

describe('createMemoryProvider counters and contract', () => {
  it('counts calls, per IP, and resets', async () => {
    const p = createMemoryProvider({})
    await p.lookup('1.1.1.1', live())
    await p.lookup('1.1.1.1', live())
    await p.lookup('2001:db8::1', live())
    expect([p.calls, p.callsFor('1.1.1.1'), p.callsFor('2001:DB8::1'), p.callsFor('9.9.9.9')]).toEqual([3, 2, 1, 0])
    p.reset()
    expect([p.calls, p.callsFor('1.1.1.1')]).toEqual([0, 0])
  })

  it.each(['1.2.3.4/../admin', '2001:DB8::1', '', 'fe80::1%eth0'])(
    'refuses the non-canonical IP %j like ipasis() does, without counting it',
    async (ip) => {
      const p = createMemoryProvider({})
      const error = await rejection(p.lookup(ip, live()))
      expect(error).toBeInstanceOf(IpRiskError)
      expect(error).not.toBeInstanceOf(ProviderError)
      expect(p.calls).toBe(0)
    },
  )

  it('close() resolves and marks the provider closed', async () => {
    const p = createMemoryProvider({})
    expect(p.closed).toBe(false)
    await p.close?.()
    expect(p.closed).toBe(true)
  })

  it.each([
    ['an invalid name', () => createMemoryProvider({}, { name: 'Bad Name' }), IpRiskConfigError],
    ['a bad source', () => createMemoryProvider(42 as never), IpRiskConfigError],
    ['an invalid table key', () => createMemoryProvider({ 'not-an-ip': 'tor' }), TypeError],
    ['an unknown profile', () => createMemoryProvider({ '1.1.1.1': 'evil' as MemoryProfile }), TypeError],
  ])('throws on %s', (_name, act, type) => {
    expect(act).toThrow(type)
  })
})
