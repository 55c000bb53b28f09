/**
 * One connected node-redis object for a {@link RedisTarget} (a "generation" of the connection): a client, a cluster or
 * the master a Sentinel set names, each with iprisk's safe settings, and the way to send it one command routed by key.
 *
 * Safe settings, in every topology: a connect timeout, no offline queue (while disconnected, commands fail at once
 * instead of piling up), a bounded command queue, and no node-redis reconnect loop (`reconnectStrategy: false`: its
 * timers would keep a closed resolver's process alive, or reconnect after close). Errors are listened to (never an
 * unhandled `error` event). A generation that lost its connection is not repaired: the connection replaces it with a
 * new one, one attempt at a time, when a command needs it (topology-connection.ts).
 *
 * - **single** (Redis or Valkey): `createClient({ url })`.
 * - **cluster**: `createCluster({ rootNodes })`, connecting to a node when a command first needs it
 *   (`minimizeConnections`), so that a dead master does not fail discovery of the others. node-redis follows MOVED
 *   and ASK (a planned `CLUSTER FAILOVER`) itself; it never rediscovers after a node dies, so a connection error marks
 *   the generation broken and the next command discovers the cluster again.
 * - **sentinel**: the sentinels are asked for the master (`SENTINEL GET-MASTER-ADDR-BY-NAME`, in order, until one
 *   answers), whose `ROLE` is checked, and a plain client connects to it. node-redis's `createSentinel` is not used:
 *   it keeps a reconnect loop on its own timers that writes to `console.log`, retries its first connection 16 times,
 *   and holds commands while it reconnects, where iprisk must fail fast and stay quiet. A `READONLY` reply (the master
 *   was demoted) or a lost connection marks the generation broken: the next command asks the sentinels again.
 *
 * @internal
 * @module
 */

import { IpRiskError } from '../errors.js'
import type { RedisTopology } from '../fleet/link.js'
import type { HostPort, RedisTarget } from './topology.js'

/** Connect timeout of every Redis connection iprisk opens. */
export const REDIS_CONNECT_TIMEOUT_MS = 2_000
/** Commands allowed to wait for a reply on one connection; beyond, new commands fail at once. */
export const REDIS_MAX_QUEUE = 10_000

/** The node-redis factories used (re-exported by `@keyv/redis`). @internal */
export interface ClientFactories {
  createClient(options: object): unknown
  createCluster?: (options: never) => unknown
}

/** node-redis's client, as far as used here. */
interface NodeClient {
  readonly isReady: boolean
  connect(): Promise<unknown>
  destroy(): void
  sendCommand(args: readonly string[]): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
}
/** node-redis's cluster, as far as used here. */
interface NodeCluster {
  readonly isOpen: boolean
  connect(): Promise<unknown>
  destroy(): void
  sendCommand(firstKey: string, isReadonly: boolean | undefined, args: readonly string[]): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
}

/** One connected node-redis object. @internal */
export interface Generation {
  readonly topology: RedisTopology
  /** Send one command; `key` routes it on a cluster. */
  send(key: string, args: readonly string[], readonly?: boolean): Promise<unknown>
  /** Whether it can still be used (connected, not marked broken). */
  usable(): boolean
  /** Note a failed command: a lost connection (or a demoted master) marks it broken. */
  failed(error: unknown): void
  destroy(): void
}

/** A reply of the server (`ERR …`, `MOVED …`, `READONLY …`), as opposed to a connection failing. */
function isReply(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const name = error.constructor.name
  return name === 'ErrorReply' || name === 'SimpleError' || name === 'BlobError' || /^[A-Z][A-Z_-]+ /.test(error.message)
}

/**
 * Whether a failed command means the generation should be replaced: a lost connection, or a master that is no longer
 * one. Not a server's other replies, and not a full command queue (an overload, which a new connection would not
 * cure).
 */
export function needsNewGeneration(error: unknown): boolean {
  if (error instanceof Error && error.message === 'The queue is full') return false
  return !isReply(error) || /^(READONLY|MASTERDOWN|LOADING) /.test((error as Error).message)
}

const socketOptions = (tls: boolean): Record<string, unknown> => ({
  connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
  reconnectStrategy: false,
  ...(tls ? { tls: true } : {}),
})

const SAFE = { disableOfflineQueue: true, commandsQueueMaxLength: REDIS_MAX_QUEUE }

