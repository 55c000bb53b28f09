/**
 * An answer with no verdict is not an answer (issue #15, item 8). Data with no score and no VPN / proxy / Tor /
 * datacenter flag (every one `null` or missing), such as an error body read with a 200, is a `bad_response` for every
 * provider (the resolver's shared normalisation): never cached as a fresh, scored answer whose fields are all null,
 * which a flags-only policy would read as "clean" for a whole TTL, even with `failMode: 'closed'`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRiskResolver, type RiskResolverOptions } from '../../src/core/resolver.js'
import { ipasis } from '../../src/core/provider.js'
import type { LookupError, Provider, RiskData, RiskResolver } from '../../src/core/types.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createTestClock } from '../../src/testing/clock.js'

const open: Array<{ close(): Promise<void> }> = []

afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close()
})

/** A custom provider answering `value` (as a promise), counting calls. */
function answering(value: unknown): Provider & { calls: number } {
  const p = {
    name: 'custom',
    calls: 0,
    lookup(): Promise<RiskData> {
      p.calls++
      return Promise.resolve(value as RiskData)
    },
  }
  return p
}

function resolver(options: Partial<RiskResolverOptions> & Pick<RiskResolverOptions, 'provider'>): RiskResolver {
  const r = createRiskResolver({ breaker: false, ...options })
  open.push(r)
  return r
}

/** Where the tests' manual clocks start (`createTestClock(T0)`: time moves only by `clock.advance`). */
const T0 = Date.UTC(2030, 0, 1)

const IP = '11.8.0.1'

describe('the shared normalisation: an answer needs a score or a flag', () => {
  const nulls = { score: null, isVpn: null, isProxy: null, isTor: null, isDatacenter: null, countryCode: null, asn: null, isp: null }
  it.each<{ name: string; value: unknown; status: 'scored' | 'unavailable'; error: LookupError | null }>([
    { name: 'every field null', value: nulls, status: 'unavailable', error: 'bad_response' },
    { name: 'an empty object', value: {}, status: 'unavailable', error: 'bad_response' },
    { name: 'an error body copied through', value: { error: 'quota exceeded', score: null }, status: 'unavailable', error: 'bad_response' },
    { name: 'only country, ASN and ISP', value: { ...nulls, countryCode: 'US', asn: 7922, isp: 'Comcast' }, status: 'unavailable', error: 'bad_response' },
    { name: 'a score of 0 alone (a verdict)', value: { score: 0 }, status: 'scored', error: null },
    { name: 'isTor false alone (a verdict)', value: { isTor: false }, status: 'scored', error: null },
    { name: 'isDatacenter true alone (a verdict)', value: { ...nulls, isDatacenter: true }, status: 'scored', error: null },
  ])('$name → $status / $error', async ({ value, status, error }) => {
    const r = resolver({ provider: answering(value) })
    expect(await r.lookup(IP)).toMatchObject({ status, error })
  })

  it('a no-verdict answer is not cached as fresh: remembered as a failure for cache.failureTtlSeconds, then asked again', async () => {
    const clock = createTestClock(T0)
    const provider = answering({ error: 'quota exceeded', score: null })
    const r = resolver({ clock, provider, cache: { ttlSeconds: 300, failureTtlSeconds: 10 } })
    expect(await r.lookup(IP)).toMatchObject({ status: 'unavailable', error: 'bad_response', source: 'none' })
    expect(r.peek(IP)).toMatchObject({ status: 'unavailable', error: 'bad_response' })
    clock.advance(10_001)
    expect(r.peek(IP), 'nothing fresh is left once the failure is forgotten').toBeUndefined()
    expect(await r.lookup(IP)).toMatchObject({ status: 'unavailable', error: 'bad_response' })
    expect(provider.calls).toBe(2)
  })

  it('with failMode closed, a flags-only policy refuses a no-verdict answer (it allowed it as "clean")', async () => {
    const r = resolver({ provider: answering({ error: 'quota exceeded', score: null }), failMode: 'closed' })
    const decision = r.check(await r.lookup(IP), { blockTor: true })
    expect(decision).toMatchObject({ action: 'block', reason: 'lookup_unavailable', failOpen: false })
  })

  it('stale data is still served when the provider answers without a verdict (like any failed lookup)', async () => {
    const clock = createTestClock(T0)
    let value: unknown = { score: 92, isTor: true }
    const provider: Provider = { name: 'custom', lookup: () => Promise.resolve(value as RiskData) }
    const r = resolver({ clock, provider, cache: { ttlSeconds: 60, staleSeconds: 600 } })
    expect(await r.lookup(IP)).toMatchObject({ status: 'scored', isTor: true, source: 'upstream' })
    clock.advance(61_000)
    value = { score: null }
    expect(await r.lookup(IP)).toMatchObject({ status: 'scored', source: 'stale', error: 'bad_response', isTor: true })
  })
})

describe('the IPASIS provider: an error body with a 200', () => {
  async function simulator(): Promise<IpasisSimulator> {
    const sim = await startIpasisSimulator()
    open.push(sim)
    return sim
  }

  it.each<{ name: string; json: unknown }>([
    { name: '{"error":"quota exceeded","risk_score":null} (no verdict)', json: { error: 'quota exceeded', risk_score: null } },
    { name: '{"error":"quota exceeded","risk_score":0} (an error object with a placeholder score)', json: { error: 'quota exceeded', risk_score: 0 } },
    { name: '{"error":{"code":429},"is_tor":false}', json: { error: { code: 429 }, is_tor: false } },
  ])('$name is a bad_response, never a cached answer', async ({ json }) => {
    const sim = await simulator()
    sim.setProfile('203.0.113.9', { json })
    const r = resolver({ provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }), scoreDocumentationRanges: true })
    expect(await r.lookup('203.0.113.9')).toMatchObject({ status: 'unavailable', error: 'bad_response', score: null })
  })

  it('an error object is refused by the provider itself (ProviderError bad_response, no body text in the message)', async () => {
    const sim = await simulator()
    sim.setProfile('203.0.113.9', { json: { error: 'quota exceeded <script>', risk_score: 0 } })
    const provider = ipasis({ apiKey: sim.apiKey, baseUrl: sim.url })
    open.push({ close: () => provider.close?.() ?? Promise.resolve() })
    await expect(provider.lookup('203.0.113.9', AbortSignal.timeout(5_000))).rejects.toMatchObject({
      name: 'ProviderError',
      kind: 'bad_response',
      message: 'ipasis: the response body is an error object (its `error` member is set)',
    })
  })

  it('a body whose error member is null or false is read as usual', async () => {
    const sim = await simulator()
    sim.setProfile('203.0.113.9', { json: { error: null, risk_score: 5 } })
    sim.setProfile('203.0.113.10', { json: { error: false, is_tor: true } })
    const r = resolver({ provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }), scoreDocumentationRanges: true })
    expect(await r.lookup('203.0.113.9')).toMatchObject({ status: 'scored', score: 5 })
    expect(await r.lookup('203.0.113.10')).toMatchObject({ status: 'scored', isTor: true })
  })
})
