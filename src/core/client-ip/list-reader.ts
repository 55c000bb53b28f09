/**
 * The client-IP reader for a trust value that is not a platform preset (`false`, `true`, a hop count, addresses and
 * ranges, a function): the socket peer, then the opt-in headers, then `X-Forwarded-For` walked through trusted hops.
 *
 * @module
 */
import type { ClientIp, RequestLike } from '../types.js'
import { NO_CLIENT_IP, classified } from './classify.js'
import { walkList } from './forwarded.js'
import { readHeader, readSingleAddress, socketAddressOf } from './headers.js'
import { LastPeer, MEMO_MAX_CHARS, ValueMemo } from './memo.js'
import { parseIp } from './parse.js'
import { TRUST_NONE } from './trust.js'

/** The headers `ClientIpOptions.headers` may list. @internal */
export const OPTIONAL_HEADERS = ['x-real-ip', 'cf-connecting-ip', 'forwarded'] as const
/** One of {@link OPTIONAL_HEADERS}. @internal */
export type OptionalHeader = (typeof OPTIONAL_HEADERS)[number]

/** What a trust-list reader is compiled from. @internal */
export interface ListReaderOptions {
  /** The compiled trust (see `compileTrust`). */
  readonly trust: (addr: string, hop: number) => boolean
  /** Whether `trust` is a pure function of the address (the compiled ones are; a user's function may not be). */
  readonly pure: boolean
  /** The opt-in headers, in the order listed. */
  readonly headers: readonly OptionalHeader[]
  readonly maxHops: number
}

/**
 * The trusted peer's client: the first opt-in header holding a usable address, else the `X-Forwarded-For` walk, else
 * the peer itself.
 */
function readTrustedPeer(req: RequestLike, peer: string, options: ListReaderOptions): ClientIp {
  const { trust, maxHops } = options
  for (const name of options.headers) {
    const value = readHeader(req, name)
    if (value === undefined) continue
    if (name === 'forwarded') {
      const ip = walkList(typeof value === 'string' ? [value] : value, true, peer, trust, maxHops)
      if (ip !== null) return classified(ip, 'forwarded')
    } else {
      const ip = readSingleAddress(value)
      if (ip !== null) return classified(ip, name)
    }
  }
  const xff = readHeader(req, 'x-forwarded-for')
  if (xff !== undefined) {
    const ip = walkList(typeof xff === 'string' ? [xff] : xff, false, peer, trust, maxHops)
    if (ip !== null) return classified(ip, 'x-forwarded-for')
  }
  return classified(peer, 'socket')
}

/**
 * The reader for a trust list (see `createClientIpReader`). May throw on a hostile request: the caller wraps it.
 * @internal
 */
export function createListReader(options: ListReaderOptions): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  const { trust, pure, maxHops } = options
  const trustsNothing = trust === TRUST_NONE
  // Behind a proxy nearly every request comes from the same peer (the proxy): remember the last peer's parse and
  // trust verdict, so the hot path skips both. Only for a pure trust; a user's function is asked every time.
  const last = new LastPeer()
  // Returning clients send the same X-Forwarded-For value again (what makes the L1 cache work): remember the walk's
  // answer per value, so the hot path is one Map read instead of parsing, trusting and classifying each hop. The
  // answer of a walk does not depend on the peer (only on the value and the trust, a pure function here), so the
  // memo is read only once the peer is known to be trusted. Only without optional headers (they would take
  // precedence) and for short values.
  const walks = pure && options.headers.length === 0 ? new ValueMemo() : null

  return function read(req: RequestLike, peerAddress?: string | null): ClientIp {
    if (req === null || typeof req !== 'object') return NO_CLIENT_IP
    const rawPeer = typeof peerAddress === 'string' ? peerAddress : socketAddressOf(req)
    if (rawPeer === undefined) return NO_CLIENT_IP
    const known = last.is(rawPeer)
    const peer = known ? last.peer : parseIp(rawPeer)
    const peerTrusted = known ? last.verdict : peer !== null && !trustsNothing && trust(peer, 0)
    if (!known && pure) last.remember(rawPeer, peer, peerTrusted)
    if (peer === null) return NO_CLIENT_IP
    if (!peerTrusted) return classified(peer, 'socket')
    if (walks !== null) {
      const value = readHeader(req, 'x-forwarded-for')
      if (typeof value === 'string' && value.length <= MEMO_MAX_CHARS) {
        let known = walks.get(value)
        if (known === undefined) {
          const ip = walkList([value], false, peer, trust, maxHops)
          known = ip === null ? null : Object.freeze(classified(ip, 'x-forwarded-for'))
          walks.set(value, known)
        }
        return known ?? classified(peer, 'socket')
      }
    }
    return readTrustedPeer(req, peer, options)
  }
}
