/**
 * Shared-cache (L2) records for the suites that attack the codec and the resolver with hostile values: an oracle of
 * the records a resolver writes, written independently of src/core/cache/l2-codec.ts and src/core/risk-data.ts (from
 * the documented format: `{ f, d }` answers, `{ u, d }` blocks, `d` the 8-tuple of normalized RiskData), and fast-check
 * generators of arbitrary JSON biased towards near-records (most of plain `fc.jsonValue()` is trivially not a record).
 */
import fc from 'fast-check'
import { InvalidRecord, L2_DEFAULT_MAX_FRESH_MS, L2_MAX_BLOCK_MS, parseBlock, parseRisk } from '../../src/core/cache/l2-codec.js'
import type { RecordLimits, StoredBlock, StoredRisk } from '../../src/core/cache/l2-codec.js'
import type { RiskData } from '../../src/core/types.js'

/** Limits at this moment: a week's freshness, 30 days of block. */
const defaultLimits = (): RecordLimits => ({ now: Date.now(), maxFreshMs: L2_DEFAULT_MAX_FRESH_MS, maxBlockMs: L2_MAX_BLOCK_MS })

/** A stored answer, or `undefined` when absent or not a record the resolver could have written (see `parseRisk`). */
export function decodeRisk(value: unknown, limits: RecordLimits = defaultLimits()): StoredRisk | undefined {
  const parsed = parseRisk(value, limits)
  return parsed instanceof InvalidRecord ? undefined : parsed
}

/** A stored blocklist entry, or `undefined` when absent or invalid (see `parseBlock`). */
export function decodeBlock(value: unknown, limits: RecordLimits = defaultLimits()): StoredBlock | undefined {
  const parsed = parseBlock(value, limits)
  return parsed instanceof InvalidRecord ? undefined : parsed
}

/** fast-check runs of the L2 suites are reproducible: a fixed seed (a failure prints it and the counterexample). */
export const L2_SEED = 0x15_0006

/** What a record is judged against: the reader's clock and the longest freshness its resolver writes. */
export interface OracleLimits {
  now: number
  maxFreshMs: number
}

/**
 * The documented clock tolerance between instances: a record may be fresh (or blocked) this much longer than the reader
 * would have written it. (A literal, as the rest of the oracle: src/core/cache.ts's `L2_CLOCK_TOLERANCE_MS` is checked
 * against it.)
 */
export const L2_CLOCK_TOLERANCE_MS = 60_000

/** 30 days: the longest `block()`, and the largest `blocklist.ttlSeconds`. */
export const LONGEST_BLOCK_MS = 30 * 24 * 3_600_000

/** A Tor exit as the simulator and the memory provider describe it, and its L2 tuple. */
export const TOR: RiskData = Object.freeze({
  score: 92,
  isVpn: false,
  isProxy: false,
  isTor: true,
  isDatacenter: false,
  countryCode: 'DE',
  asn: 24940,
  isp: 'Hetzner Online GmbH',
})
export const TOR_TUPLE: readonly unknown[] = Object.freeze([92, false, false, true, false, 'DE', 24940, 'Hetzner Online GmbH'])

/** One field of a data tuple as the resolver writes it (normalized provider data). */
function oracleField(i: number, v: unknown): boolean {
  if (v === null) return true
  switch (i) {
    case 0:
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 100
    case 1:
    case 2:
    case 3:
    case 4:
      return typeof v === 'boolean'
    case 5:
      return typeof v === 'string' && v.length === 2 && [...v].every((c) => c >= 'A' && c <= 'Z')
    case 6:
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 2 ** 32 - 1
    case 7:
      return typeof v === 'string' && v.length >= 1 && v.length <= 512
    default:
      return false
  }
}

export const oracleTuple = (d: unknown): d is unknown[] =>
  Array.isArray(d) && d.length === 8 && d.every((v, i) => oracleField(i, v)) && d.slice(0, 5).some((v) => v !== null) // a verdict: a score or a flag

function exactKeys(o: unknown, keys: string[]): o is Record<string, unknown> {
  return (
    typeof o === 'object' &&
    o !== null &&
    !Array.isArray(o) &&
    [Object.prototype, null].includes(Object.getPrototypeOf(o) as object | null) &&
    Object.keys(o).sort().join() === [...keys].sort().join()
  )
}

/** Could a resolver with these limits have written this answer record (fresh or not)? */
export function oracleRisk(value: unknown, limits: OracleLimits): value is { f: number; d: unknown[] } {
  return (
    exactKeys(value, ['f', 'd']) &&
    typeof value.f === 'number' &&
    Number.isFinite(value.f) &&
    value.f <= limits.now + limits.maxFreshMs + L2_CLOCK_TOLERANCE_MS &&
    oracleTuple(value.d)
  )
}

/** Could a resolver have written this block record? */
export function oracleBlock(value: unknown, now: number): value is { u: number; d: unknown[] | null } {
  return (
    exactKeys(value, ['u', 'd']) &&
    typeof value.u === 'number' &&
    Number.isFinite(value.u) &&
    value.u <= now + LONGEST_BLOCK_MS + L2_CLOCK_TOLERANCE_MS &&
    (value.d === null || oracleTuple(value.d))
  )
}

