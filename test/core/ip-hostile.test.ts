/**
 * A request object that throws while it is read — a getter on `headers`, `socket` or `remoteAddress`, a Proxy trap
 * (`get`, `ownKeys`, `getOwnPropertyDescriptor`, `has`), a Headers-like `get` / `has` that throws, a revoked Proxy,
 * a header value array that throws — never makes the client-IP reader (or the resolver's `clientIp` / `fromRequest`)
 * throw (issue #15, item 11). What such a request would have said is unknown, so its answer is "no IP"
 * (`{ ip: null, source: null, kind: null }`): never the address of the proxy that forwarded it. An untrusted peer's
 * headers are never read, so its answer is still its own address.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { compileTrust, createClientIpReader, parseIp, type ClientIpOptions, type TrustProxy } from '../../src/core/ip.js'
import { platforms } from '../../src/core/platforms.js'
import { createRiskResolver } from '../../src/core/resolver.js'
import type { ClientIp, RequestLike, RiskResolver } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const NO_IP: ClientIp = { ip: null, source: null, kind: null }
const boom = (): never => {
  throw new Error('hostile request')
}

/** A revoked Proxy: every operation on it throws a TypeError. */
function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

/** A plain headers object behind a Proxy whose `trap` throws. */
function trapping(trap: keyof ProxyHandler<object>, headers: Record<string, unknown>): object {
  return new Proxy(headers, { [trap]: boom })
}

/** A Headers-like object (`get` and `has`) of which `throwing` throw. */
function headersLike(values: Record<string, string>, throwing: { get?: boolean; has?: boolean }): object {
  return {
    get: (name: string) => (throwing.get === true ? boom() : (values[name] ?? null)),
    has: (name: string) => (throwing.has === true ? boom() : name in values),
  }
}

/** An array (Array.isArray is true for a Proxy of one) whose `trap` throws. */
function hostileArray(values: string[], trap: 'get' | 'getOwnPropertyDescriptor'): string[] {
  return new Proxy(values, { [trap]: boom })
}

