/**
 * iprisk on Deno: `Deno.serve` with the tRPC and Yoga app of ../fetch/app.ts.
 *
 *   IPASIS_API_KEY=... deno run --allow-net --allow-env --allow-read --allow-sys server.ts
 *
 * A fetch `Request` carries no socket: Deno gives the peer as `info.remoteAddr`, and iprisk reads `X-Forwarded-For`
 * only when that peer is a proxy you trust (`IPRISK_TRUST_PROXY`, e.g. `loopback` behind nginx on this host). See
 * README.md.
 */
import { createApp } from '../fetch/app.ts'

const env = (name: string): string | undefined => Deno.env.get(name)
const app = createApp({
  apiKey: env('IPASIS_API_KEY') ?? '',
  baseUrl: env('IPASIS_BASE_URL'),
  // Comma-separated addresses, ranges or names ('loopback', 'private'); unset: the peer is the client.
  trustProxy: env('IPRISK_TRUST_PROXY')?.split(',') ?? false,
  simulator: env('IPRISK_SIMULATOR') === '1',
})
// Fails loudly before serving when the key is wrong or the API is unreachable (IpRiskProbeError).
await app.risk.ready()

Deno.serve(
  { hostname: env('HOST') ?? '127.0.0.1', port: Number(env('PORT') ?? 3000) },
  (request, info) => app.fetch(request, info.remoteAddr.hostname),
)
