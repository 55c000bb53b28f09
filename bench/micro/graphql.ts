/**
 * GraphQL micro benchmarks: what the plugin does per operation once the document is parsed and cached (the analysis
 * lookup and the active protected selections), and a whole in-process request (`yoga.fetch`, no HTTP) with and
 * without the plugin on a warm cache.
 */
import { parse } from 'graphql'
import { createSchema } from 'graphql-yoga'
import { createExampleYoga, exampleTypeDefs } from '../../examples/graphql/server.js'
import { createExampleResolvers } from '../../examples/graphql/resolvers.js'
import type { ExampleContext } from '../../examples/graphql/context.js'
import { activeSelections, OperationAnalyzer } from '../../src/envelop/analysis.js'
import { RequestKernel } from '../../src/core/kernel.js'
import { readSchemaProtection } from '../../src/envelop/directives.js'
import { createBaselineYoga } from '../servers/graphql.js'
import type { MicroGroup } from './harness.js'
import type { MicroEnv } from './suite.js'

const GATED = 'query Account { user(id: "1") { id email createdAt } }'
const PUBLIC = 'query Posts { posts { id title } }'

const compilerOf = (kernel: RequestKernel) => (policy: Parameters<RequestKernel['compile']>[0], option: string) =>
  kernel.compile(policy, option)

function analysisGroup(env: MicroEnv): MicroGroup {
  const schema = createSchema<ExampleContext>({ typeDefs: [...exampleTypeDefs], resolvers: createExampleResolvers().resolvers })
  const protection = readSchemaProtection(schema, compilerOf(new RequestKernel(env.resolver, { monitor: false, failMode: undefined })), undefined)
  const analyzer = new OperationAnalyzer(protection)
  const gated = parse(GATED)
  const pub = parse(PUBLIC)
  const byDoc = new WeakMap([[gated, 1]])
  analyzer.analyze(gated, 'Account')
  analyzer.analyze(pub, 'Posts')
  const batch = 1_000
  return {
    group: 'GraphQL per-operation analysis (cached document)',
    baseline: { name: 'WeakMap#get on the document', batch, op: () => byDoc.get(gated) },
    cases: [
      { name: 'analyze + activeSelections, gated operation', batch, op: () => activeSelections(analyzer.analyze(gated, 'Account'), null).length },
      { name: 'analyze + activeSelections, public operation', batch, op: () => activeSelections(analyzer.analyze(pub, 'Posts'), null).length },
    ],
    note: 'The analysis itself runs once per (document, operation name); this is the per-request cost of finding it.',
  }
}

function fetchGroup(env: MicroEnv): MicroGroup {
  const baseline = createBaselineYoga()
  // Yoga's own cost of a plugin with the same hook as iprisk's (onExecute extending the context), for reference.
  const noopPlugin = createBaselineYoga([
    { onExecute: ({ extendContext }) => extendContext({ extra: 1 } as Record<string, unknown>) },
  ])
  const { yoga } = createExampleYoga({ resolver: env.resolver })
  const n = env.pool.length
  const request = (ip: string, query: string): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ query }),
  })
  // yoga.fetch has no socket: Yoga passes the server context (here none), so iprisk sees no peer and ignores
  // X-Forwarded-For (the peer is not a trusted proxy). Give it the loopback peer the way node:http would.
  const serverContext = { req: { socket: { remoteAddress: '127.0.0.1' } } }
  const batch = 1
  const url = 'http://127.0.0.1/graphql'
  const run = (y: { fetch: typeof baseline.fetch }, query: string) => async (i: number) => {
    const res = await y.fetch(url, request(env.pool[i % n]!, query), serverContext)
    return res.text()
  }
  return {
    group: 'GraphQL request in process (yoga.fetch, warm cache)',
    baseline: { name: 'gated query, no plugin', batch, async: true, op: run(baseline, GATED) },
    cases: [
      { name: 'reference: gated query, a no-op onExecute plugin extending the context', batch, async: true, op: run(noopPlugin, GATED) },
      { name: 'gated query, plugin (@requireLowRisk via Account)', batch, async: true, op: run(yoga, GATED) },
      { name: 'public query, no plugin', batch, async: true, op: run(baseline, PUBLIC) },
      { name: 'public query, plugin (background lookup mode)', batch, async: true, op: run(yoga, PUBLIC) },
    ],
    note: 'A whole GraphQL request without the network: parse (cached), validate (cached), execute, serialize.',
  }
}

export async function graphqlMicroGroups(env: MicroEnv): Promise<MicroGroup[]> {
  const groups = [analysisGroup(env), fetchGroup(env)]
  // Sanity check: the plugin must have seen the client (a scored L1 answer), or the numbers measure another path.
  const { yoga } = createExampleYoga({ resolver: env.resolver })
  const res = await yoga.fetch(
    'http://127.0.0.1/graphql',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': env.pool[0]! },
      body: JSON.stringify({ query: '{ myRisk { ip status source } }' }),
    },
    { req: { socket: { remoteAddress: '127.0.0.1' } } },
  )
  const body = (await res.json()) as { data?: { myRisk?: { ip: string | null; source: string } } }
  if (body.data?.myRisk?.ip !== env.pool[0] || body.data?.myRisk?.source !== 'l1') {
    throw new Error(`GraphQL micro: the plugin did not see the pool client through the loopback proxy: ${JSON.stringify(body)}`)
  }
  return groups
}
