/**
 * The public types of `iprisk/trpc`: the middleware, the gate for your own middleware, the procedure metadata and the
 * options.
 *
 * @module
 */
import type { AnyTRPCRouter, TRPCMiddlewareFunction, TRPCProcedureType } from '@trpc/server'
import type { IpRiskContext, WaitMode } from '../core/kernel.js'
import type { FailMode, Policy, RequestLike } from '../core/types.js'
import type { IpRiskResult } from './context.js'
import type { AnyContext } from './request.js'

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
 * A tRPC middleware adding `ctx.ipRisk` (an {@link IpRiskResult}: the context becomes an
 * `IpRiskContext<IpRiskResult>`) to the context. It works with any `initTRPC`
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
export type IpRiskMiddleware = TRPCMiddlewareFunction<any, any, any, IpRiskContext<IpRiskResult>, any>

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
 * const ipRisk: IpRiskResult = await guard(opts)
 * ```
 */
export type IpRiskGuard = (call: IpRiskCall) => Promise<IpRiskResult>

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
   * What the policies that set no `failMode` of their own do when no verdict can be had: `'open'` lets the call
   * through (`decision.failOpen: true`), `'closed'` blocks it. The same option as `useIpRisk`'s.
   * @default the resolver's `failMode`
   */
  failMode?: FailMode
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
   * Replaces request-based resolution: return the client IP yourself (it is canonicalized and reported with source
   * `'custom'`; an invalid value, `null` or a throw count as no IP). The resolver's proxy-trust settings are NOT
   * applied: only return an address you trust. The same option as `useIpRisk`'s.
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
   * Whether the call waits for a verdict on a cache miss (the same option as `useIpRisk`'s; see {@link WaitMode}):
   * `true` waits (cache, then the provider within the resolver's budget); `false` never delays the call
   * (`ctx.ipRisk.status` is `'pending'` while a background lookup fills the cache: the guide's async scoring);
   * `'on-demand'` never looks up (the cached answer, else `status: 'skipped'`). A call that a path or meta policy
   * applies to always waits.
   * @default true
   */
  wait?: WaitMode
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
   * export const adminProcedure = protectedProcedure.use(adminGate({ failMode: 'closed' }))
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
