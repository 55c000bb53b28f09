/**
 * `createTrpcRisk`: tRPC v11 middlewares that annotate calls with the caller's IP risk (`withIpRisk`) and enforce
 * policies (`riskGate`, `requireHuman`, `requireNotBot`, `adminGate`), plus procedure-path and `.meta()` policies.
 *
 * A translator between tRPC and the core's request kernel (`src/core/kernel.ts`): it finds the request on the
 * context, works out which policies a call has (path, meta, the gate's own, once per call along a middleware chain),
 * and turns a block into a `FORBIDDEN` `TRPCError`. The kernel does the rest (client IP, cache, the request's lookup,
 * check and report). Per call, the warm path awaits no promise and creates no per-request state.
 *
 * @module
 */
import { TRPCError, type TRPCProcedureType } from '@trpc/server'
import { IpRiskBlockedError, IpRiskConfigError } from '../core/errors.js'
import { failModeOf, needOf, RequestKernel, userAgentOf, waitModeOf, type WaitMode } from '../core/kernel.js'
import { policies as presets } from '../core/policy.js'
import type { Decision, IpRisk, Policy, RequestLike, RiskResolver } from '../core/types.js'
import { RiskContext } from './context.js'
import { compileMeta, compilePathPolicies, NO_META, type CompiledMeta, type PathPolicyMatcher } from './policies.js'
import { defaultGetPeerAddress, defaultGetRequest, type AnyContext } from './request.js'
import type {
  IpRiskCall,
  IpRiskGuard,
  IpRiskMiddleware,
  TrpcRisk,
  TrpcRiskOptions,
  WithIpRiskOptions,
} from './types.js'

export type * from './types.js'

const OPTION_KEYS = new Set([
  'pathPolicies',
  'monitor',
  'failMode',
  'message',
  'getRequest',
  'getPeerAddress',
  'getClientIp',
])
const RESOLVER_METHODS = ['clientIp', 'peek', 'lookup', 'compile', 'check', 'report'] as const

function validateOptions(resolver: unknown, options: unknown): void {
  if (typeof resolver !== 'object' || resolver === null) {
    throw new IpRiskConfigError('resolver', 'must be a RiskResolver (from createRiskResolver)')
  }
  for (const method of RESOLVER_METHODS) {
    if (typeof (resolver as Record<string, unknown>)[method] !== 'function') {
      throw new IpRiskConfigError('resolver', `must be a RiskResolver (from createRiskResolver): no ${method}() method`)
    }
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new IpRiskConfigError('options', 'must be an object')
  }
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) {
      throw new IpRiskConfigError(key, `unknown option (known options: ${[...OPTION_KEYS].join(', ')})`)
    }
  }
  if (o.monitor !== undefined && typeof o.monitor !== 'boolean') {
    throw new IpRiskConfigError('monitor', 'must be true or false')
  }
  failModeOf(o.failMode, 'failMode')
  if (o.message !== undefined && (typeof o.message !== 'string' || o.message.trim() === '')) {
    throw new IpRiskConfigError('message', 'must be a non-empty string')
  }
  for (const key of ['getRequest', 'getPeerAddress', 'getClientIp'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') {
      throw new IpRiskConfigError(key, 'must be a function of the context')
    }
  }
}

function overridesOf(value: unknown, optionName: string): Policy {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IpRiskConfigError(optionName, 'overrides must be a policy object')
  }
  return value as Policy
}

