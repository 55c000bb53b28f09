/**
 * The six load scenarios: the integration guide's four rows plus a warm in-process cache and a stream of new clients.
 * Each scenario run builds its own resolver, simulator and server (fresh cache, fresh counters), prepares the cache as
 * the scenario says, then measures.
 */
import type { RiskResolverOptions } from '../../src/core/index.js'
import type { ScenarioId } from '../lib/results.js'
import { benchKeyPrefix, benchRedisUrl } from './redis.js'

export interface ScenarioSpec {
  id: ScenarioId
  /** Short name in the results table. */
  title: string
  /** The integration guide's row it corresponds to. */
  guideRow: string | null
  /** One sentence for the results file and docs. */
  description: string
  /** Resolver options on top of the example set-up; `null` for the unprotected baseline. */
  resolver: Partial<RiskResolverOptions> | null
  /** Which endpoint is called: the gated procedure / field (waits for a verdict) or the background one (`wait: false`). */
  endpoint: 'gated' | 'background'
  /** Returning clients from a fixed pool, or never-seen clients. */
  clients: 'pool' | 'new'
  /** Before measuring: score every pool client so the cache under test holds them all. */
  prewarm: boolean
  /** Delete the benchmark's Redis keys before the run. */
  flushRedis: boolean
  /** Connections of the throughput run when the scenario needs more than `--connections`. */
  connections?: number
}

/** Returning clients per run (each request takes the next one, round robin). */
export const POOL_SIZE = 200
/** Requests each new client sends back to back (concurrently across connections: single-flight must merge them). */
export const NEW_CLIENT_REPEAT = 4
/**
 * Connections of the new-client throughput run: 384 connections are 96 new clients at once (single-flight merges each
 * client's 4 requests into one lookup), more than the resolver's default in-flight budget of 64, so the budget's
 * fail-open path is exercised too.
 */
export const NEW_CLIENT_CONNECTIONS = 384

export const scenarios: readonly ScenarioSpec[] = [
  {
    id: 'baseline',
    title: 'No protection (baseline)',
    guideRow: 'No bot detection',
    description: 'The gated procedure / query of the other scenarios on a server without iprisk.',
    resolver: null,
    endpoint: 'gated',
    clients: 'pool',
    prewarm: false,
    flushRedis: false,
  },
  {
    id: 'baseline-background',
    title: 'No protection, public call',
    guideRow: null,
    description: 'The public procedure / query of the background scenario on the server without iprisk.',
    resolver: null,
    endpoint: 'background',
    clients: 'pool',
    prewarm: false,
    flushRedis: false,
  },
  {
    id: 'sync-nocache',
    title: 'Sync, no cache',
    guideRow: 'Sync, no cache',
    description:
      'The gate waits for a verdict; L1 disabled, no L2: every request is one upstream lookup at the simulated latency.',
    // A budget above the connection count, so that every request really waits for its own lookup (the default
    // in-flight budget would fail some open, which is the point of scenario `new-ips`, not of this one).
    resolver: { cache: { l1: false }, budget: { maxInFlight: 1_000 } },
    endpoint: 'gated',
    clients: 'pool',
    prewarm: false,
    flushRedis: false,
  },
  {
    id: 'sync-l1',
    title: 'Sync + warm L1',
    guideRow: null,
    description: 'The gate waits for a verdict; every client is already in the in-process LRU (the warm path).',
    resolver: {},
    endpoint: 'gated',
    clients: 'pool',
    prewarm: true,
    flushRedis: false,
  },
  {
    id: 'sync-l2',
    title: 'Sync + Redis (L2 only)',
    guideRow: 'Sync + Redis cache',
    description:
      'The gate waits for a verdict; L1 disabled, every client already in Redis on 127.0.0.1: one GET per request.',
    resolver: { cache: { l1: false, l2: benchRedisUrl, prefix: benchKeyPrefix } },
    endpoint: 'gated',
    clients: 'pool',
    prewarm: true,
    flushRedis: true,
  },
  {
    id: 'async-cache',
    title: 'Background + L1',
    guideRow: 'Async (Celery) + cache',
    description:
      'withIpRisk({ wait: false }) on the public procedure / an unprotected field: never waits; misses are scored in the background (cold start).',
    resolver: {},
    endpoint: 'background',
    clients: 'pool',
    prewarm: false,
    flushRedis: false,
  },
  {
    id: 'new-ips',
    title: 'New clients (cold)',
    guideRow: null,
    description:
      `The gate waits; every ${NEW_CLIENT_REPEAT} requests come from a never-seen IPv6 /64, over ` +
      `${NEW_CLIENT_CONNECTIONS} connections (cache misses, single-flight, the default in-flight budget of 64).`,
    resolver: {},
    endpoint: 'gated',
    clients: 'new',
    prewarm: false,
    flushRedis: false,
    connections: NEW_CLIENT_CONNECTIONS,
  },
]

export function scenarioById(id: ScenarioId): ScenarioSpec {
  const found = scenarios.find((s) => s.id === id)
  if (!found) throw new Error(`unknown scenario ${id}`)
  return found
}
