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
 * The analysis over-approximates what graphql-js can execute (see `walkOperation`): every protected field an operation
 * may run, for any variables, is in {@link OperationAnalysis.selections}, and {@link activeSelections} drops a field
 * only when the request's variables exclude every route to it. A fragment is expanded over the runtime types of each
 * place it is spread: `... on Post { ...F } ...F` analyses `F` for `Post` and again for every type of the scope.
 *
 * Work is bounded, whatever the document: the walk uses an explicit stack (no recursion, so no depth limit of the JS
 * engine), and a document whose fragments expand to more than {@link ANALYSIS_BUDGET} selections (a "fragment bomb")
 * is analysed by a conservative walk instead, which treats every variable `@skip` / `@include` as "included" and
 * expands each fragment once per set of possible types; past the same budget again, by a coarse walk that expands
 * each fragment once per document over all the types of its type condition (linear in the document's size). Both
 * fallbacks can only protect more, never less; the result is cached per document like any other, so a hostile
 * document costs its walk once. No document is refused by the analysis: the answer is the server's own.
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
  type SelectionNode,
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

/**
 * Maximum work of the precise walk for one operation (selections visited, plus conditions copied) before it falls back
 * to the conservative walk; the conservative walk has the same budget before it falls back to the coarse one.
 */
export const ANALYSIS_BUDGET = 10_000

/**
 * Test hook: the budgets of the precise and conservative walks (both default to {@link ANALYSIS_BUDGET}). `0` skips a
 * walk: `{ precise: 0 }` runs the conservative walk, `{ precise: 0, conservative: 0 }` the coarse one. Not part of the
 * public API.
 */
export interface AnalysisLimits {
  /** @default ANALYSIS_BUDGET */
  readonly precise?: number
  /** @default ANALYSIS_BUDGET */
  readonly conservative?: number
}

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

/** A response path under construction: a parent-linked list, shared by the fields below it. */
interface PathNode {
  readonly key: string
  readonly parent: PathNode | null
}

function materialize(path: PathNode | null): string[] {
  const out: string[] = []
  for (let node = path; node !== null; node = node.parent) out.push(node.key)
  return out.reverse()
}

/**
 * A protected field as the walk reports it. Its `path` is materialized on first read (the plugin reads it only for the
 * blocked field), so reporting a field costs O(1) whatever its depth: a document nesting thousands of protected fields
 * would otherwise cost the square of its depth in paths.
 */
class Selection implements ProtectedSelection {
  #path: PathNode | readonly string[]

  constructor(
    path: PathNode,
    readonly coordinate: string,
    readonly policies: readonly Readonly<Policy>[],
    readonly conditions: readonly VariableCondition[],
    readonly node: FieldNode,
  ) {
    this.#path = path
  }

  get path(): readonly string[] {
    const path = this.#path
    if (Array.isArray(path)) return path
    return (this.#path = Object.freeze(materialize(path as PathNode)))
  }
}

/** `'excluded'` when a literal `@skip(if: true)` / `@include(if: false)` removes the selection. */
type Conditions = readonly VariableCondition[] | 'excluded'

/**
 * The three walks, from the most to the least precise; each is sound (see `walkOperation`):
 * - `precise`: variable conditions kept, a fragment expanded at every spread;
 * - `conservative`: variable `@skip` / `@include` count as "included", each (fragment, possible runtime types) is
 *   expanded once per document (its fields are reported at the response path of that first expansion);
 * - `coarse`: like `conservative`, but each fragment is expanded once per document, over every possible runtime type
 *   of its type condition. Each selection of the document is visited at most once: linear, so it needs no budget.
 */
type Mode = 'precise' | 'conservative' | 'coarse'

interface Walk {
  readonly schema: GraphQLSchema
  readonly protection: SchemaProtection
  readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>
  readonly defaults: ReadonlyMap<string, boolean>
  readonly mode: Mode
  /** Remaining work (precise and conservative walks). */
  budget: number
  readonly out: ProtectedSelection[]
  /** Conservative and coarse walks: the fragment expansions already done in the document. */
  readonly expanded: Set<string>
}

/**
 * Reads `@skip` / `@include` like graphql-js's `shouldIncludeNode`: the first directive of each name, and its `if`
 * argument (the last one, as `getArgumentValues` keys them). A literal settles it here; a variable becomes a condition
 * (precise walk) or counts as "included" (the other walks).
 */
function conditionsOf(directives: readonly DirectiveNode[] | undefined, walk: Walk): Conditions {
  if (directives === undefined || directives.length === 0) return EMPTY
  let found: VariableCondition[] | undefined
  let sawSkip = false
  let sawInclude = false
  for (const directive of directives) {
    const name = directive.name.value
    if (name === 'skip') {
      if (sawSkip) continue
      sawSkip = true
    } else if (name === 'include') {
      if (sawInclude) continue
      sawInclude = true
    } else continue
    const arg = directive.arguments?.findLast((a) => a.name.value === 'if')
    if (arg === undefined) continue
    const skip = name === 'skip'
    const value = arg.value
    if (value.kind === Kind.BOOLEAN) {
      if (value.value === skip) return 'excluded'
    } else if (value.kind === Kind.VARIABLE) {
      if (walk.mode !== 'precise') continue
      ;(found ??= []).push({ variable: value.name.value, skip, defaultValue: walk.defaults.get(value.name.value) })
    }
    // Any other literal is invalid (validation rejects it; execution throws before the selection runs): treat it as
    // "included", the safe side.
  }
  return found ?? EMPTY
}

/** `conditions` and `own`, without repeating a condition already on the way (its second copy decides nothing). */
function withConditions(
  walk: Walk,
  conditions: readonly VariableCondition[],
  own: readonly VariableCondition[],
): readonly VariableCondition[] {
  if (own.length === 0) return conditions
  let out: VariableCondition[] | undefined
  for (const condition of own) {
    const list = out ?? conditions
    if (list.some((c) => c.variable === condition.variable && c.skip === condition.skip)) continue
    if (out === undefined) {
      walk.budget -= conditions.length // the copy is work too: a deep chain of distinct variables is quadratic
      out = [...conditions]
    }
    out.push(condition)
  }
  return out ?? conditions
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

/** The set of possible runtime types, as a key. (Computed each time: `intersect` returns a new array for a scope of
 * several types, so a cache by array would never hit.) */
function scopeKey(scope: readonly GraphQLObjectType[]): string {
  return scope.length === 1 ? (scope[0] as GraphQLObjectType).name : scope.map((t) => t.name).sort().join(',')
}

/**
 * Precise walk: the fragments already expanded in one field's selection set (same response path), by
 * `name|possible runtime types`, with the condition lists they were expanded under.
 */
type FragmentVisits = Map<string, (readonly VariableCondition[])[]>

/** Allocated only for selection sets that contain fragments. */
function newVisits(walk: Walk, selectionSet: SelectionSetNode): FragmentVisits | null {
  if (walk.mode !== 'precise') return null
  for (const selection of selectionSet.selections) if (selection.kind !== Kind.FIELD) return new Map()
  return null
}

/** One selection set being walked: the explicit stack's frame (the walk never recurses, whatever the depth). */
interface Frame {
  readonly selections: readonly SelectionNode[]
  index: number
  /** The object types the selection set may run on (graphql-js collects it once per runtime type). */
  readonly scope: readonly GraphQLObjectType[]
  /** The type the selection set is written on (for coordinates). */
  readonly parentName: string
  readonly path: PathNode | null
  /** Precise walk: the variable conditions on the way; empty in the other walks. */
  readonly conditions: readonly VariableCondition[]
  readonly visits: FragmentVisits | null
}

function newFrame(
  selectionSet: SelectionSetNode,
  scope: readonly GraphQLObjectType[],
  parentName: string,
  path: PathNode | null,
  conditions: readonly VariableCondition[],
  visits: FragmentVisits | null,
): Frame {
  return { selections: selectionSet.selections, index: 0, scope, parentName, path, conditions, visits }
}

/**
 * Walks an operation's selection set with an explicit stack, in document order, and reports every protected field it
 * may execute. Returns `false` when the budget runs out (precise and conservative walks).
 *
 * Soundness: graphql-js executes a field of an object of runtime type `T` only if CollectFields reaches the field's
 * node in a selection set run for `T` (through fragments whose type condition matches `T` and directives that do not
 * exclude it). The walk follows every such route for every `T` the selection set may run on (`scope`): a field is
 * guarded by the policies of every type of its scope, its sub-selection runs on every possible type of its type
 * across the scope, a type condition narrows the scope exactly as `DoesFragmentTypeApply` does, a literal
 * `@skip(if: true)` / `@include(if: false)` is the only thing that cuts a route (a variable one is recorded). graphql-js
 * skips a fragment spread it already expanded in the same field's selection set; the walk does not rely on that (it
 * would only lose routes). It skips an expansion only when it would report exactly what an earlier one reported:
 * - precise: same fragment, same scope, same conditions (by identity), same response path (same field's selection
 *   set). This is what the issue #15 bypass lacked: `... on Post { ...F } ...F` expands `F` over `{Post}` then over
 *   `{Post, User}`; keyed without the scope, the second (wider) expansion was skipped.
 * - conservative: same fragment and scope anywhere in the document: the same fields and policies, reported at the
 *   first path (conditions are not tracked).
 * - coarse: same fragment, expanded over the widest scope it can run on, which covers every narrower one.
 */
function walkOperation(walk: Walk, selectionSet: SelectionSetNode, root: GraphQLObjectType): boolean {
  const budgeted = walk.mode !== 'coarse'
  const stack: Frame[] = [newFrame(selectionSet, [root], root.name, null, EMPTY, newVisits(walk, selectionSet))]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame
    const selection = frame.selections[frame.index++]
    if (selection === undefined) {
      stack.pop()
      continue
    }
    if (budgeted && --walk.budget < 0) return false
    const own = conditionsOf(selection.directives, walk)
    if (own === 'excluded') continue
    const conds = withConditions(walk, frame.conditions, own)
    const { scope } = frame

    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value
      if (name.startsWith('__')) continue // introspection: never protected, and reaches no type of the schema
      const key = selection.alias?.value ?? name
      const fieldPath: PathNode = { key, parent: frame.path }

      let policies: Readonly<Policy>[] | undefined
      let childScope: GraphQLObjectType[] | undefined
      for (const object of scope) {
        const guarded = walk.protection.fields.get(object.name)?.get(name)
        if (guarded !== undefined) {
          if (policies === undefined) policies = [...guarded]
          else for (const p of guarded) if (!policies.includes(p)) policies.push(p)
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
        const coordinate = `${scope.length === 1 ? (scope[0] as GraphQLObjectType).name : frame.parentName}.${name}`
        walk.out.push(new Selection(fieldPath, coordinate, policies, conds, selection))
      }
      if (selection.selectionSet !== undefined && childScope !== undefined) {
        const parentType = walk.schema.getType(frame.parentName)
        const staticField =
          parentType !== undefined && parentType !== null && 'getFields' in parentType
            ? parentType.getFields()[name]
            : undefined
        const childName = staticField !== undefined ? getNamedType(staticField.type).name : (childScope[0]?.name ?? '')
        stack.push(newFrame(selection.selectionSet, childScope, childName, fieldPath, conds, newVisits(walk, selection.selectionSet)))
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      let narrowed = scope
      let name = frame.parentName
      if (selection.typeCondition !== undefined) {
        name = selection.typeCondition.name.value
        narrowed = intersect(scope, possibleObjects(walk.schema, walk.schema.getType(name) ?? undefined))
        if (narrowed.length === 0) continue
      }
      stack.push(newFrame(selection.selectionSet, narrowed, name, frame.path, conds, frame.visits))
    } else {
      const fragmentName = selection.name.value
      const fragment = walk.fragments.get(fragmentName)
      if (fragment === undefined) continue
      const typeName = fragment.typeCondition.name.value
      const condition = possibleObjects(walk.schema, walk.schema.getType(typeName) ?? undefined)
      let narrowed = intersect(scope, condition)
      if (narrowed.length === 0) continue
      if (walk.mode === 'precise') {
        if (frame.visits !== null) {
          const key = `${fragmentName}|${scopeKey(narrowed)}`
          const seen = frame.visits.get(key)
          if (seen === undefined) frame.visits.set(key, [conds])
          else {
            walk.budget -= seen.length // the search is work too: one fragment spread under many condition lists
            if (seen.includes(conds)) continue
            seen.push(conds)
          }
        }
      } else if (walk.mode === 'conservative') {
        const key = `${fragmentName}|${scopeKey(narrowed)}`
        if (walk.expanded.has(key)) continue
        walk.expanded.add(key)
      } else {
        if (walk.expanded.has(fragmentName)) continue
        walk.expanded.add(fragmentName)
        narrowed = condition
      }
      stack.push(newFrame(fragment.selectionSet, narrowed, typeName, frame.path, conds, frame.visits))
    }
  }
  return true
}

/** Whether a selection set holds only `__` fields, through fragments (conditions ignored: the safe side). Iterative. */
function onlyIntrospection(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): boolean {
  const seen = new Set<string>()
  const stack: SelectionSetNode[] = [selectionSet]
  for (let set = stack.pop(); set !== undefined; set = stack.pop()) {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!selection.name.value.startsWith('__')) return false
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        stack.push(selection.selectionSet)
      } else {
        const name = selection.name.value
        if (seen.has(name)) continue
        seen.add(name)
        const fragment = fragments.get(name)
        if (fragment === undefined) return false
        stack.push(fragment.selectionSet)
      }
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

/**
 * Runs one analysis (no cache). Never throws and never recurses: the walk uses an explicit stack, and its work is
 * bounded by {@link ANALYSIS_BUDGET} (precise, then conservative walk) and then by the document's size (coarse walk),
 * whatever the document's depth or fragment structure.
 *
 * @param limits Test hook (see {@link AnalysisLimits}); omit it.
 */
export function analyzeOperation(
  protection: SchemaProtection,
  document: DocumentNode,
  operationName: string | null | undefined,
  limits?: AnalysisLimits,
): OperationAnalysis {
  analysisCount++
  const operation = findOperation(document, operationName)
  if (operation === null) return NO_OPERATION
  const root = rootType(protection.schema, operation)
  if (root == null) return NO_OPERATION
  const operationType = operation.operation as 'query' | 'mutation' | 'subscription'
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const definition of document.definitions) {
    // The last definition of a name wins, as in graphql-js's execution context (a duplicate fails validation).
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
  }
  const introspectionOnly = onlyIntrospection(operation.selectionSet, fragments)
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

  const run = (mode: Mode, budget: number): ProtectedSelection[] | null => {
    const walk: Walk = {
      schema: protection.schema,
      protection,
      fragments,
      defaults,
      mode,
      budget,
      out: [],
      expanded: new Set(),
    }
    return walkOperation(walk, operation.selectionSet, root) ? walk.out : null
  }

  let selections = run('precise', limits?.precise ?? ANALYSIS_BUDGET)
  const conservative = selections === null
  selections ??= run('conservative', limits?.conservative ?? ANALYSIS_BUDGET) ?? (run('coarse', 0) as ProtectedSelection[])
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
