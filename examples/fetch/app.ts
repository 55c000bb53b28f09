/**
 * One iprisk-protected API, a tRPC router (fetch adapter) and a GraphQL Yoga server side by side, written against
 * web-standard `Request` / `Response` only, so that the same file runs on Bun, Deno, Cloudflare Workers, the Vercel
 * Edge runtime and Node. Each runtime's entry (`examples/bun/server.ts`, `examples/deno/server.ts`,
 * `examples/workers/src/worker.ts`) only says how it gets the peer address and which proxies it trusts; the
 * runtime matrix (`scripts/runtime-matrix/`) runs this file on every runtime it checks.
 *
 *   GET  /trpc/whoami            what iprisk knows about the caller (annotate only, never blocks)
 *   POST /trpc/signup            requireHuman(): a Tor exit node or a score ≥ 80 gets 403 before the procedure runs
 *   POST /graphql                Yoga: `whoami` (open), `signup` (@requireHuman)
 *   GET  /healthz                risk.status(): 200 while protection is effective, 503 with the problems otherwise
 */
import { initTRPC } from '@trpc/server'
import { fetchRequestHandler } from '@trpc/server/adapters/fetch'
import { createSchema, createYoga } from 'graphql-yoga'
import { createRiskResolver, ipasis, type RiskResolverOptions, type RiskResolver } from 'iprisk'
import { ipRiskTypeDefs, useIpRisk, type IpRiskContext } from 'iprisk/envelop'
import { createTrpcRisk, type IpRiskMeta } from 'iprisk/trpc'

/** How to build the app. */
export interface AppOptions {
  /** Your IPASIS API key (a secret: an environment variable or a Workers secret). */
  apiKey: string
  /** The IPASIS API, or a local simulator (`npx iprisk simulate`). @default IPASIS's production API */
  baseUrl?: string | undefined
  /**
   * Which peers are your proxies (`trustProxy` of the resolver): `'loopback'` for nginx on the same host, a
   * platform preset such as `platforms.cloudflare({ ranges: 'any' })` on Workers. @default false (the peer is the client)
   */
  trustProxy?: RiskResolverOptions['trustProxy']
  /**
   * Development against `npx iprisk simulate`: score loopback and documentation addresses (127.0.0.40 is Tor there),
   * so `curl --interface 127.0.0.40` plays a Tor caller. Never in production. @default false
   */
  simulator?: boolean
  /** Called in the body of a protected procedure / resolver, once it runs (the matrix counts them). */
  onServed?: (name: 'trpc.signup' | 'graphql.signup') => void
  /** Anything else for `createRiskResolver` (a shared `cache`, `failMode`, `logger`, `onDegraded`, ...). */
  resolver?: Partial<RiskResolverOptions>
}

/** The app: one fetch handler for every route, and the resolver it shares between tRPC and Yoga. */
export interface App {
  /** Answers `request`; `peerAddress` is the TCP peer as the runtime reports it (none on Workers / Edge). */
  fetch(request: Request, peerAddress?: string | null): Promise<Response>
  risk: RiskResolver
}

interface TrpcContext {
  req: Request
  peerAddress?: string | null | undefined
}

/** What `whoami` answers: the caller's address, and what iprisk made of it (`error` says why when `unavailable`). */
function caller(risk: { ip: string | null; status: string; isTor: boolean | null; error?: string | null | undefined }) {
  return { ip: risk.ip, status: risk.status, isTor: risk.isTor, error: risk.error ?? null }
}

/** Builds the app. Call it on the first request on Workers (no work at module scope there). */
export function createApp(options: AppOptions): App {
  const risk = createRiskResolver({
    provider: ipasis({ apiKey: options.apiKey, ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) }),
    trustProxy: options.trustProxy ?? false,
    // With the simulator, score loopback and documentation addresses too (refused when NODE_ENV=production).
    ...(options.simulator ? { development: { scoreLocalAddresses: true } } : {}),
    ...options.resolver,
  })
  const served = options.onServed ?? (() => {})

  // tRPC: ctx.peerAddress is the peer iprisk reads by default; X-Forwarded-For only counts from a trusted proxy.
  const t = initTRPC.context<TrpcContext>().meta<IpRiskMeta>().create()
  const { withIpRisk, requireHuman } = createTrpcRisk(risk)
  const publicProcedure = t.procedure.use(withIpRisk())
  const router = t.router({
    whoami: publicProcedure.query(({ ctx }) => caller(ctx.ipRisk)),
    signup: publicProcedure.use(requireHuman()).mutation(() => {
      served('trpc.signup')
      return { ok: true }
    }),
  })

  // Yoga: a fetch Request has no socket, so the client IP is read with the resolver's own trust model from the
  // request and the peer address the runtime gave (passed in Yoga's server context below).
  type YogaContext = IpRiskContext & { request: Request; peerAddress?: string | null }
  const schema = createSchema<YogaContext>({
    typeDefs: [
      ipRiskTypeDefs,
      /* GraphQL */ `
        type Caller { ip: String, status: String!, isTor: Boolean, error: String }
        type Query { whoami: Caller! }
        type Mutation { signup(email: String!): Boolean! @requireHuman }
      `,
    ],
    resolvers: {
      Query: { whoami: (_, __, ctx) => caller(ctx.ipRisk) },
      Mutation: {
        signup: () => {
          served('graphql.signup')
          return true
        },
      },
    },
  })
  const yoga = createYoga<{ peerAddress?: string | null }>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    plugins: [useIpRisk<YogaContext>({ resolver: risk, getClientIp: (ctx) => risk.clientIp(ctx.request, ctx.peerAddress).ip })],
  })

  return {
    risk,
    async fetch(request, peerAddress) {
      const { pathname } = new URL(request.url)
      if (pathname.startsWith('/trpc/')) {
        return fetchRequestHandler({ endpoint: '/trpc', req: request, router, createContext: () => ({ req: request, peerAddress }) })
      }
      if (pathname === '/graphql') return yoga.fetch(request, { peerAddress })
      if (pathname === '/healthz') {
        const status = risk.status()
        return Response.json({ protected: status.protected, problems: status.problems }, { status: status.protected ? 200 : 503 })
      }
      return new Response('not found', { status: 404 })
    },
  }
}
