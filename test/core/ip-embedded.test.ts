/**
 * Addresses that stand for an IPv4 client — NAT64 (`64:ff9b::/96`, local-use `64:ff9b:1::/48`, a deployment's
 * network-specific prefixes), Teredo (`2001::/32`) and 6to4 (`2002::/16`) — are that IPv4 client: the extraction,
 * classification, cache keys, the `nat64Prefixes` option's validation and list entries written in IPv6 form.
 * The resolver-level behaviour (lookups, lists, blocklist, events) is in resolver-embedded.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cacheKeyForIp, compileCidrList, compileClientList, compileNat64Prefixes, locateClient } from '../../src/core/cidr.js'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { classifyIp, parseIp } from '../../src/core/ip.js'
import { createRiskResolver } from '../../src/core/resolver.js'
import type { IpKind } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { bitsOf, embeddedIpv4Oracle, ipv6FromBits } from '../support/embedded.js'
import { configError } from '../support/errors.js'


/** `locateClient` on the canonical form of `text`, with `nat64Prefixes` compiled as the resolver does. */
function locate(text: string, nat64Prefixes: readonly string[] = [], ipv6Prefix = 64): { ip: string; key: string } {
  const canonical = parseIp(text)
  if (canonical === null) throw new Error(`not an address: ${text}`)
  return locateClient(canonical, ipv6Prefix, compileNat64Prefixes(nat64Prefixes, 'nat64Prefixes'))
}

// ---------------------------------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------------------------------

