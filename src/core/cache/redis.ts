/**
 * Redis from a one-line URL (`redis://`, `valkey://`, `redis+cluster://`, `redis+sentinel://`: cache/topology.ts):
 * the start-up checks of the URL and of the optional `@keyv/redis` package, and the connection
 * ({@link connectRedisKeyv}) that L2 reads and writes through and the fleet modules send commands on.
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
import type { RedisLink } from '../fleet/link.js'
import { nodeBuiltin } from '../node-builtin.js'
import type { KeyvLike } from './l2-store.js'
import { TopologyConnection, connectionLink, linkStore } from './topology-connection.js'
import { parseRedisTarget, type RedisTarget } from './topology.js'

export { REDIS_CONNECT_TIMEOUT_MS, REDIS_MAX_QUEUE } from './topology-client.js'

/**
 * Check a shared-cache URL at start-up (every form cache/topology.ts reads). Returns an error message (never
 * containing the URL, which may hold a password), or `undefined` when it is fine. @internal
 */
export function redisUrlProblem(url: string): string | undefined {
  const target = parseRedisTarget(url)
  return 'problem' in target ? target.problem : undefined
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
  /** node-redis's `createCluster`, re-exported (@keyv/redis 5). */
  createCluster?: (options: never) => unknown
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

const noop = (): void => undefined

/** Options of {@link connectRedisKeyv}. @internal */
export interface RedisConnectOptions {
  /** Imports the adapter module. @default importRedisAdapter (the `@keyv/redis` package) */
  importer?: RedisAdapterImporter
  /** The option named in a missing-package error. @default 'cache.l2' */
  option?: string
}

/** The L2 store, the link and the way to close them, as {@link connectRedisKeyv} returns them. @internal */
export interface RedisKeyv {
  /**
   * Resolves once the adapter is loaded and the first connection attempt is over (successful or not); rejects with an
   * {@link IpRiskConfigError} when `@keyv/redis` is missing (or the URL is not one iprisk reads), or an
   * {@link IpRiskError} when closed before that.
   */
  keyv: Promise<KeyvLike>
  /**
   * Raw commands on the same connections as `keyv` (for leases, budgets and propagation), usable at once: a command
   * sent before the connection is up waits for one connection attempt, and rejects when it fails (never queued while
   * offline). Closed by `destroy`, not by its own `close()`.
   */
  link: RedisLink
  /**
   * `link` when connected now, else `undefined` (and a connection attempt is started, not awaited): for the fleet
   * features, which fall back to their local behaviour rather than wait for Redis on a request.
   */
  connectedLink: () => RedisLink | undefined
  /** Close the connections; after this, nothing connects again. */
  destroy: () => void
}

/**
 * The shared cache at `url` (any form of cache/topology.ts: one server, Valkey, a Cluster, a Sentinel set), with the
 * settings that keep Redis from ever stalling a request or the process (topology-client.ts): a connect timeout, no
 * offline queue, a bounded command queue, no node-redis reconnect loop, errors listened to (and passed to `onError`).
 *
 * Reconnection is ours: a lost connection is replaced by the next command that needs it (for L2 reads, the probe the
 * L2 breaker lets through), one attempt at a time. After `destroy()`, nothing connects again. The connect timeout is
 * node-redis's own socket timer (the OS is its subject), not the injected clock.
 *
 * L2 reads and writes are raw commands on the link ({@link linkStore}): one lookup's read is one `MGET`.
 *
 * @internal
 */
export function connectRedisKeyv(url: string, onError: (error: unknown) => void, options: RedisConnectOptions = {}): RedisKeyv {
  const option = options.option ?? DEFAULT_OPTION
  const parsed = parseRedisTarget(url)
  const factories = loadRedisAdapter(options.importer ?? importRedisAdapter, option)
  const target: RedisTarget = 'problem' in parsed ? { topology: 'single', url: 'redis://invalid', valkey: false } : parsed
  const ready = 'problem' in parsed ? Promise.reject(new IpRiskConfigError(option, parsed.problem)) : factories
  const connection = new TopologyConnection(target, ready, onError)
  const link = connectionLink(connection, false)
  const store = linkStore(link)
  let destroyed = false
  const keyv = connection.firstAttempt().then(() => {
    if (destroyed) throw new IpRiskError('the shared cache is closed')
    return store
  })
  // The promise is consumed by SharedTier; this guard keeps an early failure from being reported as unhandled.
  keyv.catch(noop)
  return {
    keyv,
    link,
    connectedLink: () => (!destroyed && connection.connectedNow() ? link : undefined),
    destroy: () => {
      destroyed = true
      connection.destroy()
    },
  }
}
