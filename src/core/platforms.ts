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
 * `readChain` in ip.ts for how a request is read, and docs/client-ip.md for each platform's header shape and sources.
 *
 * @module
 */
import { compileCidrList } from './cidr.js'
import { IpRiskConfigError } from './errors.js'
import type { PlatformHeader, PlatformPreset, TrustLayer } from './ip.js'
import { CLOUDFLARE_IP_RANGES } from './platform-ranges.js'

export { CLOUDFLARE_IP_RANGES, CLOUDFLARE_RANGES_MAX_AGE_DAYS, type PublishedRanges } from './platform-ranges.js'

/**
 * A platform's addresses: addresses, CIDR ranges and range names as in `trustProxy` (a string may be comma-separated),
 * or `'any'`: the hop is trusted by its position whatever its address, which is only right when nothing but the
 * platform can connect there (a firewall, security group or access restriction admits the platform alone, or the
 * platform offers no other way in).
 */
export type PlatformRanges = string | readonly string[]

/** Options every preset takes. */
export interface PlatformOptions {
  /**
   * Your own reverse proxies between the platform and the app, i.e. the app is behind them: addresses, CIDR ranges or
   * names as in `trustProxy`, e.g. `'loopback'` for nginx, Caddy or Traefik on the same host. They must append the
   * address they saw to `X-Forwarded-For` (nginx: `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`;
   * Caddy and Traefik do by default) and pass the platform's headers on unchanged.
   * @default none: the platform connects to the app itself
   */
  behind?: string | readonly string[]
}

/** Options of presets whose platform addresses have a default you may replace. */
export interface PlatformRangesOptions extends PlatformOptions {
  /**
   * The platform's addresses, or `'any'` (see {@link PlatformRanges}).
   * @default the platform's own: Cloudflare's bundled ranges ({@link CLOUDFLARE_IP_RANGES}), the Google Front End
   * ranges ({@link GOOGLE_FRONT_END_RANGES}), or `'any'` for the platforms trusted by position (Fly.io, Vercel,
   * Netlify, Heroku, Render, Railway)
   */
  ranges?: PlatformRanges
}

/** Options of presets whose ranges are published but not bundled: you give them, or `'any'`. */
export interface RequiredRangesOptions extends PlatformOptions {
  /** The platform's addresses, or `'any'` (see {@link PlatformRanges}). Required. */
  ranges: PlatformRanges
}

/** Options of {@link platforms}.awsAlb. */
export interface AwsAlbOptions extends PlatformOptions {
  /**
   * The addresses of your load balancer's nodes: the CIDR ranges of the subnets it is in (or the whole VPC), e.g.
   * `'10.0.0.0/16'`. Required: ALB nodes have no fixed or published addresses.
   */
  vpc: string | readonly string[]
}

/** Options of {@link platforms}.azureFrontDoor. */
export interface AzureFrontDoorOptions extends RequiredRangesOptions {
  /**
   * Your Front Door profile's ID (a GUID, `X-Azure-FDID`): a request is believed to come through your Front Door only
   * when it carries this value. Every Front Door customer connects from the same `AzureFrontDoor.Backend` ranges, so
   * without the ID another customer's Front Door pointed at your origin would be trusted too.
   * @default not checked
   */
  frontDoorId?: string
}

/** Options of {@link platforms}.reverseProxy. */
export interface ReverseProxyOptions {
  /** Your proxies' addresses. @default 'loopback' (a proxy on the same host) */
  ranges?: string | readonly string[]
}

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

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// ---------------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------------

/** Presets made by {@link definePlatformPreset}: only these are accepted as `trustProxy`, not look-alike objects. */
const PRESETS = new WeakSet<object>()

/** Cloudflare's bundled ranges, both families, as one list (shared by `cloudflare()` and `render()`). */
const CLOUDFLARE_BUNDLED: readonly string[] = Object.freeze([...CLOUDFLARE_IP_RANGES.ipv4, ...CLOUDFLARE_IP_RANGES.ipv6])

/**
 * Freeze and register a preset: the chain of layers a request travels through, client side first. Each layer's ranges
 * are checked here, once, so a bad range fails where the preset is made.
 */
function definePlatformPreset(platform: string, layers: readonly TrustLayer[], optionName: string): PlatformPreset {
  // Layers are built by the functions below from typed literals (and hand-made presets are refused through
  // `PRESETS`), so only the user's ranges need checking.
  const frozen: TrustLayer[] = []
  for (const layer of layers) {
    if (layer.ranges !== null) compileCidrList(layer.ranges, optionName)
    frozen.push(
      Object.freeze({
        name: layer.name,
        ranges:
          typeof layer.ranges === 'string' || layer.ranges === null ? layer.ranges : Object.freeze([...layer.ranges]),
        headers: Object.freeze([...layer.headers]),
        forwardedFor: layer.forwardedFor,
        requireHeader:
          layer.requireHeader === undefined
            ? undefined
            : Object.freeze({ name: layer.requireHeader.name.toLowerCase(), value: layer.requireHeader.value }),
      }),
    )
  }
  const preset: PlatformPreset = Object.freeze({ platform, layers: Object.freeze(frozen) })
  PRESETS.add(preset)
  return preset
}

