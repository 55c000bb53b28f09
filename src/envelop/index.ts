/**
 * `iprisk/envelop`: the GraphQL adapter for graphql-yoga 5 and any Envelop set-up (`graphql` 16 or 17).
 *
 * - {@link useIpRisk}: the plugin (sets `context.ipRisk`, enforces policies before execution);
 * - {@link ipRiskTypeDefs}: the directive SDL (`@requireLowRisk(threshold: Int!)`, `@requireHuman`, `@requireNotBot`,
 *   `@ipRisk(policy: IpRiskPolicy!)`), to add to your type definitions;
 * - {@link waitForIpRisk}: a verdict for resolvers that decide for themselves.
 *
 * @example
 * ```ts
 * import { createYoga, createSchema } from 'graphql-yoga'
 * import { useIpRisk, ipRiskTypeDefs } from 'iprisk/envelop'
 *
 * const schema = createSchema({
 *   typeDefs: [ipRiskTypeDefs, `type Mutation { signup(email: String!): User! @requireHuman }`],
 *   resolvers,
 * })
 * const yoga = createYoga({ schema, plugins: [useIpRisk({ resolver: risk })] })
 * ```
 *
 * @module
 */
export {
  useIpRisk,
  waitForIpRisk,
  IP_RISK_BLOCKED,
  type IpRiskContext,
  type IpRiskLookupMode,
  type UseIpRiskOptions,
  type WaitMode,
} from './plugin.js'
export {
  ipRiskTypeDefs,
  requireLowRiskDirectiveTypeDefs,
  requireHumanDirectiveTypeDefs,
  requireNotBotDirectiveTypeDefs,
  ipRiskDirectiveTypeDefs,
  ipRiskPolicyPresets,
  type FieldPolicies,
} from './directives.js'
export type { GetClientIp } from './ip.js'
