/**
 * The GraphQL context of the Yoga example, as its resolvers see it: Yoga's own context plus `ipRisk` from the iprisk
 * plugin. codegen.ts points the generated resolver types at it (`contextType`), so `context.ipRisk` is typed in every
 * resolver.
 */
import type { YogaInitialContext } from 'graphql-yoga'
import type { IpRiskContext } from '../../src/envelop/index.js'

export type ExampleContext = YogaInitialContext & IpRiskContext
