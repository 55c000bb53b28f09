import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cacheKeyForIp, compileCidrList } from '../../src/core/cidr.js'
import { configError } from '../support/errors.js'


describe('compileCidrList entries', () => {
  it.each([
    ['a single IPv4 address', '203.0.113.7', ['203.0.113.7'], ['203.0.113.8', '203.0.113.6']],
    ['an IPv4 range', '10.0.0.0/8', ['10.0.0.0', '10.255.255.255'], ['9.255.255.255', '11.0.0.0']],
    ['an IPv4 range with host bits set', '10.1.2.3/8', ['10.200.0.1'], ['11.0.0.1']],
    ['an IPv4 netmask', '192.168.0.0/255.255.0.0', ['192.168.200.1'], ['192.169.0.1']],
    ['an IPv4 /32', '198.51.100.1/32', ['198.51.100.1'], ['198.51.100.0']],
    ['all of IPv4', '0.0.0.0/0', ['1.2.3.4', '255.255.255.255'], ['2001:db8::1']],
    ['a single IPv6 address', '2001:db8::1', ['2001:db8::1'], ['2001:db8::2']],
    ['an IPv6 range', '2001:db8:1::/48', ['2001:db8:1::', '2001:db8:1:ffff:ffff:ffff:ffff:ffff'], ['2001:db8:2::']],
    ['an IPv6 range off a group boundary', '2001:db8::/33', ['2001:db8:7fff::1'], ['2001:db8:8000::1']],
    ['an upper-case IPv6 range', '2001:DB8::/32', ['2001:db8:abcd::1'], ['2001:db9::1']],
    ['all of IPv6', '::/0', ['2001:db8::1', '::1'], ['10.0.0.1']],
    ['an IPv4-mapped range (stored as IPv4)', '::ffff:10.0.0.0/104', ['10.1.2.3'], ['11.0.0.1']],
    ['an IPv4-mapped address (stored as IPv4)', '::ffff:203.0.113.7', ['203.0.113.7'], ['203.0.113.8']],
    ['a comma-separated string', ' 10.0.0.0/8 , 2001:db8::/32 ', ['10.0.0.1', '2001:db8::1'], ['11.0.0.1']],
  ])('%s (%s)', (_name, entry, inside, outside) => {
    const match = compileCidrList(entry, 'allowList')
    for (const ip of inside) expect(match(ip), ip).toBe(true)
    for (const ip of outside) expect(match(ip), ip).toBe(false)
  })

  it('an array may hold comma-separated entries too', () => {
    const match = compileCidrList(['10.0.0.0/8, 192.168.0.0/16', 'fc00::/7'], 'allowList')
    expect(['10.0.0.1', '192.168.1.1', 'fd00::1'].map(match)).toEqual([true, true, true])
    expect(match('172.16.0.1')).toBe(false)
  })

  it('an empty array matches nothing', () => {
    const match = compileCidrList([], 'allowList')
    expect(['127.0.0.1', '::1', '10.0.0.1'].map(match)).toEqual([false, false, false])
  })

  it('matches IPv4-mapped, upper-case and zoned spellings like the canonical address', () => {
    const match = compileCidrList(['10.0.0.0/8', 'fe80::/10', '2001:db8::/32'], 'trustProxy')
    expect(match('::ffff:10.0.0.1')).toBe(true)
    expect(match('::ffff:a00:1')).toBe(true)
    expect(match('FE80::1%eth0')).toBe(true)
    expect(match('2001:DB8::1')).toBe(true)
  })

  it('IPv4 addresses never match IPv6 ranges and the reverse', () => {
    expect(compileCidrList('::/0', 'x')('10.0.0.1')).toBe(false)
    expect(compileCidrList('0.0.0.0/0', 'x')('::1')).toBe(false)
    // ::a00:1 is the IPv4-compatible (not mapped) spelling: an IPv6 address.
    expect(compileCidrList('10.0.0.0/8', 'x')('::10.0.0.1')).toBe(false)
  })

  it.each([['not an ip'], [''], ['10.0.0.1/8'], ['[10.0.0.1]'], ['01.0.0.1'], ['127.1']])(
    'never matches the non-address %j',
    (text) => {
      expect(compileCidrList('0.0.0.0/0, ::/0', 'x')(text)).toBe(false)
    },
  )

  it('never matches (or throws on) a non-string', () => {
    const match = compileCidrList('0.0.0.0/0', 'x')
    expect(match(undefined as unknown as string)).toBe(false)
    expect(match(167772161 as unknown as string)).toBe(false)
  })
})

