/**
 * The fleet benchmark's plan: which features this tree has (and the BEFORE / AFTER options), the four scenarios over
 * their variants and fleet sizes, and the notes that help read the results. run.ts sets up the servers and the fleet,
 * then calls these in order.
 */
import type { IpasisSimulator } from '../../src/testing/simulator.js'
import type { FleetOptions } from './args.js'
import { FEATURES, landed, mergeOverlay, type Feature, type FeatureName } from './features.js'
import type { Fleet } from './fleet.js'
import type { InstanceConfig, L2Config } from './protocol.js'
import type { RedisDeployment } from './redis.js'
import type { FleetReport, Variant } from './report.js'
import { l2Cost, propagation, quota, singleFlight, type PropagationRow, type QuotaRow, type SingleFlightRow } from './scenarios.js'

type Overlay = Record<string, unknown>
export const API_KEY = 'fleet-bench-key'
const repoRoot = new URL('../../', import.meta.url)

/** Everything a scenario needs. */
export interface Suite {
  readonly opts: FleetOptions
  readonly sim: IpasisSimulator
  readonly fleet: Fleet
  readonly singleUrl: string
  readonly cluster: RedisDeployment | null
  readonly clusterSkipped: string
  readonly redisVersion: string
  readonly runPrefix: string
  readonly log: (line: string) => void
  readonly notes: string[]
  /** Set by {@link detectFeatures}. */
  features: FeatureState
}

export interface FeatureState {
  readonly on: ReadonlySet<FeatureName>
  /** Options of the BEFORE rows: every present feature off. */
  readonly before: Overlay
  readonly rows: FleetReport['features']
}

export const clusterUrlOf = (cluster: RedisDeployment | null): string | null =>
  cluster === null ? null : `redis+cluster://${cluster.urls.map((u) => u.slice('redis://'.length)).join(',')}`

/** The options every instance gets, plus `overlay`. */
export function configFor(s: Suite, prefix: string, l2: L2Config, overlay: Overlay, budget: Overlay = {}, ttlSeconds = 300) {
  const { budget: overlayBudget, ...extra } = overlay as { budget?: Overlay }
  return (index: number): InstanceConfig => ({
    index,
    simUrl: s.sim.url,
    apiKey: API_KEY,
    l2,
    prefix: `${s.runPrefix}-${prefix}`.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 32),
    ttlSeconds,
    budget: { ...budget, ...(overlayBudget ?? {}) },
    extra,
  })
}

export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200)
}

/** Run one scenario variant; a failure becomes a note (the rows measured so far stay), not the end of the run. */
async function attempt(s: Suite, what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (error) {
    s.log(`${what} FAILED: ${firstLine(error)}`)
    s.notes.push(`${what} failed: ${firstLine(error)}`)
  }
}

/** Whether this tree has the feature and accepts its options (a resolver is created with them, then closed). */
async function probe(feature: Feature, s: Suite): Promise<string | null> {
  if (!landed(feature, repoRoot)) return `not on this tree (${feature.marker} absent)`
  const core = (await import(new URL(`${s.opts.from}/core/index.js`, repoRoot).href)) as {
    createRiskResolver(o: object): { close(): Promise<void> }
    ipasis(o: object): unknown
  }
  const { cache, budget, ...rest } = feature.on({ quota: s.opts.quota }) as { cache?: object; budget?: object }
  const l2 = feature.name === 'topo' ? clusterUrlOf(s.cluster) : s.singleUrl
  if (l2 === null) return 'no cluster in this run'
  try {
    const r = core.createRiskResolver({
      provider: core.ipasis({ apiKey: API_KEY, baseUrl: s.sim.url }),
      cache: { l2, prefix: `${s.runPrefix}-probe`, ...cache },
      budget: { maxPerMinute: s.opts.quota, ...budget },
      logger: { warn() {}, error() {}, info() {} },
      ...rest,
    })
    await r.close()
    return null
  } catch (error) {
    return `options refused: ${error instanceof Error ? error.message.slice(0, 160) : String(error)}`
  }
}

