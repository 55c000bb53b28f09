/**
 * Which protected fields an operation selects, computed once per (schema, document, operation name) and cached.
 *
 * The analysis walks the operation like graphql-js's field collection does (named and inline fragments, type
 * conditions, aliases, `@skip` / `@include`), but over the *possible runtime types* of each selection: a field
 * selected on an interface or a union is guarded by the policies of every object type it may resolve to, so a type's
 * directive cannot be bypassed through a fragment on an abstract type. `@skip` / `@include` with a literal argument are
 * settled here; with a variable, the protected field records the condition and {@link activeSelections} settles it per
 * request (only for documents that have such conditions). Introspection fields (`__schema`, `__type`, `__typename`)
 * are never protected.
 *
 * Work is bounded: a document whose fragments expand to more than {@link ANALYSIS_BUDGET} selections (a "fragment
 * bomb") is analysed by a linear, conservative walk instead, which treats every variable `@skip` / `@include` as
 * "included". This can only protect more, never less.
 *
 * @module
 */

import {
  getNamedType,
  isAbstractType,
  isObjectType,
  Kind,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql'
import type { Policy } from '../core/types.js'
import type { SchemaProtection } from './directives.js'

/** A variable-driven `@skip(if: $v)` (`skip: true`) or `@include(if: $v)` (`skip: false`) on the way to a field. */
export interface VariableCondition {
  readonly variable: string
  readonly skip: boolean
  /** The operation's default for the variable, when it is a boolean literal. */
  readonly defaultValue: boolean | undefined
}

/** One protected field as selected by an operation. */
export interface ProtectedSelection {
  /** Response path (aliases, not field names), without list indices: `['admin', 'people']`. */
  readonly path: readonly string[]
  /** Schema coordinate for logs and events: `Mutation.signup`, or `Node.secret` when selected on an abstract type. */
  readonly coordinate: string
  /** The compiled policies guarding the field (non-empty, deduplicated). */
  readonly policies: readonly Readonly<Policy>[]
  /** All must hold for the field to be executed; empty when unconditional. */
  readonly conditions: readonly VariableCondition[]
  /** The field in the document (gives the error its location). */
  readonly node: FieldNode
}

/** What an operation selects, as far as protection is concerned. */
export interface OperationAnalysis {
  /** `query`, `mutation` or `subscription`; `null` when the document has no such operation (execution will fail). */
  readonly operationType: 'query' | 'mutation' | 'subscription' | null
  /** The root type name (`Query`, `Mutation`, ...), or `null`. */
  readonly rootTypeName: string | null
  /** Protected fields in document order. */
  readonly selections: readonly ProtectedSelection[]
  /** True when some selection depends on variables (per-request evaluation needed). */
  readonly conditional: boolean
  /** True when the document exceeded the budget and was analysed conservatively. */
  readonly conservative: boolean
  /**
   * True when the operation selects nothing but introspection (`__schema`, `__type`, `__typename`) at its root: such
   * an operation is never blocked, not even by the plugin-wide policy.
   */
  readonly introspectionOnly: boolean
}

/** Maximum number of selections the precise walk may visit for one operation before falling back. */
export const ANALYSIS_BUDGET = 10_000

const EMPTY: readonly never[] = Object.freeze([])
const NO_OPERATION: OperationAnalysis = Object.freeze({
  operationType: null,
  rootTypeName: null,
  selections: EMPTY,
  conditional: false,
  conservative: false,
  introspectionOnly: false,
})

let analysisCount = 0

/**
 * Test hook: how many analyses (cache misses) have run in this process. Not part of the public API.
 *
 * @example
 * ```ts
 * const before = analysisRuns()
 * await yoga.fetch(...) // twice, same query
 * expect(analysisRuns() - before).toBe(1)
 * ```
 */
export function analysisRuns(): number {
  return analysisCount
}

/** Thrown inside the precise walk when the budget is spent. */
class BudgetExceeded extends Error {}

/** A response path under construction: a parent-linked list, materialized only for protected fields. */
interface PathNode {
  readonly key: string
  readonly parent: PathNode | null
}

function materialize(path: PathNode | null): string[] {
  const out: string[] = []
  for (let node = path; node !== null; node = node.parent) out.push(node.key)
  return out.reverse()
}

/** `'excluded'` when a literal `@skip(if: true)` / `@include(if: false)` removes the selection. */
type Conditions = readonly VariableCondition[] | 'excluded'

interface Walk {
  readonly schema: GraphQLSchema
  readonly protection: SchemaProtection
  readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>
  readonly defaults: ReadonlyMap<string, boolean>
  readonly out: ProtectedSelection[]
  /** Precise mode: remaining budget. Conservative mode: fragment expansions already done (`name|scope`). */
  budget: number
  readonly conservative: boolean
  readonly expanded: Set<string>
}

function conditionsOf(directives: readonly DirectiveNode[] | undefined, walk: Walk): Conditions {
  if (directives === undefined || directives.length === 0) return EMPTY
  let found: VariableCondition[] | undefined
  for (const directive of directives) {
    const name = directive.name.value
    if (name !== 'skip' && name !== 'include') continue
    const arg = directive.arguments?.find((a) => a.name.value === 'if')
    if (arg === undefined) continue
    const skip = name === 'skip'
    const value = arg.value
    if (value.kind === Kind.BOOLEAN) {
      if (value.value === skip) return 'excluded'
    } else if (value.kind === Kind.VARIABLE) {
      const variable = value.name.value
      // The conservative walk keeps only literal exclusions: a variable condition counts as "included".
      if (walk.conservative) continue
      ;(found ??= []).push({ variable, skip, defaultValue: walk.defaults.get(variable) })
    }
    // Any other literal is invalid (validation rejects it): treat it as "included", the safe side.
  }
  return found ?? EMPTY
}

function possibleObjects(schema: GraphQLSchema, type: GraphQLNamedType | undefined): readonly GraphQLObjectType[] {
  if (type === undefined) return EMPTY
  if (isObjectType(type)) return [type]
  if (isAbstractType(type)) return schema.getPossibleTypes(type)
  return EMPTY
}

function intersect(
  scope: readonly GraphQLObjectType[],
  allowed: readonly GraphQLObjectType[],
): readonly GraphQLObjectType[] {
  if (scope.length === 1 && allowed.includes(scope[0] as GraphQLObjectType)) return scope
  return scope.filter((t) => allowed.includes(t))
}

/** Fragments already expanded in one selection set, with the condition lists they were expanded under. */
type FragmentVisits = Map<string, (readonly VariableCondition[])[]>

/** Allocated only for selection sets that contain fragments. */
function newVisits(selectionSet: SelectionSetNode): FragmentVisits | null {
  for (const selection of selectionSet.selections) if (selection.kind !== Kind.FIELD) return new Map()
  return null
}

function walkSelectionSet(
  walk: Walk,
  selectionSet: SelectionSetNode,
  scope: readonly GraphQLObjectType[],
  parentName: string,
  path: PathNode | null,
  conditions: readonly VariableCondition[],
  visitedHere: FragmentVisits | null,
): void {
  for (const selection of selectionSet.selections) {
    if (!walk.conservative && --walk.budget < 0) throw new BudgetExceeded()
    const own = conditionsOf(selection.directives, walk)
    if (own === 'excluded') continue
    const conds = own.length === 0 ? conditions : conditions.length === 0 ? own : [...conditions, ...own]

    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value
      if (name.startsWith('__')) continue
      const key = selection.alias?.value ?? name
      const fieldPath: PathNode = { key, parent: path }

      let policies: Readonly<Policy>[] | undefined
      let childScope: GraphQLObjectType[] | undefined
      for (const object of scope) {
        const own = walk.protection.fields.get(object.name)?.get(name)
        if (own !== undefined) {
          if (policies === undefined) policies = [...own]
          else for (const p of own) if (!policies.includes(p)) policies.push(p)
        }
        if (selection.selectionSet !== undefined) {
          const def = object.getFields()[name]
          if (def === undefined) continue
          for (const t of possibleObjects(walk.schema, getNamedType(def.type))) {
            if (childScope === undefined) childScope = [t]
            else if (!childScope.includes(t)) childScope.push(t)
          }
        }
      }
      if (policies !== undefined) {
        walk.out.push({
          path: materialize(fieldPath),
          coordinate: `${scope.length === 1 ? (scope[0] as GraphQLObjectType).name : parentName}.${name}`,
          policies,
          conditions: conds,
          node: selection,
        })
      }
      if (selection.selectionSet !== undefined && childScope !== undefined) {
        const parentType = walk.schema.getType(parentName)
        const staticField =
          parentType !== undefined && 'getFields' in parentType ? parentType.getFields()[name] : undefined
        const childName = staticField !== undefined ? getNamedType(staticField.type).name : (childScope[0]?.name ?? '')
        walkSelectionSet(walk, selection.selectionSet, childScope, childName, fieldPath, conds, newVisits(selection.selectionSet))
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      let narrowed = scope
      let name = parentName
      if (selection.typeCondition !== undefined) {
        name = selection.typeCondition.name.value
        narrowed = intersect(scope, possibleObjects(walk.schema, walk.schema.getType(name) ?? undefined))
        if (narrowed.length === 0) continue
      }
      walkSelectionSet(walk, selection.selectionSet, narrowed, name, path, conds, visitedHere)
    } else {
      const fragmentName = selection.name.value
      const fragment = walk.fragments.get(fragmentName)
      if (fragment === undefined) continue
      const typeName = fragment.typeCondition.name.value
      const narrowed = intersect(scope, possibleObjects(walk.schema, walk.schema.getType(typeName) ?? undefined))
      if (narrowed.length === 0) continue
      // Like graphql-js, a fragment is expanded once per selection set (here: once per set of conditions, compared by
      // identity, which is cheap and can only walk more). The conservative walk expands each (fragment, possible
      // types) once per document, which makes it linear.
      if (walk.conservative) {
        const key = `${fragmentName}|${narrowed.map((t) => t.name).join(',')}`
        if (walk.expanded.has(key)) continue
        walk.expanded.add(key)
      } else if (visitedHere !== null) {
        const seen = visitedHere.get(fragmentName)
        if (seen === undefined) visitedHere.set(fragmentName, [conds])
        else if (seen.includes(conds)) continue
        else seen.push(conds)
      }
      walkSelectionSet(walk, fragment.selectionSet, narrowed, typeName, path, conds, visitedHere)
    }
  }
}

/** Whether a selection set holds only `__` fields, through fragments (conditions ignored: the safe side). */
function onlyIntrospection(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  seen: Set<string>,
): boolean {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!selection.name.value.startsWith('__')) return false
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (!onlyIntrospection(selection.selectionSet, fragments, seen)) return false
    } else {
      const name = selection.name.value
      if (seen.has(name)) continue
      seen.add(name)
      const fragment = fragments.get(name)
      if (fragment === undefined) return false
      if (!onlyIntrospection(fragment.selectionSet, fragments, seen)) return false
    }
  }
  return true
}

function findOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | null {
  let found: OperationDefinitionNode | null = null
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    if (operationName == null) {
      if (found !== null) return null // several operations and no name: execution rejects the request
      found = definition
    } else if (definition.name?.value === operationName) {
      return definition
    }
  }
  return found
}

function rootType(schema: GraphQLSchema, operation: OperationDefinitionNode): GraphQLObjectType | null | undefined {
  switch (operation.operation) {
    case 'query':
      return schema.getQueryType()
    case 'mutation':
      return schema.getMutationType()
    case 'subscription':
      return schema.getSubscriptionType()
    default:
      return null
  }
}

/** Runs one analysis (no cache). */
export function analyzeOperation(
  protection: SchemaProtection,
  document: DocumentNode,
  operationName: string | null | undefined,
): OperationAnalysis {
  analysisCount++
  const operation = findOperation(document, operationName)
  if (operation === null) return NO_OPERATION
  const root = rootType(protection.schema, operation)
  if (root == null) return NO_OPERATION
  const operationType = operation.operation as 'query' | 'mutation' | 'subscription'
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
  }
  const introspectionOnly = onlyIntrospection(operation.selectionSet, fragments, new Set())
  if (!protection.any) {
    return Object.freeze({
      operationType,
      rootTypeName: root.name,
      selections: EMPTY,
      conditional: false,
      conservative: false,
      introspectionOnly,
    })
  }

  const defaults = new Map<string, boolean>()
  for (const variable of operation.variableDefinitions ?? EMPTY) {
    if (variable.defaultValue?.kind === Kind.BOOLEAN) defaults.set(variable.variable.name.value, variable.defaultValue.value)
  }

  const run = (conservative: boolean): ProtectedSelection[] => {
    const walk: Walk = {
      schema: protection.schema,
      protection,
      fragments,
      defaults,
      out: [],
      budget: ANALYSIS_BUDGET,
      conservative,
      expanded: new Set(),
    }
    walkSelectionSet(walk, operation.selectionSet, [root], root.name, null, EMPTY, newVisits(operation.selectionSet))
    return walk.out
  }

  let selections: ProtectedSelection[]
  let conservative = false
  try {
    selections = run(false)
  } catch (error) {
    if (!(error instanceof BudgetExceeded)) throw error
    conservative = true
    selections = run(true)
  }
  return Object.freeze({
    operationType,
    rootTypeName: root.name,
    selections: Object.freeze(selections),
    conditional: selections.some((s) => s.conditions.length > 0),
    conservative,
    introspectionOnly,
  })
}

