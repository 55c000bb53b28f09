/**
 * Shared fixtures of the GraphQL suites: a simulator-backed resolver that records every reported decision and counts
 * compilations, a Yoga factory with a spy on every resolver, and `yoga.fetch` / HTTP helpers that choose the client
 * IP with X-Forwarded-For from a loopback peer (the resolver trusts loopback).
 */
import type { IncomingMessage } from 'node:http'
import { createSchema, createYoga, type YogaServerInstance } from 'graphql-yoga'
import { expect } from 'vitest'
import type { RiskResolverOptions } from '../../src/core/index.js'
import { ipRiskTypeDefs, useIpRisk, type IpRiskContext, type UseIpRiskOptions } from '../../src/envelop/index.js'
import { createSimulatedResolver, type Fixture as BaseFixture, type Profile } from '../support/fixture.js'
import type { RiskResolver } from '../../src/core/types.js'
import type { IpasisSimulator } from '../../src/testing/index.js'

export { ips, type Profile } from '../support/fixture.js'

export interface Fixture extends BaseFixture {
  /** Calls to `resolver.compile`. */
  compiles: { count: number }
  /** Calls to `resolver.lookup`, in order: the IP and whether it waited. */
  lookups: { ip: string | null; wait: boolean }[]
}

/** A fresh simulator with the demo profiles and a resolver on it that also counts compilations and lookups. */
export async function createFixture(overrides: Partial<RiskResolverOptions> = {}): Promise<Fixture> {
  const base = await createSimulatedResolver(overrides)
  const { resolver } = base
  const compiles = { count: 0 }
  const compile = resolver.compile.bind(resolver)
  resolver.compile = (policy) => {
    compiles.count++
    return compile(policy)
  }
  const lookups: Fixture['lookups'] = []
  const lookup = resolver.lookup.bind(resolver)
  resolver.lookup = (ip, options) => {
    lookups.push({ ip, wait: options?.wait !== false })
    return lookup(ip, options)
  }
  return { ...base, compiles, lookups }
}

/** The suites' schema: every directive on fields, object types and interfaces, plus public fields. */
export const testTypeDefs = /* GraphQL */ `
  type Query {
    posts: [Post!]!
    me: String!
    human: String! @requireHuman
    lowRisk50: String! @requireLowRisk(threshold: 50)
    lowRisk75: String! @requireLowRisk(threshold: 75)
    notBot: String! @requireNotBot
    adminPreset: String! @ipRisk(policy: ADMIN)
    admin: AdminQuery!
    node(id: ID!): Node
    search: [SearchResult!]!
    account: Account
  }
  type Mutation {
    signup(email: String!): String! @requireHuman
    login(email: String!): String! @requireLowRisk(threshold: 75)
    publicNote(text: String!): String!
  }
  type Subscription {
    ticks: Int! @requireHuman
    publicTicks: Int!
  }
  interface Node { id: ID! }
  "Interface-level directive: guards every field of every implementation."
  interface Account @requireLowRisk(threshold: 50) { id: ID! email: String! }
  type User implements Node & Account { id: ID! email: String! name: String! }
  type Post implements Node { id: ID! title: String! secret: String! @requireHuman }
  "Object-level directive: guards every field."
  type AdminQuery @requireLowRisk(threshold: 40) { users: [User!]! count: Int! }
  union SearchResult = Post | User
`

/** Every resolver call, by `Type.field`. */
export type Calls = Map<string, number>

