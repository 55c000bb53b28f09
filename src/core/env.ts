/**
 * Reading the environment where there may be none.
 *
 * @internal
 * @module
 */

/**
 * An environment variable, or `undefined` when it is unset or empty. Defensive: `process` does not exist on every
 * runtime (browsers, some edge runtimes), and reading the environment may throw where it needs a permission (Deno).
 *
 * @example
 * ```ts
 * readEnv('IPASIS_BASE_URL') // 'http://127.0.0.1:8420', or undefined
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    const value: unknown = globalThis.process?.env?.[name]
    return typeof value === 'string' && value !== '' ? value : undefined
  } catch {
    return undefined
  }
}
