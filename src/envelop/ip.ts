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
 * Reads the request behind a GraphQL context. Called once per HTTP request (the result is memoized by the plugin).
 * Never throws: a failing `getClientIp` gives "no IP", which policies treat with their fail mode.
 */
export function readRequest<TContext>(
  context: TContext,
  resolver: RiskResolver,
  getClientIp: GetClientIp<TContext> | undefined,
): RequestSource {
  const ctx = context as { request?: unknown; req?: unknown }
  const request = ctx.request
  const req = ctx.req
  const key = requestKey(context)

  let userAgent: string | null = null
  let client: ClientIp
  try {
    if (isNodeRequest(req) && peerOf(req) !== null) {
      // Yoga on Node (and Fastify, Express…): the Node request has the same headers as the fetch Request built from
      // it, as a plain object, plus the socket: reading it is several times cheaper than `Headers#get`.
      userAgent = firstHeader(req.headers['user-agent'])
      client = getClientIp !== undefined ? customIp(getClientIp(context)) : resolver.clientIp(req as RequestLike)
    } else {
      if (isFetchRequest(request)) userAgent = request.headers.get('user-agent')
      else if (isNodeRequest(request)) userAgent = firstHeader(request.headers['user-agent'])
      else if (isNodeRequest(req)) userAgent = firstHeader(req.headers['user-agent'])

      if (getClientIp !== undefined) {
        client = customIp(getClientIp(context))
      } else if (isFetchRequest(request)) {
        // Fetch platforms: headers from the fetch Request, the peer from the server context (when there is one).
        client = resolver.clientIp(request as unknown as RequestLike, peerOf(req) ?? peerOf(request))
      } else if (isNodeRequest(request)) {
        client = resolver.clientIp(request as RequestLike)
      } else if (isNodeRequest(req)) {
        client = resolver.clientIp(req as RequestLike)
      } else {
        client = NO_IP
      }
    }
  } catch {
    client = NO_IP
  }
  return { key, client, userAgent }
}
