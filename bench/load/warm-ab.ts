/**
 * The warm path (every client already in L1) against the unprotected baseline, measured three ways on servers started
 * once and kept warm, because a 5% or 0.1 ms difference drowns in this machine's run-to-run swings (±20%) when each
 * run gets a fresh server:
 *
 * 1. **Throughput, paired**: baseline and protected saturated back to back, order alternating, many short rounds; the
 *    per-round req/s and server-CPU ratios, then their median.
 * 2. **Same-server latency**: one server answering the same request through variants that differ only in what
 *    runs before the resolver (nothing; nothing again, the A/A control; a framework hook doing nothing; iprisk…), one
 *    connection, one request at a time in a shuffled order per cycle (see `MixedJob`): per round, each variant's
 *    median latency and the server's CPU per request. Every variant shares the process, the socket and the caches, so
 *    the difference of the medians is what the variant's work adds to a request, to about a µs.
 * 3. **Step timing**: the same request on servers with two timing hooks around the iprisk middleware / plugin
 *    (nothing between them on the baseline), one connection sending back to back: the distribution of the time
 *    iprisk's step takes, GC pauses that land in it included, so its p99 is what a warm check adds at p99.
 *    Run again under saturation (3b): on the warm path the step runs synchronously between the hooks, so its mean
 *    time, against the server's CPU per request, is its share of throughput (for tRPC, with the middleware level).
 * 4. **CPU profile share**: the protected server saturated under V8's sampling profiler; the share of the samples
 *    that are iprisk's own work (`profile-share.ts`), a ratio within one run, free of the machine's swings.
 */
import { createServer } from 'node:http'
import { createExampleRisk } from '../../examples/shared/setup.js'
import { useIpRisk } from '../../src/envelop/index.js'
import type { BenchOptions } from '../lib/args.js'
import type { Framework } from '../lib/results.js'
import { SampleBuffer, summarizeLatencies, type LatencySummary } from '../lib/stats.js'
import { startTimedYoga } from '../servers/graphql.js'
import { listen } from '../servers/http.js'
import { startTimedTrpc } from '../servers/trpc.js'
import type { LoadGenerator } from './client.js'
import { clientPool } from './ips.js'
import type { MixedRequest } from './protocol.js'
import { profileShare, type ProfileShare } from './profile-share.js'
import { POOL_SIZE } from './scenarios.js'
import type { FrameworkTarget, ServerHandle } from './targets.js'
import { warmL1 } from './warm.js'

/**
 * tRPC only: iprisk inside a middleware the procedure already has (`guard(70)` in an app middleware) against the same
 * middleware without it, plus that middleware against no middleware at all (what tRPC charges for a level).
 */
export interface InsideAbResult {
  /** Per paired throughput round: app middleware + guard ÷ app middleware alone. */
  rpsRatios: number[]
  cpuRatios: number[]
  /** Per round: app middleware alone ÷ no middleware (the baseline): tRPC's cost of one middleware level. */
  levelRpsRatios: number[]
  levelCpuRatios: number[]
  stepBase: LatencySummary
  stepIprisk: LatencySummary
  /** iprisk's share of the CPU of the app-middleware + guard server, saturated. */
  profile?: ProfileShare
}

/** The same-server latency measurement: variant names (the first is the baseline) and, per round, what was measured. */
export interface SameServerResult {
  names: string[]
  rounds: {
    /** Per variant, in the order of `names`: the latency of its requests (milliseconds). */
    latency: LatencySummary[]
    /** CPU time of the server's process (user + system) per request of the round, microseconds. */
    cpuUsPerRequest: number
  }[]
}

export interface WarmAbResult {
  framework: Framework
  /** Per paired throughput round: protected ÷ baseline. */
  rpsRatios: number[]
  cpuRatios: number[]
  /** Baseline server CPU per response (µs), per round. */
  baseCpuUs: number[]
  baseRps: number[]
  protRps: number[]
  /** The same-server latency measurement (2). */
  sameServer: SameServerResult
  /** Step timing (ms): nothing between the timing hooks, and iprisk between them. */
  stepBase: LatencySummary
  stepIprisk: LatencySummary
  /**
   * Step timing under saturation (3b), per round: the mean time of the step with iprisk and of the empty one (µs), the
   * empty-step server's CPU per response (µs), and the steps timed.
   */
  stepLoaded: { baseMeanUs: number; ipriskMeanUs: number; baseCpuUs: number; count: number }[]
  /** iprisk's share of the protected server's CPU, saturated (see `profile-share.ts`). */
  profile?: ProfileShare
  /** tRPC: the same measurements with iprisk inside an existing middleware (`guard`). */
  inside?: InsideAbResult
  non2xx: number
}