describe('an address embedding an IPv4 client is filed as that client (ip and cache key)', () => {
  it.each([
    // NAT64 well-known prefix (RFC 6052): the last 32 bits. The two clients.
    ['NAT64 64:ff9b::/96, hex groups', '64:ff9b::b9dc:6542', '185.220.101.66'],
    ['NAT64 64:ff9b::/96, dotted tail', '64:ff9b::185.220.101.66', '185.220.101.66'],
    ['NAT64 64:ff9b::/96, another client', '64:ff9b::808:808', '8.8.8.8'],
    ['NAT64 64:ff9b::/96, upper case and zeros written out', '0064:FF9B:0000:0000:0000:0000:B9DC:6542', '185.220.101.66'],
    ['NAT64 64:ff9b::/96, the lowest client', '64:ff9b::', '0.0.0.0'],
    ['NAT64 64:ff9b::/96, the highest client', '64:ff9b::ffff:ffff', '255.255.255.255'],
    // Local-use NAT64 (RFC 8215), read as holding /96 subnets: the last 32 bits, whatever the subnet bits.
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::b9dc:6542', '185.220.101.66'],
    ['local-use NAT64, another /96 of the /48', '64:ff9b:1:abcd:1:2:b9dc:6542', '185.220.101.66'],
    ['local-use NAT64, the last /96 of the /48', '64:ff9b:1:ffff:ffff:ffff:808:808', '8.8.8.8'],
    // 6to4 (RFC 3056): bits 16–47; the site's subnets and interfaces do not matter.
    ['6to4 2002::/16', '2002:b9dc:6542::1', '185.220.101.66'],
    ['6to4, another subnet and interface of the same site', '2002:b9dc:6542:ffff:1:2:3:4', '185.220.101.66'],
    ['6to4, dotted-looking client', '2002:c000:221::', '192.0.2.33'],
    // Teredo (RFC 4380): the client's address is the last 32 bits inverted. RFC 4380 §4's example: 192.0.2.45.
    ['Teredo 2001::/32, RFC 4380 example', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '192.0.2.45'],
    ['Teredo, the issue’s Tor exit', '2001:0:4136:e378:8000:63bf:4623:9abd', '185.220.101.66'],
    ['Teredo, another server, flags and port, same client', '2001:0:c000:201:0:ffff:4623:9abd', '185.220.101.66'],
  ])('%s: %s → %s', (_name, address, ipv4) => {
    expect(locate(address)).toEqual({ ip: ipv4, key: ipv4 })
  })

  // RFC 6052 §2.4, table 1: 192.0.2.33 under a network-specific prefix of each length.
  it.each([
    ['2001:db8::/32', '2001:db8:c000:221::'],
    ['2001:db8:100::/40', '2001:db8:1c0:2:21::'],
    ['2001:db8:122::/48', '2001:db8:122:c000:2:2100::'],
    ['2001:db8:122:300::/56', '2001:db8:122:3c0:0:221::'],
    ['2001:db8:122:344::/64', '2001:db8:122:344:c0:2:2100:0'],
    ['2001:db8:122:344::/96', '2001:db8:122:344::192.0.2.33'],
  ])('a listed network-specific prefix %s: %s → 192.0.2.33 (RFC 6052 §2.4)', (prefix, address) => {
    expect(locate(address, [prefix])).toEqual({ ip: '192.0.2.33', key: '192.0.2.33' })
    // Not listed, the same address is ordinary IPv6, keyed by its /64.
    expect(locate(address).ip).toBe(parseIp(address))
    expect(locate(address).key).toMatch(/\/64$/)
  })

  it('a listed prefix inside the local-use /48 takes precedence over its default reading', () => {
    // 64:ff9b:1:abcd::/64 in the RFC 6052 /64 layout holds 192.0.2.33 in bits 72–103, not in the last 32 bits.
    const address = '64:ff9b:1:abcd:c0:2:2100:0'
    expect(locate(address, ['64:ff9b:1:abcd::/64']).ip).toBe('192.0.2.33')
    expect(locate(address).ip).toBe('33.0.0.0') // the default reading (last 32 bits) of the same address
  })

  it('the suffix bits after the IPv4 address of a network-specific prefix do not matter', () => {
    expect(locate('2001:db8:122:344:c0:2:21ff:ffff', ['2001:db8:122:344::/64']).ip).toBe('192.0.2.33')
    expect(locate('2001:db8:1c0:2:21:ffff:ffff:ffff', ['2001:db8:100::/40']).ip).toBe('192.0.2.33')
  })

  it.each([
    ['a global IPv6 address outside every prefix', '2a01:4f8:1:2:aaaa:bbbb:cccc:dddd', '2a01:4f8:1:2::/64'],
    ['next to the NAT64 /96 (group 5 set)', '64:ff9b::1:b9dc:6542', '64:ff9b::/64'],
    ['next to the NAT64 /96 (group 4 set)', '64:ff9b::1:0:b9dc:6542', '64:ff9b::/64'],
    ['next to the local-use /48 (64:ff9b:2::/48)', '64:ff9b:2::b9dc:6542', '64:ff9b:2::/64'],
    ['next to Teredo (2001:1::/32, in 2001::/23)', '2001:1::b9dc:6542', '2001:1::/64'],
    ['2001:db8::/32 (documentation, not Teredo)', '2001:db8::b9dc:6542', '2001:db8::/64'],
    ['next to 6to4 (2003::/16)', '2003:b9dc:6542::1', '2003:b9dc:6542::/64'],
    ['next to 6to4 (2001:ffff::/32)', '2001:ffff:b9dc:6542::1', '2001:ffff:b9dc:6542::/64'],
    ['IPv4-compatible ::a.b.c.d (deprecated, not an IPv4 client)', '::185.220.101.66', '::/64'],
    ['unique-local', 'fd00::b9dc:6542', 'fd00::/64'],
  ])('%s (%s) is not an embedding: itself, keyed by its /64', (_name, address, key) => {
    const canonical = parseIp(address) as string
    expect(locate(address)).toEqual({ ip: canonical, key })
  })

  it('IPv4 and IPv4-mapped addresses are unchanged', () => {
    expect(locate('185.220.101.66')).toEqual({ ip: '185.220.101.66', key: '185.220.101.66' })
    expect(locate('::ffff:185.220.101.66')).toEqual({ ip: '185.220.101.66', key: '185.220.101.66' })
  })

  it.each(['64:ff9b::1.2.3', '64:ff9b::b9dc:6542:1:2:3:4', '2002:b9dc:6542::1::', '64:ff9b::g', '64:ff9b::/96'])(
    'malformed text %j is not an address at all (nothing is extracted from it)',
    (text) => {
      expect(parseIp(text)).toBeNull()
    },
  )
})

