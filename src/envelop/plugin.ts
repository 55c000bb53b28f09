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
 * - per HTTP request, its lookup state (held weakly, by the request object).
 *
 * @module
 */

import type { Plugin } from '@envelop/core'
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql'
import { IpRiskConfigError, IpRiskError } from '../core/errors.js'
import { unscoredRisk } from '../core/resolver.js'
import type { Decision, FailMode, IpRisk, LookupOptions, Policy, RiskResolver } from '../core/types.js'
import { activeSelections, OperationAnalyzer, type OperationAnalysis, type ProtectedSelection } from './analysis.js'
import { createPolicyCompiler, readSchemaProtection, type FieldPolicies, type PolicyCompiler } from './directives.js'
import { readClientIp, readRequest, readUserAgent, requestKey, type GetClientIp, type RequestSource } from './ip.js'

/**
 * What the plugin adds to the GraphQL context. Intersect it with your own context type.
 *
 * @example
 * ```ts
 * import type { YogaInitialContext } from 'graphql-yoga'
 * import type { IpRiskContext } from 'iprisk/envelop'
 *
 * type Context = YogaInitialContext & IpRiskContext
 * const feed = (_: unknown, __: unknown, ctx: Context) => (ctx.ipRisk.isVpn ? 'short' : 'full')
 * ```
 */
export interface IpRiskContext {
  /**
   * The risk answer for the caller's IP, shared by every operation of the HTTP request. For an operation that selects
   * a protected field it is a verdict (`scored`, `unavailable` or `skipped`); otherwise, with the default
   * `lookup: 'auto'`, it may be `pending` on an IP's first request (use {@link waitForIpRisk} when a resolver needs a
   * verdict).
   */
  ipRisk: IpRisk
}

/**
 * When the plugin looks the caller's IP up:
 * - `'auto'` (default): operations selecting a protected field wait for a verdict; the others never wait (cache, or
 *   a background lookup that fills the cache: the guide's async mode).
 * - `'always-wait'`: every operation waits for a verdict (the guide's synchronous middleware).
 * - `'on-demand'`: only operations selecting a protected field look up; the others get the cached answer if there is
 *   one, else a placeholder with `status: 'skipped'` and no data (no lookup, no upstream traffic).
 *
 * @example
 * ```ts
 * useIpRisk({ resolver: risk, lookup: 'always-wait', policy: policies.baseline }) // the guide's synchronous middleware
 * ```
 */
export type IpRiskLookupMode = 'auto' | 'always-wait' | 'on-demand'

/**
 * Options of {@link useIpRisk}. Only `resolver` is required.
 *
 * @example
 * ```ts
 * const options: UseIpRiskOptions = {
 *   resolver: risk,
 *   policy: policies.baseline,                          // block score >= 90 everywhere
 *   fieldPolicies: { 'Mutation.signup': policies.human }, // code-first
 *   failMode: 'closed',
 * }
 * ```
 */
export interface UseIpRiskOptions<TContext extends object = Record<string, unknown>> {
  /** The shared risk resolver (`createRiskResolver`). Required. */
  resolver: RiskResolver
  /** When to look up (default `'auto'`); see {@link IpRiskLookupMode}. */
  lookup?: IpRiskLookupMode
  /**
   * A plugin-wide policy applied to every operation (the guide's global middleware: `policies.baseline` blocks scores
   * of 90 or more). Default: none. With `lookup: 'auto'` it applies once the IP's answer is known (an operation that
   * selects no protected field does not wait for it); use `'always-wait'` to enforce it on an IP's first request too.
   */
  policy?: Policy
  /**
   * Policies for code-first schemas, by schema coordinate: `'Type.field'` guards a field, `'Type'` every field of an
   * object type (or of every implementation of an interface). Validated against the schema at start-up: an unknown
   * type or field throws `IpRiskConfigError`. They add to the schema's directives.
   */
  fieldPolicies?: FieldPolicies
  /** Dry run: decide and report every decision, never block (default `false`). */
  monitor?: boolean
  /**
   * Fail mode for policies that set no `onUnavailable`: `'open'` allows and `'closed'` blocks when no verdict can be
   * had. Default: the resolver's `failMode`.
   */
  failMode?: FailMode
  /**
   * Reads the client IP from the context instead of the request (e.g. from your own auth gateway's header, already
   * verified). The result is parsed and classified like any IP; invalid text, `null` or a throw mean "no IP".
   * Default: `resolver.clientIp(context.request, <peer address of context.req>)`, under the resolver's trust settings.
   */
  getClientIp?: GetClientIp<TContext>
  /** The error message of a blocked operation (default `'Request blocked'`). */
  message?: string
  /** Add the risk score to the error's `extensions.score` (default `false`: the score is not disclosed). */
  exposeScore?: boolean
}

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
const WAIT: LookupOptions = Object.freeze({ wait: true })
const NO_WAIT: LookupOptions = Object.freeze({ wait: false })
const OPTION_KEYS = [
  'resolver',
  'lookup',
  'policy',
  'fieldPolicies',
  'monitor',
  'failMode',
  'getClientIp',
  'message',
  'exposeScore',
] as const satisfies readonly (keyof UseIpRiskOptions)[]
const RESOLVER_METHODS = ['clientIp', 'peek', 'lookup', 'compile', 'check', 'report'] as const

