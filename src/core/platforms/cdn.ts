/**
 * The presets of CDNs and edge networks in front of an origin: Cloudflare, CloudFront, Azure Front Door, Fastly,
 * Akamai. Each is one {@link LayerSpec}; its TSDoc is what a user sees on `platforms.<name>`.
 *
 * @module
 */
import type { PlatformHeader, PlatformPreset } from '../client-ip/types.js'
import { IpRiskConfigError } from '../errors.js'
import { CLOUDFLARE_BUNDLED, layerPreset, type LayerSpec } from './build.js'
import type { AzureFrontDoorOptions, PlatformRangesOptions, RequiredRangesOptions } from './options.js'

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

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
export function cloudflare(options?: PlatformRangesOptions): PlatformPreset {
  const headers: PlatformHeader[] = ['cf-connecting-ipv6', 'cf-connecting-ip']
  return layerPreset('cloudflare', options, { ranges: CLOUDFLARE_BUNDLED, headers, forwardedFor: 'append' })
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
export function cloudfront(options: RequiredRangesOptions): PlatformPreset {
  return layerPreset('cloudfront', options, {
    required:
      "CloudFront's ranges (\"service\": \"CLOUDFRONT\" in https://ip-ranges.amazonaws.com/ip-ranges.json), or 'any' when only CloudFront can reach the origin (a security group on its managed prefix list)",
    headers: ['cloudfront-viewer-address'],
    forwardedFor: 'append',
  })
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
export function azureFrontDoor(options: AzureFrontDoorOptions): PlatformPreset {
  return layerPreset('azureFrontDoor', options, {
    required:
      "the AzureFrontDoor.Backend service tag's ranges, or 'any' when an access restriction admits only Front Door",
    headers: ['x-azure-socketip'],
    forwardedFor: 'append',
    requireHeader: ({ frontDoorId: id }) => {
      if (id !== undefined && (typeof id !== 'string' || !GUID_RE.test(id))) {
        throw new IpRiskConfigError(
          'platforms.azureFrontDoor.frontDoorId',
          "must be the profile's ID, a GUID such as 55ce4ed1-4b06-4bf1-b40e-4638452104da",
        )
      }
      return id === undefined ? undefined : { name: 'x-azure-fdid', value: id }
    },
  })
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
export function fastly(options: RequiredRangesOptions): PlatformPreset {
  return layerPreset('fastly', options, {
    required: "Fastly's ranges (https://api.fastly.com/public-ip-list), or 'any' when only Fastly can reach the origin",
    headers: ['fastly-client-ip'],
    forwardedFor: 'none',
  })
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
export function akamai(options: RequiredRangesOptions): PlatformPreset {
  return layerPreset('akamai', options, {
    required: "your Site Shield ranges, or 'any' when only Akamai can reach the origin",
    headers: ['true-client-ip'],
    forwardedFor: 'none',
  })
}
