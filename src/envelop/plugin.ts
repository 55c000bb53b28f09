/**
 * `useIpRisk`: the Envelop plugin (graphql-yoga 5 or any Envelop set-up).
 *
 * Per request it sets `context.ipRisk`; per operation it enforces the policies of the protected fields the operation
 * selects, before execution (`onExecute` / `onSubscribe`), so a blocked mutation never reaches its resolver. Resolvers
 * are never wrapped: the per-field cost is zero.
 *
 * The operation enforced is the one the engine will execute, chosen by graphql-js's rules: without `operationName`
 * the document's only operation, with one (`""` included) the operation of that name. A request that selects no
 * single operation (an unknown name, `""`, several operations and no name, a name defined twice in a document that
 * skipped validation) is enforced as all of the document's operations at once: graphql-js answers it with its own
 * error without executing anything (a caller the policies allow sees that error), and an engine with other rules can
 * only execute one of them.
 *
 * Memory is bounded whatever the requests send. The plugin keeps:
 * - per schema, the directives read at start-up (held weakly: one entry per live schema);
 * - per document, its analyses (held weakly: the plugin never keeps a document alive, so it holds at most the
 *   documents the application keeps, e.g. Yoga's parse cache of 1,024 documents), and within a document at most one
 *   analysis per operation definition plus one for "all operations": operation names the document does not define
 *   create no entry;
 * - the last operation analysed (one document), so that the same operation again costs three identity comparisons;
 * - per HTTP request, its lookup state (in the core's request kernel, held weakly by the request object).
 *
 * The per-operation work after the analysis (client IP, cache, the request's lookup, check and report) is the core's
 * request kernel, shared with the tRPC middleware; this module translates Envelop to it.
 *
 * @module
 */

import type { Plugin } from '@envelop/core'
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql'
import { IpRiskError } from '../core/errors.js'
import { needOf, RequestKernel, userAgentOf, type IpRiskContext, type RequestState, type WaitMode } from '../core/kernel.js'
import type { Decision, IpRisk, Policy } from '../core/types.js'
import { activeSelections, OperationAnalyzer, type OperationAnalysis, type ProtectedSelection } from './analysis.js'
import { readSchemaProtection, type FieldPolicies } from './directives.js'
import { peerFor, requestKey, requestOf } from './ip.js'
import { validateOptions, type UseIpRiskOptions } from './options.js'

export type { IpRiskContext, WaitMode } from '../core/kernel.js'
export type { IpRiskLookupMode, UseIpRiskOptions } from './options.js'

/**
 * `extensions.code` of the error a blocked operation gets.
 *
 * @example
 * ```ts
 * const blocked = result.errors?.some((e) => e.extensions?.code === IP_RISK_BLOCKED)
 * ```
 */
export const IP_RISK_BLOCKED = 'IP_RISK_BLOCKED'

const DEFAULT_MESSAGE = 'Request blocked'

/**
 * Where the request state hides in the context, for {@link waitForIpRisk}. Only set when an operation's answer is
 * not a verdict (`pending`, or the `'on-demand'` placeholder): a verdict needs nothing else.
 */
const STATE = Symbol('iprisk.envelop.state')

/** The per-operation arguments both hooks share. */
interface OperationArgs {
  schema: GraphQLSchema
  document: DocumentNode
  operationName?: string | null | undefined
  variableValues?: Readonly<Record<string, unknown>> | null | undefined
}

type ExtendContext = (extension: Partial<IpRiskContext>) => void
type Stop = (result: ExecutionResult) => void

/** An operation waiting for its lookup: what `settle` needs then (one object, on a cache miss only). */
interface WaitingOperation {
  readonly key: object
  readonly userAgent: string | null
  readonly selections: readonly ProtectedSelection[]
  readonly analysis: OperationAnalysis
  readonly args: OperationArgs
  readonly extend: ExtendContext
  readonly stop: Stop
}

/**
 * The plugin bound to one resolver and one set of options: the framework-specific half of an operation (analysis,
 * protected selections, the blocked-operation error). Holds no per-request state: that is the kernel's.
 */
