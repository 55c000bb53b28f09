/**
 * The presets of hosting platforms and load balancers in front of an app: Fly.io, Vercel, Netlify, Heroku, Render,
 * Railway, AWS ALB, Google Cloud load balancers, and your own reverse proxy. Each is one {@link LayerSpec}; its TSDoc
 * is what a user sees on `platforms.<name>`.
 *
 * @module
 */
import type { PlatformHeader, PlatformPreset } from '../client-ip/types.js'
import { CLOUDFLARE_BUNDLED, cloudflareLayer, layerPreset, reverseProxyPreset, type LayerSpec } from './build.js'
import type { AwsAlbOptions, PlatformRangesOptions, ReverseProxyOptions } from './options.js'

/**
 * Google Front End ranges: where the global external and classic Application Load Balancers (and their health checks)
 * connect from, for instance-group, zonal-NEG and hybrid-NEG backends, per Google Cloud's "Firewall rules" page for
 * load balancing. Regional and internal Application Load Balancers connect from your proxy-only subnet instead.
 */
export const GOOGLE_FRONT_END_RANGES: readonly string[] = Object.freeze([
  '35.191.0.0/16',
  '130.211.0.0/22',
  '2600:2d00:1:b029::/64',
  '2600:2d00:1:1::/64',
])

/**
 * Fly.io. The app is reached only through Fly Proxy, so the peer is trusted by position; the client is
 * `Fly-Client-IP` (set by Fly Proxy), else the second entry from the right of `X-Forwarded-For` (Fly Proxy appends the
 * client and then your app's own IP address).
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.fly() })
 * // Cloudflare in front of Fly: Fly-Client-IP is a Cloudflare edge, Cloudflare's header names the visitor
 * createRiskResolver({ provider, trustProxy: [platforms.cloudflare(), platforms.fly()] })
 * ```
 */
export function fly(options?: PlatformRangesOptions): PlatformPreset {
  return layerPreset('fly', options, { ranges: 'any', headers: ['fly-client-ip'], forwardedFor: 'append-with-self' })
}

/**
 * Vercel. Functions are reached only through Vercel's edge, so the peer is trusted by position (a fetch `Request` in a
 * route handler has no peer address at all, and needs none here); the client is `x-vercel-forwarded-for`, else
 * `x-real-ip`, else `X-Forwarded-For`, all of which Vercel sets to the client's address, overwriting the client's own.
 *
 * @example
 * ```ts
 * // app/api/trpc/[trpc]/route.ts
 * const risk = createRiskResolver({ provider, trustProxy: platforms.vercel() })
 * const ip = risk.clientIp(request) // no peer address needed on Vercel
 * ```
 */
export function vercel(options?: PlatformRangesOptions): PlatformPreset {
  const headers: PlatformHeader[] = ['x-vercel-forwarded-for', 'x-real-ip']
  return layerPreset('vercel', options, { ranges: 'any', headers, forwardedFor: 'append' })
}

/**
 * Netlify (Functions and Edge Functions). Reached only through Netlify's edge, so the peer is trusted by position
 * (fetch `Request`s without a peer address included); the client is `x-nf-client-connection-ip`. `X-Forwarded-For` is
 * not read: without that header the answer is the peer itself (or none), never a client-written value.
 *
 * @example
 * ```ts
 * const risk = createRiskResolver({ provider, trustProxy: platforms.netlify() })
 * ```
 */
export function netlify(options?: PlatformRangesOptions): PlatformPreset {
  const headers: PlatformHeader[] = ['x-nf-client-connection-ip']
  return layerPreset('netlify', options, { ranges: 'any', headers, forwardedFor: 'none' })
}

/**
 * Heroku. Dynos are reached only through the Heroku router, so the peer is trusted by position; the router appends
 * the client to `X-Forwarded-For` and the client is that rightmost entry.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.heroku() })
 * ```
 */
