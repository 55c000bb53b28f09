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
import { startIpasisSimulator } from '../../src/testing/simulator.js'
import { collectMachineInfo, type MachineInfo } from '../lib/machine.js'
import { parseFleetArgs, usage, type FleetOptions } from './args.js'
import { startFleet } from './fleet.js'
import { startRedisCluster, startSingleRedis, type RedisDeployment } from './redis.js'
import { renderFleetReport } from './report.js'
import { API_KEY, detectFeatures, readingNotes, runL2Cost, runPropagation, runQuota, runSingleFlight, type Suite } from './suite.js'

const t0 = performance.now()
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)
}

type Cleanups = (() => Promise<unknown>)[]

/** The simulator, the Redis servers and the fleet; each pushes its cleanup. */
async function setUp(opts: FleetOptions, cleanups: Cleanups): Promise<Suite> {
  const sim = await startIpasisSimulator({ apiKey: API_KEY, port: opts.portBase, latency: opts.latencyMs })
  cleanups.push(() => sim.close())
  let single: RedisDeployment | null = null
  if (opts.redisUrl === null) {
    single = await startSingleRedis(opts.portBase + 1)
    cleanups.push(() => single!.stop())
  }
  const singleUrl = opts.redisUrl ?? single!.urls[0]!
  let cluster: RedisDeployment | null = null
  let clusterSkipped = opts.cluster ? '' : '--no-cluster'
  if (opts.cluster && opts.only.includes('d')) {
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
  const runPrefix = `fb${process.pid}`
  if (opts.redisUrl !== null) {
    const { flushBenchKeys } = await import('../load/redis.js')
    cleanups.push(() => flushBenchKeys(singleUrl, runPrefix))
  }
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1] ?? '?'
  const s: Suite = {
    opts,
    sim,
    fleet,
    singleUrl,
    cluster,
    clusterSkipped,
    redisVersion,
    runPrefix,
    log,
    notes: [],
    features: { on: new Set(), before: {}, rows: [] },
  }
  s.features = await detectFeatures(s)
  log(`features on: ${[...s.features.on].join(', ') || 'none'}`)
  return s
}

async function measureAndReport(s: Suite, machine: MachineInfo, started: number): Promise<void> {
  const { opts } = s
  const singleFlight = opts.only.includes('a') ? await runSingleFlight(s) : []
  const quota = opts.only.includes('b') ? await runQuota(s) : []
  const propagation = opts.only.includes('c') ? await runPropagation(s) : []
  const l2 = opts.only.includes('d') ? await runL2Cost(s) : []
  const where = opts.redisUrl === null ? `started by the benchmark on 127.0.0.1:${opts.portBase + 1}` : 'given by --redis-url'
  const markdown = renderFleetReport({
    command: `npm run bench:fleet${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine,
    loadAfter: os.loadavg() as [number, number, number],
    durationSec: (performance.now() - started) / 1000,
    from: opts.from,
    latencyMs: opts.latencyMs,
    redis:
      `Redis ${s.redisVersion} ${where}` +
      (s.cluster === null ? '' : ` and a Cluster of 3 masters on :${opts.portBase + 11}–${opts.portBase + 13}`),
    features: s.features.rows,
    singleFlight,
    quota,
    propagation,
    l2,
    notes: [...s.notes, ...readingNotes(s, quota, propagation)],
  })
  process.stdout.write(`${markdown}\n`)
  if (opts.out !== null) {
    const file = resolve(opts.out)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, markdown)
    log(`written to ${opts.out}`)
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
  const cleanups: Cleanups = []
  const onSignal = (): void => {
    log('interrupted: cleaning up')
    void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await measureAndReport(await setUp(opts, cleanups), machine, started)
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => log(`cleanup: ${String(e)}`))
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