/**
 * The layers of a preset or a list of presets (client side first), `null` for any other `trustProxy` value. Read by
 * the client-IP reader (ip.ts); not part of the package's API.
 *
 * @internal
 */
export function platformChainOf(trust: unknown, optionName: string): readonly TrustLayer[] | null {
  if (typeof trust !== 'object' || trust === null) return null
  if (!Array.isArray(trust)) {
    if (PRESETS.has(trust)) return (trust as PlatformPreset).layers
    if ('layers' in trust && 'platform' in trust) {
      throw new IpRiskConfigError(optionName, 'is not a preset made by `platforms` (presets cannot be written by hand)')
    }
    return null
  }
  const list = trust as readonly unknown[]
  const presets = list.filter((item) => typeof item === 'object' && item !== null && PRESETS.has(item))
  if (presets.length === 0) return null
  if (presets.length !== list.length) {
    throw new IpRiskConfigError(
      optionName,
      'mixes platform presets with other entries; give your own proxies as platforms.reverseProxy({ ranges }) in the list, or as a preset\'s `behind` option',
    )
  }
  return (presets as PlatformPreset[]).flatMap((preset) => preset.layers)
}


function optionsOf<T extends object>(value: T | undefined, preset: string, required: boolean): Partial<T> {
  if (value === undefined && !required) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IpRiskConfigError(
      `platforms.${preset}`,
      `options must be an object${required ? ' (they are required)' : ''}`,
    )
  }
  return value
}

/** `ranges` as a layer wants it: `null` for `'any'` (trusted by position). */
function rangesOf(
  value: unknown,
  option: string,
  fallback: PlatformRanges | undefined,
  required: string | null,
): string | readonly string[] | null {
  if (value === undefined) {
    if (fallback !== undefined) return fallback === 'any' ? null : fallback
    throw new IpRiskConfigError(option, `is required: ${required ?? ''}`)
  }
  if (typeof value === 'string' && value.trim().toLowerCase() === 'any') return null
  if (typeof value === 'string') {
    compileCidrList(value, option) // a bad entry is reported under the option it was written in
    return value
  }
  if (Array.isArray(value)) {
    if (value.some((entry) => typeof entry === 'string' && entry.trim().toLowerCase() === 'any')) {
      throw new IpRiskConfigError(option, "'any' stands alone; it cannot be part of a list")
    }
    compileCidrList(value as readonly string[], option)
    return value as readonly string[]
  }
  throw new IpRiskConfigError(
    option,
    `must be a string or an array of strings (addresses, CIDR ranges, 'any'), got ${value === null ? 'null' : typeof value}`,
  )
}

function ownProxies(ranges: string | readonly string[]): TrustLayer {
  return { name: 'reverseProxy', ranges, headers: [], forwardedFor: 'append' }
}

/** Register `layers` (client side first), with the own proxies of `behind` nearest the app. */
function preset(name: string, layers: TrustLayer[], options: PlatformOptions): PlatformPreset {
  const behind = (options as { behind?: unknown }).behind
  if (behind === undefined) return definePlatformPreset(name, layers, `platforms.${name}`)
  if (typeof behind !== 'string' && !Array.isArray(behind)) {
    throw new IpRiskConfigError(
      `platforms.${name}.behind`,
      'must be a string or an array of strings (addresses, CIDR ranges, range names)',
    )
  }
  // Validate under the option's own name first, so a bad entry is reported where it was written.
  compileCidrList(behind, `platforms.${name}.behind`)
  return definePlatformPreset(`${name}+reverseProxy`, [...layers, ownProxies(behind)], `platforms.${name}`)
}

function cloudflareLayer(ranges: string | readonly string[] | null): TrustLayer {
  return { name: 'cloudflare', ranges, headers: ['cf-connecting-ipv6', 'cf-connecting-ip'], forwardedFor: 'append' }
}

