/**
 * The simulator's profiles: the built-in answers, the `hash` profile, and the rule table (exact IP, CIDR, function,
 * default) shared by the HTTP simulator and `createMemoryProvider`.
 *
 * @module
 */
import ipaddr from 'ipaddr.js'
import { canonicalIp } from '../../core/provider-schema.js'
import type { RiskData } from '../../core/types.js'

/**
 * The built-in profiles. `hash` is not in the table: it derives a stable, pseudo-random answer from the IP itself
 * (useful as the default profile of a benchmark that scores thousands of distinct IPs).
 *
 * @example
 * ```ts
 * const sim = await startIpasisSimulator({ defaultProfile: 'hash' })
 * ```
 */
export type SimulatorProfileName = 'clean' | 'vpn' | 'proxy' | 'tor' | 'datacenter' | 'high-risk' | 'hash'

/**
 * What the simulator answers for an IP:
 * - a built-in profile name (see {@link simulatorProfiles});
 * - a `Partial<RiskData>`: the fields given are sent, the others are left out of the answer (so the provider reports
 *   them as `null`);
 * - `{ json }`: this exact JSON body is sent with status 200, whatever the API style (to test odd answers).
 *
 * @example
 * ```ts
 * sim.setProfile('203.0.113.7', 'tor')
 * sim.setProfile('198.51.100.0/24', { score: 80, isDatacenter: true })
 * sim.setProfile('192.0.2.1', { json: { risk_score: 150 } })
 * ```
 */
export type SimulatorProfile = SimulatorProfileName | Partial<RiskData> | { readonly json: unknown }

/**
 * Picks a profile for an IP, or `undefined` to fall through to the default profile.
 *
 * @example
 * ```ts
 * sim.setProfileFor((ip) => (ip.endsWith('.66') ? 'tor' : undefined))
 * ```
 */
export type SimulatorProfileFn = (ip: string) => SimulatorProfile | undefined

/**
 * The built-in profiles with their documented answers. Scores: clean 5, vpn 45, proxy 60, datacenter 55, tor 92,
 * high-risk 97 (score only: every flag false). Frozen.
 *
 * @example
 * ```ts
 * expect(risk.score).toBe(simulatorProfiles.tor.score) // 92
 * ```
 */
export const simulatorProfiles: Readonly<Record<Exclude<SimulatorProfileName, 'hash'>, Readonly<RiskData>>> =
  Object.freeze({
    clean: Object.freeze(profile(5, {}, 'US', 7922, 'Comcast Cable Communications')),
    vpn: Object.freeze(profile(45, { isVpn: true }, 'NL', 9009, 'M247 Europe SRL')),
    proxy: Object.freeze(profile(60, { isProxy: true }, 'RU', 202425, 'IP Volume inc')),
    tor: Object.freeze(profile(92, { isTor: true }, 'DE', 24940, 'Hetzner Online GmbH')),
    datacenter: Object.freeze(profile(55, { isDatacenter: true }, 'US', 16509, 'Amazon.com, Inc.')),
    'high-risk': Object.freeze(profile(97, {}, 'CN', 4134, 'Chinanet')),
  })

function profile(
  score: number,
  flags: Partial<Pick<RiskData, 'isVpn' | 'isProxy' | 'isTor' | 'isDatacenter'>>,
  countryCode: string,
  asn: number,
  isp: string,
): RiskData {
  return {
    score,
    isVpn: flags.isVpn ?? false,
    isProxy: flags.isProxy ?? false,
    isTor: flags.isTor ?? false,
    isDatacenter: flags.isDatacenter ?? false,
    countryCode,
    asn,
    isp,
  }
}

const HASH_COUNTRIES = ['US', 'DE', 'FR', 'GB', 'NL', 'BR', 'IN', 'JP', 'CN', 'RU', 'CA', 'AU'] as const

/**
 * The `hash` profile: a stable answer derived from the IP (FNV-1a), about 2 % Tor, 8 % VPN, 5 % proxy and 20 %
 * datacenter, scores spread over 0–99 (flagged IPs score at least 40, Tor at least 90).
 *
 * @example
 * ```ts
 * hashProfile('203.0.113.7') // always the same RiskData for this IP
 * ```
 */
