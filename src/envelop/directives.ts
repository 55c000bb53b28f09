/**
 * The schema side of the GraphQL adapter: the directive SDL, and the protection map read ONCE per schema from the
 * directives (`@requireLowRisk`, `@requireHuman`, `@requireNotBot`, `@ipRisk`) and from the code-first
 * `fieldPolicies` option. Nothing here runs per request.
 *
 * @module
 */

import { getDirectiveExtensions } from '@graphql-tools/utils'
import {
  isInterfaceType,
  isObjectType,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql'
import { IpRiskConfigError } from '../core/errors.js'
import { compilePolicy, policies } from '../core/policy.js'
import type { Policy, RiskResolver } from '../core/types.js'

// ---------------------------------------------------------------------------------------------------------------------
// SDL
// ---------------------------------------------------------------------------------------------------------------------

/**
 * `@requireLowRisk(threshold: Int!)`: block when the caller's score is at or above `threshold` (the guide's
 * `require_low_risk`; policy `policies.lowRisk(threshold)`).
 *
 * @example
 * ```graphql
 * type Mutation { login(email: String!, password: String!): Session! @requireLowRisk(threshold: 75) }
 * ```
 */
export const requireLowRiskDirectiveTypeDefs =
  'directive @requireLowRisk(threshold: Int!) on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@requireHuman`: block Tor exit nodes and scores of 80 or more (the guide's `require_human`; `policies.human`).
 *
 * @example
 * ```graphql
 * type Mutation { signup(email: String!): User! @requireHuman }
 * ```
 */
export const requireHumanDirectiveTypeDefs = 'directive @requireHuman on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@requireNotBot`: block Tor, datacenter IPs scoring over 60 and scores of 85 or more (the guide's `IsNotBot`;
 * `policies.notBot`).
 *
 * @example
 * ```graphql
 * type Query { search(q: String!): [Result!]! @requireNotBot }
 * ```
 */
export const requireNotBotDirectiveTypeDefs = 'directive @requireNotBot on FIELD_DEFINITION | OBJECT | INTERFACE'

/**
 * `@ipRisk(policy: IpRiskPolicy!)` and its enum: apply a preset (`BASELINE`, `HUMAN`, `NOT_BOT`, `ADMIN`).
 *
 * @example
 * ```graphql
 * type AdminQuery @ipRisk(policy: ADMIN) { users: [User!]! }
 * ```
 */
export const ipRiskDirectiveTypeDefs = `enum IpRiskPolicy {
  BASELINE
  HUMAN
  NOT_BOT
  ADMIN
}

directive @ipRisk(policy: IpRiskPolicy!) on FIELD_DEFINITION | OBJECT | INTERFACE`

/**
 * Every iprisk directive (and the `IpRiskPolicy` enum), with descriptions: add it to your schema's type definitions.
 * The same text ships as `src/envelop/directives.graphql` for GraphQL Code Generator and other SDL loaders.
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
export const ipRiskTypeDefs = `"""
iprisk: block the field (or every field of the type) when the caller's IP risk score is at or above \`threshold\` (0-100).
"""
${requireLowRiskDirectiveTypeDefs}

"""
iprisk: only humans (the guide's require_human): block Tor exit nodes and IPs scoring 80 or more.
"""
${requireHumanDirectiveTypeDefs}

"""
iprisk: block automated clients (the guide's IsNotBot): Tor, datacenter IPs scoring over 60, and IPs scoring 85 or more.
"""
${requireNotBotDirectiveTypeDefs}

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

// ---------------------------------------------------------------------------------------------------------------------
// Protection map
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Code-first policies. A field is named by its schema coordinate: `'Type.field'` guards one field, `'Type'` every field
 * of an object type, or of every type implementing an interface.
 *
 * @example
 * ```ts
 * const fieldPolicies: FieldPolicies = { 'Mutation.signup': policies.human, AdminQuery: policies.admin }
 * ```
 */
export type FieldPolicies = Readonly<Record<string, Policy>>

/** How policies are compiled: once per distinct policy, with the plugin-wide `monitor` / `failMode` applied. */
export interface PolicyCompiler {
  (policy: Policy, option: string): Readonly<Policy>
}

/**
 * The protection read from one schema: for each object type, the policies guarding each of its fields (deduplicated,
 * all compiled). Only protected fields appear. Abstract types are resolved to their possible object types by the
 * analysis, so an interface's or a type's directive cannot be bypassed through a fragment.
 */
export interface SchemaProtection {
  readonly schema: GraphQLSchema
  /** objectTypeName -> fieldName -> policies (non-empty). */
  readonly fields: ReadonlyMap<string, ReadonlyMap<string, readonly Readonly<Policy>[]>>
  /** True when at least one field of the schema is protected. */
  readonly any: boolean
}

