/**
 * Hostile input, end to end: arbitrary forwarding headers and peer addresses through the resolver (with a spy
 * provider) and through real HTTP (with the real provider on the simulator), giant headers, and header lists with
 * hundreds of thousands of entries.
 *
 * Promises checked: no throw, no hang, no 5xx; the client IP is always the socket peer or a complete header entry
 * (never a fragment, never a non-canonical spelling); the provider only ever receives a canonical, global IP that
 * appeared as a complete entry of the request (so attacker text never reaches the upstream URL); the work done per
 * request is bounded by `maxHops`, whatever the header size (counted, not timed).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { createHTTPHandler } from '@trpc/server/adapters/standalone'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createRiskResolver,
  type Provider,
  type RequestLike,
  type RiskData,
  type RiskResolver,
  type TrustProxy,
} from '../../src/core/index.js'
import { classifyIp, compileTrust, parseIp } from '../../src/core/ip.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { createExampleYoga } from '../../examples/graphql/server.js'
import { createExampleRouter } from '../../examples/trpc/router.js'
import { captureConsole, createEvidence, SECRET_API_KEY, watchProcess } from './helpers/evidence.js'
import { createHttpClient, startSimulator, startStack, type HttpClient, type Stack } from './helpers/stack.js'
import { embeddedIpv4Oracle } from '../support/embedded.js'

/** The client the resolver treats an address as: the IPv4 client a NAT64 / 6to4 / Teredo address embeds, else itself. */
const asClient = (ip: string): string => (ip.includes(':') ? (embeddedIpv4Oracle(ip) ?? ip) : ip)

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)

/** The default `maxHops` of the client-IP reader. */
const MAX_HOPS = 32
const OPTIONAL_HEADERS = ['x-real-ip', 'cf-connecting-ip', 'forwarded'] as const

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

const octet = fc.nat(255)
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'))
const port = fc.integer({ min: 1, max: 65535 })
const ipv6 = fc.ipV6()

/** Text written to get something into the upstream URL or past the parser. */
const ATTACKS = [
  '8.8.8.8/../../admin',
  '8.8.8.8/../v1/ip/1.1.1.1',
  '8.8.8.8?apiKey=x',
  '8.8.8.8#frag',
  '8.8.8.8%2f..%2f',
  '8.8.8.8 HTTP/1.1',
  '8.8.8.8;DROP TABLE',
  '%38.8.8.8',
  '0x08.8.8.8',
  '010.8.8.8',
  '134744072',
  '8.8.2056',
  '[8.8.8.8]',
  '[::ffff:8.8.8.8]/x',
  '::ffff:8.8.8.8/64',
  '2001:4860::8888/32',
  'fe80::1%eth0/../x',
  'fe80::1%25eth0',
  '١٢٧.٠.٠.١',
  '８.８.８.８',
  'unknown',
  '_hidden',
  'for=8.8.8.8',
  '"8.8.8.8"',
  '',
  ' ',
  '\t',
]

/** One header entry: an address in some spelling, or hostile text. */
const entry = fc.oneof(
  { weight: 3, arbitrary: ipv4 },
  { weight: 1, arbitrary: fc.tuple(ipv4, port).map(([ip, p]) => `${ip}:${p}`) },
  { weight: 2, arbitrary: ipv6 },
  { weight: 1, arbitrary: fc.tuple(ipv6, port).map(([ip, p]) => `[${ip.toUpperCase()}]:${p}`) },
  { weight: 1, arbitrary: ipv4.map((ip) => `::FFFF:${ip}`) },
  { weight: 2, arbitrary: fc.constantFrom('127.0.0.1', '::1', '10.1.2.3', '192.168.0.9', '203.0.113.9', '2001:db8::9', '64:ff9b::808:808', '2002:808:808::1') },
  { weight: 3, arbitrary: fc.constantFrom(...ATTACKS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
)
const ows = fc.constantFrom('', ' ', '\t', '  ')
const list = fc
  .array(fc.tuple(ows, entry, ows).map(([a, e, b]) => `${a}${e}${b}`), { maxLength: 10 })
  .map((entries) => entries.join(','))
const forwardedNode = fc.oneof(
  ipv4,
  fc.tuple(ipv4, port).map(([ip, p]) => `"${ip}:${p}"`),
  ipv6.map((ip) => `"[${ip}]"`),
  fc.constantFrom(...ATTACKS).map((a) => `"${a.replace(/["\\]/g, '')}"`),
)
const forwardedValue = fc
  .array(
    fc.tuple(forwardedNode, fc.constantFrom('', ';proto=https', ';by=10.0.0.1')).map(([n, extra]) => `for=${n}${extra}`),
    { maxLength: 6 },
  )
  .map((elements) => elements.join(', '))
/** A header value: a list, free text, or (as Node gives repeated headers) an array of values. */
const headerValue = (value: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 4, arbitrary: value },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 1, arbitrary: fc.array(value, { minLength: 1, maxLength: 3 }) },
  )
