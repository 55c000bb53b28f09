/**
 * iprisk on Cloudflare Workers: the tRPC and Yoga app of ../../fetch/app.ts, behind Cloudflare's edge.
 *
 * A Worker has no socket peer: Cloudflare's edge states the visitor's address in `CF-Connecting-IP`, overwriting
 * whatever the visitor sent, and nothing reaches a Worker but through the edge. So the client IP comes from the
 * Cloudflare preset trusted by position (`ranges: 'any'`): `CF-Connecting-IP` (or `CF-Connecting-IPv6` with Pseudo
 * IPv4), never `X-Forwarded-For`, `X-Real-IP` or `True-Client-IP`, which the visitor can write.
 */
import { waitUntil } from 'cloudflare:workers'
import { platforms, workersKvStore } from 'iprisk'
import { createApp, type App, type AppOptions } from '../../fetch/app.ts'

/** The Worker's bindings (wrangler.toml `[vars]`, `wrangler secret put IPASIS_API_KEY`). */
export interface Env {
  /** Your IPASIS API key: a secret (`wrangler secret put IPASIS_API_KEY`; `.dev.vars` locally). */
  IPASIS_API_KEY: string
  /** Optional: another API address, e.g. a local simulator (`npx iprisk simulate`) while developing. */
  IPASIS_BASE_URL?: string
  /** Optional: `"1"` scores loopback and documentation addresses, as `npx iprisk simulate` answers them. Never in production. */
  IPRISK_SIMULATOR?: string
  /**
   * Optional: a KV namespace (`[[kv_namespaces]]` in wrangler.toml) shared by every isolate and location as the
   * resolver's shared cache; without it each isolate caches on its own. `redis://` cannot work on Workers.
   */
  IPRISK_KV?: Parameters<typeof workersKvStore>[0]
}

/** The app for these bindings; `extra` adds resolver options (the runtime matrix passes its counters). */
export function appFor(env: Env, extra: Partial<AppOptions> = {}): App {
  return createApp({
    apiKey: env.IPASIS_API_KEY,
    baseUrl: env.IPASIS_BASE_URL,
    simulator: env.IPRISK_SIMULATOR === '1',
    trustProxy: platforms.cloudflare({ ranges: 'any' }),
    ...extra,
        // waitUntil keeps the cache writes alive after the response (Workers cancels them otherwise).
    resolver: { ...(env.IPRISK_KV ? { cache: workersKvStore(env.IPRISK_KV, { waitUntil }) } : {}), ...extra.resolver },
  })
}

// Built on the first request and kept for the isolate's life (its cache with it): a Worker may not start timers or
// create AbortControllers at module scope ("Disallowed operation called within global scope").
let app: App | undefined

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    app ??= appFor(env)
    return app.fetch(request)
  },
}
