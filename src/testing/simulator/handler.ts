/**
 * The simulator's request handling: log and count the request, route it (both API styles), check the key, then answer
 * with the IP's profile, or a fault, after the configured latency.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isCanonicalIp } from '../../core/provider-schema.js'
import type { RequestCounters, SimulatorRequest } from './counters.js'
import { writeFault, type FaultBook, type FaultRule, type Scheduler } from './faults.js'
import type { LatencyPlan } from './latency.js'
import { resolveProfile, type ProfileTable } from './profiles.js'
import {
  authKind,
  keyAccepted,
  parseRoute,
  readKeys,
  sendJson,
  toWire,
  wireShape,
  type KeyPolicy,
  type RequestKeys,
  type ShapeOption,
} from './wire.js'

/**
 * Everything one simulator's requests are answered from. The parts hold their own state; the handler only calls them.
 * @internal
 */
export interface SimulatorParts {
  readonly keys: KeyPolicy
  readonly basePath: string
  readonly shape: ShapeOption
  readonly table: ProfileTable
  readonly counters: RequestCounters
  readonly faults: FaultBook
  readonly latency: LatencyPlan
  readonly timers: Scheduler
}

/** A request as read: its log entry and, for a known route, its wire shape and keys. */
interface ReadRequest {
  readonly entry: SimulatorRequest
  readonly status: 404 | 405 | 400 | null
  readonly keys: RequestKeys
  readonly shape: 'flat' | 'nested'
}

const ERRORS = { 400: 'invalid_ip', 404: 'not_found', 405: 'method_not_allowed' } as const

/** Read a request into its log entry; `status` is the error to answer before the key check (`null`: none). */
function readRequest(req: IncomingMessage, parts: SimulatorParts): ReadRequest {
  const method = req.method ?? 'GET'
  const url = req.url ?? '/'
  const keys = readKeys(req.headers)
  const route = parseRoute(url, parts.basePath)
  const entry = (
    style: SimulatorRequest['style'] = null,
    auth: SimulatorRequest['auth'] = null,
    ip: string | null = null,
  ): SimulatorRequest => ({ method, url, style, ip, auth })
  if (route === null) return { entry: entry(), status: 404, keys, shape: 'flat' }
  const shape = wireShape(parts.shape, route.style)
  if (method !== 'GET') return { entry: entry(route.style), status: 405, keys, shape }
  const auth = authKind(keys)
  if (route.ip === null || !isCanonicalIp(route.ip)) return { entry: entry(route.style, auth), status: 400, keys, shape }
  return { entry: entry(route.style, auth, route.ip), status: null, keys, shape }
}

/**
 * Answer one request to the simulator.
 * @internal
 */
export function handleRequest(parts: SimulatorParts, req: IncomingMessage, res: ServerResponse): void {
  const read = readRequest(req, parts)
  parts.counters.received(read.entry)
  if (read.status !== null) return sendJson(res, read.status, { error: ERRORS[read.status] })
  const ip = read.entry.ip as string
  parts.counters.named(ip)
  if (!keyAccepted(read.keys, parts.keys)) return sendJson(res, 401, { error: 'invalid_api_key' })
  const fault = parts.faults.take(ip)
  const delay = parts.latency.delayFor(ip)
  const respond = (): void => answer(parts, { req, res, ip, shape: read.shape }, fault)
  if (delay > 0) parts.timers.later(delay, respond)
  else respond()
}

/** The answer once the latency has passed: the fault if one applies, else the IP's profile (looked up now). */
function answer(
  parts: SimulatorParts,
  call: { req: IncomingMessage; res: ServerResponse; ip: string; shape: 'flat' | 'nested' },
  fault: FaultRule | null,
): void {
  const { res, ip } = call
  if (res.destroyed) return
  if (fault) return writeFault({ ...call, rule: fault }, parts.timers)
  const chosen = resolveProfile(parts.table.lookup(ip), ip)
  if ('json' in chosen) return sendJson(res, 200, chosen.json)
  sendJson(res, 200, toWire(chosen, ip, call.shape))
}