// ---------------------------------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Cloudflare (proxied DNS records). Peers in Cloudflare's published ranges (bundled: {@link CLOUDFLARE_IP_RANGES}) are
 * Cloudflare; the client is `CF-Connecting-IP`, which Cloudflare overwrites on every request, or `CF-Connecting-IPv6`
 * when Cloudflare's Pseudo IPv4 "Overwrite Headers" mode put a Class E stand-in in `CF-Connecting-IP`; without either,
 * the `X-Forwarded-For` entry Cloudflare appended. A peer outside the ranges is the client, whatever it sends.
 *
 * @throws IpRiskConfigError (`platforms.cloudflare.ranges`, `.behind`) for an unparsable range.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare() }) // Cloudflare → Node
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ behind: 'loopback' }) }) // → nginx → Node
 * // a list fetched at deploy time instead of the bundled one:
 * createRiskResolver({ provider, trustProxy: platforms.cloudflare({ ranges: freshCloudflareRanges }) })
 * ```
 */
function cloudflare(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'cloudflare', false)
  const bundled = CLOUDFLARE_BUNDLED
  const ranges = rangesOf(o.ranges, 'platforms.cloudflare.ranges', bundled, null)
  return preset('cloudflare', [cloudflareLayer(ranges)], o)
}

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
function fly(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'fly', false)
  const ranges = rangesOf(o.ranges, 'platforms.fly.ranges', 'any', null)
  return preset('fly', [{ name: 'fly', ranges, headers: ['fly-client-ip'], forwardedFor: 'append-with-self' }], o)
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
function vercel(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'vercel', false)
  const ranges = rangesOf(o.ranges, 'platforms.vercel.ranges', 'any', null)
  const headers: PlatformHeader[] = ['x-vercel-forwarded-for', 'x-real-ip']
  return preset('vercel', [{ name: 'vercel', ranges, headers, forwardedFor: 'append' }], o)
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
function netlify(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'netlify', false)
  const ranges = rangesOf(o.ranges, 'platforms.netlify.ranges', 'any', null)
  const headers: PlatformHeader[] = ['x-nf-client-connection-ip']
  return preset('netlify', [{ name: 'netlify', ranges, headers, forwardedFor: 'none' }], o)
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
function awsAlb(options: AwsAlbOptions): PlatformPreset {
  const o = optionsOf(options, 'awsAlb', true)
  const vpc = rangesOf(
    o.vpc,
    'platforms.awsAlb.vpc',
    undefined,
    "the CIDR ranges of the load balancer's subnets (or of the VPC), e.g. '10.0.0.0/16'",
  )
  if (vpc === null) {
    throw new IpRiskConfigError('platforms.awsAlb.vpc', "must be your VPC's ranges; 'any' would trust every peer")
  }
  return preset('awsAlb', [{ name: 'awsAlb', ranges: vpc, headers: [], forwardedFor: 'append' }], o)
}

/**
 * Amazon CloudFront. Peers in the ranges you give (the `"service": "CLOUDFRONT"` entries of
 * https://ip-ranges.amazonaws.com/ip-ranges.json), or any peer with `'any'` when the origin admits only CloudFront
 * (a security group on the `com.amazonaws.global.cloudfront.origin-facing` managed prefix list), are CloudFront;
 * the client is `CloudFront-Viewer-Address` (`ip:port`; enable it in the origin request policy), else the
 * `X-Forwarded-For` entry CloudFront appended.
 *
 * @throws IpRiskConfigError (`platforms.cloudfront.ranges`) when `ranges` is missing or unparsable.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.cloudfront({ ranges: cloudFrontOriginFacingRanges }) })
 * ```
 */
function cloudfront(options: RequiredRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'cloudfront', true)
  const ranges = rangesOf(
    o.ranges,
    'platforms.cloudfront.ranges',
    undefined,
    "CloudFront's ranges (\"service\": \"CLOUDFRONT\" in https://ip-ranges.amazonaws.com/ip-ranges.json), or 'any' when only CloudFront can reach the origin (a security group on its managed prefix list)",
  )
  const headers: PlatformHeader[] = ['cloudfront-viewer-address']
  return preset('cloudfront', [{ name: 'cloudfront', ranges, headers, forwardedFor: 'append' }], o)
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
function googleCloud(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'googleCloud', false)
  const ranges = rangesOf(o.ranges, 'platforms.googleCloud.ranges', GOOGLE_FRONT_END_RANGES, null)
  return preset('googleCloud', [{ name: 'googleCloud', ranges, headers: [], forwardedFor: 'append-with-self' }], o)
}

/**
 * Azure Front Door. Peers in the ranges you give (the `AzureFrontDoor.Backend` service tag), or any peer with `'any'`
 * when an access restriction admits only that tag, are Front Door, and with `frontDoorId` only requests carrying your
 * profile's `X-Azure-FDID`. The client is `X-Azure-SocketIP`, the address of the connection to Front Door, else the
 * `X-Forwarded-For` entry Front Door appended. `X-Azure-ClientIP` is not used: Microsoft documents that the client can
 * set the address it reports.
 *
 * @throws IpRiskConfigError (`platforms.azureFrontDoor.ranges`, `.frontDoorId`) when missing or malformed.
 *
 * @example
 * ```ts
 * createRiskResolver({
 *   provider,
 *   trustProxy: platforms.azureFrontDoor({ ranges: 'any', frontDoorId: process.env.AZURE_FDID! }),
 * })
 * ```
 */
