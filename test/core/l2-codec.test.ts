/**
 * The shared-cache (L2) record codec on its own: what `parseRisk` / `parseBlock` accept (exactly the records a
 * resolver with the given TTLs writes) and refuse (with a fixed problem text), the Redis connection's deserializer
 * (never throws), and how `SharedTier` treats a refused value: a miss for its key, counted and reported, never a failure
 * of the store. The same rules hold against the real Redis in test/reliability/hostile-redis.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  InvalidRecord,
  L2_BREAKER_FAILURES,
  L2_CLOCK_TOLERANCE_MS,
  L2_MAX_BLOCK_MS,
  L2_MAX_VALUE_CHARS,
  SharedTier,
  deserializeEntry,
  encodeBlock,
  encodeRisk,
  parseBlock,
  parseRisk,
  type KeyvLike,
  type RecordLimits,
} from '../../src/core/cache.js'
import { MAX_ASN, MAX_ISP_LENGTH, normalizeData } from '../../src/core/risk-data.js'
import type { RiskData } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'
import {
  L2_CLOCK_TOLERANCE_MS as DOCUMENTED_TOLERANCE_MS,
  L2_SEED as SEED,
  TOR,
  TOR_TUPLE,
  hostileRecord,
  hostileTuple,
  normalData,
  oracleBlock,
  oracleRisk,
  tupleToData,
} from '../support/l2-records.js'

const NOW = Date.UTC(2030, 0, 1)
const TTL_MS = 300_000
const LIMITS: RecordLimits = { now: NOW, maxFreshMs: TTL_MS, maxBlockMs: L2_MAX_BLOCK_MS }


function problem(value: unknown): string | undefined {
  return value instanceof InvalidRecord ? value.problem : undefined
}

/** A record as Redis hands it back: through JSON. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

/**
 * Property over hostile records keyed by `timeKey`: `parse` accepts a value exactly when the oracle (`expected`) says a
 * resolver could have written it, and then reads it as `expected` says; anything else is absent or an
 * {@link InvalidRecord}. Returns how many values were accepted (so a test can check the generator reached valid ones).
 */
function agreesWithOracle(
  timeKey: 'f' | 'u',
  numRuns: number,
  parse: (value: unknown) => unknown,
  expected: (value: unknown) => unknown,
): number {
  let accepted = 0
  fc.assert(
    fc.property(hostileRecord(timeKey, LIMITS), (value) => {
      const parsed = parse(value)
      const wanted = expected(value)
      if (wanted !== undefined) {
        accepted++
        expect(parsed).toStrictEqual(wanted)
      } else {
        expect(parsed === undefined || parsed instanceof InvalidRecord, JSON.stringify(value)).toBe(true)
      }
    }),
    { seed: SEED, numRuns },
  )
  return accepted
}

// ---------------------------------------------------------------------------------------------------------------------

