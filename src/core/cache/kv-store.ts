/**
 * The shared cache (L2) on a Cloudflare Workers KV namespace: where a `redis://` URL cannot work (no TCP sockets for
 * node-redis), a KV binding is the store every isolate of every location can read. {@link workersKvStore} adapts the
 * binding to the {@link KeyvLike} shape L2 uses; no package is needed (the binding's `get` / `put` / `delete` are the
 * whole API), so it is written here rather than taken from a keyv adapter (none targets the binding itself).
 *
 * What KV's model means for iprisk (Cloudflare, "How KV works"): writes reach other locations eventually, typically
 * within 60 seconds, and a location may serve a value it read for up to 60 seconds more. So an answer or a `block()`
 * written in one location can take about a minute to be seen in another (the first request there asks the provider
 * itself), and an `unblock()` can take as long to lift a block elsewhere. A key takes at most one write per second:
 * a burst of writes to one key fails some of them (counted as L2 failures; the answer is still served from L1).
 * `expirationTtl` is at least 60 s: a shorter lifetime is stored for 60 s, which is harmless because every record
 * carries its own freshness and block end, checked on read.
 *
 * @module
 */

import { IpRiskConfigError } from '../errors.js'
import { L2_MAX_VALUE_CHARS } from './l2-codec.js'
import type { KeyvLike } from './l2-store.js'

/**
 * The part of a Workers KV namespace binding used (`KVNamespace` in `@cloudflare/workers-types`), written out so that
 * iprisk's types need no Workers types.
 */
export interface KvNamespaceLike {
  /** The value as text, or `null` when the key is absent (or expired). */
  get(key: string, type: 'text'): Promise<string | null>
  /** Store `value`, expiring after `expirationTtl` seconds (60 at least). */
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<unknown>
  /** Remove the key (everywhere, eventually). */
  delete(key: string): Promise<unknown>
}

/** Options of {@link workersKvStore}. */
export interface WorkersKvStoreOptions {
  /**
   * Keeps a write alive after the response: `waitUntil` from `cloudflare:workers`. L2 writes are fire-and-forget, and
   * Workers cancels a KV write still in flight when the response is sent, so without it answers never reached KV.
   * Required on Workers (an {@link IpRiskConfigError} otherwise).
   */
  waitUntil?: (promise: Promise<unknown>) => void
}

/** KV's shortest `expirationTtl`, in seconds. */
const KV_MIN_TTL_SECONDS = 60

/**
 * A shared cache on a Workers KV namespace, for `createRiskResolver({ cache })` on Cloudflare Workers, where a
 * `redis://` URL cannot work. Answers and blocks are seen by every isolate and location, eventually: a write takes
 * up to about 60 s to reach other locations (blocks and unblocks too). Values are the same JSON records as in Redis,
 * checked on read.
 *
 * @param namespace - The KV binding (`env.IPRISK_KV`, declared in wrangler.toml `[[kv_namespaces]]`).
 * @param options - `waitUntil` from `cloudflare:workers` (required on Workers).
 * @returns A {@link KeyvLike} store; the resolver does not close it (a binding needs no closing).
 * @throws IpRiskConfigError (`workersKvStore.waitUntil`) on Workers without `waitUntil`, or when it is not a function.
 *
 * @example
 * ```ts
 * import { waitUntil } from 'cloudflare:workers'
 *
 * export default {
 *   fetch(request: Request, env: { IPASIS_API_KEY: string; IPRISK_KV: KVNamespace }) {
 *     risk ??= createRiskResolver({ provider: ipasis({ apiKey: env.IPASIS_API_KEY }), cache: workersKvStore(env.IPRISK_KV, { waitUntil }) })
 *     // ...
 *   },
 * }
 * ```
 */
export function workersKvStore(namespace: KvNamespaceLike, options: WorkersKvStoreOptions = {}): KeyvLike {
  const { waitUntil } = options
  if (waitUntil !== undefined && typeof waitUntil !== 'function') {
    throw new IpRiskConfigError('workersKvStore.waitUntil', `must be a function (waitUntil from 'cloudflare:workers'), got ${typeof waitUntil}`)
  }
  if (waitUntil === undefined && (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === 'Cloudflare-Workers') {
    throw new IpRiskConfigError(
      'workersKvStore.waitUntil',
      "is required on Workers: pass `{ waitUntil }` from 'cloudflare:workers' (without it Workers cancels the cache writes still in flight when a response is sent)",
    )
  }
  return {
    async get(key) {
      const text = await namespace.get(key, 'text')
      if (text === null) return undefined
      // Refused unparsed when too long, and a text that is not JSON: both a SyntaxError, which L2 reads as an invalid
      // record for that key (a miss, reported), never as the store failing.
      if (text.length > L2_MAX_VALUE_CHARS) throw new SyntaxError('value too long for an iprisk record')
      return JSON.parse(text) as unknown
    },
    async set(key, value, ttlMs) {
      const seconds = ttlMs === undefined ? undefined : Math.max(KV_MIN_TTL_SECONDS, Math.ceil(ttlMs / 1000))
      const put = namespace.put(key, JSON.stringify(value), seconds === undefined ? {} : { expirationTtl: seconds })
      waitUntil?.(put.catch(() => undefined)) // the failure itself reaches L2 through `await put`
      await put
      return true
    },
    async delete(key) {
      const done = namespace.delete(key)
      waitUntil?.(done.catch(() => undefined))
      await done
      return true
    },
    // A binding reports failures by rejecting, which L2 counts; it has no error events.
    on: () => undefined,
  }
}
