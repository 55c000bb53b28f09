import { Agent, Client, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  hashProfile,
  simulatorProfiles,
  startIpasisSimulator,
  type IpasisSimulator,
  type SimulatorFault,
  type SimulatorProfile,
} from '../../src/testing/index.js'

const KEY = 'test-key'
const agent = new Agent({ keepAliveTimeout: 1_000 })
let sim: IpasisSimulator

beforeAll(async () => {
  sim = await startIpasisSimulator()
})
afterEach(() => {
  sim.reset()
})
afterAll(async () => {
  await sim.close()
  await agent.close()
})

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json: unknown
}

async function get(
  path: string,
  headers: Record<string, string> = { authorization: `Bearer ${KEY}` },
  options: { base?: string; signal?: AbortSignal; method?: 'GET' | 'POST' } = {},
): Promise<Answer> {
  // agent.request with a raw path: a URL string would be normalized (`/a/../b` → `/b`) before it is sent.
  const base = new URL(options.base ?? sim.url)
  const res = await agent.request({
    origin: base.origin,
    path: `${base.pathname.replace(/\/$/, '')}${path}`,
    method: options.method ?? 'GET',
    headers,
    signal: options.signal ?? null,
  })
  const body = await res.body.text()
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, body, json }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

const flatOf = (name: keyof typeof simulatorProfiles) => {
  const p = simulatorProfiles[name]
  return {
    risk_score: p.score,
    is_vpn: p.isVpn,
    is_proxy: p.isProxy,
    is_tor: p.isTor,
    is_datacenter: p.isDatacenter,
    country_code: p.countryCode,
    asn: p.asn,
    isp: p.isp,
  }
}

// ---------------------------------------------------------------------------------------------------------------------

