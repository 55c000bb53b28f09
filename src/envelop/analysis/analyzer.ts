/**
 * The bounded per-document cache of analyses ({@link OperationAnalyzer}), and the uncached analysis of a document's
 * operation by name ({@link analyzeOperation}). Both select the operation by graphql-js's rules (`./document.ts`).
 *
 * @module
 */

import type { DocumentNode } from 'graphql'
import type { SchemaProtection } from '../directives/protection.js'
import { indexDocument, selectSlot, unionOf, type DocumentIndex, type Slot } from './document.js'
import type { AnalysisLimits, OperationAnalysis } from './model.js'
import { analyzeDefinition } from './operation.js'

/**
 * Runs one analysis (no cache) of the operation `operationName` selects in `document`. A request that selects no
 * single operation (see `./document.ts`) gets the analysis of nothing: no operation type, no protected field.
 * {@link OperationAnalyzer} analyses such a request as all the operations at once.
 *
 * @param limits Test hook (see {@link AnalysisLimits}); omit it.
 */
export function analyzeOperation(
  protection: SchemaProtection,
  document: DocumentNode,
  operationName: string | null | undefined,
  limits?: AnalysisLimits,
): OperationAnalysis {
  const index = indexDocument(document)
  return analyzeDefinition(protection, selectSlot(index, operationName).operation, index.fragments, limits)
}

/**
 * Caches analyses per document and per operation that will execute. One cache per {@link SchemaProtection}.
 *
 * - The operation is resolved like graphql-js's execution resolves it: the slot is the operation's, never the raw
 *   `operationName`'s, so `""`, `null` and an absent name cannot share an entry unless they select the same operation.
 * - A request whose name selects no single operation (unknown name, `""`, no name in a document with several
 *   operations, a name defined twice) is analysed as the union of all the document's operations. graphql-js answers it
 *   with an error without executing anything, so for graphql-js this changes nothing (a caller the policies allow
 *   gets graphql-js's own error); an engine with other selection rules can only run one of the document's
 *   operations, and all of them are enforced. It is never "nothing to protect".
 * - Each operation definition is analysed in place (its node and the document's fragments), once per document,
 *   whatever names select it: an operation that graphql-js would not select by name, e.g. an anonymous one beside
 *   others, is still analysed for the union.
 * - Bounds: documents are held weakly (a WeakMap: the analyzer never keeps a document alive, so it holds at most the
 *   documents the application itself keeps, e.g. Yoga's parse cache of 1,024); per document at most one analysis per
 *   operation definition plus one union, whatever names requests send. Each analysis is proportional to its
 *   operation's size (see {@link ANALYSIS_BUDGET}).
 */
export class OperationAnalyzer {
  readonly #documents = new WeakMap<DocumentNode, DocumentIndex>()

  constructor(readonly protection: SchemaProtection) {}

  /** The analysis of the operation a request runs: a WeakMap and a Map read once the document has been seen. */
  analyze(document: DocumentNode, operationName: string | null | undefined): OperationAnalysis {
    let index = this.#documents.get(document)
    if (index === undefined) this.#documents.set(document, (index = indexDocument(document)))
    return this.#analysisOf(index, selectSlot(index, operationName))
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
    const index = this.#documents.get(document)
    if (index === undefined) return 0
    let count = index.all.analysis === undefined ? 0 : 1
    for (const slot of index.operations) if (slot.analysis !== undefined) count++
    return count
  }

  #analysisOf(index: DocumentIndex, slot: Slot): OperationAnalysis {
    if (slot.analysis !== undefined) return slot.analysis
    return (slot.analysis =
      slot.operation === null
        ? unionOf(index.operations.map((each) => this.#analysisOf(index, each)))
        : analyzeDefinition(this.protection, slot.operation, index.fragments))
  }
}
