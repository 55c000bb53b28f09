/**
 * Workers host: the example Worker's own app (examples/workers/src/worker.ts `appFor`: the Cloudflare preset, built on
 * the first request) with the matrix's counters. Bundled by wrangler, run by workerd through miniflare (workerd.mjs).
 */
import { appFor, type Env } from '../../../examples/workers/src/worker.ts'
import { matrixHandler } from './common.ts'

interface MatrixEnv extends Env {
  MATRIX_LIVE_URL: string
  MATRIX_DEAD_URL: string
}

let handler: ReturnType<typeof matrixHandler> | undefined

export default {
  fetch(request: Request, env: MatrixEnv): Promise<Response> {
    handler ??= matrixHandler(
      { apiKey: env.IPASIS_API_KEY, liveUrl: env.MATRIX_LIVE_URL, deadUrl: env.MATRIX_DEAD_URL, trustProxy: undefined },
      ({ baseUrl, onServed, resolver }) => appFor({ ...env, IPASIS_BASE_URL: baseUrl, IPRISK_SIMULATOR: '1' }, { onServed, resolver }),
    )
    return handler(request)
  },
}