/**
 * Caches analyses per document (WeakMap: a document dropped by the application's parse cache is collected) and
 * operation name. One cache per {@link SchemaProtection}.
 */
export class OperationAnalyzer {
  readonly #cache = new WeakMap<DocumentNode, Map<string, OperationAnalysis>>()

  constructor(readonly protection: SchemaProtection) {}

  analyze(document: DocumentNode, operationName: string | null | undefined): OperationAnalysis {
    const key = operationName ?? ''
    let byName = this.#cache.get(document)
    const hit = byName?.get(key)
    if (hit !== undefined) return hit
    const analysis = analyzeOperation(this.protection, document, operationName)
    if (byName === undefined) this.#cache.set(document, (byName = new Map()))
    byName.set(key, analysis)
    return analysis
  }
}

function holds(condition: VariableCondition, variables: Readonly<Record<string, unknown>> | null | undefined): boolean {
  let value = variables?.[condition.variable]
  if (value === undefined) value = condition.defaultValue
  // Only a definite boolean excludes the field: anything else either fails variable coercion (execution never
  // starts) or leaves the field in, so the safe answer is "selected".
  return condition.skip ? value !== true : value !== false
}

/**
 * The protected fields this request will actually execute, given its variables. Returns the cached array itself
 * when no selection depends on variables (no allocation on the common path).
 */
export function activeSelections(
  analysis: OperationAnalysis,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): readonly ProtectedSelection[] {
  if (!analysis.conditional) return analysis.selections
  return analysis.selections.filter((selection) => selection.conditions.every((c) => holds(c, variables)))
}
