/**
 * Runs the load scenarios of one framework: a warm-up, then `rounds` interleaved rounds (the baselines and every
 * scenario each round, order reversed every other round so that drift cancels out and each baseline always sits next
 * to the scenario its target depends on).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { createExampleRisk, type ExampleRisk } from '../../examples/shared/setup.js'
import type { SecurityEvent } from '../../src/core/index.js'
import type { BenchOptions } from '../lib/args.js'
import type { ColdCheck, Framework, FrameworkResult, RunSample, ScenarioId, ScenarioResult } from '../lib/results.js'
import type { LoadGenerator } from './client.js'
import { clientPool, newClientIp } from './ips.js'
import type { IpPlan, LoadResult } from './protocol.js'
import { flushBenchKeys } from './redis.js'
import { warmL1, warmL2 } from './warm.js'
import { runWarmAb } from './warm-ab.js'
import { NEW_CLIENT_REPEAT, POOL_SIZE, scenarioById, scenarios, type ScenarioSpec } from './scenarios.js'
import type { FrameworkTarget, ServerHandle } from './targets.js'

export type Log = (line: string) => void

/** Clients of the `n`-th new-client run never overlap with another run's (2^20 clients apart). */
const NEW_CLIENT_BLOCK = 2 ** 20

interface Prepared {
  server: ServerHandle
  risk: ExampleRisk | null
  /** Decisions taken without a verdict because the in-flight budget was full (new-client scenario only). */
  budgetRejected: { count: number }
}

async function prepare(target: FrameworkTarget, spec: ScenarioSpec, options: BenchOptions, pool: string[]): Promise<Prepared> {
  const budgetRejected = { count: 0 }
  if (spec.resolver === null) return { server: await target.startBaseline(), risk: null, budgetRejected }
  if (spec.flushRedis) await flushBenchKeys()
  const overrides =
    spec.clients === 'new'
      ? {
          ...spec.resolver,
          onDecision: (event: SecurityEvent) => {
            if (event.error === 'budget_exceeded') budgetRejected.count++
          },
        }
      : spec.resolver
  // An empty env: always the local simulator (never the real API, even with IPASIS_API_KEY set), no REDIS_URL.
  const risk = await createExampleRisk(overrides, {})
  try {
    const sim = risk.simulator
    if (!sim) throw new Error('the benchmark needs the simulator')
    if (spec.prewarm) {
      // Warm without upstream latency (the warm-up is not measured).
      sim.setLatency(0)
      if (spec.id === 'sync-l2') await warmL2(risk.resolver, pool)
      else await warmL1(risk.resolver, pool)
    }
    sim.setLatency(options.upstreamLatencyMs)
    return { server: await target.startProtected(risk.resolver, spec.endpoint), risk, budgetRejected }
  } catch (err) {
    await risk.close()
    throw err
  }
}

function ipPlan(spec: ScenarioSpec, pool: string[], block: number): IpPlan {
  return spec.clients === 'pool'
    ? { kind: 'pool', ips: pool }
    : { kind: 'unique', offset: block * NEW_CLIENT_BLOCK, repeat: NEW_CLIENT_REPEAT, varyHost: true }
}

/** Upstream calls per new client (all addresses of its /64) for the clients a run sent. */
function coldCheck(risk: ExampleRisk, plan: IpPlan, result: LoadResult, budgetRejected: number): ColdCheck {
  const sim = risk.simulator!
  const check: ColdCheck = { clientsSent: 0, clientsLookedUp: 0, maxCallsPerClient: 0, clientsOverOne: 0, budgetRejected }
  if (plan.kind !== 'unique') return check
  for (let n = 0; n < result.clientsSent; n++) {
    let calls = 0
    for (let host = 1; host <= (plan.varyHost ? plan.repeat : 1); host++) calls += sim.callsFor(newClientIp(plan.offset + n, host))
    check.clientsSent++
    if (calls > 0) check.clientsLookedUp++
    if (calls > 1) check.clientsOverOne++
    check.maxCallsPerClient = Math.max(check.maxCallsPerClient, calls)
  }
  return check
}

interface RunOutcome {
  result: LoadResult
  /** Server process CPU per response (µs). */
  cpuUs: number
  upstreamCalls: number
  cold: ColdCheck | undefined
}

/** One load run on a freshly prepared scenario (its own resolver, simulator and server), then everything is closed. */
async function runOnce(
  target: FrameworkTarget,
  spec: ScenarioSpec,
  options: BenchOptions,
  gen: LoadGenerator,
  connections: number,
  durationSec: number,
  plan: IpPlan,
  pool: string[],
): Promise<RunOutcome> {
  const { server, risk, budgetRejected } = await prepare(target, spec, options, pool)
  try {
    const sim = risk?.simulator ?? null
    const callsBefore = sim?.calls ?? 0 // the warm-up's calls are not counted
    const cpuBefore = process.cpuUsage()
    const result = await gen.run({ origin: server.origin, ...target.endpoint(spec.endpoint), connections, durationSec, ips: plan })
    const cpu = process.cpuUsage(cpuBefore)
    // Lookups still on their way to the simulator when the last request ended.
    await sleep(Math.min(200, options.upstreamLatencyMs * 3))
    return {
      result,
      cpuUs: result.responses > 0 ? (cpu.user + cpu.system) / result.responses : Number.NaN,
      upstreamCalls: (sim?.calls ?? 0) - callsBefore,
      cold: spec.clients === 'new' && risk ? coldCheck(risk, plan, result, budgetRejected.count) : undefined,
    }
  } finally {
    await server.close()
    await risk?.close()
  }
}

