/**
 * `@skip` / `@include`: read once per analysis from the document (a literal settles a selection, a variable becomes a
 * {@link VariableCondition}), and settled per request from the variables ({@link activeSelections}, the only part of
 * the analysis that runs per request, and only for operations that have such conditions).
 *
 * @module
 */

import { Kind, type DirectiveNode } from 'graphql'
import { EMPTY, type OperationAnalysis, type ProtectedSelection, type VariableCondition } from './model.js'

/** `'excluded'` when a literal `@skip(if: true)` / `@include(if: false)` removes the selection. */
export type Conditions = readonly VariableCondition[] | 'excluded'

/**
 * Reads `@skip` / `@include` like graphql-js's `shouldIncludeNode`: the first directive of each name, and its `if`
 * argument (the last one, as `getArgumentValues` keys them). A literal settles it here; a variable becomes a condition
 * when `defaults` is given (the precise walk: the operation's boolean variable defaults), and counts as "included"
 * when it is `null` (the other walks).
 */
export function conditionsOf(
  directives: readonly DirectiveNode[] | undefined,
  defaults: ReadonlyMap<string, boolean> | null,
): Conditions {
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
      if (defaults === null) continue
      ;(found ??= []).push({ variable: value.name.value, skip, defaultValue: defaults.get(value.name.value) })
    }
    // Any other literal is invalid (validation rejects it; execution throws before the selection runs): treat it as
    // "included", the safe side.
  }
  return found ?? EMPTY
}

/**
 * `conditions` and `own`, without repeating a condition already on the way (its second copy decides nothing). Returns
 * `conditions` itself when nothing is added, else a new list (the caller counts the copy as work: a deep chain of
 * distinct variables is quadratic).
 */
export function withConditions(
  conditions: readonly VariableCondition[],
  own: readonly VariableCondition[],
): readonly VariableCondition[] {
  if (own.length === 0) return conditions
  let out: VariableCondition[] | undefined
  for (const condition of own) {
    const list = out ?? conditions
    if (list.some((c) => c.variable === condition.variable && c.skip === condition.skip)) continue
    out ??= [...conditions]
    out.push(condition)
  }
  return out ?? conditions
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