function withIpRiskWait(options: unknown): WaitMode {
  if (typeof options !== 'object' || options === null) {
    throw new IpRiskConfigError('withIpRisk', 'options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (key !== 'wait') throw new IpRiskConfigError(`withIpRisk.${key}`, 'unknown option (known options: wait)')
  }
  return waitModeOf((options as WithIpRiskOptions).wait ?? true, 'withIpRisk.wait')
}

function metaOption(path: string): string {
  return `meta.ipRisk (procedure ${JSON.stringify(path)})`
}

/** A call waiting for its lookup: what {@link TrpcAdapter.decide} needs then (one object, on a cache miss only). */
interface WaitingCall {
  readonly call: IpRiskCall
  readonly req: RequestLike | undefined
  readonly prev: RiskContext | undefined
  readonly pathPolicy: Policy | undefined
  readonly metaPolicy: Policy | null
  readonly ownPolicy: Policy | null
}

/**
 * The adapter bound to one resolver and one set of options: the framework-specific half of a call (request finding,
 * policies of the call, errors). Holds no per-request state: that is the kernel's.
 */
class TrpcAdapter {
  readonly kernel: RequestKernel
  private readonly paths: PathPolicyMatcher
  /** Compiled `meta.ipRisk`, per meta value object (so once per procedure). */
  private readonly metas = new WeakMap<object, CompiledMeta>()
  private readonly message: string
  private readonly getRequest: (ctx: AnyContext) => RequestLike | null | undefined
  private readonly getPeerAddress: (ctx: AnyContext, req: RequestLike) => string | null | undefined

  constructor(resolver: RiskResolver, options: TrpcRiskOptions<never>) {
    this.kernel = new RequestKernel(resolver, {
      monitor: options.monitor === true,
      failMode: options.failMode,
      getClientIp: options.getClientIp,
    })
    this.paths = compilePathPolicies(this.kernel, options.pathPolicies)
    this.message = options.message ?? 'Request blocked'
    const { getRequest, getPeerAddress } = options as TrpcRiskOptions<AnyContext>
    this.getRequest = getRequest ?? defaultGetRequest
    this.getPeerAddress = getPeerAddress ?? defaultGetPeerAddress
  }

  /** A gate's own policy, compiled (number: a score threshold). */
  gate(policy: unknown, optionName: string): Policy {
    const asPolicy = typeof policy === 'number' ? { name: `lowRisk(${String(policy)})`, threshold: policy } : policy
    return this.kernel.compile(asPolicy, optionName)
  }

  metaOf(meta: unknown, path: string): CompiledMeta {
    if (meta === undefined || meta === null) return NO_META
    const value = (meta as { ipRisk?: unknown }).ipRisk
    if (value === undefined || value === null) return NO_META
    const kernel = this.kernel
    if (typeof value !== 'object') return compileMeta(kernel, value, metaOption(path)) // throws
    let compiled = this.metas.get(value)
    if (compiled === undefined) {
      compiled = compileMeta(kernel, value, metaOption(path))
      this.metas.set(value, compiled)
    }
    return compiled
  }

  /**
   * Everything iprisk does for one call (the middlewares and `guard` share it): returns the call's `ctx.ipRisk`, at
   * once on the warm path, or a promise when it must wait for a lookup. Throws (or rejects) when blocked.
   */
  evaluate(call: IpRiskCall, gate: Policy | null, wait: WaitMode): RiskContext | Promise<RiskContext> {
    const ctx = call.ctx as AnyContext
    const prev = ctx.ipRisk instanceof RiskContext ? ctx.ipRisk : undefined
    const meta = this.metaOfCall(call.meta, call.path)
    // Path and meta policies are enforced once per call, by the first iprisk middleware on it.
    const first = prev === undefined || RiskContext.scopeOf(prev) !== call.path
    // The call's policies, in order (passed one by one: no object per call on the warm path).
    const pathPolicy = first && !meta.skip ? this.paths.match(call.path) : undefined
    const metaPolicy = first && !meta.skip ? meta.policy : null
    const ownPolicy = meta.skip ? null : gate
    const need = needOf(wait, ownPolicy !== null || pathPolicy !== undefined || metaPolicy !== null)
    const req = this.requestOf(ctx)
    if (prev !== undefined && (prev.risk.status !== 'pending' || need !== 'verdict')) {
      return this.decide(prev.risk, call, req, prev, pathPolicy, metaPolicy, ownPolicy)
    }
    const client = this.kernel.clientIp(ctx, req, this.getPeerAddress)
    const found = this.kernel.answer(req ?? ctx, client, need) ?? this.kernel.placeholder(client)
    if (found instanceof Promise) return this.decideLater(found, { call, req, prev, pathPolicy, metaPolicy, ownPolicy })
    return this.decide(found, call, req, prev, pathPolicy, metaPolicy, ownPolicy)
  }

  /**
   * {@link decide} once the lookup answers. Its own method: a closure in {@link evaluate} would make V8 allocate a
   * context for the captured variables on every call, the warm path included.
   */
  private decideLater(found: Promise<IpRisk>, waiting: WaitingCall): Promise<RiskContext> {
    const { call, req, prev, pathPolicy, metaPolicy, ownPolicy } = waiting
    return found.then((risk) => this.decide(risk, call, req, prev, pathPolicy, metaPolicy, ownPolicy))
  }

  /** {@link metaOf} for a call: a bad `meta.ipRisk` fails the call closed, without echoing the details to the client. */
  private metaOfCall(meta: unknown, path: string): CompiledMeta {
    try {
      return this.metaOf(meta, path)
    } catch (cause) {
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Invalid iprisk configuration', cause })
    }
  }

  private requestOf(ctx: AnyContext): RequestLike | undefined {
    const found = this.getRequest(ctx)
    // Anything but an object (a custom getRequest returning a string…) counts as no request.
    return typeof found === 'object' && found !== null ? found : undefined
  }

  /** The policies of a call, once its answer is known; returns the call's `ctx.ipRisk`. Throws when blocked. */
  private decide(
    risk: IpRisk,
    call: IpRiskCall,
    req: RequestLike | undefined,
    prev: RiskContext | undefined,
    pathPolicy: Policy | undefined,
    metaPolicy: Policy | null,
    ownPolicy: Policy | null,
  ): RiskContext {
    let decision: Decision | null = null
    if (pathPolicy !== undefined) decision = this.enforce(risk, pathPolicy, call, req)
    if (metaPolicy !== null) decision = this.enforce(risk, metaPolicy, call, req)
    if (ownPolicy !== null) decision = this.enforce(risk, ownPolicy, call, req)
    if (decision === null && prev !== undefined && RiskContext.scopeOf(prev) === call.path) decision = prev.decision
    return new RiskContext(risk, decision, call.path)
  }

  private enforce(risk: IpRisk, policy: Policy, call: IpRiskCall, req: RequestLike | undefined): Decision {
    // `request` (the HTTP request, or the context when there is none, as for the kernel's memo) lets the reporter
    // coalesce the calls of one batch into one event per policy and outcome.
    const decision = this.kernel.decide(risk, policy, {
      adapter: 'trpc',
      path: call.path,
      method: call.type as TRPCProcedureType,
      userAgent: userAgentOf(req),
      request: req ?? (call.ctx as object),
    })
    if (decision.action === 'block') {
      throw new TRPCError({ code: 'FORBIDDEN', message: this.message, cause: new IpRiskBlockedError(decision) })
    }
    return decision
  }
}

function middlewareOf(adapter: TrpcAdapter, gate: Policy | null, wait: WaitMode): IpRiskMiddleware {
  // Not `async`: on the warm path the call goes on to `next` without a promise of iprisk's own. A throw (a block)
  // reaches tRPC either way: it awaits each middleware inside a try.
  const ipRiskMiddleware: IpRiskMiddleware = (opts) => {
    const ipRisk = adapter.evaluate(opts, gate, wait)
    if (ipRisk instanceof Promise) return ipRisk.then((value) => opts.next({ ctx: { ipRisk: value } }))
    return opts.next({ ctx: { ipRisk } })
  }
  return ipRiskMiddleware
}

function guardOf(adapter: TrpcAdapter, gate: Policy | null): IpRiskGuard {
  return async (call) => {
    if (
      typeof call !== 'object' ||
      call === null ||
      typeof call.path !== 'string' ||
      typeof call.ctx !== 'object' ||
      call.ctx === null
    ) {
      throw new IpRiskConfigError('guard', 'expects the options of a tRPC middleware ({ ctx, path, type, meta })')
    }
    return adapter.evaluate(call, gate, true)
  }
}

function presetGate(adapter: TrpcAdapter, preset: Policy, overrides: unknown, optionName: string): IpRiskMiddleware {
  return middlewareOf(adapter, adapter.gate({ ...preset, ...overridesOf(overrides, optionName) }, optionName), true)
}

/**
 * Bind the tRPC middlewares to a risk resolver. Call it once, next to `initTRPC`; every policy (path policies, gate
 * policies) is compiled here or when a gate is created, so a bad option throws `IpRiskConfigError` at start-up.
 *
 * Policies of a call, in evaluation order (all must allow; the first block throws):
 * 1. the path policy (longest matching `pathPolicies` prefix) and 2. the `meta.ipRisk` policy: enforced once per
 *    call, by the first iprisk middleware on it (`withIpRisk` or a gate);
 * 3. each gate's own policy, by that gate.
 * `meta.ipRisk = { skip: true }` exempts the procedure from all three.
 *
 * A blocked call fails with `TRPCError` `FORBIDDEN` (HTTP 403) and the generic `message`; its `cause` is an
 * `IpRiskBlockedError` carrying the decision. The per-call work (client IP, cache, the request's lookup, policies,
 * report) is the core's request kernel, shared with the Envelop plugin; this module translates tRPC to it. Every decision is reported with `resolver.report`; the calls of one
 * HTTP request (a batch) with the same policy and outcome make one security event carrying their `count`.
 *
 * @example
 * ```ts
 * import { initTRPC } from '@trpc/server'
 * import { createRiskResolver, ipasis, policies } from 'iprisk'
 * import { createTrpcRisk, type IpRiskMeta } from 'iprisk/trpc'
 *
 * const resolver = createRiskResolver({ provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }), trustProxy: 'loopback' })
 * const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(resolver, { pathPolicies: { 'admin.': policies.admin } })
 *
 * const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
 * export const publicProcedure = t.procedure.use(withIpRisk())
 * export const loginProcedure = publicProcedure.use(riskGate(75))
 * export const signupProcedure = publicProcedure.use(requireHuman())
 * ```
 */
export function createTrpcRisk<TContext = AnyContext>(
  resolver: RiskResolver,
  options: TrpcRiskOptions<TContext> = {},
): TrpcRisk {
  validateOptions(resolver, options)
  const adapter = new TrpcAdapter(resolver, options as TrpcRiskOptions<never>)
  return {
    withIpRisk: (withOptions = {}) => middlewareOf(adapter, null, withIpRiskWait(withOptions)),
    riskGate(policy) {
      if (typeof policy !== 'number' && (typeof policy !== 'object' || policy === null || Array.isArray(policy))) {
        throw new IpRiskConfigError('riskGate', 'must be a score threshold (0–100) or a policy object')
      }
      return middlewareOf(adapter, adapter.gate(policy, 'riskGate'), true)
    },
    requireHuman: (overrides) => presetGate(adapter, presets.human, overrides, 'requireHuman'),
    requireNotBot: (overrides) => presetGate(adapter, presets.notBot, overrides, 'requireNotBot'),
    adminGate: (overrides) => presetGate(adapter, presets.admin, overrides, 'adminGate'),
    guard: (policy) => guardOf(adapter, policy === undefined ? null : adapter.gate(policy, 'guard')),
    checkRouter(router) {
      const procedures = (router as { _def?: { procedures?: Record<string, unknown> } } | null)?._def?.procedures
      if (typeof procedures !== 'object' || procedures === null) {
        throw new IpRiskConfigError('checkRouter', 'expects a tRPC router')
      }
      for (const [path, procedure] of Object.entries(procedures)) {
        adapter.metaOf((procedure as { _def?: { meta?: unknown } } | null)?._def?.meta, path)
      }
    },
  }
}
