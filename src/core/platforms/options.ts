/**
 * The options the platform presets take.
 *
 * @module
 */

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
