/**
 * The messages of block propagation, as they sit in the Redis stream `<prefix>:<version>:{fleet}:blocks`: how a block
 * or an unblock is written (the `XADD` arguments) and how an entry read back is checked.
 *
 * An entry is a flat list of field / value pairs: `v 1 op block ip 203.0.113.7 rec {"u":…,"d":[…]} from <id>` (an
 * unblock has no `rec`). `rec` is the very record the blocklist keeps in L2 (l2-codec.ts), so it is checked by the
 * same strict parser ({@link parseBlock}): exact keys, data in range, a block no longer than the longest one this
 * resolver writes. `ip` must be an IP address; the receiver files it under its own cache key (lists.ts), so an entry
 * cannot name a key of its own choosing. Anything else (an unknown field, a missing one, a value too long, an unknown
 * `op`) makes the whole entry invalid: it is skipped and counted, never applied, so a garbage entry never unblocks
 * anyone. Pure: no I/O, no clock.
 *
 * Hand-written rather than zod: an entry is five strings, and the record inside has its parser already.
 *
 * @internal
 * @module
 */
import { CACHE_KEY_VERSION, InvalidRecord, L2_MAX_VALUE_CHARS, encodeBlock, parseBlock, type RecordLimits } from '../cache.js'
import type { RiskData } from '../types.js'

/** Version of the message format (field `v`). */
export const BLOCK_MESSAGE_VERSION = '1'
/**
 * Entries the stream keeps (`XADD … MAXLEN ~`): about 1.5 MB. An instance away while more blocks than this were made
 * cannot catch up message by message; it then drops its L1 and reads L2 again (see propagation.ts).
 */
export const BLOCK_STREAM_MAXLEN = 10_000
/** Longest `ip` value read (an IPv6 address is at most 45 characters). */
const MAX_IP_CHARS = 64
/** Longest `from` value read (an instance id). */
const MAX_ORIGIN_CHARS = 64

/**
 * The stream every instance of a fleet publishes its blocks to and reads from, hash-tagged `{fleet}` (one slot on a
 * cluster). Versioned with the L2 keys.
 */
export function blockStreamKey(prefix: string): string {
  return `${prefix}:${CACHE_KEY_VERSION}:{fleet}:blocks`
}

/** One block (until `until`, epoch ms, with what is known of the IP) or unblock, as an instance orders it. */
export type BlockOrder =
  | { readonly op: 'block'; readonly ip: string; readonly until: number; readonly data: RiskData | null }
  | { readonly op: 'unblock'; readonly ip: string }

/** One block or unblock, as published: with the id of the instance that made it (`from`). */
export type BlockMessage = BlockOrder & { readonly origin: string }

/** A stream entry read back and checked: its id and its message, or why it was refused. */
export interface ReadEntry {
  readonly id: string
  readonly message: BlockMessage | InvalidRecord
}

/** The `XADD` arguments publishing `message` to `stream` (trimming it to about {@link BLOCK_STREAM_MAXLEN}). */
export function xaddArgs(stream: string, message: BlockMessage): string[] {
  const head = ['XADD', stream, 'MAXLEN', '~', String(BLOCK_STREAM_MAXLEN), '*', 'v', BLOCK_MESSAGE_VERSION, 'op', message.op, 'ip', message.ip]
  if (message.op === 'block') head.push('rec', JSON.stringify(encodeBlock(message.until, message.data)))
  head.push('from', message.origin)
  return head
}

const NOT_ENTRY = new InvalidRecord('not a stream entry (an id and a list of field / value pairs)')
const BAD_FIELDS = new InvalidRecord('not exactly the fields of a block message (v, op, ip, rec for a block, from)')
const BAD_VERSION = new InvalidRecord(`a message version other than ${BLOCK_MESSAGE_VERSION}`)
const BAD_OP = new InvalidRecord('an op other than block or unblock')
const BAD_IP = new InvalidRecord('an ip that is not a string of at most 64 characters')
const BAD_ORIGIN = new InvalidRecord('a from that is not a string of at most 64 characters')
const BAD_REC = new InvalidRecord(`a rec that is not JSON of at most ${L2_MAX_VALUE_CHARS} characters`)
const NO_BLOCK = new InvalidRecord('a block message without a block record')

/** A stream entry id (`<ms>-<seq>`). */
const ID = /^\d{1,20}-\d{1,20}$/

