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

/** The example router's shape. `resolver === null`: no iprisk; otherwise public procedures never wait. */
export function createMirrorRouter(resolver: RiskResolver | null) {
  const t = initTRPC.context<Ctx>().meta<IpRiskMeta>().create()
  const risk = resolver === null ? null : createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
  const publicProcedure = risk === null ? t.procedure : t.procedure.use(risk.withIpRisk({ wait: false }))
  const protectedProcedure = risk === null ? t.procedure : t.procedure.use(risk.riskGate(70))
  const humanProcedure = risk === null ? t.procedure : t.procedure.use(risk.requireHuman())
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
