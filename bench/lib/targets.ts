/** The performance targets of issue 8, evaluated on a session's results. */
import { NEW_CLIENT_REPEAT } from '../load/scenarios.js'
import type { MicroRow } from '../micro/harness.js'
import type { ProfileShare } from '../load/profile-share.js'
import type { SameServerResult, WarmAbResult } from '../load/warm-ab.js'
import { summarize, type FrameworkResult, type ScenarioResult } from './results.js'
import { median } from './stats.js'

export interface TargetResult {
  target: string
  measured: string
  limit: string
  /** `null`: not measured in this session (suite skipped or scenario failed). */
  pass: boolean | null
}

const frameworkTitle = { trpc: 'tRPC', graphql: 'GraphQL (Yoga)' } as const

function find(fw: FrameworkResult, id: ScenarioResult['id']): ScenarioResult | undefined {
  const s = fw.scenarios.find((x) => x.id === id)
  return s && !s.error && s.samples.length > 0 ? s : undefined
}

/** The micro-benchmark group whose two rows the Redis target compares. */
export const L2_MICRO_GROUP = 'Redis L2 hit (L1 disabled)'

/** Throughput cost of a warm check must stay under this fraction of the baseline. */
export const WARM_THROUGHPUT_COST_MAX = 0.05
/** Latency a warm check may add at p99 (ms). */
export const WARM_P99_ADDED_MAX_MS = 0.1
/** The micro-benchmark group of the tRPC middlewares (its reference row prices one middleware level). */
export const TRPC_MICRO_GROUP = 'tRPC middleware (createCaller, warm cache)'

/**
 * The throughput cost a CPU profile share stands for: iprisk's samples among the non-GC ones (garbage collection is
 * spread in proportion, as if iprisk allocated like the rest of the server).
 */
function costOf(p: ProfileShare): number {
  return p.iprisk / Math.max(1, p.samples - p.gc)
}

function profileText(p: ProfileShare): string {
  return `${(costOf(p) * 100).toFixed(2)}% (${p.iprisk} of ${p.samples - p.gc} samples outside GC)`
}

/** A signed number with a real minus sign: `+1.5`, `−0.3`. */
function signed(value: number, digits: number, unit: string): string {
  if (!Number.isFinite(value)) return '–'
  return `${value < 0 ? '−' : '+'}${Math.abs(value).toFixed(digits)}${unit}`
}

/** The lower and upper quartiles of per-round ratios. */
function quartiles(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b)
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? Number.NaN
  return [q(0.25), q(0.75)]
}

/** The medians of a warm-path A/B session's paired throughput rounds and step timing (see `load/warm-ab.ts`). */
export function warmAbSummary(ab: WarmAbResult) {
  const rpsRatio = median(ab.rpsRatios)
  return {
    rpsRatio,
    rpsQuartiles: quartiles(ab.rpsRatios),
    cpuRatio: median(ab.cpuRatios),
    stepP99AddedMs: ab.stepIprisk.p99 - ab.stepBase.p99,
  }
}

/** tRPC's `inside` paired throughput rounds (iprisk's `guard` in an app middleware), when the session has them. */
export function insideSummary(ab: WarmAbResult) {
  const inside = ab.inside
  if (inside === undefined) return undefined
  const rpsRatio = median(inside.rpsRatios)
  const levelRpsRatio = median(inside.levelRpsRatios)
  return {
    rpsRatio,
    rpsQuartiles: quartiles(inside.rpsRatios),
    cpuRatio: median(inside.cpuRatios),
    /** What tRPC charges for one middleware level (a middleware that does no iprisk work ÷ no middleware). */
    levelCost: 1 - levelRpsRatio,
    levelCpuRatio: median(inside.levelCpuRatios),
    stepP99AddedMs: inside.stepIprisk.p99 - inside.stepBase.p99,
  }
}

/**
 * The step timing under saturation (3b): what the step adds per request (mean with iprisk − mean of the empty step, µs,
 * median over rounds) and that as a share of the baseline server's CPU per request (median over rounds of the
 * per-round shares).
 */
