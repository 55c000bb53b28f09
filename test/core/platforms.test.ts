/**
 * Platform presets, read with explicit peer addresses (the socket address the app would see). Each preset: the
 * platform's real header shape, and forged variants beside it — a client outside the platform sending the platform's
 * header, a client prepending forged `X-Forwarded-For` entries through the platform, a header sent twice. The real
 * HTTP tests are in platforms.http.test.ts, the properties in platforms.property.test.ts.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  diffRanges,
  parseRangeList,
  RANGES_MODULE,
  renderRangesModule,
} from '../../scripts/refresh-cloudflare-ranges.js'
import { IpRiskConfigError } from '../../src/core/errors.js'
import {
  createClientIpReader,
  platforms,
  type ClientIp,
  type RequestLike,
  type TrustProxy,
} from '../../src/core/index.js'
import { clientIp, compileTrust, type PlatformPreset } from '../../src/core/ip.js'
import {
  CLOUDFLARE_IP_RANGES,
  CLOUDFLARE_RANGES_MAX_AGE_DAYS,
  GOOGLE_FRONT_END_RANGES,
} from '../../src/core/platforms.js'
import { type IpSource } from '../../src/core/types.js'
import { configError } from '../support/errors.js'

type Headers = Record<string, string | string[]>

/** The client IP `preset` reads from a request with these headers, arriving from `peer`. */
function read(preset: TrustProxy, peer: string | undefined, headers: Headers = {}): ClientIp {
  return createClientIpReader({ trustProxy: preset })({ headers }, peer)
}

function expectClient(got: ClientIp, ip: string | null, source: IpSource | null): void {
  expect({ ip: got.ip, source: got.source }).toEqual({ ip, source })
}


const CF_EDGE = '173.245.48.5' // in 173.245.48.0/20
const CF_EDGE_V6 = '2606:4700:10::6816:1' // in 2606:4700::/32
const CLIENT = '203.0.113.7'
const FORGED = '198.51.100.66'
const OUTSIDER = '198.51.100.9' // connects without going through the platform

interface Case {
  name: string
  peer: string | undefined
  headers: Headers
  ip: string | null
  source: IpSource | null
}

function table(preset: () => TrustProxy, cases: Case[]): void {
  it.each(cases)('$name', ({ peer, headers, ip, source }) => {
    expectClient(read(preset(), peer, headers), ip, source)
  })
}

// ---------------------------------------------------------------------------------------------------------------------
// Cloudflare
// ---------------------------------------------------------------------------------------------------------------------

