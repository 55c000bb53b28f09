/**
 * Block propagation: `block(ip)`, `unblock(ip)` and the automatic blocklist of one instance reach every instance's L1
 * in milliseconds, instead of when their L1 copy expires (up to `cache.ttlSeconds`).
 *
 * Every block and unblock is appended (`XADD … MAXLEN ~`) to one Redis stream per fleet (propagation-message.ts);
 * every instance reads it (`XREAD BLOCK`) on a connection of its own ({@link RedisLink.dedicated}) from the last id it
 * saw and applies each message, in stream order, to its L1. A stream rather than pub/sub because the one mechanism
 * gives both the latency (a blocked `XREAD` returns as soon as an entry is added) and the catch-up: an instance that
 * lost its connection reads on from its last id when it is back, so the blocks made meanwhile are enforced at once.
 *
 * An instance applies its own messages too (they are no-ops: the same block, the same deletion): the stream's order
 * is then the last word on every instance, even when two instances act on one IP at the same moment. L2 stays the
 * record: the blocklist is written there first, and an L1 copy still lives at most `cache.ttlSeconds` before L2 is
 * asked again, so a message that never arrives costs what it cost before propagation existed.
 *
 * Catching up (on every reconnection, before reading on):
 * - the stream has been trimmed past the last id seen (more than about {@link BLOCK_STREAM_MAXLEN} blocks while this
 *   instance was away): messages were lost, so the whole L1 is dropped and read again from L2 (`gap: 'trimmed'`);
 * - the stream is gone (Redis restarted without persistence, or the key was deleted): Redis lost the blocklist in L2
 *   too, so nothing better is known than what L1 holds; L1 is kept and reading starts again from the beginning of
 *   whatever stream comes next (`gap: 'lost'`);
 * - the stream went back in time (Redis restarted from an older snapshot): reading goes on from its last entry
 *   (`gap: 'reset'`).
 *
 * A failed read closes the connection; the reader opens another after a back-off on the injected clock (50 ms
 * doubling to 2 s). From the first failed attempt to reconnect it reports itself down (a `degraded` event: blocks then
 * reach this instance only through L2, when its L1 copies expire), and up again once it reads. A read with no answer
 * within the `BLOCK` time plus {@link READ_GRACE_MS} (a paused or partitioned Redis) counts as failed, as does a
 * connection or a catch-up command not answered within {@link READ_GRACE_MS}. `close()` stops
 * the loop, its timer and its connection.
 *
 * @internal
 * @module
 */
import type { RecordLimits } from '../cache.js'
import type { Clock, TimerHandle } from '../clock.js'
import type { RiskData } from '../types.js'
import type { RedisLink } from './link.js'
import {
  blockStreamKey,
  compareIds,
  entriesOf,
  firstIdOf,
  infoOf,
  isStreamId,
  xaddArgs,
  type BlockMessage,
  type BlockOrder,
  type ReadEntry,
} from './propagation-message.js'

/** How long one `XREAD` waits for a new entry on the server, ms. */
export const READ_BLOCK_MS = 5_000
/** Past `READ_BLOCK_MS`, how long a read may go unanswered before the connection is given up, ms. */
export const READ_GRACE_MS = 5_000
/** Entries read at most per `XREAD`. */
export const READ_COUNT = 1_000
/** First reconnection delay, ms; it doubles after each failed attempt up to {@link MAX_BACKOFF_MS}. */
export const FIRST_BACKOFF_MS = 50
/** Longest reconnection delay, ms. */
export const MAX_BACKOFF_MS = 2_000
/** Time budget of one publication (`XADD`), ms. */
export const PUBLISH_TIMEOUT_MS = 2_000

/** How the stream was found on reconnection, when messages may have been missed. */
export type PropagationGap = 'trimmed' | 'lost' | 'reset'

/** What the reader does to L1 and where it reports. Every callback must not throw (their errors are swallowed). */
export interface PropagationHost {
  /** Put a block on `ip` in L1 until `until` (epoch ms). `false` when `ip` is not an address (the entry is invalid). */
  applyBlock(ip: string, until: number, data: RiskData | null): boolean
  /** Forget what L1 holds for `ip`. `false` when `ip` is not an address. */
  applyUnblock(ip: string): boolean
  /** Forget all of L1 (messages were lost: L2 is read again). */
  dropL1(): void
  /** The time now and the longest block, to check block records against. */
  limits(): RecordLimits
  /** The reader cannot read (`reason`: the error, never a secret): blocks reach this instance only through L2. */
  down(reason: string): void
  /** The reader reads again after {@link PropagationHost.down}. */
  up(): void
  /** Messages may have been missed; what was done is in the module's notes. */
  gap(kind: PropagationGap): void
  /** A stream entry that is not a block message (`problem` is a fixed text), skipped. */
  invalid(problem: string): void
  /** A publication failed: this block reaches the others only through L2, when their L1 copies expire. */
  publishFailed(reason: string): void
}

