/**
 * Compile-time contract of `iprisk/trpc`, checked by `tsc --noEmit` (part of `npm test`): if `ctx.ipRisk` loses its
 * type, if earlier context is dropped, or if the meta type stops rejecting typos, this file fails to compile.
 * The runtime half checks the same router actually behaves as typed.
 */
import { initTRPC, TRPCError, type inferProcedureOutput } from '@trpc/server'
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest'
import { createRiskResolver, policies, type Decision, type IpRisk, type Policy, type RequestLike } from '../../src/core/index.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { createTrpcRisk, type IpRiskResult, type IpRiskMeta, type IpRiskMiddleware } from '../../src/trpc/index.js'

const resolver = createRiskResolver({
  provider: createMemoryProvider({ '203.0.113.40': 'tor' }),
  scoreDocumentationRanges: true,
})
afterAll(() => resolver.close())

const { withIpRisk, riskGate, requireHuman, requireNotBot, adminGate } = createTrpcRisk(resolver)

interface Context {
  req: { headers: Record<string, string>; socket: { remoteAddress: string } }
  requestId: string
}
interface Meta extends IpRiskMeta {
  auth?: boolean
}

const t = initTRPC.context<Context>().meta<Meta>().create()
const withUser = t.middleware(({ next }) => next({ ctx: { user: { id: 'u1' } } }))

// guard(): inside an app middleware, the value for ctx.ipRisk is typed, and the middleware's options are accepted.
const guard = createTrpcRisk(resolver).guard(70)
expectTypeOf(guard).returns.toEqualTypeOf<Promise<IpRiskResult>>()
const withGuard = t.middleware(async (opts) => opts.next({ ctx: { ipRisk: await guard(opts) } }))

const publicProcedure = t.procedure.use(withIpRisk())
const protectedProcedure = t.procedure.use(withUser).use(riskGate(70))

const router = t.router({
  score: publicProcedure.query(({ ctx }) => ctx.ipRisk.score),
  guarded: t.procedure.use(withGuard).query(({ ctx }) => {
    expectTypeOf(ctx.ipRisk).toEqualTypeOf<IpRiskResult>()
    return ctx.ipRisk.score
  }),
  full: protectedProcedure.query(({ ctx }) => {
    expectTypeOf(ctx.ipRisk).toEqualTypeOf<IpRiskResult>()
    expectTypeOf(ctx.ipRisk.score).toEqualTypeOf<number | null>()
    expectTypeOf(ctx.ipRisk.isTor).toEqualTypeOf<boolean | null>()
    expectTypeOf(ctx.ipRisk.countryCode).toEqualTypeOf<string | null>()
    expectTypeOf(ctx.ipRisk.asn).toEqualTypeOf<number | null>()
    expectTypeOf(ctx.ipRisk.status).toEqualTypeOf<IpRisk['status']>()
    expectTypeOf(ctx.ipRisk.decision).toEqualTypeOf<Decision | null>()
    expectTypeOf(ctx.ipRisk.risk).toEqualTypeOf<IpRisk>()
    // Earlier context survives: the app's createContext fields and an earlier middleware's additions.
    expectTypeOf(ctx.user).toEqualTypeOf<{ id: string }>()
    expectTypeOf(ctx.requestId).toEqualTypeOf<string>()
    // ctx.ipRisk is read-only, for the compiler and at runtime (its fields are getters over the shared answer).
    expect(() => {
      // @ts-expect-error read-only
      ctx.ipRisk.score = 0
    }).toThrow(TypeError)
    return { user: ctx.user.id, reason: ctx.ipRisk.decision?.reason ?? null }
  }),
  human: t.procedure.use(requireHuman({ blockVpn: true })).mutation(({ ctx }) => ctx.ipRisk.isVpn),
  notBot: t.procedure.use(requireNotBot()).query(({ ctx }) => ctx.ipRisk.isDatacenter),
  admin: t.procedure.use(adminGate()).query(({ ctx }) => ctx.ipRisk.decision?.action ?? 'none'),
  preset: t.procedure.use(riskGate(policies.admin)).query(() => 'ok'),
  withMeta: publicProcedure.meta({ ipRisk: policies.human, auth: true }).query(() => 'ok'),
  skipped: publicProcedure.meta({ ipRisk: { skip: true } }).query(() => 'ok'),
})

