/**
 * The benchmark's own tRPC servers, on the same standalone adapter as `examples/trpc/server.ts`:
 * - the **baseline**: the example router's shape (same paths, procedure types and input validators, same answers)
 *   with no iprisk at all;
 * - the **protected** variant: the same shape where the public procedures use `withIpRisk({ wait: false })` (the
 *   guide's async scoring) and the others `riskGate(70)` / `requireHuman()`;
 * - the **inside** variants (warm-path A/B only): every procedure has an app middleware of its own, with iprisk's
 *   `guard` inside it or not.
 */
import { initTRPC } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import type { RiskResolver } from '../../src/core/index.js'
import { policies } from '../../src/core/policy.js'
import { createTrpcRisk, type IpRiskGuard, type IpRiskMeta } from '../../src/trpc/index.js'
import { listen, type BenchServer } from './http.js'

interface Ctx {
  req: IncomingMessage
}

const t = initTRPC.context<Ctx>().meta<IpRiskMeta>().create()

/**
 * How iprisk joins a procedure:
 * - `'use'`: as a middleware of its own (`.use(riskGate(70))`), the documented way; the baseline has no middleware;
 * - `'inside'`: inside a middleware the procedure already has (an authentication stand-in that adds `ctx.user`),
 *   through `guard(70)`; the baseline has the same middleware without iprisk. tRPC charges every middleware level a
 *   few µs per call, which `'inside'` does not add.
 */
export type TrpcMounting = 'use' | 'inside'

/**
 * The `'inside'` app middleware: a stand-in for authentication (what the app's procedure already does), with iprisk's
 * `guard` called inside it when given.
 */
function appMiddleware(guard: IpRiskGuard | null) {
  return async <R>(opts: Parameters<IpRiskGuard>[0] & { ctx: Ctx; next: (o: { ctx: { user: string | null; ipRisk: unknown } }) => Promise<R> }): Promise<R> => {
    const user = opts.ctx.req.headers.authorization === undefined ? null : 'user-1'
    const ipRisk = guard === null ? null : await guard(opts)
    return opts.next({ ctx: { user, ipRisk } })
  }
}

/**
 * The example router's shape. `resolver === null`: no iprisk (with `'inside'`, the app middleware alone); otherwise
 * public procedures never wait and the others are gated.
 */