function mergeCold(a: ColdCheck | undefined, b: ColdCheck | undefined): ColdCheck | undefined {
  if (!a || !b) return a ?? b
  return {
    clientsSent: a.clientsSent + b.clientsSent,
    clientsLookedUp: a.clientsLookedUp + b.clientsLookedUp,
    maxCallsPerClient: Math.max(a.maxCallsPerClient, b.maxCallsPerClient),
    clientsOverOne: a.clientsOverOne + b.clientsOverOne,
    budgetRejected: a.budgetRejected + b.budgetRejected,
  }
}

/**
 * One scenario in one round: a throughput run and a latency run, each on a fresh set-up, so that neither inherits
 * the other's state (a cache filled, or an L2 breaker opened under saturation).
 */
async function measure(
  target: FrameworkTarget,
  spec: ScenarioSpec,
  options: BenchOptions,
  gen: LoadGenerator,
  round: number,
  runIndex: number,
): Promise<RunSample> {
  const pool = clientPool(POOL_SIZE)
  const connections = spec.connections ?? options.connections
  const throughput = await runOnce(target, spec, options, gen, connections, options.durationSec, ipPlan(spec, pool, runIndex * 2), pool)
  const latency = await runOnce(target, spec, options, gen, 1, options.durationSec / 2, ipPlan(spec, pool, runIndex * 2 + 1), pool)
  const sample: RunSample = {
    round,
    throughput: throughput.result,
    latency: latency.result,
    serverCpuUs: throughput.cpuUs,
    upstreamCalls: throughput.upstreamCalls,
    upstreamCallsLatencyRun: latency.upstreamCalls,
  }
  const cold = mergeCold(throughput.cold, latency.cold)
  if (cold) sample.cold = cold
  return sample
}

function fmtSample(s: RunSample): string {
  const t = s.throughput
  const l = s.latency.latency
  const bad = Object.entries(t.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${code}×${n}`)
    .join(' ')
  return (
    `${t.rps.toFixed(0).padStart(6)} req/s  ${s.serverCpuUs.toFixed(0).padStart(4)} µs CPU/req  ` +
    `lat avg ${l.avg.toFixed(3)} ms p99 ${l.p99.toFixed(3)} ms  ` +
    `upstream ${s.upstreamCalls}${bad ? `  non-2xx ${bad}` : ''}${t.errors ? `  errors ${t.errors}` : ''}`
  )
}

export async function runLoadSuite(
  target: FrameworkTarget,
  options: BenchOptions,
  gen: LoadGenerator,
  log: Log,
): Promise<FrameworkResult> {
  const framework: Framework = target.framework
  // Warm-up (unmeasured): JIT-compile the framework, iprisk's warm path and the generator.
  const warm = { ...options, durationSec: options.quick ? 0.5 : 2 }
  for (const id of ['baseline', 'sync-l1'] as const) {
    await measure(target, scenarioById(id), warm, gen, -1, 1000 + (id === 'baseline' ? 0 : 1))
  }

  const results = new Map<ScenarioId, ScenarioResult>(scenarios.map((s) => [s.id, { id: s.id, samples: [] }]))
  // Each baseline sits next to the scenario whose target depends on it (sync-l1, async-cache), in both directions.
  const order: ScenarioId[] = ['baseline', 'sync-l1', 'sync-l2', 'sync-nocache', 'new-ips', 'async-cache', 'baseline-background']
  let runIndex = 0
  for (let round = 0; round < options.rounds; round++) {
    const ids = round % 2 === 0 ? order : [...order].reverse()
    for (const id of ids) {
      const result = results.get(id)!
      if (result.error) continue
      const spec = scenarioById(id)
      try {
        const sample = await measure(target, spec, options, gen, round, runIndex++)
        result.samples.push(sample)
        log(`  ${framework} round ${round + 1}/${options.rounds}  ${spec.title.padEnd(26)} ${fmtSample(sample)}`)
      } catch (err) {
        result.error = err instanceof Error ? err.message : String(err)
        log(`  ${framework} ${spec.title}: FAILED: ${result.error}`)
      }
    }
  }
  await flushBenchKeys().catch(() => 0) // leave nothing behind in the shared Redis
  const out: FrameworkResult = { framework, scenarios: order.map((id) => results.get(id)!) }
  log(`  ${framework} warm path A/B (servers kept running)`)
  try {
    out.warmAb = await runWarmAb(target, options, gen, log)
  } catch (err) {
    out.warmAbError = err instanceof Error ? err.message : String(err)
    log(`  ${framework} warm path A/B: FAILED: ${out.warmAbError}`)
  }
  return out
}