class EnvelopAdapter {
  readonly kernel: RequestKernel
  private readonly wait: WaitMode
  private readonly message: string
  private readonly exposeScore: boolean
  private readonly fieldPolicies: FieldPolicies | undefined
  private readonly globalPolicy: Readonly<Policy> | undefined
  private readonly analyzers = new WeakMap<GraphQLSchema, OperationAnalyzer>()
  private readonly compile = (policy: Policy, option: string): Readonly<Policy> => this.kernel.compile(policy, option)
  // The last operation analysed: a server answering the same operation again (the common case) skips the lookups by
  // schema, document and name. Identity comparisons only; keyed by the raw `operationName` (`""`, `null` and
  // `undefined` are different keys), which with the document determines the operation, so it can only repeat the
  // analyzer's own answer for that name.
  private lastSchema: GraphQLSchema | undefined
  private lastDocument: DocumentNode | undefined
  private lastName: string | null | undefined
  private lastAnalysis: OperationAnalysis | undefined

  constructor(options: UseIpRiskOptions<never>, wait: WaitMode) {
    this.kernel = new RequestKernel(options.resolver, {
      monitor: options.monitor === true,
      failMode: options.failMode,
      getClientIp: options.getClientIp,
    })
    this.wait = wait
    this.message = options.message ?? DEFAULT_MESSAGE
    this.exposeScore = options.exposeScore === true
    this.fieldPolicies = options.fieldPolicies
    this.globalPolicy = options.policy === undefined ? undefined : this.kernel.compile(options.policy, 'policy')
  }

  analyzerFor(schema: GraphQLSchema): OperationAnalyzer {
    let analyzer = this.analyzers.get(schema)
    if (analyzer === undefined) {
      analyzer = new OperationAnalyzer(readSchemaProtection(schema, this.compile, this.fieldPolicies))
      this.analyzers.set(schema, analyzer)
    }
    return analyzer
  }

  /**
   * The per-operation work. Warm path (the answer in L1): synchronous; the client IP, an L1 read and the policies, no
   * per-request state, no closure. A state (shared by the operations of a batch) and a promise only when the cache
   * misses.
   */
  handle(args: OperationArgs, context: object, extend: ExtendContext, stop: Stop): void | Promise<void> {
    const analysis = this.analysisOf(args)
    const selections = activeSelections(analysis, args.variableValues)
    const req = requestOf(context)
    const client = this.kernel.clientIp(context, req, peerFor)
    const key = requestKey(context)
    const found = this.kernel.answer(key, client, needOf(this.wait, selections.length > 0))
    const userAgent = userAgentOf(req)
    if (found === undefined) {
      // 'on-demand' and nothing known: a placeholder, not a verdict (the plugin-wide policy does not judge it).
      const placeholder = this.kernel.placeholder(client)
      this.settle(placeholder, false, key, userAgent, selections, analysis, args, extend, stop)
      return
    }
    if (!(found instanceof Promise)) {
      this.settle(found, found.status !== 'pending', key, userAgent, selections, analysis, args, extend, stop)
      return
    }
    return this.settleLater(found, { key, userAgent, selections, analysis, args, extend, stop })
  }

  /**
   * {@link settle} once the lookup answers. Its own method: a closure in {@link handle} would make V8 allocate a
   * context for the captured variables on every operation, the warm path included.
   */
  private settleLater(found: Promise<IpRisk>, op: WaitingOperation): Promise<void> {
    return found.then((risk) => {
      const verdict = risk.status !== 'pending'
      this.settle(risk, verdict, op.key, op.userAgent, op.selections, op.analysis, op.args, op.extend, op.stop)
    })
  }

  private analysisOf(args: OperationArgs): OperationAnalysis {
    if (args.document === this.lastDocument && args.operationName === this.lastName && args.schema === this.lastSchema) {
      return this.lastAnalysis as OperationAnalysis
    }
    const analysis = this.analyzerFor(args.schema).analyze(args.document, args.operationName)
    this.lastSchema = args.schema
    this.lastDocument = args.document
    this.lastName = args.operationName
    this.lastAnalysis = analysis
    return analysis
  }

