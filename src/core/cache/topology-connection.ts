/**
 * The Redis connection of a resolver, the same for every topology: one {@link Generation} (topology-client.ts) at a
 * time, replaced when it is lost, one attempt at a time and only when a command needs it (the L2 breaker's probe, a
 * fleet module's command). Nothing reconnects on a timer, and after `destroy()` nothing connects again.
 *
 * On it: the {@link RedisLink} (raw commands, for the fleet modules) and the L2 store ({@link linkStore}), so that the
 * answers, the blocklist, leases, budgets and propagation share one set of connections.
 *
 * @internal
 * @module
 */

import { IpRiskError } from '../errors.js'
import type { RedisLink } from '../fleet/link.js'
import { serializeEntry, storedValue } from './l2-codec.js'
import type { KeyvLike } from './l2-store.js'
import { openGeneration, type ClientFactories, type Generation } from './topology-client.js'
import type { RedisTarget } from './topology.js'

const noop = (): void => undefined
const closedError = (): IpRiskError => new IpRiskError('the shared cache is closed')

/** One Redis deployment, connected on demand until destroyed. @internal */
export class TopologyConnection {
  readonly #target: RedisTarget
  readonly #factories: Promise<ClientFactories>
  readonly #onError: (error: unknown) => void
  #generation: Generation | undefined
  #opening: Promise<Generation> | undefined
  #destroyed = false

  /** @param factories The node-redis factories, once the adapter is loaded (a rejection is the load's error). */
  constructor(target: RedisTarget, factories: Promise<ClientFactories>, onError: (error: unknown) => void) {
    this.#target = target
    this.#factories = factories
    this.#onError = onError
    factories.catch(noop)
  }

  /** The deployment's topology. */
  get topology(): RedisTarget['topology'] {
    return this.#target.topology
  }

  /** The first connection attempt; resolves when it is over, whatever its outcome (rejects only if the adapter is missing). */
  async firstAttempt(): Promise<void> {
    await this.#factories
    await Promise.resolve(this.generation()).catch(noop)
  }

  /** A usable generation: at once when there is one (no promise on the common path), else one attempt (shared). */
  generation(): Generation | Promise<Generation> {
    if (this.#destroyed) return Promise.reject(closedError())
    const current = this.#generation
    if (current !== undefined && current.usable()) return current
    this.#opening ??= this.#open(current)
    return this.#opening
  }

  async #open(old: Generation | undefined): Promise<Generation> {
    try {
      const factories = await this.#factories
      if (this.#destroyed) throw closedError()
      const next = await openGeneration(factories, this.#target, this.#onError)
      if (this.#destroyed) {
        next.destroy()
        throw closedError()
      }
      old?.destroy()
      this.#generation = next
      return next
    } finally {
      this.#opening = undefined
    }
  }

  /**
   * Whether a usable generation is there now. When not, one connection attempt is started (unless one is under way),
   * without waiting for it. Never connects after `destroy()`.
   */
  connectedNow(): boolean {
    if (this.#destroyed) return false
    const current = this.#generation
    if (current !== undefined && current.usable()) return true
    Promise.resolve(this.generation()).catch(noop)
    return false
  }

  /** Send one command on a usable generation; a lost connection marks it for replacement. */
  async send(key: string, args: readonly string[], readonly?: boolean): Promise<unknown> {
    const got = this.generation()
    const generation = got instanceof Promise ? await got : got
    try {
      return await generation.send(key, args, readonly)
    } catch (error) {
      generation.failed(error)
      throw error
    }
  }

  /** A connection of its own to the same deployment (same adapter), for blocking reads. */
  duplicate(): TopologyConnection {
    return new TopologyConnection(this.#target, this.#factories, this.#onError)
  }

  destroy(): void {
    this.#destroyed = true
    this.#generation?.destroy()
    this.#generation = undefined
  }
}

/** The {@link RedisLink} on a connection; `close()` destroys it when `owned`. @internal */
export function connectionLink(connection: TopologyConnection, owned: boolean): RedisLink {
  return {
    topology: connection.topology,
    command: (key, args, readonly) => connection.send(key, args, readonly),
    async dedicated() {
      const copy = connection.duplicate()
      await copy.generation()
      return connectionLink(copy, true)
    },
    close() {
      if (owned) connection.destroy()
    },
  }
}


/**
 * The L2 store on a link: the few Keyv calls L2 makes, as raw commands, so that a lookup's read is ONE `MGET` of its
 * answer key and block key on every topology (both keys share a hash slot: cache/keys.ts). `@keyv/redis`'s own
 * `getMany` is not used: on a cluster it asks `cluster.nodeClient()` directly, which never follows a MOVED reply and
 * never notices a failover. Values are stored as keyv does (`{"value": …}`, plain JSON, no namespace) so that a Keyv
 * on the same Redis reads them; Redis expires them (`PX`), so no `expires` field is written. Errors reject (the L2
 * breaker counts them); the store emits no events.
 * @internal
 */
export function linkStore(link: RedisLink): KeyvLike {
  const store: KeyvLike = {
    get: async (key) => storedValue(await link.command(key, ['GET', key], true)),
    async set(key, value, ttl) {
      const args = ['SET', key, serializeEntry({ value })]
      if (ttl !== undefined) args.push('PX', String(Math.max(1, Math.ceil(ttl))))
      return (await link.command(key, args)) === 'OK'
    },
    delete: async (key) => (await link.command(key, ['DEL', key])) === 1,
    async getMany(keys) {
      const first = keys[0]
      if (first === undefined) return []
      let reply: unknown
      try {
        reply = await link.command(first, ['MGET', ...keys], true)
      } catch (error) {
        // Keys of different hash slots (never the answer and block keys of one IP): one GET each.
        if (error instanceof Error && error.message.startsWith('CROSSSLOT')) return Promise.all(keys.map((k) => store.get(k)))
        throw error
      }
      if (!Array.isArray(reply) || reply.length !== keys.length) throw new IpRiskError('MGET answered something other than one value per key')
      return reply.map(storedValue)
    },
    on: () => store,
  }
  return store
}
