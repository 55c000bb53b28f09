/**
 * The store side of L2: the shape of a Keyv that L2 uses ({@link KeyvLike}) and its start-up checks, one read of an
 * answer and a blocklist entry, the errors a Keyv reports only as events ({@link StoreErrors}), and a time budget on
 * the injected {@link Clock} ({@link withTimeout}).
 *
 * @internal
 * @module
 */

import type { Clock } from '../clock.js'
import { NOT_JSON } from './l2-codec.js'

/**
 * The part of a Keyv instance L2 uses (Keyv 5). Any Keyv works; the structural type avoids tying users to our copy
 * of the `keyv` package (an `instanceof` check would fail across copies).
 *
 * @example
 * ```ts
 * import { Keyv } from 'keyv'
 * import KeyvRedis from '@keyv/redis'
 *
 * const shared = new Keyv({ store: new KeyvRedis('redis://10.0.0.5:6379'), useKeyPrefix: false, namespace: undefined })
 * createRiskResolver({ provider, cache: shared }) // the resolver does not close it: it is yours
 * ```
 */
export interface KeyvLike {
  get(key: string): Promise<unknown>
  set(key: string, value: unknown, ttl?: number): Promise<unknown>
  delete(key: string): Promise<unknown>
  getMany?(keys: string[]): Promise<unknown[]>
  on(event: 'error', listener: (error: unknown) => void): unknown
}

/** True when `value` looks like a Keyv instance (the methods L2 calls). @internal */
export function isKeyvLike(value: unknown): value is KeyvLike {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    typeof v.get === 'function' && typeof v.set === 'function' && typeof v.delete === 'function' && typeof v.on === 'function'
  )
}

/**
 * True when a Keyv instance keeps its data in keyv's default in-memory `Map`, which is unbounded (an IP-rotating
 * attacker would grow it without limit). Such an instance is refused as L2. @internal
 */
export function hasUnboundedMapStore(keyv: KeyvLike): boolean {
  const k = keyv as unknown as { store?: unknown; opts?: { store?: unknown } }
  const store = k.store ?? k.opts?.store
  return store instanceof Map
}

/** What {@link withTimeout} resolves when the time runs out. */
export const TIMEOUT: unique symbol = Symbol('timeout')

/** What a deserializer throws on a text that is not JSON (`JSON.parse`'s error), as opposed to a store failure. */
const isParseError = (error: unknown): boolean => error instanceof SyntaxError

/**
 * Both values, in one round trip when the store can (`getMany`). A Keyv whose deserializer throws on a value that is
 * not JSON (keyv's default one does) fails the whole batch: the keys are then read one by one, so that such a value
 * is an invalid record for its key (a miss) and the other key is still read. Any other error rejects (a failure).
 */
export async function readPair(keyv: KeyvLike, riskKey: string, blockKey: string): Promise<unknown> {
  if (typeof keyv.getMany === 'function') {
    try {
      return await keyv.getMany([riskKey, blockKey])
    } catch (error) {
      if (!isParseError(error)) throw error
    }
  }
  const settled = await Promise.allSettled([keyv.get(riskKey), keyv.get(blockKey)])
  return settled.map((s) => {
    if (s.status === 'fulfilled') return s.value
    if (isParseError(s.reason)) return NOT_JSON
    throw s.reason
  })
}

/**
 * `promise`, or {@link TIMEOUT} once `ms` elapse on `clock`. A rejection after the timeout is absorbed (the `then`
 * below handles it), so a late failure can never surface as an unhandled rejection.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T | typeof TIMEOUT> {
  return new Promise<T | typeof TIMEOUT>((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(TIMEOUT), ms)
    promise.then(
      (value) => {
        clock.clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clock.clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** A short description of an error for logs: the message only (no stack, no object dump, no URL). */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 200) || error.name
  if (typeof error === 'string') return error.slice(0, 200)
  return 'unknown error'
}

/**
 * The errors a store reported as `error` events. A Keyv that does not throw resolves misses on failure and only emits
 * the error, so an operation is judged by whether an event came while it ran: take a {@link StoreErrors.mark} before,
 * ask {@link StoreErrors.since} after. The last error's text also explains a store that never loaded.
 */
export class StoreErrors {
  #count = 0
  #last = ''

  /** Note an error (an `error` event, or the store failing to load). */
  record(error: unknown): void {
    this.#count++
    this.#last = errorText(error)
  }

  /** A mark to pass to {@link StoreErrors.since}. */
  mark(): number {
    return this.#count
  }

  /** The last error's text if any error was recorded after `mark`, else `undefined`. */
  since(mark: number): string | undefined {
    return this.#count === mark ? undefined : this.#last
  }

  /** The last error's text (empty when there was none). */
  get last(): string {
    return this.#last
  }
}
