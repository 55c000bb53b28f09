/**
 * The rules of {@link RiskData}, in one place: what a provider's answer must satisfy (checked by the resolver on every
 * provider call) and what a shared-cache (L2) record must hold (checked on every L2 read). The two checks share the
 * field rules below, so they cannot drift apart:
 *
 * - `score`: a number from 0 to 100 (`NaN` and ±Infinity fail every comparison, so they are refused too);
 * - `isVpn`, `isProxy`, `isTor`, `isDatacenter`: `true`, `false` or `null`;
 * - `countryCode`: two ASCII letters (ISO 3166-1 alpha-2); the normal form is upper case;
 * - `asn`: an integer from 0 to 2^32 − 1;
 * - `isp`: a string; the normal form is 1 to {@link MAX_ISP_LENGTH} characters, or `null`.
 *
 * - at least one of `score` and the four flags is known (an answer with no verdict, such as an error body sent with
 *   HTTP 200, is refused: cached as an answer it would make a flags-only policy "clean").
 *
 * A provider's answer is read leniently ({@link normalizeData}: a missing field is `null`, a lower-case country is
 * upper-cased, a long ISP name is cut), an L2 record strictly ({@link isNormalData}: the resolver only ever writes
 * normalized data, so anything else was not written by it).
 *
 * Hand-written rather than zod: these checks run once per provider call and once per L2 read, where a zod parse would
 * cost more than the rest of the miss path.
 *
 * @internal
 * @module
 */

import type { RiskData } from './types.js'

/** Longest ISP name kept (longer ones are cut when read from a provider, refused when read from L2). */
export const MAX_ISP_LENGTH = 512
/** Largest autonomous system number (32-bit ASNs). */
export const MAX_ASN = 4_294_967_295

const isScore = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 100
const isBool = (v: unknown): v is boolean => v === true || v === false
const isAsn = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ASN
const COUNTRY = /^[A-Za-z]{2}$/
const NORMAL_COUNTRY = /^[A-Z]{2}$/

/** A field a provider may send: absent or `null` (unknown), or a value of the right type and range. */
const loose = (v: unknown, ok: (v: unknown) => boolean): boolean => v === undefined || v === null || ok(v)
const isCountry = (v: unknown): boolean => typeof v === 'string' && COUNTRY.test(v)

/** True when at least one of the score and the four flags is known: an answer that says nothing is no answer. */
function hasVerdict(score: unknown, isVpn: unknown, isProxy: unknown, isTor: unknown, isDatacenter: unknown): boolean {
  return score != null || isVpn != null || isProxy != null || isTor != null || isDatacenter != null
}

/**
 * True when the eight fields are in normal form: each `null` or a valid value, the country upper case, the ISP name
 * non-empty and at most {@link MAX_ISP_LENGTH} characters. Exactly what {@link normalizeData} returns.
 */
function normalFields(
  score: unknown,
  isVpn: unknown,
  isProxy: unknown,
  isTor: unknown,
  isDatacenter: unknown,
  countryCode: unknown,
  asn: unknown,
  isp: unknown,
): boolean {
  return (
    (score === null || isScore(score)) &&
    (isVpn === null || isBool(isVpn)) &&
    (isProxy === null || isBool(isProxy)) &&
    (isTor === null || isBool(isTor)) &&
    (isDatacenter === null || isBool(isDatacenter)) &&
    (countryCode === null || (typeof countryCode === 'string' && NORMAL_COUNTRY.test(countryCode))) &&
    (asn === null || isAsn(asn)) &&
    (isp === null || (typeof isp === 'string' && isp.length > 0 && isp.length <= MAX_ISP_LENGTH))
  )
}

/**
 * Check a provider's answer (a custom provider's too) like any upstream data: a wrong type or a value out of range is
 * `undefined` (the resolver answers `bad_response`, never a silent "clean"); a missing field is `null` (unknown), a
 * lower-case country is upper-cased, an empty ISP name is `null` and a long one is cut to {@link MAX_ISP_LENGTH}.
 * An answer already in normal form is returned as it is (read, never mutated: no copy).
 *
 * @example
 * ```ts
 * normalizeData({ score: 12, countryCode: 'de' }) // { score: 12, isVpn: null, …, countryCode: 'DE', asn: null, isp: null }
 * normalizeData({ score: 101 })                   // undefined
 * ```
 */
export function normalizeData(value: unknown): RiskData | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<keyof RiskData, unknown>
  const { score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp } = v
  if (
    !loose(score, isScore) ||
    !loose(isVpn, isBool) ||
    !loose(isProxy, isBool) ||
    !loose(isTor, isBool) ||
    !loose(isDatacenter, isBool) ||
    !loose(countryCode, isCountry) ||
    !loose(asn, isAsn) ||
    !loose(isp, (s) => typeof s === 'string')
  ) {
    return undefined
  }
  // No verdict at all (an error body such as `{"error":"quota exceeded","risk_score":null}` read with a 200): not an
  // answer. Cached as one, it would make every flags-only policy "clean" for a whole TTL.
  if (!hasVerdict(score, isVpn, isProxy, isTor, isDatacenter)) return undefined
  if (normalFields(score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp)) return value as RiskData
  return {
    score: (score as number | null | undefined) ?? null,
    isVpn: (isVpn as boolean | null | undefined) ?? null,
    isProxy: (isProxy as boolean | null | undefined) ?? null,
    isTor: (isTor as boolean | null | undefined) ?? null,
    isDatacenter: (isDatacenter as boolean | null | undefined) ?? null,
    countryCode: countryCode == null ? null : (countryCode as string).toUpperCase(),
    asn: (asn as number | null | undefined) ?? null,
    isp: isp == null || isp === '' ? null : (isp as string).slice(0, MAX_ISP_LENGTH),
  }
}

/**
 * The data of a shared-cache (L2) tuple `[score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp]`, or
 * `undefined` unless it is exactly eight fields in the normal form {@link normalizeData} produces (which is all the
 * resolver ever writes).
 *
 * @example
 * ```ts
 * dataFromTuple([92, false, false, true, false, 'DE', 24940, 'Hetzner']) // { score: 92, …, isTor: true, … }
 * dataFromTuple([101, null, null, null, null, null, null, null])        // undefined
 * ```
 */
export function dataFromTuple(tuple: unknown): RiskData | undefined {
  if (!Array.isArray(tuple) || tuple.length !== 8) return undefined
  const [score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp] = tuple as unknown[]
  if (!normalFields(score, isVpn, isProxy, isTor, isDatacenter, countryCode, asn, isp)) return undefined
  if (!hasVerdict(score, isVpn, isProxy, isTor, isDatacenter)) return undefined // never written: see normalizeData
  return {
    score: score as number | null,
    isVpn: isVpn as boolean | null,
    isProxy: isProxy as boolean | null,
    isTor: isTor as boolean | null,
    isDatacenter: isDatacenter as boolean | null,
    countryCode: countryCode as string | null,
    asn: asn as number | null,
    isp: isp as string | null,
  }
}
