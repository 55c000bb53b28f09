/**
 * The link of a Keyv the application passes as `cache.l2`: the node-redis client inside a Keyv on `@keyv/redis`.
 * (A Redis URL gives the resolver a link of its own, `SharedTier.link`, used first.) Any other store has none: then
 * the fleet budget spends from its local fallback, loudly (a `degraded` event, cause `no_link`), and block
 * propagation is off (reported when asked for).
 *
 * @internal
 * @module
 */
import type { L2Source } from '../options.js'
import { redisLinkFrom, type RedisLink } from './link.js'

/** The node-redis client of a Keyv on `@keyv/redis` (`keyv.store.client`), if that is what it is. */
function redisClientOf(keyv: unknown): unknown {
  const store = (keyv as { store?: unknown } | null)?.store
  const client = (store as { client?: unknown } | null | undefined)?.client
  if (typeof client !== 'object' || client === null) return undefined
  return typeof (client as { sendCommand?: unknown }).sendCommand === 'function' ? client : undefined
}

/**
 * A function giving the link of the shared cache `l2` (made once, on first use), or `undefined` when there is none.
 * The link never closes the application's client.
 * @internal
 */
export function fleetLinkOf(l2: L2Source | undefined): () => RedisLink | undefined {
  let link: RedisLink | undefined
  return () => {
    if (link !== undefined || l2?.kind !== 'keyv') return link
    const client = redisClientOf(l2.keyv)
    if (client !== undefined) link = redisLinkFrom(client, false)
    return link
  }
}