/** Everything the plugin knows about one HTTP request; shared by the operations of a batch. */
interface RequestState {
  readonly source: RequestSource
  readonly plugin: PluginCore
  /** The best answer so far (never a placeholder). */
  risk: IpRisk | undefined
  verdict: Promise<IpRisk> | undefined
  background: Promise<IpRisk> | undefined
}

/**
 * Where the request state hides in the context, for {@link waitForIpRisk}. Only set on a cache miss: an operation
 * answered from L1 has a verdict in `ctx.ipRisk` and nothing else.
 */
const STATE = Symbol('iprisk.envelop.state')

interface PluginCore {
  verdict(state: RequestState): Promise<IpRisk>
}

function validateOptions(options: UseIpRiskOptions<never>): void {
  if (typeof options !== 'object' || options === null) {
    throw new IpRiskConfigError('options', 'useIpRisk needs an options object with a `resolver`')
  }
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      throw new IpRiskConfigError(key, `unknown option (known options: ${OPTION_KEYS.join(', ')})`)
    }
  }
  const resolver = options.resolver as unknown
  if (typeof resolver !== 'object' || resolver === null) {
    throw new IpRiskConfigError('resolver', 'is required: pass the resolver from createRiskResolver()')
  }
  for (const method of RESOLVER_METHODS) {
    if (typeof (resolver as Record<string, unknown>)[method] !== 'function') {
      throw new IpRiskConfigError('resolver', `is not a RiskResolver (no \`${method}\` method)`)
    }
  }
  const { lookup, monitor, failMode, getClientIp, message, exposeScore } = options
  if (lookup !== undefined && lookup !== 'auto' && lookup !== 'always-wait' && lookup !== 'on-demand') {
    throw new IpRiskConfigError('lookup', `must be 'auto', 'always-wait' or 'on-demand', got ${JSON.stringify(lookup)}`)
  }
  if (monitor !== undefined && typeof monitor !== 'boolean') {
    throw new IpRiskConfigError('monitor', `must be true or false, got ${typeof monitor}`)
  }
  if (failMode !== undefined && failMode !== 'open' && failMode !== 'closed') {
    throw new IpRiskConfigError('failMode', `must be 'open' or 'closed', got ${JSON.stringify(failMode)}`)
  }
  if (getClientIp !== undefined && typeof getClientIp !== 'function') {
    throw new IpRiskConfigError('getClientIp', `must be a function, got ${typeof getClientIp}`)
  }
  if (message !== undefined && (typeof message !== 'string' || message.length === 0)) {
    throw new IpRiskConfigError('message', 'must be a non-empty string')
  }
  if (exposeScore !== undefined && typeof exposeScore !== 'boolean') {
    throw new IpRiskConfigError('exposeScore', `must be true or false, got ${typeof exposeScore}`)
  }
}

/** The per-operation arguments both hooks share. */
interface OperationArgs {
  schema: GraphQLSchema
  document: DocumentNode
  operationName?: string | null | undefined
  variableValues?: Readonly<Record<string, unknown>> | null | undefined
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
  validateOptions(options as UseIpRiskOptions<never>)
  const resolver = options.resolver
  const mode: IpRiskLookupMode = options.lookup ?? 'auto'
  const message = options.message ?? DEFAULT_MESSAGE
  const exposeScore = options.exposeScore === true
  const getClientIp = options.getClientIp
  const fieldPolicies = options.fieldPolicies
  const compile: PolicyCompiler = createPolicyCompiler(resolver, {
    monitor: options.monitor === true,
    failMode: options.failMode,
  })
  const globalPolicy = options.policy === undefined ? undefined : compile(options.policy, 'policy')