export function createMirrorRouter(resolver: RiskResolver | null, mounting: TrpcMounting = 'use') {
  if (mounting === 'inside') {
    const risk = resolver === null ? null : createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
    const app = (guard: IpRiskGuard | null) => t.procedure.use(appMiddleware(guard))
    return routerOf(app(null), app(risk?.guard(70) ?? null), app(risk?.guard(policies.human) ?? null))
  }
  const risk = resolver === null ? null : createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
  const wrap = (mw: () => ReturnType<NonNullable<typeof risk>['riskGate']>) => (risk !== null ? t.procedure.use(mw()) : t.procedure)
  return routerOf(
    wrap(() => risk!.withIpRisk({ wait: false })),
    wrap(() => risk!.riskGate(70)),
    wrap(() => risk!.requireHuman()),
  )
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the procedures' context types differ by mounting
type AnyProcedureBuilder = any

function routerOf(
  publicProcedure: AnyProcedureBuilder,
  protectedProcedure: AnyProcedureBuilder,
  humanProcedure: AnyProcedureBuilder,
) {
  return t.router({
    hello: publicProcedure.query(() => ({ greeting: 'hello' })),
    whoami: publicProcedure.query(() => ({ ip: null, status: 'skipped', score: null })),
    contact: publicProcedure
      .input(z.object({ email: z.string().email(), message: z.string().min(1).max(2000) }))
      .mutation(() => ({ accepted: true, message: 'Thanks, we will get back to you.' })),
    orders: protectedProcedure.query(() => ({ orders: [] as string[], score: 5 })),
    checkout: protectedProcedure
      .input(z.object({ items: z.array(z.string()).max(50) }))
      .mutation(({ input }: { input: { items: string[] } }) => ({ ok: true, items: input.items.length })),
    signup: humanProcedure.input(z.object({ email: z.string().email() })).mutation(({ input }: { input: { email: string } }) => ({ created: input.email })),
    admin: t.router({
      stats: publicProcedure.query(() => ({ users: 42, decision: null })),
      health: publicProcedure.query(() => ({ ok: true })),
    }),
  })
}

/** Starts a mirror server on 127.0.0.1 (a free port). */
export async function startTrpcMirror(resolver: RiskResolver | null, mounting: TrpcMounting = 'use'): Promise<BenchServer> {
  const router = createMirrorRouter(resolver, mounting)
  return listen(createHTTPServer({ router, createContext: ({ req }) => ({ req }) }))
}

/**
 * For the step timing of the warm path: the `orders` procedure between two timing middlewares, `record` getting, per
 * call, the milliseconds from the first timing middleware calling `next()` to the second one running.
 * - `'use'`: `riskGate(70)` between them when `resolver` is given (the window then holds the gate and the middleware
 *   level tRPC adds for it), nothing otherwise;
 * - `'inside'`: the app middleware between them, with `guard(70)` inside it when `resolver` is given.
 */
export async function startTimedTrpc(
  resolver: RiskResolver | null,
  record: (ms: number) => void,
  mounting: TrpcMounting = 'use',
): Promise<BenchServer> {
  const t = initTRPC.context<Ctx & { benchT0?: number }>().create()
  const start = t.middleware(({ next }) => next({ ctx: { benchT0: performance.now() } }))
  const end = t.middleware(({ ctx, next }) => {
    record(performance.now() - (ctx.benchT0 ?? Number.NaN))
    return next()
  })
  const risk = resolver === null ? null : createTrpcRisk(resolver)
  let gated
  if (mounting === 'inside') {
    const guard = risk?.guard(70) ?? null
    gated = t.procedure.use(start).use(appMiddleware(guard))
  } else {
    gated = risk === null ? t.procedure.use(start) : t.procedure.use(start).use(risk.riskGate(70))
  }
  const router = t.router({ orders: gated.use(end).query(() => ({ orders: [] as string[], score: 5 })) })
  return listen(createHTTPServer({ router, createContext: ({ req }) => ({ req }) }))
}

/** The procedures of {@link startTrpcVariants}, in the order the results list them (the first is the baseline). */
export const TRPC_VARIANTS = ['plain', 'plainAgain', 'level', 'gate', 'app', 'appGuard'] as const
export type TrpcVariant = (typeof TRPC_VARIANTS)[number]

/**
 * For the same-server measurement of the warm path: one standalone server answering the `orders` request through
 * six procedures that differ only in what runs before the resolver, so that paired requests to it differ by exactly
 * that (same process, socket and caches):
 * - `plain`, `plainAgain`: no middleware (the second one is the A/A control: the method's noise);
 * - `level`: a middleware that only extends the context (`next({ ctx: { ipRisk: null } })`): what tRPC charges for
 *   any middleware level, iprisk's or not;
 * - `gate`: `.use(riskGate(70))`, the documented set-up (the level plus iprisk's check);
 * - `app`: the app-middleware stand-in alone; `appGuard`: the same with `guard(70)` inside it (iprisk's check alone).
 * The iprisk set-up matches the mirror router (`pathPolicies: { 'admin.': policies.admin }`).
 */
export async function startTrpcVariants(resolver: RiskResolver): Promise<BenchServer> {
  const risk = createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
  const answer = () => ({ orders: [] as string[], score: 5 })
  const procedures: Record<TrpcVariant, AnyProcedureBuilder> = {
    plain: t.procedure,
    plainAgain: t.procedure,
    level: t.procedure.use(({ next }) => next({ ctx: { ipRisk: null } })),
    gate: t.procedure.use(risk.riskGate(70)),
    app: t.procedure.use(appMiddleware(null)),
    appGuard: t.procedure.use(appMiddleware(risk.guard(70))),
  }
  const router = t.router(
    Object.fromEntries(TRPC_VARIANTS.map((name) => [name, procedures[name].query(answer)])) as Record<TrpcVariant, ReturnType<typeof t.procedure.query>>,
  )
  return listen(createHTTPServer({ router, createContext: ({ req }) => ({ req }) }))
}
