// The core checks addresses without `node:net` (issue #18: edge runtimes have none): `isIP`, `isIPv4` and `isIPv6` in
// src/core/ip-address.ts copy Node's own patterns. They must accept exactly what `node:net` accepts, or a client IP,
// a CIDR entry or a provider answer would be read differently on Node and on the edge.
import * as net from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isIP, isIPv4, isIPv6 } from '../../src/core/ip-address.js'

function same(s: string): void {
  expect([isIP(s), isIPv4(s), isIPv6(s)], JSON.stringify(s)).toEqual([net.isIP(s), net.isIPv4(s), net.isIPv6(s)])
}

const ipChars = fc.constantFrom(...'0123456789abcdefABCDEFx.:%/[] -'.split(''), '::', '255', '256', '00', '1.2.3.4')

describe('isIP / isIPv4 / isIPv6 agree with node:net', () => {
  it.each([
    '203.0.113.7',
    '0.0.0.0',
    '255.255.255.255',
    '256.0.0.1',
    '203.0.113.07',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    '',
    '::',
    '::1',
    '2001:db8::1',
    '2001:DB8::1',
    '::ffff:203.0.113.7',
    '::ffff:203.0.113.07',
    '64:ff9b::203.0.113.7',
    'fe80::1%eth0',
    'fe80::1%',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':::',
    '[::1]',
    '2001:db8::1/64',
    'unknown',
    '12345::',
  ])('%j', (s) => same(s))

  it('on random IPv4, IPv6 and IPv4-in-IPv6 addresses', () => {
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6()), same), { numRuns: 3_000 })
  })

  it('on random strings made of address characters', () => {
    fc.assert(fc.property(fc.array(ipChars, { maxLength: 14 }).map((a) => a.join('')), same), { numRuns: 20_000 })
  })

  it('on random addresses with one character changed', () => {
    const mutated = fc
      .tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.nat(), fc.constantFrom('', '0', ':', '.', 'g', '%', 'F', '9'))
      .map(([ip, at, c]) => {
        const i = at % (ip.length + 1)
        return ip.slice(0, i) + c + ip.slice(i + 1)
      })
    fc.assert(fc.property(mutated, same), { numRuns: 10_000 })
  })
})
