/** The raw measurements of a benchmark session, and their medians. Rendering is in `report.ts`. */
import type { LoadResult } from '../load/protocol.js'
import type { WarmAbResult } from '../load/warm-ab.js'
import { median } from './stats.js'

export type Framework = 'trpc' | 'graphql'

export type ScenarioId =
  | 'baseline'
  | 'baseline-background'
  | 'sync-nocache'
  | 'sync-l1'
  | 'sync-l2'
  | 'async-cache'
  | 'new-ips'

/** Per-client upstream call counts of a run of never-seen clients (scenario `new-ips`). */
export interface ColdCheck {
  /** Distinct clients (IPv6 /64s) the generator sent. */
  clientsSent: number
  /** Clients the upstream was asked about at least once. */
  clientsLookedUp: number
  /** The most calls any one client caused (the target is 1). */
  maxCallsPerClient: number
  /** Clients with more than one call. */
  clientsOverOne: number
  /** Requests let through without a verdict because the in-flight budget was full (fail open). */
  budgetRejected: number
}

/** One scenario in one round: a throughput run, then a latency run. */
export interface RunSample {
  round: number
  /** `connections` concurrent connections: req/s at saturation. */
  throughput: LoadResult
  /** One connection: the latency of a request on an otherwise idle server. */
  latency: LoadResult
  /**
   * CPU time of the server process (user + system) per response during the throughput run, microseconds. The
   * servers, the resolver and the simulator share that process; the load generator does not.
   */
  serverCpuUs: number
  /** Upstream (simulator) calls during the throughput run. */
  upstreamCalls: number
  /** Upstream calls during the latency run. */
  upstreamCallsLatencyRun: number
  cold?: ColdCheck
}

export interface ScenarioResult {
  id: ScenarioId
  samples: RunSample[]
  /** Set when the scenario could not run (e.g. Redis unreachable). */
  error?: string
}

export interface FrameworkResult {
  framework: Framework
  /** Baselines first. */
  scenarios: ScenarioResult[]
  /** The warm path against the baseline on servers kept running (see `load/warm-ab.ts`); absent if it failed. */
  warmAb?: WarmAbResult
  warmAbError?: string
}

/** The baseline a scenario is compared with: the unprotected server answering the same request. */
export function baselineIdOf(id: ScenarioId): ScenarioId {
  return id === 'async-cache' || id === 'baseline-background' ? 'baseline-background' : 'baseline'
}

export function isBaseline(id: ScenarioId): boolean {
  return id === 'baseline' || id === 'baseline-background'
}

/** The scenario's summary against its own baseline, or `undefined` when either has no samples. */
export function summarize(fw: FrameworkResult, id: ScenarioId): ScenarioSummary | undefined {
  const ok = (x: ScenarioResult | undefined): x is ScenarioResult => x !== undefined && !x.error && x.samples.length > 0
  const scenario = fw.scenarios.find((s) => s.id === id)
  const baseline = fw.scenarios.find((s) => s.id === baselineIdOf(id))
  return ok(scenario) && ok(baseline) ? summarizeScenario(scenario, baseline) : undefined
}

/** Medians over rounds; ratios and differences are taken per round against that round's baseline, then medianed. */
export interface ScenarioSummary {
  id: ScenarioId
  rounds: number
  avgMs: number
  p99Ms: number
  rps: number
  /** req/s ÷ baseline req/s. */
  rpsRatio: number
  addedAvgMs: number
  addedP99Ms: number
  callsPerMin: number
  callsPer1kRequests: number
  /** Server CPU per request (µs), and what it adds to the baseline's: (cpuRatio − 1) × the baseline's median. */
  cpuUs: number
  addedCpuUs: number
  /** Server CPU per request ÷ the baseline's, paired by round. */
  cpuRatio: number
  /** Responses that were not 2xx, all rounds (a gate that blocks would show here). */
  non2xx: number
  errors: number
  /** Min–max of req/s over rounds: the spread between identical runs. */
  rpsRange: [number, number]
}

function non2xx(r: LoadResult): number {
  let n = 0
  for (const [code, count] of Object.entries(r.statusCodes)) if (!code.startsWith('2')) n += count
  return n
}

export function summarizeScenario(scenario: ScenarioResult, baseline: ScenarioResult): ScenarioSummary {
  const base = new Map(baseline.samples.map((s) => [s.round, s]))
  const paired = scenario.samples.flatMap((s) => {
    const b = base.get(s.round)
    return b ? [{ s, b }] : []
  })
  const rpsValues = scenario.samples.map((s) => s.throughput.rps)
  const cpuRatio = median(paired.map(({ s, b }) => s.serverCpuUs / b.serverCpuUs))
  return {
    id: scenario.id,
    rounds: scenario.samples.length,
    avgMs: median(scenario.samples.map((s) => s.latency.latency.avg)),
    p99Ms: median(scenario.samples.map((s) => s.latency.latency.p99)),
    rps: median(rpsValues),
    rpsRatio: median(paired.map(({ s, b }) => s.throughput.rps / b.throughput.rps)),
    addedAvgMs: median(paired.map(({ s, b }) => s.latency.latency.avg - b.latency.latency.avg)),
    addedP99Ms: median(paired.map(({ s, b }) => s.latency.latency.p99 - b.latency.latency.p99)),
    callsPerMin: median(scenario.samples.map((s) => (s.upstreamCalls / s.throughput.elapsedSec) * 60)),
    callsPer1kRequests: median(
      scenario.samples.map((s) => (s.throughput.responses > 0 ? (s.upstreamCalls / s.throughput.responses) * 1000 : NaN)),
    ),
    cpuUs: median(scenario.samples.map((s) => s.serverCpuUs)),
    // From the paired ratio (so the two always agree in sign), scaled by the baseline's median.
    addedCpuUs: (cpuRatio - 1) * median(baseline.samples.map((s) => s.serverCpuUs)),
    cpuRatio,
    non2xx: scenario.samples.reduce((n, s) => n + non2xx(s.throughput) + non2xx(s.latency), 0),
    errors: scenario.samples.reduce((n, s) => n + s.throughput.errors + s.latency.errors, 0),
    rpsRange: rpsValues.length > 0 ? [Math.min(...rpsValues), Math.max(...rpsValues)] : [NaN, NaN],
  }
}
