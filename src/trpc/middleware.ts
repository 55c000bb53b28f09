/**
 * `createTrpcRisk`: tRPC v11 middlewares that annotate calls with the caller's IP risk (`withIpRisk`) and enforce
 * policies (`riskGate`, `requireHuman`, `requireNotBot`, `adminGate`), plus procedure-path and `.meta()` policies.
 *
 * Per call, the warm path is: the client IP, a synchronous `resolver.peek` (L1), one `resolver.check` per applicable
 * policy and one small `ctx.ipRisk` object; no promise is awaited and no per-request state is created unless the
 * cache misses. Everything that can be done once (policy compilation, path matching) is done at creation or memoized.
 *
 * @module
 */
import { TRPCError, type AnyTRPCRouter, type TRPCMiddlewareFunction, type TRPCProcedureType } from '@trpc/server'
import { IpRiskBlockedError, IpRiskConfigError } from '../core/errors.js'
import { policies as presets } from '../core/policy.js'
import type { Decision, IpRisk, Policy, RequestLike, RiskResolver } from '../core/types.js'
import { RiskContext, type IpRiskContext } from './context.js'
import { compileAt, compileMeta, compilePathPolicies, NO_META, type CompiledMeta } from './policies.js'
import { defaultGetPeerAddress, defaultGetRequest, userAgentOf, type AnyContext } from './request.js'

// ---------------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------------

/**
 * A procedure's iprisk metadata: merge it into your tRPC `Meta` type and set it with `.meta({ ipRisk: … })`.
 *
 * - a {@link Policy} (for example a preset): an extra policy this procedure must pass, enforced by the first iprisk
 *   middleware of each call (so it works on a procedure that only uses `withIpRisk()`), in addition to the gate's
 *   own policy and the path policy;
 * - `{ skip: true }`: the procedure is exempt from every iprisk policy (path, meta and gates): `ctx.ipRisk` is still
 *   set, with `decision: null`. For webhooks from datacenters, health checks under a protected router…
 *
 * A meta policy can only add protection; it never relaxes a gate or a path policy (use `skip` for an exemption).
 *
 * @example
 * ```ts
 * import { initTRPC } from '@trpc/server'
 * import { policies } from 'iprisk'
 * import type { IpRiskMeta } from 'iprisk/trpc'
 *
 * interface Meta extends IpRiskMeta { auth?: boolean }
 * const t = initTRPC.context<Context>().meta<Meta>().create()
 *
 * const signup = publicProcedure.meta({ ipRisk: policies.human }).mutation(() => 'ok')
 * const stripeWebhook = adminProcedure.meta({ ipRisk: { skip: true } }).mutation(() => 'ok')
 * ```
 */
export interface IpRiskMeta {
  ipRisk?: Policy | { skip: true }
}

/**
 * A tRPC middleware adding `ctx.ipRisk` (an {@link IpRiskContext}) to the context. It works with any `initTRPC`
 * instance (any context and meta type) and keeps everything earlier middlewares put on `ctx`.
 *
 * @example
 * ```ts
 * const gate: IpRiskMiddleware = riskGate(70)
 * export const orders = t.procedure.use(authed).use(gate).query(({ ctx }) => [ctx.user.id, ctx.ipRisk.score])
 * ```
 */
// `any` is deliberate: the middleware must accept every app's context, meta and input types (tRPC infers the
// resulting context from the fourth parameter only).
export type IpRiskMiddleware = TRPCMiddlewareFunction<any, any, any, { ipRisk: IpRiskContext }, any>

/**
 * What a gate from {@link TrpcRisk.guard} reads of a call: the options a tRPC middleware receives.
 *
 * @example
 * ```ts
 * const call: IpRiskCall = { ctx: { req }, path: 'user.login', type: 'mutation', meta: undefined }
 * ```
 */
export interface IpRiskCall {
  ctx: unknown
  path: string
  type: TRPCProcedureType
  meta?: unknown
}

