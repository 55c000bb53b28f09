/**
 * A typed `@trpc/client` for the example server, and a script that calls it as every demo client.
 *
 * Stable exports (used by the demo, the benchmarks and the reliability suites):
 * - `createExampleClient(url, { forwardedFor?, userAgent?, batch? })` → a typed client of `AppRouter`: queries and
 *   mutations over `httpBatchLink` (or `httpLink` with `batch: false`), subscriptions over SSE
 *   (`httpSubscriptionLink` with undici's `EventSource`). `forwardedFor` is sent as `X-Forwarded-For` on every
 *   request, subscriptions included (the example server trusts it from loopback only).
 * - `blockReason(error)` → the `ipRiskReason` the example's `errorFormatter` exposes, or `null`.
 *
 * Run it: `npx tsx examples/trpc/client.ts [url]` (default `http://127.0.0.1:3000`, start `server.ts` first).
 *
 * @module
 */
import { pathToFileURL } from 'node:url'
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client'
import { Agent, EventSource, type Dispatcher } from 'undici'
import { demoClients } from '../shared/setup.js'
import type { AppRouter } from './router.js'

/** Options of {@link createExampleClient}. */
export interface ExampleClientOptions {
  /** Sent as `X-Forwarded-For`, to play a client IP against a server that trusts loopback proxies. */
  forwardedFor?: string
  /** Sent as `User-Agent` (appears in iprisk's security events). */
  userAgent?: string
  /** `true`: `httpBatchLink` (calls made in the same tick share one HTTP request); `false`: one request per call. @default true */
  batch?: boolean
}

/** A typed client of the example router. */
export type ExampleClient = TRPCClient<AppRouter>

/** Adds fixed headers to every request sent through a dispatcher (EventSource has no `headers` option). */
function withHeaders(extra: Readonly<Record<string, string>>): Dispatcher {
  return new Agent().compose((dispatch) => (opts, handler) => {
    const headers = opts.headers
    let merged: Dispatcher.DispatchOptions['headers']
    if (Array.isArray(headers)) {
      merged = [...(headers as string[]), ...Object.entries(extra).flat()]
    } else if (headers !== null && headers !== undefined && typeof headers === 'object') {
      merged = { ...(headers as Record<string, string>), ...extra }
    } else {
      merged = { ...extra }
    }
    return dispatch({ ...opts, headers: merged }, handler)
  })
}

/**
 * A typed client of the example server.
 *
 * @example
 * ```ts
 * const tor = createExampleClient(server.url, { forwardedFor: demoClients.tor })
 * await tor.hello.query()                     // { greeting: 'hello' } (annotate only)
 * await tor.signup.mutate({ email: 'a@b.co' }) // throws: FORBIDDEN, blockReason(error) === 'tor_exit_node'
 * ```
 */
export function createExampleClient(url: string, options: ExampleClientOptions = {}): ExampleClient {
  const headers: Record<string, string> = {}
  if (options.forwardedFor !== undefined) headers['x-forwarded-for'] = options.forwardedFor
  if (options.userAgent !== undefined) headers['user-agent'] = options.userAgent
  const dispatcher = Object.keys(headers).length > 0 ? withHeaders(headers) : undefined
  const requestLink = options.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers })
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: dispatcher === undefined ? {} : { node: { dispatcher } },
        }),
        false: requestLink,
      }),
    ],
  })
}

/** The block reason the example server exposes in `error.data.ipRiskReason`, or `null` (not blocked by iprisk). */
export function blockReason(error: unknown): string | null {
  if (!(error instanceof TRPCClientError)) return null
  const data = (error as TRPCClientError<AppRouter>).data as { ipRiskReason?: unknown } | undefined
  return typeof data?.ipRiskReason === 'string' ? data.ipRiskReason : null
}

async function main(): Promise<void> {
  const url = process.argv[2] ?? 'http://127.0.0.1:3000'
  for (const [name, ip] of Object.entries(demoClients)) {
    const client = createExampleClient(url, { forwardedFor: ip, userAgent: `iprisk-example/${name}` })
    const outcome = async (call: () => Promise<unknown>): Promise<string> => {
      try {
        await call()
        return 'ok'
      } catch (error) {
        return `blocked (${blockReason(error) ?? (error instanceof Error ? error.message : String(error))})`
      }
    }
    const who = await client.whoami.query()
    const results = {
      orders: await outcome(() => client.orders.query()),
      signup: await outcome(() => client.signup.mutate({ email: 'someone@example.com' })),
      admin: await outcome(() => client.admin.stats.query()),
    }
    const summary = Object.entries(results)
      .map(([procedure, result]) => `${procedure}: ${result}`)
      .join(', ')
    console.log(`${name.padEnd(10)} ${ip.padEnd(15)} score=${String(who.score).padEnd(4)} ${summary}`)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
