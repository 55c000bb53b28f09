import { createRiskResolver, ipasis, platforms, type RiskResolver } from 'iprisk'

let resolver: RiskResolver | undefined

/**
 * The risk resolver of this route bundle, created on first use. Not at module load: `next build` loads every route
 * module to read its configuration, where the runtime's secrets are usually absent, and `ipasis()` refuses to start
 * without an API key (an `IpRiskConfigError`, which then fails every request loudly, never a silent allow). Each
 * route bundle (and, on the Edge runtime, each route's isolate) has its own instance.
 *
 * - `platforms.vercel()`: the client IP is the address Vercel's edge writes (`x-vercel-forwarded-for`, else
 *   `x-real-ip`, else `x-forwarded-for`), trusted by position: on Vercel nothing but Vercel reaches a function, and
 *   Vercel overwrites those headers whatever the client sent. A fetch `Request` has no peer address, and needs none.
 * - `ipasis()`: `IPASIS_API_KEY` is required; `IPASIS_BASE_URL` is only for a stand-in (the IPASIS simulator,
 *   `npx iprisk simulate`). Both are read here, by name: Next.js gives an Edge route only the variables its code names.
 */
export function getRisk(): RiskResolver {
  resolver ??= createRiskResolver({
    provider: ipasis({
      apiKey: process.env.IPASIS_API_KEY ?? '',
      baseUrl: process.env.IPASIS_BASE_URL || undefined,
    }),
    trustProxy: platforms.vercel(),
    // Local checks only: the simulator's callers use documentation addresses (203.0.113.0/24), which are never
    // scored in production. Leave IPRISK_SCORE_DOCUMENTATION_RANGES unset in a deployment.
    scoreDocumentationRanges: process.env.IPRISK_SCORE_DOCUMENTATION_RANGES === '1',
  })
  return resolver
}

/** Which runtime a route runs on, for the answers and the log lines of this example. */
export type RuntimeName = 'nodejs' | 'edge'

/**
 * What a protected procedure or resolver logs when its body runs: the check reads these lines to prove that a blocked
 * call never reached the body. `x-request-id` is the caller's own id for the call (any text; only logged).
 */
export function logBodyRan(what: string, runtime: RuntimeName, request: Request): void {
  const id = (request.headers.get('x-request-id') ?? '-').slice(0, 64).replace(/[^\w.:-]/g, '_')
  console.log(`[example] ${what} ran on ${runtime} for request ${id}`)
}
