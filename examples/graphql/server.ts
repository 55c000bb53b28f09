/**
 * The Yoga example: graphql-yoga 5 on node:http with the iprisk plugin and directives.
 *
 * Run it: `npx tsx examples/graphql/server.ts` (uses the local IPASIS simulator unless `IPASIS_API_KEY` is set; `PORT`
 * chooses the port, default 4000). The demo, the benchmarks and the reliability suite import
 * {@link startYogaExample}, {@link createExampleYoga} and {@link exampleTypeDefs}: keep their signatures stable.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { createSchema, createYoga, type YogaServerInstance } from 'graphql-yoga'
import type { RiskResolver } from '../../src/core/index.js'
import { ipRiskTypeDefs, useIpRisk, type IpRiskContext, type UseIpRiskOptions } from '../../src/envelop/index.js'
import { createExampleRisk, demoClients } from '../shared/setup.js'
import type { ExampleContext } from './context.js'
import type { ExampleStore } from './models.js'
import { createExampleResolvers } from './resolvers.js'

/** The example's SDL (`schema.graphql`), without the iprisk directive definitions. */
export const exampleSchemaSdl: string = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8')

/** Everything the example schema is built from: the iprisk directives, then the example's SDL. */
export const exampleTypeDefs: readonly string[] = Object.freeze([ipRiskTypeDefs, exampleSchemaSdl])

/** Options of {@link createExampleYoga} and {@link startYogaExample}. */
export interface YogaExampleOptions {
  /** The risk resolver (e.g. `createExampleRisk().resolver`). */
  resolver: RiskResolver
  /** Extra plugin options (`lookup`, `policy`, `monitor`, ...); `resolver` is taken from above. */
  plugin?: Omit<UseIpRiskOptions, 'resolver'>
  /** Yoga's logging (default `false`: quiet in tests and benchmarks). */
  logging?: boolean
  /** A store to serve (default: a fresh one). */
  store?: ExampleStore
}

/** The example's Yoga instance and the store behind its resolvers. */
export interface ExampleYoga {
  yoga: YogaServerInstance<object, IpRiskContext>
  store: ExampleStore
}

/**
 * Builds the example's Yoga (endpoint `/graphql`, batching on) without starting a server: use `yoga.fetch` in tests.
 *
 * @example
 * ```ts
 * const { yoga } = createExampleYoga({ resolver })
 * const res = await yoga.fetch('http://localhost/graphql', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ query: '{ posts { title } }' }),
 * })
 * ```
 */
export function createExampleYoga(options: YogaExampleOptions): ExampleYoga {
  const { resolvers, store } = createExampleResolvers(options.store)
  const yoga = createYoga<object, IpRiskContext>({
    schema: createSchema<ExampleContext>({ typeDefs: [...exampleTypeDefs], resolvers }),
    plugins: [useIpRisk({ ...options.plugin, resolver: options.resolver })],
    graphqlEndpoint: '/graphql',
    batching: true,
    logging: options.logging ?? false,
  })
  return { yoga, store }
}

/** A running example server. */
export interface RunningYogaExample extends ExampleYoga {
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string
  /** Stops the server (open connections included). Does not close the resolver. */
  close(): Promise<void>
}

/**
 * Starts the example on node:http. Port 0 (default) picks a free port.
 *
 * @example
 * ```ts
 * const risk = await createExampleRisk()
 * const server = await startYogaExample({ resolver: risk.resolver })
 * console.log(server.url) // http://127.0.0.1:<port>/graphql
 * await server.close()
 * await risk.close()
 * ```
 */
export async function startYogaExample(
  options: YogaExampleOptions & { port?: number; host?: string },
): Promise<RunningYogaExample> {
  const { port = 0, host = '127.0.0.1' } = options
  const example = createExampleYoga(options)
  const server = createServer(example.yoga)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    ...example,
    url: `http://${hostname}:${String(address.port)}/graphql`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}

async function main(): Promise<void> {
  const risk = await createExampleRisk()
  const server = await startYogaExample({
    resolver: risk.resolver,
    port: Number(process.env.PORT ?? 4000),
    host: process.env.HOST ?? '127.0.0.1',
    logging: true,
  })
  const post = (ip: string, query: string) =>
    `curl -s ${server.url} -H 'content-type: application/json' -H 'x-forwarded-for: ${ip}' -d '${JSON.stringify({ query })}'`
  console.log(`Yoga example on ${server.url} (${risk.simulator ? 'IPASIS simulator' : 'IPASIS API'})`)
  console.log('Try:')
  console.log(`  ${post(demoClients.clean, '{ myRisk { ip score status } }')}`)
  console.log(`  ${post(demoClients.tor, 'mutation { signup(email: "bot@example.com") { id } }')}`)
  console.log(`  ${post(demoClients.vpn, '{ admin { users { email } } }')}`)
  const stop = () => {
    void server
      .close()
      .then(() => risk.close())
      .finally(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