  /**
   * Puts the answer on the context (with the request's state when it is not a verdict, for {@link waitForIpRisk}) and
   * applies the policies: one decision per distinct policy (fields commonly share one), reported once, in document
   * order, then the plugin-wide policy. The first blocking decision stops the execution.
   */
  private settle(
    risk: IpRisk,
    isVerdict: boolean,
    key: object,
    userAgent: string | null,
    selections: readonly ProtectedSelection[],
    analysis: OperationAnalysis,
    args: OperationArgs,
    extend: ExtendContext,
    stop: Stop,
  ): void {
    const state = isVerdict ? undefined : this.kernel.stateOf(key)
    extend(state === undefined ? { ipRisk: risk } : ({ ipRisk: risk, [STATE]: state } as Partial<IpRiskContext>))
    let blocked: Decision | undefined
    // The first policy is kept in locals: lists are only allocated when an operation meets a second one.
    let firstPolicy: Readonly<Policy> | undefined
    let firstDecision: Decision | undefined
    let checked: Readonly<Policy>[] | undefined
    let decisions: Decision[] | undefined
    for (const selection of selections) {
      for (const policy of selection.policies) {
        let decision: Decision
        if (policy === firstPolicy) decision = firstDecision as Decision
        else {
          const index = checked === undefined ? -1 : checked.indexOf(policy)
          if (index !== -1) decision = (decisions as Decision[])[index] as Decision
          else {
            decision = this.decide(risk, policy, selection.coordinate, key, userAgent, analysis, args)
            if (firstPolicy === undefined) {
              firstPolicy = policy
              firstDecision = decision
            } else {
              ;(checked ??= []).push(policy)
              ;(decisions ??= []).push(decision)
            }
          }
        }
        if (blocked === undefined && decision.action === 'block') blocked = decision
      }
    }
    const global = this.globalPolicy
    if (global !== undefined && isVerdict && !analysis.introspectionOnly) {
      const decision = this.decide(risk, global, analysis.rootTypeName ?? 'Operation', key, userAgent, analysis, args)
      if (blocked === undefined && decision.action === 'block') blocked = decision
    }
    if (blocked !== undefined) stop({ errors: [this.blockedError(blocked, selections)] })
  }

  private decide(
    risk: IpRisk,
    policy: Readonly<Policy>,
    path: string,
    key: object,
    userAgent: string | null,
    analysis: OperationAnalysis,
    args: OperationArgs,
  ): Decision {
    // `request` (shared by the operations of a batch) lets the reporter coalesce them into one event per policy and
    // outcome.
    return this.kernel.decide(risk, policy, {
      adapter: 'graphql',
      path,
      method: analysis.operationType ?? undefined,
      operationName: args.operationName ?? null,
      userAgent,
      request: key,
    })
  }

  /** The error of a blocked operation: at the first selection its decision's policy guards (none: the global one). */
  private blockedError(blocked: Decision, selections: readonly ProtectedSelection[]): GraphQLError {
    const at = selections.find((selection) => selection.policies.includes(blocked.policy))
    const extensions: Record<string, unknown> = { code: IP_RISK_BLOCKED, reason: blocked.reason, http: { status: 403 } }
    if (this.exposeScore) extensions.score = blocked.risk.score
    return new GraphQLError(this.message, {
      nodes: at === undefined ? undefined : [at.node],
      path: at === undefined ? undefined : at.path,
      extensions,
    })
  }
}

