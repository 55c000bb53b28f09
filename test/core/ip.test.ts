import { describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import {
  classifyIp,
  clientIp,
  compileTrust,
  createClientIpReader,
  parseIp,
  type ClientIpOptions,
} from '../../src/core/ip.js'
import type { ClientIp, IpKind, RequestLike } from '../../src/core/types.js'
import { configError } from '../support/errors.js'

/** A plain `{ headers, remoteAddress }` request. */
function plain(remoteAddress: string | undefined, headers: Record<string, string | string[] | undefined> = {}): RequestLike {
  return { headers, remoteAddress }
}


// ---------------------------------------------------------------------------------------------------------------------
// parseIp
// ---------------------------------------------------------------------------------------------------------------------

describe('parseIp canonicalizes valid addresses', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    [' 203.0.113.7\t', '203.0.113.7'],
    ['203.0.113.7:443', '203.0.113.7'],
    ['203.0.113.7:0', '203.0.113.7'],
    ['203.0.113.7:65535', '203.0.113.7'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8::A', '2001:db8::a'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['1:0:0:0:1:0:0:0', '1::1:0:0:0'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::1:443', '2001:db8::1:443'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['FE80::1%25', 'fe80::1'],
    ['[fe80::1%en0]:8080', 'fe80::1'],
    ['::', '::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:203.0.113.7', '203.0.113.7'],
    ['[::ffff:203.0.113.7]:80', '203.0.113.7'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:ffff:cb00:7107', '203.0.113.7'],
    ['0:0:0:0:0:FFFF:203.0.113.7', '203.0.113.7'],
    ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ])('parseIp(%j) is %j', (input, expected) => {
    expect(parseIp(input)).toBe(expected)
  })

  it('is idempotent on its own output', () => {
    for (const text of ['2001:0DB8::0001', '::ffff:7f00:1', ' [fe80::1%eth0]:1 ', '198.51.100.1:80']) {
      const once = parseIp(text)
      expect(once).not.toBeNull()
      expect(parseIp(once as string)).toBe(once)
    }
  })
})