describe('L2 answer records (parseRisk)', () => {
  it('tolerates one minute of clock difference between instances, as documented', () => {
    expect(L2_CLOCK_TOLERANCE_MS).toBe(60_000)
    expect(DOCUMENTED_TOLERANCE_MS).toBe(L2_CLOCK_TOLERANCE_MS)
  })

  it('reads back exactly what a resolver writes, for any normal data fresh within the TTL', () => {
    fc.assert(
      fc.property(normalData, fc.integer({ min: -TTL_MS, max: TTL_MS + L2_CLOCK_TOLERANCE_MS }), (data, dt) => {
        expect(parseRisk(viaJson(encodeRisk(data, NOW + dt)), LIMITS)).toStrictEqual({ data, freshUntil: NOW + dt })
      }),
      { seed: SEED, numRuns: 2_000 },
    )
  })

  it('the issue\'s record (fresh until 9e15, score 0) is refused: fresh for longer than the configured TTL', () => {
    const value = { f: 9e15, d: [0, false, false, false, false, null, null, null] }
    expect(problem(parseRisk(value, LIMITS))).toBe('fresh for longer than the configured TTL')
  })

  it('a record fresh for the TTL plus the clock tolerance is accepted; 1 ms more is refused', () => {
    const edge = NOW + TTL_MS + L2_CLOCK_TOLERANCE_MS
    expect(parseRisk({ f: edge, d: TOR_TUPLE }, LIMITS)).toStrictEqual({ data: TOR, freshUntil: edge })
    expect(problem(parseRisk({ f: edge + 1, d: TOR_TUPLE }, LIMITS))).toBe('fresh for longer than the configured TTL')
  })

  it('an answer past its freshness is still a record (stale data, served only when the provider fails)', () => {
    expect(parseRisk({ f: NOW - 1, d: TOR_TUPLE }, LIMITS)).toStrictEqual({ data: TOR, freshUntil: NOW - 1 })
  })

  const d = (i: number, v: unknown): unknown[] => TOR_TUPLE.map((x, j) => (j === i ? v : x))
  it.each<[string, unknown, string]>([
    ['an array instead of an object', [NOW, TOR_TUPLE], 'not an object with exactly the expected keys'],
    ['a string', 'clean', 'not an object with exactly the expected keys'],
    ['a number', 42, 'not an object with exactly the expected keys'],
    ['an extra key', { f: NOW, d: TOR_TUPLE, x: 1 }, 'not an object with exactly the expected keys'],
    ['a __proto__ key', JSON.parse(`{"f":${NOW},"d":${JSON.stringify(TOR_TUPLE)},"__proto__":{"isTor":false}}`), 'not an object with exactly the expected keys'],
    ['the record under __proto__', JSON.parse(`{"__proto__":{"f":${NOW},"d":${JSON.stringify(TOR_TUPLE)}}}`), 'not an object with exactly the expected keys'],
    ['a block record', { u: NOW, d: TOR_TUPLE }, 'not an object with exactly the expected keys'],
    ['no freshness', { d: TOR_TUPLE, x: 1 }, 'not an object with exactly the expected keys'],
    ['a freshness given as a string', { f: String(NOW), d: TOR_TUPLE }, 'a time that is not a finite number'],
    ['a freshness of 1e400 (Infinity once parsed)', JSON.parse(`{"f":1e400,"d":${JSON.stringify(TOR_TUPLE)}}`), 'a time that is not a finite number'],
    ['a freshness of null', { f: null, d: TOR_TUPLE }, 'a time that is not a finite number'],
    ['a freshness far in the future', { f: 9e15, d: TOR_TUPLE }, 'fresh for longer than the configured TTL'],
    ['data of null', { f: NOW, d: null }, 'data not eight fields in range'],
    ['data as an object', { f: NOW, d: TOR }, 'data not eight fields in range'],
    ['a tuple of seven', { f: NOW, d: TOR_TUPLE.slice(0, 7) }, 'data not eight fields in range'],
    ['a tuple of nine', { f: NOW, d: [...TOR_TUPLE, null] }, 'data not eight fields in range'],
    ['an empty tuple', { f: NOW, d: [] }, 'data not eight fields in range'],
    ['score 101', { f: NOW, d: d(0, 101) }, 'data not eight fields in range'],
    ['score -1', { f: NOW, d: d(0, -1) }, 'data not eight fields in range'],
    ['score "NaN"', { f: NOW, d: d(0, 'NaN') }, 'data not eight fields in range'],
    ['score 1e400 (Infinity once parsed)', JSON.parse(`{"f":${NOW},"d":[1e400,false,false,true,false,"DE",1,"x"]}`), 'data not eight fields in range'],
    ['a flag as a string', { f: NOW, d: d(3, 'false') }, 'data not eight fields in range'],
    ['a flag as 0', { f: NOW, d: d(3, 0) }, 'data not eight fields in range'],
    ['a lower-case country', { f: NOW, d: d(5, 'de') }, 'data not eight fields in range'],
    ['a three-letter country', { f: NOW, d: d(5, 'DEU') }, 'data not eight fields in range'],
    ['asn 2^40', { f: NOW, d: d(6, 2 ** 40) }, 'data not eight fields in range'],
    ['asn -1', { f: NOW, d: d(6, -1) }, 'data not eight fields in range'],
    ['asn 1.5', { f: NOW, d: d(6, 1.5) }, 'data not eight fields in range'],
    ['an isp of 513 characters', { f: NOW, d: d(7, 'x'.repeat(513)) }, 'data not eight fields in range'],
    ['an empty isp', { f: NOW, d: d(7, '') }, 'data not eight fields in range'],
    ['an isp as an object', { f: NOW, d: d(7, { toString: 'x' }) }, 'data not eight fields in range'],
  ])('refuses %s', (_name, value, expected) => {
    expect(problem(parseRisk(value, LIMITS))).toBe(expected)
  })

  it('absent (undefined or null) is a plain miss, not an invalid record', () => {
    expect(parseRisk(undefined, LIMITS)).toBeUndefined()
    expect(parseRisk(null, LIMITS)).toBeUndefined()
  })

  it('property: for arbitrary JSON, accepted exactly when a resolver could have written it, and then read as written', () => {
    const accepted = agreesWithOracle('f', 5_000, (value) => parseRisk(value, LIMITS), (value) =>
      oracleRisk(value, LIMITS) ? { data: tupleToData(value.d), freshUntil: value.f } : undefined,
    )
    expect(accepted, 'the generator reached valid records too').toBeGreaterThan(100)
  })
})

