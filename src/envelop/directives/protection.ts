/**
 * The protection map of a schema, read ONCE per schema from the iprisk directives and from the code-first
 * `fieldPolicies` option, folded onto object types so that the analysis reads one map per field.
 *
 * @module
 */

import {
  isInterfaceType,
  isObjectType,
  type GraphQLInterfaceType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql'
import { IpRiskConfigError } from '../../core/errors.js'
import type { Policy } from '../../core/types.js'

/** Compiles one policy once (the request kernel's `compile`), naming `option` in any error. */
export type PolicyCompiler = (policy: Policy, option: string) => Readonly<Policy>
import { DirectiveReader } from './read.js'

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

function addUnique(target: Readonly<Policy>[], items: readonly Readonly<Policy>[]): void {
  for (const item of items) if (!target.includes(item)) target.push(item)
}

/** The policies attached to object and interface types as a whole, and to their single fields, as written. */
class AttachedPolicies {
  readonly #typeLevel = new Map<string, Readonly<Policy>[]>()
  readonly #fieldLevel = new Map<string, Map<string, Readonly<Policy>[]>>()

  addType(typeName: string, found: readonly Readonly<Policy>[]): void {
    if (found.length === 0) return
    const list = this.#typeLevel.get(typeName)
    if (list === undefined) this.#typeLevel.set(typeName, [...found])
    else addUnique(list, found)
  }

  addField(typeName: string, fieldName: string, found: readonly Readonly<Policy>[]): void {
    if (found.length === 0) return
    let byField = this.#fieldLevel.get(typeName)
    if (byField === undefined) this.#fieldLevel.set(typeName, (byField = new Map()))
    const list = byField.get(fieldName)
    if (list === undefined) byField.set(fieldName, [...found])
    else addUnique(list, found)
  }

  /** Every policy guarding `fieldName` of `type`: its own and its type's, and those of its interfaces. */
  guarding(type: GraphQLObjectType, fieldName: string): Readonly<Policy>[] {
    const list: Readonly<Policy>[] = []
    for (const source of [type, ...type.getInterfaces()]) {
      const own = this.#fieldLevel.get(source.name)?.get(fieldName)
      if (own !== undefined) addUnique(list, own)
      const whole = this.#typeLevel.get(source.name)
      if (whole !== undefined) addUnique(list, whole)
    }
    return list
  }
}

/** The schema's own object and interface types (no `__` introspection type), in the schema's order. */
function directableTypes(schema: GraphQLSchema): (GraphQLObjectType | GraphQLInterfaceType)[] {
  const out: (GraphQLObjectType | GraphQLInterfaceType)[] = []
  for (const type of Object.values(schema.getTypeMap())) {
    if (!type.name.startsWith('__') && (isObjectType(type) || isInterfaceType(type))) out.push(type)
  }
  return out
}

function readDirectives(schema: GraphQLSchema, compile: PolicyCompiler, attached: AttachedPolicies): void {
  const reader = new DirectiveReader(schema, compile)
  for (const type of directableTypes(schema)) {
    attached.addType(type.name, reader.policiesOf(type, type.name))
    for (const [fieldName, field] of Object.entries(type.getFields())) {
      attached.addField(type.name, fieldName, reader.policiesOf(field, `${type.name}.${fieldName}`))
    }
  }
}

const COORDINATE = /^([_A-Za-z][_0-9A-Za-z]*)(?:\.([_A-Za-z][_0-9A-Za-z]*))?$/

function readFieldPolicy(
  schema: GraphQLSchema,
  key: string,
  policy: Policy,
  compile: PolicyCompiler,
  attached: AttachedPolicies,
): void {
  const option = `fieldPolicies.${key}`
  const match = COORDINATE.exec(key)
  if (match === null) throw new IpRiskConfigError(option, 'must be a schema coordinate: `Type` or `Type.field`')
  const [, typeName = '', fieldName] = match
  const type: GraphQLNamedType | undefined = schema.getType(typeName) ?? undefined
  if (type === undefined || typeName.startsWith('__')) {
    throw new IpRiskConfigError(option, `the schema has no type \`${typeName}\``)
  }
  if (!isObjectType(type) && !isInterfaceType(type)) {
    throw new IpRiskConfigError(option, `\`${typeName}\` is not an object or interface type`)
  }
  const compiled = compile(policy, option)
  if (fieldName === undefined) return attached.addType(typeName, [compiled])
  if (type.getFields()[fieldName] === undefined) {
    throw new IpRiskConfigError(option, `the type \`${typeName}\` has no field \`${fieldName}\``)
  }
  attached.addField(typeName, fieldName, [compiled])
}

function readFieldPolicies(
  schema: GraphQLSchema,
  fieldPolicies: FieldPolicies,
  compile: PolicyCompiler,
  attached: AttachedPolicies,
): void {
  if (typeof fieldPolicies !== 'object' || fieldPolicies === null) {
    throw new IpRiskConfigError('fieldPolicies', 'must be an object mapping `Type` or `Type.field` to a policy')
  }
  for (const key of Object.keys(fieldPolicies)) readFieldPolicy(schema, key, fieldPolicies[key] as Policy, compile, attached)
}

/** Folds everything onto object types: their own field and type policies, plus those of their interfaces. */
function foldOntoObjects(schema: GraphQLSchema, attached: AttachedPolicies): SchemaProtection {
  const result = new Map<string, Map<string, readonly Readonly<Policy>[]>>()
  for (const type of directableTypes(schema)) {
    if (!isObjectType(type)) continue
    let byField: Map<string, readonly Readonly<Policy>[]> | undefined
    for (const fieldName of Object.keys(type.getFields())) {
      const list = attached.guarding(type, fieldName)
      if (list.length === 0) continue
      if (byField === undefined) result.set(type.name, (byField = new Map()))
      byField.set(fieldName, Object.freeze(list))
    }
  }
  return { schema, fields: result, any: result.size > 0 }
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
  const attached = new AttachedPolicies()
  readDirectives(schema, compile, attached)
  if (fieldPolicies !== undefined) readFieldPolicies(schema, fieldPolicies, compile, attached)
  return foldOntoObjects(schema, attached)
}
