/**
 * The four measurements of the fleet benchmark (issue 19), each over the first `n` instances of one fleet:
 * (a) upstream calls per new IP that reaches every instance at the same moment, (b) a per-minute quota against the
 * calls the fleet makes, (c) how long a block made on instance 0 takes to be enforced by every other instance, and
 * (d) the cost of an L2 hit against a bare GET of the same key on the same Redis.
 */
import type { IpasisSimulator } from '../../src/testing/simulator.js'
import { percentileSorted } from '../lib/stats.js'
import { newClientIp } from '../load/ips.js'
import type { Fleet, Instance } from './fleet.js'
import type { BlockReport, Counts, L2CostReport, LookupReport, WatchReport } from './protocol.js'

const wall = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

let ipCounter = 0x100
/** `count` IPs never used before in this run (each its own IPv6 /48 in 2001:db8::/32). */
export function freshIps(count: number): string[] {
  return Array.from({ length: count }, () => newClientIp(ipCounter++))
}

export function addCounts(into: Counts, from: Counts): Counts {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
  return into
}

const sortedOf = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b)
const mean = (values: readonly number[]): number => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length)

// ---------------------------------------------------------------------------------------------------------------------
// (a) single flight across the fleet
// ---------------------------------------------------------------------------------------------------------------------

export interface SingleFlightRow {
  n: number
  ips: number
  meanCalls: number
  maxCalls: number
  /** IPs that cost exactly one upstream call. */
  oneCall: number
  /** Mean over rounds of the spread of the instances' start times (ms): how simultaneous "the same moment" was. */
  spreadMs: number
  sources: Counts
}

