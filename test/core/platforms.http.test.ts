/**
 * Platform presets over real HTTP: a node:http server whose resolver is `createRiskResolver({ provider, trustProxy:
 * <preset> })` answers `risk.clientIp(req)` for requests written byte for byte on loopback sockets.
 *
 * The only client here is this host (127.0.0.1), which is not any platform's address. So presets whose platform has
 * ranges are tested as your deployment behind them would be: composed with your own proxy on this host (`behind:
 * 'loopback'`), the request arrives from 127.0.0.1 and the rightmost X-Forwarded-For entry is what that proxy
 * appended, i.e. the platform's edge (genuine) or a client that reached the proxy directly (forged). Presets trusted
 * by position (Fly, Vercel, Netlify, Heroku, Render, Railway) take the loopback peer for the platform.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRiskResolver, platforms, type ClientIp, type TrustProxy } from '../../src/core/index.js'
import { type IpSource } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'

let server: Server
let port: number
let handle: (req: IncomingMessage) => Promise<unknown> = async () => null

beforeAll(async () => {
  server = createServer((req, res) => {
    handle(req).then(
      (body) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(body))
      },
      (error: unknown) => {
        res.statusCode = 500
        res.end(String(error))
      },
    )
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.close()
  await once(server, 'close')
})

/** Raw header lines, so a header can be sent twice exactly as a client would. */
async function rawRequest(headerLines: readonly string[]): Promise<unknown> {
  const socket = connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  socket.end(['GET / HTTP/1.1', 'Host: app.test', 'Connection: close', ...headerLines, '', ''].join('\r\n'))
  let raw = ''
  socket.setEncoding('utf8')
  for await (const chunk of socket) raw += chunk as string
  expect(raw.slice(0, 15)).toBe('HTTP/1.1 200 OK')
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as unknown
}

/** The client IP a resolver with this `trustProxy` reads from a request with these header lines. */
async function clientIpOf(trustProxy: TrustProxy, headerLines: readonly string[]): Promise<ClientIp> {
  const risk = createRiskResolver({ provider: createMemoryProvider({}), trustProxy })
  handle = async (req) => risk.clientIp(req)
  try {
    return (await rawRequest(headerLines)) as ClientIp
  } finally {
    await risk.close()
  }
}

const CLIENT = '203.0.113.7'
const FORGED = '198.51.100.66'
const OUTSIDER = '198.51.100.9'

interface HttpCase {
  name: string
  lines: string[]
  ip: string
  source: IpSource
}

function cases(preset: () => TrustProxy, list: HttpCase[]): void {
  it.each(list)('$name', async ({ lines, ip, source }) => {
    const got = await clientIpOf(preset(), lines)
    expect({ ip: got.ip, source: got.source }).toEqual({ ip, source })
  })
}

