/**
 * The benchmark's own tRPC servers, on the same standalone adapter as `examples/trpc/server.ts`:
 * - the **baseline**: the example router's shape (same paths, procedure types and input validators, same answers)
 *   with no iprisk at all;
 * - the **background** variant: the same shape where the public procedures use `withIpRisk({ wait: false })`
 *   (the guide's async scoring), which the example router does not offer.
 * The gated scenarios run the example server itself (`startTrpcExample`).
 */
import { initTRPC } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import type { RiskResolver } from '../../src/core/index.js'
import { policies } from '../../src/core/policy.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'
import { listen, type BenchServer } from './http.js'

interface Ctx {
  req: IncomingMessage
}

/**
 * The example router's shape. `resolver === null`: no iprisk; `'noop'`: no iprisk, but the procedures that would have
 * an iprisk middleware have one that does nothing (what tRPC charges for any middleware); otherwise public procedures
 * never wait and the others are gated.
 */
export function createMirrorRouter(resolver: RiskResolver | null | 'noop') {
  const t = initTRPC.context<Ctx>().meta<IpRiskMeta>().create()
  const noop = t.middleware(({ next }) => next())
  const risk =
    resolver === null || resolver === 'noop' ? null : createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
  const wrap = (mw: () => ReturnType<NonNullable<typeof risk>['riskGate']>) =>
    risk !== null ? t.procedure.use(mw()) : resolver === 'noop' ? t.procedure.use(noop) : t.procedure
  const publicProcedure = wrap(() => risk!.withIpRisk({ wait: false }))
  const protectedProcedure = wrap(() => risk!.riskGate(70))
  const humanProcedure = wrap(() => risk!.requireHuman())
  return t.router({
    hello: publicProcedure.query(() => ({ greeting: 'hello' })),
    whoami: publicProcedure.query(() => ({ ip: null, status: 'skipped', score: null })),
    contact: publicProcedure
      .input(z.object({ email: z.string().email(), message: z.string().min(1).max(2000) }))
      .mutation(() => ({ accepted: true, message: 'Thanks, we will get back to you.' })),
    orders: protectedProcedure.query(() => ({ orders: [] as string[], score: 5 })),
    checkout: protectedProcedure
      .input(z.object({ items: z.array(z.string()).max(50) }))
      .mutation(({ input }) => ({ ok: true, items: input.items.length })),
    signup: humanProcedure.input(z.object({ email: z.string().email() })).mutation(({ input }) => ({ created: input.email })),
    admin: t.router({
      stats: publicProcedure.query(() => ({ users: 42, decision: null })),
      health: publicProcedure.query(() => ({ ok: true })),
    }),
  })
}

/** Starts a mirror server on 127.0.0.1 (a free port). */
export async function startTrpcMirror(resolver: RiskResolver | null): Promise<BenchServer> {
  const router = createMirrorRouter(resolver)
  return listen(createHTTPServer({ router, createContext: ({ req }) => ({ req }) }))
}

/**
 * For the step timing of the warm path: the `orders` procedure between two timing middlewares, with `riskGate(70)`
 * between them when `resolver` is given. `record` gets, per call, the milliseconds from the first timing middleware
 * calling `next()` to the second one running: what the gate (and the middleware level tRPC adds for it) costs.
 */
export async function startTimedTrpc(resolver: RiskResolver | null, record: (ms: number) => void): Promise<BenchServer> {
  const t = initTRPC.context<Ctx & { benchT0?: number }>().create()
  const start = t.middleware(({ next }) => next({ ctx: { benchT0: performance.now() } }))
  const end = t.middleware(({ ctx, next }) => {
    record(performance.now() - (ctx.benchT0 ?? Number.NaN))
    return next()
  })
  const gated = resolver === null ? t.procedure.use(start) : t.procedure.use(start).use(createTrpcRisk(resolver).riskGate(70))
  const router = t.router({ orders: gated.use(end).query(() => ({ orders: [] as string[], score: 5 })) })
  return listen(createHTTPServer({ router, createContext: ({ req }) => ({ req }) }))
}
