/**
 * The simulator's injectable faults: the rules (global or per IP, forever or for the next N calls; the latest matching
 * rule wins, IP-specific before global) and the answer each fault writes.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { canonicalIp } from '../../core/provider-schema.js'
import { simulatorProfiles } from './profiles.js'
import { sendJson, toWire } from './wire.js'

/**
 * Injectable failures:
 * - `'timeout'`: never answers (until the client gives up or the simulator closes);
 * - `'slow-body'`: sends the headers at once, then the body one byte every `intervalMs` (default 100 ms);
 * - `500` / `502` / `503`: that status with a small HTML or JSON body;
 * - `401`: refuses the key whatever it is; `403`: forbidden (e.g. the plan does not include the endpoint);
 * - `429`: rate limited, with `Retry-After` (option `retryAfter`, default `'1'`);
 * - `'malformed-json'`: 200 with a truncated JSON body;
 * - `'wrong-schema'`: 200 with `risk_score: "high"`;
 * - `'oversized'`: 200 with a 100 KiB JSON body;
 * - `'reset'`: destroys the socket without answering.
 *
 * A refused connection is simulated by closing the simulator: `await sim.close()`, then lookups to `sim.url` fail
 * with `ECONNREFUSED`.
 *
 * @example
 * ```ts
 * sim.setFault(503, { times: 2 })                       // the next two calls fail
 * sim.setFault('timeout', { ip: '203.0.113.7' })         // this IP never answers
 * sim.setFault(429, { retryAfter: 'Wed, 21 Oct 2026 07:28:00 GMT' })
 * ```
 */
export type SimulatorFault =
  | 'timeout'
  | 'slow-body'
  | 500
  | 502
  | 503
  | 401
  | 403
  | 429
  | 'malformed-json'
  | 'wrong-schema'
  | 'oversized'
  | 'reset'

const FAULTS: ReadonlySet<unknown> = new Set<SimulatorFault>([
  'timeout',
  'slow-body',
  500,
  502,
  503,
  401,
  403,
  429,
  'malformed-json',
  'wrong-schema',
  'oversized',
  'reset',
])

/**
 * Where and how often a fault applies.
 *
 * @example
 * ```ts
 * sim.setFault('slow-body', { ip: '2001:db8::1', times: 1, intervalMs: 50 })
 * ```
 */
export interface SimulatorFaultOptions {
  /** Only for this IP (any notation). Default: every IP. IP-specific faults win over global ones. */
  ip?: string
  /** Only for the next `times` matching calls (positive integer). Default: until `clearFaults()`. */
  times?: number
  /** `Retry-After` value sent with `429`: delta-seconds or an HTTP date. @default '1' */
  retryAfter?: string | number
  /** Interval between body bytes for `'slow-body'`, in ms. @default 100 */
  intervalMs?: number
  /**
   * Pad the body of the status faults (`401`, `403`, `429`, `5xx`) to about this many bytes, e.g. to check that a client
   * reads or discards error bodies larger than its socket buffer. @default 0 (a short body)
   */
  bodyBytes?: number
}

/** One fault rule as stored. @internal */
export interface FaultRule {
  readonly fault: SimulatorFault
  readonly ip: string | null
  /** Calls left before the rule expires (`Infinity`: until `clear()`). */
  remaining: number
  readonly retryAfter: string
  readonly intervalMs: number
  readonly bodyBytes: number
}

const MAX_FAULT_BODY_BYTES = 16 * 1024 * 1024

