/**
 * The client IP of a request, under a trust model Express / proxy-addr users know: the socket peer is the client
 * unless it is a trusted proxy, in which case `X-Forwarded-For` is walked from the right through trusted hops only.
 * Every address is strictly parsed and canonicalized; a malformed entry ends the walk and is never returned.
 *
 * Performance: the reader is compiled once; per request it validates with `net.isIP` (~17 ns), reads at most
 * `maxHops` list entries scanning from the right (never splitting the whole header), and canonicalizes IPv6 with
 * a single char loop (see `parseValidIpv6` in ip-address.ts for why that is hand-written). A returning client's
 * header values are answered from the reader's memo (see client-ip/memo.ts).
 *
 * This is the front module, holding the entry point; the work is done in client-ip/, one concern a module:
 * `parse.ts` (one address), `classify.ts` (its kind), `trust.ts` (`trustProxy` compiled to a predicate),
 * `headers.ts` (reading a request), `forwarded.ts` (X-Forwarded-For / Forwarded lists), `list-reader.ts` and
 * `chain-reader.ts` (the readers for a trust list and for a platform preset), `memo.ts` (what they remember),
 * `types.ts` (the option types). The presets themselves are platforms.ts.
 *
 * @module
 */
import { IpRiskConfigError } from './errors.js'
import { createChainReader } from './client-ip/chain-reader.js'
import { NO_CLIENT_IP } from './client-ip/classify.js'
import { OPTIONAL_HEADERS, createListReader, type OptionalHeader } from './client-ip/list-reader.js'
import { TRUST_NONE, compileTrust } from './client-ip/trust.js'
import type { ClientIpOptions } from './client-ip/types.js'
import { platformChainOf } from './platforms/registry.js'
import type { ClientIp, RequestLike } from './types.js'

export { classifyIp } from './client-ip/classify.js'
export { readHeader } from './client-ip/headers.js'
export { parseIp } from './client-ip/parse.js'
export { compileTrust } from './client-ip/trust.js'
export type { ClientIpOptions, PlatformHeader, PlatformPreset, TrustLayer, TrustProxy } from './client-ip/types.js'

/** The default of {@link ClientIpOptions.maxHops}. */
const DEFAULT_MAX_HOPS = 32
const MAX_MAX_HOPS = 1024

/** The `headers` option, checked: a list of distinct {@link OPTIONAL_HEADERS} (lower-cased). */
function validateHeaders(value: unknown): readonly OptionalHeader[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    throw new IpRiskConfigError('headers', `must be an array of ${OPTIONAL_HEADERS.join(', ')}`)
  }
  const out: OptionalHeader[] = []
  for (const entry of value as unknown[]) {
    const name = typeof entry === 'string' ? entry.toLowerCase() : entry
    if (name === 'x-forwarded-for') {
      throw new IpRiskConfigError(
        'headers',
        'X-Forwarded-For is always read when trustProxy trusts the peer; do not list it',
      )
    }
    if (!OPTIONAL_HEADERS.includes(name as OptionalHeader)) {
      throw new IpRiskConfigError(
        'headers',
        `unknown header ${JSON.stringify(entry)}; expected ${OPTIONAL_HEADERS.join(', ')}`,
      )
    }
    if (out.includes(name as OptionalHeader)) {
      throw new IpRiskConfigError('headers', `${JSON.stringify(entry)} is listed twice`)
    }
    out.push(name as OptionalHeader)
  }
  return out
}

/**
 * A request object may be broken or hostile: a getter or a Proxy trap (on the request, its socket, its headers or a
 * header's value array) that throws. What it would have said is unknown, so the answer is "no IP" (policies apply
 * their fail mode), never the proxy's own address and never an exception. One try around the whole read, for every
 * reader (trust lists and platform presets alike; V8 optimizes functions with try/catch, and a micro-benchmark of the
 * warm path shows no difference beyond noise).
 */
function neverThrows(
  read: (req: RequestLike, peerAddress: string | null | undefined) => ClientIp,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  return function readClientIp(req: RequestLike, peerAddress?: string | null): ClientIp {
    try {
      return read(req, peerAddress)
    } catch {
      return NO_CLIENT_IP
    }
  }
}

