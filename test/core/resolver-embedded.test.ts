/**
 * The resolver treats an address that embeds an IPv4 client (NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, Teredo
 * `2001::/32`, 6to4 `2002::/16`, and the deployment's `nat64Prefixes`) as that IPv4 client everywhere: cache key,
 * allow / deny lists, blocklist and `block()`, the upstream lookup, the answer's `ip` and the security events.
 *
 * Issue #15 item 5: `64:ff9b::b9dc:6542` (a Tor exit, 185.220.101.66) was answered from `64:ff9b::808:808`'s cache
 * entry (same /64), a deny-list entry `185.220.101.66` did not match its NAT64 form, one auto-blocklisted NAT64
 * client blocked every NAT64 client, and all Teredo clients of one server shared a verdict.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { policies } from '../../src/core/policy.js'
import { ipasis } from '../../src/core/provider.js'
import { createRiskResolver, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { IpRisk, Provider, RiskData, RiskResolver, SecurityEvent } from '../../src/core/index.js'
import { createMemoryProvider, startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { embed, embeddedIpv4Oracle } from '../support/embedded.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close()
})

function resolver(options: RiskResolverOptions): RiskResolver {
  const r = createRiskResolver({ breaker: false, ...options })
  open.push(r)
  return r
}

async function simulator(): Promise<IpasisSimulator> {
  const sim = await startIpasisSimulator({ apiKey: 'test-key' })
  open.push(sim)
  return sim
}

const TOR_EXIT = '185.220.101.66'
/** Every way of writing the Tor exit as an IPv6 client (the free bits of each form set to something non-zero). */
const TOR_FORMS = [
  ['NAT64', '64:ff9b::b9dc:6542'],
  ['NAT64 (dotted)', '64:ff9b::185.220.101.66'],
  ['local-use NAT64', '64:ff9b:1:2:3:4:b9dc:6542'],
  ['6to4', '2002:b9dc:6542:7:1:2:3:4'],
  ['Teredo', '2001:0:4136:e378:8000:63bf:4623:9abd'],
] as const

// ---------------------------------------------------------------------------------------------------------------------
// The cases, through the public API with the IPASIS simulator
// ---------------------------------------------------------------------------------------------------------------------