describe('L2 block records (parseBlock)', () => {
  it('reads back what block() and the automatic blocklist write, with or without data', () => {
    expect(parseBlock(viaJson(encodeBlock(NOW + 3_600_000, TOR)), LIMITS)).toStrictEqual({ until: NOW + 3_600_000, data: TOR })
    expect(parseBlock(viaJson(encodeBlock(NOW + L2_MAX_BLOCK_MS, null)), LIMITS)).toStrictEqual({ until: NOW + L2_MAX_BLOCK_MS, data: null })
  })

  it('a block lasting longer than the longest block (30 days, plus the clock tolerance) is refused', () => {
    const edge = NOW + L2_MAX_BLOCK_MS + L2_CLOCK_TOLERANCE_MS
    expect(parseBlock({ u: edge, d: null }, LIMITS)).toStrictEqual({ until: edge, data: null })
    expect(problem(parseBlock({ u: edge + 1, d: null }, LIMITS))).toBe('blocked for longer than the longest block')
    expect(problem(parseBlock({ u: 9e15, d: TOR_TUPLE }, LIMITS))).toBe('blocked for longer than the longest block')
  })

  it.each<[string, unknown, string]>([
    ['an answer record', { f: NOW, d: TOR_TUPLE }, 'not an object with exactly the expected keys'],
    ['an array', [NOW, null], 'not an object with exactly the expected keys'],
    ['an end as a string', { u: 'forever', d: null }, 'a time that is not a finite number'],
    ['data with score 101', { u: NOW, d: [101, null, null, null, null, null, null, null] }, 'data not eight fields in range'],
    ['data as false', { u: NOW, d: false }, 'data not eight fields in range'],
  ])('refuses %s', (_name, value, expected) => {
    expect(problem(parseBlock(value, LIMITS))).toBe(expected)
  })

  it('property: for arbitrary JSON, accepted exactly when a resolver could have written it', () => {
    const accepted = agreesWithOracle('u', 3_000, (value) => parseBlock(value, LIMITS), (value) =>
      oracleBlock(value, NOW) ? { until: value.u, data: value.d === null ? null : tupleToData(value.d) } : undefined,
    )
    expect(accepted).toBeGreaterThan(50)
  })
})