const peer = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '::1', '10.0.0.5', '198.51.100.200') },
  { weight: 2, arbitrary: ipv4 },
  { weight: 1, arbitrary: ipv6 },
  { weight: 1, arbitrary: fc.constantFrom(...ATTACKS) },
)
const trustSetting = fc.constantFrom<TrustProxy>(false, true, 'loopback', 'loopback, private', '10.0.0.0/8', 1, 3)

// ---------------------------------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------------------------------

const flat = (v: string | string[] | undefined): string => (v === undefined ? '' : typeof v === 'string' ? v : v.join(','))

/** Every address a request names as a complete entry (of any header the reader may read), plus its peer. */
function candidates(peerText: string, headers: Record<string, string | string[] | undefined>): Set<string> {
  const out = new Set<string>()
  const add = (text: string): void => {
    const ip = parseIp(text)
    if (ip !== null) out.add(ip)
  }
  add(peerText)
  for (const piece of flat(headers['x-forwarded-for']).split(',')) add(piece)
  for (const name of ['x-real-ip', 'cf-connecting-ip'] as const) {
    const v = headers[name]
    if (typeof v === 'string') add(v)
    else if (Array.isArray(v) && v.length === 1) add(v[0] ?? '')
  }
  for (const element of flat(headers.forwarded).split(',')) {
    for (const pair of element.split(';')) {
      const m = /^\s*for\s*=\s*(.*?)\s*$/i.exec(pair)
      if (m === null) continue
      let v = m[1] ?? ''
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1')
      add(v.replace(/:_[A-Za-z0-9._-]+$/, ''))
    }
  }
  return out
}