/** Whether `id` is a stream entry id. */
export function isStreamId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id)
}

/** Compare two stream ids: negative when `a` comes first. Ids are compared as two integers, not as text. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  const ms = BigInt(am) - BigInt(bm)
  if (ms !== 0n) return ms < 0n ? -1 : 1
  const seq = BigInt(as) - BigInt(bs)
  return seq === 0n ? 0 : seq < 0n ? -1 : 1
}

/** The field / value pairs of an entry as a map, or `undefined` when they are not an even list of strings. */
function fieldsOf(raw: unknown): Map<string, string> | undefined {
  if (!Array.isArray(raw) || raw.length % 2 !== 0 || raw.length > 20) return undefined
  const fields = new Map<string, string>()
  for (let i = 0; i < raw.length; i += 2) {
    const name: unknown = raw[i]
    const value: unknown = raw[i + 1]
    if (typeof name !== 'string' || typeof value !== 'string' || fields.has(name)) return undefined
    fields.set(name, value)
  }
  return fields
}

/**
 * Check one entry's fields (`raw`: the flat list Redis returns). The message, or an {@link InvalidRecord} naming the
 * problem (a fixed text: never the value, which may be huge or hostile).
 */
export function parseMessage(raw: unknown, limits: RecordLimits): BlockMessage | InvalidRecord {
  const fields = fieldsOf(raw)
  if (fields === undefined) return BAD_FIELDS
  const op = fields.get('op')
  const expected = op === 'block' ? 5 : 4
  if (fields.size !== expected || !fields.has('v') || !fields.has('ip') || !fields.has('from')) return BAD_FIELDS
  if (fields.get('v') !== BLOCK_MESSAGE_VERSION) return BAD_VERSION
  const ip = fields.get('ip') as string
  const origin = fields.get('from') as string
  if (ip.length === 0 || ip.length > MAX_IP_CHARS) return BAD_IP
  if (origin.length > MAX_ORIGIN_CHARS) return BAD_ORIGIN
  if (op === 'unblock') return { op, ip, origin }
  if (op !== 'block') return BAD_OP
  const text = fields.get('rec')
  if (text === undefined) return BAD_FIELDS
  if (text.length > L2_MAX_VALUE_CHARS) return BAD_REC
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return BAD_REC
  }
  const block = parseBlock(value, limits)
  if (block === undefined) return NO_BLOCK
  if (block instanceof InvalidRecord) return block
  return { op, ip, until: block.until, data: block.data, origin }
}

/**
 * The entries of an `XREAD` reply for one stream (RESP2: `[[stream, [[id, [field, value, …]], …]]]`, or `null` when
 * the read timed out with nothing new). Returns `undefined` when the reply is not of that shape at all (the
 * connection is then not trusted and is replaced). An entry whose fields are wrong is returned as invalid (skipped
 * and counted by the reader); one without a valid id cannot be skipped past, so it makes the reply unusable.
 */
export function entriesOf(reply: unknown, limits: RecordLimits): ReadEntry[] | undefined {
  if (reply === null) return []
  if (!Array.isArray(reply) || reply.length !== 1) return undefined
  const stream: unknown = reply[0]
  if (!Array.isArray(stream) || stream.length !== 2 || !Array.isArray(stream[1])) return undefined
  const out: ReadEntry[] = []
  for (const entry of stream[1] as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || !isStreamId(entry[0])) return undefined
    const id = entry[0]
    out.push({ id, message: Array.isArray(entry[1]) ? parseMessage(entry[1], limits) : NOT_ENTRY })
  }
  return out
}

/** A RESP2 flat field / value list (`XINFO STREAM`) as a map; anything else is an empty map. */
export function infoOf(reply: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>()
  if (!Array.isArray(reply)) return map
  for (let i = 0; i + 1 < reply.length; i += 2) if (typeof reply[i] === 'string') map.set(reply[i] as string, reply[i + 1])
  return map
}

/** The id of the oldest entry, from `XINFO STREAM`'s `first-entry` (`[id, fields]`), if any. */
export function firstIdOf(info: Map<string, unknown>): string | undefined {
  const first = info.get('first-entry')
  const id: unknown = Array.isArray(first) ? first[0] : undefined
  return isStreamId(id) ? id : undefined
}
