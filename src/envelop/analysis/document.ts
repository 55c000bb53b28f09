/**
 * Operation selection keyed like graphql-js: which of a document's operations a request runs, by the document and
 * the operation name alone, indexed once per document.
 *
 * graphql-js's rules (`execute` / `subscribe`): no name (`null` or `undefined`) selects the document's only operation;
 * a name (any string, `""` included: no operation is named `""`) selects the operation of that name. A request selects
 * no single operation when the document has none, several and no name is given, the name is unknown, or the name is
 * defined twice (a document that skipped validation: graphql-js's `execute` then runs the last of them while its
 * `getOperationAST` returns the first, so neither is a safe single answer). Such a request is analysed as all the
 * operations at once (the `all` slot).
 *
 * @module
 */

import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql'
import type { OperationAnalysis } from './model.js'
import { fragmentsOf, type Fragments } from './operation.js'

/** One analysis slot: an operation of a document, or (`operation: null`) all of them. */
export interface Slot {
  readonly operation: OperationDefinitionNode | null
  /** Filled on the first request that selects the slot. */
  analysis: OperationAnalysis | undefined
}

/**
 * A document, indexed once when it is first seen: one slot per operation definition and one for "all operations".
 * Names select slots through `named`, built from the document's own definitions, so a name the document does not
 * define finds no entry and creates none.
 */
export interface DocumentIndex {
  /** A request without operation name: the document's only operation, else `all`. */
  readonly unnamed: Slot
  /** The slot each name defined in the document selects (`all` for a name defined twice). */
  readonly named: ReadonlyMap<string, Slot>
  /** Every operation at once: requests that select no single operation. */
  readonly all: Slot
  /** One slot per operation definition, in document order. */
  readonly operations: readonly Slot[]
  /** The document's fragments, shared by the analyses of its operations. */
  readonly fragments: Fragments
}

/** Indexes a document's operations (see the module's rules). */
export function indexDocument(document: DocumentNode): DocumentIndex {
  const all: Slot = { operation: null, analysis: undefined }
  const named = new Map<string, Slot>()
  const operations: Slot[] = []
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    const slot: Slot = { operation: definition, analysis: undefined }
    operations.push(slot)
    const name = definition.name?.value
    if (name !== undefined) named.set(name, named.has(name) ? all : slot)
  }
  const unnamed = operations.length === 1 ? (operations[0] as Slot) : all
  return { unnamed, named, all, operations, fragments: fragmentsOf(document) }
}

/** The slot a request selects: its operation's, or `all` when it selects no single operation. Two map reads. */
export function selectSlot(index: DocumentIndex, operationName: string | null | undefined): Slot {
  return operationName == null ? index.unnamed : (index.named.get(operationName) ?? index.all)
}

/** Every operation's protected fields at once; no operation type (execution resolves no single operation). */
export function unionOf(analyses: readonly OperationAnalysis[]): OperationAnalysis {
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