export function heroku(options?: PlatformRangesOptions): PlatformPreset {
  return layerPreset('heroku', options, { ranges: 'any', headers: [], forwardedFor: 'append' })
}

/**
 * Render. Services are reached only through Render's proxy (trusted by position), which Render puts behind
 * Cloudflare: the proxy appends the Cloudflare edge to `X-Forwarded-For`, so when that rightmost entry is in
 * Cloudflare's ranges the client is Cloudflare's `CF-Connecting-IP` (or the entry before the edge); otherwise the
 * rightmost entry is the client.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.render() })
 * ```
 */
export function render(options?: PlatformRangesOptions): PlatformPreset {
  const before = [cloudflareLayer(CLOUDFLARE_BUNDLED)]
  return layerPreset('render', options, { ranges: 'any', headers: [], forwardedFor: 'append', before })
}

/**
 * Railway. Services are reached only through Railway's edge (trusted by position); the client is `X-Real-IP`, which
 * the edge sets, else the `X-Forwarded-For` entry it appended.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.railway() })
 * ```
 */
export function railway(options?: PlatformRangesOptions): PlatformPreset {
  return layerPreset('railway', options, { ranges: 'any', headers: ['x-real-ip'], forwardedFor: 'append' })
}

/**
 * An AWS Application Load Balancer with its default `X-Forwarded-For` processing (`append`): peers in your VPC
 * ranges are the load balancer, and the client is the entry it appended (the rightmost); entries the client wrote
 * further left are never read. A port the load balancer may add (`xff_client_port`) is ignored.
 *
 * @throws IpRiskConfigError (`platforms.awsAlb.vpc`) when `vpc` is missing or unparsable.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.awsAlb({ vpc: '10.0.0.0/16' }) })
 * // CloudFront → ALB → app
 * const vpc = '10.0.0.0/16'
 * createRiskResolver({ provider, trustProxy: [platforms.cloudfront({ ranges: 'any' }), platforms.awsAlb({ vpc })] })
 * ```
 */
export function awsAlb(options: AwsAlbOptions): PlatformPreset {
  return layerPreset('awsAlb', options, {
    rangesOption: 'vpc',
    required: "the CIDR ranges of the load balancer's subnets (or of the VPC), e.g. '10.0.0.0/16'",
    anyRefused: "must be your VPC's ranges; 'any' would trust every peer",
    headers: [],
    forwardedFor: 'append',
  })
}

/**
 * Google Cloud Application Load Balancers. Peers in the Google Front End ranges ({@link GOOGLE_FRONT_END_RANGES},
 * the global external and classic load balancers), or in the `ranges` you give (your proxy-only subnet for regional
 * and internal load balancers), are the load balancer. It appends `<client>, <load balancer IP>` to
 * `X-Forwarded-For`: the client is the second entry from the right.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.googleCloud() })
 * createRiskResolver({ provider, trustProxy: platforms.googleCloud({ ranges: '10.129.0.0/23' }) }) // proxy-only subnet
 * ```
 */
export function googleCloud(options?: PlatformRangesOptions): PlatformPreset {
  const spec = { ranges: GOOGLE_FRONT_END_RANGES, headers: [], forwardedFor: 'append-with-self' } as const
  return layerPreset('googleCloud', options, spec)
}

/**
 * Your own reverse proxy — nginx, Caddy, Traefik, HAProxy — on the same host (the default, `'loopback'`) or at the
 * addresses you give. Only `X-Forwarded-For` is read, from the right: the client is the entry the proxy appended (or
 * wrote), and entries the client sent further left are never read. Headers such as `X-Real-IP` are not read: a client
 * can ask Traefik to drop them (`Connection: X-Real-Ip`).
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.reverseProxy() }) // nginx / Caddy / Traefik on this host
 * createRiskResolver({ provider, trustProxy: platforms.reverseProxy({ ranges: '10.0.1.5' }) })
 * ```
 */
export function reverseProxy(options?: ReverseProxyOptions): PlatformPreset {
  return reverseProxyPreset(options)
}
