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
  type DefinitionNode,
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

/**
 * The operation a request runs, when the document and the operation name determine exactly one, by graphql-js's own
 * rules (`execute` / `subscribe`): no name (`null` or `undefined`) selects the document's only operation; a name (any
 * string, `""` included: no operation is named `""`) selects the operation of that name. `null` when they determine
 * none: no operation, several and no name, an unknown name, or a name defined twice (a document that skipped
 * validation: graphql-js's `execute` then runs the last of them while its `getOperationAST` returns the first, so
 * neither is a safe single answer). {@link OperationAnalyzer} analyses such a request as all the operations at once.
 */
function findOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | null {
  let found: OperationDefinitionNode | null = null
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    if (operationName == null || definition.name?.value === operationName) {
      if (found !== null) return null
      found = definition
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

/** One analysis slot: an operation of a document, or (`operation: null`) all of them. */
interface Slot {
  readonly operation: OperationDefinitionNode | null
  analysis: OperationAnalysis | undefined
}

/**
 * The analyses of one document, indexed once when the document is first seen: one slot per operation definition and
 * one for "all operations". Names select slots through `named`, built from the document's own definitions, so a name
 * the document does not define finds no entry and creates none.
 */
interface DocumentAnalyses {
  /** A request without operation name: the document's only operation, else `all`. */
  readonly unnamed: Slot
  /** The slot each name defined in the document selects (`all` for a name defined twice). */
  readonly named: ReadonlyMap<string, Slot>
  /** Every operation at once: requests that select no single operation. */
  readonly all: Slot
  /** One slot per operation definition, in document order. */
  readonly operations: readonly Slot[]
  /** The document's other definitions (fragments), for the single-operation views. */
  readonly others: readonly DefinitionNode[]
}

function indexDocument(document: DocumentNode): DocumentAnalyses {
  const all: Slot = { operation: null, analysis: undefined }
  const named = new Map<string, Slot>()
  const operations: Slot[] = []
  const others: DefinitionNode[] = []
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) {
      others.push(definition)
      continue
    }
    const slot: Slot = { operation: definition, analysis: undefined }
    operations.push(slot)
    const name = definition.name?.value
    if (name !== undefined) named.set(name, named.has(name) ? all : slot)
  }
  const unnamed = operations.length === 1 ? (operations[0] as Slot) : all
  return { unnamed, named, all, operations, others }
}

/** Every operation's protected fields at once; no operation type (execution resolves no single operation). */
function unionOf(analyses: readonly OperationAnalysis[]): OperationAnalysis {
  const selections = analyses.flatMap((analysis) => analysis.selections)
  return Object.freeze({
    operationType: null,
    rootTypeName: null,
    selections: Object.freeze(selections),
    conditional: analyses.some((analysis) => analysis.conditional),
    conservative: analyses.some((analysis) => analysis.conservative),
    // Never true for a document without operations: the plugin-wide policy still applies (the safe side).
    introspectionOnly: analyses.length > 0 && analyses.every((analysis) => analysis.introspectionOnly),
  })
}

/**
 * Caches analyses per document and per operation that will execute. One cache per {@link SchemaProtection}.
 *
 * - The operation is resolved like graphql-js's execution resolves it (see `findOperation`): the slot is the
 *   operation's, never the raw `operationName`'s, so `""`, `null` and an absent name cannot share an entry unless
 *   they select the same operation.
 * - A request whose name selects no single operation (unknown name, `""`, no name in a document with several
 *   operations, a name defined twice) is analysed as the union of all the document's operations. graphql-js answers it
 *   with an error without executing anything, so for graphql-js this changes nothing (a caller the policies allow
 *   gets graphql-js's own error); an engine with other selection rules can only run one of the document's
 *   operations, and all of them are enforced. It is never "nothing to protect".
 * - Bounds: documents are held weakly (a WeakMap: the analyzer never keeps a document alive, so it holds at most the
 *   documents the application itself keeps, e.g. Yoga's parse cache of 1,024); per document at most one analysis per
 *   operation definition plus one union, whatever names requests send. Each analysis is proportional to its
 *   operation's size (see {@link ANALYSIS_BUDGET}).
 */
export class OperationAnalyzer {
  readonly #documents = new WeakMap<DocumentNode, DocumentAnalyses>()

  constructor(readonly protection: SchemaProtection) {}

  analyze(document: DocumentNode, operationName: string | null | undefined): OperationAnalysis {
    let entry = this.#documents.get(document)
    if (entry === undefined) this.#documents.set(document, (entry = indexDocument(document)))
    const slot = operationName == null ? entry.unnamed : (entry.named.get(operationName) ?? entry.all)
    return (slot.analysis ??= this.#analyzeSlot(entry, slot))
  }

  /**
   * Test hook: how many analyses this analyzer holds for `document` (at most its operation definitions plus one). Not
   * part of the public API.
   *
   * @example
   * ```ts
   * for (let i = 0; i < 1000; i++) analyzer.analyze(document, `op${i}`)
   * expect(analyzer.cachedAnalyses(document)).toBeLessThanOrEqual(operationCount + 1)
   * ```
   */
  cachedAnalyses(document: DocumentNode): number {
    const entry = this.#documents.get(document)
    if (entry === undefined) return 0
    let count = entry.all.analysis === undefined ? 0 : 1
    for (const slot of entry.operations) if (slot.analysis !== undefined) count++
    return count
  }

  #analyzeSlot(entry: DocumentAnalyses, slot: Slot): OperationAnalysis {
    if (slot.operation === null) {
      return unionOf(entry.operations.map((each) => (each.analysis ??= this.#analyzeSlot(entry, each))))
    }
    // A view of the document with this operation alone, so that the analysis runs on exactly this definition (an
    // operation that graphql-js would not select by name, e.g. an anonymous one beside others, is still analysed for
    // the union). Built on a cache miss only.
    const view: DocumentNode = { kind: Kind.DOCUMENT, definitions: [slot.operation, ...entry.others] }
    return analyzeOperation(this.protection, view, undefined)
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
