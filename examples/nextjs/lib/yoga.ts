import { createSchema, createYoga, type YogaInitialContext } from 'graphql-yoga'
import { ipRiskTypeDefs, useIpRisk, type IpRiskContext } from 'iprisk/envelop'
import { getRisk, logBodyRan, type RuntimeName } from './risk'

type Context = YogaInitialContext & IpRiskContext

const typeDefs = /* GraphQL */ `
  type Greeting {
    greeting: String!
    runtime: String!
    ip: String
    status: String!
    score: Int
    error: String
  }
  type Query {
    "Blocked for callers whose score is 70 or more."
    hello: Greeting! @requireLowRisk(threshold: 70)
  }
  type Mutation {
    "Blocked for Tor exits and scores of 80 or more."
    signup(email: String!): Greeting! @requireHuman
  }
`

function greeting(text: string, runtime: RuntimeName, context: Context) {
  const { ip, status, score, error } = context.ipRisk
  return { greeting: text, runtime, ip, status, score, error }
}

/** The Yoga instance (built on the first request: see `getRisk` for why). */
function createExampleYoga(endpoint: string, runtime: RuntimeName) {
  const schema = createSchema<Context>({
    typeDefs: [ipRiskTypeDefs, typeDefs],
    resolvers: {
      Query: {
        hello: (_parent, _args, context) => {
          logBodyRan('graphql hello', runtime, context.request)
          return greeting('hello', runtime, context)
        },
      },
      Mutation: {
        signup: (_parent, args: { email: string }, context) => {
          logBodyRan('graphql signup', runtime, context.request)
          return greeting(`welcome ${args.email}`, runtime, context)
        },
      },
    },
  })
  return createYoga({
    schema,
    graphqlEndpoint: endpoint,
    plugins: [useIpRisk({ resolver: getRisk() })],
    fetchAPI: { Response },
    graphiql: false,
  })
}

/**
 * A route handler serving the schema at `endpoint` with GraphQL Yoga. `useIpRisk` reads the client IP from Yoga's
 * fetch `Request` with the resolver's `trustProxy` (the Vercel preset), and enforces the directives before execution:
 * a blocked operation gets HTTP 403 and no resolver runs.
 */
export function graphqlRouteHandler(endpoint: string, runtime: RuntimeName): (request: Request) => Promise<Response> {
  let yoga: ReturnType<typeof createExampleYoga> | undefined
  return async (request) => {
    yoga ??= createExampleYoga(endpoint, runtime)
    return yoga.handleRequest(request, {})
  }
}