/** Resolvers for {@link testTypeDefs}; each one counts its calls. */
export function spyResolvers(calls: Calls) {
  const hit = (coordinate: string) => calls.set(coordinate, (calls.get(coordinate) ?? 0) + 1)
  const user = { __typename: 'User', id: 'u1', email: 'ada@example.com', name: 'Ada' }
  const post = { __typename: 'Post', id: 'p1', title: 'Hello', secret: 's3cret' }
  return {
    Query: {
      posts: () => (hit('Query.posts'), [post]),
      me: (_: unknown, __: unknown, ctx: IpRiskContext) => (hit('Query.me'), `${ctx.ipRisk.status}:${String(ctx.ipRisk.score)}`),
      human: () => (hit('Query.human'), 'ok'),
      lowRisk50: () => (hit('Query.lowRisk50'), 'ok'),
      lowRisk75: () => (hit('Query.lowRisk75'), 'ok'),
      notBot: () => (hit('Query.notBot'), 'ok'),
      adminPreset: () => (hit('Query.adminPreset'), 'ok'),
      admin: () => (hit('Query.admin'), {}),
      node: (_: unknown, { id }: { id: string }) => (hit('Query.node'), id === 'u1' ? user : post),
      search: () => (hit('Query.search'), [post, user]),
      account: () => (hit('Query.account'), user),
    },
    Mutation: {
      signup: () => (hit('Mutation.signup'), 'created'),
      login: () => (hit('Mutation.login'), 'session'),
      publicNote: () => (hit('Mutation.publicNote'), 'noted'),
    },
    Subscription: {
      ticks: {
        subscribe: async function* () {
          hit('Subscription.ticks')
          yield { ticks: 1 }
          yield { ticks: 2 }
        },
      },
      publicTicks: {
        subscribe: async function* () {
          hit('Subscription.publicTicks')
          yield { publicTicks: 1 }
        },
      },
    },
    AdminQuery: {
      users: () => (hit('AdminQuery.users'), [user]),
      count: () => (hit('AdminQuery.count'), 1),
    },
    Node: { __resolveType: (o: { __typename: string }) => o.__typename },
    Account: { __resolveType: () => 'User' },
    SearchResult: { __resolveType: (o: { __typename: string }) => o.__typename },
  }
}

export interface TestYoga {
  yoga: YogaServerInstance<object, IpRiskContext>
  calls: Calls
}

/** Yoga on {@link testTypeDefs} with the plugin (batching on, quiet). */
export function createTestYoga(
  resolver: RiskResolver,
  options: Omit<UseIpRiskOptions, 'resolver'> = {},
  typeDefs: string = testTypeDefs,
): TestYoga {
  const calls: Calls = new Map()
  const yoga = createYoga<object, IpRiskContext>({
    schema: createSchema({ typeDefs: [ipRiskTypeDefs, typeDefs], resolvers: spyResolvers(calls) }),
    plugins: [useIpRisk({ ...options, resolver })],
    batching: true,
    logging: false,
  })
  return { yoga, calls }
}

export interface GqlRequest {
  query: string
  variables?: Record<string, unknown>
  operationName?: string
}

export interface GqlResponse {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

/** The Node server context Yoga gets on node:http, reduced to what the plugin reads: a loopback peer. */
const loopbackPeer = { req: { socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage }

/** POST a request (or a batch) through `yoga.fetch`, as `ip` (X-Forwarded-For from a trusted loopback peer). */
export async function gql(
  yoga: TestYoga['yoga'],
  ip: string | null,
  request: GqlRequest | GqlRequest[],
  headers: Record<string, string> = {},
): Promise<GqlResponse> {
  const response = await yoga.fetch(
    'http://localhost/graphql',
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(ip === null ? {} : { 'x-forwarded-for': ip }),
        ...headers,
      },
      body: JSON.stringify(request),
    },
    loopbackPeer,
  )
  return { status: response.status, body: await response.json() }
}

/** Waits until `predicate` holds (background lookups), polling the event loop; fails after `ms`. */
export async function until(predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The single error of a blocked operation, as Yoga serializes it (`locations` when a field is to blame). */
export function blockedBody(path: string[] | undefined, reason: string, extra: Record<string, unknown> = {}) {
  return {
    errors: [
      {
        message: 'Request blocked',
        ...(path === undefined ? {} : { locations: [expect.objectContaining({ line: expect.any(Number) })], path }),
        extensions: { code: 'IP_RISK_BLOCKED', reason, ...extra },
      },
    ],
  }
}

let fresh = 100
/** A documentation-range IP no other test has used (nothing cached), with the given simulator profile. */
export function freshIp(sim: IpasisSimulator, profile: Profile | 'clean' = 'clean'): string {
  const ip = `203.0.113.${String(fresh++)}`
  if (fresh > 254) throw new Error('out of fresh test IPs')
  sim.setProfile(ip, profile === 'highRisk' ? 'high-risk' : profile)
  return ip
}