/**
 * A gate called from your own middleware (see {@link TrpcRisk.guard}): resolves to the value for `ctx.ipRisk`, or
 * rejects with a `FORBIDDEN` `TRPCError` (cause: `IpRiskBlockedError`) when the call is blocked.
 *
 * @example
 * ```ts
 * const guard: IpRiskGuard = trpcRisk.guard(70)
 * const ipRisk: IpRiskContext = await guard(opts)
 * ```
 */
export type IpRiskGuard = (call: IpRiskCall) => Promise<IpRiskContext>

/**
 * Options of {@link createTrpcRisk}. All optional.
 *
 * @typeParam TContext Your tRPC context type, to type the `get…` callbacks.
 *
 * @example
 * ```ts
 * const risk = createTrpcRisk(resolver, {
 *   pathPolicies: { 'admin.': policies.admin },
 *   getPeerAddress: (ctx: Context) => ctx.peerAddress,
 * })
 * ```
 */
export interface TrpcRiskOptions<TContext = AnyContext> {
  /**
   * Policies by procedure path prefix, enforced on every call of a matching procedure by the first iprisk middleware
   * on it (`withIpRisk` included), whatever gate the procedure uses. The longest matching key wins. Keys: `''` matches
   * every procedure; `'admin.'` every procedure under the `admin` router; `'admin'` the `admin` procedure and
   * everything under `admin.` (not `administrator`).
   * @default {}
   */
  pathPolicies?: Readonly<Record<string, Policy>>
  /**
   * Dry run: every policy (gates, path, meta) decides and reports, and nothing is blocked. A single policy can be put
   * in monitor mode with its own `monitor: true`.
   * @default false
   */
  monitor?: boolean
  /**
   * The `message` of the `FORBIDDEN` error a blocked call gets. Keep it generic: the reason is on the error's `cause`
   * (an `IpRiskBlockedError`) for your `errorFormatter` to expose if you choose.
   * @default 'Request blocked'
   */
  message?: string
  /**
   * Finds the HTTP request on the context. The default reads `ctx.req`, then `ctx.request`, then the context itself
   * when it has `headers`: it covers the standalone / node-http, Express, Fastify, fetch and `ws` adapters when
   * `createContext` returns `{ req }` (or its options). Return `null`/`undefined` when there is none (server-side
   * calls): the call then has no client IP and the policies' fail mode applies.
   */
  getRequest?: (ctx: TContext) => RequestLike | null | undefined
  /**
   * The address of the TCP peer for a fetch `Request` (which does not carry one): Bun's `server.requestIP(req)`,
   * Deno's `info.remoteAddr`, a Node server's socket... The default reads `ctx.peerAddress`. For Node requests
   * (`IncomingMessage`, Express, Fastify) the socket address is read from the request and this is not needed.
   */
  getPeerAddress?: (ctx: TContext, req: RequestLike) => string | null | undefined
  /**
   * Replaces request-based resolution: return the client IP yourself (it is canonicalized; an invalid value counts
   * as no IP). The resolver's proxy-trust settings are NOT applied: only return an address you trust.
   */
  getClientIp?: (ctx: TContext) => string | null | undefined
}

/**
 * Options of {@link TrpcRisk.withIpRisk}.
 *
 * @example
 * ```ts
 * export const publicProcedure = t.procedure.use(withIpRisk({ wait: false })) // never adds latency
 * ```
 */
export interface WithIpRiskOptions {
  /**
   * `true`: wait for a verdict on a cache miss (cache, then the provider within the resolver's budget).
   * `false`: never delay the call: on a miss, `ctx.ipRisk.status` is `'pending'` while the lookup runs in the
   * background, and the next calls from that IP read the cached answer (the guide's async scoring). A call that a path
   * or meta policy applies to always waits.
   * @default true
   */
  wait?: boolean
}

/**
 * The middlewares bound to one resolver; see {@link createTrpcRisk}.
 *
 * @example
 * ```ts
 * const { withIpRisk, riskGate, requireHuman, requireNotBot, adminGate, checkRouter } = createTrpcRisk(resolver)
 * ```
 */