describe('parseIp rejects malformed and ambiguous text', () => {
  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['leading-zero octet', '01.2.3.4'],
    ['leading-zero last octet', '1.2.3.04'],
    ['hex IPv4', '0x7f.0.0.1'],
    ['short IPv4 form', '127.1'],
    ['three-part IPv4', '1.2.3'],
    ['integer IPv4', '2130706433'],
    ['five-part IPv4', '1.2.3.4.5'],
    ['octet over 255', '256.1.1.1'],
    ['empty port', '1.2.3.4:'],
    ['port over 65535', '1.2.3.4:65536'],
    ['six-digit port', '1.2.3.4:000080'],
    ['negative port', '1.2.3.4:-1'],
    ['CIDR suffix', '1.2.3.4/24'],
    ['path traversal', '1.2.3.4/../../admin'],
    ['percent-encoded dots', '%2e%2e'],
    ['query string', '1.2.3.4?x=1'],
    ['fragment', '1.2.3.4#'],
    ['CRLF', '1.2.3.4\r\n'],
    ['LF inside', '1.2.3.4\nX-Injected: 1'],
    ['leading LF', '\n1.2.3.4'],
    ['NUL', '1.2.3.4\u0000'],
    ['no-break space', '1.2.3.4\u00a0'],
    ['zero-width space', '1.2.3.4\u200b'],
    ['Arabic-Indic digits', '\u0661.\u0662.\u0663.\u0664'],
    ['fullwidth digits', '\uff11.\uff12.\uff13.\uff14'],
    ['two addresses', '1.2.3.4 5.6.7.8'],
    ['a list', '1.2.3.4, 5.6.7.8'],
    ['URL', 'http://1.2.3.4/'],
    ['userinfo', '1.2.3.4@evil.example'],
    ['host name', 'localhost'],
    ['RFC 7239 unknown', 'unknown'],
    ['HTML', '<script>alert(1)</script>'],
    ['too many IPv6 groups', '1:2:3:4:5:6:7:8:9'],
    ['two double colons', '1::2::3'],
    ['unbracketed IPv6 with port-like suffix and mapped IPv4', '::ffff:1.2.3.4:80'],
    ['bracketed IPv4', '[203.0.113.7]:80'],
    ['unclosed bracket', '[2001:db8::1'],
    ['junk after bracket', '[2001:db8::1]x'],
    ['bracket with empty port', '[2001:db8::1]:'],
    ['empty zone', 'fe80::1%'],
    ['two zones', 'fe80::1%eth0%x'],
    ['encoded zone injection', 'fe80::1%2e%2e'],
    ['zone with slash', 'fe80::1%eth0/../x'],
    ['zone on IPv4', '1.2.3.4%eth0'],
    ['leading-zero octet in mapped', '::ffff:01.2.3.4'],
    ['over 64 characters', `${'1'.repeat(61)}.2.3.4`],
  ])('rejects %s', (_name, input) => {
    expect(parseIp(input)).toBeNull()
  })

  it('returns null for a non-string instead of throwing', () => {
    expect(parseIp(42 as unknown as string)).toBeNull()
    expect(parseIp(undefined as unknown as string)).toBeNull()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// classifyIp
// ---------------------------------------------------------------------------------------------------------------------

describe('classifyIp follows the IANA special-purpose registries', () => {
  const table: [string, IpKind][] = [
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['0.255.255.255', 'reserved'],
    ['1.0.0.0', 'global'],
    ['8.8.8.8', 'global'],
    ['9.255.255.255', 'global'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['11.0.0.0', 'global'],
    ['100.63.255.255', 'global'],
    ['100.64.0.0', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['100.128.0.0', 'global'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['169.253.255.255', 'global'],
    ['169.254.0.1', 'linkLocal'],
    ['169.255.0.0', 'global'],
    ['172.15.255.255', 'global'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'global'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['192.0.3.1', 'global'],
    ['192.88.99.1', 'reserved'],
    ['192.167.255.255', 'global'],
    ['192.168.1.1', 'private'],
    ['192.169.0.0', 'global'],
    ['198.17.255.255', 'global'],
    ['198.18.0.0', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.20.0.0', 'global'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.7', 'documentation'],
    ['203.0.114.1', 'global'],
    ['223.255.255.255', 'global'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::2', 'reserved'],
    ['::102:304', 'reserved'],
    ['64:ff9b::808:808', 'global'],
    ['64:ff9b::a00:1', 'private'],
    ['100::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo: the client is 255.255.255.254 (last 32 bits inverted)
    ['2001:2::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::1', 'documentation'],
    ['2001:db9::1', 'global'],
    ['2002:c000:204::1', 'documentation'], // 6to4: the site is 192.0.2.4
    ['2606:4700:4700::1111', 'global'],
    ['3fff::1', 'documentation'],
    ['3fff:fff::1', 'documentation'],
    ['3fff:1000::1', 'global'],
    ['4000::1', 'reserved'],
    ['fc00::1', 'uniqueLocal'],
    ['fdff:ffff::1', 'uniqueLocal'],
    ['fe80::1', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['fec0::1', 'reserved'],
    ['ff02::1', 'multicast'],
  ]
  it.each(table)('%s is %s', (ip, kind) => {
    expect(classifyIp(ip)).toBe(kind)
  })

  it.each([
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:203.0.113.7', 'documentation'],
    ['[2001:db8::1]:443', 'documentation'],
    [' 8.8.8.8 ', 'global'],
    ['FE80::1', 'linkLocal'],
  ] as [string, IpKind][])('accepts the non-canonical spelling %j (%s)', (ip, kind) => {
    expect(classifyIp(ip)).toBe(kind)
  })

  it.each(['', 'garbage', '01.2.3.4', '1.2.3.4/../x'])('classifies the non-address %j as reserved', (text) => {
    expect(classifyIp(text)).toBe('reserved')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// compileTrust
// ---------------------------------------------------------------------------------------------------------------------

describe('compileTrust', () => {
  it('false trusts nothing and true trusts every hop', () => {
    expect(compileTrust(false)('127.0.0.1', 0)).toBe(false)
    expect(compileTrust(true)('203.0.113.7', 7)).toBe(true)
  })

  it('a hop count n trusts hops 0 .. n-1 whatever their address', () => {
    const two = compileTrust(2)
    expect([0, 1, 2, 3].map((hop) => two('203.0.113.7', hop))).toEqual([true, true, false, false])
    expect(compileTrust(0)('127.0.0.1', 0)).toBe(false)
  })

  it('a comma-separated string and a list of ranges match by address, not hop', () => {
    const fromString = compileTrust('loopback, 10.0.0.0/8')
    const fromList = compileTrust(['loopback', '10.0.0.0/8'])
    for (const trusted of [fromString, fromList]) {
      expect(trusted('127.0.0.1', 0)).toBe(true)
      expect(trusted('10.9.8.7', 5)).toBe(true)
      expect(trusted('11.0.0.1', 0)).toBe(false)
    }
  })

  it('a function gets the canonical address and the hop, and must return exactly true', () => {
    const seen: [string, number][] = []
    const trusted = compileTrust((addr, hop) => {
      seen.push([addr, hop])
      return addr === '10.0.0.1'
    })
    expect(trusted('10.0.0.1', 0)).toBe(true)
    expect(trusted('10.0.0.2', 1)).toBe(false)
    expect(seen).toEqual([
      ['10.0.0.1', 0],
      ['10.0.0.2', 1],
    ])
    const truthy = compileTrust((() => 'yes') as unknown as (addr: string, hop: number) => boolean)
    expect(truthy('10.0.0.1', 0)).toBe(false)
  })

  it('a function that throws does not trust the hop (and does not throw)', () => {
    const trusted = compileTrust(() => {
      throw new Error('boom')
    })
    expect(trusted('10.0.0.1', 0)).toBe(false)
  })

  it.each([
    ['a negative hop count', -1, /non-negative integer/],
    ['a fractional hop count', 1.5, /non-negative integer/],
    ['NaN', Number.NaN, /non-negative integer/],
    ['Infinity', Number.POSITIVE_INFINITY, /use true/],
    ['null', null, /got null/],
    ['an object', {}, /got object/],
    ['the string "true"', 'true', /did you mean the boolean true/],
    ['a numeric string', '1', /hop count must be a number/],
    ['an unparsable range', '10.0.0.0/33', /invalid prefix length/],
    ['an empty string', '', /empty entry/],
  ])('rejects %s with an IpRiskConfigError naming trustProxy', (_name, value, message) => {
    const error = configError(() => compileTrust(value as never))
    expect(error.option).toBe('trustProxy')
    expect(error.message).toMatch(message)
  })

  it('names the given option in its errors', () => {
    expect(configError(() => compileTrust(-1, 'graphql.trustProxy')).option).toBe('graphql.trustProxy')
    expect(configError(() => compileTrust(['nope'], 'graphql.trustProxy')).message).toContain('graphql.trustProxy')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------------------------------------

describe('createClientIpReader reads every RequestLike', () => {
  const read = createClientIpReader({ trustProxy: 'loopback' })

  it('a plain { headers, remoteAddress }', () => {
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }))).toEqual({
      ip: '203.0.113.7',
      source: 'x-forwarded-for',
      kind: 'documentation',
    })
  })

  it('a Node-shaped { headers, socket: { remoteAddress } }', () => {
    const req: RequestLike = { headers: { 'x-forwarded-for': '198.51.100.4' }, socket: { remoteAddress: '::1' } }
    expect(read(req)).toEqual({ ip: '198.51.100.4', source: 'x-forwarded-for', kind: 'documentation' })
  })

  it('the socket address wins over a remoteAddress property', () => {
    const req: RequestLike = { headers: {}, socket: { remoteAddress: '198.51.100.1' }, remoteAddress: '198.51.100.2' }
    expect(read(req).ip).toBe('198.51.100.1')
  })

  it('a fetch Request with the peer address passed alongside', () => {
    const req = new Request('http://localhost/', { headers: { 'X-Forwarded-For': '203.0.113.9' } })
    expect(read(req, '127.0.0.1')).toEqual({ ip: '203.0.113.9', source: 'x-forwarded-for', kind: 'documentation' })
    expect(read(req, '198.51.100.7')).toEqual({ ip: '198.51.100.7', source: 'socket', kind: 'documentation' })
  })

  it('a fetch Request without a peer address has no client IP', () => {
    const req = new Request('http://localhost/', { headers: { 'x-forwarded-for': '203.0.113.9' } })
    expect(read(req)).toEqual({ ip: null, source: null, kind: null })
    expect(read(req, null)).toEqual({ ip: null, source: null, kind: null })
  })

  it('an explicit peer address overrides the socket; null falls back to the socket', () => {
    const req: RequestLike = { headers: {}, socket: { remoteAddress: '198.51.100.1' } }
    expect(read(req, '198.51.100.9').ip).toBe('198.51.100.9')
    expect(read(req, null).ip).toBe('198.51.100.1')
    expect(read(req, undefined).ip).toBe('198.51.100.1')
  })

  it('a malformed explicit peer address gives no client IP, even when the socket has one', () => {
    const req: RequestLike = { headers: {}, socket: { remoteAddress: '198.51.100.1' } }
    expect(read(req, 'not-an-ip')).toEqual({ ip: null, source: null, kind: null })
  })

  it.each([
    ['no address at all', { headers: {} }],
    ['a destroyed socket', { headers: {}, socket: { remoteAddress: undefined } }],
    ['a null socket and no remoteAddress', { headers: {}, socket: null }],
    ['a malformed remoteAddress', { headers: {}, remoteAddress: '127.1' }],
  ] as [string, RequestLike][])('%s gives { ip: null, source: null, kind: null }', (_name, req) => {
    expect(read(req)).toEqual({ ip: null, source: null, kind: null })
  })

  it('tolerates missing or non-object headers', () => {
    expect(read({ remoteAddress: '127.0.0.1' } as unknown as RequestLike)).toEqual({
      ip: '127.0.0.1',
      source: 'socket',
      kind: 'loopback',
    })
    expect(read({ headers: 'x', remoteAddress: '127.0.0.1' } as unknown as RequestLike).ip).toBe('127.0.0.1')
    expect(read(null as unknown as RequestLike)).toEqual({ ip: null, source: null, kind: null })
  })

  it('looks plain-object header names up case-insensitively', () => {
    expect(read(plain('127.0.0.1', { 'X-Forwarded-For': '203.0.113.7' })).ip).toBe('203.0.113.7')
    expect(read(plain('127.0.0.1', { 'x-FORWARDED-for': '203.0.113.8' })).ip).toBe('203.0.113.8')
  })

  it('an exact lower-case key is preferred to other spellings', () => {
    expect(read(plain('127.0.0.1', { 'X-Forwarded-For': '203.0.113.1', 'x-forwarded-for': '203.0.113.2' })).ip).toBe(
      '203.0.113.2',
    )
  })

  it('trusts Node to have lower-cased the names of an IncomingMessage (rawHeaders present)', () => {
    const req = { headers: { 'X-Forwarded-For': '203.0.113.7' }, rawHeaders: [], socket: { remoteAddress: '127.0.0.1' } }
    expect(read(req as RequestLike)).toEqual({ ip: '127.0.0.1', source: 'socket', kind: 'loopback' })
  })

  it('reads string[] values as the entries of one list, in order', () => {
    const req = plain('127.0.0.1', { 'x-forwarded-for': ['198.51.100.1', '203.0.113.7, ::1'] })
    expect(createClientIpReader({ trustProxy: true })(req).ip).toBe('198.51.100.1')
    expect(read(req).ip).toBe('203.0.113.7')
  })

  it('a non-string element in a string[] value ends the walk there', () => {
    const req = plain('127.0.0.1', { 'x-forwarded-for': [42, '::1', '203.0.113.7'] as unknown as string[] })
    expect(createClientIpReader({ trustProxy: true })(req).ip).toBe('::1')
  })

  it('a fetch Headers value joined from duplicates is one list', () => {
    const headers = new Headers()
    headers.append('x-forwarded-for', '198.51.100.1')
    headers.append('x-forwarded-for', '203.0.113.7')
    expect(read({ headers }, '127.0.0.1').ip).toBe('203.0.113.7')
    expect(createClientIpReader({ trustProxy: 2 })({ headers }, '127.0.0.1').ip).toBe('198.51.100.1')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Trust model
// ---------------------------------------------------------------------------------------------------------------------

interface TrustCase {
  name: string
  options: ClientIpOptions
  peer: string
  xff?: string
  expected: { ip: string | null; source: ClientIp['source'] }
}

describe('the X-Forwarded-For walk (proxy-addr semantics)', () => {
  const cases: TrustCase[] = [
    {
      name: 'by default (trustProxy: false) the socket is the client and X-Forwarded-For is ignored',
      options: {},
      peer: '127.0.0.1',
      xff: '203.0.113.7',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'a spoofed X-Forwarded-For from an untrusted peer is ignored',
      options: { trustProxy: 'loopback' },
      peer: '198.51.100.9',
      xff: '1.2.3.4',
      expected: { ip: '198.51.100.9', source: 'socket' },
    },
    {
      name: 'a trusted peer with no X-Forwarded-For is the client',
      options: { trustProxy: 'loopback' },
      peer: '127.0.0.1',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'a chain of trusted proxies is walked right to left to the first untrusted hop',
      options: { trustProxy: ['10.0.0.0/8'] },
      peer: '10.0.0.1',
      xff: '6.6.6.6, 203.0.113.7, 10.0.0.3, 10.0.0.2',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
    {
      name: 'a client-supplied leftmost entry never wins behind trusted proxies',
      options: { trustProxy: 'private' },
      peer: '10.0.0.1',
      xff: '127.0.0.1, 198.51.100.20',
      expected: { ip: '198.51.100.20', source: 'x-forwarded-for' },
    },
    {
      name: 'when every hop is trusted the walk ends at the leftmost entry',
      options: { trustProxy: ['10.0.0.0/8'] },
      peer: '10.0.0.1',
      xff: '10.0.0.9, 10.0.0.2',
      expected: { ip: '10.0.0.9', source: 'x-forwarded-for' },
    },
    {
      name: 'trustProxy: true returns the furthest address',
      options: { trustProxy: true },
      peer: '198.51.100.1',
      xff: '6.6.6.6, 203.0.113.7, 10.0.0.2',
      expected: { ip: '6.6.6.6', source: 'x-forwarded-for' },
    },
    {
      name: 'hop count 1 trusts only the socket peer: the rightmost entry is the client',
      options: { trustProxy: 1 },
      peer: '198.51.100.1',
      xff: '6.6.6.6, 198.51.100.2, 203.0.113.7',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
    {
      name: 'hop count 2 trusts the peer and the rightmost entry',
      options: { trustProxy: 2 },
      peer: '198.51.100.1',
      xff: '6.6.6.6, 198.51.100.2, 203.0.113.7',
      expected: { ip: '198.51.100.2', source: 'x-forwarded-for' },
    },
    {
      name: 'a hop count larger than the list ends at the leftmost entry',
      options: { trustProxy: 5 },
      peer: '198.51.100.1',
      xff: '198.51.100.2, 203.0.113.7',
      expected: { ip: '198.51.100.2', source: 'x-forwarded-for' },
    },
    {
      name: 'hop count 0 trusts nothing',
      options: { trustProxy: 0 },
      peer: '127.0.0.1',
      xff: '203.0.113.7',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'a function trust decides per address and hop',
      options: { trustProxy: (addr, hop) => hop === 0 || addr.startsWith('198.51.100.') },
      peer: '203.0.113.1',
      xff: '6.6.6.6, 192.0.2.7, 198.51.100.3, 198.51.100.2',
      expected: { ip: '192.0.2.7', source: 'x-forwarded-for' },
    },
    {
      name: 'an IPv4-mapped socket is matched as IPv4 before the trust check',
      options: { trustProxy: '10.0.0.0/8' },
      peer: '::ffff:10.0.0.1',
      xff: '203.0.113.7',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
    {
      name: 'an IPv4-mapped untrusted socket with a forged X-Forwarded-For is the client, as IPv4',
      options: { trustProxy: '10.0.0.0/8' },
      peer: '::ffff:198.51.100.9',
      xff: '10.0.0.1, 1.2.3.4',
      expected: { ip: '198.51.100.9', source: 'socket' },
    },
    {
      name: 'an IPv4-mapped socket in hex form is mapped too',
      options: { trustProxy: 'loopback' },
      peer: '::ffff:7f00:1',
      xff: '203.0.113.7',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
    {
      name: 'an IPv6 socket with a zone id is trusted by its address',
      options: { trustProxy: 'linklocal' },
      peer: 'fe80::1%eth0',
      xff: '2001:db8::7',
      expected: { ip: '2001:db8::7', source: 'x-forwarded-for' },
    },
    {
      name: 'entries with ports, brackets and mapped forms are canonicalized',
      options: { trustProxy: 2 },
      peer: '127.0.0.1',
      xff: '[2001:DB8::7]:4711, ::ffff:203.0.113.7',
      expected: { ip: '2001:db8::7', source: 'x-forwarded-for' },
    },
    {
      name: 'a malformed entry ends the walk at the last valid address (trust all)',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '203.0.113.7, garbage, 198.51.100.7',
      expected: { ip: '198.51.100.7', source: 'x-forwarded-for' },
    },
    {
      name: 'a hop count larger than the real chain still never returns junk the client sent',
      options: { trustProxy: 2 },
      peer: '10.0.0.1',
      xff: 'unknown, 203.0.113.7',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
    {
      name: 'a malformed rightmost entry leaves the socket as the client',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '203.0.113.7, 1.2.3.4/../../admin',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'an empty X-Forwarded-For is absent',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'a whitespace-only X-Forwarded-For is absent',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: ' \t ',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'a trailing comma is an empty entry that ends the walk',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '203.0.113.7,',
      expected: { ip: '127.0.0.1', source: 'socket' },
    },
    {
      name: 'an empty entry in the middle ends the walk',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '203.0.113.7,,198.51.100.7',
      expected: { ip: '198.51.100.7', source: 'x-forwarded-for' },
    },
    {
      name: 'spaces and tabs around entries are allowed',
      options: { trustProxy: true },
      peer: '127.0.0.1',
      xff: '\t203.0.113.7 ,198.51.100.7\t',
      expected: { ip: '203.0.113.7', source: 'x-forwarded-for' },
    },
  ]

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const read = createClientIpReader(c.options)
    const headers: Record<string, string> = c.xff === undefined ? {} : { 'x-forwarded-for': c.xff }
    const got = read(plain(c.peer, headers))
    expect({ ip: got.ip, source: got.source }).toEqual(c.expected)
    if (got.ip !== null) expect(got.kind).toBe(classifyIp(got.ip))
  })

  it('calls the trust function hop by hop, starting with the socket as hop 0', () => {
    const calls: [string, number][] = []
    const read = createClientIpReader({
      trustProxy: (addr, hop) => {
        calls.push([addr, hop])
        return hop < 2
      },
    })
    expect(read(plain('::ffff:10.0.0.1', { 'x-forwarded-for': '203.0.113.7, 198.51.100.2, 10.0.0.2' })).ip).toBe(
      '198.51.100.2',
    )
    expect(calls).toEqual([
      ['10.0.0.1', 0],
      ['10.0.0.2', 1],
      ['198.51.100.2', 2],
    ])
  })

  it('reports the kind of non-global clients so they are never looked up', () => {
    const read = createClientIpReader({ trustProxy: true })
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': '[::1]:80' }))).toEqual({
      ip: '::1',
      source: 'x-forwarded-for',
      kind: 'loopback',
    })
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': '100.64.0.9' })).kind).toBe('carrierGradeNat')
  })
})

describe('one reader, many peers: the remembered peer never leaks into another request', () => {
  it('alternating trusted and untrusted peers each get their own verdict', () => {
    const read = createClientIpReader({ trustProxy: '10.0.0.0/8' })
    const xff = { 'x-forwarded-for': '203.0.113.7' }
    const sequence = [
      ['10.0.0.1', '203.0.113.7', 'x-forwarded-for'],
      ['198.51.100.9', '198.51.100.9', 'socket'],
      ['198.51.100.9', '198.51.100.9', 'socket'],
      ['::ffff:10.0.0.1', '203.0.113.7', 'x-forwarded-for'],
      ['10.0.0.1', '203.0.113.7', 'x-forwarded-for'],
      ['not an ip', null, null],
      ['10.0.0.1', '203.0.113.7', 'x-forwarded-for'],
    ] as const
    for (const [peer, ip, source] of sequence) {
      expect(read({ headers: xff, remoteAddress: peer })).toMatchObject({ ip, source })
    }
  })

  it("asks a user's trust function on every request (it may not be a pure function of the address)", () => {
    const trust = vi.fn((addr: string, hop: number) => hop === 0 && addr === '10.0.0.1')
    const read = createClientIpReader({ trustProxy: trust })
    const req = { headers: { 'x-forwarded-for': '203.0.113.7' }, remoteAddress: '10.0.0.1' }
    read(req)
    read(req)
    expect(trust.mock.calls.filter(([, hop]) => hop === 0)).toHaveLength(2)
  })
})

describe('one reader, many X-Forwarded-For values: remembered walks answer like fresh ones', () => {
  const options = { trustProxy: 'loopback, 10.0.0.0/8' } as const
  const cases: [peer: string, xff: string][] = [
    ['127.0.0.1', '203.0.113.7'],
    ['127.0.0.1', '203.0.113.7'],
    ['10.0.0.1', '203.0.113.7'],
    ['198.51.100.9', '203.0.113.7'], // untrusted peer: the header is not read, remembered or not
    ['127.0.0.1', '203.0.113.8, 10.0.0.2'],
    ['127.0.0.1', '203.0.113.8, 10.0.0.2'],
    ['127.0.0.1', 'garbage'], // no valid hop: the trusted peer itself
    ['::1', 'garbage'],
    ['127.0.0.1', '2001:DB8::1'],
    ['127.0.0.1', '2001:DB8::1'],
    ['198.51.100.9', '2001:DB8::1'],
    ['127.0.0.1', `${'198.51.100.1, '.repeat(20)}203.0.113.9`], // too long to remember: walked every time
    ['127.0.0.1', `${'198.51.100.1, '.repeat(20)}203.0.113.9`],
  ]
  const shared = createClientIpReader(options) // answers every request below, in order
  it.each(cases.map(([peer, xff], i) => [i, peer, xff]))('request %i (peer %s, X-Forwarded-For %s)', (_i, peer, xff) => {
    const fresh = createClientIpReader(options)(plain(peer, { 'x-forwarded-for': xff }))
    expect(shared(plain(peer, { 'x-forwarded-for': xff }))).toEqual(fresh)
  })

  it('answers a returning value with the same frozen object (the walk is done once)', () => {
    const read = createClientIpReader(options)
    const first = read(plain('127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }))
    const again = read(plain('10.0.0.3', { 'x-forwarded-for': '203.0.113.7' }))
    expect(again).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expect(first).toEqual({ ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' })
  })

  it('stays correct past its bound (20,000 distinct values, then the first ones again)', () => {
    const read = createClientIpReader({ trustProxy: true })
    const value = (n: number): string => `2001:db8:${((n >> 8) + 1).toString(16)}:${((n & 0xff) + 1).toString(16)}::1`
    for (let n = 0; n < 20_000; n++) expect(read(plain('127.0.0.1', { 'x-forwarded-for': value(n) })).ip).toBe(value(n))
    for (let n = 0; n < 10; n++) expect(read(plain('127.0.0.1', { 'x-forwarded-for': value(n) })).ip).toBe(value(n))
  })

  it("asks a user's trust function about every hop of every request (nothing is remembered)", () => {
    const trust = vi.fn((addr: string, hop: number) => hop === 0 || addr.startsWith('10.'))
    const read = createClientIpReader({ trustProxy: trust })
    const req = plain('127.0.0.1', { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' })
    expect(read(req).ip).toBe('203.0.113.7')
    expect(read(req).ip).toBe('203.0.113.7')
    expect(trust.mock.calls).toEqual([
      ['127.0.0.1', 0], ['10.0.0.2', 1], ['203.0.113.7', 2],
      ['127.0.0.1', 0], ['10.0.0.2', 1], ['203.0.113.7', 2],
    ])
  })

  it('with an opt-in header configured, that header still wins on every request', () => {
    const read = createClientIpReader({ trustProxy: 'loopback', headers: ['x-real-ip'] })
    const xff = '203.0.113.7'
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': xff })).ip).toBe('203.0.113.7')
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': xff, 'x-real-ip': '198.51.100.4' })).ip).toBe('198.51.100.4')
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': xff })).ip).toBe('203.0.113.7')
  })
})

describe('hostile X-Forwarded-For values never become the client IP', () => {
  const hostile = [
    '1.2.3.4/../../admin',
    '%2e%2e',
    '1.2.3.4%2e%2e',
    '1.2.3.4\r\nX-Injected: 1',
    '1.2.3.4\n',
    '1.2.3.4?x=1',
    '1.2.3.4#',
    '1.2.3.4#frag',
    '\uff11.\uff12.\uff13.\uff14',
    '\u0661.\u0662.\u0663.\u0664',
    '01.2.3.4',
    '0x7f.0.0.1',
    '127.1',
    '2130706433',
    'unknown',
    '_hidden',
    '<script>alert(1)</script>',
    '../../etc/passwd',
    'http://1.2.3.4/',
    '1.2.3.4@evil.example',
    '1.2.3.4 5.6.7.8',
    '1.2.3.4;5.6.7.8',
    '1.2.3.4\u0000',
    '1.2.3.4\u200b',
    '[1.2.3.4]',
    'fe80::1%2e%2e',
    `${' '.repeat(70)}203.0.113.7`,
    'a'.repeat(10_000),
  ]

  it.each(hostile.map((v) => [JSON.stringify(v).slice(0, 60), v]))(
    'as the rightmost entry from a trusted proxy, %s leaves the proxy as the client',
    (_label, value) => {
      const got = createClientIpReader({ trustProxy: 1 })(plain('10.0.0.1', { 'x-forwarded-for': value }))
      expect(got).toEqual({ ip: '10.0.0.1', source: 'socket', kind: 'private' })
    },
  )

  it.each(hostile.map((v) => [JSON.stringify(v).slice(0, 60), v]))(
    'behind a valid hop with every hop trusted, %s stops the walk at that hop',
    (_label, value) => {
      const got = createClientIpReader({ trustProxy: true })(
        plain('10.0.0.1', { 'x-forwarded-for': `${value}, 203.0.113.7` }),
      )
      expect(got).toEqual({ ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' })
    },
  )
})

describe('bounded work on giant headers (maxHops)', () => {
  const thousands = Array.from({ length: 5000 }, (_, i) => `198.51.${Math.floor(i / 256) % 256}.${i % 256}`).join(', ')

  it('with every hop trusted, stops after maxHops (default 32) entries from the right', () => {
    const entries = thousands.split(', ')
    const got = createClientIpReader({ trustProxy: true })(plain('127.0.0.1', { 'x-forwarded-for': thousands }))
    expect(got.ip).toBe(entries[entries.length - 32])
  })

  it('maxHops sets the bound', () => {
    const entries = thousands.split(', ')
    const got = createClientIpReader({ trustProxy: true, maxHops: 3 })(plain('127.0.0.1', { 'x-forwarded-for': thousands }))
    expect(got.ip).toBe(entries[entries.length - 3])
  })

  it('asks the trust function about at most maxHops + 1 hops', () => {
    const trust = vi.fn(() => true)
    createClientIpReader({ trustProxy: trust, maxHops: 8 })(plain('127.0.0.1', { 'x-forwarded-for': thousands }))
    expect(trust).toHaveBeenCalledTimes(8 + 1)
  })

  it('a hop count may equal maxHops', () => {
    const entries = thousands.split(', ')
    const got = createClientIpReader({ trustProxy: 4, maxHops: 4 })(plain('127.0.0.1', { 'x-forwarded-for': thousands }))
    expect(got.ip).toBe(entries[entries.length - 4])
  })

  it('a 1 MB entry without commas is malformed, not scanned into a result', () => {
    const huge = `203.0.113.7${'9'.repeat(1024 * 1024)}`
    const got = createClientIpReader({ trustProxy: true })(plain('127.0.0.1', { 'x-forwarded-for': huge }))
    expect(got).toEqual({ ip: '127.0.0.1', source: 'socket', kind: 'loopback' })
  })

  it('an entry of exactly 64 characters is read; 65 is too long', () => {
    const at64 = `${' '.repeat(64 - '203.0.113.7'.length)}203.0.113.7`
    const read = createClientIpReader({ trustProxy: 1 })
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': `198.51.100.1,${at64}` })).ip).toBe('203.0.113.7')
    expect(read(plain('127.0.0.1', { 'x-forwarded-for': `198.51.100.1, ${at64}` })).ip).toBe('127.0.0.1')
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Opt-in headers
// ---------------------------------------------------------------------------------------------------------------------

describe('x-real-ip and cf-connecting-ip (opt-in, single address)', () => {
  for (const header of ['x-real-ip', 'cf-connecting-ip'] as const) {
    describe(header, () => {
      const read = createClientIpReader({ trustProxy: 'loopback', headers: [header] })

      it('is honoured when the socket peer is trusted', () => {
        expect(read(plain('127.0.0.1', { [header]: '203.0.113.7' }))).toEqual({
          ip: '203.0.113.7',
          source: header,
          kind: 'documentation',
        })
      })

      it('is ignored when the socket peer is not trusted (spoofed)', () => {
        expect(read(plain('198.51.100.9', { [header]: '203.0.113.7' }))).toEqual({
          ip: '198.51.100.9',
          source: 'socket',
          kind: 'documentation',
        })
      })

      it('is ignored unless enabled', () => {
        const got = createClientIpReader({ trustProxy: 'loopback' })(plain('127.0.0.1', { [header]: '203.0.113.7' }))
        expect(got.source).toBe('socket')
      })

      it('wins over X-Forwarded-For when enabled', () => {
        const got = read(plain('127.0.0.1', { [header]: '203.0.113.7', 'x-forwarded-for': '198.51.100.1' }))
        expect(got.source).toBe(header)
      })

      it.each([
        ['a list (a second value was added)', '203.0.113.7, 198.51.100.1'],
        ['garbage', '1.2.3.4/../../admin'],
        ['an empty value', ''],
        ['an overlong value', `${' '.repeat(60)}203.0.113.7`],
      ])('holding %s is unusable: X-Forwarded-For is used instead', (_name, value) => {
        const got = read(plain('127.0.0.1', { [header]: value, 'x-forwarded-for': '198.51.100.1' }))
        expect({ ip: got.ip, source: got.source }).toEqual({ ip: '198.51.100.1', source: 'x-forwarded-for' })
      })

      it('strips a port and maps IPv4-mapped addresses', () => {
        expect(read(plain('127.0.0.1', { [header]: '[::ffff:203.0.113.7]:443' })).ip).toBe('203.0.113.7')
      })

      it('accepts a one-element array and ignores a longer one', () => {
        expect(read(plain('127.0.0.1', { [header]: ['203.0.113.7'] })).ip).toBe('203.0.113.7')
        expect(read(plain('127.0.0.1', { [header]: ['203.0.113.7', '198.51.100.1'] })).source).toBe('socket')
      })

      it('is read from a fetch Request', () => {
        const req = new Request('http://localhost/', { headers: { [header]: '2001:db8::9' } })
        expect(read(req, '::1')).toEqual({ ip: '2001:db8::9', source: header, kind: 'documentation' })
      })
    })
  }
})

describe('RFC 7239 Forwarded (opt-in)', () => {
  const read = createClientIpReader({ trustProxy: 'private', headers: ['forwarded'] })
  const via = (forwarded: string | string[], extra: Record<string, string> = {}): ClientIp =>
    read(plain('10.0.0.1', { forwarded, ...extra }))

  it.each([
    ['a token IPv4 node', 'for=203.0.113.7', '203.0.113.7'],
    ['a quoted IPv6 node with a port', 'for="[2001:db8:cafe::17]:4711"', '2001:db8:cafe::17'],
    ['a quoted bracketed IPv6 node without a port', 'for="[2001:DB8::17]"', '2001:db8::17'],
    ['a quoted IPv4 node with a port', 'for="203.0.113.7:8080"', '203.0.113.7'],
    ['an obfuscated port', 'for="203.0.113.7:_p1"', '203.0.113.7'],
    ['other parameters around for', 'proto=https;for=203.0.113.7;by=10.0.0.1', '203.0.113.7'],
    ['a case-insensitive parameter name', 'For=203.0.113.7', '203.0.113.7'],
    ['a quoted value with escapes in another parameter', 'host="a\\"b";for=203.0.113.7', '203.0.113.7'],
    ['a comma inside a quoted parameter', 'for=198.51.100.1, host="x,y";for=203.0.113.7', '203.0.113.7'],
    ['a chain of trusted proxies', 'for=198.51.100.1, for=203.0.113.7, for=10.0.0.2', '203.0.113.7'],
    ['an IPv4-mapped node', 'for="[::ffff:203.0.113.7]"', '203.0.113.7'],
  ])('reads %s', (_name, header, ip) => {
    expect(via(header)).toEqual({ ip, source: 'forwarded', kind: classifyIp(ip) })
  })

  it.each([
    ['unknown', 'for=203.0.113.7, for=unknown'],
    ['an obfuscated identifier', 'for=203.0.113.7, for=_hidden'],
    ['a quoted obfuscated identifier', 'for=203.0.113.7, for="_gazonk"'],
    ['an unquoted IPv6 address', 'for=203.0.113.7, for=2001:db8::1'],
    ['an unbracketed quoted IPv6 address', 'for=203.0.113.7, for="2001:db8::1"'],
    ['an element without for', 'for=203.0.113.7, proto=https'],
    ['a duplicated for', 'for=203.0.113.7, for=198.51.100.1;for=198.51.100.2'],
    ['an unterminated quote', 'for=203.0.113.7, for="198.51.100.1'],
    ['a bad parameter', 'for=203.0.113.7, for=198.51.100.1;=x'],
    ['a CRLF', 'for=203.0.113.7, for=198.51.100.1\r\n'],
    ['an empty element', 'for=203.0.113.7, '],
  ])('%s as the rightmost element gives nothing: X-Forwarded-For is used', (_name, header) => {
    expect(via(header, { 'x-forwarded-for': '198.51.100.50' })).toEqual({
      ip: '198.51.100.50',
      source: 'x-forwarded-for',
      kind: 'documentation',
    })
  })

  it('unknown / obfuscated identifiers end the walk at the last valid address', () => {
    expect(via('for=198.51.100.1, for=unknown, for=10.0.0.2').ip).toBe('10.0.0.2')
    expect(via('for=198.51.100.1, for=_hidden, for=10.0.0.3').ip).toBe('10.0.0.3')
  })

  it('a spoofed Forwarded from an untrusted peer is ignored', () => {
    expect(read(plain('198.51.100.9', { forwarded: 'for=203.0.113.7' })).source).toBe('socket')
  })

  it('multiple Forwarded lines (string[]) are one list, in order', () => {
    expect(via(['for=198.51.100.1', 'for=203.0.113.7']).ip).toBe('203.0.113.7')
  })

  it('an element over 256 characters ends the walk', () => {
    const long = `for=203.0.113.7;host="${'x'.repeat(260)}"`
    expect(via(`for=198.51.100.1, ${long}`, { 'x-forwarded-for': '198.51.100.50' }).source).toBe('x-forwarded-for')
  })

  it('is bounded by maxHops like X-Forwarded-For', () => {
    const list = Array.from({ length: 100 }, (_, i) => `for=10.0.${i}.1`).join(', ')
    const got = createClientIpReader({ trustProxy: true, headers: ['forwarded'], maxHops: 5 })(
      plain('127.0.0.1', { forwarded: list }),
    )
    expect(got.ip).toBe('10.0.95.1')
  })

  it('is ignored unless enabled', () => {
    const got = createClientIpReader({ trustProxy: 'private' })(plain('10.0.0.1', { forwarded: 'for=203.0.113.7' }))
    expect(got.source).toBe('socket')
  })
})

describe('precedence: the listed headers in order, then X-Forwarded-For, then the socket', () => {
  const all = {
    forwarded: 'for=203.0.113.1',
    'x-real-ip': '203.0.113.2',
    'cf-connecting-ip': '203.0.113.3',
    'x-forwarded-for': '203.0.113.4',
  }

  it.each([
    [['forwarded', 'x-real-ip', 'cf-connecting-ip'], 'forwarded'],
    [['x-real-ip', 'forwarded'], 'x-real-ip'],
    [['cf-connecting-ip', 'x-real-ip'], 'cf-connecting-ip'],
    [[], 'x-forwarded-for'],
  ] as [ClientIpOptions['headers'], string][])('headers %j picks %s', (headers, source) => {
    const got = createClientIpReader({ trustProxy: 'loopback', headers })(plain('127.0.0.1', all))
    expect(got.source).toBe(source)
  })

  it('an absent or unusable listed header falls through to the next source', () => {
    const read = createClientIpReader({ trustProxy: 'loopback', headers: ['cf-connecting-ip', 'x-real-ip'] })
    expect(read(plain('127.0.0.1', { 'x-real-ip': '203.0.113.2', 'x-forwarded-for': '203.0.113.4' })).source).toBe(
      'x-real-ip',
    )
    expect(read(plain('127.0.0.1', { 'cf-connecting-ip': 'junk', 'x-forwarded-for': '203.0.113.4' })).source).toBe(
      'x-forwarded-for',
    )
    expect(read(plain('127.0.0.1', { 'cf-connecting-ip': 'junk' }))).toEqual({
      ip: '127.0.0.1',
      source: 'socket',
      kind: 'loopback',
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------------

describe('createClientIpReader option validation', () => {
  it.each([
    ['maxHops 0', { maxHops: 0 }, 'maxHops'],
    ['maxHops -1', { maxHops: -1 }, 'maxHops'],
    ['fractional maxHops', { maxHops: 1.5 }, 'maxHops'],
    ['maxHops above 1024', { maxHops: 1025 }, 'maxHops'],
    ['maxHops as a string', { maxHops: '32' as unknown as number }, 'maxHops'],
    ['a hop count above maxHops', { trustProxy: 33 }, 'trustProxy'],
    ['a hop count above an explicit maxHops', { trustProxy: 5, maxHops: 4 }, 'trustProxy'],
    ['headers not an array', { headers: 'x-real-ip' as never }, 'headers'],
    ['an unknown header', { headers: ['true-client-ip' as never] }, 'headers'],
    ['x-forwarded-for listed', { headers: ['x-forwarded-for' as never] }, 'headers'],
    ['a header listed twice', { headers: ['x-real-ip', 'x-real-ip'] }, 'headers'],
    ['a bad trustProxy range', { trustProxy: ['10.0.0.0/8', '300.1.1.1'] }, 'trustProxy'],
    ['a trustProxy of the wrong type', { trustProxy: { cidr: '10.0.0.0/8' } as never }, 'trustProxy'],
  ] as [string, ClientIpOptions, string][])('rejects %s, naming %s', (_name, options, option) => {
    const error = configError(() => createClientIpReader(options))
    expect(error.option).toBe(option)
    expect(error.message).toContain(`\`${option}\``)
  })

  it('rejects options that are not an object', () => {
    expect(configError(() => createClientIpReader('loopback' as never)).option).toBe('options')
  })

  it('treats trustProxy: null and undefined as the default (false)', () => {
    const req = plain('127.0.0.1', { 'x-forwarded-for': '203.0.113.7' })
    expect(createClientIpReader({ trustProxy: null as never })(req).source).toBe('socket')
    expect(createClientIpReader({ trustProxy: undefined })(req).source).toBe('socket')
  })

  it('accepts header names in any case', () => {
    const read = createClientIpReader({ trustProxy: true, headers: ['X-Real-IP' as never] })
    expect(read(plain('127.0.0.1', { 'x-real-ip': '203.0.113.7' })).source).toBe('x-real-ip')
  })

  it('accepts maxHops 1 and 1024', () => {
    expect(() => createClientIpReader({ maxHops: 1 })).not.toThrow()
    expect(() => createClientIpReader({ maxHops: 1024, trustProxy: 1024 })).not.toThrow()
  })

  it('listed headers have no effect while trustProxy is false', () => {
    const got = createClientIpReader({ headers: ['x-real-ip'] })(plain('127.0.0.1', { 'x-real-ip': '203.0.113.7' }))
    expect(got.source).toBe('socket')
  })
})

describe('clientIp (convenience)', () => {
  it('gives the same answer as a compiled reader', () => {
    const req = plain('10.0.0.1', { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' })
    const options: ClientIpOptions = { trustProxy: 'private' }
    expect(clientIp(req, options)).toEqual(createClientIpReader(options)(req))
    expect(clientIp(req, options)).toEqual({ ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' })
  })

  it('takes the peer address of a fetch Request as an option', () => {
    expect(clientIp(new Request('http://localhost/'), { peerAddress: '198.51.100.4' })).toEqual({
      ip: '198.51.100.4',
      source: 'socket',
      kind: 'documentation',
    })
  })

  it('defaults to trusting no proxy', () => {
    expect(clientIp(plain('127.0.0.1', { 'x-forwarded-for': '203.0.113.7' })).ip).toBe('127.0.0.1')
  })

  it('throws IpRiskConfigError on bad options', () => {
    expect(() => clientIp(plain('127.0.0.1'), { trustProxy: -2 })).toThrow(IpRiskConfigError)
  })

  it('returns a frozen "no IP" answer that callers cannot corrupt', () => {
    const none = clientIp(plain(undefined))
    expect(Object.isFrozen(none)).toBe(true)
  })
})