describe('NAT64, 6to4 and Teredo clients are their embedded IPv4 client (IPASIS simulator)', () => {
  async function setup(options: Partial<RiskResolverOptions> = {}) {
    const sim = await simulator()
    sim.setProfile(TOR_EXIT, 'tor')
    const events: SecurityEvent[] = []
    const r = resolver({
      provider: ipasis({ apiKey: 'test-key', baseUrl: sim.url, timeoutMs: 10_000 }),
      blocklist: false,
      onDecision: (event) => void events.push(event),
      ...options,
    })
    return { sim, r, events }
  }

  it('the issue’s case: 64:ff9b::808:808 then 64:ff9b::b9dc:6542 (a Tor exit) cost two upstream calls, and the Tor exit is blocked', async () => {
    const { sim, r } = await setup()
    const google = await r.lookup('64:ff9b::808:808')
    const tor = await r.lookup('64:ff9b::b9dc:6542')
    expect(sim.calls).toBe(2)
    expect(sim.callsFor('8.8.8.8')).toBe(1)
    expect(sim.callsFor(TOR_EXIT)).toBe(1)
    expect(google).toMatchObject({ ip: '8.8.8.8', ipKind: 'global', status: 'scored', source: 'upstream', isTor: false })
    expect(tor).toMatchObject({ ip: TOR_EXIT, ipKind: 'global', status: 'scored', source: 'upstream', isTor: true, score: 92 })
    expect(r.check(google, policies.human)).toMatchObject({ action: 'allow', reason: 'clean' })
    expect(r.check(tor, policies.human)).toMatchObject({ action: 'block', reason: 'tor_exit_node' })
  })

  it.each(TOR_FORMS)('the %s form %s shares the plain IPv4 address’s cache entry (one upstream call)', async (_kind, form) => {
    const { sim, r } = await setup()
    const plain = await r.lookup(TOR_EXIT)
    const answer = await r.lookup(form)
    expect(sim.calls).toBe(1)
    expect(answer).toMatchObject({ ip: TOR_EXIT, status: 'scored', source: 'l1', isTor: true })
    expect(r.peek(form)).toBe(r.peek(TOR_EXIT))
    expect(plain.ip).toBe(TOR_EXIT)
  })

  it('the upstream is asked about the IPv4 address, never the IPv6 form', async () => {
    const { sim, r } = await setup()
    for (const [, form] of TOR_FORMS) await r.lookup(form)
    expect(sim.requests.map((q) => q.ip)).toEqual([TOR_EXIT])
  })

  it('two Teredo clients of one Teredo server are two clients (two upstream calls, two verdicts)', async () => {
    const { sim, r } = await setup()
    // Server 65.54.227.120 (4136:e378), same flags and port; clients 8.8.8.8 and 185.220.101.66.
    const clean = await r.lookup('2001:0:4136:e378:8000:63bf:f7f7:f7f7')
    const tor = await r.lookup('2001:0:4136:e378:8000:63bf:4623:9abd')
    expect(sim.calls).toBe(2)
    expect([clean.ip, clean.isTor]).toEqual(['8.8.8.8', false])
    expect([tor.ip, tor.isTor]).toEqual([TOR_EXIT, true])
  })

  it('a 6to4 site rotating subnets and interfaces inside its /48 is one client (one upstream call)', async () => {
    const { sim, r } = await setup()
    for (let i = 1; i <= 20; i++) await r.lookup(`2002:b9dc:6542:${i.toString(16)}::${(i * 7).toString(16)}`)
    expect(sim.calls).toBe(1)
  })

  it('the deny-list entry 185.220.101.66 matches every IPv6 form of it, without a lookup', async () => {
    const { sim, r } = await setup({ lists: { deny: [TOR_EXIT], allow: ['0.0.0.0/0'] } })
    for (const [, form] of TOR_FORMS) {
      const answer = await r.lookup(form)
      expect(answer, form).toMatchObject({ ip: TOR_EXIT, listed: 'deny', status: 'skipped' })
      expect(r.check(answer, policies.baseline)).toMatchObject({ action: 'block', reason: 'denylisted' })
    }
    expect(sim.calls).toBe(0)
  })

  it('an allow-list entry matches every IPv6 form of it; a deny entry written in NAT64 form matches the IPv4 client', async () => {
    const { sim, r } = await setup({ lists: { allow: ['8.8.8.0/24'], deny: ['64:ff9b::185.220.101.0/120'] } })
    expect(await r.lookup('2002:808:808::1')).toMatchObject({ ip: '8.8.8.8', listed: 'allow' })
    expect(await r.lookup('64:ff9b:1::808:809')).toMatchObject({ ip: '8.8.8.9', listed: 'allow' })
    expect(await r.lookup(TOR_EXIT)).toMatchObject({ ip: TOR_EXIT, listed: 'deny' })
    expect(await r.lookup('2001:0:4136:e378:8000:63bf:4623:9abd')).toMatchObject({ ip: TOR_EXIT, listed: 'deny' })
    expect(sim.calls).toBe(0)
  })

  it('block() of the IPv4 address blocks its NAT64, 6to4 and Teredo forms, and unblock() of a form lifts it', async () => {
    const { r } = await setup()
    await r.block(TOR_EXIT, 600)
    for (const [, form] of TOR_FORMS) expect(r.peek(form), form).toMatchObject({ ip: TOR_EXIT, listed: 'blocklist' })
    await r.unblock('2002:b9dc:6542::1')
    expect(r.peek(TOR_EXIT)).toBeUndefined()
  })

  it('block() of a NAT64 address blocks the IPv4 address and no other NAT64 client', async () => {
    const { sim, r } = await setup()
    await r.block('64:ff9b::b9dc:6542', 600)
    expect(r.peek(TOR_EXIT)).toMatchObject({ ip: TOR_EXIT, listed: 'blocklist' })
    const other = await r.lookup('64:ff9b::808:808')
    expect(other).toMatchObject({ ip: '8.8.8.8', listed: null, status: 'scored' })
    expect(sim.callsFor('8.8.8.8')).toBe(1)
  })

  it('an auto-blocklisted NAT64 client does not blocklist the other NAT64 clients', async () => {
    const { sim, r } = await setup({ blocklist: { score: 95, ttlSeconds: 3_600 } })
    sim.setProfile(TOR_EXIT, 'high-risk') // score 97
    expect(await r.lookup('64:ff9b::b9dc:6542')).toMatchObject({ ip: TOR_EXIT, listed: 'blocklist' })
    expect(await r.lookup('64:ff9b::808:808')).toMatchObject({ ip: '8.8.8.8', listed: null, score: 5 })
    expect(r.peek('64:ff9b::808:809')).toBeUndefined()
  })

  it('the security event of a NAT64 client carries the IPv4 address', async () => {
    const { r, events } = await setup()
    const answer = await r.fromRequest({ headers: {}, socket: { remoteAddress: '64:ff9b::b9dc:6542' } })
    r.report(r.check(answer, policies.human), { adapter: 'test' })
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
    expect(events.map((e) => [e.ip, e.action, e.reason])).toEqual([[TOR_EXIT, 'block', 'tor_exit_node']])
  })

  it('X-Forwarded-For naming a NAT64 client (trusted proxy): the answer is about the IPv4 client; clientIp() reports the address as read', async () => {
    const { sim, r } = await setup({ trustProxy: 'loopback' })
    const req = { headers: { 'x-forwarded-for': '64:ff9b::b9dc:6542' }, socket: { remoteAddress: '127.0.0.1' } }
    expect(r.clientIp(req)).toEqual({ ip: '64:ff9b::b9dc:6542', source: 'x-forwarded-for', kind: 'global' })
    expect(await r.fromRequest(req)).toMatchObject({ ip: TOR_EXIT, isTor: true })
    expect(sim.requests.map((q) => q.ip)).toEqual([TOR_EXIT])
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// nat64Prefixes
// ---------------------------------------------------------------------------------------------------------------------

describe('nat64Prefixes: a deployment’s own translation prefix', () => {
  function counting(): Provider & { asked: string[] } {
    const asked: string[] = []
    const memory = createMemoryProvider((ip) => (ip === TOR_EXIT ? 'tor' : 'clean'))
    return { name: 'counting', asked, lookup: (ip, signal) => (asked.push(ip), memory.lookup(ip, signal)) }
  }

  it('listed: clients of 2001:db8:64::/96 are their IPv4 addresses (two lookups, the Tor exit blocked)', async () => {
    const provider = counting()
    const r = resolver({ provider, nat64Prefixes: ['2001:db8:64::/96'] })
    const clean = await r.lookup('2001:db8:64::808:808')
    const tor = await r.lookup('2001:db8:64::b9dc:6542')
    expect(provider.asked).toEqual(['8.8.8.8', TOR_EXIT])
    expect([clean.ip, tor.ip]).toEqual(['8.8.8.8', TOR_EXIT])
    expect(r.check(tor, policies.human).action).toBe('block')
  })

  it('not listed: the same addresses are ordinary IPv6, one /64 for all of them (the documented limit)', async () => {
    const provider = counting()
    const r = resolver({ provider, scoreDocumentationRanges: true })
    await r.lookup('2001:db8:64::808:808')
    const tor = await r.lookup('2001:db8:64::b9dc:6542')
    expect(provider.asked).toEqual(['2001:db8:64::808:808'])
    expect(tor).toMatchObject({ ip: '2001:db8:64::b9dc:6542', source: 'l1', isTor: false })
  })

  it('a listed /64 of the local-use prefix is read in the RFC 6052 /64 layout', async () => {
    const provider = counting()
    const r = resolver({ provider, nat64Prefixes: '64:ff9b:1:abcd::/64' })
    // 185.220.101.66 in bits 72–103 of 64:ff9b:1:abcd::/64 (u octet zero).
    expect(await r.lookup('64:ff9b:1:abcd:b9:dc65:4200:0')).toMatchObject({ ip: TOR_EXIT, isTor: true })
    expect(provider.asked).toEqual([TOR_EXIT])
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Property: an embedded client gets exactly the answer its IPv4 address gets
// ---------------------------------------------------------------------------------------------------------------------

describe('for any IPv4 client and any way of embedding it, the resolver answers as for the IPv4 address (fast-check)', () => {
  const NSP = '2001:db8:122::/48'
  const octet = fc.nat(255)
  /** Any IPv4 address, biased towards the special ranges (so lists, skips and lookups all happen). */
  const ipv4 = fc.oneof(
    fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
    fc.tuple(fc.constantFrom('10', '127', '100.64', '192.168', '203.0.113', '185.220.101', '8.8.8'), octet, octet, octet).map(
      ([net, a, b, c]) => [...net.split('.'), a, b, c].slice(0, 4).join('.'),
    ),
  )
  const filler = fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }).map((b) => b.map((x) => (x ? '1' : '0')).join(''))
  type Form = 'nat64' | 'nat64Local' | 'sixToFour' | 'teredo' | 'networkSpecific'
  const form = fc.constantFrom<Form>('nat64', 'nat64Local', 'sixToFour', 'teredo', 'networkSpecific')
  function write(kind: Form, v: string, bits: string): string {
    return kind === 'nat64' ? embed.nat64(v) : kind === 'networkSpecific' ? embed.networkSpecific(NSP, v, bits) : embed[kind](v, bits)
  }
  /** A list of IPv4 ranges, some around `v` so that they match it. */
  const listAround = (v: string) =>
    fc.array(
      fc.oneof(fc.integer({ min: 0, max: 32 }).map((p) => `${v}/${p}`), fc.tuple(ipv4, fc.integer({ min: 8, max: 32 })).map(([a, p]) => `${a}/${p}`)),
      { maxLength: 3 },
    )

  /** Data identifying the address asked: the ASN is the IPv4 address as a number. */
  function identifying(): Provider & { asked: string[] } {
    const asked: string[] = []
    return {
      name: 'identifying',
      asked,
      async lookup(ip: string): Promise<RiskData> {
        asked.push(ip)
        const n = ip.includes(':') ? 0 : ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0)
        return { score: n % 101, isVpn: false, isProxy: false, isTor: n % 3 === 0, isDatacenter: false, countryCode: 'US', asn: n, isp: 'x' }
      },
    }
  }
  const comparable = (a: IpRisk) => ({ ...a, lookupMs: 0 })

  it('answer, key, list and blocklist decisions equal those of the plain IPv4 address; two embedded IPv4s never share an entry', async () => {
    await fc.assert(
      fc.asyncProperty(
        ipv4,
        ipv4,
        form,
        form,
        filler,
        fc.boolean(),
        fc.boolean(),
        ipv4.chain((v) => fc.tuple(fc.constant(v), listAround(v), listAround(v))),
        async (v, w, kindV, kindW, bits, scoreDocs, blockFirst, [, allow, deny]) => {
          const options = (provider: Provider): RiskResolverOptions => ({
            provider,
            breaker: false,
            nat64Prefixes: [NSP],
            scoreDocumentationRanges: scoreDocs,
            blocklist: { score: 95, ttlSeconds: 600 },
            cache: { l1: { max: 64 } },
            lists: { allow, deny },
          })
          const viaEmbedding = identifying()
          const viaPlain = identifying()
          const a = createRiskResolver(options(viaEmbedding))
          const b = createRiskResolver(options(viaPlain))
          try {
            const written = write(kindV, v, bits)
            expect(embeddedIpv4Oracle(written, [NSP])).toBe(v) // the generator writes what it means to
            if (blockFirst) {
              await a.block(written, 60)
              await b.block(v, 60)
            }
            const gotA = await a.lookup(written)
            const gotB = await b.lookup(v)
            expect(comparable(gotA)).toEqual(comparable(gotB))
            expect(viaEmbedding.asked).toEqual(viaPlain.asked)
            // Keyed as v: the plain address now answers from the entry the embedded form filled (and vice versa).
            expect(a.peek(v)).toEqual(a.peek(written))
            // Another client w, written in any form, is never answered from v's entry.
            if (w !== v && !blockFirst) {
              const other = await a.lookup(write(kindW, w, bits))
              const alone = await b.lookup(w)
              expect(comparable(other)).toEqual(comparable(alone))
              if (other.status === 'scored') expect(other.asn).toBe(alone.asn)
            }
          } finally {
            await a.close()
            await b.close()
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
