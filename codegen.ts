/**
 * GraphQL Code Generator configuration (`npm run codegen`): generates the resolver types of the Yoga example,
 * `examples/graphql/generated/resolvers-types.ts`, with a context type that carries `ipRisk`.
 *
 * The schema is the iprisk directive SDL (`ipRiskTypeDefs`, passed as a string: codegen takes SDL text as a schema
 * source) plus the example's own SDL: the loader must know the directives the example uses. test/envelop/codegen.test.ts runs the
 * generator with this configuration and fails when the committed output is stale.
 */
import type { CodegenConfig } from '@graphql-codegen/cli'
import { ipRiskTypeDefs } from './src/envelop/directives.js'

const config: CodegenConfig = {
  overwrite: true,
  schema: [ipRiskTypeDefs, 'examples/graphql/schema.graphql'],
  generates: {
    'examples/graphql/generated/resolvers-types.ts': {
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        // Relative to the generated file; the type is Yoga's context plus IpRiskContext.
        contextType: '../context.js#ExampleContext',
        useTypeImports: true,
        useIndexSignature: true,
        enumsAsTypes: true,
        scalars: { ID: { input: 'string', output: 'string' } },
        // Resolvers return the example's models (examples/graphql/models.ts), not the GraphQL shapes.
        mappers: {
          User: '../models.js#UserModel',
          Post: '../models.js#PostModel',
          AdminQuery: '../models.js#AdminArea',
        },
      },
    },
  },
}

export default config
