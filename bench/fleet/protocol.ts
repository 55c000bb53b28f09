/** Messages between the fleet benchmark's orchestrator (run.ts) and its instances (instance.ts), over Node IPC. */

/** How an instance reaches the shared cache. */
export type L2Config =
  /** `cache: { l2: url }`: the one-line configuration of a single Redis (today's main). */
  | { kind: 'url'; url: string }
  /**
   * Today's only way to a Redis Cluster: a Keyv the application builds by hand on `createCluster` (iprisk's safe client
   * settings copied by hand), passed as `cache.l2`.
   */
  | { kind: 'cluster-keyv'; urls: string[] }
  /** A Keyv the application builds on `createClient` (the fleet budget's only way to a Redis link before topo). */
  | { kind: 'single-keyv'; url: string }
  /** Whatever `cache.l2` value is given, as is (the `topo` branch's one-line cluster configuration). */
  | { kind: 'raw'; value: unknown; bare: { kind: 'single' | 'cluster'; urls: string[] } }

export interface InstanceConfig {
  readonly index: number
  readonly simUrl: string
  readonly apiKey: string
  readonly l2: L2Config
  readonly prefix: string
  readonly ttlSeconds: number
  /** Merged into `budget`. */
  readonly budget: Record<string, unknown>
  /** Merged into the resolver options (one level deep for object values: `cache`, `budget`, ...). */
  readonly extra: Record<string, unknown>
}

export type Counts = Record<string, number>

export interface LookupReport {
  /** Wall time (ms, sub-ms resolution) when the first lookup started / the last one ended. */
  startedAt: number
  endedAt: number
  /** Answers by `source` (`upstream`, `l2`, `l1`, `none`, ...) and by `error` (`budget_exceeded`, ...). */
  sources: Counts
  errors: Counts
}

export type ToInstance =
  | { type: 'init'; id: number; config: InstanceConfig }
  /** Look every IP up at once, at wall time `at` (all instances get the same `at`: the barrier). */
  | { type: 'lookupAt'; id: number; at: number; ips: string[] }
  /** Look the IPs up, `concurrency` at a time. */
  | { type: 'lookupPaced'; id: number; ips: string[]; concurrency: number }
  | { type: 'block'; id: number; ip: string; seconds: number }
  /** Poll until each IP is denied (`listed: 'blocklist'`), or allowed again, or `deadlineMs` passes. */
  | { type: 'watch'; id: number; ips: string[]; deadlineMs: number; until: 'denied' | 'allowed' }
  | { type: 'unblock'; id: number; ip: string }
  /** Time L2 hits of `ips` (scored by another instance) against a bare GET of the same key. */
  | { type: 'l2cost'; id: number; ips: string[] }
  | { type: 'exit' }

export interface BlockReport {
  /** Wall time just before `block()` was called, and when it resolved. */
  t0: number
  t1: number
}

export interface WatchReport {
  /** Wall time each IP was first seen denied (or allowed), or `null` when not within the deadline. */
  seen: (number | null)[]
}

export interface L2CostReport {
  /** Microseconds of each `lookup()` answered from L2, and of each bare `GET` of the same key. */
  lookupUs: number[]
  getUs: number[]
  sources: Counts
  /** Redis commands the timed lookups sent, by name, summed over every node (`INFO commandstats`). */
  commands: Counts
}

export type FromInstance =
  | { type: 'ready'; id: number; pid: number }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; message: string }
