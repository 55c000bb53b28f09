/**
 * The types of the client-IP options: the trust model (`TrustProxy`, platform presets and their layers) and the
 * reader's options.
 *
 * @module
 */

/**
 * Which proxies to trust, as in Express's `trust proxy` setting:
 * - `false` (default): trust none; the socket peer is the client.
 * - `true`: trust every hop; the client is the furthest (leftmost) usable address.
 * - a number `n`: trust the `n` closest hops (the socket peer is hop 0).
 * - a string or list of addresses, CIDR ranges and the names `loopback`, `linklocal`, `uniquelocal`, `private`
 *   (a string may be comma-separated).
 * - a function `(addr, hop) => boolean`, given the canonical address and its hop number (0 = the socket peer).
 * - a platform preset (`platforms.cloudflare()`, `platforms.awsAlb({ vpc })`, ...) or a list of them: the whole trust
 *   model of a deployment, including the headers the platform overwrites (see `platforms`).
 *
 * @example
 * ```ts
 * const behindCloudflareAndNginx: TrustProxy = platforms.cloudflare({ behind: 'loopback' })
 * const behindNginx: TrustProxy = 'loopback'
 * const behindTwoProxies: TrustProxy = 2
 * const behindMyNetwork: TrustProxy = ['10.0.0.0/8', 'fd00::/8']
 * const custom: TrustProxy = (addr, hop) => hop === 0 || addr.startsWith('10.')
 * ```
 */
export type TrustProxy =
  | boolean
  | number
  | string
  | readonly string[]
  | ((addr: string, hop: number) => boolean)
  | PlatformPreset
  | readonly PlatformPreset[]

/**
 * A header a platform sets (overwriting whatever the client sent) to the address of the client that connected to it.
 * Only platform presets read these (see `platforms`).
 */
export type PlatformHeader =
  | 'cf-connecting-ip'
  | 'cf-connecting-ipv6'
  | 'fly-client-ip'
  | 'x-vercel-forwarded-for'
  | 'x-real-ip'
  | 'x-nf-client-connection-ip'
  | 'cloudfront-viewer-address'
  | 'x-azure-socketip'
  | 'fastly-client-ip'
  | 'true-client-ip'

/**
 * One link of a trust chain: a platform (CDN, load balancer, PaaS router) or your own reverse proxy, and how it
 * forwards the address of its client. Built by the `platforms` presets.
 */
export interface TrustLayer {
  /** The preset that made it (`'cloudflare'`, `'reverseProxy'`, ...). */
  readonly name: string
  /**
   * The addresses this layer connects from (addresses, CIDR ranges, range names), or `null` when its hop is trusted by
   * position, whatever its address: only right when nothing else can reach the layer's position.
   */
  readonly ranges: string | readonly string[] | null
  /** Headers the layer overwrites with its client's address, most precise first. */
  readonly headers: readonly PlatformHeader[]
  /**
   * What the layer does to `X-Forwarded-For`: `'append'` its client's address; `'append-with-self'` its client's
   * address and then its own (Google Cloud load balancers, Fly.io); `'none'` (not read: the header is the client's).
   */
  readonly forwardedFor: 'append' | 'append-with-self' | 'none'
  /** Believe the layer only when the request carries this header with this value (Azure Front Door's X-Azure-FDID). */
  readonly requireHeader?: { readonly name: string; readonly value: string } | undefined
}

/**
 * A whole trust model for one deployment: the chain of platforms and proxies a request travels through, client side
 * first. Created by the `platforms` presets (`platforms.cloudflare()`, `platforms.fly()`, ...) and given as
 * `trustProxy`; a list of presets is one longer chain, in the order the request passes them.
 *
 * @example
 * ```ts
 * import { createRiskResolver, platforms } from 'iprisk'
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) }) // → nginx → app
 * ```
 */
export interface PlatformPreset {
  /** The preset's name, e.g. `'cloudflare'` or `'cloudflare+reverseProxy'`. */
  readonly platform: string
  /** The chain, client side first. */
  readonly layers: readonly TrustLayer[]
}

/**
 * Options of {@link createClientIpReader} and {@link clientIp}.
 *
 * @example
 * ```ts
 * // Cloudflare in front of the app: trust its ranges, prefer the header it overwrites
 * const options: ClientIpOptions = { trustProxy: cloudflareRanges, headers: ['cf-connecting-ip'] }
 * ```
 */
export interface ClientIpOptions {
  /** Which proxies to trust; see {@link TrustProxy}. @default false */
  trustProxy?: TrustProxy
  /**
   * Extra headers, opt-in, honoured only when the socket peer is trusted, in the order listed and before
   * `X-Forwarded-For`. Enable only headers that your trusted proxy sets or overwrites on every request.
   * @default []
   */
  headers?: readonly ('x-real-ip' | 'cf-connecting-ip' | 'forwarded')[]
  /**
   * The most `X-Forwarded-For` entries / `Forwarded` elements examined per request (an integer from 1 to 1024), so
   * a giant header costs bounded work. When the walk reaches it while still on trusted hops, the last address read
   * is the client. A hop-count `trustProxy` may not exceed it.
   * @default 32
   */
  maxHops?: number
}