/**
 * The Envelop plugin: sets `context.ipRisk` once per HTTP request and enforces the iprisk directives
 * (`@requireLowRisk`, `@requireHuman`, `@requireNotBot`, `@ipRisk`), `fieldPolicies` and the optional plugin-wide
 * `policy` before each operation executes.
 *
 * A blocked operation is not executed at all (no resolver runs) and gets one `GraphQLError`: message
 * `'Request blocked'`, `path` = the response path of the first blocked field, `extensions` =
 * `{ code: 'IP_RISK_BLOCKED', reason, http: { status: 403 } }` (Yoga answers HTTP 403). Every decision is reported
 * through `resolver.report` with `{ adapter: 'graphql', path: 'Type.field', method, operationName, userAgent }`.
 *
 * @throws {IpRiskConfigError} at start-up (plugin creation, or Envelop's first schema) for a bad option, an unknown
 *   `fieldPolicies` coordinate or a bad directive argument.
 *
 * @example
 * ```ts
 * import { createYoga, createSchema } from 'graphql-yoga'
 * import { createRiskResolver, ipasis, policies } from 'iprisk'
 * import { useIpRisk, ipRiskTypeDefs } from 'iprisk/envelop'
 *
 * const risk = createRiskResolver({ provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }) })
 * const yoga = createYoga({
 *   schema: createSchema({
 *     typeDefs: [ipRiskTypeDefs, 'type Query { hello: String! } type Mutation { signup(email: String!): Boolean! @requireHuman }'],
 *     resolvers: { Query: { hello: (_, __, ctx) => `your score: ${ctx.ipRisk.score}` }, Mutation: { signup: () => true } },
 *   }),
 *   plugins: [useIpRisk({ resolver: risk, policy: policies.baseline })],
 * })
 * ```
 */
export function useIpRisk<TContext extends object = Record<string, unknown>>(
  options: UseIpRiskOptions<TContext>,
): Plugin<IpRiskContext> {
  const wait = validateOptions(options as UseIpRiskOptions<never>)
  const adapter = new EnvelopAdapter(options as UseIpRiskOptions<never>, wait)
  return {
    onSchemaChange({ schema }) {
      // Read the directives and validate `fieldPolicies` as soon as Envelop has the schema (start-up).
      adapter.analyzerFor(schema as GraphQLSchema)
    },
    onExecute({ args, context, extendContext, setResultAndStopExecution }) {
      return adapter.handle(args as OperationArgs, context, extendContext, setResultAndStopExecution)
    },
    onSubscribe({ args, context, extendContext, setResultAndStopExecution }) {
      return adapter.handle(args as OperationArgs, context, extendContext, setResultAndStopExecution)
    },
  }
}

/**
 * A verdict for the current request, for resolvers that decide for themselves (the guide's contact-form check): with
 * `lookup: 'auto'` an operation that selects no protected field may see `context.ipRisk.status === 'pending'` on an
 * IP's first request; this waits for the lookup (at most the resolver's budget), updates `context.ipRisk` and returns
 * the answer. Shared with the other operations of the request; free when the answer is already known.
 *
 * @throws {IpRiskError} (as a rejected promise) when `useIpRisk` has not run for this context.
 *
 * @example
 * ```ts
 * const resolvers = {
 *   Mutation: {
 *     async sendMessage(_, args, context) {
 *       const risk = await waitForIpRisk(context)
 *       if (risk.score !== null && risk.score >= 70) return { accepted: false, message: 'Please try again later.' }
 *       return { accepted: true, message: 'Thanks!' }
 *     },
 *   },
 * }
 * ```
 */
export function waitForIpRisk(context: IpRiskContext): Promise<IpRisk> {
  const state = (context as unknown as { [STATE]?: RequestState })[STATE]
  if (state === undefined) {
    // A verdict (from the cache or the request's memo) is already in the context: nothing to wait for.
    const risk = (context as Partial<IpRiskContext> | null | undefined)?.ipRisk
    if (typeof risk === 'object' && risk !== null && typeof risk.status === 'string' && risk.status !== 'pending') {
      return Promise.resolve(risk)
    }
    return Promise.reject(new IpRiskError('iprisk: waitForIpRisk() needs a context prepared by the useIpRisk plugin'))
  }
  return state.kernel.verdict(state).then((risk) => {
    context.ipRisk = risk
    return risk
  })
}
