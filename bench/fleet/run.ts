/**
 * `npm run bench:fleet -- [--quick] [--sizes 1,2,5,10] [--features auto|none|budget,lease,propagate,topo] …`
 *
 * The fleet benchmark of issue 19: instances of the resolver as separate processes (1, 2, 5, 10) sharing one Redis
 * of the benchmark's own (and a 3-master Redis Cluster for the L2 cost), against the IPASIS simulator, which counts
 * upstream calls. Four measurements, each BEFORE (the options of today's main) and, where this tree has the feature,
 * AFTER: (a) upstream calls per new IP reaching every instance at once, (b) a per-minute quota against the calls the
 * fleet makes, (c) block propagation latency, (d) an L2 hit against a bare GET. Markdown to stdout and
 * bench/results/fleet.md. Never part of `npm test`. See docs/fleet.md.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, resolve } from 'node:path'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/simulator.js'
import { collectMachineInfo } from '../lib/machine.js'
import { parseFleetArgs, usage, type FleetOptions } from './args.js'
import { FEATURES, landed, mergeOverlay, type Feature, type FeatureName } from './features.js'
import { startFleet, type Fleet } from './fleet.js'
import type { InstanceConfig, L2Config } from './protocol.js'
import { startRedisCluster, startSingleRedis, type RedisDeployment } from './redis.js'
import { renderFleetReport, type FleetReport, type Variant } from './report.js'
import { l2Cost, propagation, quota, singleFlight, type L2CostRow, type PropagationRow, type QuotaRow, type SingleFlightRow } from './scenarios.js'

const t0 = performance.now()
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)
}
const API_KEY = 'fleet-bench-key'
const repoRoot = new URL('../../', import.meta.url)

interface Setup {
  opts: FleetOptions
  sim: IpasisSimulator
  fleet: Fleet
  single: L2Config
  runPrefix: string
}

/** The options every instance gets, plus `overlay` (a feature turned on). */
function configFor(
  s: Setup,
  prefix: string,
  l2: L2Config,
  overlay: Record<string, unknown>,
  budget: Record<string, unknown> = {},
  ttlSeconds = 300,
) {
  const { budget: overlayBudget, ...extra } = overlay as { budget?: Record<string, unknown> }
  return (index: number): InstanceConfig => ({
    index,
    simUrl: s.sim.url,
    apiKey: API_KEY,
    l2,
    prefix: `${s.runPrefix}-${prefix}`.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 32),
    ttlSeconds,
    budget: { ...budget, ...overlayBudget },
    extra,
  })
}