/** Collects the policies of one directable schema element (type, interface or field). */
type Directable = GraphQLObjectType | GraphQLInterfaceType | GraphQLField<unknown, unknown>

const DIRECTIVE_NAMES = ['requireLowRisk', 'requireHuman', 'requireNotBot', 'ipRisk'] as const

function readDirectives(element: Directable, schema: GraphQLSchema) {
  return getDirectiveExtensions<{
    requireLowRisk: { threshold?: unknown }
    requireHuman: Record<string, never>
    requireNotBot: Record<string, never>
    ipRisk: { policy?: unknown }
  }>(element, schema)
}

/**
 * Reads the iprisk directives on one schema element. Uses `getDirectiveExtensions` from `@graphql-tools/utils`, which
 * reads SDL directives (`astNode`, `extensionASTNodes`) and code-first `extensions.directives` alike.
 */
function directivePolicies(
  element: Directable,
  coordinate: string,
  schema: GraphQLSchema,
  compile: PolicyCompiler,
  lowRiskCache: Map<number, Readonly<Policy>>,
): Readonly<Policy>[] {
  let found: ReturnType<typeof readDirectives>
  try {
    found = readDirectives(element, schema)
  } catch (error) {
    // An argument graphql cannot coerce (only possible in a schema built without validation).
    throw new IpRiskConfigError(`directives on ${coordinate}`, error instanceof Error ? error.message : String(error))
  }
  const out: Readonly<Policy>[] = []
  for (const name of DIRECTIVE_NAMES) {
    const uses = found[name]
    if (uses === undefined) continue
    for (const args of uses) {
      const option = `@${name} on ${coordinate}`
      if (name === 'requireLowRisk') {
        const threshold = (args as { threshold?: unknown }).threshold
        if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0 || threshold > 100) {
          throw new IpRiskConfigError(
            `${option} (threshold)`,
            `must be an integer from 0 to 100, got ${JSON.stringify(threshold) ?? 'nothing'}`,
          )
        }
        let policy = lowRiskCache.get(threshold)
        if (policy === undefined) {
          policy = compile(policies.lowRisk(threshold), option)
          lowRiskCache.set(threshold, policy)
        }
        out.push(policy)
      } else if (name === 'requireHuman') {
        out.push(compile(policies.human, option))
      } else if (name === 'requireNotBot') {
        out.push(compile(policies.notBot, option))
      } else {
        const preset = (args as { policy?: unknown }).policy
        const policy =
          typeof preset === 'string' && Object.hasOwn(ipRiskPolicyPresets, preset)
            ? ipRiskPolicyPresets[preset as keyof typeof ipRiskPolicyPresets]
            : undefined
        if (policy === undefined) {
          throw new IpRiskConfigError(
            `${option} (policy)`,
            `must be one of ${Object.keys(ipRiskPolicyPresets).join(', ')}, got ${JSON.stringify(preset) ?? 'nothing'}`,
          )
        }
        out.push(compile(policy, option))
      }
    }
  }
  return out
}

function addUnique(target: Readonly<Policy>[], items: readonly Readonly<Policy>[]): void {
  for (const item of items) if (!target.includes(item)) target.push(item)
}

/**
 * Builds a policy compiler that compiles each distinct policy object once through the resolver (`risk.compile`) after
 * applying the plugin-wide overrides: `monitor: true` turns every policy into a dry run, `failMode` fills in
 * `onUnavailable` where a policy has none.
 */
export function createPolicyCompiler(
  resolver: RiskResolver,
  overrides: { monitor: boolean; failMode: 'open' | 'closed' | undefined },
): PolicyCompiler {
  const cache = new Map<Policy, Readonly<Policy>>()
  return (policy, option) => {
    const hit = cache.get(policy)
    if (hit !== undefined) return hit
    if (typeof policy !== 'object' || policy === null) {
      throw new IpRiskConfigError(option, `must be a policy object, got ${policy === null ? 'null' : typeof policy}`)
    }
    let effective: Policy = policy
    if (overrides.monitor && policy.monitor !== true) effective = { ...effective, monitor: true }
    if (overrides.failMode !== undefined && policy.onUnavailable === undefined) {
      effective = { ...effective, onUnavailable: overrides.failMode === 'closed' ? 'block' : 'allow' }
    }
    // Validate with the option's name in any error, then hand the frozen result to the resolver (which may add its
    // own checks); both return an already compiled policy unchanged, so presets keep their identity.
    const compiled = resolver.compile(compilePolicy(effective, option))
    cache.set(policy, compiled)
    return compiled
  }
}

