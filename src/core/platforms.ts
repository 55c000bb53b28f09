/**
 * Platform presets: one `trustProxy` value per hosting platform that sets the whole trust model, i.e. which peers are
 * the platform, which header it overwrites with the client's address, and how it writes `X-Forwarded-For`.
 *
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare() }) // Cloudflare → app
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) }) // → nginx → app
 * createRiskResolver({ provider, trustProxy: [platforms.cloudfront({ ranges: 'any' }), platforms.awsAlb({ vpc })] })
 * ```
 *
 * A preset is plain data, checked when it is made and compiled once when the reader (or resolver) is created; see
 * `readChain` in client-ip/chain-reader.ts for how a request is read, and docs/client-ip.md for each platform's header
 * shape and sources. The presets are built in platforms/: `cdn.ts` and `hosts.ts` (one function each, with the TSDoc
 * users see), `build.ts` (the one builder they share), `registry.ts` (only registered presets are accepted),
 * `options.ts` (their option types).
 *
 * @module
 */
import { akamai, azureFrontDoor, cloudflare, cloudfront, fastly } from './platforms/cdn.js'
import { awsAlb, fly, googleCloud, heroku, netlify, railway, render, reverseProxy, vercel } from './platforms/hosts.js'

export { CLOUDFLARE_IP_RANGES, CLOUDFLARE_RANGES_MAX_AGE_DAYS, type PublishedRanges } from './platform-ranges.js'
export { GOOGLE_FRONT_END_RANGES } from './platforms/hosts.js'
export { platformChainOf } from './platforms/registry.js'
export type {
  AwsAlbOptions,
  AzureFrontDoorOptions,
  PlatformOptions,
  PlatformRanges,
  PlatformRangesOptions,
  RequiredRangesOptions,
  ReverseProxyOptions,
} from './platforms/options.js'

/**
 * Platform presets for `trustProxy`: each sets the whole trust model of one deployment (which peers are the
 * platform, which header it overwrites with the client's address, how it writes `X-Forwarded-For`). Give one preset,
 * or a list of them in the order a request passes them (client side first); `behind` adds your own proxies between
 * the platform and the app. docs/client-ip.md has a section per platform.
 *
 * | preset | client address from |
 * | --- | --- |
 * | `cloudflare()` | `CF-Connecting-IP` (`CF-Connecting-IPv6` with Pseudo IPv4), peers in Cloudflare's bundled ranges |
 * | `fly()` | `Fly-Client-IP` |
 * | `vercel()` | `x-vercel-forwarded-for`, `x-real-ip` |
 * | `netlify()` | `x-nf-client-connection-ip` |
 * | `awsAlb({ vpc })` | the `X-Forwarded-For` entry the load balancer appended |
 * | `cloudfront({ ranges })` | `CloudFront-Viewer-Address` |
 * | `googleCloud()` | the second `X-Forwarded-For` entry from the right |
 * | `azureFrontDoor({ ranges, frontDoorId })` | `X-Azure-SocketIP` |
 * | `fastly({ ranges })` | `Fastly-Client-IP` (set in your VCL) |
 * | `akamai({ ranges })` | `True-Client-IP` |
 * | `heroku()`, `render()`, `railway()` | the entry their router appended (`X-Real-IP` on Railway) |
 * | `reverseProxy()` | the entry nginx / Caddy / Traefik on this host appended |
 *
 * @example
 * ```ts
 * import { createRiskResolver, platforms } from 'iprisk'
 * const risk = createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) })
 * ```
 */
export const platforms = Object.freeze({
  cloudflare,
  fly,
  vercel,
  netlify,
  awsAlb,
  cloudfront,
  googleCloud,
  azureFrontDoor,
  fastly,
  akamai,
  heroku,
  render,
  railway,
  reverseProxy,
})
