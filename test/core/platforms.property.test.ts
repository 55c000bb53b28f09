/**
 * Properties of every platform preset, over random forged header sets (fast-check; a failure prints the seed and path
 * to replay it with `{ seed, path }`):
 *
 * 1. Through the platform: a client sends any headers it likes (forged platform headers, forged X-Forwarded-For
 *    entries, lists, garbage); the platform then does what its documentation says (overwrites its header, appends to
 *    X-Forwarded-For). The reader answers exactly the client's address — never a value the client wrote.
 * 2. Around the platform (presets with ranges): a client outside the platform's addresses sends the same headers
 *    straight to the app, or to your own proxy in front of it. The reader answers that client's own address.
 */
import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { describe, expect, it } from 'vitest'
import { createClientIpReader, platforms, type ClientIp, type TrustProxy } from '../../src/core/index.js'
import { compileCidrList } from '../../src/core/cidr.js'
import { classifyIp, parseIp } from '../../src/core/ip.js'
import { CLOUDFLARE_IP_RANGES, GOOGLE_FRONT_END_RANGES } from '../../src/core/platforms.js'

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

const byte = fc.nat(255)
const ipv4 = fc.tuple(byte, byte, byte, byte).map((o) => o.join('.'))
const ipv6 = fc
  .array(fc.oneof(fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 })
  .map((g) => new ipaddr.IPv6(g).toRFC5952String())
const anyIp = fc.oneof(ipv4, ipv6)

/** A real client's address: routable on the Internet (documentation ranges included, as in the docs' examples). */
const clientAddress = anyIp.filter((ip) => {
  const kind = classifyIp(ip)
  return kind === 'global' || kind === 'documentation'
})

/** An address inside `cidr`, host bits from `random`. */
function addressIn(cidr: string, random: readonly number[]): string {
  const [base, prefix] = ipaddr.parseCIDR(cidr)
  const bytes = base.toByteArray()
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const i = bit >> 3
    const mask = 0x80 >> (bit & 7)
    bytes[i] = ((bytes[i] ?? 0) & ~mask) | ((random[i] ?? 0) & mask)
  }
  return ipaddr.fromByteArray(bytes).toString()
}
const inRanges = (ranges: readonly string[]): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...ranges), fc.array(byte, { minLength: 16, maxLength: 16 }))
    .map(([cidr, random]) => addressIn(cidr, random))

