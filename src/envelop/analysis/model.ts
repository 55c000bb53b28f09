/**
 * The analysis's data model: what an operation selects as far as protection is concerned ({@link OperationAnalysis}),
 * the protected fields it reports ({@link ProtectedSelection}), the variable conditions on the way to them, and the
 * work budget. Types and constants only, plus the reported field's lazily built response path.
 *
 * @module
 */

import type { FieldNode } from 'graphql'
import type { Policy } from '../../core/types.js'

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

/** The shared empty list (frozen). */
export const EMPTY: readonly never[] = Object.freeze([])

/** The analysis of a request that runs no operation (execution will fail): nothing to protect, no type. */
export const NO_OPERATION: OperationAnalysis = Object.freeze({
  operationType: null,
  rootTypeName: null,
  selections: EMPTY,
  conditional: false,
  conservative: false,
  introspectionOnly: false,
})

/** A response path under construction: a parent-linked list, shared by the fields below it. */
export interface PathNode {
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
export class Selection implements ProtectedSelection {
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
