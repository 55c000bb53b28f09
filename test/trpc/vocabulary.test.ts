/**
 * The vocabulary the tRPC middleware shares with the Envelop plugin: `wait: true | false | 'on-demand'`,
 * `failMode: 'open' | 'closed'` (on createTrpcRisk and on each policy, `onUnavailable` being its deprecated alias),
 * and `getClientIp` never failing a call. Server-side callers (`createCallerFactory`), no HTTP.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import type { Policy } from '../../src/core/index.js'
import { createTrpcRisk, type TrpcRiskOptions, type WaitMode } from '../../src/trpc/index.js'
import { createFixture, ips, type Fixture } from './helpers.js'

interface Ctx {
  req?: IncomingMessage
}

let f: Fixture
beforeAll(async () => {
  f = await createFixture()
})
afterAll(async () => {
  await f.close()
})

let fresh = 200
/** An address no other case has looked up, with the given simulator profile. */
function freshIp(profile: 'clean' | 'tor' = 'clean'): string {
  const ip = `203.0.113.${String(fresh++)}`
  if (profile === 'tor') f.sim.setProfile(ip, 'tor')
  return ip
}

function fakeReq(ip: string): IncomingMessage {
  return { headers: {}, socket: { remoteAddress: ip } } as unknown as IncomingMessage
}

function callerFor(options: TrpcRiskOptions<Ctx>, gate: number | Policy, wait: WaitMode = true) {
  const t = initTRPC.context<Ctx>().create()
  const risk = createTrpcRisk(f.resolver, options)
  const view = ({ ctx }: { ctx: { ipRisk: { status: string; decision: { reason: string; failOpen: boolean } | null } } }) => ({
    status: ctx.ipRisk.status,
    reason: ctx.ipRisk.decision?.reason ?? null,
    failOpen: ctx.ipRisk.decision?.failOpen ?? null,
  })
  const router = t.router({
    gated: t.procedure.use(risk.riskGate(gate)).query(view),
    open: t.procedure.use(risk.withIpRisk({ wait })).query(view),
  })
  return (ctx: Ctx) => t.createCallerFactory(router)(ctx)
}

describe('failMode: one vocabulary on createTrpcRisk and on policies', () => {
  test('no verdict (no client IP): the resolver fails open by default', async () => {
    await expect(callerFor({}, 70)({}).gated()).resolves.toEqual({ status: 'unavailable', reason: 'lookup_unavailable', failOpen: true })
  })

  test("createTrpcRisk({ failMode: 'closed' }) blocks the policies that set none", async () => {
    await expect(callerFor({ failMode: 'closed' }, 70)({}).gated()).rejects.toMatchObject({
      code: 'FORBIDDEN',
      cause: { reason: 'lookup_unavailable' },
    })
  })

  test("a policy's own failMode wins over the adapter's", async () => {
    const call = callerFor({ failMode: 'closed' }, { threshold: 70, failMode: 'open' })({})
    await expect(call.gated()).resolves.toMatchObject({ reason: 'lookup_unavailable', failOpen: true })
  })

  test("the deprecated onUnavailable still works: 'block' is 'closed'", async () => {
    await expect(callerFor({}, { threshold: 70, onUnavailable: 'block' })({}).gated()).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  test.each([
    ['createTrpcRisk({ failMode: "allow" })', () => createTrpcRisk(f.resolver, { failMode: 'allow' as never }), 'failMode'],
    [
      'a gate with failMode and onUnavailable',
      () => createTrpcRisk(f.resolver).riskGate({ threshold: 70, failMode: 'closed', onUnavailable: 'block' }),
      'riskGate.onUnavailable',
    ],
    ['a gate with failMode "block"', () => createTrpcRisk(f.resolver).riskGate({ failMode: 'block' as never }), 'riskGate.failMode'],
    ['withIpRisk({ wait: "always-wait" })', () => createTrpcRisk(f.resolver).withIpRisk({ wait: 'always-wait' as never }), 'withIpRisk.wait'],
  ])('%s throws IpRiskConfigError naming the option', (_name, create, option) => {
    expect(create).toThrow(expect.objectContaining({ name: 'IpRiskConfigError', option }))
  })
})

describe('wait: the same three modes as useIpRisk', () => {
  test("wait: 'on-demand' never looks up for an annotated call; a gated call still does", async () => {
    const lookups = vi.spyOn(f.resolver, 'lookup')
    try {
      const ip = freshIp('tor')
      const caller = callerFor({}, 70, 'on-demand')
      await expect(caller({ req: fakeReq(ip) }).open()).resolves.toEqual({ status: 'skipped', reason: null, failOpen: null })
      expect(lookups.mock.calls.filter(([asked]) => asked === ip)).toEqual([])
      await expect(caller({ req: fakeReq(ip) }).gated()).rejects.toMatchObject({ code: 'FORBIDDEN' })
      // Once cached, the annotated call sees the answer.
      await expect(caller({ req: fakeReq(ip) }).open()).resolves.toMatchObject({ status: 'scored' })
      expect(lookups.mock.calls.filter(([asked]) => asked === ip)).toHaveLength(1)
    } finally {
      lookups.mockRestore()
    }
  })

  test('wait: false answers pending at once and looks up in the background', async () => {
    const ip = freshIp()
    await expect(callerFor({}, 70, false)({ req: fakeReq(ip) }).open()).resolves.toMatchObject({ status: 'pending' })
  })
})

describe('getClientIp never fails a call', () => {
  test('a throwing getClientIp means no client IP: the fail mode decides', async () => {
    const options: TrpcRiskOptions<Ctx> = {
      failMode: 'closed',
      getClientIp: () => {
        throw new Error('header missing')
      },
    }
    await expect(callerFor(options, 70)({ req: fakeReq(ips.clean) }).gated()).rejects.toMatchObject({
      code: 'FORBIDDEN',
      cause: { reason: 'lookup_unavailable' },
    })
  })
})
