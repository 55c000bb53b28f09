/**
 * The shared-cache (L2) record format and its codec: how an answer and a blocklist entry are stored (a positional
 * tuple of {@link RiskData} and a time), how a value read back is checked, and the (de)serializer of the Redis
 * connection.
 *
 * L2 is shared with other processes (and possibly other software, or whoever can write to the store): everything read
 * from it is checked, on the miss path only, against the rules a provider's answer is held to (risk-data.ts), strictly
 * (the resolver only writes normalized data) and against the lifetimes the resolver writes. A value that fails is an
 * {@link InvalidRecord}: a miss for its key (counted as `l2_errors{kind="invalid"}` by the tier), never a failure of
 * the store. Pure: no I/O, no clock (the time to check against is part of {@link RecordLimits}).
 *
 * @internal
 * @module
 */

import { dataFromTuple } from '../risk-data.js'
import type { RiskData } from '../types.js'

/**
 * RiskData as a positional tuple: `[score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp]`. Shared-cache
 * values are small (a Redis fleet may hold millions) and the field names are implied by the key version.
 */
type DataTuple = [
  number | null,
  boolean | null,
  boolean | null,
  boolean | null,
  boolean | null,
  string | null,
  number | null,
  string | null,
]

/** A scored answer in L2: data and the epoch ms until which it is fresh (kept longer, for stale-on-error). */
export interface StoredRisk {
  data: RiskData
  freshUntil: number
}

/** A blocklist entry in L2: until when, and the last known data (if any) to keep in blocked answers. */
export interface StoredBlock {
  until: number
  data: RiskData | null
}

/**
 * Clock difference tolerated between instances sharing L2: a record may say it is fresh (or blocked) up to this much
 * longer than this instance would have written it.
 */
export const L2_CLOCK_TOLERANCE_MS = 60_000
/** Longest block, in seconds: `block(ip, seconds)` and `blocklist.ttlSeconds` take at most 30 days. */
export const MAX_BLOCK_SECONDS = 30 * 24 * 3600
/** Longest `cache.ttlSeconds` / `flaggedTtlSeconds` / `staleSeconds` allowed: a week. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600
/** Longest block the resolver writes, ms. */
export const L2_MAX_BLOCK_MS = MAX_BLOCK_SECONDS * 1000
/** Longest freshness a record may have when no limit is given: the largest `cache.ttlSeconds` allowed. */
export const L2_DEFAULT_MAX_FRESH_MS = MAX_TTL_SECONDS * 1000
/**
 * Longest stored text the Redis connection parses (an iprisk record is at most about 3.3 KB: a 512-character ISP name,
 * JSON-escaped, and a few numbers). Longer values are refused without being parsed.
 */
export const L2_MAX_VALUE_CHARS = 8_192

/**
 * What L2 records are checked against, besides their shape: the time now and the longest lifetimes this resolver
 * writes. A record fresh or blocked for longer than that (plus {@link L2_CLOCK_TOLERANCE_MS}) was not written by a
 * resolver with this configuration, and is refused. A record in the past is not refused: an expired answer is still
 * stale data (served only when the provider fails), an expired block is no block.
 */
export interface RecordLimits {
  /** Epoch ms. */
  now: number
  /** Longest freshness written, ms: the larger of `cache.ttlSeconds` and `cache.flaggedTtlSeconds`. */
  maxFreshMs: number
  /** Longest block written, ms. */
  maxBlockMs: number
}

/**
 * An L2 value that is not an iprisk record: not JSON, the wrong shape, a field out of range, or a lifetime longer
 * than this resolver would have written. `problem` is a fixed text (never the value, which may be huge or hostile).
 * Such a value is a miss, never an L2 failure.
 */
export class InvalidRecord {
  constructor(readonly problem: string) {
    Object.freeze(this)
  }
}

/** A value that is not JSON (or that a store's own deserializer could not parse). */
export const NOT_JSON = new InvalidRecord('not JSON')
const TOO_LARGE = new InvalidRecord(`longer than ${L2_MAX_VALUE_CHARS} characters`)
const NOT_ENTRY = new InvalidRecord('not a keyv entry ({"value": …})')
const NOT_RECORD = new InvalidRecord('not an object with exactly the expected keys')
const BAD_DATA = new InvalidRecord('data not eight fields in range')
const BAD_TIME = new InvalidRecord('a time that is not a finite number')
const TOO_FRESH = new InvalidRecord('fresh for longer than the configured TTL')
const TOO_LONG_BLOCK = new InvalidRecord('blocked for longer than the longest block')

