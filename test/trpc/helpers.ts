/**
 * Shared fixtures of the tRPC suites: a simulator-backed resolver, real HTTP servers (standalone adapter, and the
 * fetch adapter behind a Node server), and typed clients that choose their IP with X-Forwarded-For.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client'
import type { AnyTRPCRouter } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import { fetchRequestHandler } from '@trpc/server/adapters/fetch'
import { Agent, EventSource } from 'undici'
import { createSimulatedResolver } from '../support/fixture.js'

export { ips, type Fixture, type Profile } from '../support/fixture.js'

/** A fresh simulator with the demo profiles and a resolver on it (trusting X-Forwarded-For from loopback). */
export const createFixture = createSimulatedResolver

export interface Served {
  url: string
  /** Errors tRPC reported (`onError`), with their cause. */
  errors: unknown[]
  close(): Promise<void>
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve(`http://127.0.0.1:${String(port)}`)
    })
  })
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()))
      server.closeAllConnections()
    })
}

/** Serve a router on the standalone adapter; `createContext` returns `{ req }` unless given. */
export async function serveStandalone(
  router: AnyTRPCRouter,
  createContext: (opts: { req: IncomingMessage }) => object = ({ req }) => ({ req }),
): Promise<Served> {
  const errors: unknown[] = []
  const server = createHTTPServer({
    router,
    createContext,
    onError: ({ error }) => errors.push(error),
  })
  const url = await listen(server)
  return { url, errors, close: closer(server) }
}

/**
 * Serve a router through the fetch adapter (as Next.js, Bun, Deno or Workers run it), behind a Node server that
 * converts each request to a fetch `Request` and hands the socket address to `createContext` as the platform would.
 */
export async function serveFetch(
  router: AnyTRPCRouter,
  createContext: (opts: { req: Request; peer: string | undefined }) => object = ({ req, peer }) => ({
    req,
    peerAddress: peer,
  }),
): Promise<Served> {
  const errors: unknown[] = []
  const server = createServer((nodeReq, nodeRes) => {
    void (async () => {
      const chunks: Buffer[] = []
      for await (const chunk of nodeReq) chunks.push(chunk as Buffer)
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined
      const headers = new Headers()
      for (const [name, value] of Object.entries(nodeReq.headers)) {
        if (typeof value === 'string') headers.set(name, value)
        else if (Array.isArray(value)) for (const v of value) headers.append(name, v)
      }
      const req = new Request(`http://127.0.0.1${nodeReq.url ?? '/'}`, {
        method: nodeReq.method ?? 'GET',
        headers,
        ...(body !== undefined && nodeReq.method !== 'GET' && nodeReq.method !== 'HEAD' ? { body } : {}),
      })
      const peer = nodeReq.socket.remoteAddress
      const res = await fetchRequestHandler({
        endpoint: '',
        req,
        router,
        createContext: () => createContext({ req, peer }),
        onError: ({ error }) => errors.push(error),
      })
      nodeRes.writeHead(res.status, Object.fromEntries(res.headers))
      nodeRes.end(Buffer.from(await res.arrayBuffer()))
    })().catch((error: unknown) => {
      nodeRes.writeHead(500)
      nodeRes.end(String(error))
    })
  })
  const url = await listen(server)
  return { url, errors, close: closer(server) }
}

/** A typed client sending `X-Forwarded-For: ip` (when given), batching by default. */
export function clientFor<TRouter extends AnyTRPCRouter>(
  url: string,
  ip?: string,
  options: { batch?: boolean; headers?: Record<string, string> } = {},
): TRPCClient<TRouter> {
  const headers: Record<string, string> = { ...options.headers }
  if (ip !== undefined) headers['x-forwarded-for'] = ip
  const link = options.batch === false ? httpLink({ url, headers }) : httpBatchLink({ url, headers })
  return createTRPCClient<TRouter>({ links: [link] })
}

/** The outcome of a call: `'ok'`, or the tRPC error code and HTTP status. */
export async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call()
    return 'ok'
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const data = error.data as { code?: string; httpStatus?: number } | undefined
      return `${data?.code ?? 'UNKNOWN'} ${String(data?.httpStatus ?? '')}`.trim()
    }
    throw error
  }
}

/** Raw POST/GET to a tRPC endpoint, returning status and parsed JSON (to check the exact wire shape). */
export async function raw(
  url: string,
  init: { method?: 'GET' | 'POST'; ip?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: unknown; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers }
  if (init.ip !== undefined) headers['x-forwarded-for'] = init.ip
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
  const text = await res.text()
  let json: unknown = null
  try {
    json = JSON.parse(text)
  } catch {
    json = null
  }
  return { status: res.status, json, text }
}

/**
 * A client whose subscriptions go over SSE (`httpSubscriptionLink` with undici's `EventSource`), sending
 * `X-Forwarded-For: ip` through a header-adding dispatcher (EventSource has no `headers` option).
 */
export function sseClientFor<TRouter extends AnyTRPCRouter>(url: string, ip: string): TRPCClient<TRouter> {
  const dispatcher = new Agent().compose((dispatch) => (opts, handler) => {
    const headers = opts.headers
    const merged = Array.isArray(headers)
      ? [...(headers as string[]), 'x-forwarded-for', ip]
      : { ...(headers as Record<string, string> | undefined), 'x-forwarded-for': ip }
    return dispatch({ ...opts, headers: merged }, handler)
  })
  const link = splitLink({
    condition: (op) => op.type === 'subscription',
    true: httpSubscriptionLink({ url, EventSource, eventSourceOptions: { node: { dispatcher } } }),
    false: httpLink({ url, headers: { 'x-forwarded-for': ip } }),
  })
  return createTRPCClient<TRouter>({ links: [link] })
}

/** Subscribe and collect until the subscription completes or errors (bounded by `timeoutMs`). */
export function collect(
  subscribe: (handlers: {
    onData: (value: unknown) => void
    onError: (error: unknown) => void
    onComplete: () => void
  }) => { unsubscribe(): void },
  timeoutMs = 5_000,
): Promise<{ data: unknown[]; error: unknown }> {
  return new Promise((resolve) => {
    const data: unknown[] = []
    let sub: { unsubscribe(): void } | undefined
    const finish = (error: unknown): void => {
      clearTimeout(timer)
      sub?.unsubscribe()
      resolve({ data, error })
    }
    const timer = setTimeout(() => finish(new Error('subscription timed out')), timeoutMs)
    sub = subscribe({ onData: (value) => data.push(value), onError: finish, onComplete: () => finish(null) })
  })
}
