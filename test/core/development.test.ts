// The development switch, `development: { scoreLocalAddresses: true }`: loopback and documentation-range callers are
// scored through the provider (the simulator `npx iprisk simulate` runs), so `curl` from your own machine gets real
// decisions; refused under NODE_ENV=production; announced once at creation; and it never changes whose IP is read.
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest'
import { startDevelopmentSimulator } from '../../src/cli/simulate.js'
import {
  createRiskResolver,
  ipasis,
  policies,
  type Logger,
  type RiskResolver,
  type RiskResolverOptions,
} from '../../src/core/index.js'
import { type DevelopmentOptions } from '../../src/core/resolver.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { configError } from '../support/errors.js'

const KEY = 'any-key-the-app-has'
const REFUSED =
  'iprisk: invalid option `development.scoreLocalAddresses`: is refused when NODE_ENV is "production": it scores loopback and documentation-range callers, for local development against `npx iprisk simulate` only'
const WARNING =
  'iprisk: configuration problem with `development.scoreLocalAddresses`: development scoring is on: loopback (127.0.0.0/8, ::1) and documentation-range callers are looked up like global addresses (for local development against `npx iprisk simulate`); never turn it on in production'

let sim: IpasisSimulator
const resolvers: RiskResolver[] = []

beforeAll(async () => {
  sim = await startDevelopmentSimulator({ port: 0 })
})
afterEach(async () => {
  vi.unstubAllEnvs()
  await Promise.all(resolvers.splice(0).map((r) => r.close()))
  sim.reset()
})
afterAll(async () => {
  await sim.close()
})

function silentLogger() {
  return { info: vi.fn<Logger['info']>(), warn: vi.fn<Logger['warn']>() }
}

function resolver(options: Partial<RiskResolverOptions> = {}): RiskResolver {
  const r = createRiskResolver({
    provider: ipasis({ apiKey: KEY, baseUrl: sim.url }),
    logger: silentLogger(),
    ...options,
  })
  resolvers.push(r)
  return r
}


describe('its type', () => {
  it('is exported by name from iprisk as the type of the development option', () => {
    expectTypeOf<DevelopmentOptions>().toEqualTypeOf<NonNullable<RiskResolverOptions['development']>>()
    expectTypeOf<{ scoreLocalAddresses: true }>().toExtend<DevelopmentOptions>()
  })
})

describe('turning it on', () => {
  it.each(['production', 'Production', ' PRODUCTION\n'])('is refused when NODE_ENV is %j', (value) => {
    vi.stubEnv('NODE_ENV', value)
    const error = configError(() => resolver({ development: { scoreLocalAddresses: true } }))
    expect(error.option).toBe('development.scoreLocalAddresses')
    expect(error.message).toBe(REFUSED)
  })

  it.each([undefined, '', 'development', 'test', 'staging', 'productionish'])(
    'is allowed when NODE_ENV is %j',
    (value) => {
      vi.stubEnv('NODE_ENV', value)
      expect(() => resolver({ development: { scoreLocalAddresses: true } })).not.toThrow()
    },
  )

  it('off (false, {} or absent) is fine under NODE_ENV=production: only turning it on is refused', () => {
    vi.stubEnv('NODE_ENV', 'production')
    for (const development of [{ scoreLocalAddresses: false }, {}, undefined]) {
      expect(() => resolver(development === undefined ? {} : { development })).not.toThrow()
    }
  })

  it.each([
    { development: true, option: 'development', message: 'must be an object, got true' },
    { development: { scoreLocalAddresses: 'yes' }, option: 'development.scoreLocalAddresses', message: 'must be true or false, got "yes"' },
    { development: { scoreLoopback: true }, option: 'development.scoreLoopback', message: 'unknown option (check the spelling)' },
  ])('a bad value is an IpRiskConfigError naming $option', ({ development, option, message }) => {
    const error = configError(() => resolver({ development } as unknown as Partial<RiskResolverOptions>))
    expect(error.option).toBe(option)
    expect(error.message).toBe(`iprisk: invalid option \`${option}\`: ${message}`)
  })

  it('warns once, at creation, through the logger (console.warn without one); not when off', () => {
    const on = silentLogger()
    resolver({ development: { scoreLocalAddresses: true }, logger: on })
    expect(on.warn.mock.calls).toEqual([[{ event: 'config_error', option: 'development.scoreLocalAddresses' }, WARNING]])

    const off = silentLogger()
    resolver({ development: { scoreLocalAddresses: false }, logger: off })
    resolver({ logger: off })
    expect(off.warn).not.toHaveBeenCalled()

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    try {
      resolvers.push(createRiskResolver({ provider: ipasis({ apiKey: KEY, baseUrl: sim.url }), development: { scoreLocalAddresses: true } }))
      expect(warn.mock.calls).toEqual([[WARNING]])
    } finally {
      warn.mockRestore()
    }
  })
})