export interface TrpcRisk {
  /**
   * Annotate only: sets `ctx.ipRisk` and never blocks, except for the path and meta policies of the procedure.
   *
   * @example
   * ```ts
   * export const publicProcedure = t.procedure.use(withIpRisk({ wait: false }))
   * ```
   */
  withIpRisk(options?: WithIpRiskOptions): IpRiskMiddleware
  /**
   * Block when the policy blocks: a number is a score threshold (`riskGate(70)` blocks `score >= 70`, the guide's
   * `require_low_risk`); or a full {@link Policy} (`riskGate(policies.admin)`,
   * `riskGate({ threshold: 70, blockVpn: true, blockDatacenter: true })`, the guide's class-based view mixin).
   * Always waits for a verdict.
   *
   * @throws {IpRiskConfigError} (`riskGate…`) on a bad threshold or policy, at creation.
   * @example
   * ```ts
   * export const login = publicProcedure.use(riskGate(75)).mutation(({ ctx }) => ctx.ipRisk.score)
   * ```
   */
  riskGate(policy: number | Policy): IpRiskMiddleware
  /**
   * The guide's `require_human`: blocks Tor and `score >= 80` (`policies.human`), with your overrides.
   *
   * @example
   * ```ts
   * export const signup = publicProcedure.use(requireHuman({ blockVpn: true })).mutation(() => 'ok')
   * ```
   */
  requireHuman(overrides?: Policy): IpRiskMiddleware
  /**
   * The guide's DRF `IsNotBot`: blocks Tor, datacenters with `score > 60` and `score >= 85` (`policies.notBot`).
   *
   * @example
   * ```ts
   * export const search = publicProcedure.use(requireNotBot()).query(() => [])
   * ```
   */
  requireNotBot(overrides?: Policy): IpRiskMiddleware
  /**
   * The guide's admin protection: blocks Tor, VPNs, datacenters with `score > 40` and `score >= 60`
   * (`policies.admin`). To protect a whole router, prefer `pathPolicies: { 'admin.': policies.admin }`.
   *
   * @example
   * ```ts
   * export const adminProcedure = protectedProcedure.use(adminGate({ onUnavailable: 'block' }))
   * ```
   */
  adminGate(overrides?: Policy): IpRiskMiddleware
  /**
   * A gate to call from a middleware of your own, instead of adding one: `riskGate` semantics (path and meta policies,
   * then `policy`), returning the `ctx.ipRisk` value for your `next({ ctx })`. Every tRPC middleware level costs a
   * few µs of tRPC's own per call; a procedure that already has a middleware (authentication, typically) can run
   * iprisk inside it at no extra level. Without `policy` it annotates like `withIpRisk()` (waiting for a verdict).
   *
   * The returned function rejects with the same `FORBIDDEN` `TRPCError` as the gates when the call is blocked, and
   * never rejects otherwise. It expects the options your middleware receives (`ctx`, `path`, `type`, `meta`).
   *
   * @throws {IpRiskConfigError} (`guard`) on a bad threshold or policy, at creation.
   * @example
   * ```ts
   * const guardAnonymous = trpcRisk.guard(policies.human) // compiled once, at start-up
   * export const protectedProcedure = t.procedure.use(async (opts) => {
   *   const user = await userFromSession(opts.ctx)
   *   // Signed-in users skip the IP check; anonymous callers must look human.
   *   const ipRisk = user ? null : await guardAnonymous(opts)
   *   return opts.next({ ctx: { user, ipRisk } })
   * })
   * ```
   */
  guard(policy?: number | Policy): IpRiskGuard
  /**
   * Compile the `meta.ipRisk` of every procedure of a router now, so a bad one throws `IpRiskConfigError` at start-up
   * rather than on its first call (where it fails that call with `INTERNAL_SERVER_ERROR`). Lazy routers (`lazy()`)
   * are checked when they load.
   *
   * @throws {IpRiskConfigError} naming the procedure, e.g. `meta.ipRisk (procedure "admin.ban").threshold`.
   * @example
   * ```ts
   * export const appRouter = router({ … })
   * trpcRisk.checkRouter(appRouter)
   * ```
   */
  checkRouter(router: AnyTRPCRouter): void
}

