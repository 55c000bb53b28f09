import { initTRPC } from '@trpc/server'
import { fetchRequestHandler } from '@trpc/server/adapters/fetch'
import type { RiskResolver } from 'iprisk'
import { createTrpcRisk, type IpRiskMeta } from 'iprisk/trpc'
import { getRisk, logBodyRan, type RuntimeName } from './risk'

/** The context: the fetch `Request` as `req` is all iprisk needs (the Vercel preset reads its headers). */
export interface Context {
  req: Request
  runtime: RuntimeName
}

// isDev: false: never send stack traces to clients, whatever NODE_ENV says.
const t = initTRPC.context<Context>().meta<IpRiskMeta>().create({ isDev: false })

/** The input of `signup` (a plain function: tRPC accepts any parser; zod or valibot work the same). */
function parseSignup(input: unknown): { email: string } {
  const email = (input as { email?: unknown } | null)?.email
  if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new Error('email: expected an e-mail address')
  return { email }
}

/** The router, built around the resolver (see `getRisk` for why it is not built at module load). */
function createAppRouter(risk: RiskResolver) {
  const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(risk)
  const publicProcedure = t.procedure.use(withIpRisk())
  return t.router({
    /** `riskGate(70)`: blocks callers whose score is 70 or more (a Tor exit scores 92 in the simulator). */
    hello: publicProcedure.use(riskGate(70)).query(({ ctx }) => {
      logBodyRan('trpc hello', ctx.runtime, ctx.req)
      const { ip, status, score, error } = ctx.ipRisk
      return { greeting: 'hello', runtime: ctx.runtime, ip, status, score, error }
    }),
    /** `requireHuman()`: blocks Tor exits and scores of 80 or more. */
    signup: publicProcedure
      .use(requireHuman())
      .input(parseSignup)
      .mutation(({ ctx, input }) => {
        logBodyRan('trpc signup', ctx.runtime, ctx.req)
        const { ip, status, score, error } = ctx.ipRisk
        return { greeting: `welcome ${input.email}`, runtime: ctx.runtime, ip, status, score, error }
      }),
  })
}

/** The router's type, for a typed client (`createTRPCClient<AppRouter>`). */
export type AppRouter = ReturnType<typeof createAppRouter>

/** A route handler serving the router at `endpoint`, through tRPC's fetch adapter. */
export function trpcRouteHandler(endpoint: string, runtime: RuntimeName): (req: Request) => Promise<Response> {
  let router: AppRouter | undefined
  return (req) => {
    router ??= createAppRouter(getRisk())
    return fetchRequestHandler({ endpoint, req, router, createContext: () => ({ req, runtime }) })
  }
}