/** A provider that records what it is asked (never called with anything but a validated IP, says the contract). */
function recordingProvider(): Provider & { asked: string[] } {
  const asked: string[] = []
  const data: RiskData = { score: 1, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'US', asn: 1, isp: 'x' }
  return {
    name: 'recording',
    asked,
    async lookup(ip: string) {
      asked.push(ip)
      return data
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------------

describe('arbitrary headers and peers through the resolver (spy provider)', () => {
  // One resolver per setting (creating one per run would dominate the run time); L1 off, so that every lookup of
  // every run reaches the provider and is checked.
  const provider = recordingProvider()
  const resolvers = new Map<string, RiskResolver>()
  function resolverFor(trustProxy: TrustProxy, clientIpHeaders: (typeof OPTIONAL_HEADERS)[number][]): RiskResolver {
    const key = JSON.stringify([trustProxy, clientIpHeaders])
    let resolver = resolvers.get(key)
    if (resolver === undefined) {
      resolver = createRiskResolver({
        provider,
        trustProxy,
        clientIpHeaders,
        breaker: false,
        cache: { l1: false },
        logger: evidence.logger,
      })
      resolvers.set(key, resolver)
    }
    return resolver
  }
  afterAll(async () => {
    for (const resolver of resolvers.values()) await resolver.close()
  })

  it('never throws; the client IP is the peer or a complete entry; the provider only gets canonical global IPs the request named', async () => {
    await fc.assert(
      fc.asyncProperty(
        peer,
        fc.record(
          {
            'x-forwarded-for': headerValue(list),
            'x-real-ip': headerValue(entry),
            'cf-connecting-ip': headerValue(entry),
            forwarded: headerValue(forwardedValue),
          },
          { requiredKeys: [] },
        ),
        trustSetting,
        fc.subarray([...OPTIONAL_HEADERS]),
        async (peerText, headers, trustProxy, clientIpHeaders) => {
          const resolver = resolverFor(trustProxy, clientIpHeaders)
          provider.asked.length = 0
          const req: RequestLike = { headers, socket: { remoteAddress: peerText } }
          const got = resolver.clientIp(req)
          const risk = await resolver.fromRequest(req)
          const allowed = candidates(peerText, headers)
          const socket = parseIp(peerText)
          if (socket === null) {
            expect(got.ip).toBeNull()
          } else {
            expect(got.ip).not.toBeNull()
            expect(allowed.has(got.ip as string), `${String(got.ip)} is the peer or a complete entry`).toBe(true)
            expect(got.ip).toBe(parseIp(got.ip as string)) // canonical
            expect(got.kind).toBe(classifyIp(got.ip as string))
            const trust = compileTrust(trustProxy)
            if (!trust(socket, 0)) expect([got.ip, got.source]).toEqual([socket, 'socket'])
            if (got.source === 'x-forwarded-for') {
              // A trusted hop's claim: every entry right of the chosen one (its reporters) is valid and trusted.
              const entries = flat(headers['x-forwarded-for']).split(',').reverse()
              const k = entries.findIndex(
                (e, i) =>
                  i < MAX_HOPS &&
                  parseIp(e) === got.ip &&
                  entries.slice(0, i).every((r, j) => {
                    const hop = parseIp(r)
                    return hop !== null && trust(hop, j + 1)
                  }),
              )
              expect(k, `${String(got.ip)} sits behind trusted hops only`).toBeGreaterThanOrEqual(0)
            }
          }
          expect(risk.ip).toBe(got.ip === null ? null : asClient(got.ip))
          expect(provider.asked).toEqual(got.kind === 'global' ? [asClient(got.ip as string)] : [])
          for (const ip of provider.asked) expect(ip).toBe(parseIp(ip))
        },
      ),
      { numRuns: 1_000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('arbitrary X-Forwarded-For through real HTTP (example tRPC server, ipasis() on the simulator)', () => {
  let sim: IpasisSimulator
  let stack: Stack
  let http: HttpClient

  beforeAll(async () => {
    sim = await startSimulator()
    stack = await startStack({ simUrl: sim.url, evidence, resolver: { breaker: false } })
    http = createHttpClient(evidence)
  })
  afterAll(async () => {
    await http.close()
    await stack.close()
    await sim.close()
  })

  it('every answer is 200; whoami reports the peer or a complete entry; every upstream request path is /v1/ip/<that canonical IP>', async () => {
    // What an HTTP client can send: visible ASCII, space and tab (Node refuses the rest before sending).
    const sendable = list.filter((v) => /^[\t\x20-\x7e]*$/.test(v))
    await fc.assert(
      fc.asyncProperty(sendable, async (xff) => {
        const before = sim.requests.length
        const askedBefore = stack.provider.ips.length
        const outcome = await http.trpc(stack.trpc.url, 'whoami', { xff })
        expect(outcome.reply.status, outcome.reply.text).toBe(200)
        const ip = (outcome.reply.json as { result: { data: { ip: string | null } } }).result.data.ip
        // Node trims the header value; the peer is the loopback test client (trusted: 'loopback').
        const allowed = new Set([...candidates('127.0.0.1', { 'x-forwarded-for': xff.trim() })].map(asClient))
        expect(ip !== null && allowed.has(ip), `${String(ip)} from ${JSON.stringify(xff)}`).toBe(true)
        for (const asked of stack.provider.ips.slice(askedBefore)) expect(asked).toBe(ip)
        for (const request of sim.requests.slice(before)) {
          expect(request.url).toBe(`/v1/ip/${encodeURIComponent(ip as string)}`)
          expect(request.ip).toBe(ip)
        }
      }),
      // Random values reach the upstream only when they end on a global address (about a third of the runs): these
      // examples, run first, make sure the upstream path is exercised whatever the seed (distinct global clients,
      // plain and behind a trusted loopback hop).
      {
        numRuns: 80,
        examples: Array.from({ length: 24 }, (_, k) => [k % 2 === 0 ? `9.9.9.${k + 1}` : ` 9.9.9.${k + 1} , 127.0.0.1`] as [string]),
      },
    )
    expect(sim.calls, 'the property did reach the upstream').toBeGreaterThan(20)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('bounded work on huge forwarding headers (counted through a trust function and a counting array)', () => {
  /** A resolver whose trust function trusts every hop and counts how many addresses it was asked about. */
  function countingResolver(extra: { clientIpHeaders?: (typeof OPTIONAL_HEADERS)[number][]; maxHops?: number } = {}) {
    let calls = 0
    const resolver = createRiskResolver({
      provider: recordingProvider(),
      trustProxy: () => {
        calls++
        return true
      },
      ...extra,
    })
    return {
      resolver,
      get calls() {
        return calls
      },
      reset() {
        calls = 0
      },
    }
  }

  const MB = 1024 * 1024
  const repeatTo = (unit: string, bytes: number): string => unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes)

  it.each([1, 10, 100, 1_000, 10_000, 100_000, 1_000_000])(
    'X-Forwarded-For with %i entries: at most maxHops + 1 addresses examined',
    (n) => {
      const r = countingResolver()
      const xff = Array.from({ length: Math.min(n, 1_000) }, (_, i) => `11.0.${(i >> 8) & 255}.${i & 255}`).join(', ')
      const header = n <= 1_000 ? xff : `${repeatTo('11.1.1.1, ', (n - 1_000) * 10)}${xff}`
      const got = r.resolver.clientIp({ headers: { 'x-forwarded-for': header }, remoteAddress: '127.0.0.1' })
      expect(r.calls).toBe(Math.min(n, MAX_HOPS) + 1)
      expect(got.source).toBe('x-forwarded-for')
    },
  )

  it.each([
    ['1 MB of one entry without a comma', 'x-forwarded-for', repeatTo('1', MB), 1],
    ['1 MB of commas', 'x-forwarded-for', repeatTo(',', MB), 1],
    ['1 MB of spaces', 'x-forwarded-for', repeatTo(' ', MB), 1],
    ['1 MB of "1.2.3.4," entries', 'x-forwarded-for', repeatTo('1.2.3.4,', MB - 1) + '5', MAX_HOPS + 1],
    ['1 MB of IPv6 entries', 'x-forwarded-for', repeatTo('2001:4860::8888, ', MB) + '2001:4860::1', MAX_HOPS + 1],
    ['1 MB of binary noise', 'x-forwarded-for', Buffer.alloc(MB, 0xc3).toString('latin1'), 1],
    ['1 MB Forwarded of for= elements', 'forwarded', repeatTo('for=1.2.3.4;proto=http, ', MB) + 'for=1.2.3.5', MAX_HOPS + 1],
    ['1 MB Forwarded of one unterminated quote', 'forwarded', `for="${repeatTo('a', MB)}`, 1],
    ['1 MB X-Real-IP', 'x-real-ip', repeatTo('9', MB), 1],
  ] as const)('%s: no throw, at most maxHops + 1 addresses examined (%s)', (_name, header, value, expected) => {
    const r = countingResolver({ clientIpHeaders: [...OPTIONAL_HEADERS] })
    const got = r.resolver.clientIp({ headers: { [header]: value }, remoteAddress: '127.0.0.1' })
    expect(r.calls).toBe(expected)
    expect(got.ip).not.toBeNull()
  })

  it('a repeated header given as an array of 200 000 values: element reads bounded by maxHops, not by the array', () => {
    let reads = 0
    const values = Array.from({ length: 200_000 }, (_, i) => `11.2.${(i >> 8) & 255}.${i & 255}`)
    const counted = new Proxy(values, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++
        return Reflect.get(target, key, receiver) as unknown
      },
    })
    const r = countingResolver()
    const got = r.resolver.clientIp({ headers: { 'x-forwarded-for': counted }, remoteAddress: '127.0.0.1' })
    expect(got.source).toBe('x-forwarded-for')
    expect(r.calls).toBe(MAX_HOPS + 1)
    expect(reads).toBeLessThanOrEqual(MAX_HOPS + 2)
  })

  it.each([1, 8, 256, 1024])('maxHops %i bounds the walk the same way on 100 000 entries', (maxHops) => {
    const r = countingResolver({ maxHops })
    r.resolver.clientIp({ headers: { 'x-forwarded-for': repeatTo('11.3.3.3, ', 1_000_000) + '11.3.3.4' }, remoteAddress: '::1' })
    expect(r.calls).toBe(maxHops + 1)
  })
})

// ---------------------------------------------------------------------------------------------------------------------

describe('giant headers through real HTTP', () => {
  let sim: IpasisSimulator
  let stack: Stack
  let http: HttpClient
  const bigServers: Server[] = []
  /** ~60 KB: 5 000 entries, the real client last. */
  const SIXTY_KB = `${Array.from({ length: 5_000 }, (_, i) => `11.4.${(i >> 8) & 255}.${i & 255}`).join(', ')}, 198.51.100.77`

  async function listen(server: Server): Promise<string> {
    bigServers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  beforeAll(async () => {
    sim = await startSimulator()
    stack = await startStack({ simUrl: sim.url, evidence, resolver: { breaker: false } })
    http = createHttpClient(evidence)
  })
  afterAll(async () => {
    await http.close()
    for (const s of bigServers) {
      s.closeAllConnections()
      await new Promise((resolve) => s.close(resolve))
    }
    await stack.close()
    await sim.close()
  })

  it(`${Math.round(SIXTY_KB.length / 1024)} KB X-Forwarded-For to the example servers (Node's 16 KB header limit): 431 at once, and the next request is served`, async () => {
    const calls = sim.calls
    const trpc = await http.raw(`${stack.trpc.url}/whoami`, { headers: { 'x-forwarded-for': SIXTY_KB } })
    const yoga = await http.raw(stack.yoga.url, {
      method: 'POST',
      headers: { 'x-forwarded-for': SIXTY_KB, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ myRisk { ip } }' }),
    })
    expect([trpc.status, yoga.status]).toEqual([431, 431])
    expect(sim.calls).toBe(calls)
    expect((await http.trpc(stack.trpc.url, 'orders', { xff: '198.51.100.78' })).kind).toBe('ok')
    expect((await http.graphql(stack.yoga.url, '{ posts { id } }', { xff: '198.51.100.78' })).kind).toBe('ok')
  })

  it('the same header to the example router and schema on servers allowing 1 MB of headers: the rightmost untrusted entry is the client, scored once', async () => {
    const trpcUrl = await listen(
      createServer(
        { maxHeaderSize: 1024 * 1024 },
        createHTTPHandler({ router: createExampleRouter(stack.resolver), createContext: ({ req }) => ({ req }) }),
      ),
    )
    const yogaUrl = `${await listen(createServer({ maxHeaderSize: 1024 * 1024 }, createExampleYoga({ resolver: stack.resolver }).yoga))}/graphql`
    const who = await http.trpc(trpcUrl, 'whoami', { xff: SIXTY_KB })
    expect(who.kind).toBe('ok')
    expect((who.reply.json as { result: { data: { ip: string; status: string } } }).result.data).toMatchObject({
      ip: '198.51.100.77',
      status: 'scored',
    })
    const mine = await http.graphql(yogaUrl, 'mutation { login(email: "a@example.com", password: "pw") { token } }', { xff: SIXTY_KB })
    expect(mine.kind).toBe('ok')
    expect(sim.callsFor('198.51.100.77')).toBe(1)
    expect(sim.requests.every((r) => r.ip !== null && r.url === `/v1/ip/${r.ip}`)).toBe(true)
  })

  it('60 KB of trusted (loopback) hops: the walk stops after maxHops entries and never looks further left', async () => {
    const trusted = `11.5.5.5, ${Array.from({ length: 5_000 }, () => '127.0.0.1').join(', ')}`
    const trpcUrl = await listen(
      createServer(
        { maxHeaderSize: 1024 * 1024 },
        createHTTPHandler({ router: createExampleRouter(stack.resolver), createContext: ({ req }) => ({ req }) }),
      ),
    )
    const who = await http.trpc(trpcUrl, 'whoami', { xff: trusted })
    expect((who.reply.json as { result: { data: { ip: string } } }).result.data.ip).toBe('127.0.0.1')
    expect(sim.callsFor('11.5.5.5')).toBe(0)
  })
})

describe('process hygiene', () => {
  afterAll(() => {
    restoreConsole()
    watch.stop()
  })

  it('no unhandled rejection or uncaught exception happened in this suite', () => {
    expect(watch.failures).toEqual([])
  })

  it('the API key appears in no response, error, log line, security event or console output', () => {
    expect(evidence.counts().response).toBeGreaterThan(60)
    expect(evidence.find(SECRET_API_KEY)).toEqual([])
  })
})
