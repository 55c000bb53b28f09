/**
 * The directive SDL: {@link ipRiskTypeDefs}, the one text that declares every iprisk directive and the `IpRiskPolicy`
 * enum, and the presets the enum's values stand for. The four per-directive strings of 0.1 remain, deprecated.
 *
 * @module
 */

import { policies } from '../../core/policy.js'

/**
 * Every iprisk directive (and the `IpRiskPolicy` enum), with descriptions: add it to your schema's type definitions.
 * For GraphQL Code Generator and other SDL loaders, pass the same string as a schema source
 * (`schema: [ipRiskTypeDefs, './schema.graphql']` in `codegen.ts`).
 *
 * - `@requireLowRisk(threshold: Int!)`: block when the caller's score is at or above `threshold`
 *   (`policies.lowRisk(threshold)`);
 * - `@requireHuman`: block Tor exit nodes and scores of 80 or more (`policies.human`);
 * - `@requireNotBot`: block Tor, datacenter IPs scoring over 60 and scores of 85 or more (`policies.notBot`);
 * - `@ipRisk(policy: IpRiskPolicy!)`: apply a preset (`BASELINE`, `HUMAN`, `NOT_BOT`, `ADMIN`; see
 *   {@link ipRiskPolicyPresets}).
 *
 * @example
 * ```ts
 * import { createSchema } from 'graphql-yoga'
 * import { ipRiskTypeDefs } from 'iprisk/envelop'
 *
 * const schema = createSchema({
 *   typeDefs: [ipRiskTypeDefs, 'type Mutation { signup(email: String!): Boolean! @requireHuman }'],
 *   resolvers,
 * })
 * ```
 */
export const ipRiskTypeDefs = /* GraphQL */ `"""
iprisk: block the field (or every field of the type) when the caller's IP risk score is at or above \`threshold\` (0-100).
"""
directive @requireLowRisk(threshold: Int!) on FIELD_DEFINITION | OBJECT | INTERFACE

"""
iprisk: only humans (the guide's require_human): block Tor exit nodes and IPs scoring 80 or more.
"""
directive @requireHuman on FIELD_DEFINITION | OBJECT | INTERFACE

"""
iprisk: block automated clients (the guide's IsNotBot): Tor, datacenter IPs scoring over 60, and IPs scoring 85 or more.
"""
directive @requireNotBot on FIELD_DEFINITION | OBJECT | INTERFACE

"""
iprisk: the built-in policy presets.
"""
enum IpRiskPolicy {
  "Block IPs scoring 90 or more (the guide's global middleware)."
  BASELINE
  "Tor, or a score of 80 or more."
  HUMAN
  "Tor, datacenter IPs scoring over 60, or a score of 85 or more."
  NOT_BOT
  "Tor, VPN, datacenter IPs scoring over 40, or a score of 60 or more (the guide's admin protection)."
  ADMIN
}

"""
iprisk: apply one of the preset policies to the field (or every field of the type).
"""
directive @ipRisk(policy: IpRiskPolicy!) on FIELD_DEFINITION | OBJECT | INTERFACE
`

/**
 * `@requireLowRisk(threshold: Int!)` alone.
 *
 * @deprecated Use {@link ipRiskTypeDefs}, which declares every iprisk directive; this string goes in the next minor
 *   version.
 */
export const requireLowRiskDirectiveTypeDefs =
  'directive @requireLowRisk(threshold: Int!) on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@requireHuman` alone.
 *
 * @deprecated Use {@link ipRiskTypeDefs}, which declares every iprisk directive; this string goes in the next minor
 *   version.
 */
export const requireHumanDirectiveTypeDefs = 'directive @requireHuman on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@requireNotBot` alone.
 *
 * @deprecated Use {@link ipRiskTypeDefs}, which declares every iprisk directive; this string goes in the next minor
 *   version.
 */
export const requireNotBotDirectiveTypeDefs = 'directive @requireNotBot on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@ipRisk(policy: IpRiskPolicy!)` and its enum alone.
 *
 * @deprecated Use {@link ipRiskTypeDefs}, which declares every iprisk directive; this string goes in the next minor
 *   version.
 */
export const ipRiskDirectiveTypeDefs = `enum IpRiskPolicy {
  BASELINE
  HUMAN
  NOT_BOT
  ADMIN
}

directive @ipRisk(policy: IpRiskPolicy!) on FIELD_DEFINITION | OBJECT | INTERFACE`

/**
 * The `IpRiskPolicy` enum values of `@ipRisk(policy: ...)` and the preset each stands for.
 *
 * @example
 * ```ts
 * ipRiskPolicyPresets.ADMIN === policies.admin // true
 * ```
 */
export const ipRiskPolicyPresets = Object.freeze({
  BASELINE: policies.baseline,
  HUMAN: policies.human,
  NOT_BOT: policies.notBot,
  ADMIN: policies.admin,
})
