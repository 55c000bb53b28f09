/**
 * When no verdict can be had (IPASIS down, slow, refusing the key): fail open or closed, per resolver and per policy,
 * through real HTTP with simulator faults.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterEach, describe, expect, test } from 'vitest'
import type { RiskResolverOptions } from '../../src/core/index.js'
import type { SimulatorFault } from '../../src/testing/index.js'
import { createTrpcRisk } from '../../src/trpc/index.js'
import { clientFor, createFixture, outcome, serveStandalone, type Fixture, type Served } from './helpers.js'

function buildRouter(f: Fixture) {
  const t = initTRPC.context<{ req: IncomingMessage }>().create()
  const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(f.resolver)
  const view = ({ ctx }: { ctx: { ipRisk: { status: string; error: string | null; decision: { reason: string; failOpen: boolean } | null } } }) => ({
    status: ctx.ipRisk.status,
    error: ctx.ipRisk.error,
    reason: ctx.ipRisk.decision?.reason ?? null,
    failOpen: ctx.ipRisk.decision?.failOpen ?? null,
  })
  return t.router({
    open: t.procedure.use(withIpRisk()).query(view),
    gate: t.procedure.use(requireHuman()).query(view),
    strict: t.procedure.use(riskGate({ threshold: 70, onUnavailable: 'block' })).query(view),
    lenient: t.procedure.use(riskGate({ threshold: 70, onUnavailable: 'allow' })).query(view),
  })
}
type Router = ReturnType<typeof buildRouter>

let f: Fixture | undefined
let served: Served | undefined
afterEach(async () => {
  await served?.close()
  await f?.close()
  served = undefined
  f = undefined
})

async function setup(fault: SimulatorFault, overrides: Partial<RiskResolverOptions> = {}) {
  // A silent logger: the resolver rightly reports a rejected API key (401) as a configuration problem.
  f = await createFixture({ budget: { timeoutMs: 300 }, logger: { info() {}, warn() {}, error() {} }, ...overrides })
  f.sim.setFault(fault)
  served = await serveStandalone(buildRouter(f))
  const client = clientFor<Router>(served.url, '203.0.113.77', { batch: false })
  return { client, f }
}

describe('fail open (the default)', () => {
  const faults: [SimulatorFault, string][] = [
    [503, 'http_error'],
    [401, 'auth'],
    ['timeout', 'timeout'],
    ['malformed-json', 'bad_response'],
    ['reset', 'network'],
  ]
  test.each(faults)('upstream %s: a gated call passes, flagged fail-open with reason lookup_unavailable', async (fault, error) => {
    const { client } = await setup(fault)
    await expect(client.gate.query()).resolves.toEqual({
      status: 'unavailable',
      error,
      reason: 'lookup_unavailable',
      failOpen: true,
    })
  })

  test('a policy with onUnavailable: block refuses the call anyway', async () => {
    const { client } = await setup(503)
    expect(await outcome(() => client.strict.query())).toBe('FORBIDDEN 403')
  })
})

describe('fail closed (resolver failMode: closed)', () => {
  test('a gated call is blocked with 403 when IPASIS is down', async () => {
    const { client } = await setup(503, { failMode: 'closed' })
    expect(await outcome(() => client.gate.query())).toBe('FORBIDDEN 403')
  })

  test('withIpRisk alone still annotates and lets the call through', async () => {
    const { client } = await setup(503, { failMode: 'closed' })
    await expect(client.open.query()).resolves.toEqual({ status: 'unavailable', error: 'http_error', reason: null, failOpen: null })
  })

  test('a policy with onUnavailable: allow lets the call through', async () => {
    const { client } = await setup(503, { failMode: 'closed' })
    await expect(client.lenient.query()).resolves.toMatchObject({ reason: 'lookup_unavailable', failOpen: true })
  })

  test('once IPASIS is back (and the failure memo expired), the caller is scored again', async () => {
    const { client, f: fixture } = await setup(503, { failMode: 'closed', cache: { failureTtlSeconds: 0 } })
    expect(await outcome(() => client.gate.query())).toBe('FORBIDDEN 403')
    fixture.sim.clearFaults()
    await expect(client.gate.query()).resolves.toEqual({ status: 'scored', error: null, reason: 'clean', failOpen: false })
  })
})