/** Lines that must NOT compile (never called: only `tsc` looks at them). */
export function mustNotCompile(): void {
  // @ts-expect-error ctx.ipRisk does not exist before an iprisk middleware ran
  t.procedure.query(({ ctx }) => ctx.ipRisk)

  // @ts-expect-error a typo in a meta policy is a compile error
  publicProcedure.meta({ ipRisk: { treshold: 70 } })

  // @ts-expect-error riskGate takes a number or a Policy, not a string
  riskGate('70')

  // @ts-expect-error the overrides of a preset gate are a Policy
  requireHuman({ blockVpn: 'yes' })

  // @ts-expect-error getClientIp returns an address (string), not a number
  createTrpcRisk(resolver, { getClientIp: () => 42 })
}

describe('iprisk/trpc types', () => {
  test('procedure outputs are inferred from ctx.ipRisk', () => {
    type Router = typeof router
    expectTypeOf<inferProcedureOutput<Router['score']>>().toEqualTypeOf<number | null>()
    expectTypeOf<inferProcedureOutput<Router['human']>>().toEqualTypeOf<boolean | null>()
    expectTypeOf<inferProcedureOutput<Router['admin']>>().toEqualTypeOf<'allow' | 'block' | 'none'>()
    expectTypeOf<inferProcedureOutput<Router['full']>>().toEqualTypeOf<{
      user: string
      reason: Decision['reason'] | null
    }>()
  })

  test('the same middleware value works on any initTRPC instance (other context and meta types)', async () => {
    expectTypeOf(withIpRisk()).toEqualTypeOf<IpRiskMiddleware>()
    const other = initTRPC.context<{ req: Request; tenant: number }>().create()
    const gate = riskGate(70)
    const r = other.router({
      tenant: other.procedure.use(gate).query(({ ctx }) => ({ tenant: ctx.tenant, score: ctx.ipRisk.score })),
    })
    expectTypeOf<inferProcedureOutput<(typeof r)['tenant']>>().toEqualTypeOf<{ tenant: number; score: number | null }>()

    const caller = other.createCallerFactory(r)({
      req: new Request('http://localhost/'),
      tenant: 7,
    })
    // No peer address for a fetch Request: no client IP, so the fail mode (open by default) applies.
    await expect(caller.tenant()).resolves.toEqual({ tenant: 7, score: null })
  })

  test('at runtime the typed router sets ctx.ipRisk and keeps earlier context', async () => {
    const caller = t.createCallerFactory(router)({
      req: { headers: {}, socket: { remoteAddress: '203.0.113.10' } },
      requestId: 'r1',
    })
    await expect(caller.full()).resolves.toEqual({ user: 'u1', reason: 'clean' })
    await expect(caller.score()).resolves.toBe(5)
    const tor = t.createCallerFactory(router)({
      req: { headers: {}, socket: { remoteAddress: '203.0.113.40' } },
      requestId: 'r2',
    })
    await expect(tor.human()).rejects.toBeInstanceOf(TRPCError)
    await expect(tor.skipped()).resolves.toBe('ok')
    await expect(tor.withMeta()).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  test('the get… options are typed by the context they are written for', () => {
    const typed = createTrpcRisk(resolver, {
      getClientIp: ({ req }: { req: Request }) => req.headers.get('x-real-ip'),
      getPeerAddress: (ctx: { req: Request }, req) => {
        expectTypeOf(req).toEqualTypeOf<RequestLike>()
        return ctx.req.headers.get('x-peer')
      },
    })
    expectTypeOf(typed.withIpRisk).returns.toEqualTypeOf<IpRiskMiddleware>()
  })

  test('Policy is the gate input type', () => {
    expectTypeOf(riskGate).parameter(0).toEqualTypeOf<number | Policy>()
    expectTypeOf(requireHuman).parameter(0).toEqualTypeOf<Policy | undefined>()
  })
})
