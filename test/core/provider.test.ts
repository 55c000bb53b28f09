import { inspect } from 'node:util'
import { MockAgent, Pool } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { IpRiskConfigError, IpRiskError, ProviderError } from '../../src/core/errors.js'
import { ipasis, type IpasisOptions } from '../../src/core/provider.js'
import { createTestClock } from '../../src/testing/clock.js'
import { MAX_RETRY_AFTER_MS, parseIpasisBody, parseRetryAfter } from '../../src/core/provider-schema.js'
import type { Provider, ProviderErrorKind, RiskData } from '../../src/core/types.js'
import {
  simulatorProfiles,
  startIpasisSimulator,
  type IpasisSimulator,
  type SimulatorFault,
  type SimulatorProfileName,
} from '../../src/testing/index.js'

const KEY = 'sk_test_4f9c2b7e1d'
const IP = '203.0.113.7'

let sim: IpasisSimulator
const open: Provider[] = []

beforeAll(async () => {
  sim = await startIpasisSimulator({ apiKey: KEY })
})
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close?.()))
  sim.reset()
})
afterAll(async () => {
  await sim.close()
})

function provider(options: Partial<IpasisOptions> = {}): Provider {
  const p = ipasis({ apiKey: KEY, baseUrl: sim.url, ...options })
  open.push(p)
  return p
}

const live = (): AbortSignal => new AbortController().signal

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await rejection(promise)
  expect(error).toBeInstanceOf(ProviderError)
  return error as ProviderError
}

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

// ---------------------------------------------------------------------------------------------------------------------

describe('ipasis() option validation', () => {
  const cases: Array<{ name: string; options: unknown; option: string }> = [
    { name: 'options that are not an object', options: null, option: 'options' },
    { name: 'a missing apiKey', options: {}, option: 'apiKey' },
    { name: 'an empty apiKey', options: { apiKey: '' }, option: 'apiKey' },
    { name: 'a non-string apiKey', options: { apiKey: 42 }, option: 'apiKey' },
    { name: 'an apiKey with a trailing newline', options: { apiKey: `${KEY}\n` }, option: 'apiKey' },
    { name: 'an apiKey with a space', options: { apiKey: `${KEY} x` }, option: 'apiKey' },
    { name: 'an apiKey with CRLF header injection', options: { apiKey: `${KEY}\r\nX-Evil: 1` }, option: 'apiKey' },
    { name: 'an empty baseUrl', options: { apiKey: KEY, baseUrl: '' }, option: 'baseUrl' },
    { name: 'a relative baseUrl', options: { apiKey: KEY, baseUrl: 'api.ipasis.com' }, option: 'baseUrl' },
    { name: 'a non-http baseUrl', options: { apiKey: KEY, baseUrl: 'ftp://api.ipasis.com' }, option: 'baseUrl' },
    { name: 'a baseUrl with credentials', options: { apiKey: KEY, baseUrl: `https://u:${KEY}@x.test` }, option: 'baseUrl' },
    { name: 'a baseUrl with a query', options: { apiKey: KEY, baseUrl: 'https://x.test/?a=1' }, option: 'baseUrl' },
    { name: 'a baseUrl with an empty query', options: { apiKey: KEY, baseUrl: 'https://x.test/?' }, option: 'baseUrl' },
    { name: 'a baseUrl with a fragment', options: { apiKey: KEY, baseUrl: 'https://x.test/#f' }, option: 'baseUrl' },
    { name: 'timeoutMs 0', options: { apiKey: KEY, timeoutMs: 0 }, option: 'timeoutMs' },
    { name: 'a negative timeoutMs', options: { apiKey: KEY, timeoutMs: -1 }, option: 'timeoutMs' },
    { name: 'a fractional timeoutMs', options: { apiKey: KEY, timeoutMs: 1.5 }, option: 'timeoutMs' },
    { name: 'a timeoutMs over a minute', options: { apiKey: KEY, timeoutMs: 60_001 }, option: 'timeoutMs' },
    { name: 'a NaN timeoutMs', options: { apiKey: KEY, timeoutMs: Number.NaN }, option: 'timeoutMs' },
    { name: 'a string timeoutMs', options: { apiKey: KEY, timeoutMs: '100' }, option: 'timeoutMs' },
    { name: 'an unknown style', options: { apiKey: KEY, style: 'rest' }, option: 'style' },
    { name: 'an unknown auth', options: { apiKey: KEY, auth: 'basic' }, option: 'auth' },
    { name: 'connections 0', options: { apiKey: KEY, connections: 0 }, option: 'connections' },
    { name: 'connections over 1024', options: { apiKey: KEY, connections: 1025 }, option: 'connections' },
    { name: 'fractional connections', options: { apiKey: KEY, connections: 2.5 }, option: 'connections' },
    { name: 'a dispatcher without request()', options: { apiKey: KEY, dispatcher: {} }, option: 'dispatcher' },
    { name: 'a clock that is a function', options: { apiKey: KEY, clock: Date.now }, option: 'clock' },
    { name: 'a clock without timers', options: { apiKey: KEY, clock: { now: Date.now, monotonic: () => 0 } }, option: 'clock' },
  ]

  it.each(cases)('rejects $name with IpRiskConfigError naming `$option`, without echoing the key', ({ options, option }) => {
    const error = (() => {
      try {
        ipasis(options as IpasisOptions)
      } catch (e) {
        return e
      }
      throw new Error('expected ipasis() to throw')
    })()
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe(option)
    expect((error as Error).message).toContain(`\`${option}\``)
    expect(inspect(error, { showHidden: true, depth: 5 })).not.toContain(KEY)
  })

  it('accepts the minimal options and names the provider "ipasis"', async () => {
    const p = ipasis({ apiKey: KEY })
    expect(p.name).toBe('ipasis')
    await p.close?.()
  })
})