describe('profiles', () => {
  it.each([
    ['clean', 5],
    ['vpn', 45],
    ['proxy', 60],
    ['datacenter', 55],
    ['tor', 92],
    ['high-risk', 97],
  ] as const)('the %s profile has the documented score %d and its flag', (name, score) => {
    const p = simulatorProfiles[name]
    expect(p.score).toBe(score)
    const flags = { vpn: p.isVpn, proxy: p.isProxy, tor: p.isTor, datacenter: p.isDatacenter }
    for (const [flag, value] of Object.entries(flags)) expect(value).toBe(flag === name)
    expect(Object.isFrozen(p)).toBe(true)
  })

  it.each(Object.keys(simulatorProfiles) as Array<keyof typeof simulatorProfiles>)(
    'serves the %s profile in the flat shape on /v1/ip/{ip}',
    async (name) => {
      sim.setProfile('203.0.113.9', name)
      const answer = await get('/v1/ip/203.0.113.9')
      expect(answer.status).toBe(200)
      expect(answer.headers['content-type']).toBe('application/json')
      expect(answer.json).toEqual(flatOf(name))
    },
  )

  it('serves the nested shape on /v1/lookup?ip=', async () => {
    sim.setProfile('203.0.113.9', 'vpn')
    const answer = await get('/v1/lookup?ip=203.0.113.9', { 'x-api-key': KEY })
    expect(answer.json).toEqual({
      ip: '203.0.113.9',
      risk_score: 45,
      privacy: { vpn: true, proxy: false, tor: false, hosting: false },
      asn: { asn: 'AS9009', name: 'M247 Europe SRL' },
      country: { code: 'nl' },
    })
  })

  it.each([
    { shape: 'flat' as const, path: '/v1/lookup?ip=203.0.113.9', key: 'risk_score', nestedKey: 'is_tor' },
    { shape: 'nested' as const, path: '/v1/ip/203.0.113.9', key: 'risk_score', nestedKey: 'privacy' },
  ])('shape: $shape forces that shape on every route', async ({ shape, path, nestedKey }) => {
    const forced = await startIpasisSimulator({ shape, defaultProfile: 'tor' })
    try {
      const answer = await get(path, { authorization: `Bearer ${KEY}` }, { base: forced.url })
      expect(answer.json).toHaveProperty(nestedKey)
      expect(answer.json).toHaveProperty('risk_score', 92)
    } finally {
      await forced.close()
    }
  })

  it('sends only the fields of a partial profile', async () => {
    sim.setProfile('203.0.113.9', { score: 33, isTor: null })
    expect((await get('/v1/ip/203.0.113.9')).json).toEqual({ risk_score: 33, is_tor: null })
    expect((await get('/v1/lookup?ip=203.0.113.9')).json).toEqual({ ip: '203.0.113.9', risk_score: 33, privacy: { tor: null } })
  })

  it('sends a { json } profile verbatim on both routes', async () => {
    sim.setProfile('203.0.113.9', { json: { risk_score: 'high', extra: [1] } })
    for (const path of ['/v1/ip/203.0.113.9', '/v1/lookup?ip=203.0.113.9']) {
      expect((await get(path)).json).toEqual({ risk_score: 'high', extra: [1] })
    }
  })

  it('picks exact IP, then the longest CIDR, then the function, then the default', async () => {
    sim.setProfile('10.0.0.0/8', 'vpn')
    sim.setProfile('10.1.0.0/16', 'proxy')
    sim.setProfile('10.1.2.3', 'tor')
    sim.setProfile('2001:db8::/32', 'datacenter')
    sim.setProfileFor((ip) => (ip.startsWith('192.0.2.') ? 'high-risk' : undefined))
    const cases: Array<[string, number]> = [
      ['10.1.2.3', 92],
      ['10.1.9.9', 60],
      ['10.200.0.1', 45],
      ['2001:db8::42', 55],
      ['192.0.2.77', 97],
      ['198.51.100.1', 5],
    ]
    for (const [ip, score] of cases) {
      expect(((await get(`/v1/ip/${encodeURIComponent(ip)}`)).json as { risk_score: number }).risk_score, ip).toBe(score)
    }
  })

  it('removes a rule with null and accepts any IP notation as a key', async () => {
    sim.setProfile('2001:DB8:0::7', 'tor')
    expect(((await get(`/v1/ip/${encodeURIComponent('2001:db8::7')}`)).json as { risk_score: number }).risk_score).toBe(92)
    sim.setProfile('2001:db8::7', null)
    expect(((await get(`/v1/ip/${encodeURIComponent('2001:db8::7')}`)).json as { risk_score: number }).risk_score).toBe(5)
  })

  it('takes initial rules, a function and a default profile from the options, and restores them on reset()', async () => {
    const custom = await startIpasisSimulator({
      profiles: { '198.51.100.0/24': 'vpn', '198.51.100.1': { score: 1 } },
      profileFor: (ip) => (ip === '192.0.2.1' ? 'proxy' : undefined),
      defaultProfile: 'datacenter',
    })
    const score = async (ip: string) =>
      ((await get(`/v1/ip/${ip}`, { authorization: `Bearer ${KEY}` }, { base: custom.url })).json as { risk_score: number })
        .risk_score
    try {
      expect([await score('198.51.100.1'), await score('198.51.100.2'), await score('192.0.2.1'), await score('8.8.8.8')]).toEqual([
        1, 45, 60, 55,
      ])
      custom.setProfile('198.51.100.2', 'tor')
      custom.setProfileFor(undefined)
      expect([await score('198.51.100.2'), await score('192.0.2.1')]).toEqual([92, 55])
      custom.reset()
      expect([await score('198.51.100.2'), await score('192.0.2.1')]).toEqual([45, 60])
    } finally {
      await custom.close()
    }
  })

  it.each([
    ['an invalid IP', () => sim.setProfile('1.2.3', 'tor')],
    ['an invalid CIDR', () => sim.setProfile('10.0.0.0/33', 'tor')],
    ['an unknown profile name', () => sim.setProfile('10.0.0.1', 'evil' as SimulatorProfile)],
    ['a non-object profile', () => sim.setProfile('10.0.0.1', 42 as unknown as SimulatorProfile)],
  ])('setProfile throws TypeError on %s', (_name, act) => {
    expect(act).toThrow(TypeError)
  })

  it('rejects an unknown default profile at start', async () => {
    await expect(startIpasisSimulator({ defaultProfile: 'nope' as SimulatorProfile })).rejects.toThrow(TypeError)
  })

  it('the hash profile is stable per IP, varied across IPs and in range', async () => {
    const hashed = await startIpasisSimulator({ defaultProfile: 'hash' })
    try {
      const a = await get('/v1/ip/203.0.113.1', { authorization: `Bearer ${KEY}` }, { base: hashed.url })
      const again = await get('/v1/ip/203.0.113.1', { authorization: `Bearer ${KEY}` }, { base: hashed.url })
      expect(a.json).toEqual(again.json)
      expect((a.json as { risk_score: number }).risk_score).toBe(hashProfile('203.0.113.1').score)
    } finally {
      await hashed.close()
    }
    const many = Array.from({ length: 2000 }, (_, i) => hashProfile(`10.${(i >> 8) & 255}.${i & 255}.1`))
    const scores = new Set(many.map((r) => r.score))
    expect(scores.size).toBeGreaterThan(50)
    const outOfRange = many.filter((r) => r.score === null || r.score < 0 || r.score > 99 || (r.isTor && r.score < 90))
    expect(outOfRange).toEqual([])
    const share = (f: (r: (typeof many)[number]) => boolean | null) => many.filter(f).length / many.length
    expect(share((r) => r.isTor)).toBeGreaterThan(0.005)
    expect(share((r) => r.isTor)).toBeLessThan(0.05)
    expect(share((r) => r.isDatacenter)).toBeGreaterThan(0.1)
    expect(share((r) => r.isDatacenter)).toBeLessThan(0.3)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('requests the simulator refuses', () => {
  it.each([
    { name: 'a path traversal', path: '/v1/ip/1.2.3.4/../../admin', status: 400 },
    { name: 'an encoded dot', path: '/v1/ip/%2e', status: 400 },
    { name: 'a bad percent-encoding', path: '/v1/ip/%zz', status: 400 },
    { name: 'an empty IP', path: '/v1/ip/', status: 400 },
    { name: 'a hostname', path: '/v1/ip/localhost', status: 400 },
    { name: 'a leading-zero IPv4', path: '/v1/ip/01.2.3.4', status: 400 },
    { name: 'a non-canonical IPv6', path: `/v1/ip/${encodeURIComponent('2001:DB8::1')}`, status: 400 },
    { name: 'a zoned IPv6', path: `/v1/ip/${encodeURIComponent('fe80::1%eth0')}`, status: 400 },
    { name: 'a missing ip parameter', path: '/v1/lookup', status: 400 },
    { name: 'two ip parameters', path: '/v1/lookup?ip=1.2.3.4&ip=5.6.7.8', status: 400 },
    { name: 'an encoded CRLF', path: '/v1/lookup?ip=1.2.3.4%0d%0aX:1', status: 400 },
    { name: 'an unknown route', path: '/v1/admin', status: 404 },
    { name: 'the root', path: '/', status: 404 },
  ])('answers $status to $name', async ({ path, status }) => {
    const answer = await get(path)
    expect(answer.status).toBe(status)
    expect(sim.calls).toBe(1)
    expect(sim.requests.at(-1)?.ip).toBeNull()
  })

  it('answers 405 to a POST', async () => {
    expect((await get('/v1/ip/1.2.3.4', { authorization: `Bearer ${KEY}` }, { method: 'POST' })).status).toBe(405)
  })
})

describe('API key check', () => {
  const cases: Array<{ name: string; headers: Record<string, string>; auth?: 'any' | 'bearer' | 'x-api-key'; status: number }> = [
    { name: 'the right Bearer key', headers: { authorization: `Bearer ${KEY}` }, status: 200 },
    { name: 'a lower-case bearer scheme', headers: { authorization: `bearer ${KEY}` }, status: 200 },
    { name: 'the right X-API-Key', headers: { 'x-api-key': KEY }, status: 200 },
    { name: 'a wrong Bearer key', headers: { authorization: 'Bearer nope' }, status: 401 },
    { name: 'a wrong X-API-Key', headers: { 'x-api-key': 'nope' }, status: 401 },
    { name: 'no key', headers: {}, status: 401 },
    { name: 'the key in Basic auth', headers: { authorization: `Basic ${KEY}` }, status: 401 },
    { name: 'X-API-Key when only bearer is accepted', headers: { 'x-api-key': KEY }, auth: 'bearer', status: 401 },
    { name: 'Bearer when only x-api-key is accepted', headers: { authorization: `Bearer ${KEY}` }, auth: 'x-api-key', status: 401 },
    { name: 'Bearer when bearer is accepted', headers: { authorization: `Bearer ${KEY}` }, auth: 'bearer', status: 200 },
  ]

  it.each(cases)('answers $status to $name (auth: $auth)', async ({ headers, auth, status }) => {
    const s = await startIpasisSimulator({ apiKey: KEY, auth })
    try {
      for (const path of ['/v1/ip/1.2.3.4', '/v1/lookup?ip=1.2.3.4']) {
        expect((await get(path, headers, { base: s.url })).status).toBe(status)
      }
    } finally {
      await s.close()
    }
  })

  it('uses a configured apiKey and exposes it', async () => {
    const s = await startIpasisSimulator({ apiKey: 'other' })
    try {
      expect(s.apiKey).toBe('other')
      expect((await get('/v1/ip/1.2.3.4', { 'x-api-key': 'other' }, { base: s.url })).status).toBe(200)
      expect((await get('/v1/ip/1.2.3.4', { 'x-api-key': KEY }, { base: s.url })).status).toBe(401)
    } finally {
      await s.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('faults', () => {
  const statusFaults: Array<{ fault: SimulatorFault; status: number; type: string }> = [
    { fault: 500, status: 500, type: 'application/json' },
    { fault: 502, status: 502, type: 'text/html' },
    { fault: 503, status: 503, type: 'application/json' },
    { fault: 401, status: 401, type: 'application/json' },
    { fault: 403, status: 403, type: 'application/json' },
    { fault: 429, status: 429, type: 'application/json' },
  ]

  it.each(statusFaults)('fault $fault answers status $status ($type)', async ({ fault, status, type }) => {
    sim.setFault(fault)
    const answer = await get('/v1/ip/1.2.3.4')
    expect(answer.status).toBe(status)
    expect(answer.headers['content-type']).toBe(type)
  })

  it('429 sends Retry-After: 1 by default, or the given value', async () => {
    sim.setFault(429, { times: 1 })
    expect((await get('/v1/ip/1.2.3.4')).headers['retry-after']).toBe('1')
    const date = 'Wed, 21 Oct 2026 07:28:00 GMT'
    sim.setFault(429, { times: 1, retryAfter: date })
    expect((await get('/v1/ip/1.2.3.4')).headers['retry-after']).toBe(date)
    sim.setFault(429, { times: 1, retryAfter: 30 })
    expect((await get('/v1/ip/1.2.3.4')).headers['retry-after']).toBe('30')
  })

  it('bodyBytes pads a status fault body', async () => {
    sim.setFault(503, { bodyBytes: 50_000 })
    expect((await get('/v1/ip/1.2.3.4')).body.length).toBeGreaterThan(50_000)
  })

  it.each([
    { fault: 'malformed-json' as const, check: (a: Answer) => expect(a.json).toBeUndefined() },
    { fault: 'wrong-schema' as const, check: (a: Answer) => expect(a.json).toMatchObject({ risk_score: 'high' }) },
    { fault: 'oversized' as const, check: (a: Answer) => expect(a.body.length).toBeGreaterThan(100 * 1024) },
  ])('fault $fault answers 200 with a bad body', async ({ fault, check }) => {
    sim.setFault(fault)
    const answer = await get('/v1/ip/1.2.3.4')
    expect(answer.status).toBe(200)
    check(answer)
  })

  it('reset destroys the socket without an answer', async () => {
    sim.setFault('reset')
    const error = await rejection(get('/v1/ip/1.2.3.4'))
    expect((error as { code?: string }).code).toMatch(/UND_ERR_SOCKET|ECONNRESET/)
  })

  it('timeout never answers (the client gives up)', async () => {
    sim.setFault('timeout')
    const error = await rejection(get('/v1/ip/1.2.3.4', undefined, { signal: AbortSignal.timeout(100) }))
    expect((error as Error).name).toMatch(/TimeoutError|AbortError/)
    expect(sim.calls).toBe(1)
  })

  it('slow-body sends the headers at once and the body byte by byte', async () => {
    sim.setFault('slow-body', { intervalMs: 3 })
    const res = await request(`${sim.url}/v1/ip/1.2.3.4`, { headers: { authorization: `Bearer ${KEY}` }, dispatcher: agent })
    expect(res.statusCode).toBe(200)
    const length = Number(res.headers['content-length'])
    expect(length).toBeGreaterThan(50)
    let chunks = 0
    let text = ''
    for await (const chunk of res.body) {
      chunks++
      text += String(chunk)
    }
    expect(text.length).toBe(length)
    expect(chunks).toBeGreaterThan(length / 2) // trickled, not sent at once
    expect(JSON.parse(text)).toEqual(flatOf('clean'))
  }, 15_000)

  it('times: N applies a fault to the next N calls only', async () => {
    sim.setFault(500, { times: 2 })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await get('/v1/ip/1.2.3.4')).status)
    expect(statuses).toEqual([500, 500, 200, 200])
  })

  it('an IP-specific fault applies to that IP only and wins over a global one', async () => {
    sim.setFault(503)
    sim.setFault(429, { ip: '2001:DB8::1' })
    expect((await get(`/v1/ip/${encodeURIComponent('2001:db8::1')}`)).status).toBe(429)
    expect((await get('/v1/ip/1.2.3.4')).status).toBe(503)
  })

  it('the latest matching fault wins, and clearFaults() removes them all', async () => {
    sim.setFault(500)
    sim.setFault(502)
    expect((await get('/v1/ip/1.2.3.4')).status).toBe(502)
    sim.clearFaults()
    expect((await get('/v1/ip/1.2.3.4')).status).toBe(200)
  })

  it.each([
    ['an unknown fault', () => sim.setFault(418 as SimulatorFault)],
    ['times 0', () => sim.setFault(500, { times: 0 })],
    ['fractional times', () => sim.setFault(500, { times: 1.5 })],
    ['an invalid ip', () => sim.setFault(500, { ip: 'nope' })],
    ['intervalMs 0', () => sim.setFault('slow-body', { intervalMs: 0 })],
    ['negative bodyBytes', () => sim.setFault(500, { bodyBytes: -1 })],
  ])('setFault throws TypeError on %s', (_name, act) => {
    expect(act).toThrow(TypeError)
  })
})

describe('latency', () => {
  it('delays answers of the IPs it is set for (answers arrive out of request order)', async () => {
    sim.setLatency(300, { ip: '1.1.1.1' })
    const order: string[] = []
    await Promise.all(
      ['1.1.1.1', '2.2.2.2'].map(async (ip) => {
        await get(`/v1/ip/${ip}`)
        order.push(ip)
      }),
    )
    expect(order).toEqual(['2.2.2.2', '1.1.1.1'])
  })

  it.each([{ latency: 5_000 }, { latency: { min: 4_000, max: 6_000 } }])(
    'a global latency $latency outlasts a 100 ms client deadline',
    async ({ latency }) => {
      sim.setLatency(latency)
      const error = await rejection(get('/v1/ip/1.2.3.4', undefined, { signal: AbortSignal.timeout(100) }))
      expect((error as Error).name).toMatch(/TimeoutError|AbortError/)
    },
  )

  it('takes a latency option at start and restores it on reset()', async () => {
    const slow = await startIpasisSimulator({ latency: { min: 5_000, max: 5_000 }, seed: 7 })
    try {
      slow.setLatency(0)
      expect((await get('/v1/ip/1.2.3.4', undefined, { base: slow.url })).status).toBe(200)
      slow.reset()
      const error = await rejection(get('/v1/ip/1.2.3.4', undefined, { base: slow.url, signal: AbortSignal.timeout(100) }))
      expect((error as Error).name).toMatch(/TimeoutError|AbortError/)
    } finally {
      await slow.close()
    }
  })

  it.each([[-1], [Number.NaN], [{ min: 10, max: 5 }], [{ min: 1 }], ['10']])('setLatency(%j) throws TypeError', (latency) => {
    expect(() => sim.setLatency(latency as number)).toThrow(TypeError)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('counters', () => {
  it('counts every request, per IP in any notation, and logs them', async () => {
    await get('/v1/ip/1.2.3.4')
    await get(`/v1/lookup?ip=${encodeURIComponent('2001:db8::1')}`, { 'x-api-key': KEY })
    await get('/v1/ip/1.2.3.4', {})
    await get('/v1/ip/nope')
    expect(sim.calls).toBe(4)
    expect(sim.callsFor('1.2.3.4')).toBe(2)
    expect(sim.callsFor('2001:DB8:0::1')).toBe(1)
    expect(sim.callsFor('9.9.9.9')).toBe(0)
    expect(sim.callsFor('garbage')).toBe(0)
    expect(sim.requests).toEqual([
      { method: 'GET', url: '/v1/ip/1.2.3.4', style: 'path', ip: '1.2.3.4', auth: 'bearer' },
      { method: 'GET', url: '/v1/lookup?ip=2001%3Adb8%3A%3A1', style: 'query', ip: '2001:db8::1', auth: 'x-api-key' },
      { method: 'GET', url: '/v1/ip/1.2.3.4', style: 'path', ip: '1.2.3.4', auth: null },
      { method: 'GET', url: '/v1/ip/nope', style: 'path', ip: null, auth: 'bearer' },
    ])
  })

  it('counts TCP connections: one for keep-alive calls over one client', async () => {
    const client = new Client(sim.url)
    try {
      for (let i = 0; i < 5; i++) {
        const res = await client.request({ path: '/v1/ip/1.2.3.4', method: 'GET', headers: { 'x-api-key': KEY } })
        await res.body.dump()
      }
      expect(sim.connections).toBe(1)
      expect(sim.calls).toBe(5)
    } finally {
      await client.close()
    }
  })

  it('reset() zeroes counters, the log and faults', async () => {
    sim.setFault(500)
    await get('/v1/ip/1.2.3.4')
    sim.reset()
    expect([sim.calls, sim.callsFor('1.2.3.4'), sim.requests.length, sim.connections]).toEqual([0, 0, 0, 0])
    expect((await get('/v1/ip/1.2.3.4')).status).toBe(200)
  })
})

describe('start and close', () => {
  it('listens on 127.0.0.1 with a free port and serves under basePath', async () => {
    const s = await startIpasisSimulator({ basePath: '/ipasis/' })
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ipasis$/)
      expect((await get('/v1/ip/1.2.3.4', undefined, { base: s.url })).status).toBe(200)
      expect((await get('/v1/ip/1.2.3.4', undefined, { base: s.url.replace('/ipasis', '') })).status).toBe(404)
    } finally {
      await s.close()
    }
  })

  it.each([
    ['an empty apiKey', { apiKey: '' }],
    ['a basePath without a leading slash', { basePath: 'x' }],
    ['a negative latency', { latency: -5 }],
  ])('rejects %s', async (_name, options) => {
    await expect(startIpasisSimulator(options)).rejects.toThrow(TypeError)
  })

  it('close() ends hanging timeout and slow-body answers and keep-alive sockets, then refuses connections', async () => {
    const s = await startIpasisSimulator()
    const client = new Client(s.url)
    const ok = await client.request({ path: '/v1/ip/1.2.3.4', method: 'GET', headers: { 'x-api-key': KEY } })
    await ok.body.dump() // leaves an idle keep-alive socket
    s.setFault('timeout', { ip: '5.5.5.5' })
    s.setFault('slow-body', { ip: '6.6.6.6', intervalMs: 1_000 })
    const hanging = request(`${s.url}/v1/ip/5.5.5.5`, { headers: { 'x-api-key': KEY }, dispatcher: agent })
    const slow = await request(`${s.url}/v1/ip/6.6.6.6`, { headers: { 'x-api-key': KEY }, dispatcher: agent })
    const slowBody = slow.body.text()
    while (s.calls < 3) await new Promise((r) => setTimeout(r, 5))

    await s.close()
    await s.close() // idempotent

    expect((await rejection(hanging)) as Error).toBeInstanceOf(Error)
    expect((await rejection(slowBody)) as Error).toBeInstanceOf(Error)
    const refused = await rejection(get('/v1/ip/1.2.3.4', undefined, { base: s.url }))
    expect((refused as { code?: string }).code).toBe('ECONNREFUSED')
    await client.close()
  })
})