export function hashProfile(ip: string): RiskData {
  let h = 0x811c9dc5
  for (let i = 0; i < ip.length; i++) {
    h ^= ip.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  const isTor = h % 50 === 0
  const isVpn = !isTor && (h >>> 6) % 25 < 2
  const isProxy = !isTor && (h >>> 11) % 20 === 0
  const isDatacenter = (h >>> 16) % 5 === 0
  let score = (h >>> 3) % 100
  if (isVpn || isProxy || isDatacenter) score = Math.max(score, 40)
  if (isTor) score = Math.max(score, 90)
  return {
    score,
    isVpn,
    isProxy,
    isTor,
    isDatacenter,
    countryCode: HASH_COUNTRIES[(h >>> 20) % HASH_COUNTRIES.length] ?? 'US',
    asn: 1000 + ((h >>> 4) % 60_000),
    isp: `Simulated ISP ${(h >>> 24) % 64}`,
  }
}

/**
 * Resolve a profile (name or partial data) to the fields that are sent, or `{ json }` for a raw body.
 * @internal
 */
export function resolveProfile(p: SimulatorProfile, ip: string): Partial<RiskData> | { readonly json: unknown } {
  if (typeof p === 'string') {
    if (p === 'hash') return hashProfile(ip)
    const known = simulatorProfiles[p]
    if (!known) throw new TypeError(`iprisk simulator: unknown profile ${JSON.stringify(p)}`)
    return known
  }
  return p
}

function assertProfile(p: unknown): asserts p is SimulatorProfile {
  if (typeof p === 'string') {
    if (p !== 'hash' && !Object.hasOwn(simulatorProfiles, p)) {
      throw new TypeError(`iprisk simulator: unknown profile ${JSON.stringify(p)}`)
    }
    return
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw new TypeError('iprisk simulator: a profile is a profile name, a Partial<RiskData> or { json }')
  }
}

/**
 * Profile rules: exact IPs, then CIDRs (longest prefix first), then a function, then the default.
 * Shared by the simulator and `createMemoryProvider`.
 * @internal
 */
export class ProfileTable {
  private readonly exact = new Map<string, SimulatorProfile>()
  private cidrs: Array<{ key: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; profile: SimulatorProfile }> = []
  fn: SimulatorProfileFn | undefined
  fallback: SimulatorProfile

  constructor(fallback: SimulatorProfile = 'clean') {
    assertProfile(fallback)
    this.fallback = fallback
  }

  /** Add or replace a rule; `null` removes it. `ipOrCidr` is an IP (any notation) or a CIDR such as `10.0.0.0/8`. */
  set(ipOrCidr: string, p: SimulatorProfile | null): void {
    if (p !== null) assertProfile(p)
    if (typeof ipOrCidr === 'string' && ipOrCidr.includes('/')) {
      let range: [ipaddr.IPv4 | ipaddr.IPv6, number]
      try {
        range = ipaddr.parseCIDR(ipOrCidr)
      } catch {
        throw new TypeError(`iprisk simulator: invalid CIDR ${JSON.stringify(ipOrCidr)}`)
      }
      const key = `${range[0].toString()}/${range[1]}`
      this.cidrs = this.cidrs.filter((rule) => rule.key !== key)
      if (p !== null) {
        this.cidrs.push({ key, range, profile: p })
        this.cidrs.sort((a, b) => b.range[1] - a.range[1])
      }
      return
    }
    const ip = typeof ipOrCidr === 'string' ? canonicalIp(ipOrCidr) : null
    if (ip === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(ipOrCidr)}`)
    if (p === null) this.exact.delete(ip)
    else this.exact.set(ip, p)
  }

  clear(): void {
    this.exact.clear()
    this.cidrs = []
  }

  /** The profile for a canonical IP. */
  lookup(ip: string): SimulatorProfile {
    const exact = this.exact.get(ip)
    if (exact !== undefined) return exact
    if (this.cidrs.length > 0) {
      const addr = ipaddr.parse(ip)
      for (const rule of this.cidrs) {
        if (addr.kind() === rule.range[0].kind() && addr.match(rule.range)) return rule.profile
      }
    }
    const fromFn = this.fn?.(ip)
    if (fromFn !== undefined) {
      assertProfile(fromFn)
      return fromFn
    }
    return this.fallback
  }
}