// ---------------------------------------------------------------------------------------------------------------------
// Per-request memo
// ---------------------------------------------------------------------------------------------------------------------

/**
 * How long an answer obtained by a lookup is reused by the other calls of the same HTTP request when the cache does
 * not have it (answers that are not cached: `unavailable`, non-global IPs, no cache). Long-lived requests (WebSocket
 * connections) thereby still re-check through the cache.
 */
const REQUEST_MEMO_MS = 1_000

/**
 * What the calls of one HTTP request (a batch, a subscription) share when the cache misses: the client IP, the
 * lookup in flight, and its answer. The warm path (an L1 hit) never creates one.
 */
class RequestState {
  /** The answer of this request's last completed lookup, reused until `answerUntil`. */
  answer: IpRisk | undefined = undefined
  answerUntil = 0
  /** The lookup in flight for this request, awaited by every call of the batch. */
  inflight: Promise<IpRisk> | undefined = undefined

  constructor(readonly ip: string | null) {}
}

// ---------------------------------------------------------------------------------------------------------------------
// Options validation
// ---------------------------------------------------------------------------------------------------------------------

const OPTION_KEYS = new Set(['pathPolicies', 'monitor', 'message', 'getRequest', 'getPeerAddress', 'getClientIp'])
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

// ---------------------------------------------------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------------------------------------------------

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
 * `IpRiskBlockedError` carrying the decision. Every decision is reported with `resolver.report`; the calls of one
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
  const monitor = options.monitor === true
  const message = options.message ?? 'Request blocked'
  const paths = compilePathPolicies(resolver, options.pathPolicies, monitor)
  const getRequest = (options.getRequest as ((ctx: AnyContext) => RequestLike | null | undefined) | undefined) ?? defaultGetRequest
  const getPeerAddress =
    (options.getPeerAddress as ((ctx: AnyContext, req: RequestLike) => string | null | undefined) | undefined) ??
    defaultGetPeerAddress
  const getClientIp = options.getClientIp as ((ctx: AnyContext) => string | null | undefined) | undefined

  /** Per request (the request object, or the context when there is none). Weak: dies with the request. */
  const states = new WeakMap<object, RequestState>()
  /** Compiled `meta.ipRisk`, per meta value object (so once per procedure). */
  const metas = new WeakMap<object, CompiledMeta>()

  function clientIpOf(ctx: AnyContext, req: RequestLike | undefined): string | null {
    if (getClientIp !== undefined) {
      const value = getClientIp(ctx)
      // Canonicalize (and validate) the app's value: it is passed as the peer of an empty request.
      return typeof value === 'string' && value !== '' ? resolver.clientIp({ headers: {} }, value).ip : null
    }
    if (req === undefined) return null
    const peer = getPeerAddress(ctx, req)
    return resolver.clientIp(req, peer ?? undefined).ip
  }

  function requestOf(ctx: AnyContext): RequestLike | undefined {
    const found = getRequest(ctx)
    // Anything but an object (a custom getRequest returning a string…) counts as no request.
    return typeof found === 'object' && found !== null ? found : undefined
  }

  /**
   * The caller's answer. Warm path: the client IP and an L1 read, nothing allocated, no promise awaited, the request's
   * state not even looked for. On a miss the request's state (keyed by the request, or the context when there is
   * none) shares one lookup between the calls of a batch and remembers its answer for a moment.
   */
  function riskOf(ctx: AnyContext, wait: boolean): IpRisk | Promise<IpRisk> {
    const req = requestOf(ctx)
    const ip = clientIpOf(ctx, req)
    const cached = resolver.peek(ip)
    if (cached !== undefined) return cached
    const key: object = req ?? ctx
    const state = states.get(key)
    if (state === undefined) {
      const created = new RequestState(ip)
      states.set(key, created)
      return lookup(created, wait)
    }
    return memoized(state) ?? lookup(state, wait)
  }

  function metaOf(meta: unknown, path: string): CompiledMeta {
    if (meta === undefined || meta === null) return NO_META
    const value = (meta as { ipRisk?: unknown }).ipRisk
    if (value === undefined || value === null) return NO_META
    if (typeof value !== 'object') return compileMeta(resolver, value, metaOption(path), monitor) // throws
    let compiled = metas.get(value)
    if (compiled === undefined) {
      compiled = compileMeta(resolver, value, metaOption(path), monitor)
      metas.set(value, compiled)
    }
    return compiled
  }

  /** {@link metaOf} for a call: a bad `meta.ipRisk` fails the call closed, without echoing the details to the client. */
  function metaOfCall(meta: unknown, path: string): CompiledMeta {
    try {
      return metaOf(meta, path)
    } catch (cause) {
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Invalid iprisk configuration', cause })
    }
  }

  /** The memoized answer of the request if still fresh (only read on a cache miss). */
  function memoized(state: RequestState): IpRisk | undefined {
    return state.answer !== undefined && Date.now() < state.answerUntil ? state.answer : undefined
  }

  function remember(state: RequestState, risk: IpRisk): void {
    state.answer = risk
    state.answerUntil = Date.now() + REQUEST_MEMO_MS
  }

  /** Cache miss: share one lookup between the calls of the request (or start a background one with `wait: false`). */
  async function lookup(state: RequestState, wait: boolean): Promise<IpRisk> {
    if (state.inflight !== undefined && wait) return state.inflight
    if (!wait) {
      const risk = await resolver.lookup(state.ip, { wait: false })
      if (risk.status !== 'pending') remember(state, risk)
      return risk
    }
    const pending = resolver.lookup(state.ip).then(
      (risk) => {
        state.inflight = undefined
        remember(state, risk)
        return risk
      },
      (error: unknown) => {
        state.inflight = undefined
        throw error
      },
    )
    state.inflight = pending
    return pending
  }

  function enforce(risk: IpRisk, policy: Policy, ctx: AnyContext, path: string, type: TRPCProcedureType): Decision {
    const decision = resolver.check(risk, policy)
    const req = requestOf(ctx)
    // `request` (the HTTP request, or the context when there is none, as for the lookup state) lets the reporter
    // coalesce the calls of one batch into one event per policy and outcome.
    resolver.report(decision, { adapter: 'trpc', path, method: type, userAgent: userAgentOf(req), request: req ?? ctx })
    if (decision.action === 'block') {
      throw new TRPCError({ code: 'FORBIDDEN', message, cause: new IpRiskBlockedError(decision) })
    }
    return decision
  }

  /** The policies of a call, once its answer is known; returns the call's `ctx.ipRisk`. Throws when blocked. */
  function decide(
    risk: IpRisk,
    ctx: AnyContext,
    call: IpRiskCall,
    prev: RiskContext | undefined,
    first: boolean,
    pathPolicy: Policy | undefined,
    metaPolicy: Policy | null,
    ownPolicy: Policy | null,
  ): RiskContext {
    const { path, type } = call
    let decision: Decision | null = null
    if (pathPolicy !== undefined) decision = enforce(risk, pathPolicy, ctx, path, type)
    if (metaPolicy !== null) decision = enforce(risk, metaPolicy, ctx, path, type)
    if (ownPolicy !== null) decision = enforce(risk, ownPolicy, ctx, path, type)
    if (decision === null && !first && prev !== undefined) decision = prev.decision
    return new RiskContext(risk, decision, path)
  }

  /**
   * Everything iprisk does for one call (the middlewares and `guard` share it): returns the call's `ctx.ipRisk`, at
   * once on the warm path, or a promise when it must wait for a lookup. Throws (or rejects) when blocked.
   */
  function evaluateCall(call: IpRiskCall, gate: Policy | null, wait: boolean): RiskContext | Promise<RiskContext> {
    const ctx = call.ctx as AnyContext
    const path = call.path
    const prev = ctx.ipRisk instanceof RiskContext ? ctx.ipRisk : undefined
    const meta = metaOfCall(call.meta, path)

    // Path and meta policies are enforced once per call, by the first iprisk middleware on it.
    const first = prev === undefined || RiskContext.scopeOf(prev) !== path
    const pathPolicy = first && !meta.skip ? paths.match(path) : undefined
    const metaPolicy = first && !meta.skip ? meta.policy : null
    const ownPolicy = meta.skip ? null : gate
    const needVerdict = wait || ownPolicy !== null || pathPolicy !== undefined || metaPolicy !== null

    if (prev !== undefined && (prev.risk.status !== 'pending' || !needVerdict)) {
      return decide(prev.risk, ctx, call, prev, first, pathPolicy, metaPolicy, ownPolicy)
    }
    const found = riskOf(ctx, needVerdict)
    if (found instanceof Promise) {
      return found.then((risk) => decide(risk, ctx, call, prev, first, pathPolicy, metaPolicy, ownPolicy))
    }
    return decide(found, ctx, call, prev, first, pathPolicy, metaPolicy, ownPolicy)
  }

  function middleware(gate: Policy | null, wait: boolean): IpRiskMiddleware {
    // Not `async`: on the warm path the call goes on to `next` without a promise of iprisk's own. A throw (a block)
    // reaches tRPC either way: it awaits each middleware inside a try.
    const ipRiskMiddleware: IpRiskMiddleware = (opts) => {
      const ipRisk = evaluateCall(opts, gate, wait)
      if (ipRisk instanceof Promise) return ipRisk.then((value) => opts.next({ ctx: { ipRisk: value } }))
      return opts.next({ ctx: { ipRisk } })
    }
    return ipRiskMiddleware
  }

  function guardOf(gate: Policy | null): IpRiskGuard {
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
      return evaluateCall(call, gate, true)
    }
  }

  function gateOf(policy: Policy, optionName: string): IpRiskMiddleware {
    return middleware(compileAt(resolver, policy, optionName, monitor), true)
  }

  return {
    withIpRisk(withOptions: WithIpRiskOptions = {}) {
      if (typeof withOptions !== 'object' || withOptions === null) {
        throw new IpRiskConfigError('withIpRisk', 'options must be an object')
      }
      for (const key of Object.keys(withOptions)) {
        if (key !== 'wait') throw new IpRiskConfigError(`withIpRisk.${key}`, 'unknown option (known options: wait)')
      }
      if (withOptions.wait !== undefined && typeof withOptions.wait !== 'boolean') {
        throw new IpRiskConfigError('withIpRisk.wait', 'must be true or false')
      }
      return middleware(null, withOptions.wait ?? true)
    },
    riskGate(policy) {
      if (typeof policy === 'number') {
        return gateOf({ name: `lowRisk(${String(policy)})`, threshold: policy }, 'riskGate')
      }
      if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
        throw new IpRiskConfigError('riskGate', 'must be a score threshold (0–100) or a policy object')
      }
      return gateOf(policy, 'riskGate')
    },
    requireHuman(overrides) {
      return gateOf({ ...presets.human, ...overridesOf(overrides, 'requireHuman') }, 'requireHuman')
    },
    requireNotBot(overrides) {
      return gateOf({ ...presets.notBot, ...overridesOf(overrides, 'requireNotBot') }, 'requireNotBot')
    },
    adminGate(overrides) {
      return gateOf({ ...presets.admin, ...overridesOf(overrides, 'adminGate') }, 'adminGate')
    },
    guard(policy) {
      if (policy === undefined) return guardOf(null)
      const asPolicy: unknown =
        typeof policy === 'number' ? { name: `lowRisk(${String(policy)})`, threshold: policy } : policy
      return guardOf(compileAt(resolver, asPolicy, 'guard', monitor))
    },
    checkRouter(router) {
      const procedures = (router as { _def?: { procedures?: Record<string, unknown> } } | null)?._def?.procedures
      if (typeof procedures !== 'object' || procedures === null) {
        throw new IpRiskConfigError('checkRouter', 'expects a tRPC router')
      }
      for (const [path, procedure] of Object.entries(procedures)) {
        metaOf((procedure as { _def?: { meta?: unknown } } | null)?._def?.meta, path)
      }
    },
  }
}

function metaOption(path: string): string {
  return `meta.ipRisk (procedure ${JSON.stringify(path)})`
}