export function loadedStepSummary(ab: WarmAbResult) {
  const rounds = ab.stepLoaded
  const addedUs = median(rounds.map((r) => r.ipriskMeanUs - r.baseMeanUs))
  const shares = rounds.map((r) => (r.ipriskMeanUs - r.baseMeanUs) / r.baseCpuUs)
  return {
    rounds: rounds.length,
    addedUs,
    share: median(shares),
    shares,
    baseMeanUs: median(rounds.map((r) => r.baseMeanUs)),
    ipriskMeanUs: median(rounds.map((r) => r.ipriskMeanUs)),
    cpuUs: median(rounds.map((r) => r.baseCpuUs)),
    steps: rounds.reduce((n, r) => n + r.count, 0),
  }
}

/** What one variant of the same-server measurement adds to a request, against another one. */
export interface AddedCost {
  /** Median over rounds of the difference of the two variants' median latencies, µs. */
  addedUs: number
  /** The per-round differences, µs. */
  perRoundUs: number[]
  /** `addedUs` as a share of the server's CPU time per request (the median over rounds). */
  share: number
}

/** The same-server latency measurement (see `load/warm-ab.ts`): each variant's median latency and what it adds. */
export function sameServerSummary(ss: SameServerResult) {
  const cpuUs = median(ss.rounds.map((r) => r.cpuUsPerRequest))
  const index = (name: string): number => {
    const i = ss.names.indexOf(name)
    if (i === -1) throw new Error(`same-server measurement: no variant "${name}" (have ${ss.names.join(', ')})`)
    return i
  }
  const p50Us = (name: string): number => median(ss.rounds.map((r) => r.latency[index(name)]!.p50 * 1000))
  /** What `name` adds over `against` (default: the baseline, the first variant). */
  const added = (name: string, against: string = ss.names[0]!): AddedCost => {
    const a = index(name)
    const b = index(against)
    const perRoundUs = ss.rounds.map((r) => (r.latency[a]!.p50 - r.latency[b]!.p50) * 1000)
    const addedUs = median(perRoundUs)
    return { addedUs, perRoundUs, share: addedUs / cpuUs }
  }
  return { names: ss.names, cpuUs, rounds: ss.rounds.length, p50Us, added }
}