describe('named ranges (proxy-addr names + private)', () => {
  const cases: [string, string[], string[]][] = [
    ['loopback', ['127.0.0.1', '127.255.255.254', '::1'], ['128.0.0.1', '::2', '10.0.0.1', '169.254.0.1']],
    ['linklocal', ['169.254.0.1', '169.254.255.255', 'fe80::1', 'febf::1'], ['169.255.0.1', 'fec0::1', '127.0.0.1']],
    [
      'uniquelocal',
      ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', 'fc00::1', 'fdff::1'],
      ['172.32.0.1', '192.169.0.1', 'fe00::1', '127.0.0.1', '100.64.0.1'],
    ],
    [
      'private',
      ['127.0.0.1', '::1', '10.0.0.1', '172.16.0.1', '192.168.0.1', 'fd00::1'],
      ['169.254.0.1', 'fe80::1', '100.64.0.1', '203.0.113.7', '2001:db8::1'],
    ],
  ]

  it.each(cases)('%s', (name, inside, outside) => {
    const match = compileCidrList(name, 'trustProxy')
    for (const ip of inside) expect(match(ip), ip).toBe(true)
    for (const ip of outside) expect(match(ip), ip).toBe(false)
  })

  it('names are case-insensitive and combine with ranges', () => {
    const match = compileCidrList('LoopBack, 203.0.113.0/24', 'trustProxy')
    expect(['127.0.0.1', '203.0.113.9'].map(match)).toEqual([true, true])
  })
})

describe('compileCidrList errors name the option', () => {
  it.each([
    ['a prefix over 32', '10.0.0.0/33', /invalid prefix length/],
    ['a prefix over 128', '2001:db8::/129', /invalid prefix length/],
    ['a negative prefix', '10.0.0.0/-1', /invalid prefix length/],
    ['a leading-zero prefix', '10.0.0.0/08', /invalid prefix length/],
    ['an empty prefix', '10.0.0.0/', /invalid prefix length/],
    ['two slashes', '10.0.0.0/8/8', /invalid prefix length/],
    ['a non-contiguous netmask', '10.0.0.0/255.0.255.0', /non-contiguous netmask/],
    ['an IPv6 netmask', '2001:db8::/ffff:ffff::', /invalid prefix length/],
    ['a zone id', 'fe80::1%eth0', /not an IP address/],
    ['brackets', '[::1]', /not an IP address/],
    ['a port', '10.0.0.1:80', /not an IP address/],
    ['a host name', 'localhost', /not an IP address/],
    ['an unknown range name', 'cloudflare', /loopback, linklocal, uniquelocal, private/],
    ['a prototype key', '__proto__', /not an IP address/],
    ['a leading-zero octet', '010.0.0.0/8', /not an IP address/],
    ['a short IPv4 form', '10/8', /not an IP address/],
    ['an empty string', '', /empty entry/],
    ['a trailing comma', 'loopback,', /empty entry/],
  ])('rejects %s', (_name, entry, message) => {
    const error = configError(() => compileCidrList(entry, 'resolver.allowList'))
    expect(error.option).toBe('resolver.allowList')
    expect(error.message).toContain('`resolver.allowList`')
    expect(error.message).toMatch(message)
  })

  it('quotes the offending entry (shortened when long)', () => {
    expect(configError(() => compileCidrList(['10.0.0.0/8', 'nope'], 'denyList')).message).toContain('"nope"')
    const long = configError(() => compileCidrList('x'.repeat(500), 'denyList')).message
    expect(long.length).toBeLessThan(250)
  })

  it.each([
    ['a number', 42],
    ['null', null],
    ['an object', { cidr: '10.0.0.0/8' }],
  ])('rejects a list that is %s', (_name, list) => {
    expect(configError(() => compileCidrList(list as never, 'denyList')).option).toBe('denyList')
  })

  it('rejects a non-string entry in an array', () => {
    const error = configError(() => compileCidrList(['10.0.0.0/8', 7 as unknown as string], 'denyList'))
    expect(error.message).toMatch(/entries must be strings, got number/)
  })
})