/** Every round: `batch` new IPs, looked up by every one of the first `n` instances at the same wall time. */
export async function singleFlight(fleet: Fleet, sim: IpasisSimulator, n: number, total: number, batch: number): Promise<SingleFlightRow> {
  const members = fleet.instances.slice(0, n)
  const calls: number[] = []
  const spreads: number[] = []
  const sources: Counts = {}
  for (let done = 0; done < total; done += batch) {
    const ips = freshIps(Math.min(batch, total - done))
    const at = wall() + 150 // time enough for the "go" to reach every process first
    const reports = await Promise.all(members.map((m) => m.request<LookupReport>({ type: 'lookupAt', at, ips })))
    const starts = reports.map((r) => r.startedAt)
    spreads.push(Math.max(...starts) - Math.min(...starts))
    for (const r of reports) addCounts(sources, r.sources)
    await sleep(50) // answers written by the fleet after the last one returned are not counted against the next round
    for (const ip of ips) calls.push(sim.callsFor(ip))
  }
  return {
    n,
    ips: calls.length,
    meanCalls: mean(calls),
    maxCalls: Math.max(...calls),
    oneCall: calls.filter((c) => c === 1).length,
    spreadMs: mean(spreads),
    sources,
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// (b) a per-minute quota across the fleet
// ---------------------------------------------------------------------------------------------------------------------

export interface QuotaRow {
  n: number
  quota: number
  offered: number
  calls: number
  windowSec: number
  /** What a quota honoured fleet-wide allows in that window: Q plus the refill of a per-minute rate. */
  fleetAllowance: number
  budgetExceeded: number
}

/** Each of the first `n` instances (already configured with the quota) is offered `perInstance` new IPs at once. */
export async function quota(fleet: Fleet, sim: IpasisSimulator, n: number, q: number, perInstance: number): Promise<QuotaRow> {
  const members = fleet.instances.slice(0, n)
  const before = sim.calls
  const t0 = wall()
  const reports = await Promise.all(
    members.map((m) => m.request<LookupReport>({ type: 'lookupPaced', ips: freshIps(perInstance), concurrency: 4 })),
  )
  const windowSec = (wall() - t0) / 1000
  await sleep(50)
  const errors = reports.reduce<Counts>((acc, r) => addCounts(acc, r.errors), {})
  return {
    n,
    quota: q,
    offered: perInstance * n,
    calls: sim.calls - before,
    windowSec,
    fleetAllowance: q * (1 + windowSec / 60),
    budgetExceeded: errors.budget_exceeded ?? 0,
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// (c) block propagation
// ---------------------------------------------------------------------------------------------------------------------

export interface PropagationRow {
  n: number
  blocks: number
  /** Blocks every other instance enforced within the deadline, and within 100 ms. */
  seenAll: number
  within100: number
  deadlineMs: number
  /** Over blocks seen by all: time until the LAST other instance denies the IP (ms). */
  p50: number
  p99: number
  max: number
  /** How long `block()` itself took on instance 0 (ms, median). */
  blockCallMs: number
  /** Then `unblock()` on instance 0, for the blocks every instance enforced: until every other instance allows. */
  unblocks: number
  unblockSeenAll: number
  unblockP50: number
  unblockP99: number
}

/**
 * `blocks` IPs, known (fresh in L1) on every instance; each blocked on instance 0, one every `gapMs`, while the
 * others poll until they deny it.
 */
export async function propagation(fleet: Fleet, n: number, blocks: number, gapMs: number, deadlineMs: number): Promise<PropagationRow> {
  const members = fleet.instances.slice(0, n)
  const [origin, ...others] = members as [Instance, ...Instance[]]
  const ips = freshIps(blocks)
  // Every instance holds a fresh answer for every IP: they are active clients, not strangers.
  await origin.request<LookupReport>({ type: 'lookupPaced', ips, concurrency: 8 })
  await sleep(100)
  await Promise.all(others.map((m) => m.request<LookupReport>({ type: 'lookupPaced', ips, concurrency: 8 })))
  const latencies: number[] = []
  const unblockLatencies: number[] = []
  const blockCalls: number[] = []
  let within100 = 0
  let unblocks = 0
  /** `act` on instance 0 while the others watch `ip` until `until`: ms until the last of them, or `null`. */
  const measure = async (ip: string, until: 'denied' | 'allowed', act: () => Promise<BlockReport>): Promise<number | null> => {
    const watching = others.map((m) => m.request<WatchReport>({ type: 'watch', ips: [ip], deadlineMs, until }))
    const acted = await act()
    if (until === 'denied') blockCalls.push(acted.t1 - acted.t0)
    const seen = (await Promise.all(watching)).map((w) => w.seen[0] ?? null)
    return seen.some((t) => t === null) ? null : Math.max(...(seen as number[])) - acted.t0
  }
  await Promise.all(
    ips.map(async (ip, i) => {
      await sleep(i * gapMs)
      const blocked = await measure(ip, 'denied', () => origin.request<BlockReport>({ type: 'block', ip, seconds: 3600 }))
      if (blocked === null) return
      latencies.push(blocked)
      if (blocked <= 100) within100++
      // Every instance enforces the block now: lift it on instance 0.
      unblocks++
      const lifted = await measure(ip, 'allowed', () => origin.request<BlockReport>({ type: 'unblock', ip }))
      if (lifted !== null) unblockLatencies.push(lifted)
    }),
  )
  const unsorted = sortedOf(unblockLatencies)
  const sorted = sortedOf(latencies)
  return {
    n,
    blocks,
    seenAll: latencies.length,
    within100,
    deadlineMs,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    blockCallMs: percentileSorted(sortedOf(blockCalls), 50),
    unblocks,
    unblockSeenAll: unblockLatencies.length,
    unblockP50: percentileSorted(unsorted, 50),
    unblockP99: percentileSorted(unsorted, 99),
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// (d) the cost of an L2 hit
// ---------------------------------------------------------------------------------------------------------------------

export interface L2CostRow {
  topology: string
  samples: number
  lookupP50: number
  lookupP99: number
  getP50: number
  getP99: number
  /** Median L2-hit lookup / median bare GET, measured interleaved in one process. */
  ratio: number
  sources: Counts
  /** Redis commands per L2 hit, by name (all nodes). */
  commands: Counts
}

/** Instance 1 scores `samples` new IPs (writing L2); instance 0, which never saw them, looks each up (an L2 hit). */
export async function l2Cost(fleet: Fleet, topology: string, samples: number): Promise<L2CostRow> {
  const [reader, writer] = fleet.instances as [Instance, Instance]
  const ips = freshIps(samples)
  await writer.request<LookupReport>({ type: 'lookupPaced', ips, concurrency: 4 })
  const report = await reader.request<L2CostReport>({ type: 'l2cost', ips })
  const lookup = sortedOf(report.lookupUs)
  const get = sortedOf(report.getUs)
  return {
    topology,
    samples: report.lookupUs.length,
    lookupP50: percentileSorted(lookup, 50),
    lookupP99: percentileSorted(lookup, 99),
    getP50: percentileSorted(get, 50),
    getP99: percentileSorted(get, 99),
    ratio: percentileSorted(lookup, 50) / percentileSorted(get, 50),
    sources: report.sources,
    commands: Object.fromEntries(Object.entries(report.commands).map(([k, v]) => [k, v / report.lookupUs.length])),
  }
}
