/**
 * Redis from a `redis://` URL: the start-up checks of the URL and of the optional `@keyv/redis` package, and the
 * connection ({@link connectRedisKeyv}) that L2 reads and writes through.
 *
 * `@keyv/redis` is an optional peer dependency: applications without a shared cache never install it, and a bundler
 * (esbuild `--bundle`, wrangler, Next.js) must be able to build iprisk without it. So it is never imported statically:
 * {@link importRedisAdapter} imports it at run time through a specifier held in a variable, which a bundler cannot
 * resolve at build time (a literal `import('@keyv/redis')` makes esbuild fail with "Could not resolve" when the package
 * is absent). A missing package is a typed {@link IpRiskConfigError} naming `npm install @keyv/redis`: synchronously
 * from {@link assertRedisAdapterInstalled} at start-up where the package can be resolved, and from the connection
 * otherwise.
 *
 * @internal
 * @module
 */

import { IpRiskConfigError, IpRiskError } from '../errors.js'
import { nodeBuiltin } from '../node-builtin.js'
import { deserializeEntry, serializeEntry } from './l2-codec.js'
import type { KeyvLike } from './l2-store.js'

/**
 * Check a `redis://` / `rediss://` URL at start-up. Returns an error message (never containing the URL, which may
 * hold a password), or `undefined` when it is fine. @internal
 */
export function redisUrlProblem(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)'
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `must use the redis: or rediss: scheme, got ${JSON.stringify(parsed.protocol.slice(0, 20))}`
  }
  if (parsed.hostname === '') return 'has no host (expected redis://host:port)'
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d{1,5}$/.test(db)) return 'has a database path that is not a number (expected redis://host:port/0)'
  return undefined
}

/**
 * The optional package, held in a variable on purpose: bundlers resolve `import()` / `require()` of a string literal
 * at build time, and must not need an optional peer installed.
 */
const REDIS_ADAPTER: string = '@keyv/redis'

/** The option named in errors about the Redis adapter when the caller names none. */
const DEFAULT_OPTION = 'cache.l2'

/** Resolves a module specifier to a path, throwing when the module is not installed. */
type Resolve = (specifier: string) => string

/**
 * Node's resolution from this module. Where nothing can be said at start-up, it answers as found and the import
 * decides (with the same error): a runtime without `node:module` (an edge bundle: `process.getBuiltinModule` is read,
 * never a static import, so the core bundles without Node built-ins), or a module with no file URL to resolve from (a
 * CommonJS bundle empties `import.meta`).
 */
const defaultResolve: Resolve = (specifier) => {
  const createRequire = nodeBuiltin<typeof import('node:module')>('node:module')?.createRequire
  if (createRequire === undefined) return specifier
  let require: NodeJS.Require
  try {
    require = createRequire(import.meta.url)
  } catch {
    return specifier
  }
  return require.resolve(specifier)
}

/** The error for a missing `@keyv/redis`, naming the option that asked for Redis. */
function adapterMissing(option: string): IpRiskConfigError {
  return new IpRiskConfigError(
    option,
    'a redis:// URL needs the optional package @keyv/redis: run `npm install @keyv/redis` (or pass your own Keyv instance)',
  )
}

/**
 * Throw an {@link IpRiskConfigError} naming `option` unless `@keyv/redis` can be loaded. Synchronous, so that a
 * missing optional dependency is reported by `createRiskResolver`, not by the first request. @internal
 */
export function assertRedisAdapterInstalled(option: string, resolve: Resolve = defaultResolve): void {
  try {
    resolve(REDIS_ADAPTER)
  } catch {
    throw adapterMissing(option)
  }
}

/**
 * The part of the `@keyv/redis` module used here, written out (not `typeof import('@keyv/redis')`) so that iprisk's
 * declaration files compile for users who do not have the package. @internal
 */
export interface RedisAdapterModule {
  /** node-redis's `createClient`, re-exported. */
  createClient(options: object): unknown
  /** `KeyvRedis`, the store. */
  default: new (client: never, options: object) => unknown
  /** `Keyv`, re-exported. */
  Keyv: new (options: object) => Required<KeyvLike>
}

/** Imports the Redis adapter module (the package by default; a test passes its own). @internal */
export type RedisAdapterImporter = () => Promise<unknown>

/**
 * Imports `@keyv/redis` at run time. The specifier is a variable (see {@link REDIS_ADAPTER}); the comments keep
 * webpack (Next.js) and Vite from warning about, or trying to bundle, an expression they cannot resolve. @internal
 */
export const importRedisAdapter: RedisAdapterImporter = () =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ REDIS_ADAPTER)

function isAdapterModule(mod: unknown): mod is RedisAdapterModule {
  if (typeof mod !== 'object' || mod === null) return false
  const m = mod as Record<string, unknown>
  return typeof m.createClient === 'function' && typeof m.default === 'function' && typeof m.Keyv === 'function'
}

/**
 * The `@keyv/redis` module, or an {@link IpRiskConfigError} naming `option` and `npm install @keyv/redis` when it
 * cannot be imported (or is not the package expected). @internal
 */
export async function loadRedisAdapter(
  importer: RedisAdapterImporter = importRedisAdapter,
  option: string = DEFAULT_OPTION,
): Promise<RedisAdapterModule> {
  let mod: unknown
  try {
    mod = await importer()
  } catch {
    throw adapterMissing(option)
  }
  if (!isAdapterModule(mod)) {
    throw new IpRiskConfigError(option, '@keyv/redis does not export createClient, KeyvRedis and Keyv: install @keyv/redis 4 or 5')
  }
  return mod
}

/** Connect timeout of a Redis client built from a URL. */
export const REDIS_CONNECT_TIMEOUT_MS = 2_000
/** Commands allowed to wait for a reply on the Redis connection; beyond, new commands fail at once. */
export const REDIS_MAX_QUEUE = 10_000

