/**
 * Address ranges bundled with the platform presets (see platforms.ts).
 *
 * Only Cloudflare's ranges are bundled: Cloudflare publishes one short, stable list for every customer. Other
 * platforms either publish long lists that change weekly (CloudFront, Azure Front Door, Fastly), per-customer lists
 * (Akamai Site Shield), or none at all; their presets take the ranges as an argument instead.
 *
 * This file is written by `scripts/refresh-cloudflare-ranges.ts` (run it by hand, with network access, to refresh the
 * list; `npm test` fails once `takenOn` is more than {@link CLOUDFLARE_RANGES_MAX_AGE_DAYS} days old).
 *
 * @module
 */

/** A dated copy of a platform's published address ranges. */
export interface PublishedRanges {
  /** Where the list is published. */
  readonly source: readonly string[]
  /** The day the copy was taken, `YYYY-MM-DD` (UTC). */
  readonly takenOn: string
  /** How the copy was taken. */
  readonly provenance: string
  readonly ipv4: readonly string[]
  readonly ipv6: readonly string[]
}

/**
 * How old (in days) the bundled Cloudflare list may get before the test suite fails and asks for a refresh with
 * `scripts/refresh-cloudflare-ranges.ts`. Cloudflare changes its list rarely and announces changes in advance; a
 * stale list fails safe (a new edge address is not trusted, so its requests are scored as the edge), but it should
 * not stay stale.
 */
export const CLOUDFLARE_RANGES_MAX_AGE_DAYS = 180

/**
 * Cloudflare's edge ranges, as published at https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6.
 *
 * Taken on 2026-12-07. Written by hand on 2026-12-07 from the author's knowledge of Cloudflare's published lists, on a
 * machine without network access: not fetched. Run scripts/refresh-cloudflare-ranges.ts to replace it with the live
 * lists.
 */
export const CLOUDFLARE_IP_RANGES: PublishedRanges = Object.freeze({
  source: Object.freeze(['https://www.cloudflare.com/ips-v4', 'https://www.cloudflare.com/ips-v6']),
  takenOn: '2026-12-07',
  provenance:
    'Written by hand on 2026-12-07 from the author\'s knowledge of Cloudflare\'s published lists, on a ' +
    'machine without network access: not fetched. Run scripts/refresh-cloudflare-ranges.ts to replace it ' +
    'with the live lists.',
  ipv4: Object.freeze([
    '173.245.48.0/20',
    '103.21.244.0/22',
    '103.22.200.0/22',
    '103.31.4.0/22',
    '141.101.64.0/18',
    '108.162.192.0/18',
    '190.93.240.0/20',
    '188.114.96.0/20',
    '197.234.240.0/22',
    '198.41.128.0/17',
    '162.158.0.0/15',
    '104.16.0.0/13',
    '104.24.0.0/14',
    '172.64.0.0/13',
    '131.0.72.0/22',
  ]),
  ipv6: Object.freeze([
    '2400:cb00::/32',
    '2606:4700::/32',
    '2803:f800::/32',
    '2405:b500::/32',
    '2405:8100::/32',
    '2a06:98c0::/29',
    '2c0f:f248::/32',
  ]),
})
