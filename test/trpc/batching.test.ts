/**
 * One lookup per HTTP request however many calls it batches, the warm path (no lookup once cached), the async
 * `wait: false` mode, and the JSON form of `ctx.ipRisk`.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { policies } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'
import { clientFor, createFixture, outcome, serveStandalone, type Fixture, type Served } from './helpers.js'

let f: Fixture
let served: Served
let contexts = 0
let lookups: ReturnType<typeof vi.spyOn>

function buildRouter(fixture: Fixture) {
  const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
  const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(fixture.resolver, {
    pathPolicies: { 'admin.': policies.admin },
  })
  const sync = t.procedure.use(withIpRisk())
  const async = t.procedure.use(withIpRisk({ wait: false }))
  const status = ({ ctx }: { ctx: { ipRisk: { status: string; score: number | null } } }) => ({
    status: ctx.ipRisk.status,
    score: ctx.ipRisk.score,
  })
  return t.router({
    a: sync.query(status),
    b: sync.use(riskGate(70)).query(status),
    c: t.procedure.use(requireHuman()).query(status),
    d: sync.use(requireHuman()).mutation(status),
    lazy: async.query(status),
    lazyGated: async.use(requireHuman()).query(status),
    admin: t.router({ lazy: async.query(status) }),
    json: sync.use(riskGate(70)).query(({ ctx }) => ctx.ipRisk),
    shape: sync.query(({ ctx }) => ({
      keys: Object.keys(ctx.ipRisk),
      spread: Object.keys({ ...ctx.ipRisk }),
      plain: Object.keys(ctx.ipRisk.risk).length,
      decision: (JSON.parse(JSON.stringify(ctx.ipRisk)) as { decision: unknown }).decision,
      sameAnswer: ctx.ipRisk.risk === f.resolver.peek(ctx.ipRisk.ip),
    })),
  })
}
type Router = ReturnType<typeof buildRouter>

beforeAll(async () => {
  f = await createFixture()
  served = await serveStandalone(buildRouter(f), ({ req }) => {
    contexts++
    return { req }
  })
})
afterAll(async () => {
  await served.close()
  await f.close()
})
beforeEach(() => {
  contexts = 0
  lookups = vi.spyOn(f.resolver, 'lookup')
  return () => lookups.mockRestore()
})

describe('one lookup per request', () => {
  test('a batch of 5 calls from a new IP is one HTTP request, one resolver lookup and one provider call', async () => {
    const ip = '203.0.113.101'
    const client = clientFor<Router>(served.url, ip)
    const results = await Promise.all([
      client.a.query(),
      client.b.query(),
      client.c.query(),
      client.a.query(),
      client.b.query(),
    ])
    expect(results).toEqual(Array(5).fill({ status: 'scored', score: 5 }))
    expect(contexts).toBe(1)
    expect(lookups).toHaveBeenCalledTimes(1)
    expect(f.sim.callsFor(ip)).toBe(1)
  })

  test('queries and mutations are separate HTTP requests (GET and POST): one lookup each at most', async () => {
    const ip = '203.0.113.108'
    const client = clientFor<Router>(served.url, ip)
    await Promise.all([client.a.query(), client.d.mutate(), client.b.query(), client.d.mutate()])
    expect(contexts).toBe(2)
    expect(lookups.mock.calls.length).toBeLessThanOrEqual(2)
    expect(f.sim.callsFor(ip)).toBe(1)
  })

  test('a batch that is blocked is still one lookup (and every gated call of it is blocked)', async () => {
    const ip = '203.0.113.102'
    f.sim.setProfile(ip, 'tor')
    const client = clientFor<Router>(served.url, ip)
    const results = await Promise.all([
      outcome(() => client.a.query()),
      outcome(() => client.b.query()),
      outcome(() => client.c.query()),
      outcome(() => client.a.query()),
    ])
    expect(results).toEqual(['ok', 'FORBIDDEN 403', 'FORBIDDEN 403', 'ok'])
    expect(lookups).toHaveBeenCalledTimes(1)
    expect(f.sim.callsFor(ip)).toBe(1)
  })

  test('warm path: once cached, later requests make no lookup at all (peek answers synchronously)', async () => {
    const ip = '203.0.113.103'
    const client = clientFor<Router>(served.url, ip)
    await client.b.query()
    lookups.mockClear()
    const peeks = vi.spyOn(f.resolver, 'peek')
    try {
      await Promise.all([client.a.query(), client.b.query(), client.c.query()])
      await clientFor<Router>(served.url, ip, { batch: false }).b.query()
      expect(lookups).not.toHaveBeenCalled()
      expect(peeks).toHaveBeenCalled()
      expect(f.sim.callsFor(ip)).toBe(1)
    } finally {
      peeks.mockRestore()
    }
  })
})

describe('withIpRisk({ wait: false }): never delays a call on a cache miss', () => {
  test('the first call is answered at once with status pending; the lookup completes in the background', async () => {
    const ip = '203.0.113.104'
    const client = clientFor<Router>(served.url, ip, { batch: false })
    await expect(client.lazy.query()).resolves.toEqual({ status: 'pending', score: null })
    await vi.waitFor(() => expect(f.resolver.peek(ip)).toMatchObject({ status: 'scored' }))
    await expect(client.lazy.query()).resolves.toEqual({ status: 'scored', score: 5 })
    expect(f.sim.callsFor(ip)).toBe(1)
  })

  test('a gate after it still waits for a verdict: a Tor caller is blocked on its very first call', async () => {
    const ip = '203.0.113.105'
    f.sim.setProfile(ip, 'tor')
    expect(await outcome(() => clientFor<Router>(served.url, ip).lazyGated.query())).toBe('FORBIDDEN 403')
    expect(f.sim.callsFor(ip)).toBe(1)
  })

  test('a path policy makes it wait too: admin.* is protected from the first call', async () => {
    const ip = '203.0.113.106'
    f.sim.setProfile(ip, 'vpn')
    expect(await outcome(() => clientFor<Router>(served.url, ip).admin.lazy.query())).toBe('FORBIDDEN 403')
  })
})

describe('ctx.ipRisk', () => {
  test('serializes to every risk field plus a summary of the decision (no duplicated risk, policy by name)', async () => {
    const ip = '203.0.113.107'
    f.sim.setProfile(ip, 'datacenter')
    const body = await clientFor<Router>(served.url, ip).json.query()
    expect(body).toEqual({
      ip,
      ipKind: 'documentation',
      status: 'scored',
      error: null,
      listed: null,
      source: expect.stringMatching(/^(upstream|l1)$/),
      lookupMs: expect.any(Number),
      score: 55,
      isVpn: false,
      isProxy: false,
      isTor: false,
      isDatacenter: true,
      countryCode: 'US',
      asn: 16509,
      isp: 'Amazon.com, Inc.',
      decision: { action: 'allow', reason: 'clean', wouldBlock: false, monitored: false, failOpen: false, policy: 'lowRisk(70)' },
    })
  })

  test('is a view over the shared cached answer: two own fields, no copy, decision null under withIpRisk alone', async () => {
    const ip = '203.0.113.109'
    const client = clientFor<Router>(served.url, ip, { batch: false })
    await client.a.query()
    await expect(client.shape.query()).resolves.toEqual({
      keys: ['risk', 'decision'],
      spread: ['risk', 'decision'],
      plain: 15,
      decision: null,
      sameAnswer: true,
    })
  })
})
