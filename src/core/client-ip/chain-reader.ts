/**
 * The client-IP reader for a platform preset (`platforms.cloudflare()`, ...): the preset's chain of layers is compiled
 * once, and each request is read by walking the chain from the app outwards (see {@link readChain}).
 *
 * @module
 */
import { compileCidrList } from '../cidr.js'
import type { ClientIp, IpSource, RequestLike } from '../types.js'
import { NO_CLIENT_IP, classified } from './classify.js'
import { ForwardedForCursor } from './forwarded.js'
import { hasHeaderValue, readHeader, readPlatformHeader, socketAddressOf } from './headers.js'
import { HeaderTreeMemo, LastPeer } from './memo.js'
import { parseIp } from './parse.js'
import type { PlatformHeader, TrustLayer } from './types.js'

interface CompiledLayer {
  readonly match: ((canonicalIp: string) => boolean) | null
  readonly headers: readonly PlatformHeader[]
  readonly forwardedFor: TrustLayer['forwardedFor']
  readonly requireHeader: { readonly name: string; readonly value: string } | undefined
}

interface CompiledChain {
  /** Innermost (the layer the app's socket talks to) first. */
  readonly layers: readonly CompiledLayer[]
  readonly maxHops: number
}

/**
 * Walk a trust chain from the app outwards. `addr` is the hop being looked at (first the socket peer, `null` when the
 * request has none); for each layer, innermost first:
 *
 * 1. `addr` must be one of the layer's addresses (any address for a layer trusted by position), and the layer's
 *    required header must match; otherwise `addr` is the client (the request did not come through this layer).
 * 2. The layer's claim about its own client is the first of its headers holding one usable address, else the entry
 *    it appended to `X-Forwarded-For`. Its `X-Forwarded-For` entries are consumed either way, so that outer layers
 *    read their own. Further entries in the layer's ranges are more hops of the same layer (nginx behind nginx).
 * 3. No usable claim (no header, the start of the list, a malformed entry, `maxHops`): the last address reached is
 *    the client.
 *
 * After the outermost layer, the address it stated is the client. Headers are read only at a layer the request is
 * proven to have come through, so a client that bypasses it cannot choose the answer. The caller has checked the
 * peer against the innermost layer.
 */
function readChain(req: RequestLike, peer: string | null, chain: CompiledChain): ClientIp {
  const { layers, maxHops } = chain
  let addr = peer
  let source: IpSource = 'socket'
  let cursor: ForwardedForCursor | null | undefined
  const nextEntry = (): string | null => {
    if (cursor === undefined) {
      const xff = readHeader(req, 'x-forwarded-for')
      cursor = xff === undefined ? null : new ForwardedForCursor(typeof xff === 'string' ? [xff] : xff, maxHops)
    }
    return cursor === null ? null : cursor.next()
  }
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i] as CompiledLayer
    const match = layer.match
    // The caller already checked the peer against the innermost layer.
    if (i !== 0 && match !== null && (addr === null || !match(addr))) break
    if (layer.requireHeader !== undefined && !hasHeaderValue(req, layer.requireHeader)) break
    let next: string | null = null
    let nextSource: IpSource = 'x-forwarded-for'
    for (const name of layer.headers) {
      next = readPlatformHeader(req, name)
      if (next !== null) {
        nextSource = name
        break
      }
    }
    if (layer.forwardedFor !== 'none') {
      let entry = nextEntry()
      // `append-with-self`: that rightmost entry is the layer's own address; its client is the one before.
      if (entry !== null && layer.forwardedFor === 'append-with-self') entry = nextEntry()
      if (next === null) {
        while (entry !== null && match !== null && match(entry) && layer.forwardedFor === 'append') {
          const further = nextEntry()
          if (further === null) break
          entry = further
        }
        next = entry
      }
    }
    if (next === null) break
    addr = next
    source = nextSource
  }
  return addr === null ? NO_CLIENT_IP : classified(addr, source)
}

/** The headers a chain's answer depends on (besides the peer): what {@link readChain} may read. */
function headersReadBy(layers: readonly CompiledLayer[]): string[] {
  const readable = new Set<string>()
  for (const layer of layers) {
    for (const name of layer.headers) readable.add(name)
    if (layer.headers.includes('cf-connecting-ipv6')) readable.add('cf-connecting-ip')
    if (layer.requireHeader !== undefined) readable.add(layer.requireHeader.name)
    if (layer.forwardedFor !== 'none') readable.add('x-forwarded-for')
  }
  return [...readable]
}

/**
 * The reader for a platform preset (see `createClientIpReader`). May throw on a hostile request: the caller wraps it.
 * @internal
 */
export function createChainReader(
  chain: readonly TrustLayer[],
  maxHops: number,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  const layers: CompiledLayer[] = chain
    .map((layer) => ({
      match: layer.ranges === null ? null : compileCidrList(layer.ranges, 'trustProxy'),
      headers: layer.headers,
      forwardedFor: layer.forwardedFor,
      requireHeader: layer.requireHeader,
    }))
    .reverse()
  const compiled: CompiledChain = { layers, maxHops }
  const innermost = layers[0] as CompiledLayer
  // As in the trust-list reader: the peer is nearly always the same proxy, so its parse and the innermost layer's
  // verdict are remembered. And returning clients send the same header values again: the answer, a pure function of
  // the peer and the values of the headers the chain can read, is remembered too.
  const last = new LastPeer()
  const memo = new HeaderTreeMemo(headersReadBy(layers))
  return function readClientIp(req: RequestLike, peerAddress?: string | null): ClientIp {
    if (req === null || typeof req !== 'object') return NO_CLIENT_IP
    const rawPeer = typeof peerAddress === 'string' ? peerAddress : socketAddressOf(req)
    const known = last.is(rawPeer)
    const peer = known ? last.peer : rawPeer === undefined ? null : parseIp(rawPeer)
    const inLayer = known ? last.verdict : innermost.match === null || (peer !== null && innermost.match(peer))
    if (!known && rawPeer !== undefined) last.remember(rawPeer, peer, inLayer)
    // A layer trusted by position is trusted without a peer address too (a fetch Request on Vercel or Netlify has
    // none): the preset assumes nothing but the platform can reach the app.
    if (!inLayer) return peer === null ? NO_CLIENT_IP : classified(peer, 'socket')
    return memo.answer(req, peer, readChain, compiled)
  }
}
