/**
 * Shared set-up for the example servers, the demo, the benchmarks and the reliability suite:
 * a risk resolver backed by the real IPASIS API when `IPASIS_API_KEY` is set, otherwise by the local simulator with
 * one documentation-range address per risk profile.
 */
import { createRiskResolver, ipasis, type RiskResolver, type RiskResolverOptions } from '../../src/core/index.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

/** Who the demo plays: one address per simulator profile (documentation ranges, so never a real host). */
export const demoClients = {
  clean: '203.0.113.10',
  vpn: '203.0.113.20',
  proxy: '203.0.113.30',
  tor: '203.0.113.40',
  datacenter: '203.0.113.50',
  highRisk: '203.0.113.60',
} as const

export type DemoClient = keyof typeof demoClients

export interface ExampleRisk {
  resolver: RiskResolver
  /** Present when no API key was given. */
  simulator: IpasisSimulator | null
  close(): Promise<void>
}

/**
 * Builds the resolver the examples use. Without `IPASIS_API_KEY` it starts the simulator and assigns the demo
 * profiles; with `REDIS_URL` it adds the shared L2 cache.
 */
export async function createExampleRisk(
  overrides: Partial<RiskResolverOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExampleRisk> {
  let simulator: IpasisSimulator | null = null
  let provider
  if (env.IPASIS_API_KEY) {
    provider = ipasis({ apiKey: env.IPASIS_API_KEY })
  } else {
    simulator = await startIpasisSimulator({ apiKey: 'demo-key' })
    simulator.setProfile(demoClients.vpn, 'vpn')
    simulator.setProfile(demoClients.proxy, 'proxy')
    simulator.setProfile(demoClients.tor, 'tor')
    simulator.setProfile(demoClients.datacenter, 'datacenter')
    simulator.setProfile(demoClients.highRisk, 'high-risk')
    provider = ipasis({ apiKey: 'demo-key', baseUrl: simulator.url })
  }
  const resolver = createRiskResolver({
    provider,
    trustProxy: 'loopback',
    scoreDocumentationRanges: simulator !== null,
    ...(env.REDIS_URL ? { cache: env.REDIS_URL } : {}),
    ...overrides,
  })
  return {
    resolver,
    simulator,
    async close() {
      await resolver.close()
      await simulator?.close()
    },
  }
}
