import fc from 'fast-check'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { describe, expect, it } from 'vitest'
import { compileTrust, createClientIpReader, parseIp, type TrustProxy } from '../../src/core/ip.js'
import type { ClientIp } from '../../src/core/types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

const octet = fc.nat(255)
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'))
const port = fc.integer({ min: 0, max: 65535 })
/** Eight groups, zeros frequent enough to exercise `::` compression. */
const groups = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.nat(0xffff)), { minLength: 8, maxLength: 8 })

/** Any valid spelling of the groups: leading zeros or not, any case, any (or no) zero run written as `::`. */
function spelling(g: number[]): fc.Arbitrary<string> {
  const runs: [number, number][] = []
  for (let i = 0; i < 8; i++) for (let j = i; j < 8 && g[j] === 0; j++) runs.push([i, j + 1])
  return fc.tuple(fc.constantFrom<[number, number] | null>(null, ...runs), fc.boolean(), fc.boolean()).map(([run, pad, upper]) => {
    const hex = (x: number): string => (pad ? x.toString(16).padStart(4, '0') : x.toString(16))
    const text =
      run === null
        ? g.map(hex).join(':')
        : `${g.slice(0, run[0]).map(hex).join(':')}::${g.slice(run[1]).map(hex).join(':')}`
    return upper ? text.toUpperCase() : text
  })
}
const ipv6 = groups.map((g) => new ipaddr.IPv6(g).toRFC5952String())

/** Addresses the trust settings below care about, so walks go deep. */
const interesting = fc.constantFrom(
  '10.0.0.1',
  '10.0.0.2',
  '10.0.0.66',
  '127.0.0.1',
  '::1',
  '::ffff:10.0.0.3',
  '203.0.113.7',
  '203.0.113.200',
  '198.51.100.1',
  '2001:db8::1',
  'fd00::1',
)

