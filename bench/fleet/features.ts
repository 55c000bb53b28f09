/**
 * The fleet features of issue 19, as the benchmark turns them on: the resolver options each needs, and how the
 * benchmark finds out whether the iprisk tree it runs on has it. Each scenario runs once with the feature off (the
 * options of today's main: the BEFORE row) and, where the tree has it, once with it on (the AFTER row), in the same
 * run, so the two are compared on the same machine at the same moment.
 *
 * When a feature's option changes name at merge, change it here (one place).
 */
import { existsSync } from 'node:fs'

export type FeatureName = 'budget' | 'lease' | 'propagate' | 'topo'

export interface Feature {
  readonly name: FeatureName
  readonly title: string
  /** A file of the src/ tree that exists once the feature has landed. */
  readonly marker: string
  /**
   * Resolver options that turn the feature on (merged one level deep into the instance's options). `null`: always on
   * when present (nothing to turn on; the BEFORE row is then only available on a tree without it).
   */
  readonly options: ((ctx: { quota: number }) => Record<string, unknown>) | null
}

export const FEATURES: Record<FeatureName, Feature> = {
  budget: {
    name: 'budget',
    title: 'fleet-wide maxPerMinute (budget.fleet)',
    marker: 'src/core/fleet/budget.ts',
    options: ({ quota }) => ({ budget: { fleet: { perMinute: quota } } }),
  },
  lease: {
    name: 'lease',
    title: 'fleet single flight (lease)',
    marker: 'src/core/fleet/lease.ts',
    options: () => ({ cache: { lease: true } }),
  },
  propagate: {
    name: 'propagate',
    title: 'block propagation (stream)',
    marker: 'src/core/fleet/propagate.ts',
    options: () => ({ cache: { propagate: true } }),
  },
  topo: {
    name: 'topo',
    title: 'one-line cluster configuration, hash-tagged keys',
    marker: 'src/core/cache/topology.ts',
    options: null,
  },
}

/** Whether the tree at `root` (the repository) has the feature's files. */
export function landed(feature: Feature, root: URL): boolean {
  return existsSync(new URL(feature.marker, root))
}
