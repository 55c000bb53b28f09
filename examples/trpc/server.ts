/**
 * The example tRPC server (standalone adapter) protected by iprisk.
 *
 * Stable exports (used by the demo, the benchmarks and the reliability suites):
 * - `startTrpcExample({ resolver, port = 0, host = '127.0.0.1' })` → `{ url, close() }`: serves
 *   `createExampleRouter(resolver)` (see `router.ts`) at `url` (e.g. `http://127.0.0.1:40123`, no trailing slash).
 *   `close()` stops the server and its keep-alive sockets; it does not close the resolver (the caller owns it).
 *
 * Run it directly: `npx tsx examples/trpc/server.ts` (uses the shared example set-up: the real IPASIS API when
 * `IPASIS_API_KEY` is set, else the local simulator; `PORT` / `HOST` choose the address). The resolver trusts
 * `X-Forwarded-For` from loopback only, so a local client can play any demo IP:
 * `curl -H 'x-forwarded-for: 203.0.113.40' 'http://127.0.0.1:3000/signup' -d '{"email":"a@b.co"}'` → 403.
 *
 * @module
 */
import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import type { RiskResolver } from '../../src/core/index.js'
import { createExampleRisk } from '../shared/setup.js'
import { createExampleRouter } from './router.js'

/** Options of {@link startTrpcExample}. */
export interface TrpcExampleOptions {
  resolver: RiskResolver
  /** @default 0 (a free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
}

/** A running example server. */
export interface TrpcExample {
  /** Base URL of the tRPC endpoint, e.g. `http://127.0.0.1:40123`. */
  url: string
  close(): Promise<void>
}

/**
 * Start the example API on the standalone adapter.
 *
 * @example
 * ```ts
 * const risk = await createExampleRisk()
 * const server = await startTrpcExample({ resolver: risk.resolver })
 * const client = createExampleClient(server.url, { forwardedFor: demoClients.tor })
 * await client.signup.mutate({ email: 'a@b.co' }) // throws TRPCClientError FORBIDDEN
 * await server.close()
 * await risk.close()
 * ```
 */
export async function startTrpcExample({ resolver, port = 0, host = '127.0.0.1' }: TrpcExampleOptions): Promise<TrpcExample> {
  const router = createExampleRouter(resolver)
  const server = createHTTPServer({
    router,
    createContext: ({ req }) => ({ req }),
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${hostPart}:${String(address.port)}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}

async function main(): Promise<void> {
  const risk = await createExampleRisk()
  const port = Number(process.env.PORT ?? 3000)
  const server = await startTrpcExample({ resolver: risk.resolver, port, host: process.env.HOST ?? '127.0.0.1' })
  console.log(`iprisk tRPC example listening on ${server.url} (${risk.simulator ? 'simulated IPASIS' : 'IPASIS API'})`)
  const stop = async (): Promise<void> => {
    await server.close()
    await risk.close()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop())
  process.once('SIGTERM', () => void stop())
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main()
}