describe('ipasis() defaults (through an undici MockAgent: no network)', () => {
  it("sends GET https://api.ipasis.com/v1/ip/{ip} with 'Authorization: Bearer <key>'", async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    agent
      .get('https://api.ipasis.com')
      .intercept({ path: `/v1/ip/${IP}`, method: 'GET', headers: { authorization: `Bearer ${KEY}` } })
      .reply(200, { risk_score: 12 })
    const p = ipasis({ apiKey: KEY, dispatcher: agent })
    await expect(p.lookup(IP, live())).resolves.toEqual({ ...allNull, score: 12 })
    agent.assertNoPendingInterceptors()
    await p.close?.()
    await agent.close()
  })

  it("sends GET https://api.ipasis.com/v1/lookup?ip={ip} with 'X-API-Key' when style is 'query'", async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    agent
      .get('https://api.ipasis.com')
      .intercept({ path: `/v1/lookup?ip=${IP}`, method: 'GET', headers: { 'x-api-key': KEY } })
      .reply(200, { ip: IP, risk_score: 33 })
    const p = ipasis({ apiKey: KEY, style: 'query', dispatcher: agent })
    await expect(p.lookup(IP, live())).resolves.toEqual({ ...allNull, score: 33 })
    agent.assertNoPendingInterceptors()
    await agent.close()
  })

  it('times out after 1500 ms by default', async () => {
    sim.setFault('timeout')
    const error = await providerError(provider().lookup(IP, live()))
    expect(error.kind).toBe('timeout')
    expect(error.message).toContain('1500 ms')
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('API styles and auth modes', () => {
  const cases: Array<{
    style?: 'path' | 'query'
    auth?: 'bearer' | 'x-api-key'
    route: 'path' | 'query'
    header: 'bearer' | 'x-api-key'
  }> = [
    { route: 'path', header: 'bearer' },
    { style: 'path', route: 'path', header: 'bearer' },
    { style: 'query', route: 'query', header: 'x-api-key' },
    { style: 'path', auth: 'x-api-key', route: 'path', header: 'x-api-key' },
    { style: 'query', auth: 'bearer', route: 'query', header: 'bearer' },
  ]

  it.each(cases)(
    'style $style / auth $auth calls the $route route with the $header header (a server accepting only that header answers)',
    async ({ style, auth, route, header }) => {
      const strict = await startIpasisSimulator({ apiKey: KEY, auth: header, profiles: { [IP]: 'vpn' } })
      try {
        const p = ipasis({ apiKey: KEY, baseUrl: strict.url, style, auth })
        await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.vpn)
        expect(strict.requests.at(-1)).toMatchObject({ style: route, auth: header, ip: IP })
        await p.close?.()
      } finally {
        await strict.close()
      }
    },
  )

  it.each(['2001:db8::1', '::1', '2001:db8:0:1::', '::ffff:102:304'])(
    'looks up the IPv6 address %s on both routes',
    async (ip) => {
      sim.setProfile(ip, 'tor')
      for (const style of ['path', 'query'] as const) {
        await expect(provider({ style }).lookup(ip, live())).resolves.toEqual(simulatorProfiles.tor)
      }
      expect(sim.callsFor(ip)).toBe(2)
    },
  )

  it('keeps a path prefix of baseUrl and tolerates a trailing slash', async () => {
    const prefixed = await startIpasisSimulator({ apiKey: KEY, basePath: '/gateway/ipasis' })
    try {
      for (const baseUrl of [prefixed.url, `${prefixed.url}/`]) {
        const p = ipasis({ apiKey: KEY, baseUrl })
        await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
        await p.close?.()
      }
      expect(prefixed.requests.map((r) => r.url)).toEqual([
        `/gateway/ipasis/v1/ip/${IP}`,
        `/gateway/ipasis/v1/ip/${IP}`,
      ])
    } finally {
      await prefixed.close()
    }
  })

  it('tolerates a trailing slash on a bare origin', async () => {
    await expect(provider({ baseUrl: `${sim.url}/` }).lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
    expect(sim.requests.at(-1)?.url).toBe(`/v1/ip/${IP}`)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('response shapes', () => {
  const names = Object.keys(simulatorProfiles) as Array<Exclude<SimulatorProfileName, 'hash'>>

  it.each(names)('profile %s: the flat and the nested shape normalize to the same RiskData', async (name) => {
    const flat = await startIpasisSimulator({ apiKey: KEY, shape: 'flat', defaultProfile: name })
    const nested = await startIpasisSimulator({ apiKey: KEY, shape: 'nested', defaultProfile: name })
    try {
      const results: RiskData[] = []
      for (const s of [flat, nested]) {
        for (const style of ['path', 'query'] as const) {
          const p = ipasis({ apiKey: KEY, baseUrl: s.url, style })
          results.push(await p.lookup(IP, live()))
          await p.close?.()
        }
      }
      for (const r of results) expect(r).toEqual(simulatorProfiles[name])
    } finally {
      await Promise.all([flat.close(), nested.close()])
    }
  })

  const bodies: Array<{ name: string; json: unknown; expected: RiskData }> = [
    {
      name: 'the guide’s flat shape',
      json: {
        risk_score: 85,
        is_vpn: true,
        is_proxy: false,
        is_tor: false,
        is_datacenter: true,
        country_code: 'us',
        asn: 15169,
        isp: 'Google LLC',
      },
      expected: {
        score: 85,
        isVpn: true,
        isProxy: false,
        isTor: false,
        isDatacenter: true,
        countryCode: 'US',
        asn: 15169,
        isp: 'Google LLC',
      },
    },
    {
      name: 'the nested shape with an "AS…" string and a country string',
      json: {
        ip: IP,
        risk_score: 85,
        privacy: { vpn: true, proxy: false, tor: false, hosting: true },
        asn: 'AS15169',
        country: 'us',
        isp: 'Google LLC',
      },
      expected: {
        score: 85,
        isVpn: true,
        isProxy: false,
        isTor: false,
        isDatacenter: true,
        countryCode: 'US',
        asn: 15169,
        isp: 'Google LLC',
      },
    },
    {
      name: 'the nested shape with asn { asn, name } and country { code }',
      json: {
        ip: IP,
        risk_score: 85,
        privacy: { vpn: true, proxy: false, tor: false, hosting: true },
        asn: { asn: 'as15169', name: 'Google LLC' },
        country: { code: 'Us' },
      },
      expected: {
        score: 85,
        isVpn: true,
        isProxy: false,
        isTor: false,
        isDatacenter: true,
        countryCode: 'US',
        asn: 15169,
        isp: 'Google LLC',
      },
    },
    { name: 'only a score (every other field null, never false)', json: { risk_score: 10 }, expected: { ...allNull, score: 10 } },
    {
      name: 'only privacy.vpn',
      json: { privacy: { vpn: true } },
      expected: { ...allNull, isVpn: true },
    },
    {
      name: 'explicit nulls',
      json: { risk_score: null, is_vpn: null, country_code: null, asn: null, isp: null, privacy: null, country: null },
      expected: allNull,
    },
    { name: 'a score of 0 and 100 boundaries (0)', json: { risk_score: 0 }, expected: { ...allNull, score: 0 } },
    { name: 'a score of 100', json: { risk_score: 100 }, expected: { ...allNull, score: 100 } },
    { name: 'a fractional score', json: { risk_score: 42.5 }, expected: { ...allNull, score: 42.5 } },
    { name: 'an empty country code (unknown)', json: { risk_score: 1, country_code: '' }, expected: { ...allNull, score: 1 } },
    { name: 'ASN 0 (reserved: unknown)', json: { risk_score: 1, asn: 0 }, expected: { ...allNull, score: 1 } },
    { name: 'a numeric ASN string', json: { asn: '13335' }, expected: { ...allNull, asn: 13335 } },
    { name: 'an empty ISP', json: { risk_score: 1, isp: '  ' }, expected: { ...allNull, score: 1 } },
    {
      name: 'flat fields winning over nested ones when both are sent',
      json: { is_vpn: false, privacy: { vpn: true }, country_code: 'FR', country: 'DE', isp: 'Flat', asn: { name: 'Nested' } },
      expected: { ...allNull, isVpn: false, countryCode: 'FR', isp: 'Flat' },
    },
    {
      name: 'unknown extra fields (ignored)',
      json: { risk_score: 3, threat: { level: 'low' }, is_vpn: false },
      expected: { ...allNull, score: 3, isVpn: false },
    },
  ]

  it.each(bodies)('reads $name', async ({ json, expected }) => {
    sim.setProfile(IP, { json })
    await expect(provider().lookup(IP, live())).resolves.toEqual(expected)
  })

  const bad: Array<{ name: string; json: unknown }> = [
    { name: 'risk_score "high"', json: { risk_score: 'high' } },
    { name: 'risk_score 150', json: { risk_score: 150 } },
    { name: 'risk_score -1', json: { risk_score: -1 } },
    { name: 'risk_score as a numeric string', json: { risk_score: '50' } },
    { name: 'is_vpn "yes"', json: { risk_score: 1, is_vpn: 'yes' } },
    { name: 'is_tor 1', json: { risk_score: 1, is_tor: 1 } },
    { name: 'privacy.hosting "no"', json: { privacy: { hosting: 'no' } } },
    { name: 'privacy as a string', json: { risk_score: 1, privacy: 'none' } },
    { name: 'a three-letter country code', json: { risk_score: 1, country_code: 'USA' } },
    { name: 'a country name', json: { risk_score: 1, country: 'United States' } },
    { name: 'asn "Google"', json: { risk_score: 1, asn: 'Google' } },
    { name: 'a negative asn', json: { risk_score: 1, asn: -5 } },
    { name: 'an asn over 32 bits', json: { risk_score: 1, asn: 2 ** 33 } },
    { name: 'an asn string over 32 bits', json: { risk_score: 1, asn: 'AS9999999999' } },
    { name: 'isp 42', json: { risk_score: 1, isp: 42 } },
    { name: 'an array', json: [{ risk_score: 1 }] },
    { name: 'a string', json: 'ok' },
    { name: 'null', json: null },
    { name: 'an empty object (the guide’s `{}` read as clean)', json: {} },
    { name: 'an error object with status 200', json: { error: 'quota exceeded' } },
  ]

  it.each(bad)('rejects $name as bad_response', async ({ json }) => {
    sim.setProfile(IP, { json })
    const error = await providerError(provider().lookup(IP, live()))
    expect(error.kind).toBe('bad_response')
    expect(error.status).toBe(200)
  })

  it.each([
    ['Infinity (JSON 1e999)', { risk_score: Number.POSITIVE_INFINITY }],
    ['NaN', { risk_score: Number.NaN }],
  ])('the schema refuses a risk_score of %s (not expressible through JSON.stringify)', (_name, body) => {
    expect(() => parseIpasisBody(body)).toThrow(/risk_score/)
  })

  it('rejects a body of 1e999 read from the wire as bad_response', async () => {
    // JSON.parse turns 1e999 into Infinity: the one way a non-finite number reaches the schema.
    expect(() => parseIpasisBody(JSON.parse('{"risk_score": 1e999}'))).toThrow(/risk_score/)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('failures map to ProviderError kinds', () => {
  // The fault table and the wrong-key case run on both transports (undici and fetch) in provider-transport.test.ts.

  it('a redirect is not followed (the key would travel with it) → http_error 302', async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    agent.get('https://api.ipasis.com').intercept({ path: `/v1/ip/${IP}` }).reply(302, '', {
      headers: { location: 'https://elsewhere.example/steal' },
    })
    const p = ipasis({ apiKey: KEY, dispatcher: agent })
    const error = await providerError(p.lookup(IP, live()))
    expect(error).toMatchObject({ kind: 'http_error', status: 302 })
    await agent.close()
  })

  it('an unknown route (404) → http_error with status', async () => {
    const error = await providerError(provider({ baseUrl: `${sim.url}/nope` }).lookup(IP, live()))
    expect(error).toMatchObject({ kind: 'http_error', status: 404 })
  })

  it('a timeout shorter than the simulator latency rejects with timeout (and does resolve)', async () => {
    sim.setLatency(5_000)
    const error = await providerError(provider({ timeoutMs: 100 }).lookup(IP, live()))
    expect(error.kind).toBe('timeout')
    expect(error.message).toContain('100 ms')
  })

  it('a latency within the budget still answers', async () => {
    sim.setLatency(20)
    await expect(provider({ timeoutMs: 2_000 }).lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
  })

  it('the caller aborting mid-flight → aborted (not timeout)', async () => {
    sim.setFault('timeout')
    const controller = new AbortController()
    const pending = provider({ timeoutMs: 10_000 }).lookup(IP, controller.signal)
    setTimeout(() => controller.abort(), 30)
    const error = await providerError(pending)
    expect(error.kind).toBe('aborted')
  })

  it('the caller aborting while the body trickles → aborted', async () => {
    sim.setFault('slow-body', { intervalMs: 50 })
    const controller = new AbortController()
    const pending = provider({ timeoutMs: 10_000 }).lookup(IP, controller.signal)
    setTimeout(() => controller.abort(), 120)
    expect((await providerError(pending)).kind).toBe('aborted')
  })

  it('an already-aborted signal → aborted before any request', async () => {
    const controller = new AbortController()
    controller.abort()
    const error = await providerError(provider().lookup(IP, controller.signal))
    expect(error.kind).toBe('aborted')
    expect(sim.calls).toBe(0)
  })
})

describe('Retry-After', () => {
  // Delta-seconds and HTTP dates over HTTP, and the timeout on the provider's clock: on both transports in
  // provider-transport.test.ts.

  it('an unreadable Retry-After → rate_limited without retryAfterMs', async () => {
    sim.setFault(429, { times: 1, retryAfter: 'soon' })
    const error = await providerError(provider().lookup(IP, live()))
    expect(error.kind).toBe('rate_limited')
    expect(error.retryAfterMs).toBeUndefined()
  })

  const now = Date.parse('2026-03-30T12:00:00Z')
  it.each([
    { header: undefined, expected: undefined },
    { header: '', expected: undefined },
    { header: ' 5 ', expected: 5_000 },
    { header: ['7', '9'], expected: 7_000 },
    { header: '-5', expected: undefined },
    { header: '1.5', expected: undefined },
    { header: 'Mon, 30 Mar 2026 12:01:00 GMT', expected: 60_000 },
    { header: 'Monday, 30-Mar-26 12:00:10 GMT', expected: 10_000 },
    { header: 'Mon, 30 Mar 2026 11:00:00 GMT', expected: 0 },
    { header: 'Tue, 30 Mar 2027 12:00:00 GMT', expected: MAX_RETRY_AFTER_MS },
    { header: 'tomorrow', expected: undefined },
  ])('parseRetryAfter($header) → $expected', ({ header, expected }) => {
    const value = parseRetryAfter(header, now)
    if (expected === undefined) expect(value).toBeUndefined()
    else expect(value).toBe(Math.min(Math.max(0, expected), MAX_RETRY_AFTER_MS))
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('connections and bodies', () => {
  it('reuses one keep-alive socket for sequential lookups', async () => {
    const p = provider()
    for (let i = 0; i < 20; i++) await p.lookup(IP, live())
    expect(sim.calls).toBe(20)
    // undici's Pool may hand the next request to a second client while the first one is still draining its
    // completed response; without keep-alive this would be 20.
    expect(sim.connections).toBeLessThanOrEqual(2)
  })

  it('dumps error bodies: 30 sequential error/success answers over a pool of 1 socket all complete on one connection', async () => {
    const p = provider({ connections: 1, timeoutMs: 1_000 })
    const faults: SimulatorFault[] = [500, 502, 503, 401, 403, 429, 'malformed-json', 'wrong-schema']
    const kinds: string[] = []
    for (let i = 0; i < 30; i++) {
      const fault = faults[i % faults.length]
      // 40 KiB error bodies: more than the socket buffer, so an unread body would block the only connection.
      if (i % 3 !== 2 && fault !== undefined) sim.setFault(fault, { times: 1, bodyBytes: 40 * 1024 })
      try {
        await p.lookup(IP, live())
        kinds.push('ok')
      } catch (error) {
        kinds.push((error as ProviderError).kind)
      }
    }
    expect(kinds.filter((k) => k === 'ok')).toHaveLength(10)
    expect(new Set(kinds)).toEqual(new Set(['ok', 'http_error', 'auth', 'rate_limited', 'bad_response']))
    expect(sim.connections).toBe(1)
  })

  it('connections: 1 serializes concurrent lookups over a single socket', async () => {
    sim.setLatency(20)
    const p = provider({ connections: 1 })
    await Promise.all(Array.from({ length: 5 }, () => p.lookup(IP, live())))
    expect(sim.connections).toBe(1)
  })

  it('connections: 3 opens at most 3 sockets for concurrent lookups', async () => {
    sim.setLatency(30)
    const p = provider({ connections: 3 })
    await Promise.all(Array.from({ length: 9 }, () => p.lookup(IP, live())))
    expect(sim.connections).toBe(3)
  })

  it('opens at most 16 sockets by default', async () => {
    sim.setLatency(50)
    const p = provider()
    await Promise.all(Array.from({ length: 24 }, () => p.lookup(IP, live())))
    expect(sim.connections).toBe(16)
  })

  it('uses a given dispatcher and leaves it open on close()', async () => {
    const pool = new Pool(sim.url, { connections: 1 })
    try {
      const p = ipasis({ apiKey: KEY, baseUrl: sim.url, dispatcher: pool })
      await p.lookup(IP, live())
      expect(pool.stats.connected).toBe(1)
      await p.close?.()
      expect(pool.closed).toBe(false)
      await p.close?.()
    } finally {
      await pool.close()
    }
  })
})

describe('close()', () => {
  it('closes the pool: later lookups fail with network, and close() is idempotent', async () => {
    const p = provider()
    await p.lookup(IP, live())
    await p.close?.()
    await p.close?.()
    const error = await providerError(p.lookup(IP, live()))
    expect(error.kind).toBe('network')
    expect(error.message).toContain('closed')
    expect(sim.calls).toBe(1)
  })

  it('lets a lookup in flight finish', async () => {
    sim.setLatency(40)
    const p = provider()
    const pending = p.lookup(IP, live())
    await new Promise((r) => setTimeout(r, 10))
    const closing = p.close?.()
    await expect(pending).resolves.toEqual(simulatorProfiles.clean)
    await closing
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('attacker text never reaches the upstream URL', () => {
  const inputs: unknown[] = [
    '1.2.3.4/../../admin',
    '../',
    '..',
    '%2e',
    '%2e%2e%2fadmin',
    '1.2.3.4\r\nX-Injected: 1',
    '1.2.3.4\n',
    ' 1.2.3.4',
    '1.2.3.4?key=x',
    '1.2.3.4#',
    '1.2.3.4&ip=5.6.7.8',
    '01.2.3.4',
    '1.2.3',
    '256.1.1.1',
    'fe80::1%eth0',
    'fe80::1%25eth0',
    '2001:DB8::1',
    '2001:db8:0:0:0:0:0:1',
    '::ffff:1.2.3.4',
    'localhost',
    'api.ipasis.com',
    '',
    '1.2.3.4'.repeat(200),
    undefined,
    null,
    16909060,
    { toString: () => '1.2.3.4' },
  ]

  it.each(inputs.map((input) => ({ input, label: typeof input === 'string' ? JSON.stringify(input).slice(0, 40) : String(input) })))(
    '$label is refused with IpRiskError before any I/O',
    async ({ input }) => {
      for (const style of ['path', 'query'] as const) {
        const error = await rejection(provider({ style }).lookup(input as string, live()))
        expect(error).toBeInstanceOf(IpRiskError)
        expect(error).not.toBeInstanceOf(ProviderError)
        expect((error as Error).message).not.toMatch(/[\r\n]/)
        expect((error as Error).message.length).toBeLessThan(200)
      }
      expect(sim.calls).toBe(0)
    },
  )
})

describe('the API key never appears in errors', () => {
  const SECRET = 'sk_live_Zx81QpL0s3cr3t'

  function leaks(error: unknown): string[] {
    const found: string[] = []
    const e = error as Error & { cause?: unknown }
    const views: Record<string, string> = {
      message: e.message,
      stack: String(e.stack),
      json: JSON.stringify(e),
      inspect: inspect(e, { showHidden: true, depth: 8 }),
      cause: String(e.cause),
      causeInspect: inspect(e.cause, { showHidden: true, depth: 8 }),
    }
    for (const [view, text] of Object.entries(views)) if (text.includes(SECRET)) found.push(view)
    return found
  }

  it('in any failure kind (message, stack, cause, JSON, inspect), nor in the provider object itself', async () => {
    const keyed = await startIpasisSimulator({ apiKey: SECRET })
    const closed = await startIpasisSimulator({ apiKey: SECRET })
    await closed.close()
    try {
      const errors: unknown[] = []
      const p = ipasis({ apiKey: SECRET, baseUrl: keyed.url, timeoutMs: 150 })
      for (const fault of [500, 502, 401, 403, 429, 'malformed-json', 'wrong-schema', 'oversized', 'reset', 'timeout', 'slow-body'] as const) {
        keyed.setFault(fault, { times: 1 })
        errors.push(await rejection(p.lookup(IP, live())))
      }
      const aborted = new AbortController()
      aborted.abort()
      errors.push(await rejection(p.lookup(IP, aborted.signal)))
      errors.push(await rejection(p.lookup('1.2.3.4/../admin', live())))
      const refused = ipasis({ apiKey: SECRET, baseUrl: closed.url, style: 'query' })
      errors.push(await rejection(refused.lookup(IP, live())))
      const wrong = ipasis({ apiKey: `${SECRET}x`, baseUrl: keyed.url })
      errors.push(await rejection(wrong.lookup(IP, live())))
      for (const bad of [`${SECRET}\n`, `${SECRET} `]) {
        try {
          ipasis({ apiKey: bad })
        } catch (e) {
          errors.push(e)
        }
      }
      try {
        ipasis({ apiKey: 'k', baseUrl: `https://user:${SECRET}@api.example` })
      } catch (e) {
        errors.push(e)
      }
      expect(errors).toHaveLength(18)
      expect(new Set(errors.map((e) => (e as ProviderError).kind ?? (e as Error).name))).toEqual(
        new Set(['http_error', 'auth', 'rate_limited', 'bad_response', 'network', 'timeout', 'aborted', 'IpRiskError', 'IpRiskConfigError']),
      )
      for (const error of errors) expect(leaks(error), String(error)).toEqual([])
      for (const p2 of [p, refused, wrong]) {
        expect(inspect(p2, { showHidden: true, depth: 8 })).not.toContain(SECRET)
        expect(JSON.stringify(p2)).not.toContain(SECRET)
      }
      await Promise.all([p.close?.(), refused.close?.(), wrong.close?.()])
    } finally {
      await keyed.close()
    }
  })
})
