/** Shared fixtures for suites that build risk answers by hand (policy, events). */
import type { IpRisk } from '../../src/core/types.js'

/** A scored, clean answer for a global IP; cases override what they are about. */
export function risk(overrides: Partial<IpRisk> = {}): IpRisk {
  return {
    ip: '81.2.69.160',
    ipKind: 'global',
    status: 'scored',
    error: null,
    listed: null,
    source: 'upstream',
    lookupMs: 42,
    score: 10,
    isVpn: false,
    isProxy: false,
    isTor: false,
    isDatacenter: false,
    countryCode: 'GB',
    asn: 20712,
    isp: 'Example ISP',
    ...overrides,
  }
}

/** The provider-data fields of an answer that has none. */
export const NO_DATA = {
  score: null,
  isVpn: null,
  isProxy: null,
  isTor: null,
  isDatacenter: null,
  countryCode: null,
  asn: null,
  isp: null,
} as const
