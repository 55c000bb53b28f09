/**
 * Block propagation without Redis: the message codec (what is published, what is accepted back), stream ids, and
 * the `cache.propagateBlocks` option (default, switch off, refusals). The behaviour against a real Redis is in
 * propagation.test.ts and propagation-faults.test.ts.
 */
import { describe, expect, it, vi } from 'vitest'
import { InvalidRecord } from '../../src/core/cache.js'
import { IpRiskConfigError } from '../../src/core/errors.js'
import {
  BLOCK_STREAM_MAXLEN,
  blockStreamKey,
  compareIds,
  entriesOf,
  parseMessage,
  xaddArgs,
} from '../../src/core/fleet/propagation-message.js'
import { createRiskResolver, resolverInternals } from '../../src/core/resolver.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const NOW = Date.UTC(2026, 11, 7)
const limits = { now: NOW, maxFreshMs: 0, maxBlockMs: 30 * 24 * 3600 * 1000 }
const DATA = { score: 97, isVpn: true, isProxy: false, isTor: false, isDatacenter: true, countryCode: 'NL', asn: 64500, isp: 'Example' }

/** The field / value list an XADD of `args` stores. */
const fieldsOf = (args: string[]): string[] => args.slice(args.indexOf('*') + 1)

describe('block messages', () => {
  it('the stream key is hash-tagged {fleet} and versioned like the L2 keys', () => {
    expect(blockStreamKey('app')).toMatch(/^app:\d+:\{fleet\}:blocks$/)
  })

  it('a published block and unblock read back as themselves; XADD trims the stream approximately', () => {
    const block = { op: 'block', ip: '203.0.113.7', until: NOW + 60_000, data: DATA, origin: 'id-1' } as const
    const args = xaddArgs('s', block)
    expect(args.slice(0, 6)).toEqual(['XADD', 's', 'MAXLEN', '~', String(BLOCK_STREAM_MAXLEN), '*'])
    expect(parseMessage(fieldsOf(args), limits)).toEqual(block)
    const unblock = { op: 'unblock', ip: '2001:db8::1', origin: 'id-2' } as const
    expect(parseMessage(fieldsOf(xaddArgs('s', unblock)), limits)).toEqual(unblock)
    const noData = { ...block, data: null }
    expect(parseMessage(fieldsOf(xaddArgs('s', noData)), limits)).toEqual(noData)
  })

  const rec = JSON.stringify({ u: NOW + 60_000, d: null })
  const refused: [string, unknown][] = [
    ['not a list', 'v 1 op unblock'],
    ['an odd list', ['v', '1', 'op']],
    ['a field that is not a string', ['v', 1, 'op', 'unblock', 'ip', '203.0.113.7', 'from', 'x']],
    ['a field twice', ['v', '1', 'op', 'unblock', 'ip', '203.0.113.7', 'ip', '203.0.113.8']],
    ['no origin', ['v', '1', 'op', 'unblock', 'ip', '203.0.113.7', 'x', 'y']],
    ['an extra field', ['v', '1', 'op', 'unblock', 'ip', '203.0.113.7', 'from', 'x', 'rec', rec]],
    ['another version', ['v', '2', 'op', 'unblock', 'ip', '203.0.113.7', 'from', 'x']],
    ['an unknown op', ['v', '1', 'op', 'purge', 'ip', '203.0.113.7', 'from', 'x']],
    ['an empty ip', ['v', '1', 'op', 'unblock', 'ip', '', 'from', 'x']],
    ['an ip too long', ['v', '1', 'op', 'unblock', 'ip', '1'.repeat(65), 'from', 'x']],
    ['an origin too long', ['v', '1', 'op', 'unblock', 'ip', '203.0.113.7', 'from', 'x'.repeat(65)]],
    ['a block without rec', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'from', 'x', 'y', 'z']],
    ['rec not JSON', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', '{', 'from', 'x']],
    ['rec too long', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', ' '.repeat(9_000), 'from', 'x']],
    ['rec null', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', 'null', 'from', 'x']],
    ['rec with an extra key', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', '{"u":1,"d":null,"x":1}', 'from', 'x']],
    ['rec blocked past the longest block', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', `{"u":${NOW + 40 * 86_400_000},"d":null}`, 'from', 'x']],
    ['rec data out of range', ['v', '1', 'op', 'block', 'ip', '203.0.113.7', 'rec', `{"u":${NOW},"d":[101,null,null,null,null,null,null,null]}`, 'from', 'x']],
  ]
  it.for(refused)('refuses %s', ([, raw]) => {
    expect(parseMessage(raw, limits)).toBeInstanceOf(InvalidRecord)
  })

  it('an XREAD reply: entries in order, a bad entry marked invalid, a reply of another shape refused', () => {
    const good = fieldsOf(xaddArgs('s', { op: 'unblock', ip: '203.0.113.7', origin: 'x' }))
    const reply = [['s', [['1-0', good], ['2-0', ['junk']], ['3-0', 'not a list']]]]
    const entries = entriesOf(reply, limits)
    expect(entries?.map((e) => [e.id, e.message instanceof InvalidRecord])).toEqual([['1-0', false], ['2-0', true], ['3-0', true]])
    expect(entriesOf(null, limits)).toEqual([])
    for (const bad of ['x', [], [['s']], [['s', [['not-an-id', good]]]], [['s', [['1-0']]]]]) expect(entriesOf(bad, limits)).toBeUndefined()
  })

  it.for([
    ['1-0', '2-0', -1],
    ['10-0', '9-0', 1],
    ['5-3', '5-12', -1],
    ['7-1', '7-1', 0],
    ['18446744073709551615-0', '18446744073709551614-9', 1],
  ] as const)('compares %s and %s as numbers', ([a, b, sign]) => {
    expect(Math.sign(compareIds(a, b))).toBe(sign)
  })
})

describe('cache.propagateBlocks', () => {
  const provider = createMemoryProvider({})

  it('is on by default with a redis:// URL, off with `false`, and off without Redis', async () => {
    const on = createRiskResolver({ provider, cache: 'redis://127.0.0.1:1' })
    const off = createRiskResolver({ provider, cache: { l2: 'redis://127.0.0.1:1', propagateBlocks: false } })
    const none = createRiskResolver({ provider })
    expect(resolverInternals(on).propagation).toBeDefined()
    expect(resolverInternals(off).propagation).toBeUndefined()
    expect(resolverInternals(none).propagation).toBeUndefined()
    for (const r of [on, off, none]) await r.close()
    expect(resolverInternals(on).propagation?.state()).toBe('closed')
  })

  it('`true` without a shared cache is refused at start-up; a value that is not a boolean too', () => {
    expect(() => createRiskResolver({ provider, cache: { propagateBlocks: true } })).toThrow(IpRiskConfigError)
    expect(() => createRiskResolver({ provider, cache: { propagateBlocks: true } })).toThrow(/cache\.propagateBlocks/)
    expect(() => createRiskResolver({ provider, cache: { l2: 'redis://127.0.0.1:1', propagateBlocks: 'yes' as never } })).toThrow(
      /cache\.propagateBlocks.*true or false/,
    )
  })

  it('`true` with a Keyv of the application (no Redis link) is reported once, naming the option', async () => {
    const keyv = { get: async () => undefined, set: async () => true, delete: async () => true, on: () => keyv }
    const warn = vi.fn()
    const r = createRiskResolver({ provider, cache: { l2: keyv as never, propagateBlocks: true }, logger: { info: vi.fn(), warn } })
    expect(resolverInternals(r).propagation).toBeUndefined()
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0]?.[1]).toMatch(/`cache\.propagateBlocks`: block propagation needs Redis/)
    await r.close()
  })
})

describe('a block that arrives while L2 is read', () => {
  it('stands: the read (started before it, finding no block) neither clears it nor answers past it', async () => {
    // An in-process store whose reads wait for the test: the L2 read of the lookup is pending while the block comes.
    let release: (() => void) | undefined
    const store = new Map<string, unknown>()
    const keyv = {
      get: async (k: string) => store.get(k),
      getMany: (keys: string[]) =>
        new Promise<unknown[]>((resolve) => {
          const values = keys.map((k) => store.get(k)) // read now: before the block
          release = () => resolve(values)
        }),
      set: async (k: string, v: unknown) => {
        store.set(k, v)
        return true
      },
      delete: async (k: string) => store.delete(k),
      on: () => keyv,
    }
    const provider = createMemoryProvider(() => ({ score: 10 }))
    const risk = createRiskResolver({ provider, scoreDocumentationRanges: true, cache: { l2: keyv as never } })
    const ip = '203.0.113.80'
    const looking = risk.lookup(ip)
    await vi.waitFor(() => expect(release).toBeDefined())
    await risk.block(ip, 600) // as a propagated block would: L1 holds it now
    release?.()
    expect((await looking).listed).toBe('blocklist')
    expect(risk.peek(ip)?.listed).toBe('blocklist')
    expect(provider.calls).toBe(0)
    await risk.close()
  })
})