describe('one set of field rules for provider answers and L2 records', () => {
  it('property: a tuple is a valid L2 record exactly when normalizeData takes its fields as they are', () => {
    fc.assert(
      fc.property(hostileTuple, (t) => {
        const asObject = t.length === 8 ? tupleToData(t) : undefined
        const normal = asObject !== undefined && normalizeData(asObject) === asObject
        expect(problem(parseRisk({ f: NOW, d: t }, LIMITS)) === undefined).toBe(normal)
      }),
      { seed: SEED, numRuns: 3_000 },
    )
  })
})

describe('the Redis connection\'s deserializer (deserializeEntry)', () => {
  it('reads a keyv entry', () => {
    const text = JSON.stringify({ value: encodeRisk(TOR, NOW), expires: NOW + 1 })
    expect(deserializeEntry(text)).toStrictEqual({ value: { f: NOW, d: TOR_TUPLE }, expires: NOW + 1 })
  })

  it.each<[string, string, string]>([
    ['text that is not JSON', 'not json at all', 'not JSON'],
    ['truncated JSON', '{"value":{"f":1', 'not JSON'],
    ['an empty string', '', 'not JSON'],
    ['a JSON number', '42', 'not a keyv entry ({"value": …})'],
    ['a JSON array', '[{"value":1}]', 'not a keyv entry ({"value": …})'],
    ['JSON null', 'null', 'not a keyv entry ({"value": …})'],
    ['an object without value', '{"f":1}', 'not a keyv entry ({"value": …})'],
    ['value only under __proto__', '{"__proto__":{"value":1}}', 'not a keyv entry ({"value": …})'],
    ['a value too long to be a record', JSON.stringify({ value: { f: NOW, d: d8('x'.repeat(L2_MAX_VALUE_CHARS)) } }), `longer than ${L2_MAX_VALUE_CHARS} characters`],
  ])('never throws: %s is an entry holding an invalid record', (_name, text, expected) => {
    const entry = deserializeEntry(text) as { value: unknown }
    expect(problem(entry.value)).toBe(expected)
  })

  it('the longest record a resolver writes (a 512-character ISP of control characters, escaped) fits', () => {
    const worst: RiskData = { ...TOR, score: 99.99999999999999, asn: MAX_ASN, isp: '\u0001'.repeat(MAX_ISP_LENGTH) }
    const text = JSON.stringify({ value: encodeRisk(worst, -Number.MAX_SAFE_INTEGER), expires: Number.MAX_SAFE_INTEGER })
    expect(text.length).toBeLessThanOrEqual(L2_MAX_VALUE_CHARS)
    expect(parseRisk((deserializeEntry(text) as { value: unknown }).value, LIMITS)).toStrictEqual({
      data: worst,
      freshUntil: -Number.MAX_SAFE_INTEGER,
    })
  })
})

function d8(isp: string): unknown[] {
  return [1, null, null, null, null, null, null, isp]
}

// ---------------------------------------------------------------------------------------------------------------------
// SharedTier: an invalid value is a miss, never a failure
// ---------------------------------------------------------------------------------------------------------------------

/** A Keyv over a Map of values, as the store would hand them out (already deserialized). */
function storeOf(values: Record<string, unknown>, getMany?: (keys: string[]) => Promise<unknown[]>): KeyvLike & { calls: number } {
  const keyv = {
    calls: 0,
    get: async (k: string) => values[k],
    set: async () => true,
    delete: async () => true,
    getMany:
      getMany ??
      (async (keys: string[]) => {
        keyv.calls++
        return keys.map((k) => values[k])
      }),
    on: () => keyv,
  }
  return keyv
}

