/**
 * iprisk on Bun: `Bun.serve` with the tRPC and Yoga app of ../fetch/app.ts.
 *
 *   IPASIS_API_KEY=... bun run server.ts
 *
 * A fetch `Request` carries no socket: Bun gives the peer with `server.requestIP(request)`, and iprisk reads
 * `X-Forwarded-For` only when that peer is a proxy you trust (`IPRISK_TRUST_PROXY`, e.g. `loopback` behind nginx on
 * this host). See README.md.
 */
import { createApp } from '../fetch/app.ts'

const env = process.env
const app = createApp({
  apiKey: env.IPASIS_API_KEY ?? '',
  baseUrl: env.IPASIS_BASE_URL,
  // Comma-separated addresses, ranges or names ('loopback', 'private'); unset: the peer is the client.
  trustProxy: env.IPRISK_TRUST_PROXY ? env.IPRISK_TRUST_PROXY.split(',') : false,
  simulator: env.IPRISK_SIMULATOR === '1',
})
// Fails loudly before serving when the key is wrong or the API is unreachable (IpRiskProbeError).
await app.risk.ready()

const server = Bun.serve({
  hostname: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 3000),
  fetch: (request, server) => app.fetch(request, server.requestIP(request)?.address),
})
console.log(`iprisk Bun example on ${server.url}`)