/** Counters, for tests and diagnostics. */
export interface PropagationStats {
  /** Messages published (`XADD` acknowledged). */
  published: number
  /** Publications that failed or timed out. */
  publishFailures: number
  /** Entries read (valid or not). */
  read: number
  /** Messages applied to L1. */
  applied: number
  /** Block messages whose block was already over. */
  expired: number
  /** Entries skipped as invalid. */
  invalid: number
  /** Reconnections after a failure. */
  reconnects: number
  /** Catch-ups that found a gap (see {@link PropagationGap}). */
  gaps: number
}

/** `starting`: not read yet; `reading`; `down`: failing to reconnect; `closed`. */
export type PropagationState = 'starting' | 'reading' | 'down' | 'closed'

/** The id before every entry: read from the start. */
const START = '0-0'

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 200)
}

/** One resolver's block propagation: its publisher and its reader loop. @internal */
export class BlockPropagation {
  readonly stats: PropagationStats = { published: 0, publishFailures: 0, read: 0, applied: 0, expired: 0, invalid: 0, reconnects: 0, gaps: 0 }
  /** This instance's id, written in its messages (`from`). */
  readonly origin: string
  readonly #stream: string
  readonly #host: PropagationHost
  readonly #clock: Clock
  readonly #link: Promise<RedisLink | undefined>
  #state: PropagationState = 'starting'
  #lastId = START
  /** Whether a connection has read once (catch-up checks apply from then on). */
  #readOnce = false
  #reader: RedisLink | undefined
  #timer: TimerHandle | undefined
  #wake: (() => void) | undefined
  readonly #loop: Promise<void>
  /** Failures since the last read answered. */
  #failures = 0

  /**
   * @param link The resolver's link to Redis, once it has one (`undefined`: none, and nothing is done).
   * @param prefix `cache.prefix`, naming the stream.
   */
  constructor(link: Promise<RedisLink | undefined>, prefix: string, host: PropagationHost, clock: Clock, origin: string) {
    this.#link = link.catch(() => undefined)
    this.#stream = blockStreamKey(prefix)
    this.#host = host
    this.#clock = clock
    this.origin = origin
    this.#loop = this.#run().catch(() => undefined)
  }