export function evaluateTargets(load: FrameworkResult[], micro: MicroRow[]): TargetResult[] {
  const out: TargetResult[] = []
  for (const fw of load) {
    const name = frameworkTitle[fw.framework]
    const ab = fw.warmAb
    const s = summarize(fw, 'sync-l1')
    if (ab !== undefined) {
      const w = warmAbSummary(ab)
      const inside = insideSummary(ab)
      const ss = sameServerSummary(ab.sameServer)
      const trpc = fw.framework === 'trpc'
      const pct = (share: number): string => signed(share * 100, 1, '%')
      const us = (cost: AddedCost): string => signed(cost.addedUs, 1, ' µs')
      // The A/A control: the same request through two identical variants, the method's noise.
      const aa = ss.added(ss.names[1]!)
      const sameText = (cost: AddedCost, what: string, extra: string): string =>
        `same server: ${us(cost)} per request at the median (${what}; ${extra}A/A control ${us(aa)}; ${ss.rounds} ` +
        `rounds: ${cost.perRoundUs.map((v) => v.toFixed(1)).join(', ')} µs) = ${pct(cost.share)} of the server's ` +
        `${ss.cpuUs.toFixed(0)} µs CPU per request`
      const pairedText = (ratio: number, q: [number, number], rounds: number, cpuRatio: number, against: string): string =>
        `cross-check, paired saturating runs (${rounds}, ${against}): req/s ratio ${ratio.toFixed(3)} (quartiles ` +
        `${q.map((v) => v.toFixed(3)).join('–')}), CPU per request ${signed((cpuRatio - 1) * 100, 1, '%')}`

      const loaded = loadedStepSummary(ab)
      const loadedText = (what: string): string =>
        `under saturation, ${what} adds ${signed(loaded.addedUs, 1, ' µs')} per request (step mean ` +
        `${loaded.ipriskMeanUs.toFixed(1)} µs vs ${loaded.baseMeanUs.toFixed(1)} µs empty, ${loaded.steps} steps, ` +
        `${loaded.rounds} rounds) = ${pct(loaded.share)} of the server's ${loaded.cpuUs.toFixed(0)} µs CPU per request ` +
        `(per round: ${loaded.shares.map((v) => (v * 100).toFixed(1)).join(', ')}%)`
      const loadedOk = loaded.rounds > 0 && loaded.share < WARM_THROUGHPUT_COST_MAX
      if (trpc) {
        const check = ss.added('appGuard', 'app')
        const gate = ss.added('gate')
        const level = ss.added('level')
        if (inside !== undefined && ab.inside?.profile !== undefined) {
          const p = ab.inside.profile
          out.push({
            target: `${name}: a warm-cache check costs < 5% of baseline throughput (iprisk's work: \`guard(70)\` inside the procedure's own middleware)`,
            measured:
              `iprisk's share of the saturated server's CPU ${profileText(p)}; at light load, ` +
              `${sameText(check, 'the app middleware with `guard(70)` inside against the same middleware alone', '')}; ` +
              pairedText(inside.rpsRatio, inside.rpsQuartiles, ab.inside.rpsRatios.length, inside.cpuRatio, 'against the same middleware without iprisk'),
            limit: `< ${WARM_THROUGHPUT_COST_MAX * 100}% (CPU share at saturation)`,
            pass: costOf(p) < WARM_THROUGHPUT_COST_MAX,
          })
        }
        out.push({
          target: `${name}: \`.use(riskGate(70))\` (iprisk's check plus the tRPC middleware level it adds) costs < 5% of baseline throughput`,
          measured:
            `${loadedText('`.use(riskGate(70))` (its check and its middleware level)')}; ` +
            (ab.profile === undefined ? '' : `iprisk's own share of the saturated \`.use()\` server's CPU ${profileText(ab.profile)}; `) +
            `at light load, ${sameText(gate, '`.use(riskGate(70))` against no middleware', `of which tRPC's own level, a middleware that only extends the context: ${us(level)}; `)}; ` +
            pairedText(w.rpsRatio, w.rpsQuartiles, ab.rpsRatios.length, w.cpuRatio, 'against the baseline'),
          limit: `< ${WARM_THROUGHPUT_COST_MAX * 100}% (both, at saturation)`,
          pass: loadedOk && (ab.profile === undefined || costOf(ab.profile) < WARM_THROUGHPUT_COST_MAX),
        })
      } else if (ab.profile !== undefined) {
        const check = ss.added('iprisk')
        const plugin = ss.added('plugin')
        out.push({
          target: `${name}: a warm-cache check costs < 5% of baseline throughput`,
          measured:
            `iprisk's share of the saturated server's CPU ${profileText(ab.profile)}; ${loadedText('the `useIpRisk` step')}; ` +
            `at light load, ${sameText(check, '`useIpRisk` against no plugin', `a plugin that only extends the context: ${us(plugin)}; `)}; ` +
            pairedText(w.rpsRatio, w.rpsQuartiles, ab.rpsRatios.length, w.cpuRatio, 'against the baseline'),
          limit: `< ${WARM_THROUGHPUT_COST_MAX * 100}% (both, at saturation)`,
          pass: loadedOk && costOf(ab.profile) < WARM_THROUGHPUT_COST_MAX,
        })
      }
      out.push({
        target: `${name}: a warm-cache check adds < 0.1 ms at p99`,
        measured:
          `the iprisk step (one connection): p99 ${(ab.stepIprisk.p99 * 1000).toFixed(1)} µs vs ` +
          `${(ab.stepBase.p99 * 1000).toFixed(1)} µs with nothing in it (${signed(w.stepP99AddedMs * 1000, 1, ' µs')}; ` +
          `p50 ${signed((ab.stepIprisk.p50 - ab.stepBase.p50) * 1000, 1, ' µs')}, ${ab.stepIprisk.count} requests)` +
          (inside === undefined
            ? ''
            : `; \`guard(70)\` inside the app's middleware: step p99 ${(ab.inside!.stepIprisk.p99 * 1000).toFixed(1)} µs vs ` +
              `${(ab.inside!.stepBase.p99 * 1000).toFixed(1)} µs without it (${signed(inside.stepP99AddedMs * 1000, 1, ' µs')})`),
        limit: `< ${WARM_P99_ADDED_MAX_MS * 1000} µs`,
        pass: w.stepP99AddedMs < WARM_P99_ADDED_MAX_MS,
      })
      continue
    }
    const cost = s ? 1 - s.rpsRatio : NaN
    out.push({
      target: `${name}: a warm-cache check costs < 5% of baseline throughput`,
      measured: s
        ? `cost ${signed(cost * 100, 1, '%')} of throughput (req/s ratio ${s.rpsRatio.toFixed(3)}, median of ${s.rounds} paired ` +
          `rounds); server CPU per request ${signed((s.cpuRatio - 1) * 100, 1, '%')} ` +
          `(${signed(s.addedCpuUs, 1, ' µs')})`
        : 'not measured',
      limit: `< ${WARM_THROUGHPUT_COST_MAX * 100}%`,
      pass: s ? cost < WARM_THROUGHPUT_COST_MAX : null,
    })
    out.push({
      target: `${name}: a warm-cache check adds < 0.1 ms at p99`,
      measured: s
        ? `${signed(s.addedP99Ms * 1000, 0, ' µs')} at p99 (${signed(s.addedAvgMs * 1000, 0, ' µs')} avg), ` +
          `one connection, median of ${s.rounds} paired rounds`
        : 'not measured',
      limit: `< ${WARM_P99_ADDED_MAX_MS * 1000} µs`,
      pass: s ? s.addedP99Ms < WARM_P99_ADDED_MAX_MS : null,
    })
  }

  // Redis-only: the added per-request latency should be about one loopback round trip. Measured directly in the micro
  // benchmark (an L2 hit through the resolver vs a bare GET on its own client, same run), and seen end to end in the
  // latency runs (L2-only vs baseline, one connection).
  const l2 = micro.find((r) => r.group === L2_MICRO_GROUP && r.name.startsWith('resolver.lookup'))
  const get = micro.find((r) => r.group === L2_MICRO_GROUP && r.isBaseline)
  const http = load
    .map((fw) => {
      const redis = summarize(fw, 'sync-l2')
      return redis ? `${frameworkTitle[fw.framework]} ${signed(redis.addedAvgMs * 1000, 0, ' µs')} avg` : null
    })
    .filter((x): x is string => x !== null)
  if (l2 && get) {
    out.push({
      target: 'Redis-only adds about one loopback round trip (~46 µs)',
      measured:
        `L2 hit ${(l2.nsPerOp / 1000).toFixed(1)} µs vs bare GET ${(get.nsPerOp / 1000).toFixed(1)} µs (×${l2.ratio.toFixed(2)})` +
        (http.length > 0 ? `; end to end: ${http.join(', ')}` : ''),
      limit: 'L2 hit < 2 × bare GET (one round trip, never two)',
      pass: l2.ratio < 2,
    })
  } else {
    out.push({
      target: 'Redis-only adds about one loopback round trip (~46 µs)',
      measured: http.length > 0 ? `end to end: ${http.join(', ')} (micro suite not run)` : 'not measured',
      limit: 'L2 hit < 2 × bare GET',
      pass: null,
    })
  }

  // Cold lookups: one upstream call per new client (/64), across every new-client run of the session.
  const cold = load.flatMap((fw) => find(fw, 'new-ips')?.samples.flatMap((s) => (s.cold ? [s.cold] : [])) ?? [])
  if (cold.length > 0) {
    const sent = cold.reduce((n, c) => n + c.clientsSent, 0)
    const looked = cold.reduce((n, c) => n + c.clientsLookedUp, 0)
    const over = cold.reduce((n, c) => n + c.clientsOverOne, 0)
    const max = Math.max(...cold.map((c) => c.maxCallsPerClient))
    const rejected = cold.reduce((n, c) => n + c.budgetRejected, 0)
    out.push({
      target: 'Cold lookups make exactly one upstream call per IP (/64)',
      measured:
        `${sent} new clients × ${NEW_CLIENT_REPEAT} requests each: ${looked} looked up, ${over} with more than one ` +
        `call (max ${max}); ${rejected} requests failed open on the in-flight budget`,
      limit: 'max 1 call per client',
      pass: max <= 1 && looked > 0,
    })
  } else {
    out.push({
      target: 'Cold lookups make exactly one upstream call per IP (/64)',
      measured: 'not measured',
      limit: 'max 1 call per client',
      pass: null,
    })
  }
  return out
}
