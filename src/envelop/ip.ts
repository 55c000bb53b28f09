/**
 * Where a GraphQL request came from: the per-request key used to share one risk answer between the operations of a
 * batch, the request object whose headers give the client IP (through the resolver's trust model, in the core's
 * request kernel) and the user agent, and the TCP peer address a fetch `Request` does not carry.
 *
 * Envelop does not define a request object; this module understands the common server contexts:
 * - graphql-yoga (any runtime): `context.request` is the fetch `Request`; on Node, the server context adds `req`
 *   (the `IncomingMessage`, or Fastify's request) whose socket gives the peer address;
 * - Envelop on a Node server (Express, `node:http`, graphql-http, ...): `context.req` is the `IncomingMessage`.
 * Anything else: pass `getClientIp`.
 *
 * @module
 */

import type { RequestLike } from '../core/types.js'

/**
 * Reads the client IP from the GraphQL context; see `UseIpRiskOptions.getClientIp`.
 *
 * @example
 * ```ts
 * // graphql-ws: the IP your load balancer verified, from the upgrade request
 * const getClientIp: GetClientIp<{ extra: { request: IncomingMessage } }> = (ctx) =>
 *   ctx.extra.request.socket.remoteAddress ?? null
 * ```
 */
export type GetClientIp<TContext> = (context: TContext) => string | null | undefined

interface ServerContext {
  request?: unknown
  req?: unknown
}

function hasHeaders(value: unknown): value is RequestLike {
  if (typeof value !== 'object' || value === null) return false
  const headers = (value as { headers?: unknown }).headers
  return typeof headers === 'object' && headers !== null
}

function isFetchRequest(value: unknown): boolean {
  return hasHeaders(value) && typeof (value.headers as { get?: unknown }).get === 'function'
}

function isNodeRequest(value: unknown): value is RequestLike {
  return hasHeaders(value) && typeof (value.headers as { get?: unknown }).get !== 'function'
}

function peerOf(req: unknown): string | null {
  if (typeof req !== 'object' || req === null) return null
  const socket = (req as { socket?: unknown }).socket
  if (typeof socket !== 'object' || socket === null) return null
  const address = (socket as { remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' ? address : null
}

/**
 * The object every operation of one HTTP request shares: Yoga's fetch `Request` (batched operations get their own
 * context objects around it), else the Node request, else the context itself.
 */
export function requestKey(context: unknown): object {
  const ctx = context as ServerContext
  const request = ctx.request
  if (typeof request === 'object' && request !== null) return request
  const req = ctx.req
  if (typeof req === 'object' && req !== null) return req
  return context as object
}

/**
 * The request whose headers give the client IP and the user agent, or `undefined` (then: no IP). Per operation on the
 * warm path: it allocates nothing. Never throws (a hostile getter counts as no request).
 */
export function requestOf(context: unknown): RequestLike | undefined {
  try {
    const ctx = context as ServerContext
    const req = ctx.req
    // Yoga on Node (and Fastify, Express…): the Node request has the same headers as the fetch Request built from it,
    // as a plain object, plus the socket: reading it is several times cheaper than `Headers#get`.
    if (isNodeRequest(req) && peerOf(req) !== null) return req
    const request = ctx.request
    // Fetch platforms: headers from the fetch Request, the peer from the server context (see peerFor).
    if (isFetchRequest(request)) return request as RequestLike
    if (isNodeRequest(request)) return request
    if (isNodeRequest(req)) return req
    return undefined
  } catch {
    return undefined
  }
}

/**
 * The TCP peer for `req` (from {@link requestOf}): for a fetch `Request`, the socket of the Node request beside it
 * (Yoga's server context), else the Request's own; for a Node request, `undefined` (the resolver reads its socket).
 */
export function peerFor(context: unknown, req: RequestLike): string | null | undefined {
  if (!isFetchRequest(req)) return undefined
  return peerOf((context as ServerContext).req) ?? peerOf(req)
}