  const analyzers = new WeakMap<GraphQLSchema, OperationAnalyzer>()
  const analyzerFor = (schema: GraphQLSchema): OperationAnalyzer => {
    let analyzer = analyzers.get(schema)
    if (analyzer === undefined) {
      analyzer = new OperationAnalyzer(readSchemaProtection(schema, compile, fieldPolicies))
      analyzers.set(schema, analyzer)
    }
    return analyzer
  }

  const states = new WeakMap<object, RequestState>()

  /** `lookup` never rejects by contract; this guard keeps a broken resolver from failing the request open by crash. */
  const safeLookup = (state: RequestState, options: LookupOptions): Promise<IpRisk> => {
    const client = state.source.client
    let pending: Promise<IpRisk>
    try {
      pending = resolver.lookup(client.ip, options)
    } catch {
      return Promise.resolve(unscoredRisk(client.ip, client.kind, 'unavailable', 'network'))
    }
    return pending.then(
      (risk) => risk,
      () => unscoredRisk(client.ip, client.kind, 'unavailable', 'network'),
    )
  }

  const core: PluginCore = {
    verdict(state) {
      const risk = state.risk ?? resolver.peek(state.source.client.ip)
      if (risk !== undefined && risk.status !== 'pending') return Promise.resolve((state.risk = risk))
      return (state.verdict ??= safeLookup(state, WAIT).then((answer) => (state.risk = answer)))
    },
  }

  const report = (decision: Decision, path: string, analysis: OperationAnalysis, args: OperationArgs, userAgent: string | null) => {
    try {
      // Envelop's execution args carry the context: its request (shared by the operations of a batch) lets the
      // reporter coalesce them into one event per policy and outcome.
      const context = (args as { contextValue?: unknown }).contextValue
      resolver.report(decision, {
        adapter: 'graphql',
        path,
        method: analysis.operationType ?? undefined,
        operationName: args.operationName ?? null,
        userAgent,
        request: typeof context === 'object' && context !== null ? requestKey(context) : undefined,
      })
    } catch {
      // report() never throws by contract; a broken logger must not turn into a failed request.
    }
  }

