/**
 * The example tRPC API protected by iprisk: "score globally, enforce locally".
 *
 * Stable exports (used by the demo, the benchmarks and the reliability suites):
 * - `createExampleRouter(resolver)` → the app router below, bound to a risk resolver.
 * - `AppRouter`: its type, for typed clients (`examples/trpc/client.ts`).
 * - `ExampleContext`: what `createContext` must return (`{ req, peerAddress? }`).
 * - `exampleProcedures`: the procedure paths, grouped by protection level.
 *
 * Procedures, by protection:
 * | Path               | Type         | Protection                                                          |
 * |--------------------|--------------|---------------------------------------------------------------------|
 * | `hello`            | query        | `withIpRisk()`: annotate only (never blocks)                        |
 * | `whoami`           | query        | `withIpRisk()`: returns what iprisk knows about the caller          |
 * | `contact`          | mutation     | `withIpRisk()` + reads `ctx.ipRisk` (the guide's form protection)  |
 * | `orders`           | query        | `riskGate(70)` (the guide's `require_low_risk`)                     |
 * | `checkout`         | mutation     | `riskGate({ threshold: 70, blockVpn, blockDatacenter })` (mixin)    |
 * | `signup`           | mutation     | `requireHuman()` (Tor or score >= 80)                               |
 * | `ticks`            | subscription | `requireHuman()`, gated when it starts                              |
 * | `admin.stats`      | query        | path policy `'admin.'` → `policies.admin`                           |
 * | `admin.block`      | mutation     | path policy `'admin.'` → `policies.admin`                           |
 * | `admin.health`     | query        | `meta: { ipRisk: { skip: true } }`: exempt from the admin policy    |
 *
 * Blocked calls get `FORBIDDEN` (HTTP 403, message "Request blocked"); this example's `errorFormatter` adds the
 * decision's reason as `error.data.ipRiskReason` (never the score).
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { z } from 'zod'
import { IpRiskBlockedError, policies, type RiskResolver } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'

/** What `createContext` returns: the adapter's request, plus the TCP peer for fetch `Request`s. */
export interface ExampleContext {
  req: IncomingMessage | Request
  /** Only for fetch adapters (a `Request` carries no socket): the platform's peer address. */
  peerAddress?: string | undefined
}

/** The procedure paths of the example, by protection level (for the demo's table and the benches). */
export const exampleProcedures = {
  open: ['hello', 'whoami', 'contact'],
  lowRisk: ['orders', 'checkout'],
  human: ['signup', 'ticks'],
  admin: ['admin.stats', 'admin.block'],
  exempt: ['admin.health'],
} as const

/** What `whoami` returns: the caller as iprisk sees it. */
export interface WhoAmI {
  ip: string | null
  status: string
  score: number | null
  isVpn: boolean | null
  isProxy: boolean | null
  isTor: boolean | null
  isDatacenter: boolean | null
  countryCode: string | null
  asn: number | null
  isp: string | null
  source: string
}

/**
 * Builds the example router on a resolver (one router per resolver; cheap, so tests build their own).
 *
 * @example
 * ```ts
 * const { resolver } = await createExampleRisk()
 * const router = createExampleRouter(resolver)
 * createHTTPServer({ router, createContext: ({ req }) => ({ req }) }).listen(3000)
 * ```
 */
export function createExampleRouter(resolver: RiskResolver) {
  const t = initTRPC
    .context<ExampleContext>()
    .meta<IpRiskMeta>()
    .create({
      // Never send stack traces to clients, whatever NODE_ENV says (tRPC includes them when not in production).
      isDev: false,
      errorFormatter({ shape, error }) {
        // Expose why a call was blocked (the reason, not the score): the app's choice, not iprisk's default.
        const reason = error.cause instanceof IpRiskBlockedError ? error.cause.reason : undefined
        return reason === undefined ? shape : { ...shape, data: { ...shape.data, ipRiskReason: reason } }
      },
    })

  const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(resolver, {
    // The guide's admin protection, for every procedure under `admin.`, whatever middleware it uses.
    pathPolicies: { 'admin.': policies.admin },
  })

  /** Every procedure: `ctx.ipRisk` is set; nothing is blocked except by path and meta policies. */
  const publicProcedure = t.procedure.use(withIpRisk())
  /** The guide's `@require_low_risk(threshold=70)`. */
  const protectedProcedure = publicProcedure.use(riskGate(70))
  /** The guide's `@require_human()`. */
  const humanProcedure = publicProcedure.use(requireHuman())

  const router = t.router({
    hello: publicProcedure.query(() => ({ greeting: 'hello' })),

    whoami: publicProcedure.query(({ ctx }): WhoAmI => {
      const r = ctx.ipRisk
      return {
        ip: r.ip,
        status: r.status,
        score: r.score,
        isVpn: r.isVpn,
        isProxy: r.isProxy,
        isTor: r.isTor,
        isDatacenter: r.isDatacenter,
        countryCode: r.countryCode,
        asn: r.asn,
        isp: r.isp,
        source: r.source,
      }
    }),

    // The guide's form protection: the call is not blocked, the form answers a polite refusal.
    contact: publicProcedure
      .input(z.object({ email: z.string().email(), message: z.string().min(1).max(2000) }))
      .mutation(({ ctx }) => {
        if ((ctx.ipRisk.score ?? 0) >= 70) {
          return { accepted: false, message: 'Unable to process your request. Please try again later.' }
        }
        return { accepted: true, message: 'Thanks, we will get back to you.' }
      }),

    orders: protectedProcedure.query(({ ctx }) => ({ orders: [] as string[], score: ctx.ipRisk.score })),

    // The guide's class-based view mixin on its signup view: threshold 70, no VPN, no datacenter.
    checkout: publicProcedure
      .use(riskGate({ name: 'checkout', threshold: 70, blockVpn: true, blockDatacenter: true, blockTor: true }))
      .input(z.object({ items: z.array(z.string()).max(50) }))
      .mutation(({ input }) => ({ ok: true, items: input.items.length })),

    signup: humanProcedure
      .input(z.object({ email: z.string().email() }))
      .mutation(({ input }) => ({ created: input.email })),

    ticks: humanProcedure.input(z.object({ count: z.number().int().min(1).max(10) })).subscription(async function* ({
      input,
      signal,
    }) {
      for (let i = 1; i <= input.count; i++) {
        if (signal?.aborted) return
        yield i
      }
    }),

    admin: t.router({
      stats: publicProcedure.query(({ ctx }) => ({ users: 42, decision: ctx.ipRisk.decision?.reason ?? null })),
      block: publicProcedure
        .input(z.object({ ip: z.string().min(2).max(64), seconds: z.number().int().min(1).max(86_400).optional() }))
        .mutation(async ({ input }) => {
          await resolver.block(input.ip, input.seconds)
          return { blocked: input.ip }
        }),
      health: publicProcedure.meta({ ipRisk: { skip: true } }).query(() => ({ ok: true })),
    }),
  })
  return router
}

/** The example router's type, for typed clients. */
export type AppRouter = ReturnType<typeof createExampleRouter>
