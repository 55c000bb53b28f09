/**
 * The GraphQL baseline: Yoga on the example's schema and resolvers (`examples/graphql`), with the same settings as
 * `createExampleYoga` (endpoint `/graphql`, batching, no logging), but without the iprisk plugin. The directives stay
 * in the SDL, inert.
 */
import { createServer } from 'node:http'
import { createSchema, createYoga, type Plugin } from 'graphql-yoga'
import type { ExampleContext } from '../../examples/graphql/context.js'
import { createExampleResolvers } from '../../examples/graphql/resolvers.js'
import { exampleTypeDefs } from '../../examples/graphql/server.js'
import { listen, type BenchServer } from './http.js'

/**
 * The example's Yoga without iprisk (for `yoga.fetch` in the micro benchmarks). `plugins` (default none) lets the micro
 * benchmarks measure what Yoga charges for any plugin with the same hooks.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins extend the context with their own fields
export function createBaselineYoga(plugins: Plugin<any>[] = []) {
  const { resolvers } = createExampleResolvers()
  return createYoga({
    schema: createSchema<ExampleContext>({ typeDefs: [...exampleTypeDefs], resolvers }),
    graphqlEndpoint: '/graphql',
    batching: true,
    logging: false,
    plugins,
  })
}

/** Starts the baseline on 127.0.0.1 (a free port). */
export async function startYogaBaseline(): Promise<BenchServer> {
  return listen(createServer(createBaselineYoga()))
}
