/**
 * What a client-IP reader remembers between requests, so the warm path skips parsing: the last socket peer and its
 * verdict, and answers per header value. Each memo belongs to one reader (created with it) and is bounded by starting
 * over when full: no per-hit bookkeeping (an LRU's reordering is what this avoids), and an attacker rotating values
 * only costs the work that would have been done anyway. No library offers a one-entry memo without a Map lookup, or
 * a start-over bound, hence by hand.
 *
 * @module
 */
import type { ClientIp } from '../types.js'
import { readHeader } from './headers.js'
import type { RequestLike } from '../types.js'

/** Header values remembered per reader (then the memo starts over): a few hundred KB at most. @internal */
export const MEMO_MAX_ENTRIES = 4096
/** Longer header values are read every time (they are rare, and would make the memo large). @internal */
export const MEMO_MAX_CHARS = 160

/** Stands for an absent header in {@link HeaderTreeMemo}. */
const ABSENT = Symbol('absent')

/**
 * The last socket peer's parse and verdict (trusted, or in the innermost layer). Behind a proxy nearly every request
 * comes from the same peer, so this one entry answers almost all of them. Only for verdicts that are pure functions
 * of the address. @internal
 */
export class LastPeer {
  private raw: string | undefined = undefined
  /** The remembered peer's canonical address (when {@link LastPeer.is} answered true). */
  peer: string | null = null
  /** The remembered peer's verdict (when {@link LastPeer.is} answered true). */
  verdict = false

  /** Whether `raw` is the peer remembered, so `peer` and `verdict` are its. */
  is(raw: string | undefined): boolean {
    return raw !== undefined && raw === this.raw
  }

  remember(raw: string, peer: string | null, verdict: boolean): void {
    this.raw = raw
    this.peer = peer
    this.verdict = verdict
  }
}

/**
 * Answers per `X-Forwarded-For` value, for a trust-list reader whose walk depends only on the value once the peer is
 * trusted. @internal
 */
export class ValueMemo {
  private answers = new Map<string, ClientIp | null>()

  get(value: string): ClientIp | null | undefined {
    return this.answers.get(value)
  }

  set(value: string, answer: ClientIp | null): void {
    if (this.answers.size >= MEMO_MAX_ENTRIES) this.answers = new Map()
    this.answers.set(value, answer)
  }
}

/**
 * Answers that are a pure function of the peer and of the values of some headers, remembered in a tree of maps, one
 * level per header: no key is built by concatenation, so hashing the fresh header strings is the only work. A header
 * sent twice (a list) or a long value is not remembered. @internal
 */
export class HeaderTreeMemo {
  private root = new Map<unknown, unknown>()
  private nodes = 0
  private readonly maxNodes: number

  /** @param headers - the headers the answer depends on. */
  constructor(private readonly headers: readonly string[]) {
    this.maxNodes = MEMO_MAX_ENTRIES * (headers.length + 1)
  }

  /**
   * The answer remembered for this peer and these header values, else `compute(req, peer, arg)`'s (frozen and
   * remembered). `compute` and `arg` are the reader's own, passed through so no closure is made per request.
   */
  answer<A>(
    req: RequestLike,
    peer: string | null,
    compute: (req: RequestLike, peer: string | null, arg: A) => ClientIp,
    arg: A,
  ): ClientIp {
    if (this.nodes >= this.maxNodes) {
      this.root = new Map()
      this.nodes = 0
    }
    let level = this.root
    let key: unknown = peer ?? ABSENT
    for (const name of this.headers) {
      const value = readHeader(req, name)
      if (value !== undefined && (typeof value !== 'string' || value.length > MEMO_MAX_CHARS)) {
        return compute(req, peer, arg)
      }
      let next = level.get(key) as Map<unknown, unknown> | undefined
      if (next === undefined) {
        next = new Map()
        level.set(key, next)
        this.nodes++
      }
      level = next
      key = value ?? ABSENT
    }
    let known = level.get(key) as ClientIp | undefined
    if (known === undefined) {
      known = Object.freeze(compute(req, peer, arg))
      level.set(key, known)
      this.nodes++
    }
    return known
  }
}