describe('what it scores (resolver.lookup)', () => {
  it.each([
    { ip: '127.0.0.1', on: { status: 'scored', score: 5, isTor: false }, kind: 'loopback' },
    { ip: '127.0.0.40', on: { status: 'scored', score: 92, isTor: true }, kind: 'loopback' },
    { ip: '::1', on: { status: 'scored', score: 5, isTor: false }, kind: 'loopback' },
    { ip: '203.0.113.40', on: { status: 'scored', score: 92, isTor: true }, kind: 'documentation' },
    { ip: '2001:db8::20', on: { status: 'scored', score: 45, isVpn: true }, kind: 'documentation' },
    { ip: '10.0.0.40', on: { status: 'skipped', score: null }, kind: 'private' },
    { ip: '192.168.1.40', on: { status: 'skipped', score: null }, kind: 'private' },
    { ip: 'fe80::40', on: { status: 'skipped', score: null }, kind: 'linkLocal' },
    { ip: '100.64.0.40', on: { status: 'skipped', score: null }, kind: 'carrierGradeNat' },
  ])('$ip ($kind): $on.status with the switch, skipped without', async ({ ip, on, kind }) => {
    const dev = await resolver({ development: { scoreLocalAddresses: true } }).lookup(ip)
    expect(dev).toMatchObject({ ...on, ipKind: kind })
    const plain = await resolver().lookup(ip)
    expect(plain).toMatchObject({ status: 'skipped', score: null, ipKind: kind })
    expect(sim.callsFor(ip)).toBe(on.status === 'scored' ? 1 : 0)
  })
})

