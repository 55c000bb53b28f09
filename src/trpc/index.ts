/**
 * `iprisk/trpc`: IP risk middlewares for tRPC v11.
 *
 * @example
 * ```ts
 * import { initTRPC } from '@trpc/server'
 * import { createRiskResolver, ipasis, policies } from 'iprisk'
 * import { createTrpcRisk, type IpRiskMeta } from 'iprisk/trpc'
 *
 * const resolver = createRiskResolver({ provider: ipasis({ apiKey: process.env.IPASIS_API_KEY! }), trustProxy: 'loopback' })
 * const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(resolver, {
 *   pathPolicies: { 'admin.': policies.admin },
 * })
 *
 * const t = initTRPC.context<Context>().meta<IpRiskMeta>().create()
 * export const publicProcedure = t.procedure.use(withIpRisk())          // annotates ctx.ipRisk, never blocks
 * export const loginProcedure = publicProcedure.use(riskGate(75))       // blocks score >= 75
 * export const signupProcedure = publicProcedure.use(requireHuman())    // blocks Tor and score >= 80
 * ```
 *
 * @module
 */
export { createTrpcRisk } from './middleware.js'
export type {
  IpRiskCall,
  IpRiskGuard,
  IpRiskMeta,
  IpRiskMiddleware,
  TrpcRisk,
  TrpcRiskOptions,
  WithIpRiskOptions,
} from './types.js'
export type { IpRiskContextJson, IpRiskResult, IpRiskResultJson } from './context.js'
export type { IpRiskContext, WaitMode } from '../core/kernel.js'
export { IpRiskBlockedError } from '../core/errors.js'
