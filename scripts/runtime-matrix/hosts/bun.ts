/** Bun host: `Bun.serve`, the peer from `server.requestIP(request)` (as in examples/bun/server.ts). */
import { matrixHandler } from './common.ts'

const env = process.env
const handler = matrixHandler({
  apiKey: env.MATRIX_KEY!,
  liveUrl: env.MATRIX_LIVE_URL!,
  deadUrl: env.MATRIX_DEAD_URL!,
  trustProxy: env.MATRIX_TRUST_PROXY!,
})
Bun.serve({ hostname: '127.0.0.1', port: Number(env.MATRIX_PORT), fetch: (request, server) => handler(request, server.requestIP(request)?.address) })
console.log(`READY ${env.MATRIX_PORT}`)
