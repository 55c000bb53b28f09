/**
 * The raw Redis commands the fleet features send (leases, shared budgets, block propagation), the same on a single
 * server, a Sentinel set, Valkey and a Redis Cluster. L2 answers go through Keyv; the fleet features need commands
 * Keyv does not have (`SET … NX PX`, `EVAL`, `XADD` / `XREAD BLOCK`), so they speak through a {@link RedisLink}.
 *
 * **The resolver's link.** A resolver whose `cache` is a URL (`redis://`, `valkey://`, `redis+cluster://`,
 * `redis+sentinel://`) has ONE link on the same connections its L2 uses, whatever the topology:
 * `resolverInternals(resolver).l2?.link` (`SharedTier.link`, made by `connectRedisKeyv` in cache/redis.ts, on a
 * `TopologyConnection`: cache/topology-connection.ts). It is usable at once (a command sent before the connection is
 * up waits for one connection attempt), reconnects on demand after a failover (a new cluster map, the master the
 * sentinels name now), and is closed with the resolver. A resolver given a Keyv has no link (`undefined`): fleet
 * features then stay per process, and say so.
 *
 * {@link redisLinkFrom} wraps a node-redis client, cluster or sentinel an application or a test made itself (the
 * clients `@keyv/redis` re-exports), recognised by the shape of its `sendCommand`. Every command names the key that
 * routes it on a cluster: every key one command touches must share that key's hash slot (iprisk's keys are
 * hash-tagged for this: `<prefix>:2:{<ip key>}:<kind>`, `<prefix>:2:{fleet}:<name>`).
 *
 * @internal
 * @module
 */

/** Raw Redis commands, routed by key on a cluster. @internal */
export interface RedisLink {
  /** `'single'` (one server or Valkey), `'sentinel'` or `'cluster'`. */
  readonly topology: RedisTopology
  /**
   * Send one command. `key` routes it on a cluster (the slot of that key); every key the command touches must be in
   * that slot. Rejects when the connection is down (never queues while offline).
   */
  command(key: string, args: readonly string[], readonly?: boolean): Promise<unknown>
  /**
   * A second link on connections of its own, for blocking reads (`XREAD BLOCK`), which would stall every other
   * command sharing a connection. The caller closes it.
   */
  dedicated(): Promise<RedisLink>
  /** Close the connections this link opened (a link made from a caller's client closes nothing it did not open). */
  close(): void
}

/** The Redis deployments iprisk connects to. @internal */
export type RedisTopology = 'single' | 'sentinel' | 'cluster'

/** node-redis's single-server client, as far as a link uses it. */
interface ClientLike {
  sendCommand(args: readonly string[]): Promise<unknown>
  duplicate(): ClientLike
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}
/** node-redis's cluster client. */
interface ClusterLike {
  sendCommand(firstKey: string, isReadonly: boolean | undefined, args: readonly string[]): Promise<unknown>
  duplicate(): ClusterLike
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  readonly masters: unknown
}
/** node-redis's sentinel client. */
interface SentinelLike {
  sendCommand(isReadonly: boolean | undefined, args: readonly string[]): Promise<unknown>
  duplicate(): SentinelLike
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}

/**
 * Which node-redis object `client` is, as far as its shape tells: a cluster has `masters`. A sentinel cannot be told
 * from a single-server client by shape, so whoever creates one passes `'sentinel'` to {@link redisLinkFrom}.
 */
export function topologyOf(client: unknown): RedisTopology {
  const c = client as Record<string, unknown>
  return 'masters' in c && typeof c.sendCommand === 'function' ? 'cluster' : 'single'
}

const noop = (): void => undefined

/**
 * A link on a connected node-redis client, cluster or sentinel. `owned`: whether `close()` destroys `client` (true
 * for a client iprisk created, false for one the application passed).
 * @internal
 */
export function redisLinkFrom(client: unknown, owned: boolean, topology: RedisTopology = topologyOf(client)): RedisLink {
  const send = sender(client, topology)
  return {
    topology,
    command: send,
    async dedicated() {
      const copy = (client as ClientLike).duplicate()
      copy.on('error', noop)
      await copy.connect()
      return redisLinkFrom(copy, true, topology)
    },
    close() {
      if (!owned) return
      try {
        ;(client as ClientLike).destroy()
      } catch {
        // already closed
      }
    },
  }
}

function sender(client: unknown, topology: RedisTopology): RedisLink['command'] {
  switch (topology) {
    case 'cluster': {
      const cluster = client as ClusterLike
      return (key, args, readonly) => cluster.sendCommand(key, readonly, args)
    }
    case 'sentinel': {
      const sentinel = client as SentinelLike
      return (_key, args, readonly) => sentinel.sendCommand(readonly, args)
    }
    default: {
      const single = client as ClientLike
      return (_key, args) => single.sendCommand(args)
    }
  }
}
