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

/**
 * An interleaved A/B latency run: one keep-alive connection to each of two servers (same request, same client
 * addresses), one request at a time, alternating A B B A …, so that both sides see the same machine at the same moment
 * and drift cancels out. The servers are otherwise idle: a latency is the time one request takes.
 */
export interface InterleaveJob {
  /** `[A, B]`: `http://127.0.0.1:<port>` each. */
  origins: [string, string]
  method: 'GET' | 'POST'
  path: string
  body?: string
  headers: Record<string, string>
  /** Requests per side after the warm-up. */
  requests: number
  /** Requests per side before measuring (not recorded). */
  warmup: number
  ips: IpPlan
}

export interface InterleaveResult {
  a: LatencySummary
  b: LatencySummary
  /** Mean over the A B pairs of (B − A), milliseconds. */
  meanDiff: number
  /** Responses by status code, both sides. */
  statusCodes: Record<string, number>
  errors: number
  elapsedSec: number
}

export type ToChild =
  | { type: 'run'; id: number; job: LoadJob }
  | { type: 'interleave'; id: number; job: InterleaveJob }
  | { type: 'exit' }
export type FromChild =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'interleaved'; id: number; result: InterleaveResult }
  | { type: 'error'; id: number; message: string }
