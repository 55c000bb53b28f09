/**
 * Where a client is filed and what the lists say about it, before any cache or lookup: the address the client is
 * treated as and its cache key ({@link Located}), the static allow / deny lists, and whether the address may be
 * scored at all. Synchronous, no I/O; the warm path allocates nothing here.
 *
 * @module
 * @internal
 */
import { isIPv4 } from './ip-address.js'
import { LRUCache } from 'lru-cache'
import { makeRisk } from './answers.js'
import { locateClient } from './cidr.js'
import { classifyIp, parseIp } from './ip.js'
import type { Ipv4Embedding } from './ip-address.js'
import type { IpKind, IpRisk } from './types.js'

/**
 * A located client: an IPv4 address is its own address and key, and is returned as the string itself (no
 * allocation on the hot path); anything else is the (memoised) address it stands for and its cache key. @internal
 */
export type Located = string | { readonly ip: string; readonly key: string }

/** The address a located client is treated as. @internal */
export function ipOf(located: Located): string {
  return typeof located === 'string' ? located : located.ip
}

/** The cache key of a located client. @internal */
export function keyOf(located: Located): string {
  return typeof located === 'string' ? located : located.key
}

/** IPv6 (and unusual IPv4 spellings) → canonical address and cache key, remembered to keep IPv6 hits cheap. */
const KEY_MEMO_MAX = 10_000
/** Listed and non-global answers, remembered per address so that repeated local / listed callers allocate nothing. */
const STATIC_MEMO_MAX = 4_096

/** The resolved options the lists need. @internal */
export interface ListsOptions {
  readonly allow: ((ip: string) => boolean) | undefined
  readonly deny: ((ip: string) => boolean) | undefined
  readonly ipv6Prefix: number
  readonly nat64Prefixes: readonly Ipv4Embedding[]
  readonly scoreDocumentationRanges: boolean
  readonly scoreLoopback: boolean
}

/** The lists of one resolver, with their memos. @internal */
export class ClientLists {
  readonly #keyMemo = new LRUCache<string, { ip: string; key: string }>({ max: KEY_MEMO_MAX })
  readonly #staticMemo = new LRUCache<string, IpRisk>({ max: STATIC_MEMO_MAX })
  /** Whether there is a list at all (read on the hot path before calling {@link listed}). */
  readonly hasLists: boolean

  constructor(private readonly options: ListsOptions) {
    this.hasLists = options.allow !== undefined || options.deny !== undefined
  }

  /** Raw text → the client it stands for, or `null` when it is not an IP address. */
  locate(raw: string): Located | null {
    if (isIPv4(raw)) return raw
    const memo = this.#keyMemo.get(raw)
    if (memo !== undefined) return memo
    const ip = parseIp(raw)
    if (ip === null) return null
    // An address standing for an IPv4 client (NAT64, 6to4, Teredo, `nat64Prefixes`) becomes that IPv4 address here,
    // so lists, the blocklist, the cache, the lookup, the answer and the events all see the IPv4 client. Miss path only.
    const located = locateClient(ip, this.options.ipv6Prefix, this.options.nat64Prefixes)
    this.#keyMemo.set(raw, located)
    return located
  }

  /** The static lists' answer for `ip` (deny first), or `undefined` when neither lists it. */
  listed(ip: string): IpRisk | undefined {
    const { allow, deny } = this.options
    if (deny !== undefined && deny(ip)) return this.#staticAnswer(ip, 'deny', null)
    if (allow !== undefined && allow(ip)) return this.#staticAnswer(ip, 'allow', null)
    return undefined
  }

  /** The `skipped` answer for an address of kind `kind` that is never looked up, or `undefined` if it may be scored. */
  unscorable(ip: string, kind: IpKind): IpRisk | undefined {
    const { scoreDocumentationRanges, scoreLoopback } = this.options
    const scorable =
      kind === 'global' || (kind === 'documentation' && scoreDocumentationRanges) || (kind === 'loopback' && scoreLoopback)
    return scorable ? undefined : this.#staticAnswer(ip, null, kind)
  }

  #staticAnswer(ip: string, listed: 'allow' | 'deny' | null, kind: IpKind | null): IpRisk {
    const memo = this.#staticMemo.get(ip)
    if (memo !== undefined && memo.listed === listed) return memo
    const answer = makeRisk(ip, kind ?? classifyIp(ip), 'skipped', null, listed, 'none', 0, null)
    this.#staticMemo.set(ip, answer)
    return answer
  }
}