/**
 * Compile the client IP options once and return a fast reader `(req, peerAddress?) => ClientIp`.
 * This is the hot-path API; {@link clientIp} recompiles on every call.
 *
 * How the client IP is chosen:
 * 1. The socket peer: `peerAddress` when it is a string, else `req.socket.remoteAddress`, else `req.remoteAddress`.
 *    None, or one that does not parse, gives `{ ip: null, source: null, kind: null }`.
 * 2. If the peer is not trusted (hop 0), it is the client (`source: 'socket'`). Headers are not even read.
 * 3. Else each header of `headers`, in the order listed: `x-real-ip` / `cf-connecting-ip` when they hold exactly one
 *    valid address; `forwarded` when its walk (like below) reaches at least one valid `for=` address.
 * 4. Else `X-Forwarded-For`, walked from the right through trusted hops (`source: 'x-forwarded-for'`): the first
 *    untrusted hop is the client; a malformed entry, the start of the list or `maxHops` ends the walk at the last
 *    valid address.
 * 5. Else the peer itself (`source: 'socket'`).
 *
 * With a platform preset as `trustProxy` (`platforms.cloudflare()`, ...), steps 2–5 follow the preset's chain: the
 * platform's header is read only at a hop proven to be the platform (in its ranges, or by position), else the entry the
 * platform appended to `X-Forwarded-For`; `headers` must then be unset.
 *
 * The reader never throws; all addresses are canonical (see {@link parseIp}) and classified (see {@link classifyIp}).
 * A request that throws while it is read (a getter or Proxy trap on the request, `socket`, `headers`, a header
 * value, or a `headers.get` that throws) has no client IP: `{ ip: null, source: null, kind: null }`, never the
 * address of the proxy that forwarded it. Headers are read only once the peer is trusted, so an untrusted peer is
 * still the client however its request's headers behave.
 *
 * @throws IpRiskConfigError when an option is invalid (naming `trustProxy`, `headers` or `maxHops`).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * const readIp = createClientIpReader({ trustProxy: 'loopback' }) // nginx on the same host
 * createServer((req, res) => {
 *   const { ip, kind } = readIp(req) // Node: the peer is req.socket.remoteAddress
 *   res.end(`${ip} (${kind})`)
 * })
 * // fetch Request (Bun): pass the peer address alongside
 * // Bun.serve({ fetch: (req, server) => Response.json(readIp(req, server.requestIP(req)?.address)) })
 * ```
 */
export function createClientIpReader(
  options?: ClientIpOptions,
): (req: RequestLike, peerAddress?: string | null) => ClientIp {
  const opts: ClientIpOptions = options ?? {}
  if (typeof opts !== 'object' || opts === null) {
    throw new IpRiskConfigError('options', 'client IP options must be an object')
  }
  const trustOption = opts.trustProxy ?? false
  const chain = platformChainOf(trustOption, 'trustProxy')
  const trust = chain === null ? compileTrust(trustOption, 'trustProxy') : TRUST_NONE
  const maxHops = opts.maxHops ?? DEFAULT_MAX_HOPS
  if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > MAX_MAX_HOPS) {
    throw new IpRiskConfigError('maxHops', `must be an integer from 1 to ${MAX_MAX_HOPS}, got ${String(maxHops)}`)
  }
  if (chain !== null) {
    if (validateHeaders(opts.headers).length !== 0) {
      throw new IpRiskConfigError('headers', 'a platform preset chooses the headers it reads; remove this option')
    }
    return neverThrows(createChainReader(chain, maxHops))
  }
  if (typeof trustOption === 'number' && trustOption > maxHops) {
    throw new IpRiskConfigError(
      'trustProxy',
      `trusts ${trustOption} hops but only maxHops (${maxHops}) entries are read; raise maxHops`,
    )
  }
  const headers = validateHeaders(opts.headers)
  // The compiled trusts are pure functions of the address, so the reader may remember verdicts; a user's may not be.
  const pure = typeof trustOption !== 'function'
  return neverThrows(createListReader({ trust, pure, headers, maxHops }))
}

/**
 * The client IP of one request. Convenience for scripts and tests: it compiles the options on every call, so in a
 * server create the reader once with {@link createClientIpReader} (or use the resolver's `clientIp`).
 *
 * @throws IpRiskConfigError when an option is invalid.
 *
 * @example
 * ```ts
 * const req = { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2' }, remoteAddress: '10.0.0.1' }
 * clientIp(req, { trustProxy: 'private' })
 * // { ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' }
 * clientIp(new Request('http://localhost/'), { peerAddress: '198.51.100.4' })
 * // { ip: '198.51.100.4', source: 'socket', kind: 'documentation' }
 * ```
 */
export function clientIp(req: RequestLike, options?: ClientIpOptions & { peerAddress?: string | null }): ClientIp {
  return createClientIpReader(options)(req, options?.peerAddress)
}
