/**
 * Helpers of the fleet budget suites (test/fleet/budget*.test.ts): the shared Redis on 127.0.0.1:6379 (a key prefix
 * per test, deleted afterwards; never FLUSHALL), private redis-servers on ports 7100–7199 (the `budget` helper's
 * range), resolvers whose shared cache is a Keyv on a node-redis client (the fleet budget's link is that client).
 *
 * Without Redis the suites skip, saying so; with IPRISK_REQUIRE_REDIS=1 (CI) they fail instead.
 */
import KeyvRedis, { createClient, Keyv } from '@keyv/redis'
import { createRiskResolver, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { DegradedEvent } from '../../src/core/self-check/vocabulary.js'
import type { RiskResolver } from '../../src/core/types.js'
import { redisPing, redisServerPath } from '../reliability/helpers/redis.js'
import { plainServer, type PlainServer } from '../support/redis-servers.js'

export const SHARED_PORT = 6379
export const REQUIRED = process.env.IPRISK_REQUIRE_REDIS === '1'

/** Whether the suite runs: Redis answers on `port`, or it is required (then the suite fails when it does not). */
export async function redisOrSkip(port = SHARED_PORT): Promise<boolean> {
  if (await redisPing(port, undefined, 1_000)) return true
  if (!REQUIRED) console.warn(`[iprisk fleet budget] SKIPPED: no Redis on 127.0.0.1:${port}; set IPRISK_REQUIRE_REDIS=1 to make this a failure.`)
  return REQUIRED
}

/** Whether the suites that start their own redis-server run. */
export function redisServerOrSkip(): boolean {
  if (redisServerPath() !== null) return true
  if (!REQUIRED) console.warn('[iprisk fleet budget] SKIPPED: redis-server is not installed; set IPRISK_REQUIRE_REDIS=1 to make this a failure.')
  return REQUIRED
}

let counter = 0
/** A key prefix of its own per test (`[A-Za-z0-9_.-]`, up to 32). */
export function uniquePrefix(): string {
  return `hb${process.pid}x${++counter}`
}

/** A client as `connectClient` makes it. */
function makeClient(port: number, reconnect: boolean) {
  return createClient({
    url: `redis://127.0.0.1:${port}`,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: reconnect ? () => 50 : false },
  })
}
export type RedisClient = ReturnType<typeof makeClient>

/** A connected node-redis client on `port` (no offline queue: commands fail at once while disconnected). */
export async function connectClient(port: number, reconnect = false): Promise<RedisClient> {
  const client = makeClient(port, reconnect)
  client.on('error', () => undefined)
  await client.connect()
  return client
}

/** Delete every key under `prefix` (SCAN, never FLUSHALL). */
export async function deletePrefix(client: RedisClient, prefix: string): Promise<void> {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) {
    if (keys.length > 0) await client.del(keys)
  }
}

/** A shared cache on `client` as the application would pass it: a Keyv on `@keyv/redis`. */
export function keyvOn(client: RedisClient): Keyv {
  return new Keyv({ store: new KeyvRedis(client as never), namespace: undefined, useKeyPrefix: false })
}

/** A resolver of a fleet, its degraded events and its configuration warnings. */
export interface Member {
  readonly risk: RiskResolver
  readonly degraded: DegradedEvent[]
  readonly warnings: string[]
}

/** A resolver with the given options that records its degraded events and warnings (through a logger). */
export function member(options: RiskResolverOptions): Member {
  const degraded: DegradedEvent[] = []
  const warnings: string[] = []
  const logger = {
    info: () => undefined,
    warn: (_obj: unknown, message?: string) => void warnings.push(String(message)),
    error: () => undefined,
  }
  const risk = createRiskResolver({
    scoreDocumentationRanges: true,
    breaker: false,
    logger,
    onDegraded: (event) => void degraded.push(event),
    ...options,
  })
  return { risk, degraded, warnings }
}

/** The `i`-th address of distinct IPv4 /24 networks (global space, never contacted: the provider is in memory). */
export function ipOfNetwork(i: number, host = 1): string {
  return `11.${(i >> 8) & 255}.${i & 255}.${host}`
}

/** Wait until `condition` holds (a real-OS wait with a generous deadline, never a duration asserted on). */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs
  while (Date.now() < end) {
    if (await condition()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A private redis-server on a fixed port of the budget helper's range, started and killed by the test. */
export class PrivateRedis {
  readonly #server: PlainServer

  constructor(readonly port: number) {
    this.#server = plainServer(port, { binary: redisServerPath() ?? 'redis-server', ready: () => redisPing(port) })
  }

  /** Start (again); resolves once it answers PING. */
  start(): Promise<void> {
    return this.#server.start()
  }

  pause(): void {
    this.#server.pause()
  }

  resume(): void {
    this.#server.resume()
  }

  /** Kill (also when paused) and remove its dir; `start()` may follow. */
  kill(): Promise<void> {
    return this.#server.stop()
  }
}
