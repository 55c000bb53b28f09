/**
 * Workers host: the example Worker's own app (examples/workers/src/worker.ts `appFor`: the Cloudflare preset, built on
 * the first request) with the matrix's counters. Bundled by wrangler, run by workerd through miniflare (workerd.mjs).
 */
import exampleWorker, { appFor, type Env } from '../../../examples/workers/src/worker.ts'
import type { App } from '../../../examples/fetch/app.ts'
import { matrixHandler } from './common.ts'

interface MatrixEnv extends Env {
  MATRIX_LIVE_URL: string
  MATRIX_DEAD_URL: string
}

let handler: ReturnType<typeof matrixHandler> | undefined
// Two resolvers (as two isolates or locations would have) on one KV namespace: `/kv-a/…` and `/kv-b/…`.
const kvApps: Record<string, App> = {}

export default {
  async fetch(request: Request, env: MatrixEnv): Promise<Response> {
    handler ??= matrixHandler(
      { apiKey: env.IPASIS_API_KEY, liveUrl: env.MATRIX_LIVE_URL, deadUrl: env.MATRIX_DEAD_URL, trustProxy: undefined },
      // Without the KV namespace: these checks are about one isolate.
      ({ baseUrl, onServed, resolver }) =>
        appFor({ ...env, IPRISK_KV: undefined, IPASIS_BASE_URL: baseUrl, IPRISK_SIMULATOR: '1' }, { onServed, resolver }),
    )
    const url = new URL(request.url)
    // The keys in the KV namespace (its binding's list()), for the shared-cache check to wait on.
    if (url.pathname === '/__matrix/kv-keys') {
      const list = await (env.IPRISK_KV as unknown as { list(): Promise<{ keys: { name: string }[] }> }).list()
      return Response.json(list.keys.map((k) => k.name))
    }
    // The example Worker's own default export, configured as its README does for the simulator.
    if (url.pathname.startsWith('/example/')) {
      url.pathname = url.pathname.slice('/example'.length)
      return exampleWorker.fetch(new Request(url, request), { ...env, IPRISK_KV: undefined, IPASIS_BASE_URL: env.MATRIX_LIVE_URL, IPRISK_SIMULATOR: '1' })
    }
    const kv = url.pathname.match(/^\/(kv-[ab])(\/.*)$/)
    if (kv) {
      const name = kv[1]!
      // The example's own wiring: a bound IPRISK_KV becomes the shared cache.
      kvApps[name] ??= appFor({ ...env, IPASIS_BASE_URL: env.MATRIX_LIVE_URL, IPRISK_SIMULATOR: '1' })
      url.pathname = kv[2]!
      return kvApps[name].fetch(new Request(url, request))
    }
    return handler(request)
  },
}
