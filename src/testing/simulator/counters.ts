/**
 * The simulator's counters: calls, connections, calls per IP and the request log, all zeroed by `reset()`.
 *
 * @module
 */
import { canonicalIp } from '../../core/provider-schema.js'

/**
 * One request as the simulator saw it (see {@link IpasisSimulator.requests}).
 *
 * @example
 * ```ts
 * expect(sim.requests.at(-1)).toMatchObject({ style: 'path', auth: 'bearer', ip: '203.0.113.7' })
 * ```
 */
export interface SimulatorRequest {
  method: string
  /** The raw request target, e.g. `/v1/ip/203.0.113.7`. */
  url: string
  /** Which API route matched, if any. */
  style: 'path' | 'query' | null
  /** The IP asked about, when valid and canonical. */
  ip: string | null
  /** Which auth header carried a key (`null`: none). */
  auth: 'bearer' | 'x-api-key' | null
}

const MAX_REQUEST_LOG = 1000

/**
 * Calls per canonical IP, shared by the simulator and `createMemoryProvider`.
 * @internal
 */
export class IpCallCounts {
  readonly #perIp = new Map<string, number>()
  #total = 0

  /** Calls counted, all IPs together. */
  get total(): number {
    return this.#total
  }

  /** Count one call about this canonical IP. */
  add(ip: string): void {
    this.#total++
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1)
  }

  /** Calls about this IP (any notation); 0 for a string that is not an IP. */
  callsFor(ip: string): number {
    const canonical = canonicalIp(ip)
    return canonical === null ? 0 : (this.#perIp.get(canonical) ?? 0)
  }

  clear(): void {
    this.#total = 0
    this.#perIp.clear()
  }
}

/**
 * What one simulator has counted since start or the last `reset()`.
 * @internal
 */
export class RequestCounters {
  #calls = 0
  #connections = 0
  #log: SimulatorRequest[] = []
  readonly #perIp = new IpCallCounts()

  get calls(): number {
    return this.#calls
  }

  get connections(): number {
    return this.#connections
  }

  /** The last 1000 requests, oldest first. */
  get requests(): readonly SimulatorRequest[] {
    return this.#log
  }

  /** Count a new connection. */
  connected(): void {
    this.#connections++
  }

  /** Count a request and log it. */
  received(entry: SimulatorRequest): void {
    this.#calls++
    this.#log.push(entry)
    if (this.#log.length > MAX_REQUEST_LOG) this.#log = this.#log.slice(-MAX_REQUEST_LOG)
  }

  /** Count a request that named this canonical IP. */
  named(ip: string): void {
    this.#perIp.add(ip)
  }

  /** Requests that named this IP (any notation). */
  callsFor(ip: string): number {
    return this.#perIp.callsFor(ip)
  }

  reset(): void {
    this.#calls = 0
    this.#connections = 0
    this.#log = []
    this.#perIp.clear()
  }
}
