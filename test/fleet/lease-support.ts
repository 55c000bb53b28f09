/**
 * Shared by the fleet lease suites: the shared Redis on 127.0.0.1:6379 (database 13, a key prefix of our own per
 * test, deleted afterwards), whether to run (skip when Redis is absent unless `IPRISK_REQUIRE_REDIS=1`, which makes
 * the suites fail instead), fleets of in-process resolver instances (each its own Redis clients) and the simulator.
 */
import { createClient } from '@keyv/redis'
import { createRiskResolver, resolverInternals, type RiskResolverOptions } from '../../src/core/resolver.js'
import type { RiskResolver } from '../../src/core/types.js'
import { redisLinkFrom, type RedisLink } from '../../src/core/fleet/link.js'

export const SHARED = 'redis://127.0.0.1:6379/13'

async function redisUp(): Promise<boolean> {
  const c = createClient({ url: SHARED, socket: { connectTimeout: 1_000, reconnectStrategy: false } })
  c.on('error', () => undefined)
  try {
    await c.connect()
    await c.ping()
    return true
  } catch {
    return false
  } finally {
    if (c.isOpen) c.destroy()
  }
}

/** True when the suites must be skipped: Redis is absent and not required. */
export const skipRedis = process.env.IPRISK_REQUIRE_REDIS !== '1' && !(await redisUp())

let counter = 0
const prefixes: string[] = []

/** A key prefix of its own for each test. */
export function uniquePrefix(): string {
  const prefix = `lease${process.pid}x${++counter}`
  prefixes.push(prefix)
  return prefix
}

/** A plain client on the shared database, for the tests' own reads and writes (closed by {@link cleanUp}). */
function newRaw() {
  return createClient({ url: SHARED })
}
type Raw = ReturnType<typeof newRaw>
let raw: Raw | undefined
export async function rawClient(): Promise<Raw> {
  if (raw === undefined) {
    const c = newRaw()
    c.on('error', () => undefined)
    await c.connect()
    raw = c
  }
  return raw
}

/** A link of its own on the shared database (for tests driving {@link FleetLease} directly). */
export async function ownLink(): Promise<RedisLink> {
  const c = createClient({ url: SHARED, disableOfflineQueue: true })
  c.on('error', () => undefined)
  await c.connect()
  const link = redisLinkFrom(c, true)
  links.push(link)
  return link
}
const links: RedisLink[] = []

const made: RiskResolver[] = []

/** Close every instance made since the last call. */
export async function closeInstances(): Promise<void> {
  for (const r of made.splice(0)) await r.close()
  for (const l of links.splice(0)) l.close()
}

/** Delete every key the tests wrote and close the raw client. */
export async function cleanUp(): Promise<void> {
  const c = await rawClient()
  for (const prefix of prefixes.splice(0)) {
    const keys = await c.keys(`${prefix}:*`)
    if (keys.length > 0) await c.del(keys)
  }
  c.destroy()
  raw = undefined
}

/** One instance, connected (its L2 loaded and its lease link ready) unless `connect` is false. */
export async function instance(options: RiskResolverOptions, connect = true): Promise<RiskResolver> {
  const r = createRiskResolver({ scoreDocumentationRanges: true, ...options })
  made.push(r)
  if (connect) await connected(r)
  return r
}

/** Wait until an instance's L2 is loaded and its lease link connected (before that, lookups run without a lease). */
export async function connected(r: RiskResolver): Promise<void> {
  const { l2, lease } = resolverInternals(r)
  if (l2 === undefined || !(await l2.whenReady(5_000))) throw new Error('L2 not ready')
  if (lease !== undefined) await until(() => lease.linked(), 5_000, 'the lease link connects')
}

/** Wait until `condition` holds (real OS waits: a connection, Redis's own expiry), failing after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