/** Validate a fault and its options into a rule; throws `TypeError` on bad input. */
function makeRule(fault: SimulatorFault, options: SimulatorFaultOptions): FaultRule {
  if (!FAULTS.has(fault)) throw new TypeError(`iprisk simulator: unknown fault ${JSON.stringify(fault)}`)
  const { times, intervalMs = 100, retryAfter = '1', bodyBytes = 0 } = options
  if (!Number.isInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > MAX_FAULT_BODY_BYTES) {
    throw new TypeError('iprisk simulator: bodyBytes must be an integer between 0 and 16 MiB')
  }
  if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
    throw new TypeError('iprisk simulator: times must be a positive integer')
  }
  if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new TypeError('iprisk simulator: intervalMs must be >= 1')
  let ip: string | null = null
  if (options.ip !== undefined) {
    ip = canonicalIp(options.ip)
    if (ip === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(options.ip)}`)
  }
  return { fault, ip, remaining: times ?? Infinity, retryAfter: String(retryAfter), intervalMs, bodyBytes }
}

/**
 * The fault rules of one simulator. `take(ip)` picks the rule that applies to one call and counts it down.
 * @internal
 */
export class FaultBook {
  #rules: FaultRule[] = []

  /** Add a rule (validated; throws `TypeError` on an unknown fault or bad options). */
  add(fault: SimulatorFault, options: SimulatorFaultOptions = {}): void {
    this.#rules.push(makeRule(fault, options))
  }

  clear(): void {
    this.#rules = []
  }

  /** The rule for one call about the canonical `ip` (latest first, IP-specific before global), counted down. */
  take(ip: string): FaultRule | null {
    const found = this.#latest((rule) => rule.ip === ip) ?? this.#latest((rule) => rule.ip === null)
    if (found && Number.isFinite(found.remaining)) {
      found.remaining--
      if (found.remaining <= 0) this.#rules = this.#rules.filter((rule) => rule !== found)
    }
    return found
  }

  #latest(match: (rule: FaultRule) => boolean): FaultRule | null {
    for (let i = this.#rules.length - 1; i >= 0; i--) {
      const rule = this.#rules[i]
      if (rule && match(rule)) return rule
    }
    return null
  }
}

/** Schedules a callback on the simulator's timers (cleared by `close()`); `stopped` once the simulator closes. @internal */
export interface Scheduler {
  later(ms: number, fn: () => void): void
  readonly stopped: boolean
}

/** One faulty call: the rule, the exchange, the IP asked about and the wire shape a healthy answer would have. */
export interface FaultyCall {
  readonly rule: FaultRule
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly ip: string
  readonly shape: 'flat' | 'nested'
}

/**
 * Write the answer of a fault (or hold or reset the connection).
 * @internal
 */
export function writeFault(call: FaultyCall, timers: Scheduler): void {
  const { rule, res } = call
  switch (rule.fault) {
    case 'timeout':
      return // hold the request: the socket is destroyed by the client's abort or by close()
    case 'reset':
      call.req.socket.destroy()
      return
    case 500:
    case 503:
      return sendJson(res, rule.fault, padded(rule, rule.fault === 500 ? 'internal_error' : 'service_unavailable'))
    case 502: {
      const html = `<html><body><h1>502 Bad Gateway</h1>${' '.repeat(rule.bodyBytes)}</body></html>`
      res.writeHead(502, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) })
      res.end(html)
      return
    }
    case 401:
      return sendJson(res, 401, padded(rule, 'invalid_api_key'))
    case 403:
      return sendJson(res, 403, padded(rule, 'forbidden'))
    case 429:
      return sendJson(res, 429, padded(rule, 'rate_limited'), { 'retry-after': rule.retryAfter })
    default:
      return writeBadAnswer(call, timers)
  }
}

/** The faults that answer 200 with a body a client must not trust (or must not wait for). */
function writeBadAnswer(call: FaultyCall, timers: Scheduler): void {
  const { rule, res, ip } = call
  switch (rule.fault) {
    case 'malformed-json':
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"risk_score": 5, "is_vpn": fal')
      return
    case 'wrong-schema':
      return sendJson(res, 200, { ip, risk_score: 'high', is_vpn: 'no' })
    case 'oversized':
      return sendJson(res, 200, { ...toWire(simulatorProfiles.clean, ip, call.shape), padding: 'x'.repeat(100 * 1024) })
    case 'slow-body':
      return drip(res, Buffer.from(JSON.stringify(toWire(simulatorProfiles.clean, ip, call.shape))), rule.intervalMs, timers)
  }
}

/** Send the headers at once, then the body one byte every `intervalMs`, until done or the simulator closes. */
function drip(res: ServerResponse, body: Buffer, intervalMs: number, timers: Scheduler): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  const step = (offset: number): void => {
    if (res.destroyed || timers.stopped) return
    res.write(body.subarray(offset, offset + 1))
    if (offset + 1 >= body.length) res.end()
    else timers.later(intervalMs, () => step(offset + 1))
  }
  step(0)
}

function padded(rule: FaultRule, error: string): Record<string, string> {
  return rule.bodyBytes > 0 ? { error, padding: 'x'.repeat(rule.bodyBytes) } : { error }
}