describe('over HTTP: platforms.cloudflare({ behind: "loopback" })', () => {
  cases(
    () => platforms.cloudflare({ behind: 'loopback' }),
    [
      {
        name: 'CF-Connecting-IP, Cloudflare edge appended by the local proxy',
        lines: [`X-Forwarded-For: ${FORGED}, ${CLIENT}, 173.245.48.5`, `CF-Connecting-IP: ${CLIENT}`],
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'CF-Connecting-IPv6 next to a Pseudo IPv4 CF-Connecting-IP',
        lines: ['X-Forwarded-For: 240.16.0.1, 2606:4700::6810:85e5', 'CF-Connecting-IP: 240.16.0.1', 'CF-Connecting-IPv6: 2001:db8:cafe::17'],
        ip: '2001:db8:cafe::17',
        source: 'cf-connecting-ipv6',
      },
      {
        name: 'forged: a client that reached the proxy directly sends CF-Connecting-IP',
        lines: [`X-Forwarded-For: 173.245.48.5, ${OUTSIDER}`, `CF-Connecting-IP: ${FORGED}`, `CF-Connecting-IPv6: 2001:db8::66`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a visitor’s own CF-Connecting-IPv6 through Cloudflare',
        lines: [`X-Forwarded-For: ${CLIENT}, 173.245.48.5`, `CF-Connecting-IP: ${CLIENT}`, 'CF-Connecting-IPv6: 2001:db8::66'],
        ip: CLIENT,
        source: 'cf-connecting-ip',
      },
      {
        name: 'forged: CF-Connecting-IP sent twice is not one address',
        lines: [`X-Forwarded-For: ${CLIENT}, 173.245.48.5`, `CF-Connecting-IP: ${FORGED}`, `CF-Connecting-IP: ${CLIENT}`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.fly()', () => {
  cases(
    () => platforms.fly(),
    [
      {
        name: 'Fly-Client-IP',
        lines: [`Fly-Client-IP: ${CLIENT}`, `X-Forwarded-For: ${FORGED}, ${CLIENT}, 77.83.142.33`],
        ip: CLIENT,
        source: 'fly-client-ip',
      },
      {
        name: 'forged: Fly-Client-IP sent twice, X-Forwarded-For prepended',
        lines: [`Fly-Client-IP: ${FORGED}`, `Fly-Client-IP: ${CLIENT}`, `X-Forwarded-For: ${FORGED}, ${CLIENT}, 77.83.142.33`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )

  it('forged: with ranges, a proxy hop outside them is not Fly (its header is ignored)', async () => {
    const got = await clientIpOf(platforms.fly({ ranges: 'fdaa::/16', behind: 'loopback' }), [
      `Fly-Client-IP: ${FORGED}`,
      `X-Forwarded-For: ${FORGED}, ${OUTSIDER}`,
    ])
    expect({ ip: got.ip, source: got.source }).toEqual({ ip: OUTSIDER, source: 'x-forwarded-for' })
  })
})

describe('over HTTP: platforms.vercel()', () => {
  cases(
    () => platforms.vercel(),
    [
      {
        name: 'x-vercel-forwarded-for',
        lines: [`x-vercel-forwarded-for: ${CLIENT}`, `x-real-ip: ${CLIENT}`, `X-Forwarded-For: ${CLIENT}`],
        ip: CLIENT,
        source: 'x-vercel-forwarded-for',
      },
      {
        name: 'forged: x-vercel-forwarded-for sent twice falls back to x-real-ip',
        lines: [`x-vercel-forwarded-for: ${FORGED}`, `x-vercel-forwarded-for: ${CLIENT}`, `x-real-ip: ${CLIENT}`],
        ip: CLIENT,
        source: 'x-real-ip',
      },
    ],
  )
})

describe('over HTTP: platforms.netlify()', () => {
  cases(
    () => platforms.netlify(),
    [
      {
        name: 'x-nf-client-connection-ip',
        lines: [`x-nf-client-connection-ip: ${CLIENT}`, `X-Forwarded-For: ${FORGED}`],
        ip: CLIENT,
        source: 'x-nf-client-connection-ip',
      },
      {
        name: 'forged: X-Forwarded-For and X-Real-IP are never read',
        lines: [`X-Forwarded-For: ${FORGED}`, `X-Real-IP: ${FORGED}`],
        ip: '127.0.0.1',
        source: 'socket',
      },
    ],
  )
})

describe('over HTTP: platforms.awsAlb({ vpc })', () => {
  // Loopback stands in for the load balancer's subnet: it is the VPC range given.
  cases(
    () => platforms.awsAlb({ vpc: '127.0.0.0/8' }),
    [
      {
        name: 'the entry the load balancer appended',
        lines: [`X-Forwarded-For: ${FORGED}, ${CLIENT}`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'with the client port the load balancer may add, IPv6 in brackets',
        lines: [`X-Forwarded-For: ${FORGED}, [2600:9000:a518:2d8c::1]:8080`],
        ip: '2600:9000:a518:2d8c::1',
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: entries prepended in a second X-Forwarded-For line',
        lines: [`X-Forwarded-For: ${FORGED}`, `X-Forwarded-For: ${CLIENT}`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
    ],
  )

  it('forged: a peer outside the VPC is the client', async () => {
    const got = await clientIpOf(platforms.awsAlb({ vpc: '10.0.0.0/16' }), [`X-Forwarded-For: ${FORGED}`])
    expect({ ip: got.ip, source: got.source }).toEqual({ ip: '127.0.0.1', source: 'socket' })
  })
})

describe('over HTTP: platforms.cloudfront({ ranges, behind: "loopback" })', () => {
  cases(
    () => platforms.cloudfront({ ranges: '130.176.0.0/16', behind: 'loopback' }),
    [
      {
        name: 'CloudFront-Viewer-Address, IPv4:port',
        lines: [`X-Forwarded-For: ${CLIENT}, 130.176.1.2`, `CloudFront-Viewer-Address: ${CLIENT}:46532`],
        ip: CLIENT,
        source: 'cloudfront-viewer-address',
      },
      {
        name: 'CloudFront-Viewer-Address, IPv6 and port without brackets',
        lines: ['X-Forwarded-For: 2001:db8::8a2e:370:7334, 130.176.1.2', 'CloudFront-Viewer-Address: 2001:db8::8a2e:370:7334:46532'],
        ip: '2001:db8::8a2e:370:7334',
        source: 'cloudfront-viewer-address',
      },
      {
        name: 'forged: a client that reached the proxy directly sends CloudFront-Viewer-Address',
        lines: [`X-Forwarded-For: 130.176.1.2, ${OUTSIDER}`, `CloudFront-Viewer-Address: ${FORGED}:1`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.googleCloud({ behind: "loopback" })', () => {
  cases(
    () => platforms.googleCloud({ behind: 'loopback' }),
    [
      {
        name: '`client, lb` appended, the Google Front End appended by the local proxy',
        lines: [`X-Forwarded-For: ${FORGED}, ${CLIENT}, 34.120.5.6, 35.191.10.20`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a client that reached the proxy directly',
        lines: [`X-Forwarded-For: ${FORGED}, 34.120.5.6, ${OUTSIDER}`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.azureFrontDoor({ ranges, frontDoorId, behind: "loopback" })', () => {
  const ID = '55ce4ed1-4b06-4bf1-b40e-4638452104da'
  cases(
    () => platforms.azureFrontDoor({ ranges: '147.243.0.0/16', frontDoorId: ID, behind: 'loopback' }),
    [
      {
        name: 'X-Azure-SocketIP with your X-Azure-FDID',
        lines: [`X-Forwarded-For: ${CLIENT}, 147.243.1.2`, `X-Azure-SocketIP: ${CLIENT}`, `X-Azure-ClientIP: ${FORGED}`, `X-Azure-FDID: ${ID}`],
        ip: CLIENT,
        source: 'x-azure-socketip',
      },
      {
        name: 'forged: another Front Door profile (another FDID)',
        lines: [`X-Forwarded-For: ${FORGED}, 147.243.1.2`, `X-Azure-SocketIP: ${FORGED}`, 'X-Azure-FDID: 00000000-0000-0000-0000-000000000000'],
        ip: '147.243.1.2',
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: a client that reached the proxy directly',
        lines: [`X-Forwarded-For: ${OUTSIDER}`, `X-Azure-SocketIP: ${FORGED}`, `X-Azure-FDID: ${ID}`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.fastly({ ranges, behind: "loopback" })', () => {
  cases(
    () => platforms.fastly({ ranges: '151.101.0.0/16', behind: 'loopback' }),
    [
      {
        name: 'Fastly-Client-IP',
        lines: ['X-Forwarded-For: 151.101.2.3', `Fastly-Client-IP: ${CLIENT}`],
        ip: CLIENT,
        source: 'fastly-client-ip',
      },
      {
        name: 'forged: a client that reached the proxy directly',
        lines: [`X-Forwarded-For: ${OUTSIDER}`, `Fastly-Client-IP: ${FORGED}`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.akamai({ ranges, behind: "loopback" })', () => {
  cases(
    () => platforms.akamai({ ranges: '23.32.0.0/11', behind: 'loopback' }),
    [
      {
        name: 'True-Client-IP',
        lines: ['X-Forwarded-For: 23.40.1.2', `True-Client-IP: ${CLIENT}`],
        ip: CLIENT,
        source: 'true-client-ip',
      },
      {
        name: 'forged: a client that reached the proxy directly',
        lines: [`X-Forwarded-For: ${OUTSIDER}`, `True-Client-IP: ${FORGED}`],
        ip: OUTSIDER,
        source: 'x-forwarded-for',
      },
    ],
  )
})

describe('over HTTP: platforms.heroku(), render(), railway()', () => {
  it.each<[string, () => TrustProxy, string[], string, IpSource]>([
    ['heroku: the entry the router appended', () => platforms.heroku(), [`X-Forwarded-For: ${FORGED}, ${CLIENT}`], CLIENT, 'x-forwarded-for'],
    ['heroku forged: X-Real-IP is not read', () => platforms.heroku(), [`X-Real-IP: ${FORGED}`, `X-Forwarded-For: ${CLIENT}`], CLIENT, 'x-forwarded-for'],
    ['render: CF-Connecting-IP behind the Cloudflare edge', () => platforms.render(), [`X-Forwarded-For: ${FORGED}, ${CLIENT}, 104.22.17.40`, `CF-Connecting-IP: ${CLIENT}`], CLIENT, 'cf-connecting-ip'],
    ['render forged: no Cloudflare edge, CF-Connecting-IP ignored', () => platforms.render(), [`X-Forwarded-For: 104.22.17.40, ${OUTSIDER}`, `CF-Connecting-IP: ${FORGED}`], OUTSIDER, 'x-forwarded-for'],
    ['railway: X-Real-IP', () => platforms.railway(), [`X-Real-IP: ${CLIENT}`, `X-Forwarded-For: ${FORGED}, ${CLIENT}`], CLIENT, 'x-real-ip'],
    ['railway forged: X-Real-IP sent twice', () => platforms.railway(), [`X-Real-IP: ${FORGED}`, `X-Real-IP: ${CLIENT}`, `X-Forwarded-For: ${FORGED}, ${CLIENT}`], CLIENT, 'x-forwarded-for'],
  ])('%s', async (_name, preset, lines, ip, source) => {
    const got = await clientIpOf(preset(), lines)
    expect({ ip: got.ip, source: got.source }).toEqual({ ip, source })
  })
})

describe('over HTTP: platforms.reverseProxy() (nginx / Caddy / Traefik on this host)', () => {
  cases(
    () => platforms.reverseProxy(),
    [
      {
        name: 'the entry the proxy appended',
        lines: [`X-Forwarded-For: ${FORGED}, ${CLIENT}`],
        ip: CLIENT,
        source: 'x-forwarded-for',
      },
      {
        name: 'forged: X-Real-IP is not read',
        lines: [`X-Real-IP: ${FORGED}`],
        ip: '127.0.0.1',
        source: 'socket',
      },
    ],
  )
})

describe('over HTTP: the decision is made on the client the preset reads', () => {
  it('a Tor client behind Cloudflare and nginx that forges a clean CF-Connecting-IP through the proxy directly is scored as itself', async () => {
    const TOR = '203.0.113.66'
    const provider = createMemoryProvider({ [TOR]: 'tor' })
    const risk = createRiskResolver({
      provider,
      trustProxy: platforms.cloudflare({ behind: 'loopback' }),
      scoreDocumentationRanges: true,
    })
    handle = async (req) => {
      const answer = await risk.fromRequest(req)
      return { ip: answer.ip, status: answer.status, isTor: answer.isTor }
    }
    try {
      // Through Cloudflare: the genuine CF-Connecting-IP is the Tor client.
      expect(await rawRequest([`X-Forwarded-For: ${TOR}, 173.245.48.5`, `CF-Connecting-IP: ${TOR}`])).toEqual({
        ip: TOR,
        status: 'scored',
        isTor: true,
      })
      // Around Cloudflare, straight to nginx, naming a clean address: nginx's entry (the Tor client) is scored.
      expect(await rawRequest([`X-Forwarded-For: 173.245.48.5, ${TOR}`, `CF-Connecting-IP: ${CLIENT}`])).toEqual({
        ip: TOR,
        status: 'scored',
        isTor: true,
      })
      expect(provider.callsFor(CLIENT)).toBe(0)
    } finally {
      await risk.close()
    }
  })
})
