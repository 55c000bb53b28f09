/**
 * Finding the HTTP request (and so the client IP) of a tRPC call from its context, for every adapter, without
 * configuration when the app puts the adapter's `req` on the context.
 *
 * | Adapter                         | `createContext` receives                 | iprisk reads                          |
 * |---------------------------------|------------------------------------------|---------------------------------------|
 * | standalone / node-http, Express | `req`: `IncomingMessage`                 | `ctx.req` (headers + socket address)  |
 * | Fastify                         | `req`: `FastifyRequest` (`headers`, `socket`) | `ctx.req`                        |
 * | fetch (Next.js app router, Bun, Deno, Workers) | `req`: a fetch `Request`  | `ctx.req` + `ctx.peerAddress`         |
 * | WebSocket (`ws`)                | `req`: the upgrade `IncomingMessage`     | `ctx.req`                             |
 *
 * Also accepted: `ctx.request`, or a context that itself has `headers` (create-t3-app's `{ headers }`).
 *
 * @module
 */
import type { RequestLike } from '../core/types.js'

/** The context as the middleware sees it: an object we only read. */
export type AnyContext = Readonly<Record<string, unknown>>

function isRequestLike(value: unknown): value is RequestLike {
  if (typeof value !== 'object' || value === null) return false
  try {
    const headers = (value as { headers?: unknown }).headers
    return typeof headers === 'object' && headers !== null
  } catch {
    return false // a request whose headers cannot be read is no request: the call gets "no IP" and its fail mode
  }
}

/**
 * The default request finder: `ctx.req`, else `ctx.request`, else the context itself when it has `headers`.
 * Returns `undefined` when none is an object with `headers`.
 */
export function defaultGetRequest(ctx: AnyContext): RequestLike | undefined {
  const req = ctx.req
  if (isRequestLike(req)) return req
  const request = ctx.request
  if (isRequestLike(request)) return request
  if (isRequestLike(ctx)) return ctx
  return undefined
}

/** The default peer-address finder: `ctx.peerAddress` when it is a string (fetch platforms put it there). */
export function defaultGetPeerAddress(ctx: AnyContext): string | undefined {
  const peer = ctx.peerAddress
  return typeof peer === 'string' ? peer : undefined
}