describe('platforms.cloudflare(): CF-Connecting-IP from peers in the bundled ranges', () => {
  table(
    () => platforms.cloudflare(),
    [
      {
        name: 'Cloudflare → app: CF-Connecting-IP',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': CLIENT, 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'an IPv6 edge and an IPv4-mapped socket address are Cloudflare too',
        peer: CF_EDGE_V6,
        headers: { 'cf-connecting-ip': '2001:db8:1::7' },
        ip: '2001:db8:1::7',
        source: 'cf-connecting-ip',
      },
      {
        name: 'the mapped form of an edge address',
        peer: `::ffff:${CF_EDGE}`,
        headers: { 'cf-connecting-ip': CLIENT },
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'no CF-Connecting-IP: the X-Forwarded-For entry Cloudflare appended',
        peer: CF_EDGE,
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'Pseudo IPv4 "Overwrite Headers": the real IPv6 from CF-Connecting-IPv6',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': '240.16.0.1', 'cf-connecting-ipv6': '2001:db8:cafe::17' },
        ip: '2001:db8:cafe::17',
        source: 'cf-connecting-ipv6',
      },
      {
        name: 'forged: CF-Connecting-IPv6 sent by a visitor next to a real CF-Connecting-IP is ignored',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': CLIENT, 'cf-connecting-ipv6': '2001:db8::66' },
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'forged: a CF-Connecting-IPv6 that is not IPv6 is ignored',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': '240.16.0.1', 'cf-connecting-ipv6': FORGED },
        ip: '240.16.0.1',
        source: 'cf-connecting-ip',
      },
      {
        name: 'forged: a client outside Cloudflare sends CF-Connecting-IP and X-Forwarded-For',
        peer: OUTSIDER,
        headers: { 'cf-connecting-ip': FORGED, 'cf-connecting-ipv6': '2001:db8::66', 'x-forwarded-for': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
      {
        name: 'forged: CF-Connecting-IP twice (the client’s and Cloudflare’s) is not one address',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': `${FORGED}, ${CLIENT}`, 'x-forwarded-for': CLIENT },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'a malformed CF-Connecting-IP is never the answer',
        peer: CF_EDGE,
        headers: { 'cf-connecting-ip': '1.2.3.4/../admin' },
        ip: CF_EDGE,
        source: 'socket',
      },
    ],
  )
})

describe('platforms.cloudflare({ behind }): Cloudflare → your nginx → app', () => {
  table(
    () => platforms.cloudflare({ behind: 'loopback' }),
    [
      {
        name: 'nginx appended the Cloudflare edge: CF-Connecting-IP',
        peer: '127.0.0.1',
        headers: { 'cf-connecting-ip': CLIENT, 'x-forwarded-for': `${FORGED}, ${CLIENT}, ${CF_EDGE}` },
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'forged: a client reaching nginx directly, with CF-Connecting-IP and a Cloudflare address in XFF',
        peer: '127.0.0.1',
        headers: { 'cf-connecting-ip': FORGED, 'x-forwarded-for': `${CF_EDGE}, ${OUTSIDER}` },
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a client reaching the app directly (not through nginx)',
        peer: OUTSIDER,
        headers: { 'cf-connecting-ip': FORGED, 'x-forwarded-for': `${FORGED}, ${CF_EDGE}` },
        ip: OUTSIDER,
        source: 'socket',
      },
      {
        name: 'nginx without X-Forwarded-For: the peer',
        peer: '127.0.0.1',
        headers: { 'cf-connecting-ip': FORGED },
        ip: '127.0.0.1',
        source: 'socket',
      },
    ],
  )
})

describe('platforms.cloudflare({ ranges }): a list of your own instead of the bundled one', () => {
  it('trusts the given ranges only', () => {
    const preset = platforms.cloudflare({ ranges: ['192.0.2.0/24'] })
    expectClient(read(preset, '192.0.2.10', { 'cf-connecting-ip': CLIENT }), CLIENT, 'cf-connecting-ip')
    expectClient(read(preset, CF_EDGE, { 'cf-connecting-ip': FORGED }), CF_EDGE, 'socket')
  })
})

describe('the bundled Cloudflare ranges', () => {
  it(`are fresh: taken less than CLOUDFLARE_RANGES_MAX_AGE_DAYS (${CLOUDFLARE_RANGES_MAX_AGE_DAYS}) days ago — else run scripts/refresh-cloudflare-ranges.ts`, () => {
    expect(CLOUDFLARE_IP_RANGES.takenOn).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    const takenOn = Date.parse(`${CLOUDFLARE_IP_RANGES.takenOn}T00:00:00Z`)
    const ageDays = (Date.now() - takenOn) / 86_400_000
    expect(ageDays).toBeGreaterThanOrEqual(-1) // not dated in the future
    expect(ageDays).toBeLessThan(CLOUDFLARE_RANGES_MAX_AGE_DAYS)
  })

  it('are the file the refresh script writes (the script can regenerate it byte for byte)', () => {
    expect(renderRangesModule(CLOUDFLARE_IP_RANGES)).toBe(readFileSync(RANGES_MODULE, 'utf8'))
  })

  it('are what the refresh script would accept', () => {
    expect(parseRangeList(CLOUDFLARE_IP_RANGES.ipv4.join('\n'), 4)).toEqual(CLOUDFLARE_IP_RANGES.ipv4)
    expect(parseRangeList(CLOUDFLARE_IP_RANGES.ipv6.join('\n'), 6)).toEqual(CLOUDFLARE_IP_RANGES.ipv6)
  })
})

describe('scripts/refresh-cloudflare-ranges.ts (offline parts)', () => {
  it('reads one range per line, ignoring blank lines and CRLF', () => {
    expect(parseRangeList('173.245.48.0/20\r\n\n103.21.244.0/22\n', 4)).toEqual(['173.245.48.0/20', '103.21.244.0/22'])
  })

  it.each([
    ['<html>error</html>', 4, 'line 1 is not an IPv4 CIDR range: "<html>error</html>"'],
    ['173.245.48.0', 4, 'line 1 is not an IPv4 CIDR range: "173.245.48.0"'],
    ['2400:cb00::/32', 4, 'line 1 is not an IPv4 CIDR range: "2400:cb00::/32"'],
    ['173.245.48.0/20', 6, 'line 1 is not an IPv6 CIDR range: "173.245.48.0/20"'],
    ['\n\n', 4, 'the IPv4 list is empty'],
  ] as const)('refuses %j as an IPv%d list', (text, family, message) => {
    expect(() => parseRangeList(text, family)).toThrow(message)
  })

  it('refuses an invalid prefix length', () => {
    expect(() => parseRangeList('173.245.48.0/20\n10.0.0.0/40', 4)).toThrow(IpRiskConfigError)
  })

  it('reports what a refresh changes', () => {
    expect(diffRanges(['a', 'b'], ['b', 'c'])).toEqual({ added: ['c'], removed: ['a'] })
  })

  it('renders a module whose provenance and date are those given', () => {
    const text = renderRangesModule({
      source: ['https://www.cloudflare.com/ips-v4', 'https://www.cloudflare.com/ips-v6'],
      takenOn: '2027-01-02',
      provenance: "Fetched by the script's test.",
      ipv4: ['192.0.2.0/24'],
      ipv6: ['2001:db8::/32'],
    })
    expect(text).toContain("takenOn: '2027-01-02',")
    expect(text).toContain("'Fetched by the script\\'s test.'")
    expect(text).toContain(" * Taken on 2027-01-02. Fetched by the script's test.\n")
    expect(text).toContain("    '192.0.2.0/24',\n  ]),")
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Platforms trusted by position
// ---------------------------------------------------------------------------------------------------------------------

describe('platforms.fly(): Fly-Client-IP, else the client before the app address Fly appends', () => {
  const FLY_APP_IP = '77.83.142.33'
  table(
    () => platforms.fly(),
    [
      {
        name: 'Fly-Client-IP',
        peer: '172.16.3.2',
        headers: { 'fly-client-ip': CLIENT, 'x-forwarded-for': `${FORGED}, ${CLIENT}, ${FLY_APP_IP}` },
        ip: CLIENT,
        source: 'fly-client-ip',
      },
      {
        name: 'no Fly-Client-IP: the entry before the app’s own address',
        peer: '172.16.3.2',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, ${FLY_APP_IP}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: Fly-Client-IP twice is not one address',
        peer: '172.16.3.2',
        headers: { 'fly-client-ip': [FORGED, CLIENT], 'x-forwarded-for': `${FORGED}, ${CLIENT}, ${FLY_APP_IP}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: X-Forwarded-For without Fly’s two entries never reaches the client-written part',
        peer: '172.16.3.2',
        headers: { 'x-forwarded-for': FLY_APP_IP },
        ip: '172.16.3.2',
        source: 'socket',
      },
    ],
  )

  it('with ranges, a hop outside them is not Fly', () => {
    const preset = platforms.fly({ ranges: 'fdaa::/16' })
    expectClient(read(preset, OUTSIDER, { 'fly-client-ip': FORGED }), OUTSIDER, 'socket')
    expectClient(read(preset, 'fdaa:0:1::3', { 'fly-client-ip': CLIENT }), CLIENT, 'fly-client-ip')
  })
})

describe('platforms.vercel(): x-vercel-forwarded-for, x-real-ip, X-Forwarded-For (all set by Vercel)', () => {
  table(
    () => platforms.vercel(),
    [
      {
        name: 'x-vercel-forwarded-for',
        peer: '169.254.100.6',
        headers: { 'x-vercel-forwarded-for': CLIENT, 'x-real-ip': CLIENT, 'x-forwarded-for': CLIENT },
        ip: CLIENT,
        source: 'x-vercel-forwarded-for',
      },
      {
        name: 'then x-real-ip',
        peer: '169.254.100.6',
        headers: { 'x-real-ip': CLIENT },
        ip: CLIENT,
        source: 'x-real-ip',
      },
      {
        name: 'then X-Forwarded-For',
        peer: '169.254.100.6',
        headers: { 'x-forwarded-for': CLIENT },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: x-vercel-forwarded-for twice is not one address',
        peer: '169.254.100.6',
        headers: { 'x-vercel-forwarded-for': `${FORGED}, ${CLIENT}`, 'x-real-ip': CLIENT },
        ip: CLIENT,
        source: 'x-real-ip',
      },
      {
        name: 'a route handler’s fetch Request has no peer address: the headers are read anyway',
        peer: undefined,
        headers: { 'x-vercel-forwarded-for': CLIENT },
        ip: CLIENT,
        source: 'x-vercel-forwarded-for',
      },
      {
        name: 'no peer and no header: no client IP',
        peer: undefined,
        headers: {},
        ip: null,
        source: null,
      },
    ],
  )

  it('reads a fetch Request without a peer address', () => {
    const request = new Request('https://example.vercel.app/', { headers: { 'x-vercel-forwarded-for': CLIENT } })
    expectClient(createClientIpReader({ trustProxy: platforms.vercel() })(request), CLIENT, 'x-vercel-forwarded-for')
  })
})

describe('platforms.netlify(): x-nf-client-connection-ip only', () => {
  table(
    () => platforms.netlify(),
    [
      {
        name: 'x-nf-client-connection-ip',
        peer: '10.0.0.8',
        headers: { 'x-nf-client-connection-ip': CLIENT, 'x-forwarded-for': FORGED },
        ip: CLIENT,
        source: 'x-nf-client-connection-ip',
      },
      {
        name: 'forged: X-Forwarded-For is never read (the answer is the peer)',
        peer: '10.0.0.8',
        headers: { 'x-forwarded-for': FORGED, 'x-real-ip': FORGED },
        ip: '10.0.0.8',
        source: 'socket',
      },
      {
        name: 'forged: the header twice is not one address',
        peer: undefined,
        headers: { 'x-nf-client-connection-ip': [FORGED, CLIENT] },
        ip: null,
        source: null,
      },
    ],
  )
})

describe('platforms.heroku(): the entry the router appended', () => {
  table(
    () => platforms.heroku(),
    [
      {
        name: 'the rightmost X-Forwarded-For entry',
        peer: '10.1.45.23',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged headers other than X-Forwarded-For are not read',
        peer: '10.1.45.23',
        headers: { 'x-forwarded-for': CLIENT, 'x-real-ip': FORGED, 'cf-connecting-ip': FORGED },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('platforms.render(): Render’s proxy behind Cloudflare', () => {
  table(
    () => platforms.render(),
    [
      {
        name: 'the proxy appended a Cloudflare edge: CF-Connecting-IP',
        peer: '10.21.157.68',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 104.22.17.40`, 'cf-connecting-ip': CLIENT },
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'without CF-Connecting-IP: the entry Cloudflare appended',
        peer: '10.21.157.68',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 104.22.17.40` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: the rightmost entry is not Cloudflare, so CF-Connecting-IP is not read',
        peer: '10.21.157.68',
        headers: { 'x-forwarded-for': `${CF_EDGE}, ${OUTSIDER}`, 'cf-connecting-ip': FORGED },
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('platforms.railway(): X-Real-IP, else the entry the edge appended', () => {
  table(
    () => platforms.railway(),
    [
      {
        name: 'X-Real-IP',
        peer: '100.64.0.2',
        headers: { 'x-real-ip': CLIENT, 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-real-ip',
      },
      {
        name: 'forged: X-Real-IP twice falls back to X-Forwarded-For',
        peer: '100.64.0.2',
        headers: { 'x-real-ip': [FORGED, CLIENT], 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )
})

// ---------------------------------------------------------------------------------------------------------------------
// Load balancers and CDNs with ranges you give
// ---------------------------------------------------------------------------------------------------------------------

describe('platforms.awsAlb({ vpc }): the entry the load balancer appended, from peers in the VPC', () => {
  table(
    () => platforms.awsAlb({ vpc: '10.0.0.0/16' }),
    [
      {
        name: 'the rightmost entry',
        peer: '10.0.3.7',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'with the client port (xff_client_port): IPv4',
        peer: '10.0.3.7',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}:51234` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'with the client port (xff_client_port): bracketed IPv6',
        peer: '10.0.3.7',
        headers: { 'x-forwarded-for': `${FORGED}, [2600:9000:a518:2d8c::1]:8080` },
        ip: '2600:9000:a518:2d8c::1',
        source: 'x-forwarded-for',
      },
      {
        name: 'the issue’s case: Tor address behind the ALB is the client, not the ALB node',
        peer: '10.0.3.7',
        headers: { 'x-forwarded-for': '185.220.101.66' },
        ip: '185.220.101.66',
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a peer outside the VPC',
        peer: OUTSIDER,
        headers: { 'x-forwarded-for': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
    ],
  )
})

describe('platforms.cloudfront({ ranges }): CloudFront-Viewer-Address (ip:port)', () => {
  const EDGE = '130.176.1.2'
  table(
    () => platforms.cloudfront({ ranges: '130.176.0.0/16' }),
    [
      {
        name: 'IPv4 and port, as AWS documents it (198.51.100.10:46532)',
        peer: EDGE,
        headers: { 'cloudfront-viewer-address': '198.51.100.10:46532', 'x-forwarded-for': FORGED },
        ip: '198.51.100.10',
        source: 'cloudfront-viewer-address',
      },
      {
        name: 'IPv6 and port joined by a colon, without brackets',
        peer: EDGE,
        headers: { 'cloudfront-viewer-address': '2001:db8::8a2e:370:7334:46532' },
        ip: '2001:db8::8a2e:370:7334',
        source: 'cloudfront-viewer-address',
      },
      {
        name: 'a bracketed IPv6 and port',
        peer: EDGE,
        headers: { 'cloudfront-viewer-address': '[2001:db8::1]:443' },
        ip: '2001:db8::1',
        source: 'cloudfront-viewer-address',
      },
      {
        name: 'no header: the X-Forwarded-For entry CloudFront appended',
        peer: EDGE,
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a client outside CloudFront',
        peer: OUTSIDER,
        headers: { 'cloudfront-viewer-address': `${FORGED}:1`, 'x-forwarded-for': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
      {
        name: 'forged: the header twice (a list) is not one address',
        peer: EDGE,
        headers: { 'cloudfront-viewer-address': `${FORGED}:1, ${CLIENT}:2`, 'x-forwarded-for': CLIENT },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )

  it.each([
    ['198.51.100.10', 'no port'],
    ['2001:db8::1', 'an IPv6 address without a port'],
    ['198.51.100.10:80:443', 'an address that already had a port'],
    ['198.51.100.10:65536', 'a port out of range'],
    ['198.51.100.10:', 'an empty port'],
    ['fe80::1%eth0:443', 'a zone id'],
    ['[2001:db8::1]', 'brackets without a port'],
    ['host.example:443', 'a host name'],
  ])('ignores CloudFront-Viewer-Address %j (%s)', (value) => {
    expectClient(read(platforms.cloudfront({ ranges: 'any' }), '10.0.0.5', { 'cloudfront-viewer-address': value }), '10.0.0.5', 'socket')
  })
})

describe('CloudFront → ALB → app: [platforms.cloudfront(...), platforms.awsAlb(...)]', () => {
  const chain = (): TrustProxy => [platforms.cloudfront({ ranges: '130.176.0.0/16' }), platforms.awsAlb({ vpc: '10.0.0.0/16' })]
  table(chain, [
    {
      name: 'the ALB appended the CloudFront edge: CloudFront-Viewer-Address',
      peer: '10.0.3.7',
      headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 130.176.1.2`, 'cloudfront-viewer-address': `${CLIENT}:4711` },
      ip: CLIENT,
      source: 'cloudfront-viewer-address',
    },
    {
      name: 'forged: a client reaching the ALB directly is the client, whatever it sends',
      peer: '10.0.3.7',
      headers: { 'x-forwarded-for': `130.176.1.2, ${OUTSIDER}`, 'cloudfront-viewer-address': `${FORGED}:4711` },
      ip: OUTSIDER,
      source: 'x-forwarded-for',
    },
  ])
})

describe('platforms.googleCloud(): the second entry from the right (the load balancer appends `client, lb`)', () => {
  table(
    () => platforms.googleCloud(),
    [
      {
        name: 'from a Google Front End address',
        peer: '35.191.10.20',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 34.120.5.6` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'from a Google Front End IPv6 address',
        peer: '2600:2d00:1:b029::5',
        headers: { 'x-forwarded-for': `${CLIENT}, 2600:1901::1` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a peer outside the GFE ranges',
        peer: OUTSIDER,
        headers: { 'x-forwarded-for': `${FORGED}, 34.120.5.6` },
        ip: OUTSIDER,
        source: 'socket',
      },
      {
        name: 'only the load balancer’s own entry: the GFE itself, never the client-written part',
        peer: '35.191.10.20',
        headers: { 'x-forwarded-for': '34.120.5.6' },
        ip: '35.191.10.20',
        source: 'socket',
      },
    ],
  )

  it('defaults to the documented Google Front End ranges', () => {
    expect(platforms.googleCloud().layers[0]?.ranges).toEqual(GOOGLE_FRONT_END_RANGES)
  })

  it('takes a proxy-only subnet for regional load balancers', () => {
    const preset = platforms.googleCloud({ ranges: '10.129.0.0/23' })
    expectClient(read(preset, '10.129.0.9', { 'x-forwarded-for': `${CLIENT}, 10.1.2.3` }), CLIENT, 'x-forwarded-for')
    expectClient(read(preset, '35.191.10.20', { 'x-forwarded-for': `${FORGED}, 1.2.3.4` }), '35.191.10.20', 'socket')
  })
})

describe('platforms.azureFrontDoor({ ranges, frontDoorId }): X-Azure-SocketIP, from your Front Door only', () => {
  const ID = '55ce4ed1-4b06-4bf1-b40e-4638452104da'
  const EDGE = '147.243.1.2'
  table(
    () => platforms.azureFrontDoor({ ranges: '147.243.0.0/16', frontDoorId: ID }),
    [
      {
        name: 'X-Azure-SocketIP with your X-Azure-FDID',
        peer: EDGE,
        headers: {
          'x-azure-socketip': CLIENT,
          'x-azure-clientip': FORGED,
          'x-azure-fdid': ID,
          'x-forwarded-for': `${FORGED}, ${CLIENT}`,
        },
        ip: CLIENT,
        source: 'x-azure-socketip',
      },
      {
        name: 'the FDID is compared without regard to case',
        peer: EDGE,
        headers: { 'x-azure-socketip': CLIENT, 'x-azure-fdid': ID.toUpperCase() },
        ip: CLIENT,
        source: 'x-azure-socketip',
      },
      {
        name: 'no X-Azure-SocketIP: the entry Front Door appended',
        peer: EDGE,
        headers: { 'x-azure-fdid': ID, 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: another customer’s Front Door (another FDID) is not believed',
        peer: EDGE,
        headers: { 'x-azure-socketip': FORGED, 'x-azure-fdid': '00000000-0000-0000-0000-000000000000' },
        ip: EDGE,
        source: 'socket',
      },
      {
        name: 'forged: a peer outside the ranges',
        peer: OUTSIDER,
        headers: { 'x-azure-socketip': FORGED, 'x-azure-fdid': ID },
        ip: OUTSIDER,
        source: 'socket',
      },
    ],
  )
})

describe('platforms.fastly({ ranges }): Fastly-Client-IP (set in your VCL); X-Forwarded-For is not read', () => {
  table(
    () => platforms.fastly({ ranges: ['151.101.0.0/16', '2a04:4e42::/32'] }),
    [
      {
        name: 'Fastly-Client-IP',
        peer: '151.101.2.3',
        headers: { 'fastly-client-ip': CLIENT, 'x-forwarded-for': FORGED },
        ip: CLIENT,
        source: 'fastly-client-ip',
      },
      {
        name: 'no Fastly-Client-IP: the edge itself, not the (plain-HTTP, unmodified) X-Forwarded-For',
        peer: '151.101.2.3',
        headers: { 'x-forwarded-for': FORGED },
        ip: '151.101.2.3',
        source: 'socket',
      },
      {
        name: 'forged: a client outside Fastly',
        peer: OUTSIDER,
        headers: { 'fastly-client-ip': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
    ],
  )
})

describe('platforms.akamai({ ranges }): True-Client-IP', () => {
  table(
    () => platforms.akamai({ ranges: '23.32.0.0/11' }),
    [
      {
        name: 'True-Client-IP',
        peer: '23.40.1.2',
        headers: { 'true-client-ip': CLIENT, 'x-forwarded-for': FORGED },
        ip: CLIENT,
        source: 'true-client-ip',
      },
      {
        name: 'forged: a client outside Akamai',
        peer: OUTSIDER,
        headers: { 'true-client-ip': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
    ],
  )
})

describe('platforms.reverseProxy(): nginx / Caddy / Traefik on this host', () => {
  table(
    () => platforms.reverseProxy(),
    [
      {
        name: 'the entry the proxy appended',
        peer: '127.0.0.1',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'X-Real-IP is not read (Traefik lets a client drop it)',
        peer: '::1',
        headers: { 'x-real-ip': FORGED },
        ip: '::1',
        source: 'socket',
      },
      {
        name: 'forged: a client reaching the app directly',
        peer: OUTSIDER,
        headers: { 'x-forwarded-for': FORGED },
        ip: OUTSIDER,
        source: 'socket',
      },
      {
        name: 'two local proxies in a row',
        peer: '127.0.0.1',
        headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 127.0.0.1` },
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )

  it('takes the proxies’ addresses', () => {
    const preset = platforms.reverseProxy({ ranges: '10.0.1.5' })
    expectClient(read(preset, '10.0.1.5', { 'x-forwarded-for': CLIENT }), CLIENT, 'x-forwarded-for')
    expectClient(read(preset, '127.0.0.1', { 'x-forwarded-for': FORGED }), '127.0.0.1', 'socket')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Composition and chains
// ---------------------------------------------------------------------------------------------------------------------

describe('chains of presets', () => {
  it('Cloudflare in front of Fly: Fly-Client-IP is the edge, Cloudflare names the visitor', () => {
    const chain = [platforms.cloudflare(), platforms.fly()]
    const headers = {
      'fly-client-ip': CF_EDGE,
      'cf-connecting-ip': CLIENT,
      'x-forwarded-for': `${FORGED}, ${CLIENT}, ${CF_EDGE}, 77.83.142.33`,
    }
    expectClient(read(chain, '172.16.3.2', headers), CLIENT, 'cf-connecting-ip')
  })

  it('forged: a client reaching Fly without Cloudflare is the client, whatever CF header it sends', () => {
    const chain = [platforms.cloudflare(), platforms.fly()]
    const headers = { 'fly-client-ip': OUTSIDER, 'cf-connecting-ip': FORGED, 'x-forwarded-for': `${OUTSIDER}, 1.1.1.1` }
    expectClient(read(chain, '172.16.3.2', headers), OUTSIDER, 'fly-client-ip')
  })

  it('a list of presets is the same chain as `behind`', () => {
    const headers = { 'cf-connecting-ip': CLIENT, 'x-forwarded-for': `${CLIENT}, ${CF_EDGE}` }
    const viaBehind = read(platforms.cloudflare({ behind: 'loopback' }), '127.0.0.1', headers)
    const viaList = read([platforms.cloudflare(), platforms.reverseProxy()], '127.0.0.1', headers)
    expect(viaList).toEqual(viaBehind)
    expectClient(viaList, CLIENT, 'cf-connecting-ip')
  })

  it('names the chain', () => {
    expect(platforms.cloudflare({ behind: 'loopback' }).platform).toBe('cloudflare+reverseProxy')
    expect(platforms.cloudflare({ behind: 'loopback' }).layers.map((layer) => layer.name)).toEqual([
      'cloudflare',
      'reverseProxy',
    ])
  })
})

describe('a preset reader', () => {
  it('works through clientIp() and the resolver options alike', () => {
    const headers = { 'cf-connecting-ip': CLIENT }
    expectClient(clientIp({ headers }, { trustProxy: platforms.cloudflare(), peerAddress: CF_EDGE }), CLIENT, 'cf-connecting-ip')
  })

  it('answers the same for the same request again (its memo), with a frozen answer', () => {
    const reader = createClientIpReader({ trustProxy: platforms.cloudflare({ behind: 'loopback' }) })
    const req = (): RequestLike => ({ headers: { 'cf-connecting-ip': CLIENT, 'x-forwarded-for': CF_EDGE }, remoteAddress: '127.0.0.1' })
    const first = reader(req())
    expect(reader(req())).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expectClient(first, CLIENT, 'cf-connecting-ip')
  })

  it('keeps answering right once its memo has started over (many distinct requests)', () => {
    const reader = createClientIpReader({ trustProxy: platforms.cloudflare() })
    const wrong: string[] = []
    for (let i = 0; i < 20_000; i++) {
      const client = `203.0.${(i >> 8) & 255}.${i & 255}`
      if (reader({ headers: { 'cf-connecting-ip': client } }, CF_EDGE).ip !== client) wrong.push(client)
    }
    expect(wrong).toEqual([])
    expectClient(reader({ headers: { 'cf-connecting-ip': FORGED } }, OUTSIDER), OUTSIDER, 'socket')
  })

  it('does not let a memoized answer leak to a request from another peer', () => {
    const reader = createClientIpReader({ trustProxy: platforms.reverseProxy() })
    expectClient(reader({ headers: { 'x-forwarded-for': CLIENT } }, '127.0.0.1'), CLIENT, 'x-forwarded-for')
    expectClient(reader({ headers: { 'x-forwarded-for': CLIENT } }, '127.0.0.2'), CLIENT, 'x-forwarded-for')
    expectClient(reader({ headers: { 'x-forwarded-for': CLIENT } }, OUTSIDER), OUTSIDER, 'socket')
    // Same (absent) headers from two trusted peers: each is its own answer.
    expectClient(reader({ headers: {} }, '127.0.0.1'), '127.0.0.1', 'socket')
    expectClient(reader({ headers: {} }, '127.0.0.2'), '127.0.0.2', 'socket')
  })

  it('reads a header sent as a string[] (not memoized) like the joined value', () => {
    const reader = createClientIpReader({ trustProxy: platforms.reverseProxy() })
    expectClient(reader({ headers: { 'x-forwarded-for': [FORGED, CLIENT] } }, '127.0.0.1'), CLIENT, 'x-forwarded-for')
  })

  it('reads at most maxHops X-Forwarded-For entries', () => {
    const reader = createClientIpReader({ trustProxy: platforms.reverseProxy(), maxHops: 2 })
    expectClient(reader({ headers: { 'x-forwarded-for': `${FORGED}, ${CLIENT}, 127.0.0.1, 127.0.0.1` } }, '127.0.0.1'), '127.0.0.1', 'x-forwarded-for')
  })

  it('never throws on a hostile request', () => {
    const reader = createClientIpReader({ trustProxy: platforms.cloudflare() })
    expect(reader(null as unknown as RequestLike)).toEqual({ ip: null, source: null, kind: null })
    expect(reader({ headers: null } as unknown as RequestLike, CF_EDGE)).toEqual({ ip: CF_EDGE, source: 'socket', kind: 'global' })
    expect(reader({ headers: { 'cf-connecting-ip': 42 } } as unknown as RequestLike, CF_EDGE).ip).toBe(CF_EDGE)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------------------------------

describe('preset configuration errors', () => {
  it.each<[string, () => unknown, string, string]>([
    ['awsAlb without options', () => (platforms.awsAlb as (o?: unknown) => PlatformPreset)(), 'platforms.awsAlb', 'options must be an object (they are required)'],
    ['awsAlb without vpc', () => platforms.awsAlb({} as never), 'platforms.awsAlb.vpc', "is required: the CIDR ranges of the load balancer's subnets (or of the VPC), e.g. '10.0.0.0/16'"],
    ['awsAlb with vpc any', () => platforms.awsAlb({ vpc: 'any' }), 'platforms.awsAlb.vpc', "must be your VPC's ranges; 'any' would trust every peer"],
    ['cloudfront without ranges', () => platforms.cloudfront({} as never), 'platforms.cloudfront.ranges', "is required: CloudFront's ranges (\"service\": \"CLOUDFRONT\" in https://ip-ranges.amazonaws.com/ip-ranges.json), or 'any' when only CloudFront can reach the origin (a security group on its managed prefix list)"],
    ['fastly without ranges', () => platforms.fastly({} as never), 'platforms.fastly.ranges', "is required: Fastly's ranges (https://api.fastly.com/public-ip-list), or 'any' when only Fastly can reach the origin"],
    ['akamai without ranges', () => platforms.akamai({} as never), 'platforms.akamai.ranges', "is required: your Site Shield ranges, or 'any' when only Akamai can reach the origin"],
    ['azureFrontDoor without ranges', () => platforms.azureFrontDoor({} as never), 'platforms.azureFrontDoor.ranges', "is required: the AzureFrontDoor.Backend service tag's ranges, or 'any' when an access restriction admits only Front Door"],
    ['a malformed frontDoorId', () => platforms.azureFrontDoor({ ranges: 'any', frontDoorId: 'my-front-door' }), 'platforms.azureFrontDoor.frontDoorId', "must be the profile's ID, a GUID such as 55ce4ed1-4b06-4bf1-b40e-4638452104da"],
    ['a bad range', () => platforms.cloudflare({ ranges: '10.0.0.0/33' }), 'platforms.cloudflare.ranges', '"10.0.0.0/33" has an invalid prefix length (0–32 for IPv4)'],
    ["'any' inside a list", () => platforms.fastly({ ranges: ['151.101.0.0/16', 'any'] }), 'platforms.fastly.ranges', "'any' stands alone; it cannot be part of a list"],
    ['ranges of the wrong type', () => platforms.fly({ ranges: 42 as never }), 'platforms.fly.ranges', "must be a string or an array of strings (addresses, CIDR ranges, 'any'), got number"],
    ['a bad behind', () => platforms.cloudflare({ behind: 'lopback' }), 'platforms.cloudflare.behind', '"lopback" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal, private'],
    ['behind of the wrong type', () => platforms.vercel({ behind: 1 as never }), 'platforms.vercel.behind', 'must be a string or an array of strings (addresses, CIDR ranges, range names)'],
    ['reverseProxy with any', () => platforms.reverseProxy({ ranges: 'any' }), 'platforms.reverseProxy.ranges', "must be your proxies' addresses; 'any' would trust every peer"],
    ['options that are not an object', () => platforms.cloudflare('loopback' as never), 'platforms.cloudflare', 'options must be an object'],
    ['presets mixed with addresses', () => createClientIpReader({ trustProxy: [platforms.cloudflare(), 'loopback'] as never }), 'trustProxy', "mixes platform presets with other entries; give your own proxies as platforms.reverseProxy({ ranges }) in the list, or as a preset's `behind` option"],
    ['a look-alike preset', () => createClientIpReader({ trustProxy: { platform: 'cloudflare', layers: [] } as never }), 'trustProxy', 'is not a preset made by `platforms` (presets cannot be written by hand)'],
    ['a preset with headers', () => createClientIpReader({ trustProxy: platforms.cloudflare(), headers: ['x-real-ip'] }), 'headers', 'a platform preset chooses the headers it reads; remove this option'],
    ['a preset given to compileTrust', () => compileTrust(platforms.heroku()), 'trustProxy', 'a platform preset also chooses which headers to read, so it cannot be compiled to an address predicate; give it as trustProxy to createClientIpReader or createRiskResolver'],
  ])('%s', (_name, fn, option, message) => {
    const error = configError(fn)
    expect(error.option).toBe(option)
    expect(error.message).toBe(`iprisk: invalid option \`${option}\`: ${message}`)
  })

  it('presets are frozen', () => {
    const preset = platforms.cloudflare()
    expect(Object.isFrozen(preset)).toBe(true)
    expect(Object.isFrozen(preset.layers[0])).toBe(true)
    expect(Object.isFrozen(platforms)).toBe(true)
  })
})
