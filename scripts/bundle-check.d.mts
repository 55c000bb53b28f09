// Types of scripts/bundle-check.mjs, for test/build/bundle.test.ts.
import type { BuildOptions } from 'esbuild'

export interface BundleEntry {
  /** The specifier an application imports, e.g. `iprisk/trpc`. */
  readonly name: string
  /** The source file behind it, relative to the repository root (or absolute). */
  readonly src: string
}
export type TargetName = 'node' | 'edge-light' | 'workerd'
export interface BundleResult {
  readonly entry: string
  readonly target: TargetName
  /** Empty when the bundle is fine. */
  readonly problems: string[]
  readonly imports?: string[]
  readonly minBytes?: number
  readonly gzipBytes?: number
  readonly warnings?: number
}
export declare const ENTRIES: readonly BundleEntry[]
export declare const FRAMEWORK_PEERS: readonly string[]
export declare const ABSENT: readonly string[]
export declare const TARGETS: Record<TargetName, BuildOptions>
export declare const absentPlugin: import('esbuild').Plugin
export declare function forbiddenOnEdge(path: string): boolean
export declare function bundleEntry(
  entry: BundleEntry,
  target: TargetName,
  options: { from: 'dist' | 'src'; app?: string },
): Promise<BundleResult>
export declare function checkBundles(options?: { from?: 'dist' | 'src'; targets?: TargetName[] }): Promise<BundleResult[]>
