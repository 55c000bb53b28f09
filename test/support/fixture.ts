/**
 * The resolver both adapter suites test against: a fresh simulator with one documentation-range address per profile,
 * and a resolver on it that trusts X-Forwarded-For from loopback and records every reported decision.
 */
import { createRiskResolver, ipasis, type RiskResolver, type RiskResolverOptions } from '../../src/core/index.js'
import type { Decision, RequestInfo } from '../../src/core/types.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

/** One documentation-range address per simulator profile (scores: clean 5, vpn 45, proxy 60, datacenter 55, tor 92, high-risk 97). */
export const ips = {
  clean: '203.0.113.10',
  vpn: '203.0.113.20',
  proxy: '203.0.113.30',
  tor: '203.0.113.40',
  datacenter: '203.0.113.50',
  highRisk: '203.0.113.60',
} as const
export type Profile = keyof typeof ips

export interface Fixture {
  sim: IpasisSimulator
  resolver: RiskResolver
  /** Every decision reported through `resolver.report`, in order. */
  reports: { decision: Decision; info: RequestInfo | undefined }[]
  close(): Promise<void>
}

/** No breaker and no automatic blocklist unless a suite asks for them, so cases do not leak into each other. */
export async function createSimulatedResolver(overrides: Partial<RiskResolverOptions> = {}): Promise<Fixture> {
  const sim = await startIpasisSimulator({ apiKey: 'test-key' })
  sim.setProfile(ips.vpn, 'vpn')
  sim.setProfile(ips.proxy, 'proxy')
  sim.setProfile(ips.tor, 'tor')
  sim.setProfile(ips.datacenter, 'datacenter')
  sim.setProfile(ips.highRisk, 'high-risk')
  const resolver = createRiskResolver({
    provider: ipasis({ apiKey: 'test-key', baseUrl: sim.url }),
    trustProxy: 'loopback',
    scoreDocumentationRanges: true,
    breaker: false,
    blocklist: false,
    ...overrides,
  })
  const reports: Fixture['reports'] = []
  const report = resolver.report.bind(resolver)
  resolver.report = (decision, info) => {
    reports.push({ decision, info })
    report(decision, info)
  }
  return {
    sim,
    resolver,
    reports,
    async close() {
      await resolver.close()
      await sim.close()
    },
  }
}
