/**
 * List headers: `X-Forwarded-For` and RFC 7239 `Forwarded`, read from the right one entry at a time. One scanner
 * ({@link entryStart}) finds each entry for both the trust-list walk ({@link walkList}) and the platform presets'
 * cursor ({@link ForwardedForCursor}); it scans at most an entry's length limit to the left, never the whole header.
 *
 * @module
 */
import { MAX_ADDRESS_CHARS, isOws, parseAddress, parseIp } from './parse.js'

/** Longest RFC 7239 element (`for=...;by=...;proto=...;host=...`) read. */
const MAX_FORWARDED_ELEMENT_CHARS = 256

/** Answered by {@link entryStart} for an unterminated quote or an entry longer than its limit. @internal */
export const MALFORMED = -2

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1
}

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
}

/** RFC 9110 qdtext and quoted-pair characters: HTAB, SP, VCHAR, obs-text. */
function isQuotedChar(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127 && c <= 255)
}

/**
 * The `for=` address of one RFC 7239 element (`for=192.0.2.60;proto=http;by=203.0.113.43`), or `null` when the
 * element is malformed, has no `for`, or names an `unknown` / obfuscated (`_hidden`) node.
 */
function parseForwardedElement(el: string): string | null {
  const n = el.length
  let i = 0
  let forValue: string | null = null
  for (;;) {
    while (i < n && isOws(el.charCodeAt(i))) i++
    if (i < n && el.charCodeAt(i) !== 59 /* ; */) {
      const nameStart = i
      while (i < n && isTchar(el.charCodeAt(i))) i++
      if (i === nameStart || i >= n || el.charCodeAt(i) !== 61 /* = */) return null
      const isFor = i - nameStart === 3 && el.slice(nameStart, i).toLowerCase() === 'for'
      i++
      let value: string
      if (i < n && el.charCodeAt(i) === 34 /* " */) {
        i++
        value = ''
        let run = i
        for (;;) {
          if (i >= n) return null
          const c = el.charCodeAt(i)
          if (c === 34) break
          if (!isQuotedChar(c)) return null
          if (c === 92 /* \ */) {
            value += el.slice(run, i)
            i++
            if (i >= n || !isQuotedChar(el.charCodeAt(i))) return null
            run = i
          }
          i++
        }
        value += el.slice(run, i)
        i++
      } else {
        const valueStart = i
        while (i < n && isTchar(el.charCodeAt(i))) i++
        if (i === valueStart) return null
        value = el.slice(valueStart, i)
      }
      if (isFor) {
        if (forValue !== null) return null // a parameter may appear once per element (RFC 7239 §4)
        forValue = value
      }
      while (i < n && isOws(el.charCodeAt(i))) i++
    }
    if (i >= n) break
    if (el.charCodeAt(i) !== 59) return null
    i++
  }
  if (forValue === null || forValue.length > MAX_ADDRESS_CHARS) return null
  // `unknown` and obfuscated identifiers (`_hidden`) are not addresses: parseAddress rejects them.
  return parseAddress(forValue, true)
}

/**
 * Where the list entry that ends at `end` in `v` starts: the index of the comma before it, or -1 when it starts the
 * value; {@link MALFORMED} for an unterminated quote, or an entry longer than `window` (no comma within it). Scans at
 * most `window` + 1 characters to the left. With `quoted` (RFC 7239 elements), a comma inside a quoted string does
 * not end the entry. @internal
 */
export function entryStart(v: string, end: number, window: number, quoted: boolean): number {
  const lowest = Math.max(0, end - window - 1)
  let i = end - 1
  let inQuote = false
  for (; i >= lowest; i--) {
    const c = v.charCodeAt(i)
    if (c === 44 /* , */ && !inQuote) break
    if (quoted && c === 34 /* " */) {
      if (!inQuote) inQuote = true
      else {
        // An opening quote is preceded by an even number of backslashes; `\"` inside a quoted string is not one.
        let j = i - 1
        while (j >= lowest && v.charCodeAt(j) === 92) j--
        if ((i - 1 - j) % 2 === 0) inQuote = false
      }
    }
  }
  return inQuote || end - i - 1 > window ? MALFORMED : i
}

/**
 * Walk a comma-separated list header (`X-Forwarded-For`, or `Forwarded` elements) from the right, starting at the
 * trusted socket peer: each trusted hop's claim about the next hop is believed, until an untrusted hop, a malformed
 * entry, the end of the list, or `maxHops` entries. Returns the client address, or `null` when not even one entry
 * could be used (so the caller falls back to the next source).
 *
 * Work is bounded: each entry is found by {@link entryStart}, at most `maxHops` of them. @internal
 */
export function walkList(
  values: readonly unknown[],
  forwarded: boolean,
  peer: string,
  trust: (addr: string, hop: number) => boolean,
  maxHops: number,
): string | null {
  const window = forwarded ? MAX_FORWARDED_ELEMENT_CHARS : MAX_ADDRESS_CHARS
  let vi = values.length - 1
  let v = values[vi]
  let end = typeof v === 'string' ? v.length : 0
  let addr = peer
  let hop = 0
  while (hop < maxHops && vi >= 0) {
    if (typeof v !== 'string') break
    const i = entryStart(v, end, window, forwarded)
    if (i === MALFORMED) break
    const raw = v.slice(i + 1, end)
    if (i < 0) {
      vi--
      v = values[vi]
      end = typeof v === 'string' ? v.length : 0
    } else end = i
    const next = forwarded ? parseForwardedElement(raw) : parseIp(raw)
    if (next === null) break
    addr = next
    hop++
    if (!trust(addr, hop)) break
  }
  return hop === 0 ? null : addr
}

/**
 * Reads `X-Forwarded-For` entries one at a time from the right, with walkList's bounds: each entry is found by
 * scanning at most its length limit to the left, at most `maxHops` entries are read, and a malformed entry (or the
 * start of the list) ends it: `next()` then answers `null` for good. @internal
 */
export class ForwardedForCursor {
  private index: number
  private value: unknown
  private end: number
  private read = 0
  private done = false

  constructor(
    private readonly values: readonly unknown[],
    private readonly maxHops: number,
  ) {
    this.index = values.length - 1
    this.value = values[this.index]
    this.end = typeof this.value === 'string' ? this.value.length : 0
  }

  /** The next entry to the left, parsed; `null` (for good) at the start, a malformed entry, or `maxHops`. */
  next(): string | null {
    const v = this.value
    const ended = this.done || this.read >= this.maxHops || this.index < 0 || typeof v !== 'string'
    const i = ended ? MALFORMED : entryStart(v, this.end, MAX_ADDRESS_CHARS, false)
    if (i === MALFORMED) {
      this.done = true
      return null
    }
    const raw = (v as string).slice(i + 1, this.end)
    if (i < 0) {
      this.index--
      this.value = this.values[this.index]
      this.end = typeof this.value === 'string' ? this.value.length : 0
    } else this.end = i
    this.read++
    const ip = parseIp(raw)
    if (ip === null) this.done = true
    return ip
  }
}
