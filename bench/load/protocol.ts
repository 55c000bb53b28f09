/** Messages between the benchmark process (which hosts the servers) and the load-generator child process. */
import type { LatencySummary } from '../lib/stats.js'

/** How the generator picks the `X-Forwarded-For` address of each request. */
export type IpPlan =
  /** Rotate through a fixed list (returning clients). */
  | { kind: 'pool'; ips: string[] }
  /**
   * Never-seen clients: request k uses client `offset + floor(k / repeat)`, so each new client sends `repeat`
   * requests back to back (concurrent cache misses for one client: single-flight territory). With `varyHost`, the
   * repeats use different addresses inside the client's /64.
   */
  | { kind: 'unique'; offset: number; repeat: number; varyHost: boolean }

export interface LoadJob {
  /** `http://127.0.0.1:<port>` */
  origin: string
  method: 'GET' | 'POST'
  /** Path with query string. */
  path: string
  body?: string
  headers: Record<string, string>
  /** Concurrent keep-alive connections (closed loop: each sends its next request when the previous one answered). */
  connections: number
  durationSec: number
  ips: IpPlan
}

export interface LoadResult {
  /** Responses received. */
  responses: number
  /** Responses by status code. */
  statusCodes: Record<string, number>
  /** Connection errors and timeouts. */
  errors: number
  /** Wall-clock seconds from the first request to the end of the run. */
  elapsedSec: number
  /** Responses per second. */
  rps: number
  /** Latency of every response, exact (milliseconds). */
  latency: LatencySummary
  /** Distinct client IPs the generator sent (unique plan only; the pool size otherwise). */
  clientsSent: number
}

/** One of the requests a {@link MixedJob} cycles through. */
export interface MixedRequest {
  /** A label for the results (`plain`, `gate`, …). */
  name: string
  /** `http://127.0.0.1:<port>` */
  origin: string
  method: 'GET' | 'POST'
  path: string
  body?: string
  headers: Record<string, string>
}

/**
 * A paired latency run: one keep-alive connection per origin (in practice one server, so every request shares the
 * process, the socket and the caches), one request at a time. Each cycle sends every request once, in a fresh
 * shuffled order (seeded), with the same client address: no request always follows the same one, and every request
 * sees the machine as it is at that moment, so differences between requests are not drowned by the machine's drift.
 */
export interface MixedJob {
  requests: MixedRequest[]
  /** Cycles: each sends every request once. */
  cycles: number
  ips: IpPlan
  /** Seed of the shuffles (a run can be repeated exactly). */
  seed: number
}

export interface MixedResult {
  /** Per request of the job, in its order: the latency of its responses (milliseconds). */
  latency: LatencySummary[]
  /** Responses by status code, all requests. */
  statusCodes: Record<string, number>
  errors: number
  elapsedSec: number
}

export type ToChild =
  | { type: 'run'; id: number; job: LoadJob }
  | { type: 'mixed'; id: number; job: MixedJob }
  | { type: 'exit' }
export type FromChild =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'mixed'; id: number; result: MixedResult }
  | { type: 'error'; id: number; message: string }