/** Which features this tree has: BEFORE rows turn them all off, an AFTER row turns its scenario's one on. */
export async function detectFeatures(s: Suite): Promise<FeatureState> {
  const wanted: FeatureName[] = s.opts.features === 'auto' ? (Object.keys(FEATURES) as FeatureName[]) : s.opts.features
  const on = new Set<FeatureName>()
  const rows: FleetReport['features'] = []
  let before: Overlay = {}
  for (const feature of Object.values(FEATURES)) {
    const problem = await probe(feature, s)
    if (problem === null) before = mergeOverlay(before, feature.off)
    if (problem === null && wanted.includes(feature.name)) on.add(feature.name)
    const state =
      problem !== null
        ? `absent: ${problem}`
        : on.has(feature.name)
          ? 'present: off in BEFORE rows, ON in AFTER rows'
          : 'present: off (not asked for by --features)'
    rows.push({ name: feature.name, title: feature.title, state })
  }
  if (s.opts.l2TimeoutMs !== null) before = mergeOverlay(before, { cache: { l2TimeoutMs: s.opts.l2TimeoutMs } })
  return { on, before, rows }
}

/** `before` and, when the scenario's feature is on, `after`: the BEFORE options with that one feature on. */
function variants(s: Suite, name: FeatureName): [string, Overlay][] {
  const { on, before } = s.features
  if (!on.has(name)) return [['before', before]]
  return [['before', before], [`after: ${name}`, mergeOverlay(before, FEATURES[name].on({ quota: s.opts.quota }))]]
}

const single = (s: Suite): L2Config => ({ kind: 'url', url: s.singleUrl })

/** (a) Upstream calls per new IP reaching every instance at once. */
export async function runSingleFlight(s: Suite): Promise<Variant<SingleFlightRow>[]> {
  const out: Variant<SingleFlightRow>[] = []
  for (const [label, extra] of variants(s, 'lease')) {
    const rows: SingleFlightRow[] = []
    await attempt(s, `(a) ${label}`, async () => {
      await s.fleet.init(configFor(s, `a${out.length}`, single(s), extra))
      for (const n of s.opts.sizes) {
        rows.push(await singleFlight(s.fleet, s.sim, n, s.opts.ips, s.opts.batch))
        s.log(`(a) ${label} n=${n}: ${rows.at(-1)!.meanCalls.toFixed(2)} calls per IP`)
      }
    })
    out.push({ label, rows })
  }
  return out
}

/** (b) A per-minute quota against the calls the fleet makes. */
export async function runQuota(s: Suite): Promise<Variant<QuotaRow>[]> {
  const out: Variant<QuotaRow>[] = []
  // The fleet budget needs a Redis link: until the resolver makes one from a URL (the topo wiring), only from a Keyv
  // on @keyv/redis. Both are measured.
  const list: [string, Overlay, L2Config][] = variants(s, 'budget').map(([l, o]) => [l, o, single(s)])
  if (list.length > 1) list.push(['after: budget, `cache.l2` a Keyv on @keyv/redis', list[1]![1], { kind: 'single-keyv', url: s.singleUrl }])
  for (const [label, extra, l2] of list) {
    const rows: QuotaRow[] = []
    await attempt(s, `(b) ${label}`, async () => {
      for (const n of s.opts.sizes) {
        await s.fleet.init(configFor(s, `b${out.length}-${n}`, l2, extra, { maxPerMinute: s.opts.quota }))
        rows.push(await quota(s.fleet, s.sim, n, s.opts.quota, s.opts.quota * s.opts.offerFactor))
        s.log(`(b) ${label} n=${n}: ${rows.at(-1)!.calls} calls for Q=${s.opts.quota}`)
      }
    })
    out.push({ label, rows })
  }
  return out
}

/** (c) Block (and unblock) propagation. */
export async function runPropagation(s: Suite): Promise<Variant<PropagationRow>[]> {
  const out: Variant<PropagationRow>[] = []
  // Today a fresh L1 copy hides a block until it expires: the extra row shows that bound with a TTL short enough to
  // wait for (2 s), not the default 300 s.
  const list: [string, Overlay, number][] = [
    ...variants(s, 'propagate').map(([l, o]): [string, Overlay, number] => [l, o, 300]),
    ['before, `ttlSeconds: 2`', s.features.before, 2],
  ]
  for (const [label, extra, ttl] of list) {
    // Short TTL: up to two TTLs (an L2 read that times out is a miss; the upstream answer that follows refreshes the
    // L1 copy, which hides the block one more TTL), plus a second.
    const deadline = ttl < 300 ? Math.max(s.opts.deadlineMs, 2 * ttl * 1000 + 1000) : s.opts.deadlineMs
    const rows: PropagationRow[] = []
    await attempt(s, `(c) ${label}`, async () => {
      await s.fleet.init(configFor(s, `c-${out.length}`, single(s), extra, {}, ttl))
      for (const n of s.opts.sizes.filter((x) => x >= 2)) {
        rows.push(await propagation(s.fleet, n, s.opts.blocks, s.opts.gapMs, deadline))
        const row = rows.at(-1)!
        s.log(`(c) ${label} n=${n}: ${row.seenAll}/${row.blocks} seen by all, p50 ${row.p50.toFixed(1)} ms`)
      }
    })
    out.push({ label, rows })
  }
  return out
}

