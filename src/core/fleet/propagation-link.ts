/**
 * Stop-gap until the resolver exposes one {@link RedisLink} on its L2 connection (the `topo` work): a link of block
 * propagation's own, on a client made from the `cache.l2` URL with the L2 connection's settings (no offline queue, a
 * bounded command queue, a connect timeout, no reconnect loop of node-redis's: a lost connection is reopened by the
 * next command, one attempt at a time, and never after `close()`). Replace `propagationLinkFromUrl(url)` by the
 * resolver's link at merge; nothing else changes.
 *
 * @internal
 * @module
 */
import { REDIS_CONNECT_TIMEOUT_MS, REDIS_MAX_QUEUE, loadRedisAdapter } from '../cache/redis.js'
import { redisLinkFrom, type RedisLink } from './link.js'

/** The part of a node-redis client used here. */
interface ClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const noop = (): void => undefined

/** A link on a new client for `url` (not connected yet: the first command connects). @internal */
export async function propagationLinkFromUrl(url: string, option: string): Promise<RedisLink> {
  const mod = await loadRedisAdapter(undefined, option)
  const client = mod.createClient({
    url,
    disableOfflineQueue: true,
    commandsQueueMaxLength: REDIS_MAX_QUEUE,
    socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS, reconnectStrategy: false },
  }) as ClientLike
  client.on('error', noop)
  const base = redisLinkFrom(client, true, 'single')
  let closed = false
  let connecting: Promise<unknown> | undefined
  const ensure = (): Promise<unknown> | undefined => {
    if (closed) return Promise.reject(new Error('the link is closed'))
    if (client.isReady) return undefined
    if (connecting === undefined) {
      if (client.isOpen) return Promise.reject(new Error('the Redis connection is not ready'))
      connecting = client.connect().finally(() => {
        connecting = undefined
        if (closed) base.close() // closed while connecting
      })
    }
    return connecting
  }
  // Connected at once, so that the first block is not slowed by a connection; a failure here is retried by the first
  // command.
  ensure()?.catch(noop)
  return {
    topology: base.topology,
    async command(key, args, readonly) {
      await ensure()
      return base.command(key, args, readonly)
    },
    dedicated: () => (closed ? Promise.reject(new Error('the link is closed')) : base.dedicated()),
    close() {
      closed = true
      if (client.isOpen) base.close() // else nothing is open; a connection under way is closed when it ends
    },
  }
}