describe('compileCidrList agrees with bit arithmetic (property)', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
  const v4Text = ([a, b, c, d]: [number, number, number, number]): string => `${a}.${b}.${c}.${d}`
  const v4Big = ([a, b, c, d]: [number, number, number, number]): bigint => BigInt(((a * 256 + b) * 256 + c) * 256 + d)
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  const v6Text = (g: number[]): string => g.map((x) => x.toString(16)).join(':')
  const v6Big = (g: number[]): bigint => g.reduce((acc, x) => (acc << 16n) | BigInt(x), 0n)

  it('IPv4: x matches net/p exactly when their first p bits are equal', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), v4, (net, prefix, x) => {
        const match = compileCidrList(`${v4Text(net)}/${prefix}`, 'x')
        const shift = BigInt(32 - prefix)
        expect(match(v4Text(x))).toBe(v4Big(net) >> shift === v4Big(x) >> shift)
      }),
    )
  })

  it('a list of IPv4 ranges (none, one or many) matches x exactly when one of its ranges does', () => {
    const range = fc.tuple(v4, fc.integer({ min: 0, max: 32 }))
    fc.assert(
      fc.property(fc.array(range, { maxLength: 5 }), v4, (ranges, x) => {
        const match = compileCidrList(
          ranges.map(([net, prefix]) => `${v4Text(net)}/${prefix}`),
          'x',
        )
        const inOne = ranges.some(([net, prefix]) => {
          const shift = BigInt(32 - prefix)
          return v4Big(net) >> shift === v4Big(x) >> shift
        })
        expect(match(v4Text(x))).toBe(inOne)
      }),
    )
  })

  it('IPv6: x matches net/p exactly when their first p bits are equal', () => {
    const notMapped = (g: number[]): boolean => !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    fc.assert(
      fc.property(v6.filter(notMapped), fc.integer({ min: 0, max: 128 }), v6.filter(notMapped), (net, prefix, x) => {
        const match = compileCidrList(`${v6Text(net)}/${prefix}`, 'x')
        const shift = BigInt(128 - prefix)
        expect(match(v6Text(x))).toBe(v6Big(net) >> shift === v6Big(x) >> shift)
      }),
    )
  })
})

describe('cacheKeyForIp', () => {
  it.each([
    ['an IPv4 address is its own key', '203.0.113.7', undefined, '203.0.113.7'],
    ['IPv4 ignores the IPv6 prefix length', '203.0.113.7', 48, '203.0.113.7'],
    ['IPv6 defaults to /64', '2001:db8:1:2:aaaa:bbbb:cccc:dddd', undefined, '2001:db8:1:2::/64'],
    ['IPv6 /64', '2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64, '2001:db8:1:2::/64'],
    ['IPv6 /56', '2001:db8:1:2ff:aaaa::1', 56, '2001:db8:1:200::/56'],
    ['IPv6 /48', '2001:db8:1:2:aaaa::1', 48, '2001:db8:1::/48'],
    ['IPv6 /128 keeps the address', '2001:db8::1', 128, '2001:db8::1/128'],
    ['IPv6 /1', 'ffff::1', 1, '8000::/1'],
    ['a non-canonical IPv6 address', '2001:DB8:0001:0002:0:0:0:1', 64, '2001:db8:1:2::/64'],
    ['a zone id is dropped', 'fe80::1:2:3:4%eth0', 64, 'fe80::/64'],
    ['an IPv4-mapped address is keyed as IPv4', '::ffff:203.0.113.7', 64, '203.0.113.7'],
  ] as [string, string, number | undefined, string][])('%s', (_name, ip, prefix, key) => {
    expect(cacheKeyForIp(ip, prefix)).toBe(key)
  })

  it('addresses in one /64 share a key; the next /64 does not', () => {
    expect(cacheKeyForIp('2001:db8:0:1::1')).toBe(cacheKeyForIp('2001:db8:0:1:ffff:ffff:ffff:ffff'))
    expect(cacheKeyForIp('2001:db8:0:1::1')).not.toBe(cacheKeyForIp('2001:db8:0:2::1'))
  })

  it.each([
    ['0', 0],
    ['129', 129],
    ['-1', -1],
    ['1.5', 1.5],
    ['NaN', Number.NaN],
    ['a string', '64' as unknown as number],
  ])('rejects the prefix length %s (even for an IPv4 address)', (_name, prefix) => {
    for (const ip of ['2001:db8::1', '203.0.113.7']) {
      const error = configError(() => cacheKeyForIp(ip, prefix))
      expect(error.option).toBe('ipv6PrefixLength')
    }
  })

  it.each(['', 'garbage', '01.2.3.4', '1.2.3.4:80'])('throws a TypeError for the non-address %j', (text) => {
    expect(() => cacheKeyForIp(text)).toThrow(TypeError)
  })
})