export const tupleToData = (d: readonly unknown[]): RiskData => ({
  score: d[0] as number | null,
  isVpn: d[1] as boolean | null,
  isProxy: d[2] as boolean | null,
  isTor: d[3] as boolean | null,
  isDatacenter: d[4] as boolean | null,
  countryCode: d[5] as string | null,
  asn: d[6] as number | null,
  isp: d[7] as string | null,
})

// ---------------------------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------------------------

const nullOr = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null })
const letter = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ')

/** Normal RiskData: what `normalizeData` returns, so what a resolver stores. */
export const normalData: fc.Arbitrary<RiskData> = fc.record(
  {
    score: nullOr(fc.double({ min: 0, max: 100, noNaN: true })),
    isVpn: nullOr(fc.boolean()),
    isProxy: nullOr(fc.boolean()),
    isTor: nullOr(fc.boolean()),
    isDatacenter: nullOr(fc.boolean()),
    countryCode: nullOr(fc.tuple(letter, letter).map(([a, b]) => a + b)),
    asn: nullOr(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    isp: nullOr(fc.string({ minLength: 1, maxLength: 512, unit: 'grapheme' }).filter((s) => s.length <= 512)),
  },
  { noNullPrototype: true },
).filter((d) => d.score !== null || d.isVpn !== null || d.isProxy !== null || d.isTor !== null || d.isDatacenter !== null)

/** Values a hostile store might put in one tuple slot. */
const hostileField = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 100, 100.0001, 101, 1e308, -1e308, 2 ** 32, 2 ** 40, 0.5, '', 'DE', 'de', 'NaN', '1', 'x'.repeat(513)),
  fc.jsonValue({ maxDepth: 2 }),
)

/** Data tuples: valid ones, valid ones with one slot replaced, and arbitrary arrays. */
export const hostileTuple: fc.Arbitrary<unknown[]> = fc.oneof(
  normalData.map((d) => Object.values(d) as unknown[]),
  fc.tuple(normalData, fc.nat({ max: 7 }), hostileField).map(([d, i, v]) => {
    const t = Object.values(d) as unknown[]
    t[i] = v
    return t
  }),
  fc.array(hostileField, { minLength: 8, maxLength: 8 }),
  fc.array(hostileField, { maxLength: 12 }),
)

/** Times around now and the limits (both sides of every edge), extreme numbers, and non-numbers. */
export function hostileTime(limits: OracleLimits, maxMs: number): fc.Arbitrary<unknown> {
  const edge = limits.now + maxMs + L2_CLOCK_TOLERANCE_MS
  return fc.oneof(
    fc.integer({ min: -2 * maxMs, max: 2 * maxMs + 2 * L2_CLOCK_TOLERANCE_MS }).map((dt) => limits.now + dt),
    fc.constantFrom(edge, edge + 1, limits.now, limits.now + 1, 9e15, -9e15, 1e308, 0),
    fc.jsonValue({ maxDepth: 1 }),
  )
}

/** Arbitrary JSON values, biased towards near-records of kind `f` (answers) or `u` (blocks). */
export function hostileRecord(timeKey: 'f' | 'u', limits: OracleLimits): fc.Arbitrary<unknown> {
  const time = hostileTime(limits, timeKey === 'f' ? limits.maxFreshMs : LONGEST_BLOCK_MS)
  const tuple = timeKey === 'f' ? hostileTuple : fc.oneof(hostileTuple, fc.constant(null))
  // Well-formed records, from expired to just past the longest lifetime, so that valid ones are common too.
  const edge = limits.now + (timeKey === 'f' ? limits.maxFreshMs : LONGEST_BLOCK_MS) + L2_CLOCK_TOLERANCE_MS
  const wellFormed = fc.record(
    {
      [timeKey]: fc.integer({ min: limits.now - (timeKey === 'f' ? limits.maxFreshMs : 60_000), max: edge + 1 }),
      d: normalData.map((d) => Object.values(d) as unknown[]),
    },
    { noNullPrototype: true },
  )
  return fc.oneof(
    { weight: 2, arbitrary: wellFormed },
    fc.record({ [timeKey]: time, d: tuple }, { noNullPrototype: true }),
    fc.record({ [timeKey]: time, d: tuple }, { requiredKeys: [], noNullPrototype: true }),
    fc.tuple(time, tuple, fc.string(), fc.jsonValue({ maxDepth: 1 })).map(([t, d, k, v]) => ({ [timeKey]: t, d, [k]: v })),
    fc.tuple(time, tuple).map(([t, d]) => JSON.parse(`{"${timeKey}":${JSON.stringify(t)},"d":${JSON.stringify(d)},"__proto__":{"x":1}}`) as unknown),
    fc.tuple(time, tuple).map(([t, d]) => [t, d]),
    fc.jsonValue(),
  )
}
