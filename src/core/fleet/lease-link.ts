/**
 * The resolver's fleet lease (lease.ts), wired: built when `cache.leaseMs` is on, speaking through a
 * {@link RedisLink}.
 *
 * STOP-GAP (to be replaced at merge): the resolver does not yet expose the link of its L2 connection, so for a
 * `redis://` L2 this opens a second node-redis client on the same URL with the L2 connection's safe settings (no
 * offline queue, a bounded queue, a connect timeout, reconnection on demand one attempt at a time, never after
 * close). Once the resolver builds one link from its L2 connection, {@link createResolverLease} takes that link getter
 * instead and this client goes away.
 *
 * @internal
 * @module
 */
import { REDIS_CONNECT_TIMEOUT_MS, REDIS_MAX_QUEUE } from '../cache.js'
import { loadRedisAdapter } from '../cache/redis.js'
import type { Clock } from '../clock.js'
import type { Reporter } from '../events.js'
import type { ResolvedOptions } from '../options.js'
import { FleetLease } from './lease.js'
import { redisLinkFrom, type RedisLink } from './link.js'

/** The part of a node-redis client used here. */
interface LeaseClient {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const noop = (): void => undefined

/** A link getter on a client of its own (see the module note), and its close. @internal */
export interface LeaseLink {
  /** The link when connected; else `undefined` (no lease), and a connection attempt is started if none is under way. */
  get(): RedisLink | undefined
  close(): void
}

/** A {@link LeaseLink} on `url` (the adapter loads in the background; until connected there is no lease). @internal */
export function connectLeaseLink(url: string, option: string): LeaseLink {
  let client: LeaseClient | undefined
  let link: RedisLink | undefined
  let connecting = false
  let closed = false
  const connect = (c: LeaseClient): void => {
    connecting = true
    c.connect().then(
      () => (connecting = false),
      () => (connecting = false),
    )
  }
  loadRedisAdapter(undefined, option).then((mod) => {
    if (closed) return
    const c = mod.createClient({
      url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: REDIS_MAX_QUEUE,
      socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS, reconnectStrategy: false },
    }) as LeaseClient
    c.on('error', noop) // failures show as "no lease"; the L2 tier reports the store's health
    client = c
    link = redisLinkFrom(c, true)
    connect(c)
  }, noop) // a missing adapter is reported by the L2 tier (the same package)
  return {
    get() {
      if (closed || client === undefined) return undefined
      if (client.isReady) return link
      if (!connecting && !client.isOpen) connect(client)
      return undefined
    },
    close() {
      closed = true
      link?.close()
    },
  }
}

/** The lease of a resolver and how to close it, or `undefined` when `cache.leaseMs` is off. @internal */
export function createResolverLease(
  opts: ResolvedOptions,
  reporter: Reporter,
  clock: Clock,
  link?: () => RedisLink | undefined,
): { lease: FleetLease; close(): void } | undefined {
  if (opts.leaseMs === 0 || opts.l2 === undefined) return undefined
  let own: LeaseLink | undefined
  if (link === undefined) {
    if (opts.l2.kind !== 'url') {
      reporter.configError(
        'cache.leaseMs',
        'a fleet lease needs a redis:// URL as `cache.l2` (a Keyv instance gives no Redis connection to take it on); each instance asks the provider on its own',
      )
      return undefined
    }
    own = connectLeaseLink(opts.l2.url, opts.l2Option)
  }
  const get = link ?? (() => own?.get())
  const options = { prefix: opts.prefix, providerName: opts.provider.name, leaseMs: opts.leaseMs, l2TimeoutMs: opts.l2TimeoutMs, waitMs: Math.floor(opts.timeoutMs / 2) }
  const lease = new FleetLease(get, options, clock)
  return {
    lease,
    close() {
      lease.close()
      own?.close()
    },
  }
}