/** The part of a node-redis client used here. */
interface RedisClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const noop = (): void => undefined

/** Options of {@link connectRedisKeyv}. @internal */
export interface RedisConnectOptions {
  /** Imports the adapter module. @default importRedisAdapter (the `@keyv/redis` package) */
  importer?: RedisAdapterImporter
  /** The option named in a missing-package error. @default 'cache.l2' */
  option?: string
}

/** A Keyv on Redis and the way to close it, as {@link connectRedisKeyv} returns them. @internal */
export interface RedisKeyv {
  /**
   * Resolves once the adapter is loaded and the first connection attempt is over (successful or not); rejects with an
   * {@link IpRiskConfigError} when `@keyv/redis` is missing, or an {@link IpRiskError} when closed before that.
   */
  keyv: Promise<KeyvLike>
  /** Close the client; after this, nothing connects again. */
  destroy: () => void
}

/**
 * A Keyv backed by Redis at `url`, with settings that keep Redis from ever stalling a request or the process: a
 * connect timeout, no offline queue (while disconnected, commands fail at once instead of piling up), a bounded
 * command queue, plain JSON (de)serialization, no key namespace (keys are already prefixed and versioned), and errors
 * thrown (so the L2 breaker counts them) as well as emitted (and listened to: never an unhandled `error`).
 *
 * Reconnection is ours, not node-redis's: its reconnect loop keeps timers alive (a closed resolver would keep the
 * process running, or reconnect after close). With `reconnectStrategy: false` a lost connection just closes the
 * client, and the next read the L2 breaker lets through (the probe) connects again, one attempt at a time. After
 * `destroy()`, nothing connects again. The connect timeout is node-redis's own socket timer (the OS is its subject),
 * not the injected clock.
 *
 * @internal
 */
export function connectRedisKeyv(url: string, onError: (error: unknown) => void, options: RedisConnectOptions = {}): RedisKeyv {
  const connection = new RedisConnection(url, onError)
  const keyv = connection.open(options.importer ?? importRedisAdapter, options.option ?? DEFAULT_OPTION)
  // The promise is consumed by SharedTier; this guard keeps an early failure from being reported as unhandled.
  keyv.catch(noop)
  return { keyv, destroy: () => connection.destroy() }
}

/** One Redis client from a URL, connected on demand (one attempt at a time) until destroyed. */
class RedisConnection {
  readonly #url: string
  readonly #onError: (error: unknown) => void
  #destroyed = false
  #client: RedisClientLike | undefined
  /** The connection attempt under way, if any. */
  #connecting: Promise<void> | undefined

  constructor(url: string, onError: (error: unknown) => void) {
    this.#url = url
    this.#onError = onError
  }

  /** Load the adapter, create the client and the Keyv on it, and make the first connection attempt. */
  async open(importer: RedisAdapterImporter, option: string): Promise<KeyvLike> {
    const mod = await loadRedisAdapter(importer, option)
    if (this.#destroyed) throw closedError()
    const client = mod.createClient({
      url: this.#url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: REDIS_MAX_QUEUE,
      socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS, reconnectStrategy: false },
    }) as RedisClientLike
    client.on('error', this.#onError)
    this.#client = client
    const store = new mod.default(client as never, { throwOnConnectError: true, throwOnErrors: true })
    const instance = new mod.Keyv({
      store,
      namespace: undefined,
      useKeyPrefix: false,
      serialize: serializeEntry,
      deserialize: deserializeEntry,
      throwOnErrors: true,
    })
    instance.on('error', this.#onError)
    await this.#startConnect(client).catch(noop)
    if (this.#destroyed) throw closedError()
    return connectingKeyv(instance, () => this.#ensure())
  }

  #startConnect(client: RedisClientLike): Promise<void> {
    const attempt: Promise<void> = client.connect().then(
      () => {
        if (this.#connecting === attempt) this.#connecting = undefined
      },
      (error: unknown) => {
        if (this.#connecting === attempt) this.#connecting = undefined
        throw error
      },
    )
    attempt.catch(noop) // callers may time out and stop listening
    this.#connecting = attempt
    return attempt
  }

  /** `undefined` when connected (no promise on the common path), else a promise of the connection. */
  #ensure(): Promise<void> | undefined {
    const client = this.#client
    if (this.#destroyed || client === undefined) return Promise.reject(closedError())
    if (client.isReady) return undefined
    if (this.#connecting !== undefined) return this.#connecting
    if (client.isOpen) return Promise.reject(new IpRiskError('the Redis connection is not ready'))
    return this.#startConnect(client)
  }

  destroy(): void {
    this.#destroyed = true
    const client = this.#client
    try {
      if (client !== undefined && client.isOpen) client.destroy()
    } catch {
      // already closed
    }
  }
}

const closedError = (): IpRiskError => new IpRiskError('the shared cache is closed')

/**
 * `instance` with every call connecting first if needed (`ensure`): @keyv/redis would otherwise connect by itself,
 * adding listeners each time.
 */
function connectingKeyv(instance: Required<KeyvLike>, ensure: () => Promise<void> | undefined): KeyvLike {
  const wrapped: KeyvLike = {
    async get(key) {
      await ensure()
      return instance.get(key)
    },
    async set(key, value, ttl) {
      await ensure()
      return instance.set(key, value, ttl)
    },
    async delete(key) {
      await ensure()
      return instance.delete(key)
    },
    async getMany(keys) {
      const waiting = ensure()
      if (waiting !== undefined) await waiting
      return instance.getMany(keys)
    },
    on(event, listener) {
      instance.on(event, listener)
      return wrapped
    },
  }
  return wrapped
}