// Hand-written: zod's parse of a tuple costs several times more, and the checks must be exactly those of the provider's
// answer.

/** `o` is a plain object whose own keys are exactly `a` and `b` (a `__proto__` or any other extra key is refused). */
function hasExactKeys(o: unknown, a: string, b: string): o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false
  const proto: unknown = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) return false
  const keys = Object.keys(o)
  return keys.length === 2 && (keys[0] === a ? keys[1] === b : keys[0] === b && keys[1] === a)
}

/** @internal */
export function encodeData(d: RiskData): DataTuple {
  return [d.score, d.isVpn, d.isProxy, d.isTor, d.isDatacenter, d.countryCode, d.asn, d.isp]
}

/** @internal */
export function encodeRisk(data: RiskData, freshUntil: number): unknown {
  return { f: freshUntil, d: encodeData(data) }
}

/** @internal */
export function encodeBlock(until: number, data: RiskData | null): unknown {
  return { u: until, d: data === null ? null : encodeData(data) }
}

/**
 * The time and the data field of a record `{ [timeKey]: time, d }`: `undefined` when absent, an {@link InvalidRecord}
 * unless it is a plain object with exactly those keys and a finite time no later than `latest` (else `tooLate`).
 */
function readStamp(
  value: unknown,
  timeKey: 'f' | 'u',
  latest: number,
  tooLate: InvalidRecord,
): { time: number; d: unknown } | InvalidRecord | undefined {
  if (value === undefined || value === null) return undefined
  if (value instanceof InvalidRecord) return value
  if (!hasExactKeys(value, timeKey, 'd')) return NOT_RECORD
  const time = value[timeKey]
  if (typeof time !== 'number' || !Number.isFinite(time)) return BAD_TIME
  if (time > latest) return tooLate
  return { time, d: value.d }
}

/**
 * A stored answer; `undefined` when absent; an {@link InvalidRecord} when the value is not one the resolver could
 * have written under `limits`. @internal
 */
export function parseRisk(value: unknown, limits: RecordLimits): StoredRisk | InvalidRecord | undefined {
  const stamp = readStamp(value, 'f', limits.now + limits.maxFreshMs + L2_CLOCK_TOLERANCE_MS, TOO_FRESH)
  if (stamp === undefined || stamp instanceof InvalidRecord) return stamp
  const data = dataFromTuple(stamp.d)
  return data === undefined ? BAD_DATA : { data, freshUntil: stamp.time }
}

/** A stored blocklist entry, `undefined` or an {@link InvalidRecord}; see {@link parseRisk}. @internal */
export function parseBlock(value: unknown, limits: RecordLimits): StoredBlock | InvalidRecord | undefined {
  const stamp = readStamp(value, 'u', limits.now + limits.maxBlockMs + L2_CLOCK_TOLERANCE_MS, TOO_LONG_BLOCK)
  if (stamp === undefined || stamp instanceof InvalidRecord) return stamp
  if (stamp.d === null) return { until: stamp.time, data: null }
  const data = dataFromTuple(stamp.d)
  return data === undefined ? BAD_DATA : { until: stamp.time, data }
}

/** Plain JSON: keyv's default serializer (with its Buffer / BigInt handling) is about 5x slower. @internal */
export function serializeEntry(data: unknown): string {
  return JSON.stringify(data)
}

/**
 * Plain JSON, and never a throw: keyv lets a deserializer's error reject the whole `getMany`, which would make a value
 * that is not JSON look like a store failure (and open the L2 breaker). A text that is too long (refused unparsed), not
 * JSON, or not a keyv entry `{"value": …}` is read as an entry holding an {@link InvalidRecord}: a miss for its key.
 * @internal
 */
export function deserializeEntry(text: string): unknown {
  if (text.length > L2_MAX_VALUE_CHARS) return { value: TOO_LARGE }
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch {
    return { value: NOT_JSON }
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.hasOwn(entry, 'value')) {
    return { value: NOT_ENTRY }
  }
  return entry
}

/**
 * The record a stored text holds (`{"value": …}` read by {@link deserializeEntry}: an {@link InvalidRecord} when it is
 * not one), or `undefined` when there is no text (a missing key). Used wherever iprisk reads its own keys as raw
 * Redis replies (the L2 reads of a URL connection, the fleet lease's scripts). @internal
 */
export function storedValue(text: unknown): unknown {
  if (typeof text !== 'string') return undefined
  return (deserializeEntry(text) as { value: unknown }).value
}
