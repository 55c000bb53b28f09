/**
 * The fleet features of issue 19, as the benchmark turns them off and on: the resolver options of each, and how the
 * benchmark finds out whether the iprisk tree it runs on has it (a file of the feature exists, and a resolver accepts
 * its options). BEFORE rows run with every present feature turned off (today's main behaviour); AFTER rows with every
 * present feature on, in the same run, so the two are compared on the same machine at the same moment.
 *
 * When a feature's option changes name at merge, change it here (one place).
 */
import { existsSync } from 'node:fs'

export type FeatureName = 'budget' | 'lease' | 'propagate' | 'topo'
type Overlay = Record<string, unknown>

export interface Feature {
  readonly name: FeatureName
  readonly title: string
  /** A file of the src/ tree that exists once the feature has landed. */
  readonly marker: string
  /** Resolver options (merged one level deep) that turn the feature on, and off. */
  readonly on: (ctx: { quota: number }) => Overlay
  readonly off: Overlay
}

export const FEATURES: Record<FeatureName, Feature> = {
  budget: {
    name: 'budget',
    title: 'fleet-wide per-minute quota (`budget.fleet`)',
    marker: 'src/core/fleet/budget.ts',
    on: ({ quota }) => ({ budget: { fleet: { perMinute: quota } } }),
    off: {},
  },
  lease: {
    name: 'lease',
    title: 'fleet single flight (`cache.leaseMs`)',
    marker: 'src/core/fleet/lease.ts',
    on: () => ({ cache: { leaseMs: 500 } }),
    off: { cache: { leaseMs: false } },
  },
  propagate: {
    name: 'propagate',
    title: 'block propagation through a stream (`cache.propagateBlocks`)',
    marker: 'src/core/fleet/propagation.ts',
    on: () => ({ cache: { propagateBlocks: true } }),
    off: { cache: { propagateBlocks: false } },
  },
  topo: {
    name: 'topo',
    title: 'one-line cluster configuration (`redis+cluster://`), hash-tagged keys',
    marker: 'src/core/cache/topology.ts',
    on: () => ({}),
    off: {},
  },
}

/** Whether the tree at `root` (the repository) has the feature's files. */
export function landed(feature: Feature, root: URL): boolean {
  return existsSync(new URL(feature.marker, root))
}

/** `b` merged into `a`, one level deep for plain objects. */
export function mergeOverlay(a: Overlay, b: Overlay): Overlay {
  const out: Overlay = { ...a }
  const plain = (x: unknown): x is Overlay => typeof x === 'object' && x !== null && !Array.isArray(x)
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    out[k] = plain(prev) && plain(v) ? { ...prev, ...v } : v
  }
  return out
}
