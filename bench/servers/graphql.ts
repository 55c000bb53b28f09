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
 * benchmarks measure what Yoga charges for any plugin with the same hooks; `endpoint` lets several instances share one
 * server.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins extend the context with their own fields
export function createBaselineYoga(plugins: Plugin<any>[] = [], endpoint = '/graphql') {
  const { resolvers } = createExampleResolvers()
  return createYoga({
    schema: createSchema<ExampleContext>({ typeDefs: [...exampleTypeDefs], resolvers }),
    graphqlEndpoint: endpoint,
    batching: true,
    logging: false,
    plugins,
  })
}

/** Starts the baseline on 127.0.0.1 (a free port). */
export async function startYogaBaseline(): Promise<BenchServer> {
  return listen(createServer(createBaselineYoga()))
}

const T0 = Symbol('bench.t0')

/**
 * For the step timing of the warm path: the example's Yoga with two timing plugins, and `plugins` (iprisk's, or none)
 * between them. `record` gets, per operation, the milliseconds from the first plugin's `onExecute` to the second's:
 * what the plugins in between cost.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins extend the context with their own fields
export async function startTimedYoga(plugins: Plugin<any>[], record: (ms: number) => void): Promise<BenchServer> {
  const start: Plugin = {
    onExecute({ context }) {
      ;(context as Record<symbol, number>)[T0] = performance.now()
    },
  }
  const end: Plugin = {
    onExecute({ context }) {
      record(performance.now() - ((context as Record<symbol, number>)[T0] ?? Number.NaN))
    },
  }
  return listen(createServer(createBaselineYoga([start, ...plugins, end])))
}

/** The Yoga instances of {@link startYogaVariants}, in the order the results list them (the first is the baseline). */
export const YOGA_VARIANTS = ['plain', 'plainAgain', 'plugin', 'iprisk'] as const
export type YogaVariant = (typeof YOGA_VARIANTS)[number]

/**
 * For the same-server measurement of the warm path: one Node server in front of four instances of the example's Yoga,
 * at `/<variant>/graphql`, that differ only in their plugins, so that paired requests to it differ by exactly that
 * (same process, socket and caches):
 * - `plain`, `plainAgain`: no plugin (the second one is the A/A control: the method's noise);
 * - `plugin`: a plugin that only extends the context in `onExecute`: what Envelop charges for any such plugin;
 * - `iprisk`: `useIpRisk` (the given plugins).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins extend the context with their own fields
export async function startYogaVariants(iprisk: Plugin<any>[]): Promise<BenchServer> {
  const noop: Plugin<{ ipRisk: null }> = {
    onExecute({ extendContext }) {
      extendContext({ ipRisk: null })
    },
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  const plugins: Record<YogaVariant, Plugin<any>[]> = { plain: [], plainAgain: [], plugin: [noop], iprisk }
  const yogas = new Map<string, ReturnType<typeof createBaselineYoga>>(
    YOGA_VARIANTS.map((name) => [`/${name}/graphql`, createBaselineYoga(plugins[name], `/${name}/graphql`)] as const),
  )
  return listen(
    createServer((req, res) => {
      const url = req.url ?? ''
      const end = url.indexOf('?')
      const yoga = yogas.get(end === -1 ? url : url.slice(0, end))
      if (yoga === undefined) {
        res.writeHead(404).end()
        return
      }
      void yoga(req, res)
    }),
  )
}