/** Whether this tree has the feature and accepts its options (a resolver is created with them, then closed). */
async function probe(feature: Feature, s: Setup, clusterUrl: string | null): Promise<string | null> {
  if (!landed(feature, repoRoot)) return `not on this tree (${feature.marker} absent)`
  const core = (await import(new URL(`${s.opts.from}/core/index.js`, repoRoot).href)) as {
    createRiskResolver(o: object): { close(): Promise<void> }
    ipasis(o: object): unknown
  }
  const { cache, budget, ...rest } = feature.on({ quota: s.opts.quota }) as { cache?: object; budget?: object }
  const l2 = feature.name === 'topo' ? clusterUrl : (s.single as { url: string }).url
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

async function main(): Promise<void> {
  let opts: FleetOptions | 'help'
  try {
    opts = parseFleetArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    process.exitCode = 2
    return
  }
  if (opts === 'help') {
    process.stdout.write(usage)
    return
  }
  const started = performance.now()
  const machine = collectMachineInfo()
  log(`fleet bench: sizes ${opts.sizes.join(', ')} on ${machine.cpu} (${machine.cores} cores), load ${machine.loadAverage[0].toFixed(2)}`)
  process.env.IPRISK_FLEET_FROM = opts.from
  const cleanups: (() => Promise<unknown>)[] = []
  const onSignal = (): void => {
    log('interrupted: cleaning up')
    void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const sim = await startIpasisSimulator({ apiKey: API_KEY, port: opts.portBase, latency: opts.latencyMs })
    cleanups.push(() => sim.close())
    let single: RedisDeployment | null = null
    if (opts.redisUrl === null) {
      single = await startSingleRedis(opts.portBase + 1)
      cleanups.push(() => single!.stop())
    }
    const singleUrl = opts.redisUrl ?? single!.urls[0]!
    const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1] ?? '?'
    let cluster: RedisDeployment | null = null
    let clusterSkipped = opts.cluster ? '' : '--no-cluster'
    if (opts.cluster) {
      try {
        cluster = await startRedisCluster(opts.portBase + 11, 3)
        cleanups.push(() => cluster!.stop())
      } catch (error) {
        clusterSkipped = error instanceof Error ? error.message.split('\n')[0]! : String(error)
        log(`cluster skipped: ${clusterSkipped}`)
      }
    }
    const size = Math.max(2, ...opts.sizes)
    log(`starting ${size} instance processes`)
    const fleet = startFleet(size)
    cleanups.push(() => fleet.close())
    const s: Setup = { opts, sim, fleet, single: { kind: 'url', url: singleUrl }, runPrefix: `fb${process.pid}` }
    if (opts.redisUrl !== null) {
      const { flushBenchKeys } = await import('../load/redis.js')
      cleanups.push(() => flushBenchKeys(singleUrl, s.runPrefix))
    }

    // Which features this tree has: BEFORE rows turn them all off, AFTER rows turn them all on.
    const wanted: FeatureName[] = opts.features === 'auto' ? (Object.keys(FEATURES) as FeatureName[]) : opts.features
    const clusterUrl = cluster === null ? null : `redis+cluster://${cluster.urls.map((u) => u.slice('redis://'.length)).join(',')}`
    const on = new Set<FeatureName>()
    const featureRows: FleetReport['features'] = []
    let before: Record<string, unknown> = {}
    for (const feature of Object.values(FEATURES)) {
      const problem = await probe(feature, s, clusterUrl)
      if (problem === null) before = mergeOverlay(before, feature.off)
      if (problem === null && wanted.includes(feature.name)) on.add(feature.name)
      const state = problem !== null ? `absent: ${problem}` : on.has(feature.name) ? 'present: off in BEFORE rows, ON in AFTER rows' : 'present: off (not asked for by --features)'
      featureRows.push({ name: feature.name, title: feature.title, state })
    }
    if (opts.l2TimeoutMs !== null) before = mergeOverlay(before, { cache: { l2TimeoutMs: opts.l2TimeoutMs } })
    log(`features on: ${[...on].join(', ') || 'none'}`)
    /** `before` and, when the scenario's feature is on, `after`: the BEFORE options with that one feature on. */
    const variants = (name: FeatureName): [string, Record<string, unknown>][] =>
      on.has(name) ? [['before', before], [`after: ${name}`, mergeOverlay(before, FEATURES[name].on({ quota: opts.quota }))]] : [['before', before]]
    const notes: string[] = []

    // (a) single flight
    const sf: Variant<SingleFlightRow>[] = []
    for (const [label, extra] of opts.only.includes('a') ? variants('lease') : []) {
      const rows: SingleFlightRow[] = []
      await attempt(`(a) ${label}`, notes, async () => {
        await fleet.init(configFor(s, `a${sf.length}`, s.single, extra))
        for (const n of opts.sizes) {
          rows.push(await singleFlight(fleet, sim, n, opts.ips, opts.batch))
          log(`(a) ${label} n=${n}: ${rows.at(-1)!.meanCalls.toFixed(2)} calls per IP`)
        }
      })
      sf.push({ label, rows })
    }

    // (b) quota
    const qv: Variant<QuotaRow>[] = []
    // The fleet budget needs a Redis link: until the resolver makes one from a URL (the topo wiring), only from a Keyv
    // on @keyv/redis. Both are measured.
    const quotaVariants: [string, Record<string, unknown>, L2Config][] = variants('budget').map(([l, o]) => [l, o, s.single])
    if (on.has('budget')) quotaVariants.push(['after: budget, `cache.l2` a Keyv on @keyv/redis', quotaVariants[1]![1], { kind: 'single-keyv', url: singleUrl }])
    for (const [label, extra, l2config] of opts.only.includes('b') ? quotaVariants : []) {
      const rows: QuotaRow[] = []
      await attempt(`(b) ${label}`, notes, async () => {
        for (const n of opts.sizes) {
          await fleet.init(configFor(s, `b${qv.length}-${n}`, l2config, extra, { maxPerMinute: opts.quota }))
          rows.push(await quota(fleet, sim, n, opts.quota, opts.quota * opts.offerFactor))
          log(`(b) ${label} n=${n}: ${rows.at(-1)!.calls} calls for Q=${opts.quota}`)
        }
      })
      qv.push({ label, rows })
    }

    // (c) propagation
    const pv: Variant<PropagationRow>[] = []
    // Today a fresh L1 copy hides a block until it expires: the extra row shows that bound with a TTL short enough to
    // wait for (2 s), not the default 300 s.
    const short: [string, Record<string, unknown>, number][] = [['before, `ttlSeconds: 2`', before, 2]]
    const propagationVariants = [...variants('propagate').map(([l, o]): [string, Record<string, unknown>, number] => [l, o, 300]), ...short]
    for (const [label, extra, ttl] of opts.only.includes('c') ? propagationVariants : []) {
      // Short TTL: up to two TTLs (an L2 read that times out is a miss; the upstream answer that follows refreshes the
      // L1 copy, which hides the block one more TTL), plus a second.
      const deadline = ttl < 300 ? Math.max(opts.deadlineMs, 2 * ttl * 1000 + 1000) : opts.deadlineMs
      const rows: PropagationRow[] = []
      await attempt(`(c) ${label}`, notes, async () => {
        await fleet.init(configFor(s, `c-${pv.length}`, s.single, extra, {}, ttl))
        for (const n of opts.sizes.filter((x) => x >= 2)) {
          rows.push(await propagation(fleet, n, opts.blocks, opts.gapMs, deadline))
          const row = rows.at(-1)!
          log(`(c) ${label} n=${n}: ${row.seenAll}/${row.blocks} seen by all, p50 ${row.p50.toFixed(1)} ms`)
        }
      })
      pv.push({ label, rows })
    }

    // (d) L2 cost
    const l2: FleetReport['l2'] = []
    // Lease and propagation off: neither is on the path of an L2 hit (a lease is asked for on an L2 miss only).
    // And a read budget of 1 s instead of 50 ms: on a loaded machine a stalled read would otherwise become a miss (an
    // upstream call, not the L2 hit measured), and the writer's L2 breaker would skip its writes.
    const l2Overlay = mergeOverlay(before, { cache: { l2TimeoutMs: 1_000 } })
    if (opts.only.includes('d')) {
      const label = `single Redis ${redisVersion}, \`cache: 'redis://…'\``
      try {
        await fleet.init(configFor(s, 'd-single', s.single, l2Overlay))
        l2.push(await l2Cost(fleet, label, opts.l2Samples))
      } catch (error) {
        l2.push({ topology: label, skipped: firstLine(error) })
      }
    }
    if (!opts.only.includes('d')) {
      // not asked for
    } else if (cluster === null) l2.push({ topology: 'Redis Cluster', skipped: clusterSkipped })
    else {
      const urls = [...cluster.urls]
      const rows: [string, L2Config][] = [
        ['Redis Cluster (3 masters), hand-built Keyv on `createCluster` (today)', { kind: 'cluster-keyv', urls }],
      ]
      if (on.has('topo') && clusterUrl !== null) {
        rows.push([
          "Redis Cluster (3 masters), `cache: 'redis+cluster://…'` (topo)",
          { kind: 'raw', value: clusterUrl, bare: { kind: 'cluster', urls } },
        ])
      }
      for (const [label, config] of rows) {
        try {
          await fleet.init(configFor(s, `d-${l2.length}`, config, l2Overlay))
          l2.push(await l2Cost(fleet, label, opts.l2Samples))
        } catch (error) {
          l2.push({ topology: label, skipped: firstLine(error) })
        }
      }
    }
    for (const row of l2) if (!('skipped' in row)) log(`(d) ${row.topology}: ratio ${row.ratio.toFixed(2)}`)

    if (on.size === 0) notes.push("No fleet feature is on in this run: every row is BEFORE (today's main).")
    else {
      notes.push(
        `BEFORE rows turn off every fleet feature this tree has (\`${JSON.stringify(before)}\`); an AFTER row turns ` +
          "its scenario's feature back on: " +
          [...on].map((n) => `${n} \`${JSON.stringify(FEATURES[n].on({ quota: opts.quota }))}\``).join(', ') +
          ". (d) runs with the BEFORE options (an L2 hit takes no lease and reads no stream).",
      )
    }
    if (qv.some((v) => v.label.includes('Keyv'))) {
      notes.push(
        '(b) If the `after: budget` row with a `redis://` URL shows about N × Q/10 calls, the fleet budget found no Redis ' +
          'link for that URL and every instance spent its local fallback (`fallbackPerMinute`, Q/10 by default, with a ' +
          '`fleet_budget_fallback` degraded event); the row with a Keyv shows the shared bucket.',
      )
    }
    const slow = pv.flatMap((v) => v.rows.filter((r) => r.seenAll < r.blocks && r.deadlineMs > opts.deadlineMs))
    if (slow.length > 0) {
      notes.push(
        '(c) Short-TTL rows where not every block was enforced in time: when the L1 copies expire together, the ' +
          'instances read L2 at once; a read past `l2TimeoutMs` (50 ms) on a loaded machine is a miss, and the upstream ' +
          "answer that follows is not the block: that instance enforces it one TTL later. Propagation does not depend on " +
          'that read.',
      )
    }
    const report: FleetReport = {
      command: `npm run bench:fleet${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine,
      loadAfter: os.loadavg() as [number, number, number],
      durationSec: (performance.now() - started) / 1000,
      from: opts.from,
      latencyMs: opts.latencyMs,
      redis: `Redis ${redisVersion} ${opts.redisUrl === null ? `started by the benchmark on 127.0.0.1:${opts.portBase + 1}` : 'given by --redis-url'}${cluster === null ? '' : ` and a Cluster of 3 masters on :${opts.portBase + 11}–${opts.portBase + 13}`}`,
      features: featureRows,
      singleFlight: sf,
      quota: qv,
      propagation: pv,
      l2,
      notes,
    }
    const markdown = renderFleetReport(report)
    process.stdout.write(`${markdown}\n`)
    if (opts.out !== null) {
      const file = resolve(opts.out)
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, markdown)
      log(`written to ${opts.out}`)
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => log(`cleanup: ${String(e)}`))
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200)
}

/** Run one scenario variant; a failure becomes a note (and the rows measured so far stay), not the end of the run. */
async function attempt(what: string, notes: string[], run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (error) {
    log(`${what} FAILED: ${firstLine(error)}`)
    notes.push(`${what} failed: ${firstLine(error)}`)
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
