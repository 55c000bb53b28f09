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
 * The analysis over-approximates what graphql-js can execute (see `walkOperation` in `./analysis/walk.ts`): every protected field an operation
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
 * Modules, one concern each (this file is the front: the names the plugin and the tests import):
 * - `./analysis/model.ts`: the analysis's types, the budget, the reported field;
 * - `./analysis/conditions.ts`: `@skip` / `@include`, read at analysis and settled per request;
 * - `./analysis/walk.ts`: the iterative walk, its explicit stack and budget, its three modes;
 * - `./analysis/operation.ts`: one analysis of one operation definition (no cache);
 * - `./analysis/document.ts`: operation selection keyed like graphql-js, indexed once per document;
 * - `./analysis/analyzer.ts`: the bounded per-document cache.
 *
 * @module
 */

export {
  ANALYSIS_BUDGET,
  type AnalysisLimits,
  type OperationAnalysis,
  type ProtectedSelection,
  type VariableCondition,
} from './analysis/model.js'
export { activeSelections } from './analysis/conditions.js'
export { analysisRuns } from './analysis/operation.js'
export { analyzeOperation, OperationAnalyzer } from './analysis/analyzer.js'