  /** Whether `close()` was called (a method: the state changes across awaits). */
  #closed(): boolean {
    return this.#state === 'closed'
  }

  /** The reader's state now. */
  state(): PropagationState {
    return this.#state
  }

  /** The id of the last entry read. */
  get lastId(): string {
    return this.#lastId
  }

  /**
   * Append a block (`until`: epoch ms, `data`: what is known of the IP) or an unblock to the stream. Resolves once Redis
   * took it, or after reporting why not (never rejects).
   */
  async publish(message: BlockOrder): Promise<void> {
    if (this.#state === 'closed') return
    const link = await this.#link
    if (link === undefined) return
    const full: BlockMessage = { ...message, origin: this.origin }
    try {
      const sent = link.command(this.#stream, xaddArgs(this.#stream, full))
      const id = await this.#within(sent, PUBLISH_TIMEOUT_MS, `no answer within ${PUBLISH_TIMEOUT_MS} ms`)
      if (!isStreamId(id)) throw new Error('XADD answered something other than an entry id')
      this.stats.published++
    } catch (error) {
      this.stats.publishFailures++
      this.#report(() => this.#host.publishFailed(errorText(error)))
    }
  }

  /** Stop reading: the loop ends, its timer is cleared and its connection closed. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#clock.clearTimeout(this.#timer)
    this.#wake?.()
    this.#dropReader()
    await this.#loop
  }

  async #run(): Promise<void> {
    const link = await this.#link
    while (link !== undefined && this.#state !== 'closed') {
      try {
        await this.#connect(link)
        if (this.#readOnce) this.stats.reconnects++
        await this.#readOn()
      } catch (error) {
        this.#dropReader()
        if (this.#closed()) break
        const failures = ++this.#failures
        // One failure is a connection lost (it is reopened at once); a failed attempt to reopen it, or a new connection
        // that fails before its first read, is an outage.
        if (failures >= 2 && this.#state !== 'down') {
          this.#state = 'down'
          this.#report(() => this.#host.down(errorText(error)))
        }
        await this.#sleep(Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failures - 1)))
      }
    }
  }

  /** Open the reading connection and catch up with the stream. */
  async #connect(link: RedisLink): Promise<void> {
    const opening = link.dedicated()
    let reader: RedisLink
    try {
      reader = await this.#within(opening, READ_GRACE_MS, 'no connection within the time allowed')
    } catch (error) {
      opening.then((late) => late.close(), () => undefined) // one that connects after all is closed
      throw error
    }
    if (this.#closed()) {
      reader.close()
      throw new Error('closed')
    }
    this.#reader = reader
    if (this.#readOnce) await this.#catchUp(reader)
  }

  /**
   * Compare the stream with the last id seen (see the module's notes); adjust the position or drop L1. Every command
   * of the reader goes to the primary (never `readonly`): a lagging replica would look like a stream gone back in time.
   * Replies are read as RESP2 (node-redis's default).
   */
  async #catchUp(reader: RedisLink): Promise<void> {
    const key = this.#stream
    const ask = (args: string[]): Promise<unknown> => this.#within(reader.command(key, args), READ_GRACE_MS, 'no answer to the catch-up')
    const type = await ask(['TYPE', key])
    if (type === 'none') {
      if (this.#lastId !== START) this.#gap('lost')
      this.#lastId = START
      return
    }
    const info = infoOf(await ask(['XINFO', 'STREAM', key]))
    const last = info.get('last-generated-id')
    if (isStreamId(last) && compareIds(last, this.#lastId) < 0) {
      this.#lastId = last
      this.#gap('reset')
      return
    }
    const first = firstIdOf(info)
    const added = Number(info.get('entries-added'))
    const length = Number(info.get('length'))
    // Entries were removed (`entries-added` is Redis 7+; without it, assume they were) and the oldest left (or, when
    // none is left, the last one added) is newer than the last one seen: some removed one may not have been read.
    const trimmed = !(Number.isFinite(added) && Number.isFinite(length) && added <= length)
    const oldest = first ?? (isStreamId(last) ? last : undefined)
    if (trimmed && oldest !== undefined && compareIds(oldest, this.#lastId) > 0) {
      this.#gap('trimmed')
      this.#report(() => this.#host.dropL1())
    }
  }

  #gap(kind: PropagationGap): void {
    this.stats.gaps++
    this.#report(() => this.#host.gap(kind))
  }

  /**
   * Read and apply until the connection fails or the reader is closed. The first read of a connection does not block
   * (it answers at once): once it has answered, the reader is `reading` (and reported up after an outage).
   */
  async #readOn(): Promise<void> {
    const key = this.#stream
    let first = true
    while (this.#state !== 'closed') {
      const reader = this.#reader
      if (reader === undefined) throw new Error('closed')
      const block = first ? [] : ['BLOCK', String(READ_BLOCK_MS)]
      const args = ['XREAD', 'COUNT', String(READ_COUNT), ...block, 'STREAMS', key, this.#lastId]
      const reply = await this.#within(reader.command(key, args), READ_BLOCK_MS + READ_GRACE_MS, 'the read got no answer')
      const entries = entriesOf(reply, this.#host.limits())
      if (entries === undefined) throw new Error('XREAD answered something that is not a stream reply')
      for (const entry of entries) this.#apply(entry)
      if (first) this.#firstRead()
      first = false
    }
  }

  /** A connection read once: failures are over, the reader reads (reported up after an outage). */
  #firstRead(): void {
    this.#failures = 0
    this.#readOnce = true
    if (this.#closed()) return
    if (this.#state === 'down') this.#report(() => this.#host.up())
    this.#state = 'reading'
  }

  #apply(entry: ReadEntry): void {
    if (compareIds(entry.id, this.#lastId) <= 0) return // already applied (never expected from XREAD)
    this.#lastId = entry.id
    this.stats.read++
    const m = entry.message
    let ok: boolean
    let problem = 'an ip that is not an IP address'
    try {
      if (!('op' in m)) {
        problem = m.problem
        ok = false
      } else if (m.op === 'unblock') {
        ok = this.#host.applyUnblock(m.ip)
      } else if (m.until <= this.#host.limits().now) {
        this.stats.expired++
        return
      } else {
        ok = this.#host.applyBlock(m.ip, m.until, m.data)
      }
    } catch {
      ok = false
      problem = 'a message that could not be applied'
    }
    if (ok) {
      this.stats.applied++
      return
    }
    this.stats.invalid++
    this.#report(() => this.#host.invalid(problem))
  }

  /** `promise`, or a rejection after `ms` on the clock. */
  #within<T>(promise: Promise<T>, ms: number, timeoutText: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => reject(new Error(timeoutText)), ms)
      promise.then(
        (value) => {
          this.#clock.clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          this.#clock.clearTimeout(timer)
          reject(error instanceof Error ? error : new Error(String(error)))
        },
      )
    })
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#timer = this.#clock.setTimeout(resolve, ms)
    }).then(() => {
      this.#wake = undefined
      this.#timer = undefined
    })
  }

  #dropReader(): void {
    const reader = this.#reader
    this.#reader = undefined
    try {
      reader?.close()
    } catch {
      // already closed
    }
  }

  #report(call: () => void): void {
    try {
      call()
    } catch {
      // reporting never breaks the reader
    }
  }
}
