/**
 * Node built-in modules as optional speed-ups and refinements, never requirements: the core imports no `node:*`
 * module statically, so that every entry point bundles and loads on runtimes that have none (Vercel Edge, Cloudflare
 * Workers without `nodejs_compat`, browsers). Where a built-in is offered synchronously by
 * `process.getBuiltinModule` (Node ≥ 20.16 / 22.3, Bun, Deno, Workers with `nodejs_compat`) the caller uses it;
 * elsewhere it does without. Called lazily, never at module scope.
 *
 * @module
 * @internal
 */

type GetBuiltinModule = (id: string) => unknown

/**
 * The Node built-in module `id` (e.g. `'node:events'`), or `undefined` where the runtime has no
 * `process.getBuiltinModule` or no such module. Never throws.
 *
 * @example
 * ```ts
 * const events = nodeBuiltin<typeof import('node:events')>('node:events')
 * events?.setMaxListeners(0, signal)
 * ```
 * @internal
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: GetBuiltinModule } }).process
    const get = proc?.getBuiltinModule
    return typeof get === 'function' ? ((get.call(proc, id) as T | null | undefined) ?? undefined) : undefined
  } catch {
    return undefined
  }
}
