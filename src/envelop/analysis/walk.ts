/**
 * The walk over one operation: an explicit stack (no recursion, so no depth limit of the JS engine) and a work budget,
 * reporting every protected field the operation may execute. Three modes, from the most to the least precise; each is
 * sound (see {@link walkOperation}).
 *
 * @module
 */

import {
  getNamedType,
  isAbstractType,
  isObjectType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql'
import type { Policy } from '../../core/types.js'
import type { SchemaProtection } from '../directives/protection.js'
import { conditionsOf, withConditions } from './conditions.js'
import { EMPTY, Selection, type PathNode, type ProtectedSelection, type VariableCondition } from './model.js'

/**
 * - `precise`: variable conditions kept, a fragment expanded at every spread;
 * - `conservative`: variable `@skip` / `@include` count as "included", each (fragment, possible runtime types) is
 *   expanded once per document (its fields are reported at the response path of that first expansion);
 * - `coarse`: like `conservative`, but each fragment is expanded once per document, over every possible runtime type
 *   of its type condition. Each selection of the document is visited at most once: linear, so it needs no budget.
 */
export type WalkMode = 'precise' | 'conservative' | 'coarse'

/** What one walk reads: the schema's protection, the document's fragments, the operation's boolean defaults. */
export interface WalkInput {
  readonly protection: SchemaProtection
  readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>
  readonly defaults: ReadonlyMap<string, boolean>
}

function possibleObjects(schema: GraphQLSchema, type: GraphQLNamedType | null | undefined): readonly GraphQLObjectType[] {
  if (type == null) return EMPTY
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

/**
 * Walks an operation's selection set with an explicit stack, in document order, and reports every protected field it
 * may execute. Returns `null` when the budget runs out (precise and conservative walks; the coarse walk is linear).
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
export function walkOperation(
  input: WalkInput,
  mode: WalkMode,
  budget: number,
  selectionSet: SelectionSetNode,
  root: GraphQLObjectType,
): ProtectedSelection[] | null {
  return new OperationWalk(input, mode, budget).run(selectionSet, root)
}

/** One walk's state: its stack, its remaining budget, what it reported and (fallback walks) what it expanded. */
class OperationWalk {
  readonly #stack: Frame[] = []
  readonly #out: ProtectedSelection[] = []
  /** Conservative and coarse walks: the fragment expansions already done in the document. */
  readonly #expanded = new Set<string>()
  readonly #input: WalkInput
  readonly #mode: WalkMode
  readonly #schema: GraphQLSchema
  /** Precise walk: the operation's boolean defaults (variable conditions are tracked); `null` otherwise. */
  readonly #defaults: ReadonlyMap<string, boolean> | null
  #budget: number

  constructor(input: WalkInput, mode: WalkMode, budget: number) {
    this.#input = input
    this.#mode = mode
    this.#schema = input.protection.schema
    this.#defaults = mode === 'precise' ? input.defaults : null
    this.#budget = budget
  }

  run(selectionSet: SelectionSetNode, root: GraphQLObjectType): ProtectedSelection[] | null {
    const budgeted = this.#mode !== 'coarse'
    const stack = this.#stack
    this.#push(selectionSet, [root], root.name, null, EMPTY, this.#newVisits(selectionSet))
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as Frame
      const selection = frame.selections[frame.index++]
      if (selection === undefined) {
        stack.pop()
        continue
      }
      if (budgeted && --this.#budget < 0) return null
      this.#visit(frame, selection)
    }
    return this.#out
  }

  #visit(frame: Frame, selection: SelectionNode): void {
    const own = conditionsOf(selection.directives, this.#defaults)
    if (own === 'excluded') return
    const conds = withConditions(frame.conditions, own)
    if (conds !== frame.conditions) this.#budget -= frame.conditions.length // the copy is work too
    if (selection.kind === Kind.FIELD) this.#field(frame, selection, conds)
    else if (selection.kind === Kind.INLINE_FRAGMENT) this.#inlineFragment(frame, selection, conds)
    else this.#fragmentSpread(frame, selection, conds)
  }

  #field(frame: Frame, selection: FieldNode, conds: readonly VariableCondition[]): void {
    const name = selection.name.value
    if (name.startsWith('__')) return // introspection: never protected, and reaches no type of the schema
    const path: PathNode = { key: selection.alias?.value ?? name, parent: frame.path }
    const { scope } = frame
    const policies = this.#policiesOf(scope, name)
    if (policies !== undefined) {
      const coordinate = `${scope.length === 1 ? (scope[0] as GraphQLObjectType).name : frame.parentName}.${name}`
      this.#out.push(new Selection(path, coordinate, policies, conds, selection))
    }
    if (selection.selectionSet === undefined) return
    const childScope = this.#childScope(scope, name)
    if (childScope.length === 0) return
    const parentType = this.#schema.getType(frame.parentName)
    const staticField =
      parentType !== undefined && parentType !== null && 'getFields' in parentType
        ? parentType.getFields()[name]
        : undefined
    const childName = staticField !== undefined ? getNamedType(staticField.type).name : (childScope[0]?.name ?? '')
    this.#push(selection.selectionSet, childScope, childName, path, conds, this.#newVisits(selection.selectionSet))
  }

  /** The policies guarding field `name` on every type of the scope (deduplicated), or `undefined` when none does. */
  #policiesOf(scope: readonly GraphQLObjectType[], name: string): Readonly<Policy>[] | undefined {
    let policies: Readonly<Policy>[] | undefined
    for (const object of scope) {
      const guarded = this.#input.protection.fields.get(object.name)?.get(name)
      if (guarded === undefined) continue
      if (policies === undefined) policies = [...guarded]
      else for (const p of guarded) if (!policies.includes(p)) policies.push(p)
    }
    return policies
  }

  /** The object types field `name`'s selection set may run on, across the scope. */
  #childScope(scope: readonly GraphQLObjectType[], name: string): GraphQLObjectType[] {
    const childScope: GraphQLObjectType[] = []
    for (const object of scope) {
      const def = object.getFields()[name]
      if (def === undefined) continue
      for (const t of possibleObjects(this.#schema, getNamedType(def.type))) {
        if (!childScope.includes(t)) childScope.push(t)
      }
    }
    return childScope
  }

  #inlineFragment(frame: Frame, selection: InlineFragmentNode, conds: readonly VariableCondition[]): void {
    let narrowed = frame.scope
    let name = frame.parentName
    if (selection.typeCondition !== undefined) {
      name = selection.typeCondition.name.value
      narrowed = intersect(frame.scope, possibleObjects(this.#schema, this.#schema.getType(name)))
      if (narrowed.length === 0) return
    }
    this.#push(selection.selectionSet, narrowed, name, frame.path, conds, frame.visits)
  }

  #fragmentSpread(frame: Frame, selection: FragmentSpreadNode, conds: readonly VariableCondition[]): void {
    const fragmentName = selection.name.value
    const fragment = this.#input.fragments.get(fragmentName)
    if (fragment === undefined) return
    const typeName = fragment.typeCondition.name.value
    const condition = possibleObjects(this.#schema, this.#schema.getType(typeName))
    const narrowed = intersect(frame.scope, condition)
    if (narrowed.length === 0) return
    const scope = this.#expansionScope(frame, fragmentName, narrowed, condition, conds)
    if (scope !== null) this.#push(fragment.selectionSet, scope, typeName, frame.path, conds, frame.visits)
  }

  /**
   * The scope to expand a fragment spread over, or `null` when an earlier expansion already reports the same (see
   * {@link walkOperation} for each mode's rule).
   */
  #expansionScope(
    frame: Frame,
    fragmentName: string,
    narrowed: readonly GraphQLObjectType[],
    condition: readonly GraphQLObjectType[],
    conds: readonly VariableCondition[],
  ): readonly GraphQLObjectType[] | null {
    if (this.#mode === 'coarse') return this.#firstExpansion(fragmentName) ? condition : null
    if (this.#mode === 'conservative') return this.#firstExpansion(`${fragmentName}|${scopeKey(narrowed)}`) ? narrowed : null
    if (frame.visits === null) return narrowed
    const key = `${fragmentName}|${scopeKey(narrowed)}`
    const seen = frame.visits.get(key)
    if (seen === undefined) {
      frame.visits.set(key, [conds])
      return narrowed
    }
    this.#budget -= seen.length // the search is work too: one fragment spread under many condition lists
    if (seen.includes(conds)) return null
    seen.push(conds)
    return narrowed
  }

  /** Fallback walks: true the first time `key` is expanded in the document. */
  #firstExpansion(key: string): boolean {
    if (this.#expanded.has(key)) return false
    this.#expanded.add(key)
    return true
  }

  /** Precise walk: a visit table, allocated only for selection sets that contain fragments. */
  #newVisits(selectionSet: SelectionSetNode): FragmentVisits | null {
    if (this.#mode !== 'precise') return null
    for (const selection of selectionSet.selections) if (selection.kind !== Kind.FIELD) return new Map()
    return null
  }

  #push(
    selectionSet: SelectionSetNode,
    scope: readonly GraphQLObjectType[],
    parentName: string,
    path: PathNode | null,
    conditions: readonly VariableCondition[],
    visits: FragmentVisits | null,
  ): void {
    this.#stack.push({ selections: selectionSet.selections, index: 0, scope, parentName, path, conditions, visits })
  }
}