/** One X-Forwarded-For entry: valid in many spellings, hostile, or long. */
const entry = fc.oneof(
  { weight: 4, arbitrary: interesting },
  { weight: 2, arbitrary: ipv4 },
  { weight: 1, arbitrary: fc.tuple(ipv4, port).map(([ip, p]) => `${ip}:${p}`) },
  { weight: 1, arbitrary: ipv6 },
  { weight: 1, arbitrary: fc.tuple(ipv6, port).map(([ip, p]) => `[${ip.toUpperCase()}]:${p}`) },
  { weight: 1, arbitrary: ipv4.map((ip) => `::ffff:${ip}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('unknown', '', ' ', '01.2.3.4', '1.2.3.4/../x', '%2e%2e', '1.2.3.4\r\n', '127.1', '[::1'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 55, max: 80 }).map((n) => `${' '.repeat(n)}1.2.3.4`) },
)

const padded = fc
  .tuple(fc.constantFrom('', ' ', '\t', '  '), entry, fc.constantFrom('', ' ', '\t'))
  .map(([a, e, b]) => `${a}${e}${b}`)

/** A whole X-Forwarded-For value. */
const xffValue = fc.oneof(
  { weight: 5, arbitrary: fc.array(padded, { maxLength: 12 }).map((list) => list.join(',')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
)

const xffHeader = fc.oneof(
  { weight: 4, arbitrary: xffValue },
  { weight: 1, arbitrary: fc.array(xffValue, { minLength: 1, maxLength: 3 }) },
)

const peer = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('10.0.0.1', '::ffff:10.0.0.1', '127.0.0.1', '::1', '203.0.113.9', 'fe80::1%eth0') },
  { weight: 1, arbitrary: ipv4 },
  { weight: 1, arbitrary: fc.constantFrom('garbage', '', '127.1', '[::1]:80') },
)

const trustOption: fc.Arbitrary<TrustProxy> = fc.oneof(
  fc.constant(true),
  fc.constant(false),
  fc.integer({ min: 0, max: 6 }),
  fc.constantFrom<TrustProxy>('private', ['10.0.0.0/8'], 'loopback, 203.0.113.0/24', ['10.0.0.0/8', 'fd00::/8']),
  fc.constant<TrustProxy>((addr, hop) => hop < 4 && addr !== '10.0.0.66'),
)

const settings = fc.tuple(trustOption, fc.integer({ min: 1, max: 8 })).map(([trustProxy, maxHops]) => ({
  trustProxy,
  maxHops: typeof trustProxy === 'number' ? Math.max(maxHops, trustProxy, 1) : maxHops,
}))

// ---------------------------------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The X-Forwarded-For walk written the naive way (split the whole header, walk the array), with the same rules:
 * entries over 64 characters or that do not parse end the walk, at most `maxHops` entries are read.
 */
function naiveWalk(
  peerText: string,
  xff: string | string[] | undefined,
  options: { trustProxy: TrustProxy; maxHops: number },
): { ip: string | null; source: ClientIp['source'] } {
  const p = parseIp(peerText)
  if (p === null) return { ip: null, source: null }
  const trust = compileTrust(options.trustProxy)
  if (!trust(p, 0) || xff === undefined) return { ip: p, source: 'socket' }
  const entries = (typeof xff === 'string' ? xff : xff.join(',')).split(',')
  let addr = p
  let hop = 0
  for (let k = entries.length - 1; k >= 0 && hop < options.maxHops; k--) {
    const raw = entries[k] as string
    const next = raw.length > 64 ? null : parseIp(raw)
    if (next === null) break
    addr = next
    hop++
    if (!trust(addr, hop)) break
  }
  return hop === 0 ? { ip: p, source: 'socket' } : { ip: addr, source: 'x-forwarded-for' }
}

// ---------------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------------

describe('client IP properties', () => {
  it('the bounded right-to-left scan gives the same answer as splitting the whole header', () => {
    fc.assert(
      fc.property(peer, xffHeader, settings, (peerText, xff, options) => {
        const got = createClientIpReader(options)({ headers: { 'x-forwarded-for': xff }, remoteAddress: peerText })
        const want = naiveWalk(peerText, xff, options)
        expect({ ip: got.ip, source: got.source }).toEqual(want)
      }),
      { numRuns: 1000 },
    )
  })

  it('one reader answering many requests (repeated headers, changing peers) agrees with the oracle on each', () => {
    // A small pool of values, so that values come back (the reader remembers walks per value) under changing peers.
    const request = fc.tuple(peer, xffHeader)
    fc.assert(
      fc.property(settings, fc.array(request, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(40), { maxLength: 40 }), (options, pool, picks) => {
        const read = createClientIpReader(options)
        for (const k of [0, ...picks]) {
          const [peerText, xff] = pool[k % pool.length] as [string, string | string[]]
          const got = read({ headers: { 'x-forwarded-for': xff }, remoteAddress: peerText })
          expect({ ip: got.ip, source: got.source }).toEqual(naiveWalk(peerText, xff, options))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('never throws; the result is null, the socket address, or a complete entry in a trusted position', () => {
    const anyText = fc.oneof(xffValue, fc.string({ unit: 'binary', maxLength: 300 }))
    fc.assert(
      fc.property(
        peer,
        fc.record({
          'x-forwarded-for': fc.option(anyText, { nil: undefined }),
          'x-real-ip': fc.option(fc.oneof(entry, anyText), { nil: undefined }),
          'cf-connecting-ip': fc.option(fc.oneof(entry, anyText), { nil: undefined }),
        }),
        settings,
        fc.subarray(['x-real-ip', 'cf-connecting-ip'] as const),
        (peerText, headers, options, enabled) => {
          const got = createClientIpReader({ ...options, headers: enabled })({ headers, remoteAddress: peerText })
          const socket = parseIp(peerText)
          if (got.ip === null) {
            expect(got).toEqual({ ip: null, source: null, kind: null })
            expect(socket).toBeNull()
            return
          }
          expect(isIP(got.ip)).not.toBe(0)
          expect(got.ip).toBe(parseIp(got.ip)) // canonical
          if (got.source === 'socket') {
            expect(got.ip).toBe(socket)
            return
          }
          const trust = compileTrust(options.trustProxy)
          expect(trust(socket as string, 0)).toBe(true) // headers are only read behind a trusted peer
          if (got.source === 'x-real-ip' || got.source === 'cf-connecting-ip') {
            expect(enabled).toContain(got.source)
            expect(got.ip).toBe(parseIp(headers[got.source] as string))
            return
          }
          expect(got.source).toBe('x-forwarded-for')
          const entries = (headers['x-forwarded-for'] as string).split(',').reverse()
          const k = entries.findIndex((e, i) => i < options.maxHops && e.length <= 64 && parseIp(e) === got.ip)
          expect(k).toBeGreaterThanOrEqual(0)
          // every hop before it (its reporters) was trusted
          for (let j = 0; j < k; j++) expect(trust(parseIp(entries[j] as string) as string, j + 1)).toBe(true)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('Forwarded: the result is the socket or a for= address of an element in a trusted position', () => {
    const node = fc.oneof(
      ipv4,
      interesting.filter((ip) => !ip.includes(':')),
      ipv6.map((ip) => `"[${ip}]"`),
      fc.tuple(ipv4, port).map(([ip, p]) => `"${ip}:${p}"`),
      fc.constantFrom('unknown', '_hidden', '"_x"', '2001:db8::1', '"01.2.3.4"', ''),
    )
    const element = fc
      .tuple(node, fc.constantFrom('', ';proto=https', ';by=10.0.0.9', 'proto=http;'))
      .map(([n, extra]) => (extra.endsWith(';') ? `${extra}for=${n}` : `for=${n}${extra}`))
    const header = fc.oneof(
      fc.array(element, { maxLength: 8 }).map((list) => list.join(', ')),
      fc.string({ maxLength: 100 }),
    )
    const strip = (e: string): string | null => {
      const m = /for=("?)(.*?)\1(?:;|$)/i.exec(e.trim())
      if (m === null) return null
      return parseIp(m[2] as string)
    }
    fc.assert(
      fc.property(peer, header, settings, (peerText, forwarded, options) => {
        const got = createClientIpReader({ ...options, headers: ['forwarded'] })({
          headers: { forwarded },
          remoteAddress: peerText,
        })
        if (got.source !== 'forwarded') {
          expect(got.ip === null || got.ip === parseIp(peerText)).toBe(true)
          return
        }
        const trust = compileTrust(options.trustProxy)
        const elements = forwarded.split(',').reverse()
        const k = elements.findIndex((e, i) => i < options.maxHops && strip(e) === got.ip)
        expect(k).toBeGreaterThanOrEqual(0)
        for (let j = 0; j < k; j++) expect(trust(strip(elements[j] as string) as string, j + 1)).toBe(true)
      }),
      { numRuns: 500 },
    )
  })
})

describe('parseIp properties', () => {
  it('canonical IPv6 equals ipaddr.js RFC 5952 text for any spelling of the groups', () => {
    const isMapped = (g: number[]): boolean => g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff
    const withSpelling = groups.filter((g) => !isMapped(g)).chain((g) => fc.tuple(fc.constant(g), spelling(g)))
    fc.assert(
      fc.property(withSpelling, ([g, text]) => {
        const want = new ipaddr.IPv6(g).toRFC5952String()
        expect(parseIp(text)).toBe(want)
        expect(parseIp(`[${text}]:443`)).toBe(want)
      }),
      { numRuns: 2000 },
    )
  })

  it('an embedded dotted quad reads as the last two groups', () => {
    fc.assert(
      fc.property(groups, (g) => {
        const last = g.slice(6) as [number, number]
        const dotted = `${last[0] >> 8}.${last[0] & 255}.${last[1] >> 8}.${last[1] & 255}`
        const text = `${g.slice(0, 6).map((x) => x.toString(16)).join(':')}:${dotted}`
        const isMapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff
        expect(parseIp(text)).toBe(isMapped ? dotted : new ipaddr.IPv6(g).toRFC5952String())
      }),
      { numRuns: 1000 },
    )
  })

  it('every IPv4-mapped spelling becomes the dotted IPv4 address', () => {
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (o) => {
        const dotted = o.join('.')
        const hex = `::ffff:${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`
        expect(parseIp(`::ffff:${dotted}`)).toBe(dotted)
        expect(parseIp(hex)).toBe(dotted)
        expect(parseIp(`[0:0:0:0:0:FFFF:${dotted}]:1`)).toBe(dotted)
      }),
    )
  })

  it('never throws and only returns text that net.isIP accepts, in lower case', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), padded), (text) => {
        const got = parseIp(text)
        if (got !== null) {
          expect(isIP(got)).not.toBe(0)
          expect(got).toBe(got.toLowerCase())
        }
      }),
      { numRuns: 2000 },
    )
  })
})