/** What a client may write in a header: addresses in any spelling, lists, ports, junk. */
const forgedValue = fc.oneof(
  { weight: 4, arbitrary: anyIp },
  { weight: 1, arbitrary: fc.tuple(ipv4, fc.nat(65535)).map(([ip, p]) => `${ip}:${p}`) },
  { weight: 1, arbitrary: fc.tuple(ipv6, fc.nat(65535)).map(([ip, p]) => `${ip}:${p}`) },
  { weight: 1, arbitrary: fc.tuple(ipv6, fc.nat(65535)).map(([ip, p]) => `[${ip.toUpperCase()}]:${p}`) },
  { weight: 1, arbitrary: ipv4.map((ip) => `::ffff:${ip}`) },
  { weight: 2, arbitrary: fc.array(anyIp, { minLength: 2, maxLength: 5 }).map((list) => list.join(', ')) },
  { weight: 1, arbitrary: fc.constantFrom('unknown', '', ' ', '127.0.0.1', '::1', '240.16.0.1', '1.2.3.4/../x', 'for=1.2.3.4') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
)

/** Every header a client could use to try to choose its address. */
const FORGEABLE = [
  'x-forwarded-for',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'fly-client-ip',
  'x-vercel-forwarded-for',
  'x-real-ip',
  'x-nf-client-connection-ip',
  'cloudfront-viewer-address',
  'x-azure-socketip',
  'x-azure-clientip',
  'x-azure-fdid',
  'fastly-client-ip',
  'true-client-ip',
  'forwarded',
] as const

type Headers = Record<string, string | string[]>

/** The client's own headers: some of FORGEABLE, each once or twice (a second line). */
const forgedHeaders: fc.Arbitrary<Headers> = fc
  .array(
    fc.tuple(
      fc.constantFrom(...FORGEABLE),
      fc.oneof({ weight: 4, arbitrary: forgedValue }, { weight: 1, arbitrary: fc.array(forgedValue, { minLength: 2, maxLength: 2 }) }),
    ),
    { maxLength: 8 },
  )
  .map((entries) => Object.fromEntries(entries) as Headers)

// ---------------------------------------------------------------------------------------------------------------------
// What the platforms do (per their documentation; see docs/client-ip.md)
// ---------------------------------------------------------------------------------------------------------------------

/** A proxy appending to X-Forwarded-For (a client's second header line is one list with the first). */
function append(headers: Headers, ...addresses: string[]): Headers {
  const current = headers['x-forwarded-for']
  const before = current === undefined ? [] : [typeof current === 'string' ? current : current.join(', ')]
  return { ...headers, 'x-forwarded-for': [...before, ...addresses].join(', ') }
}

const CLOUDFLARE = [...CLOUDFLARE_IP_RANGES.ipv4, ...CLOUDFLARE_IP_RANGES.ipv6]
const FRONT_DOOR_ID = '55ce4ed1-4b06-4bf1-b40e-4638452104da'

interface Through {
  peer: string
  headers: Headers
}

interface Platform {
  name: string
  preset: () => TrustProxy
  /** The preset's own addresses (to keep the client outside them); `null`: trusted by position. */
  ranges: readonly string[] | null
  /** Where the request comes from when it went through the platform. */
  edge: fc.Arbitrary<string>
  /** The platform handling a client's request: the request the app receives. */
  through: (forged: Headers, client: string, edge: string, extra: Extra) => Through
}

interface Extra {
  port: number
  /** Another address the platform writes (Fly's app address, the Google load balancer's address, ...). */
  other: string
  /** Fastly/Akamai: the connection was plain HTTP (Fastly then leaves X-Forwarded-For alone). */
  plainHttp: boolean
  /** Cloudflare: Pseudo IPv4 "Overwrite Headers" mode. */
  pseudo: boolean
}

const local = fc.constantFrom('127.0.0.1', '::1', '127.0.0.2')
const anyPeer = fc.oneof(anyIp, fc.constant('10.1.45.23'))

function cloudflareEdge(forged: Headers, client: string, pseudo: boolean): Headers {
  if (pseudo && client.includes(':')) {
    const stand = `240.${client.length}.0.1` // a Class E stand-in, as Cloudflare hashes one from the IPv6 address
    return append({ ...forged, 'cf-connecting-ip': stand, 'cf-connecting-ipv6': client }, stand)
  }
  return append({ ...forged, 'cf-connecting-ip': client }, client)
}

const PLATFORMS: Platform[] = [
  {
    name: 'cloudflare()',
    preset: () => platforms.cloudflare(),
    ranges: CLOUDFLARE,
    edge: inRanges(CLOUDFLARE),
    through: (forged, client, edge, { pseudo }) => ({ peer: edge, headers: cloudflareEdge(forged, client, pseudo) }),
  },
  {
    name: "cloudflare({ behind: 'loopback' })",
    preset: () => platforms.cloudflare({ behind: 'loopback' }),
    ranges: [...CLOUDFLARE, '127.0.0.0/8', '::1/128'],
    edge: inRanges(CLOUDFLARE),
    through: (forged, client, edge, { pseudo }) => ({
      peer: '127.0.0.1',
      headers: append(cloudflareEdge(forged, client, pseudo), edge),
    }),
  },
  {
    name: 'fly()',
    preset: () => platforms.fly(),
    ranges: null,
    edge: anyPeer,
    through: (forged, client, edge, { other }) => ({
      peer: edge,
      headers: append({ ...forged, 'fly-client-ip': client }, client, other),
    }),
  },
  {
    name: 'vercel()',
    preset: () => platforms.vercel(),
    ranges: null,
    edge: anyPeer,
    through: (forged, client, edge) => ({
      peer: edge,
      headers: { ...forged, 'x-vercel-forwarded-for': client, 'x-real-ip': client, 'x-forwarded-for': client },
    }),
  },
  {
    name: 'netlify()',
    preset: () => platforms.netlify(),
    ranges: null,
    edge: anyPeer,
    through: (forged, client, edge) => ({ peer: edge, headers: { ...forged, 'x-nf-client-connection-ip': client } }),
  },
  {
    name: "awsAlb({ vpc: '10.0.0.0/16' })",
    preset: () => platforms.awsAlb({ vpc: '10.0.0.0/16' }),
    ranges: ['10.0.0.0/16'],
    edge: inRanges(['10.0.0.0/16']),
    through: (forged, client, edge) => ({ peer: edge, headers: append(forged, client) }),
  },
  {
    name: "cloudfront({ ranges: '130.176.0.0/16' })",
    preset: () => platforms.cloudfront({ ranges: '130.176.0.0/16' }),
    ranges: ['130.176.0.0/16'],
    edge: inRanges(['130.176.0.0/16']),
    through: (forged, client, edge, { port }) => ({
      peer: edge,
      headers: append({ ...forged, 'cloudfront-viewer-address': `${client}:${port}` }, client),
    }),
  },
  {
    name: 'googleCloud()',
    preset: () => platforms.googleCloud(),
    ranges: GOOGLE_FRONT_END_RANGES,
    edge: inRanges(GOOGLE_FRONT_END_RANGES),
    through: (forged, client, edge, { other }) => ({ peer: edge, headers: append(forged, client, other) }),
  },
  {
    name: 'azureFrontDoor({ ranges, frontDoorId })',
    preset: () => platforms.azureFrontDoor({ ranges: '147.243.0.0/16', frontDoorId: FRONT_DOOR_ID }),
    ranges: ['147.243.0.0/16'],
    edge: inRanges(['147.243.0.0/16']),
    through: (forged, client, edge) => ({
      peer: edge,
      headers: append({ ...forged, 'x-azure-socketip': client, 'x-azure-fdid': FRONT_DOOR_ID }, client),
    }),
  },
  {
    name: 'fastly({ ranges })',
    preset: () => platforms.fastly({ ranges: ['151.101.0.0/16', '2a04:4e42::/32'] }),
    ranges: ['151.101.0.0/16', '2a04:4e42::/32'],
    edge: inRanges(['151.101.0.0/16', '2a04:4e42::/32']),
    through: (forged, client, edge, { plainHttp }) => {
      const headers = { ...forged, 'fastly-client-ip': client }
      return { peer: edge, headers: plainHttp ? headers : append(headers, client) }
    },
  },
  {
    name: 'akamai({ ranges })',
    preset: () => platforms.akamai({ ranges: '23.32.0.0/11' }),
    ranges: ['23.32.0.0/11'],
    edge: inRanges(['23.32.0.0/11']),
    through: (forged, client, edge, { plainHttp }) => {
      const headers = { ...forged, 'true-client-ip': client }
      return { peer: edge, headers: plainHttp ? headers : append(headers, client) }
    },
  },
  {
    name: 'heroku()',
    preset: () => platforms.heroku(),
    ranges: null,
    edge: anyPeer,
    through: (forged, client, edge) => ({ peer: edge, headers: append(forged, client) }),
  },
  {
    name: 'render()',
    preset: () => platforms.render(),
    ranges: CLOUDFLARE,
    edge: inRanges(CLOUDFLARE),
    through: (forged, client, edge) => ({ peer: '10.21.157.68', headers: append(cloudflareEdge(forged, client, false), edge) }),
  },
  {
    name: 'railway()',
    preset: () => platforms.railway(),
    ranges: null,
    edge: anyPeer,
    through: (forged, client, edge) => ({ peer: edge, headers: append({ ...forged, 'x-real-ip': client }, client) }),
  },
  {
    name: 'reverseProxy()',
    preset: () => platforms.reverseProxy(),
    ranges: ['127.0.0.0/8', '::1/128'],
    edge: local,
    through: (forged, client, edge) => ({ peer: edge, headers: append(forged, client) }),
  },
]

const extra: fc.Arbitrary<Extra> = fc.record({
  port: fc.integer({ min: 1, max: 65535 }),
  other: anyIp,
  plainHttp: fc.boolean(),
  pseudo: fc.boolean(),
})

function describeAnswer(got: ClientIp): string {
  return `${String(got.ip)} (${String(got.source)})`
}

// ---------------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------------

describe('through the platform, the client is the address the platform saw, whatever the client sent', () => {
  it.each(PLATFORMS.map((p) => [p.name, p] as const))('%s', (_name, platform) => {
    const read = createClientIpReader({ trustProxy: platform.preset() })
    const inside = platform.ranges === null ? () => false : compileCidrList(platform.ranges, 'test')
    fc.assert(
      fc.property(
        forgedHeaders,
        clientAddress.filter((ip) => !inside(ip)),
        platform.edge,
        extra,
        (forged, client, edge, more) => {
          const { peer, headers } = platform.through(forged, client, edge, more)
          const got = read({ headers }, peer)
          expect(describeAnswer(got), JSON.stringify({ peer, headers })).toContain(`${String(parseIp(client))} (`)
          expect(got.ip).toBe(parseIp(client))
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('around the platform, a client outside its addresses is itself, whatever it sends', () => {
  const ranged = PLATFORMS.filter((p) => p.ranges !== null && p.name !== 'render()')
  const withRanges: Platform[] = [
    ...ranged,
    {
      name: "fly({ ranges: 'fdaa::/16' })",
      preset: () => platforms.fly({ ranges: 'fdaa::/16' }),
      ranges: ['fdaa::/16'],
      edge: inRanges(['fdaa::/16']),
      through: () => {
        throw new Error('unused')
      },
    },
  ]

  it.each(withRanges.map((p) => [p.name, p] as const))('%s, straight to the app', (_name, platform) => {
    const read = createClientIpReader({ trustProxy: platform.preset() })
    const inside = compileCidrList(platform.ranges ?? [], 'test')
    fc.assert(
      fc.property(forgedHeaders, anyIp.filter((ip) => !inside(ip)), (forged, outsider) => {
        const got = read({ headers: forged }, outsider)
        expect({ ip: got.ip, source: got.source }).toEqual({ ip: parseIp(outsider), source: 'socket' })
      }),
      { numRuns: 300 },
    )
  })

  it.each(
    [
      ['cloudflare', () => platforms.cloudflare({ behind: 'loopback' }), CLOUDFLARE],
      ['cloudfront', () => platforms.cloudfront({ ranges: '130.176.0.0/16', behind: 'loopback' }), ['130.176.0.0/16']],
      ['googleCloud', () => platforms.googleCloud({ behind: 'loopback' }), GOOGLE_FRONT_END_RANGES],
      ['azureFrontDoor', () => platforms.azureFrontDoor({ ranges: '147.243.0.0/16', frontDoorId: FRONT_DOOR_ID, behind: 'loopback' }), ['147.243.0.0/16']],
      ['fastly', () => platforms.fastly({ ranges: '151.101.0.0/16', behind: 'loopback' }), ['151.101.0.0/16']],
      ['akamai', () => platforms.akamai({ ranges: '23.32.0.0/11', behind: 'loopback' }), ['23.32.0.0/11']],
      ['awsAlb', () => platforms.awsAlb({ vpc: '10.0.0.0/16', behind: 'loopback' }), ['10.0.0.0/16']],
      ['render (no Cloudflare edge)', () => platforms.render(), CLOUDFLARE],
    ] as const,
  )('%s, through your own proxy on this host (it appends the outsider)', (_name, preset, ranges) => {
    const read = createClientIpReader({ trustProxy: preset() })
    const inside = compileCidrList([...ranges, 'loopback'], 'test')
    fc.assert(
      fc.property(forgedHeaders, anyIp.filter((ip) => !inside(ip)), local, (forged, outsider, proxy) => {
        const got = read({ headers: append(forged, outsider) }, proxy)
        expect({ ip: got.ip, source: got.source }).toEqual({ ip: parseIp(outsider), source: 'x-forwarded-for' })
      }),
      { numRuns: 300 },
    )
  })
})
