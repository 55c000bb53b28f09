/**
 * Subscriptions are gated when they start: over real SSE (httpSubscriptionLink + EventSource, standalone adapter) and
 * through a server-side caller.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { TRPCClientError } from '@trpc/client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { policies } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'
import { collect, createFixture, ips, serveStandalone, sseClientFor, type Fixture, type Served } from './helpers.js'

let f: Fixture
let served: Served

function buildRouter(fixture: Fixture) {
  const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
  const { withIpRisk, requireHuman } = createTrpcRisk(fixture.resolver, { pathPolicies: { 'admin.': policies.admin } })
  return t.router({
    ticks: t.procedure.use(requireHuman()).subscription(async function* ({ ctx }) {
      // ctx.ipRisk is available to the subscription body.
      yield `score ${String(ctx.ipRisk.score)}`
      for (let i = 1; i <= 3; i++) yield i
    }),
    admin: t.router({
      feed: t.procedure.use(withIpRisk()).subscription(async function* () {
        yield 'admin event'
      }),
    }),
  })
}
type Router = ReturnType<typeof buildRouter>

beforeAll(async () => {
  f = await createFixture()
  served = await serveStandalone(buildRouter(f))
})
afterAll(async () => {
  await served.close()
  await f.close()
})

describe('over SSE', () => {
  test('an allowed caller receives the stream, with ctx.ipRisk set', async () => {
    const client = sseClientFor<Router>(served.url, ips.vpn)
    const { data, error } = await collect((h) => client.ticks.subscribe(undefined, h))
    expect(error).toBeNull()
    expect(data).toEqual(['score 45', 1, 2, 3])
  })

  test('a blocked caller gets FORBIDDEN when the subscription starts, and no data', async () => {
    const client = sseClientFor<Router>(served.url, ips.tor)
    const { data, error } = await collect((h) => client.ticks.subscribe(undefined, h))
    expect(data).toEqual([])
    expect(error).toBeInstanceOf(TRPCClientError)
    expect((error as TRPCClientError<Router>).data).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403 })
    expect((error as TRPCClientError<Router>).message).toBe('Request blocked')
  })

  test('path policies gate subscriptions under the prefix', async () => {
    const { data, error } = await collect((h) => sseClientFor<Router>(served.url, ips.vpn).admin.feed.subscribe(undefined, h))
    expect(data).toEqual([])
    expect((error as TRPCClientError<Router>).data).toMatchObject({ code: 'FORBIDDEN' })
    const clean = await collect((h) => sseClientFor<Router>(served.url, ips.clean).admin.feed.subscribe(undefined, h))
    expect(clean).toEqual({ data: ['admin event'], error: null })
  })
})

describe('server-side caller', () => {
  const req = (ip: string) => ({ headers: {}, socket: { remoteAddress: ip } }) as unknown as IncomingMessage

  test('the gate runs before the subscription body: a Tor caller is refused before any value', async () => {
    const caller = buildRouter(f).createCaller({ req: req(ips.tor) })
    await expect(caller.ticks()).rejects.toMatchObject({ code: 'FORBIDDEN', cause: { reason: 'tor_exit_node' } })
  })

  test('an allowed caller gets the async iterable', async () => {
    const caller = buildRouter(f).createCaller({ req: req(ips.clean) })
    const values: unknown[] = []
    for await (const value of await caller.ticks()) values.push(value)
    expect(values).toEqual(['score 5', 1, 2, 3])
  })
})