  /** Applies the policies; returns the error to answer with, or `undefined` to let the operation run. */
  const enforce = (
    risk: IpRisk,
    isVerdict: boolean,
    selections: readonly ProtectedSelection[],
    analysis: OperationAnalysis,
    args: OperationArgs,
    userAgent: string | null,
  ): GraphQLError | undefined => {
    let blocked: Decision | undefined
    let blockedAt: ProtectedSelection | undefined
    // One decision per distinct policy (fields commonly share one), reported once, in document order. The first
    // policy is kept in locals: lists are only allocated when an operation meets a second one.
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
            decision = resolver.check(risk, policy)
            report(decision, selection.coordinate, analysis, args, userAgent)
            if (firstPolicy === undefined) {
              firstPolicy = policy
              firstDecision = decision
            } else {
              ;(checked ??= []).push(policy)
              ;(decisions ??= []).push(decision)
            }
          }
        }
        if (blocked === undefined && decision.action === 'block') {
          blocked = decision
          blockedAt = selection
        }
      }
    }
    if (globalPolicy !== undefined && isVerdict && !analysis.introspectionOnly) {
      const decision = resolver.check(risk, globalPolicy)
      report(decision, analysis.rootTypeName ?? 'Operation', analysis, args, userAgent)
      if (blocked === undefined && decision.action === 'block') blocked = decision
    }
    if (blocked === undefined) return undefined
    const extensions: Record<string, unknown> = {
      code: IP_RISK_BLOCKED,
      reason: blocked.reason,
      http: { status: 403 },
    }
    if (exposeScore) extensions.score = blocked.risk.score
    return new GraphQLError(message, {
      nodes: blockedAt === undefined ? undefined : [blockedAt.node],
      path: blockedAt === undefined ? undefined : blockedAt.path,
      extensions,
    })
  }

  /**
   * Puts the answer on the context (with the request's state on a miss, for {@link waitForIpRisk}) and enforces the
   * policies, stopping the execution on a block.
   */
  const settle = (
    risk: IpRisk,
    isVerdict: boolean,
    state: RequestState | undefined,
    userAgent: string | null,
    selections: readonly ProtectedSelection[],
    analysis: OperationAnalysis,
    args: OperationArgs,
    extendContext: (extension: Partial<IpRiskContext>) => void,
    stop: (result: ExecutionResult) => void,
  ): void => {
    extendContext(state === undefined ? { ipRisk: risk } : ({ ipRisk: risk, [STATE]: state } as Partial<IpRiskContext>))
    const error = enforce(risk, isVerdict, selections, analysis, args, userAgent)
    if (error !== undefined) stop({ errors: [error] })
  }

  // The last operation analysed: a server answering the same operation again (the common case) skips the lookups by
  // schema, document and name. Identity comparisons only; keyed by the raw `operationName` (`""`, `null` and
  // `undefined` are different keys), which with the document determines the operation, so it can only repeat the
  // analyzer's own answer for that name.
  let lastSchema: GraphQLSchema | undefined
  let lastDocument: DocumentNode | undefined
  let lastName: string | null | undefined
  let lastAnalysis: OperationAnalysis | undefined
  const analysisOf = (args: OperationArgs): OperationAnalysis => {
    if (args.document === lastDocument && args.operationName === lastName && args.schema === lastSchema) {
      return lastAnalysis as OperationAnalysis
    }
    const analysis = analyzerFor(args.schema).analyze(args.document, args.operationName)
    lastSchema = args.schema
    lastDocument = args.document
    lastName = args.operationName
    lastAnalysis = analysis
    return analysis
  }

  /**
   * The per-operation work. Warm path (the answer in L1): synchronous; the client IP, an L1 read and the policies, no
   * per-request state, no closure. A state (shared by the operations of a batch) and a promise only when the cache
   * misses.
   */
  const handle = (
    args: OperationArgs,
    context: object,
    extendContext: (extension: Partial<IpRiskContext>) => void,
    stop: (result: ExecutionResult) => void,
  ): void | Promise<void> => {
    const analysis = analysisOf(args)
    const selections = activeSelections(analysis, args.variableValues)
    const needVerdict = selections.length > 0 || mode === 'always-wait'

    // The cache first: a hit needs neither the request's state nor its lookup (a batch's later operations included).
    const client = readClientIp(context as TContext, resolver, getClientIp)
    const cached = resolver.peek(client.ip)
    if (cached !== undefined && cached.status !== 'pending') {
      settle(cached, true, undefined, readUserAgent(context), selections, analysis, args, extendContext, stop)
      return
    }
    const key = requestKey(context)
    let state = states.get(key)
    if (state === undefined) {
      const source: RequestSource = { key, client, userAgent: readUserAgent(context) }
      state = { source, plugin: core, risk: cached, verdict: undefined, background: undefined }
      states.set(key, state)
    }
    const s = state
    const finish = (risk: IpRisk, isVerdict: boolean): void =>
      settle(risk, isVerdict, s, s.source.userAgent, selections, analysis, args, extendContext, stop)

    let risk = s.risk
    if (risk === undefined || (needVerdict && risk.status === 'pending')) {
      if (cached !== undefined) s.risk = risk = cached
    }
    if (risk !== undefined && (risk.status !== 'pending' || !needVerdict)) {
      finish(risk, risk.status !== 'pending')
      return
    }
    if (needVerdict) return core.verdict(s).then((answer) => finish(answer, true))
    if (mode === 'on-demand') {
      finish(unscoredRisk(s.source.client.ip, s.source.client.kind, 'skipped', null), false)
      return
    }
    // 'auto': never delay an unprotected operation beyond the cache read; the lookup completes in the background.
    return (s.background ??= safeLookup(s, NO_WAIT)).then((answer) => {
      s.risk ??= answer
      const best = s.risk
      finish(best, best.status !== 'pending')
    })
  }

  return {
    onSchemaChange({ schema }) {
      // Read the directives and validate `fieldPolicies` as soon as Envelop has the schema (start-up).
      analyzerFor(schema as GraphQLSchema)
    },
    onExecute({ args, context, extendContext, setResultAndStopExecution }) {
      return handle(args as OperationArgs, context, extendContext, setResultAndStopExecution)
    },
    onSubscribe({ args, context, extendContext, setResultAndStopExecution }) {
      return handle(args as OperationArgs, context, extendContext, setResultAndStopExecution)
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
    // Answered from the cache: the context already holds the verdict (an answer that is not a verdict, `pending`,
    // always comes with a state).
    const risk = (context as Partial<IpRiskContext> | null | undefined)?.ipRisk
    if (typeof risk === 'object' && risk !== null && typeof risk.status === 'string' && risk.status !== 'pending') {
      return Promise.resolve(risk)
    }
    return Promise.reject(new IpRiskError('iprisk: waitForIpRisk() needs a context prepared by the useIpRisk plugin'))
  }
  return state.plugin.verdict(state).then((risk) => {
    context.ipRisk = risk
    return risk
  })
}