const XFF = { 'x-forwarded-for': '203.0.113.7' }
const PROXY = { remoteAddress: '127.0.0.1' } // a trusted proxy under trustProxy: 'loopback'
const FROM_XFF: ClientIp = { ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' }

// ---------------------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------------------

describe('createClientIpReader never throws on a hostile request object', () => {
  const read = createClientIpReader({ trustProxy: 'loopback' })

  it.each([
    // Behind the trusted proxy: the headers are read, and a header that cannot be read makes the client unknown.
    ['a `headers` getter that throws', { get headers() { return boom() }, socket: PROXY }, NO_IP],
    ['headers behind a Proxy whose `get` throws', { headers: trapping('get', XFF), socket: PROXY }, NO_IP],
    ['headers behind a Proxy whose `ownKeys` throws (name not in lower case: the keys are listed)', { headers: trapping('ownKeys', { 'X-Forwarded-For': '203.0.113.7' }), socket: PROXY }, NO_IP],
    ['headers behind a Proxy whose `getOwnPropertyDescriptor` throws (keys listed)', { headers: trapping('getOwnPropertyDescriptor', { 'X-Forwarded-For': '203.0.113.7' }), socket: PROXY }, NO_IP],
    ['headers whose prototype is a Proxy that throws (a missing name is looked up there)', { headers: Object.create(trapping('get', {})) as object, socket: PROXY }, NO_IP],
    ['a Headers-like object whose `get` throws', { headers: headersLike(XFF, { get: true }), socket: PROXY }, NO_IP],
    ['a Headers-like object whose `get` getter throws', { headers: { get get() { return boom() } }, socket: PROXY }, NO_IP],
    ['a revoked Proxy as headers', { headers: revoked(), socket: PROXY }, NO_IP],
    ['an X-Forwarded-For array whose elements throw', { headers: { 'x-forwarded-for': hostileArray(['203.0.113.7'], 'get') }, socket: PROXY }, NO_IP],
    // The peer cannot be read: no IP.
    ['a `socket` getter that throws', { headers: XFF, get socket() { return boom() } }, NO_IP],
    ['a `socket.remoteAddress` getter that throws', { headers: XFF, socket: { get remoteAddress() { return boom() } } }, NO_IP],
    ['a `remoteAddress` getter that throws (no socket)', { headers: XFF, get remoteAddress() { return boom() } }, NO_IP],
    ['a revoked Proxy as socket', { headers: XFF, socket: revoked() }, NO_IP],
    ['a revoked Proxy as the request', revoked(), NO_IP],
    ['a request behind a Proxy whose `get` throws', trapping('get', { headers: XFF, socket: PROXY }), NO_IP],
    // Traps the reader does not use, and odd but harmless objects: answered normally.
    ['headers behind a Proxy whose `has` throws (the reader never uses `in`)', { headers: trapping('has', XFF), socket: PROXY }, FROM_XFF],
    ['headers behind a Proxy whose `ownKeys` throws, name already lower case (no listing needed)', { headers: trapping('ownKeys', XFF), socket: PROXY }, FROM_XFF],
    ['a Headers-like object whose `has` throws (the reader only calls `get`)', { headers: headersLike(XFF, { has: true }), socket: PROXY }, FROM_XFF],
    ['a frozen request with frozen headers', Object.freeze({ headers: Object.freeze({ ...XFF }), socket: Object.freeze({ ...PROXY }) }), FROM_XFF],
    ['headers with a null prototype', { headers: Object.assign(Object.create(null) as object, XFF), socket: PROXY }, FROM_XFF],
    ['a request with a null prototype', Object.assign(Object.create(null) as object, { headers: XFF, socket: PROXY }), FROM_XFF],
    ['a remoteAddress whose toString throws (not a string: ignored)', { headers: XFF, socket: { remoteAddress: { toString: boom } } }, NO_IP],
  ] as [string, unknown, ClientIp][])('%s', (_name, req, expected) => {
    expect(read(req as RequestLike)).toEqual(expected)
  })

  it.each([
    ['a `headers` getter that throws', { get headers() { return boom() }, socket: { remoteAddress: '198.51.100.4' } }],
    ['headers behind a Proxy whose `get` throws', { headers: trapping('get', XFF), socket: { remoteAddress: '198.51.100.4' } }],
    ['a revoked Proxy as headers', { headers: revoked(), socket: { remoteAddress: '198.51.100.4' } }],
  ] as [string, RequestLike][])('an untrusted peer is the client whatever its headers do: %s', (_name, req) => {
    expect(read(req)).toEqual({ ip: '198.51.100.4', source: 'socket', kind: 'documentation' })
  })

  it('an explicit untrusted peer address is the client even when the request itself is revoked', () => {
    expect(read(revoked() as RequestLike, '198.51.100.4')).toEqual({ ip: '198.51.100.4', source: 'socket', kind: 'documentation' })
  })

  it('a trusted proxy whose request headers cannot be read is never reported as the client', () => {
    // Before: a Headers-like `get` that threw was read as "no header", and the proxy (127.0.0.1) became the client.
    const req = { headers: headersLike(XFF, { get: true }), socket: PROXY } as unknown as RequestLike
    expect(read(req)).toEqual(NO_IP)
    expect(createClientIpReader({ trustProxy: 'loopback', headers: ['x-real-ip', 'forwarded'] })(req)).toEqual(NO_IP)
  })

  it('after a hostile request, the next ordinary request from the same proxy is read normally (no state is left behind)', () => {
    expect(read({ headers: trapping('get', XFF), socket: PROXY } as unknown as RequestLike)).toEqual(NO_IP)
    expect(read({ headers: XFF, socket: PROXY })).toEqual(FROM_XFF)
  })
})

describe.each([
  ['platforms.reverseProxy()', platforms.reverseProxy()],
  ["platforms.cloudflare({ behind: 'loopback' })", platforms.cloudflare({ behind: 'loopback' })],
  ['platforms.fly()', platforms.fly()],
  ['platforms.vercel()', platforms.vercel()],
  ["platforms.awsAlb({ vpc: '127.0.0.0/8' })", platforms.awsAlb({ vpc: '127.0.0.0/8' })],
] as [string, TrustProxy][])('a platform preset reader never throws on a hostile request object: %s', (_preset, trustProxy) => {
  const read = createClientIpReader({ trustProxy })
  it.each([
    ['a `headers` getter that throws', { get headers() { return boom() }, socket: PROXY }],
    ['headers behind a Proxy whose `get` throws', { headers: trapping('get', XFF), socket: PROXY }],
    ['a Headers-like object whose `get` throws', { headers: headersLike(XFF, { get: true }), socket: PROXY }],
    ['a revoked Proxy as headers', { headers: revoked(), socket: PROXY }],
    ['a revoked Proxy as the request', revoked()],
  ] as [string, unknown][])('%s: no IP', (_name, req) => {
    expect(read(req as RequestLike)).toEqual(NO_IP)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Through the resolver
// ---------------------------------------------------------------------------------------------------------------------

describe('the resolver’s clientIp and fromRequest never throw on a hostile request object', () => {
  const open: RiskResolver[] = []
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close()
  })
  function resolver(trustProxy?: TrustProxy) {
    const logger = { info: vi.fn(), warn: vi.fn() }
    const provider = createMemoryProvider({})
    const r = createRiskResolver({ provider, scoreDocumentationRanges: true, logger, ...(trustProxy === undefined ? {} : { trustProxy }) })
    open.push(r)
    return { r, logger, provider }
  }

  it.each([
    ['a `headers` getter that throws', { get headers() { return boom() }, socket: PROXY }],
    ['a Headers-like object whose `has` throws', { headers: headersLike(XFF, { has: true }), socket: PROXY }],
    ['headers behind a Proxy whose `get` throws', { headers: trapping('get', XFF), socket: PROXY }],
    ['a revoked Proxy as headers', { headers: revoked(), socket: PROXY }],
  ] as [string, RequestLike][])(
    'without trustProxy, a local peer with %s: the peer is the client, and the "X-Forwarded-For ignored" check does not throw',
    async (_name, req) => {
      const { r, logger } = resolver()
      expect(r.clientIp(req)).toEqual({ ip: '127.0.0.1', source: 'socket', kind: 'loopback' })
      expect(await r.fromRequest(req)).toMatchObject({ ip: '127.0.0.1', status: 'skipped', ipKind: 'loopback' })
      expect(logger.warn).not.toHaveBeenCalled()
    },
  )

  it.each([
    ['a `headers` getter that throws', { get headers() { return boom() }, socket: PROXY }],
    ['a `socket` getter that throws', { headers: XFF, get socket() { return boom() } }],
    ['headers behind a Proxy whose `ownKeys` throws', { headers: trapping('ownKeys', { 'X-Forwarded-For': '203.0.113.7' }), socket: PROXY }],
    ['a revoked Proxy as the request', revoked()],
  ] as [string, RequestLike][])('behind a trusted proxy, %s: no IP, and the lookup answers unavailable / no_ip without calling the provider', async (_name, req) => {
    const { r, provider } = resolver('loopback')
    expect(r.clientIp(req)).toEqual(NO_IP)
    expect(await r.fromRequest(req)).toMatchObject({ ip: null, status: 'unavailable', error: 'no_ip' })
    expect(provider.calls).toBe(0)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Property: a hostile request never throws, and never yields an IP its plain twin would not
// ---------------------------------------------------------------------------------------------------------------------

/** Where a request can be made to throw. */
const TRAPS = [
  'req.headers',
  'req.socket',
  'req.remoteAddress',
  'socket.remoteAddress',
  'headers.get',
  'headers.ownKeys',
  'headers.getOwnPropertyDescriptor',
  'headers.has',
  'headersLike.get',
  'headersLike.has',
  'xff.array',
  'req.revoked',
] as const
type Trap = (typeof TRAPS)[number]

interface Spec {
  peer: string | undefined
  peerOnSocket: boolean
  xff: string | string[] | undefined
  realIp: string | undefined
  /** Header names as written: lower case (Node) or capitalized (a user's object: listed with Object.keys). */
  capitalized: boolean
  headersKind: 'plain' | 'nullPrototype' | 'headersLike'
  frozen: boolean
  armed: ReadonlySet<Trap>
}

/** The request described by `spec`, with the armed traps throwing (`hostile`) or not (its plain twin). */
function build(spec: Spec, hostile: boolean): RequestLike {
  const armed = (t: Trap): boolean => hostile && spec.armed.has(t)
  const names = spec.capitalized ? { xff: 'X-Forwarded-For', realIp: 'X-Real-IP' } : { xff: 'x-forwarded-for', realIp: 'x-real-ip' }
  const values: Record<string, unknown> = {}
  if (spec.xff !== undefined) {
    values[names.xff] = Array.isArray(spec.xff) && armed('xff.array') ? hostileArray([...spec.xff], 'get') : spec.xff
  }
  if (spec.realIp !== undefined) values[names.realIp] = spec.realIp
  let headers: object
  if (spec.headersKind === 'headersLike') {
    // A fetch Headers joins repeated values into one string.
    const joined: Record<string, string> = {}
    if (spec.xff !== undefined) joined['x-forwarded-for'] = Array.isArray(spec.xff) ? spec.xff.join(', ') : spec.xff
    if (spec.realIp !== undefined) joined['x-real-ip'] = spec.realIp
    headers = headersLike(joined, { get: armed('headersLike.get'), has: armed('headersLike.has') })
  } else {
    headers = spec.headersKind === 'nullPrototype' ? Object.assign(Object.create(null) as object, values) : values
  }
  if (spec.frozen) Object.freeze(headers) // before the Proxy: freezing one calls its traps
  const traps: ProxyHandler<object> = {}
  for (const trap of ['get', 'ownKeys', 'getOwnPropertyDescriptor', 'has'] as const) {
    if (armed(`headers.${trap}`)) traps[trap] = boom
  }
  if (Object.keys(traps).length > 0) headers = new Proxy(headers, traps)

  const socket: Record<string, unknown> = {}
  if (spec.peerOnSocket) {
    if (armed('socket.remoteAddress')) Object.defineProperty(socket, 'remoteAddress', { get: boom, enumerable: true })
    else socket.remoteAddress = spec.peer
  }
  const req: Record<string, unknown> = {}
  const define = (name: string, value: unknown, trap: Trap): void => {
    if (armed(trap)) Object.defineProperty(req, name, { get: boom, enumerable: true })
    else req[name] = value
  }
  define('headers', headers, 'req.headers')
  define('socket', spec.peerOnSocket ? socket : undefined, 'req.socket')
  define('remoteAddress', spec.peerOnSocket ? undefined : spec.peer, 'req.remoteAddress')
  if (spec.frozen) Object.freeze(req)
  return (armed('req.revoked') ? revoked() : req) as RequestLike
}

describe('hostile request objects (fast-check)', () => {
  const address = fc.constantFrom('127.0.0.1', '::1', '10.0.0.2', '198.51.100.4', '203.0.113.7', '2001:db8::9', '64:ff9b::808:808', 'junk')
  const spec: fc.Arbitrary<Spec> = fc.record({
    peer: fc.option(address, { nil: undefined }),
    peerOnSocket: fc.boolean(),
    xff: fc.option(
      fc.oneof(
        fc.array(address, { minLength: 1, maxLength: 4 }).map((a) => a.join(', ')),
        fc.array(address, { minLength: 1, maxLength: 3 }),
      ),
      { nil: undefined },
    ),
    realIp: fc.option(address, { nil: undefined }),
    capitalized: fc.boolean(),
    headersKind: fc.constantFrom('plain', 'nullPrototype', 'headersLike'),
    frozen: fc.boolean(),
    armed: fc.subarray([...TRAPS], { maxLength: 3 }).map((t) => new Set(t)),
  })
  const options = fc.record(
    {
      trustProxy: fc.constantFrom<TrustProxy>(false, true, 'loopback', 'loopback, 10.0.0.0/8', 2, (addr: string) => addr === '127.0.0.1'),
      headers: fc.subarray(['x-real-ip', 'forwarded'] as const),
    },
    { requiredKeys: ['trustProxy'] },
  )

  it('never throws; the answer is "no IP" or what the same request without its traps answers; a trusted peer is never the answer when its headers cannot be read', async () => {
    const resolvers = new Map<string, RiskResolver>()
    let refused = 0 // runs where a trap turned what the plain twin answers into "no IP"
    fc.assert(
      fc.property(spec, options, fc.option(address, { nil: undefined }), (s, o, explicitPeer) => {
        const read = createClientIpReader(o as ClientIpOptions)
        const twin = createClientIpReader(o as ClientIpOptions)(build(s, false), explicitPeer)
        const got = read(build(s, true), explicitPeer)
        if (s.armed.size === 0) expect(got).toEqual(twin)
        else expect([NO_IP, twin]).toContainEqual(got)
        if (got.ip === null && twin.ip !== null) refused++
        // A trusted peer's headers are always read: when they cannot be, the proxy never stands in for the client.
        const peer = parseIp(explicitPeer ?? s.peer ?? '')
        const headersUnreadable =
          ['req.headers', 'headers.get', 'req.revoked'].some((t) => s.armed.has(t as Trap)) ||
          (s.armed.has('headersLike.get') && s.headersKind === 'headersLike')
        if (peer !== null && compileTrust(o.trustProxy)(peer, 0) && headersUnreadable) expect(got).toEqual(NO_IP)
        // The resolver's clientIp (with its "X-Forwarded-For ignored" check when trustProxy is off) agrees.
        const key = `${typeof o.trustProxy === 'function' ? 'fn' : JSON.stringify(o.trustProxy)} ${JSON.stringify(o.headers ?? [])}`
        let r = resolvers.get(key)
        if (r === undefined) {
          r = createRiskResolver({ provider: createMemoryProvider({}), trustProxy: o.trustProxy, clientIpHeaders: o.headers, logger: { info() {}, warn() {} } })
          resolvers.set(key, r)
        }
        expect(r.clientIp(build(s, true), explicitPeer)).toEqual(got)
      }),
      { numRuns: 2_000 },
    )
    for (const r of resolvers.values()) await r.close()
    expect(refused, 'the traps were reached').toBeGreaterThan(50)
  })
})
