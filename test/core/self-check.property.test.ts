/**
 * Property of the `untrusted_proxy` self-check warning over random peers, trust settings and (forged) forwarding
 * headers (fast-check, fixed seed; a failure prints the seed and path to replay it with `{ seed, path }`):
 *
 * the resolver warns (once, however many requests) exactly when a peer in loopback / private / link-local /
 * unique-local / CGNAT space sent a forwarding header and the client IP was nevertheless read from the socket. So a
 * client on the internet (a global peer) can never raise it, a trusted proxy never does, and the warning never
 * carries a header's value.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createClientIpReader,
  createRiskResolver,
  platforms,
  type Logger,
  type TrustProxy,
} from '../../src/core/index.js'
import { classifyIp } from '../../src/core/ip.js'
import { type IpKind } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const LOCAL: ReadonlySet<IpKind> = new Set(['loopback', 'private', 'linkLocal', 'uniqueLocal', 'carrierGradeNat'])

const FORWARDING = [
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'true-client-ip',
  'fly-client-ip',
  'x-vercel-forwarded-for',
  'x-nf-client-connection-ip',
  'cloudfront-viewer-address',
  'x-azure-clientip',
  'x-azure-socketip',
  'fastly-client-ip',
  'x-client-ip',
] as const

const peers = fc.constantFrom(
  '127.0.0.1', '127.8.9.10', '::1', '10.0.3.7', '172.16.4.4', '192.168.1.20', '100.64.7.7', '169.254.1.1', 'fd00::7',
  'fe80::1', '8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '173.245.48.1', '203.0.113.9',
)

const trusts: fc.Arbitrary<{ name: string; trust: TrustProxy }> = fc.constantFrom(
  { name: 'false', trust: false },
  { name: "'loopback'", trust: 'loopback' },
  { name: "'private'", trust: 'private' },
  { name: "'10.0.0.0/8'", trust: '10.0.0.0/8' },
  { name: '1', trust: 1 },
  { name: 'true', trust: true },
  { name: 'cloudflare()', trust: platforms.cloudflare() },
  { name: "cloudflare({ behind: 'loopback' })", trust: platforms.cloudflare({ behind: 'loopback' }) },
  { name: 'fly()', trust: platforms.fly() },
  { name: "awsAlb({ vpc: '10.0.0.0/16' })", trust: platforms.awsAlb({ vpc: '10.0.0.0/16' }) },
)

/** Values a client or proxy may write: addresses (which must never reach the warning), lists, garbage. */
const values = fc.oneof(
  fc.constantFrom('185.220.101.66', '198.51.100.77', '2001:db8::66', '10.9.8.7', '192.0.2.55'),
  fc.constantFrom('185.220.101.66, 10.0.3.7', 'for=185.220.101.66', 'for="[2001:db8::66]:443"', 'unknown', '', '  '),
)

const headerSets = fc
  .dictionary(fc.constantFrom(...FORWARDING, 'user-agent', 'x-request-id', 'accept'), values, { maxKeys: 4 })
  .map((h) => Object.fromEntries(Object.entries(h)) as Record<string, string>)

describe('untrusted_proxy: raised exactly for a local peer whose forwarding headers were not used', () => {
  it('over random peers, trust settings and forged headers (seeded)', () => {
    const readers = new Map<string, ReturnType<typeof createClientIpReader>>()
    const outcomes = { warned: 0, silent: 0 }
    fc.assert(
      fc.property(peers, trusts, headerSets, fc.integer({ min: 1, max: 3 }), (peer, { name, trust }, headers, repeats) => {
        const lines: Array<{ obj: object; msg: string | undefined }> = []
        const logger: Logger = { info: () => undefined, warn: (obj, msg) => void lines.push({ obj, msg }) }
        const risk = createRiskResolver({ provider: createMemoryProvider({}), trustProxy: trust, logger })
        let read = readers.get(name)
        if (read === undefined) readers.set(name, (read = createClientIpReader({ trustProxy: trust })))
        const req = { headers, socket: { remoteAddress: peer } }
        for (let i = 0; i < repeats; i++) expect(risk.clientIp(req)).toEqual(read(req))

        const kind = classifyIp(peer)
        const sent = FORWARDING.some((name) => headers[name] !== undefined)
        const expected = LOCAL.has(kind) && sent && read(req).source === 'socket'
        outcomes[expected ? 'warned' : 'silent']++
        const degraded = lines.filter((l) => (l.obj as { event?: string }).event === 'degraded')
        expect(degraded.map((l) => (l.obj as { kind: string }).kind)).toStrictEqual(expected ? ['untrusted_proxy'] : [])
        for (const line of degraded) {
          const text = JSON.stringify(line)
          for (const value of Object.values(headers)) if (value.trim() !== '' && value !== 'unknown') expect(text).not.toContain(value)
        }
        if (expected) expect(degraded[0]?.obj).toMatchObject({ peer_kind: kind, option: 'trustProxy', docs: 'docs/client-ip.md' })
      }),
      { seed: 0x5e1fc4ec, numRuns: 400 },
    )
    // Both sides of the oracle were exercised.
    expect(outcomes.warned).toBeGreaterThan(40)
    expect(outcomes.silent).toBeGreaterThan(40)
  })
})
