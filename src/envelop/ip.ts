/**
 * Where a GraphQL request came from: the per-request key used to share one risk answer between the operations of a
 * batch, the client IP (through the resolver's trust model) and the user agent.
 *
 * Envelop does not define a request object; this module understands the common server contexts:
 * - graphql-yoga (any runtime): `context.request` is the fetch `Request`; on Node, the server context adds `req`
 *   (the `IncomingMessage`, or Fastify's request) whose socket gives the peer address;
 * - Envelop on a Node server (Express, `node:http`, graphql-http, ...): `context.req` is the `IncomingMessage`.
 * Anything else: pass `getClientIp`.
 *
 * @module
 */

import { classifyIp, parseIp } from '../core/ip.js'
import type { ClientIp, RequestLike, RiskResolver } from '../core/types.js'

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

/** One HTTP request as the plugin sees it. */
export interface RequestSource {
  /** The object every operation of the request shares (the fetch `Request`, the Node request, or the context). */
  readonly key: object
  readonly client: ClientIp
  readonly userAgent: string | null
}

const NO_IP: ClientIp = Object.freeze({ ip: null, source: null, kind: null })

interface FetchLikeRequest {
  headers: { get(name: string): string | null }
}
interface NodeLikeRequest {
  headers: Record<string, string | string[] | undefined>
  socket?: { remoteAddress?: string | undefined } | null
}

function isFetchRequest(value: unknown): value is FetchLikeRequest {
  if (typeof value !== 'object' || value === null) return false
  const headers = (value as { headers?: unknown }).headers
  return typeof headers === 'object' && headers !== null && typeof (headers as { get?: unknown }).get === 'function'
}

function isNodeRequest(value: unknown): value is NodeLikeRequest {
  if (typeof value !== 'object' || value === null) return false
  const headers = (value as { headers?: unknown }).headers
  return typeof headers === 'object' && headers !== null && typeof (headers as { get?: unknown }).get !== 'function'
}

function peerOf(req: unknown): string | null {
  if (typeof req !== 'object' || req === null) return null
  const socket = (req as { socket?: unknown }).socket
  if (typeof socket !== 'object' || socket === null) return null
  const address = (socket as { remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' ? address : null
}

function firstHeader(value: string | string[] | undefined): string | null {
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return value[0] ?? null
  return null
}

/**
 * Canonicalizes and classifies an application-supplied IP with the core's parser (the same rules as every other IP),
 * marking it `custom`. Text that is not an IP address gives "no IP".
 */
function customIp(ip: string | null | undefined): ClientIp {
  if (typeof ip !== 'string') return NO_IP
  const canonical = parseIp(ip)
  return canonical === null ? NO_IP : { ip: canonical, source: 'custom', kind: classifyIp(canonical) }
}

/**
 * The object every operation of one HTTP request shares: Yoga's fetch `Request` (batched operations get their own
 * context objects around it), else the Node request, else the context itself.
 */
export function requestKey(context: unknown): object {
  const ctx = context as { request?: unknown; req?: unknown }
  const request = ctx.request
  if (typeof request === 'object' && request !== null) return request
  const req = ctx.req
  if (typeof req === 'object' && req !== null) return req
  return context as object
}

/**
 * The client IP behind a GraphQL context, under the resolver's trust settings (or from `getClientIp`). Per operation
 * on the warm path, so it allocates nothing of its own. Never throws: a failing `getClientIp` gives "no IP", which
 * policies treat with their fail mode.
 */
export function readClientIp<TContext>(
  context: TContext,
  resolver: RiskResolver,
  getClientIp: GetClientIp<TContext> | undefined,
): ClientIp {
  const ctx = context as { request?: unknown; req?: unknown }
  try {
    if (getClientIp !== undefined) return customIp(getClientIp(context))
    const req = ctx.req
    // Yoga on Node (and Fastify, Express…): the Node request has the same headers as the fetch Request built from it,
    // as a plain object, plus the socket: reading it is several times cheaper than `Headers#get`.
    if (isNodeRequest(req) && peerOf(req) !== null) return resolver.clientIp(req as RequestLike)
    const request = ctx.request
    // Fetch platforms: headers from the fetch Request, the peer from the server context (when there is one).
    if (isFetchRequest(request)) return resolver.clientIp(request as unknown as RequestLike, peerOf(req) ?? peerOf(request))
    if (isNodeRequest(request)) return resolver.clientIp(request as RequestLike)
    if (isNodeRequest(req)) return resolver.clientIp(req as RequestLike)
    return NO_IP
  } catch {
    return NO_IP
  }
}

/** The `User-Agent` of the request behind a GraphQL context (first value if repeated), or `null`. Never throws. */
export function readUserAgent(context: unknown): string | null {
  const ctx = context as { request?: unknown; req?: unknown }
  try {
    const req = ctx.req
    if (isNodeRequest(req) && peerOf(req) !== null) return firstHeader(req.headers['user-agent'])
    const request = ctx.request
    if (isFetchRequest(request)) return request.headers.get('user-agent')
    if (isNodeRequest(request)) return firstHeader(request.headers['user-agent'])
    if (isNodeRequest(req)) return firstHeader(req.headers['user-agent'])
    return null
  } catch {
    return null
  }
}

/**
 * Reads the request behind a GraphQL context: its key, client IP and user agent. Called once per HTTP request on a
 * cache miss (the result is kept in the request's state). Never throws.
 */
export function readRequest<TContext>(
  context: TContext,
  resolver: RiskResolver,
  getClientIp: GetClientIp<TContext> | undefined,
): RequestSource {
  return {
    key: requestKey(context),
    client: readClientIp(context, resolver, getClientIp),
    userAgent: readUserAgent(context),
  }
}