describe('whose address is read', () => {
  it('property: the switch never changes the client IP, whatever the peer, the headers and trustProxy', async () => {
    const trustSettings = [false, 'loopback', 1, true] as const
    const pairs = trustSettings.map((trustProxy) => ({
      trustProxy,
      dev: resolver({ trustProxy, development: { scoreLocalAddresses: true } }),
      plain: resolver({ trustProxy }),
    }))
    const address = fc.oneof(
      fc.constantFrom('127.0.0.1', '127.0.0.40', '::1', '::ffff:127.0.0.40', '10.0.0.1', '203.0.113.40', '2001:db8::40'),
      fc.ipV4(),
      fc.ipV6(),
    )
    fc.assert(
      fc.property(
        fc.nat(trustSettings.length - 1),
        address,
        fc.record(
          {
            'x-forwarded-for': fc.array(fc.oneof(address, fc.string()), { minLength: 1, maxLength: 4 }).map((l) => l.join(', ')),
            'x-real-ip': address,
            forwarded: address.map((ip) => `for="${ip.includes(':') ? `[${ip}]` : ip}"`),
          },
          { requiredKeys: [] },
        ),
        (which, peer, headers) => {
          const { dev, plain } = pairs[which] as (typeof pairs)[number]
          const req = { headers, socket: { remoteAddress: peer } }
          expect(dev.clientIp(req)).toEqual(plain.clientIp(req))
        },
      ),
      { seed: 23, numRuns: 500 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Over real HTTP: a small server with the switch, called from different loopback addresses (Linux answers on every
// 127.x.y.z), like `curl --interface 127.0.0.40`.
// ---------------------------------------------------------------------------------------------------------------------

interface Answer {
  status: number
  body: { action: string; reason: string; ip: string | null; source: string | null; score: number | null }
}

function startApp(risk: RiskResolver): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const client = risk.clientIp(req)
      const answer = await risk.fromRequest(req)
      const decision = risk.check(answer, policies.admin)
      res.writeHead(decision.action === 'block' ? 403 : 200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ action: decision.action, reason: decision.reason, ip: answer.ip, source: client.source, score: answer.score }),
      )
    })()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function call(server: Server, from: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = server.address() as AddressInfo
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/admin', localAddress: from, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('over HTTP: curl from your own machine gets real decisions', () => {
  let app: Server
  let plainApp: Server
  let appResolvers: RiskResolver[]
  beforeAll(async () => {
    // blocklist off: high-risk (97) would otherwise be auto-blocklisted, and these cases must not leak into each other.
    app = await startApp(resolver({ development: { scoreLocalAddresses: true }, blocklist: false }))
    plainApp = await startApp(resolver({ blocklist: false }))
    appResolvers = resolvers.splice(0) // closed in afterAll, not after each case
  })
  afterAll(async () => {
    await Promise.all([app, plainApp].map((s) => new Promise((resolve) => s.close(resolve))))
    await Promise.all(appResolvers.map((r) => r.close()))
  })

  it.each([
    { from: '127.0.0.1', status: 200, action: 'allow', reason: 'clean', score: 5 },
    { from: '127.0.0.20', status: 403, action: 'block', reason: 'vpn_detected', score: 45 },
    { from: '127.0.0.30', status: 403, action: 'block', reason: 'risk_score_exceeded', score: 60 },
    { from: '127.0.0.40', status: 403, action: 'block', reason: 'tor_exit_node', score: 92 },
    { from: '127.0.0.50', status: 403, action: 'block', reason: 'datacenter_ip', score: 55 },
    { from: '127.0.0.60', status: 403, action: 'block', reason: 'risk_score_exceeded', score: 97 },
  ])('from $from: $status $reason (the admin policy); without the switch 200 non_global_ip', async (c) => {
    const dev = await call(app, c.from)
    expect(dev).toEqual({
      status: c.status,
      body: { action: c.action, reason: c.reason, ip: c.from, source: 'socket', score: c.score },
    })
    expect(sim.callsFor(c.from)).toBe(1)

    sim.reset()
    const plain = await call(plainApp, c.from)
    expect(plain).toEqual({
      status: 200,
      body: { action: 'allow', reason: 'non_global_ip', ip: c.from, source: 'socket', score: null },
    })
    expect(sim.calls).toBe(0)
  })

  it('a forged X-Forwarded-For from loopback does not choose the IP (trustProxy is off)', async () => {
    const risk = resolver({ development: { scoreLocalAddresses: true }, blocklist: false }) // a cold cache
    const fresh = await startApp(risk)
    try {
      const forged = { 'x-forwarded-for': '127.0.0.40', 'x-real-ip': '127.0.0.40', forwarded: 'for=127.0.0.40' }
      expect(await call(fresh, '127.0.0.1', forged)).toEqual({
        status: 200,
        body: { action: 'allow', reason: 'clean', ip: '127.0.0.1', source: 'socket', score: 5 },
      })
      // ... nor launder a flagged caller
      expect(await call(fresh, '127.0.0.40', { 'x-forwarded-for': '127.0.0.1' })).toMatchObject({
        status: 403,
        body: { reason: 'tor_exit_node', ip: '127.0.0.40', source: 'socket' },
      })
      // The simulator was asked about the two callers, never about what their headers claimed first.
      expect(sim.requests.map((r) => r.ip)).toEqual(['127.0.0.1', '127.0.0.40'])
    } finally {
      await new Promise((resolve) => fresh.close(resolve))
    }
  })

  it('property: whatever forwarding headers a loopback caller sends, its socket address is the one scored', async () => {
    const claimed = fc.oneof(
      fc.constantFrom('127.0.0.1', '127.0.0.20', '127.0.0.40', '127.0.0.60', '203.0.113.40', '::1', '2001:db8::40'),
      fc.ipV4(),
      fc.ipV6(),
    )
    const headerList = fc.array(claimed, { minLength: 1, maxLength: 4 }).map((list) => list.join(', '))
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('127.0.0.1', '127.0.0.20', '127.0.0.40'),
        fc.record(
          {
            'x-forwarded-for': headerList,
            'x-real-ip': claimed,
            'cf-connecting-ip': claimed,
            forwarded: claimed.map((ip) => `for="${ip.includes(':') ? `[${ip}]` : ip}"`),
          },
          { requiredKeys: [] },
        ),
        async (from, headers) => {
          const got = await call(app, from, headers)
          expect(got.body.ip).toBe(from)
          expect(got.body.source).toBe('socket')
          expect(got.body.reason).toBe({ '127.0.0.1': 'clean', '127.0.0.20': 'vpn_detected', '127.0.0.40': 'tor_exit_node' }[from])
        },
      ),
      { seed: 17, numRuns: 40 },
    )
  })
})
