/** Command-line options of `npm run bench:fleet`. */
import { parseArgs } from 'node:util'
import { SHARED_OPTIONS, positiveNumber } from '../lib/args.js'
import type { FeatureName } from './features.js'

export type Scenario = 'a' | 'b' | 'c' | 'd'

export interface FleetOptions {
  quick: boolean
  sizes: number[]
  /** (a) new IPs per fleet size, and how many go out at once in one round. */
  ips: number
  batch: number
  /** Simulated IPASIS latency (ms). */
  latencyMs: number
  /** (b) the per-minute quota, and new IPs offered to each instance. */
  quota: number
  offerFactor: number
  /** (c) blocks per fleet size, ms between two blocks, and how long an instance is watched. */
  blocks: number
  gapMs: number
  deadlineMs: number
  /** (d) L2 hits timed per topology. */
  l2Samples: number
  cluster: boolean
  /** `cache.l2TimeoutMs` of every instance in (a)–(c); `null`: the library's default (50 ms). */
  l2TimeoutMs: number | null
  /** Scenarios to run, of a, b, c, d. */
  only: Scenario[]
  /** Features to turn on for the AFTER rows: 'auto' (every one the tree accepts) or a list; [] for none. */
  features: 'auto' | FeatureName[]
  /** A Redis of your own instead of the benchmark's private one (keys under a prefix of this run, deleted after). */
  redisUrl: string | null
  portBase: number
  from: 'src' | 'dist'
  out: string | null
}

export const usage = `Usage: npm run bench:fleet -- [options]

  --quick               fewer IPs, blocks and samples (about a minute)
  --only <list>         scenarios to run: a (calls per new IP), b (quota), c (propagation), d (L2 hit cost); default all
  --sizes <list>        fleet sizes, separate processes each (default 1,2,5,10)
  --ips <n>             (a) new IPs per fleet size (default 100, quick 40), --batch <n> at once (default 10)
  --latency <ms>        simulated IPASIS latency (default 20)
  --l2-timeout <ms>     cache.l2TimeoutMs of the instances in (a)-(c) (default: the library's, 50 ms); (d) uses 1000
  --quota <n>           (b) per-minute quota Q (default 60); each instance is offered 2×Q new IPs
  --blocks <n>          (c) blocks per fleet size (default 60, quick 20), one every --gap <ms> (default 25)
  --deadline <ms>       (c) how long an instance is watched for the block (default 1000)
  --l2-samples <n>      (d) L2 hits timed per topology (default 400, quick 100)
  --no-cluster          (d) skip the Redis Cluster (3 masters, started by the benchmark)
  --features <list>     AFTER rows: auto (default: every feature this tree accepts), none, or budget,lease,propagate,topo
  --redis-url <url>     use this Redis instead of a private one (only keys under this run's prefix are touched)
  --port-base <port>    ports used: simulator +0, Redis +1, cluster +11..+13 (default 7700)
  --from <src|dist>     import iprisk from src/ through tsx (default) or from dist/ (npm run build first)
  --out <file>          results file (default bench/results/fleet.md); --no-write to only print
  --help
`

function positive(name: string, raw: string | undefined, fallback: number): number {
  return positiveNumber(name, raw, fallback, true)
}

export function parseFleetArgs(argv: string[]): FleetOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      ...SHARED_OPTIONS,
      only: { type: 'string' },
      sizes: { type: 'string' },
      ips: { type: 'string' },
      batch: { type: 'string' },
      'l2-timeout': { type: 'string' },
      quota: { type: 'string' },
      blocks: { type: 'string' },
      gap: { type: 'string' },
      deadline: { type: 'string' },
      'l2-samples': { type: 'string' },
      'no-cluster': { type: 'boolean', default: false },
      features: { type: 'string' },
      'redis-url': { type: 'string' },
      'port-base': { type: 'string' },
      from: { type: 'string' },
    },
  })
  if (values.help) return 'help'
  const quick = values.quick ?? false
  const sizes = (values.sizes ?? '1,2,5,10').split(',').map((s) => positive('sizes', s.trim(), 1))
  if (sizes.some((n) => n > 32)) throw new Error('--sizes: at most 32 instances')
  let features: FleetOptions['features'] = 'auto'
  if (values.features !== undefined && values.features !== 'auto') {
    const all = ['budget', 'lease', 'propagate', 'topo']
    const list = values.features === 'none' ? [] : values.features.split(',').map((s) => s.trim())
    for (const f of list) if (!all.includes(f)) throw new Error(`--features: unknown feature "${f}" (${all.join(', ')})`)
    features = list as FeatureName[]
  }
  const only = (values.only ?? 'a,b,c,d').split(',').map((x) => x.trim())
  for (const x of only) if (!['a', 'b', 'c', 'd'].includes(x)) throw new Error(`--only: unknown scenario "${x}" (a, b, c, d)`)
  const from = values.from ?? 'src'
  if (from !== 'src' && from !== 'dist') throw new Error(`--from must be src or dist, got "${from}"`)
  return {
    quick,
    only: only as Scenario[],
    sizes,
    ips: positive('ips', values.ips, quick ? 40 : 100),
    batch: positive('batch', values.batch, 10),
    latencyMs: positive('latency', values.latency, 20),
    l2TimeoutMs: values['l2-timeout'] === undefined ? null : positive('l2-timeout', values['l2-timeout'], 50),
    quota: positive('quota', values.quota, 60),
    offerFactor: 2,
    blocks: positive('blocks', values.blocks, quick ? 20 : 60),
    gapMs: positive('gap', values.gap, 25),
    deadlineMs: positive('deadline', values.deadline, 1_000),
    l2Samples: positive('l2-samples', values['l2-samples'], quick ? 100 : 400),
    cluster: !(values['no-cluster'] ?? false),
    features,
    redisUrl: values['redis-url'] ?? null,
    portBase: positive('port-base', values['port-base'], 7700),
    from,
    out: values['no-write'] ? null : (values.out ?? 'bench/results/fleet.md'),
  }
}
