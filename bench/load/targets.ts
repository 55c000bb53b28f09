/**
 * The two frameworks under load: how to start the protected server, the unprotected baseline, and
 * which request each scenario sends.
 */
import type { RiskResolver } from '../../src/core/index.js'
import { createServer } from 'node:http'
import { useIpRisk } from '../../src/envelop/index.js'
import { listen } from '../servers/http.js'
import type { Framework } from '../lib/results.js'
import { startTrpcMirror, startTrpcVariants, TRPC_VARIANTS } from '../servers/trpc.js'
import { createBaselineYoga, startYogaBaseline, startYogaVariants, YOGA_VARIANTS } from '../servers/graphql.js'
import type { LoadJob } from './protocol.js'

export interface ServerHandle {
  /** `http://127.0.0.1:<port>` */
  origin: string
  close(): Promise<void>
}

export type EndpointKind = 'gated' | 'background'

export type Endpoint = Pick<LoadJob, 'method' | 'path' | 'body' | 'headers'>

export interface FrameworkTarget {
  framework: Framework
  /** The same API without iprisk. */
  startBaseline(): Promise<ServerHandle>
  /** The protected server whose `kind` endpoint a scenario calls. */
  startProtected(resolver: RiskResolver, kind: EndpointKind): Promise<ServerHandle>
  /**
   * tRPC only (warm-path A/B): the same API where every procedure has an app middleware of its own, with iprisk's
   * `guard` inside it (`resolver` given) or not (`null`).
   */
  startInside?(resolver: RiskResolver | null): Promise<ServerHandle>
  endpoint(kind: EndpointKind): Endpoint
  /**
   * One server answering the gated request through every variant of the same-server measurement (`load/warm-ab.ts`),
   * with the request that reaches each; the first variant is the baseline.
   */
  startVariants(resolver: RiskResolver): Promise<{ server: ServerHandle; variants: { name: string; endpoint: Endpoint }[] }>
}

function handle(server: { url: string; close(): Promise<void> }): ServerHandle {
  return { origin: new URL(server.url).origin, close: () => server.close() }
}

/**
 * tRPC: the gated call is `orders` with `riskGate(70)` (the guide's `@require_low_risk`), the background call is
 * `hello` with `withIpRisk({ wait: false })`, both on the mirror of the example router; the baseline is the same
 * router without iprisk. So each scenario differs from its baseline by exactly one iprisk middleware: what a
 * warm-cache check costs, not what a second middleware level costs in tRPC itself.
 */
export const trpcTarget: FrameworkTarget = {
  framework: 'trpc',
  startBaseline: async () => handle(await startTrpcMirror(null)),
  startProtected: async (resolver) => handle(await startTrpcMirror(resolver)),
  startInside: async (resolver) => handle(await startTrpcMirror(resolver, 'inside')),
  endpoint: (kind) => ({ method: 'GET', path: kind === 'gated' ? '/orders' : '/hello', headers: {} }),
  startVariants: async (resolver) => ({
    server: handle(await startTrpcVariants(resolver)),
    variants: TRPC_VARIANTS.map((name) => ({ name, endpoint: { method: 'GET', path: `/${name}`, headers: {} } })),
  }),
}

const gatedQuery = JSON.stringify({ query: 'query Account { user(id: "1") { id email createdAt } }', operationName: 'Account' })
const backgroundQuery = JSON.stringify({ query: 'query Posts { posts { id title } }', operationName: 'Posts' })

/**
 * GraphQL: the gated operation selects `user`, whose type implements `Account @requireLowRisk(threshold: 80)`; the
 * background operation selects only public fields (`posts`), which with the plugin's default `wait: false` never
 * waits. Both run on Yoga with the example's schema and resolvers plus `useIpRisk`; the baseline is the same Yoga
 * without the plugin, so the difference is the plugin alone.
 */
export const graphqlTarget: FrameworkTarget = {
  framework: 'graphql',
  startBaseline: async () => handle(await startYogaBaseline()),
  startProtected: async (resolver) => handle(await listen(createServer(createBaselineYoga([useIpRisk({ resolver })])))),
  endpoint: (kind) => ({
    method: 'POST',
    path: '/graphql',
    body: kind === 'gated' ? gatedQuery : backgroundQuery,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
  }),
  startVariants: async (resolver) => ({
    server: handle(await startYogaVariants([useIpRisk({ resolver })])),
    variants: YOGA_VARIANTS.map((name) => ({
      name,
      endpoint: { ...graphqlTarget.endpoint('gated'), path: `/${name}/graphql` },
    })),
  }),
}
