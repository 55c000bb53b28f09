// The example of docs/testing.md, verbatim but for import paths: keeps the documentation honest.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { createRiskResolver, ipasis } from '../../src/core/index.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

let sim: IpasisSimulator
let risk: ReturnType<typeof createRiskResolver>

beforeAll(async () => {
  sim = await startIpasisSimulator({
    profiles: {
      '185.220.101.66': 'tor',
      '34.64.0.0/10': 'datacenter',
    },
  })
  risk = createRiskResolver({ provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url, timeoutMs: 200 }) })
})
afterEach(() => sim.reset())
afterAll(async () => {
  await risk.close()
  await sim.close()
})

it('blocks Tor exit nodes', async () => {
  const answer = await risk.lookup('185.220.101.66')
  expect(answer.isTor).toBe(true)
  expect(risk.check(answer, { blockTor: true }).action).toBe('block')
  expect(sim.callsFor('185.220.101.66')).toBe(1)
})

it('fails open when IPASIS is down', async () => {
  sim.setFault(503)
  const answer = await risk.lookup('81.2.69.160')
  expect(answer.status).toBe('unavailable')
})