/**
 * Reads the protection of a schema once: directives on object types, interfaces and fields, plus `fieldPolicies`.
 *
 * Rules:
 * - a field's own directives guard it;
 * - an object type's directives guard all its fields;
 * - an interface's directives guard all the fields of every implementing type, and a directive on an interface field
 *   guards the same field on every implementation;
 * - `fieldPolicies` keys work the same way (`'Type'` or `'Type.field'`, on objects or interfaces).
 * Every applicable policy is kept: at request time the strictest decision wins.
 *
 * @throws {IpRiskConfigError} for a `fieldPolicies` key naming no type or field of the schema, or a bad directive
 *   argument (e.g. `@requireLowRisk(threshold: 150)`).
 */
export function readSchemaProtection(
  schema: GraphQLSchema,
  compile: PolicyCompiler,
  fieldPolicies: FieldPolicies | undefined,
): SchemaProtection {
  const lowRiskCache = new Map<number, Readonly<Policy>>()
  // Policies attached to a type as a whole, and to a single field, keyed by type name.
  const typeLevel = new Map<string, Readonly<Policy>[]>()
  const fieldLevel = new Map<string, Map<string, Readonly<Policy>[]>>()

  const addField = (typeName: string, fieldName: string, found: readonly Readonly<Policy>[]) => {
    if (found.length === 0) return
    let byField = fieldLevel.get(typeName)
    if (byField === undefined) fieldLevel.set(typeName, (byField = new Map()))
    const list = byField.get(fieldName)
    if (list === undefined) byField.set(fieldName, [...found])
    else addUnique(list, found)
  }
  const addType = (typeName: string, found: readonly Readonly<Policy>[]) => {
    if (found.length === 0) return
    const list = typeLevel.get(typeName)
    if (list === undefined) typeLevel.set(typeName, [...found])
    else addUnique(list, found)
  }

  const typeMap = schema.getTypeMap()
  for (const typeName of Object.keys(typeMap)) {
    if (typeName.startsWith('__')) continue
    const type = typeMap[typeName]
    if (!isObjectType(type) && !isInterfaceType(type)) continue
    addType(typeName, directivePolicies(type, typeName, schema, compile, lowRiskCache))
    const fields = type.getFields()
    for (const fieldName of Object.keys(fields)) {
      const field = fields[fieldName]
      if (field === undefined) continue
      addField(
        typeName,
        fieldName,
        directivePolicies(field, `${typeName}.${fieldName}`, schema, compile, lowRiskCache),
      )
    }
  }

  if (fieldPolicies !== undefined) {
    if (typeof fieldPolicies !== 'object' || fieldPolicies === null) {
      throw new IpRiskConfigError('fieldPolicies', 'must be an object mapping `Type` or `Type.field` to a policy')
    }
    for (const key of Object.keys(fieldPolicies)) {
      const option = `fieldPolicies.${key}`
      const policy = fieldPolicies[key]
      const match = /^([_A-Za-z][_0-9A-Za-z]*)(?:\.([_A-Za-z][_0-9A-Za-z]*))?$/.exec(key)
      if (match === null) {
        throw new IpRiskConfigError(option, 'must be a schema coordinate: `Type` or `Type.field`')
      }
      const [, typeName = '', fieldName] = match
      const type: GraphQLNamedType | undefined = schema.getType(typeName) ?? undefined
      if (type === undefined || typeName.startsWith('__')) {
        throw new IpRiskConfigError(option, `the schema has no type \`${typeName}\``)
      }
      if (!isObjectType(type) && !isInterfaceType(type)) {
        throw new IpRiskConfigError(option, `\`${typeName}\` is not an object or interface type`)
      }
      const compiled = compile(policy as Policy, option)
      if (fieldName === undefined) {
        addType(typeName, [compiled])
      } else {
        if (type.getFields()[fieldName] === undefined) {
          throw new IpRiskConfigError(option, `the type \`${typeName}\` has no field \`${fieldName}\``)
        }
        addField(typeName, fieldName, [compiled])
      }
    }
  }

  // Fold everything onto object types: their own field and type policies, plus those of their interfaces.
  const result = new Map<string, Map<string, readonly Readonly<Policy>[]>>()
  for (const typeName of Object.keys(typeMap)) {
    const type = typeMap[typeName]
    if (!isObjectType(type) || typeName.startsWith('__')) continue
    const sources: GraphQLNamedType[] = [type, ...type.getInterfaces()]
    const fields = type.getFields()
    let byField: Map<string, readonly Readonly<Policy>[]> | undefined
    for (const fieldName of Object.keys(fields)) {
      const list: Readonly<Policy>[] = []
      for (const source of sources) {
        const own = fieldLevel.get(source.name)?.get(fieldName)
        if (own !== undefined) addUnique(list, own)
        const whole = typeLevel.get(source.name)
        if (whole !== undefined) addUnique(list, whole)
      }
      if (list.length === 0) continue
      if (byField === undefined) result.set(typeName, (byField = new Map()))
      byField.set(fieldName, Object.freeze(list))
    }
  }
  return { schema, fields: result, any: result.size > 0 }
}