function azureFrontDoor(options: AzureFrontDoorOptions): PlatformPreset {
  const o = optionsOf(options, 'azureFrontDoor', true)
  const ranges = rangesOf(
    o.ranges,
    'platforms.azureFrontDoor.ranges',
    undefined,
    "the AzureFrontDoor.Backend service tag's ranges, or 'any' when an access restriction admits only Front Door",
  )
  const id = o.frontDoorId
  if (id !== undefined && (typeof id !== 'string' || !GUID_RE.test(id))) {
    throw new IpRiskConfigError(
      'platforms.azureFrontDoor.frontDoorId',
      "must be the profile's ID, a GUID such as 55ce4ed1-4b06-4bf1-b40e-4638452104da",
    )
  }
  const layer: TrustLayer = {
    name: 'azureFrontDoor',
    ranges,
    headers: ['x-azure-socketip'],
    forwardedFor: 'append',
    requireHeader: id === undefined ? undefined : { name: 'x-azure-fdid', value: id },
  }
  return preset('azureFrontDoor', [layer], o)
}

/**
 * Fastly (VCL services). Peers in the ranges you give (https://api.fastly.com/public-ip-list), or any peer with
 * `'any'`, are Fastly; the client is `Fastly-Client-IP`. Fastly keeps a value the client sent, so your VCL must set it
 * (`if (fastly.ff.visits_this_service == 0 && req.restarts == 0) { set req.http.Fastly-Client-IP = client.ip; }`).
 * `X-Forwarded-For` is not read: Fastly does not append to it on plain-HTTP requests.
 *
 * @throws IpRiskConfigError (`platforms.fastly.ranges`) when `ranges` is missing or unparsable.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.fastly({ ranges: fastlyPublicIpList }) })
 * ```
 */
function fastly(options: RequiredRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'fastly', true)
  const ranges = rangesOf(
    o.ranges,
    'platforms.fastly.ranges',
    undefined,
    "Fastly's ranges (https://api.fastly.com/public-ip-list), or 'any' when only Fastly can reach the origin",
  )
  return preset('fastly', [{ name: 'fastly', ranges, headers: ['fastly-client-ip'], forwardedFor: 'none' }], o)
}

/**
 * Akamai, with the Origin Server behavior's defaults: the True Client IP header on, named `True-Client-IP`, and
 * `trueClientIpClientSetting` (a client's own header kept) off. Peers in the ranges you give (your Site Shield map),
 * or any peer with `'any'` when the origin admits only Akamai, are Akamai; the client is `True-Client-IP`.
 * `X-Forwarded-For` is not read.
 *
 * @throws IpRiskConfigError (`platforms.akamai.ranges`) when `ranges` is missing or unparsable.
 *
 * @example
 * ```ts
 * createRiskResolver({ provider, trustProxy: platforms.akamai({ ranges: siteShieldRanges }) })
 * ```
 */
function akamai(options: RequiredRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'akamai', true)
  const ranges = rangesOf(
    o.ranges,
    'platforms.akamai.ranges',
    undefined,
    "your Site Shield ranges, or 'any' when only Akamai can reach the origin",
  )
  return preset('akamai', [{ name: 'akamai', ranges, headers: ['true-client-ip'], forwardedFor: 'none' }], o)
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
function heroku(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'heroku', false)
  const ranges = rangesOf(o.ranges, 'platforms.heroku.ranges', 'any', null)
  return preset('heroku', [{ name: 'heroku', ranges, headers: [], forwardedFor: 'append' }], o)
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
function render(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'render', false)
  const ranges = rangesOf(o.ranges, 'platforms.render.ranges', 'any', null)
  const edge = cloudflareLayer(CLOUDFLARE_BUNDLED)
  return preset('render', [edge, { name: 'render', ranges, headers: [], forwardedFor: 'append' }], o)
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
function railway(options?: PlatformRangesOptions): PlatformPreset {
  const o = optionsOf(options, 'railway', false)
  const ranges = rangesOf(o.ranges, 'platforms.railway.ranges', 'any', null)
  return preset('railway', [{ name: 'railway', ranges, headers: ['x-real-ip'], forwardedFor: 'append' }], o)
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
function reverseProxy(options?: ReverseProxyOptions): PlatformPreset {
  const o = optionsOf(options, 'reverseProxy', false)
  const ranges = rangesOf(o.ranges, 'platforms.reverseProxy.ranges', 'loopback', null)
  if (ranges === null) {
    throw new IpRiskConfigError(
      'platforms.reverseProxy.ranges',
      "must be your proxies' addresses; 'any' would trust every peer",
    )
  }
  return definePlatformPreset('reverseProxy', [ownProxies(ranges)], 'platforms.reverseProxy.ranges')
}

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