function handle(server: { url: string; close(): Promise<void> }): ServerHandle {
  return { origin: new URL(server.url).origin, close: () => server.close() }
}

function non2xx(codes: Record<string, number>): number {
  let n = 0
  for (const [code, count] of Object.entries(codes)) if (!code.startsWith('2')) n += count
  return n
}

export async function runWarmAb(
  target: FrameworkTarget,
  options: BenchOptions,
  gen: LoadGenerator,
  log: (line: string) => void,
): Promise<WarmAbResult> {
  const pool = clientPool(POOL_SIZE)
  const risk = await createExampleRisk({}, {})
  const closers: (() => Promise<void>)[] = [() => risk.close()]
  try {
    risk.simulator!.setLatency(0)
    await warmL1(risk.resolver, pool)
    const base = await target.startBaseline()
    closers.push(() => base.close())
    const prot = await target.startProtected(risk.resolver, 'gated')
    closers.push(() => prot.close())
    // tRPC: the app-middleware pair (without / with iprisk's guard inside).
    const appOnly = target.startInside ? await target.startInside(null) : undefined
    if (appOnly) closers.push(() => appOnly.close())
    const appGuard = target.startInside ? await target.startInside(risk.resolver) : undefined
    if (appGuard) closers.push(() => appGuard.close())
    const endpoint = target.endpoint('gated')
    const ips = { kind: 'pool', ips: pool } as const
    let bad = 0

    const saturate = async (server: ServerHandle, durationSec: number, connections = options.connections) => {
      const before = process.cpuUsage()
      const r = await gen.run({ origin: server.origin, ...endpoint, connections, durationSec, ips })
      const cpu = process.cpuUsage(before)
      bad += non2xx(r.statusCodes) + r.errors
      return { rps: r.rps, cpuUs: (cpu.user + cpu.system) / Math.max(1, r.responses) }
    }

    // Warm-up: JIT every server's path.
    const servers = [base, prot, ...(appOnly && appGuard ? [appOnly, appGuard] : [])]
    for (const server of servers) await saturate(server, options.quick ? 0.3 : 1.5)

    const result: WarmAbResult = {
      framework: target.framework,
      rpsRatios: [],
      cpuRatios: [],
      baseCpuUs: [],
      baseRps: [],
      protRps: [],
      sameServer: { names: [], rounds: [] },
      stepLoaded: [],
      stepBase: summarizeLatencies(new Float64Array()),
      stepIprisk: summarizeLatencies(new Float64Array()),
      non2xx: 0,
    }
    const inside: InsideAbResult | undefined =
      appOnly && appGuard
        ? {
            rpsRatios: [],
            cpuRatios: [],
            levelRpsRatios: [],
            levelCpuRatios: [],
            stepBase: summarizeLatencies(new Float64Array()),
            stepIprisk: summarizeLatencies(new Float64Array()),
          }
        : undefined
    result.inside = inside
    const duration = options.abDurationSec
    for (let round = 0; round < options.abRounds; round++) {
      // Every server once per round, the order reversed every other round, so that drift cancels in the ratios.
      const order = round % 2 === 0 ? servers : [...servers].reverse()
      const got = new Map<ServerHandle, { rps: number; cpuUs: number }>()
      for (const server of order) got.set(server, await saturate(server, duration))
      const b = got.get(base)!
      const p = got.get(prot)!
      result.rpsRatios.push(p.rps / b.rps)
      result.cpuRatios.push(p.cpuUs / b.cpuUs)
      result.baseCpuUs.push(b.cpuUs)
      result.baseRps.push(b.rps)
      result.protRps.push(p.rps)
      if (inside && appOnly && appGuard) {
        const a = got.get(appOnly)!
        const g = got.get(appGuard)!
        inside.rpsRatios.push(g.rps / a.rps)
        inside.cpuRatios.push(g.cpuUs / a.cpuUs)
        inside.levelRpsRatios.push(a.rps / b.rps)
        inside.levelCpuRatios.push(a.cpuUs / b.cpuUs)
      }
    }
    log(`  ${target.framework} warm A/B: ${options.abRounds} paired throughput rounds done`)

    // 2. Same-server latency: every variant on one server, paired requests in a shuffled order.
    const variants = await target.startVariants(risk.resolver)
    closers.push(() => variants.server.close())
    const requests: MixedRequest[] = variants.variants.map((v) => ({ name: v.name, origin: variants.server.origin, ...v.endpoint }))
    const sameServer: SameServerResult = { names: variants.variants.map((v) => v.name), rounds: [] }
    for (let round = 0; round <= options.abSameRounds; round++) {
      const before = process.cpuUsage()
      const r = await gen.mixed({
        requests,
        // Round 0 is a warm-up (JIT, caches), not recorded.
        cycles: round === 0 ? Math.min(1_000, options.abCycles) : options.abCycles,
        ips,
        seed: round + 1,
      })
      const cpu = process.cpuUsage(before)
      bad += non2xx(r.statusCodes) + r.errors
      if (round === 0) continue
      const responses = r.latency.reduce((n, l) => n + l.count, 0)
      sameServer.rounds.push({ latency: r.latency, cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, responses) })
    }
    result.sameServer = sameServer
    log(`  ${target.framework} warm A/B: ${options.abSameRounds} same-server latency rounds done`)

    // 4. iprisk's share of the saturated protected server's CPU, from a CPU profile of this process.
    const profiled = options.quick ? 0.4 : 4
    result.profile = await profileShare(() => saturate(prot, profiled))
    if (inside && appGuard) inside.profile = await profileShare(() => saturate(appGuard, profiled))
    log(`  ${target.framework} warm A/B: CPU profile share ${(result.profile.share * 100).toFixed(2)}%`)

    // Step timing, on servers of their own (the timing hooks are not part of any other measurement).
    const samples = {
      base: new SampleBuffer(),
      iprisk: new SampleBuffer(),
      insideBase: new SampleBuffer(),
      insideIprisk: new SampleBuffer(),
    }
    let recording = false
    const recorder = (buffer: SampleBuffer) => (ms: number) => {
      if (recording) buffer.push(ms)
    }
    const timedBase =
      target.framework === 'trpc'
        ? handle(await startTimedTrpc(null, recorder(samples.base)))
        : handle(await startTimedYoga([], recorder(samples.base)))
    closers.push(() => timedBase.close())
    const timedIprisk =
      target.framework === 'trpc'
        ? handle(await startTimedTrpc(risk.resolver, recorder(samples.iprisk)))
        : handle(await startTimedYoga([useIpRisk({ resolver: risk.resolver })], recorder(samples.iprisk)))
    closers.push(() => timedIprisk.close())
    const timed = [timedBase, timedIprisk]
    if (inside) {
      const a = handle(await startTimedTrpc(null, recorder(samples.insideBase), 'inside'))
      closers.push(() => a.close())
      const g = handle(await startTimedTrpc(risk.resolver, recorder(samples.insideIprisk), 'inside'))
      closers.push(() => g.close())
      timed.push(a, g)
    }
    for (const server of timed) await saturate(server, options.quick ? 0.3 : 1)
    // One connection: under concurrency the window would also hold other requests' microtasks, interleaved at every
    // await (time that iprisk does not add). GC pauses triggered in the window stay in it.
    recording = true
    for (let round = 0; round < 2; round++) {
      for (const server of round === 0 ? timed : [...timed].reverse()) await saturate(server, duration, 1)
    }
    recording = false
    result.stepBase = summarizeLatencies(samples.base.toArray())
    result.stepIprisk = summarizeLatencies(samples.iprisk.toArray())
    if (inside) {
      inside.stepBase = summarizeLatencies(samples.insideBase.toArray())
      inside.stepIprisk = summarizeLatencies(samples.insideIprisk.toArray())
    }

    // 3b. The same step under saturation: on the warm path it runs synchronously between the two hooks (no await, so no
    // other request's work lands in the window), and its mean time against the server's CPU per request is its share
    // of throughput. Not for `guard`, which awaits (its window would hold other requests' work).
    for (let round = 0; round < options.abSatRounds; round++) {
      const pair = round % 2 === 0 ? [timedBase, timedIprisk] : [timedIprisk, timedBase]
      const got = new Map<ServerHandle, { meanUs: number; count: number; cpuUs: number }>()
      for (const server of pair) {
        const buffer = server === timedBase ? samples.base : samples.iprisk
        buffer.clear()
        recording = true
        const run = await saturate(server, duration)
        recording = false
        const step = summarizeLatencies(buffer.toArray())
        got.set(server, { meanUs: step.avg * 1000, count: step.count, cpuUs: run.cpuUs })
      }
      const b = got.get(timedBase)!
      const p = got.get(timedIprisk)!
      result.stepLoaded.push({ baseMeanUs: b.meanUs, ipriskMeanUs: p.meanUs, baseCpuUs: b.cpuUs, count: b.count + p.count })
    }
    log(`  ${target.framework} warm A/B: ${options.abSatRounds} saturated step-timing rounds done`)
    result.non2xx = bad
    return result
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined)
  }
}
