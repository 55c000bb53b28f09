/** Deno host: `Deno.serve`, the peer from `info.remoteAddr` (as in examples/deno/server.ts). */
import { matrixHandler } from './common.ts'

const env = (name: string) => Deno.env.get(name)!
const handler = matrixHandler({
  apiKey: env('MATRIX_KEY'),
  liveUrl: env('MATRIX_LIVE_URL'),
  deadUrl: env('MATRIX_DEAD_URL'),
  trustProxy: env('MATRIX_TRUST_PROXY'),
})
Deno.serve(
  { hostname: '127.0.0.1', port: Number(env('MATRIX_PORT')), onListen: () => console.log(`READY ${env('MATRIX_PORT')}`) },
  (request, info) => handler(request, info.remoteAddr.hostname),
)