describe('SharedTier with invalid values', () => {
  /** A tier's options on a manual clock at NOW (time only moves when a test says so). */
  const tierOptions = () => ({ timeoutMs: 200, clock: createTestClock(NOW), maxFreshMs: TTL_MS })

  it('invalid values are misses for their key, reported once each read, and never open the breaker', async () => {
    const reported: [string, string][] = []
    const keyv = storeOf({
      risk: { f: 9e15, d: [0, false, false, false, false, null, null, null] },
      block: { u: NOW + 60_000, d: null },
      junk: (deserializeEntry('not json') as { value: unknown }).value, // what the Redis connection reads for it
    })
    const tier = new SharedTier(keyv, { ...tierOptions(), onInvalid: (p, k) => reported.push([p, k]) })
    expect(await tier.read('risk', 'block')).toStrictEqual({ risk: undefined, block: { until: NOW + 60_000, data: null } })
    for (let i = 0; i < L2_BREAKER_FAILURES + 2; i++) {
      expect(await tier.read('junk', 'block')).toStrictEqual({ risk: undefined, block: { until: NOW + 60_000, data: null } })
    }
    expect(reported).toStrictEqual([
      ['fresh for longer than the configured TTL', 'risk'],
      ...Array.from({ length: L2_BREAKER_FAILURES + 2 }, () => ['not JSON', 'junk']),
    ])
    expect(tier.stats).toMatchObject({ failures: 0, invalid: L2_BREAKER_FAILURES + 3, hits: L2_BREAKER_FAILURES + 3 })
    expect(tier.state()).toBe('closed')
  })

  it("a Keyv whose deserializer throws SyntaxError (keyv's default) on one value: that key is a miss, the other is read", async () => {
    const reported: string[] = []
    const values: Record<string, unknown> = { block: { u: NOW + 60_000, d: null } }
    const keyv = storeOf(values, async () => {
      throw new SyntaxError('Unexpected token o in JSON at position 1')
    })
    keyv.get = async (k: string) => {
      if (k === 'risk') throw new SyntaxError('Unexpected token o in JSON at position 1')
      return values[k]
    }
    const tier = new SharedTier(keyv, { ...tierOptions(), onInvalid: (p) => reported.push(p) })
    for (let i = 0; i < L2_BREAKER_FAILURES + 1; i++) {
      expect(await tier.read('risk', 'block')).toStrictEqual({ risk: undefined, block: { until: NOW + 60_000, data: null } })
    }
    expect(reported).toHaveLength(L2_BREAKER_FAILURES + 1)
    expect(new Set(reported)).toStrictEqual(new Set(['not JSON']))
    expect(tier.stats.failures).toBe(0)
    expect(tier.state()).toBe('closed')
  })

  it('a store error is still a failure (and opens the breaker), whatever the values', async () => {
    const keyv = storeOf({}, async () => {
      throw new Error('READONLY You can\'t write against a read only replica.')
    })
    const tier = new SharedTier(keyv, tierOptions())
    for (let i = 0; i < L2_BREAKER_FAILURES; i++) expect(await tier.read('risk', 'block')).toBeUndefined()
    expect(tier.stats.failures).toBe(L2_BREAKER_FAILURES)
    expect(tier.state()).toBe('open')
  })

  it('a batch read answered with something other than a list is a failure, never a rejection', async () => {
    const keyv = storeOf({}, async () => 'OK' as unknown as unknown[])
    const tier = new SharedTier(keyv, tierOptions())
    await expect(tier.read('risk', 'block')).resolves.toBeUndefined()
    expect(tier.stats.failures).toBe(1)
  })

  it('records are checked against the TTLs it was given and its clock', async () => {
    const clock = createTestClock(NOW)
    const keyv = storeOf({ risk: { f: NOW + 10 * TTL_MS, d: TOR_TUPLE } })
    const tier = new SharedTier(keyv, { timeoutMs: 200, clock, maxFreshMs: TTL_MS })
    expect((await tier.read('risk', 'none'))?.risk).toBeUndefined()
    clock.advance(9 * TTL_MS)
    expect((await tier.read('risk', 'none'))?.risk).toStrictEqual({ data: TOR, freshUntil: NOW + 10 * TTL_MS })
    const long = new SharedTier(keyv, { timeoutMs: 200, clock: createTestClock(NOW), maxFreshMs: 10 * TTL_MS })
    expect((await long.read('risk', 'none'))?.risk).toStrictEqual({ data: TOR, freshUntil: NOW + 10 * TTL_MS })
  })
})