/** (d) An L2 hit against a bare GET, on the single Redis and on the cluster (today's way, and topo's one line). */
export async function runL2Cost(s: Suite): Promise<FleetReport['l2']> {
  const out: FleetReport['l2'] = []
  // Lease and propagation off: neither is on the path of an L2 hit (a lease is asked for on an L2 miss only).
  // And a read budget of 1 s instead of 50 ms: on a loaded machine a stalled read would otherwise become a miss (an
  // upstream call, not the L2 hit measured), and the writer's L2 breaker would skip its writes.
  const overlay = mergeOverlay(s.features.before, { cache: { l2TimeoutMs: 1_000 } })
  const rows: [string, L2Config][] = [[`single Redis ${s.redisVersion}, \`cache: 'redis://…'\``, single(s)]]
  const clusterUrl = clusterUrlOf(s.cluster)
  if (s.cluster !== null && clusterUrl !== null) {
    const urls = [...s.cluster.urls]
    rows.push(['Redis Cluster (3 masters), hand-built Keyv on `createCluster` (today)', { kind: 'cluster-keyv', urls }])
    if (s.features.on.has('topo')) {
      rows.push([
        "Redis Cluster (3 masters), `cache: 'redis+cluster://…'` (topo)",
        { kind: 'raw', value: clusterUrl, bare: { kind: 'cluster', urls } },
      ])
    }
  }
  for (const [label, config] of rows) {
    try {
      await s.fleet.init(configFor(s, `d-${out.length}`, config, overlay))
      out.push(await l2Cost(s.fleet, label, s.opts.l2Samples))
    } catch (error) {
      out.push({ topology: label, skipped: firstLine(error) })
    }
  }
  if (s.cluster === null) out.push({ topology: 'Redis Cluster', skipped: s.clusterSkipped })
  for (const row of out) if (!('skipped' in row)) s.log(`(d) ${row.topology}: ratio ${row.ratio.toFixed(2)}`)
  return out
}

/** Notes that help read the tables. */
export function readingNotes(s: Suite, qv: Variant<QuotaRow>[], pv: Variant<PropagationRow>[]): string[] {
  const { on, before } = s.features
  const notes: string[] = []
  if (on.size === 0) notes.push("No fleet feature is on in this run: every row is BEFORE (today's main).")
  else {
    notes.push(
      `BEFORE rows turn off every fleet feature this tree has (\`${JSON.stringify(before)}\`); an AFTER row turns ` +
        "its scenario's feature back on: " +
        [...on].map((n) => `${n} \`${JSON.stringify(FEATURES[n].on({ quota: s.opts.quota }))}\``).join(', ') +
        '. (d) runs with the BEFORE options (an L2 hit takes no lease and reads no stream).',
    )
  }
  if (qv.some((v) => v.label.includes('Keyv'))) {
    notes.push(
      '(b) If the `after: budget` row with a `redis://` URL shows about N × Q/10 calls, the fleet budget found no Redis ' +
        'link for that URL and every instance spent its local fallback (`fallbackPerMinute`, Q/10 by default, with a ' +
        '`fleet_budget_fallback` degraded event); the row with a Keyv shows the shared bucket.',
    )
  }
  if (pv.some((v) => v.rows.some((r) => r.seenAll < r.blocks && r.deadlineMs > s.opts.deadlineMs))) {
    notes.push(
      '(c) Short-TTL rows where not every block was enforced in time: when the L1 copies expire together, the ' +
        'instances read L2 at once; a read past `l2TimeoutMs` (50 ms) on a loaded machine is a miss, and the upstream ' +
        'answer that follows is not the block: that instance enforces it one TTL later. Propagation does not depend on ' +
        'that read.',
    )
  }
  return notes
}