describe('classifyIp and cacheKeyForIp read the well-known embeddings as their IPv4 client', () => {
  it.each([
    ['64:ff9b::808:808', 'global', '8.8.8.8'],
    ['64:ff9b::a00:1', 'private', '10.0.0.1'],
    ['64:ff9b:1::808:808', 'global', '8.8.8.8'],
    ['64:ff9b:1::7f00:1', 'loopback', '127.0.0.1'],
    ['2002:808:808::1', 'global', '8.8.8.8'],
    ['2002:c0a8:101::1', 'private', '192.168.1.1'],
    ['2002:c000:204::1', 'documentation', '192.0.2.4'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'global', '8.8.8.8'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'documentation', '192.0.2.45'],
    ['2001::1', 'reserved', '255.255.255.254'],
    ['2001:0:4136:e378:8000:63bf:9bbf:fefe', 'carrierGradeNat', '100.64.1.1'],
  ] as [string, IpKind, string][])('%s is %s and keyed %s', (address, kind, key) => {
    expect(classifyIp(address)).toBe(kind)
    expect(classifyIp(address)).toBe(classifyIp(key))
    expect(cacheKeyForIp(address)).toBe(key)
  })

  it('a network-specific prefix is not known to these functions (the resolver option is)', () => {
    expect(classifyIp('2001:db8:122:344::192.0.2.33')).toBe('documentation') // 2001:db8::/32 itself
    expect(cacheKeyForIp('2001:db8:122:344::192.0.2.33')).toBe('2001:db8:122:344::/64')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Property: the extraction agrees with an independent reading of the RFCs
// ---------------------------------------------------------------------------------------------------------------------

describe('the extraction agrees with the RFCs (independent BigInt oracle, fast-check)', () => {
  const bits = (n: number): fc.Arbitrary<string> =>
    fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((b) => b.map((x) => (x ? '1' : '0')).join(''))
  const NETWORK_SPECIFIC = [
    '2001:db8::/32',
    '2001:db8:100::/40',
    '2001:db8:122::/48',
    '2001:db8:122:300::/56',
    '2001:db8:122:344::/64',
    '2001:db8:122:344::/96',
    '64:ff9b:1:abcd::/64',
  ]
  /** An address under one of the interesting prefixes (or none), the rest of its bits random. */
  const address = fc
    .tuple(fc.constantFrom('64:ff9b::/96', '64:ff9b:1::/48', '2001::/32', '2002::/16', ...NETWORK_SPECIFIC, '::/0'), bits(128))
    .map(([cidr, rest]) => {
      const [net, len] = cidr.split('/') as [string, string]
      const length = Number(len)
      return ipv6FromBits(bitsOf(net).slice(0, length) + rest.slice(length))
    })

  it('for any address and any set of listed prefixes, the client is the oracle’s IPv4 address, else the address', () => {
    fc.assert(
      // The RFC's example prefixes overlap each other, so at most one of them is listed at a time.
      fc.property(address, fc.option(fc.constantFrom(...NETWORK_SPECIFIC.slice(0, 6))), fc.boolean(), (ip, listed, withLocal) => {
        const prefixes = [...(withLocal ? ['64:ff9b:1:abcd::/64'] : []), ...(listed === null ? [] : [listed])]
        const expected = embeddedIpv4Oracle(ip, prefixes)
        const got = locate(ip, prefixes)
        if (expected === null) {
          expect(got.ip).toBe(parseIp(ip))
          expect(got.key).toBe(cacheKeyForIp(got.ip))
        } else {
          expect(got).toEqual({ ip: expected, key: expected })
        }
        // classifyIp and cacheKeyForIp agree with the resolver for the well-known prefixes.
        const wellKnown = embeddedIpv4Oracle(ip)
        if (wellKnown !== null) {
          expect(classifyIp(ip)).toBe(classifyIp(wellKnown))
          expect(cacheKeyForIp(ip)).toBe(wellKnown)
        }
      }),
      { numRuns: 2_000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// nat64Prefixes validation
// ---------------------------------------------------------------------------------------------------------------------

describe('the nat64Prefixes option is validated at creation', () => {
  const provider = createMemoryProvider({})
  const create = (nat64Prefixes: unknown) => createRiskResolver({ provider, nat64Prefixes: nat64Prefixes as string[] })

  it.each([
    ['a number', 64, 'must be an array of IPv6 prefixes, e.g. ["2001:db8:64::/96"]'],
    ['an object', { prefix: '2001:db8:64::/96' }, 'must be an array of IPv6 prefixes, e.g. ["2001:db8:64::/96"]'],
    ['a non-string entry', ['2001:db8:64::/96', 96], 'entries must be strings, got number'],
    ['an empty entry', ['2001:db8:64::/96, '], 'contains an empty entry in "2001:db8:64::/96, "'],
    ['no length', ['2001:db8:64::'], '"2001:db8:64::" needs a prefix length of 32, 40, 48, 56, 64 or 96 (RFC 6052), e.g. "2001:db8:64::/96"'],
    ['a length RFC 6052 does not define', ['2001:db8:64::/80'], '"2001:db8:64::/80" needs a prefix length of 32, 40, 48, 56, 64 or 96 (RFC 6052), e.g. "2001:db8:64::/96"'],
    ['a length that is not a number', ['2001:db8:64::/x'], '"2001:db8:64::/x" needs a prefix length of 32, 40, 48, 56, 64 or 96 (RFC 6052), e.g. "2001:db8:64::/96"'],
    ['an IPv4 range', ['192.0.2.0/24'], '"192.0.2.0/24" is not an IPv6 prefix (e.g. "2001:db8:64::/96")'],
    ['text', ['nat64'], '"nat64" is not an IPv6 prefix (e.g. "2001:db8:64::/96")'],
    ['a zone id', ['fe80::%eth0/64'], '"fe80::%eth0/64" is not an IPv6 prefix (e.g. "2001:db8:64::/96")'],
    ['bits past the length', ['2001:db8:64::1/96'], '"2001:db8:64::1/96" has bits set past /96 (did you mean "2001:db8:64::/96"?)'],
    ['a prefix containing the well-known one', ['64:ff9b::/32'], '"64:ff9b::/32" covers the NAT64 prefix 64:ff9b::/96, which is always read as such; list only your own prefixes'],
    ['the well-known prefix itself', ['64:ff9b::/96'], '"64:ff9b::/96" covers the NAT64 prefix 64:ff9b::/96, which is always read as such; list only your own prefixes'],
    ['the Teredo prefix', ['2001::/32'], '"2001::/32" covers the Teredo prefix 2001::/32, which is always read as such; list only your own prefixes'],
    ['overlapping prefixes', ['2001:db8:64::/48', '2001:db8:64:1::/64'], '"2001:db8:64:1::/64" overlaps the NAT64 prefix 2001:db8:64::/48 (nat64Prefixes)'],
    ['the same prefix twice', ['2001:db8:64::/96', '2001:db8:64::/96'], '"2001:db8:64::/96" overlaps the NAT64 prefix 2001:db8:64::/96 (nat64Prefixes)'],
    ['more than 16 prefixes', Array.from({ length: 17 }, (_, i) => `2001:db8:${i.toString(16)}::/96`), 'lists 17 prefixes; at most 16 are allowed'],
  ])('rejects %s with an IpRiskConfigError naming nat64Prefixes', (_name, value, message) => {
    const error = configError(() => create(value))
    expect(error.option).toBe('nat64Prefixes')
    expect(error.message).toBe(`iprisk: invalid option \`nat64Prefixes\`: ${message}`)
  })

  it.each([
    ['a /96', ['2001:db8:64::/96']],
    ['every RFC 6052 length', ['2001:db8::/32', '2001:db9:100::/40', '2001:dba:122::/48', '2001:dbb:122:300::/56', '2001:dbc:122:344::/64', '2001:dbd:122:344::/96']],
    ['a comma-separated string', '2001:db8:64::/96, 2001:db8:65::/96'],
    ['a /64 inside the local-use /48', ['64:ff9b:1:abcd::/64']],
    ['an empty list', []],
  ])('accepts %s', async (_name, value) => {
    const r = create(value)
    await r.close()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// List entries written in an embedding prefix
// ---------------------------------------------------------------------------------------------------------------------

describe('allow / deny entries written inside an embedding prefix are the IPv4 range they pin down', () => {
  const none = compileNat64Prefixes([], 'nat64Prefixes')

  it.each([
    ['a NAT64 address', '64:ff9b::b9dc:6542', ['185.220.101.66'], ['185.220.101.67']],
    ['a NAT64 range', '64:ff9b::198.51.100.0/120', ['198.51.100.0', '198.51.100.255'], ['198.51.101.0']],
    ['a 6to4 site', '2002:b9dc:6542::/48', ['185.220.101.66'], ['185.220.101.67']],
    ['a 6to4 /64 (the whole site is the client)', '2002:b9dc:6542:1::/64', ['185.220.101.66'], ['185.220.101.67']],
    ['a 6to4 range of sites', '2002:c633:6400::/40', ['198.51.100.1'], ['198.51.101.1']],
    ['a Teredo client', '2001:0:4136:e378:8000:63bf:4623:9abd/128', ['185.220.101.66'], ['185.220.101.67']],
    ['a local-use NAT64 range', '64:ff9b:1::198.51.100.0/120', ['198.51.100.7'], ['198.51.101.7']],
  ])('%s (%s)', (_name, entry, inside, outside) => {
    const match = compileClientList([entry], 'lists.deny', none)
    for (const ip of inside) expect(match(ip), ip).toBe(true)
    for (const ip of outside) expect(match(ip), ip).toBe(false)
  })

  it('a listed network-specific prefix is read the same way', () => {
    const nsp = compileNat64Prefixes(['2001:db8:122:344::/64'], 'nat64Prefixes')
    const match = compileClientList(['2001:db8:122:344:c0:2:2100:0/128'], 'lists.allow', nsp)
    expect(match('192.0.2.33')).toBe(true)
    expect(match('192.0.2.34')).toBe(false)
  })

  it.each([
    ['2002::/16', 'the 6to4 prefix 2002::/16'],
    ['2001:0:4136:e378::/64', 'the Teredo prefix 2001::/32'],
    ['64:ff9b::/96', 'the NAT64 prefix 64:ff9b::/96'],
    ['64:ff9b:1::/64', 'the local-use NAT64 prefix 64:ff9b:1::/48'],
  ])('an entry that pins no IPv4 bit (%s) is an IpRiskConfigError naming the list', (entry, label) => {
    const error = configError(() => createRiskResolver({ provider: createMemoryProvider({}), lists: { deny: [entry] } }))
    expect(error.option).toBe('lists.deny')
    expect(error.message).toBe(
      `iprisk: invalid option \`lists.deny\`: "${entry}" lies in ${label}, whose clients are matched as the IPv4 address they embed, but it does not narrow that address down: list IPv4 addresses or ranges instead`,
    )
  })

  it('an IPv6 range containing a whole embedding prefix does not match its clients (they are IPv4 clients)', () => {
    const match = compileClientList(['2000::/3'], 'lists.deny', none)
    expect(match('2a01:4f8::1')).toBe(true)
    expect(match('8.8.8.8')).toBe(false) // what 2002:808:808::1 is matched as
  })

  it('trust lists (compileCidrList) are unchanged: IPv6 entries match IPv6 peers', () => {
    const match = compileCidrList(['64:ff9b::/96'], 'trustProxy')
    expect(match('64:ff9b::a00:1')).toBe(true)
    expect(match('10.0.0.1')).toBe(false)
  })
})
