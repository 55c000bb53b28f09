/**
 * One analysis of one operation definition (no cache): its root type, whether it is introspection only, and its
 * protected fields by the precise walk, or past the budget by the conservative and then the coarse walk.
 *
 * @module
 */

import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql'
import type { SchemaProtection } from '../directives/protection.js'
import {
  ANALYSIS_BUDGET,
  EMPTY,
  NO_OPERATION,
  type AnalysisLimits,
  type OperationAnalysis,
  type ProtectedSelection,
} from './model.js'
import { walkOperation, type WalkInput } from './walk.js'

/** A document's fragments by name. The last definition of a name wins, as in graphql-js's execution context. */
export type Fragments = ReadonlyMap<string, FragmentDefinitionNode>

/** A document's fragments by name (a duplicate name fails validation; execution takes the last one, and so do we). */
export function fragmentsOf(document: DocumentNode): Fragments {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
  }
  return fragments
}

/**
 * The number of analyses run in this process: a test hook's counter, written only by {@link analyzeDefinition} and
 * read only by {@link analysisRuns} (no logic depends on it).
 */
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

/** Whether a selection set holds only `__` fields, through fragments (conditions ignored: the safe side). Iterative. */
function onlyIntrospection(selectionSet: SelectionSetNode, fragments: Fragments): boolean {
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

/** The operation's variables with a boolean literal default (what an absent `@skip(if: $v)` variable stands for). */
function booleanDefaults(operation: OperationDefinitionNode): Map<string, boolean> {
  const defaults = new Map<string, boolean>()
  for (const variable of operation.variableDefinitions ?? EMPTY) {
    if (variable.defaultValue?.kind === Kind.BOOLEAN) defaults.set(variable.variable.name.value, variable.defaultValue.value)
  }
  return defaults
}

/** A schema without protected fields: no walk. */
const NOTHING_PROTECTED = Object.freeze({ selections: EMPTY, conservative: false })

/** The precise walk, else (over budget) the conservative one, else the coarse one, which always finishes. */
function protectedSelections(
  input: WalkInput,
  operation: OperationDefinitionNode,
  root: GraphQLObjectType,
  limits: AnalysisLimits | undefined,
): { selections: readonly ProtectedSelection[]; conservative: boolean } {
  const set = operation.selectionSet
  const precise = walkOperation(input, 'precise', limits?.precise ?? ANALYSIS_BUDGET, set, root)
  if (precise !== null) return { selections: precise, conservative: false }
  const selections =
    walkOperation(input, 'conservative', limits?.conservative ?? ANALYSIS_BUDGET, set, root) ??
    (walkOperation(input, 'coarse', 0, set, root) as ProtectedSelection[])
  return { selections, conservative: true }
}

/**
 * Runs one analysis of `operation` (no cache); `null` (no operation to run) gives the analysis of nothing. Never
 * throws and never recurses: the walk uses an explicit stack, and its work is bounded by {@link ANALYSIS_BUDGET}
 * (precise, then conservative walk) and then by the document's size (coarse walk), whatever the document's depth or
 * fragment structure.
 *
 * @param fragments The fragments of the operation's document ({@link fragmentsOf}).
 * @param limits Test hook (see {@link AnalysisLimits}); omit it.
 */
export function analyzeDefinition(
  protection: SchemaProtection,
  operation: OperationDefinitionNode | null,
  fragments: Fragments,
  limits?: AnalysisLimits,
): OperationAnalysis {
  analysisCount++
  if (operation === null) return NO_OPERATION
  const root = rootType(protection.schema, operation)
  if (root == null) return NO_OPERATION
  const operationType = operation.operation as 'query' | 'mutation' | 'subscription'
  const introspectionOnly = onlyIntrospection(operation.selectionSet, fragments)
  const { selections, conservative } = protection.any
    ? protectedSelections({ protection, fragments, defaults: booleanDefaults(operation) }, operation, root, limits)
    : NOTHING_PROTECTED
  return Object.freeze({
    operationType,
    rootTypeName: root.name,
    selections: Object.freeze(selections),
    conditional: selections.some((s) => s.conditions.length > 0),
    conservative,
    introspectionOnly,
  })
}