/** Connect `client`, destroying it when that fails. */
async function connected<T extends { connect(): Promise<unknown>; destroy(): void }>(client: T): Promise<T> {
  try {
    await client.connect()
    return client
  } catch (error) {
    try {
      client.destroy()
    } catch {
      // never opened
    }
    throw error
  }
}

function clientGeneration(client: NodeClient, topology: RedisTopology): Generation {
  let broken = false
  return {
    topology,
    send: (_key, args) => client.sendCommand(args),
    usable: () => !broken && client.isReady,
    failed(error) {
      if (needsNewGeneration(error)) broken = true
    },
    destroy: () => destroyQuietly(client),
  }
}

function destroyQuietly(client: { destroy(): void }): void {
  try {
    client.destroy()
  } catch {
    // already closed
  }
}

/**
 * Open one generation for `target`: resolves once connected, rejects when it cannot (the caller retries later).
 * `onError` hears every error event of the node-redis objects. @internal
 */
export async function openGeneration(factories: ClientFactories, target: RedisTarget, onError: (error: unknown) => void): Promise<Generation> {
  switch (target.topology) {
    case 'single': {
      const client = factories.createClient({ url: target.url, ...SAFE, socket: socketOptions(false) }) as NodeClient
      client.on('error', onError)
      return clientGeneration(await connected(client), 'single')
    }
    case 'cluster':
      return openCluster(factories, target, onError)
    default:
      return openSentinelMaster(factories, target, onError)
  }
}

async function openCluster(
  factories: ClientFactories,
  target: Extract<RedisTarget, { topology: 'cluster' }>,
  onError: (error: unknown) => void,
): Promise<Generation> {
  if (factories.createCluster === undefined) throw new IpRiskError('@keyv/redis does not export createCluster: install @keyv/redis 5')
  const credentials = { ...(target.username === undefined ? {} : { username: target.username }), ...(target.password === undefined ? {} : { password: target.password }) }
  const cluster = factories.createCluster({
    rootNodes: target.nodes.map(({ host, port }) => ({ socket: { host, port } })),
    defaults: { ...credentials, ...SAFE, socket: socketOptions(target.tls) },
    minimizeConnections: true,
    useReplicas: false,
    maxCommandRedirections: 4,
  } as never) as NodeCluster
  let broken = false
  cluster.on('error', onError)
  cluster.on('node-error', (error: unknown) => {
    broken = true
    onError(error)
  })
  await connected(cluster)
  return {
    topology: 'cluster',
    send: (key, args, readonly) => cluster.sendCommand(key, readonly, args),
    usable: () => !broken && cluster.isOpen,
    failed(error) {
      if (needsNewGeneration(error)) broken = true
    },
    destroy: () => destroyQuietly(cluster),
  }
}

/** The master's address as the first sentinel that answers names it. */
async function askSentinels(factories: ClientFactories, target: Extract<RedisTarget, { topology: 'sentinel' }>): Promise<HostPort> {
  let last = 'no sentinel answered'
  for (const { host, port } of target.sentinels) {
    const client = factories.createClient({ ...SAFE, socket: { host, port, ...socketOptions(target.tls) } }) as NodeClient
    client.on('error', () => undefined) // the failure is the connect() rejection below
    try {
      await connected(client)
      const reply = await client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', target.name])
      if (Array.isArray(reply) && typeof reply[0] === 'string' && /^\d{1,5}$/.test(String(reply[1]))) {
        return { host: reply[0], port: Number(reply[1]) }
      }
      last = `a sentinel does not know the master ${JSON.stringify(target.name)}`
    } catch (error) {
      last = `no sentinel answered (${error instanceof Error ? error.message.slice(0, 100) : 'error'})`
    } finally {
      destroyQuietly(client)
    }
  }
  throw new IpRiskError(last)
}

async function openSentinelMaster(
  factories: ClientFactories,
  target: Extract<RedisTarget, { topology: 'sentinel' }>,
  onError: (error: unknown) => void,
): Promise<Generation> {
  const { host, port } = await askSentinels(factories, target)
  const client = factories.createClient({
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    database: target.db,
    ...SAFE,
    socket: { host, port, ...socketOptions(target.tls) },
  }) as NodeClient
  client.on('error', onError)
  await connected(client)
  let role: unknown
  try {
    role = await client.sendCommand(['ROLE'])
  } catch (error) {
    destroyQuietly(client)
    throw error
  }
  if (!Array.isArray(role) || role[0] !== 'master') {
    destroyQuietly(client)
    throw new IpRiskError('the master the sentinels name is not a master (a failover is under way)')
  }
  return clientGeneration(client, 'sentinel')
}
