/**
 * Soak: mixed traffic (both example servers, public and protected operations, a stable population of clean clients,
 * a few Tor exits, and a stream of never-seen addresses) for `IPRISK_SOAK_SECONDS` (default 10 s in `npm test`;
 * `npm run soak` runs 180 s), while a seeded background schedule injects upstream faults, latency spikes, upstream
 * outages (connection refused, then back on the same port) and, with a private Redis as L2, Redis pauses.
 *
 * Promises checked: zero failed requests that should have passed (fail-open: a clean client is never refused, no
 * request ever gets a 5xx), every request within the budget + slack, protected operations still block Tor exits
 * whenever a verdict exists, never two upstream calls in flight for one IP, upstream calls bounded by the cache, and
 * a flat heap (after GC) from the end of warm-up to the end.
 */
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IpasisSimulator, SimulatorFault } from '../../src/testing/index.js'
import { captureConsole, createEvidence, SECRET_API_KEY, seeded, watchProcess } from './helpers/evidence.js'
import { createRedisProcess, type RedisProcess } from './helpers/redis.js'
import { redisService } from './helpers/services.js'
import {
  createHttpClient,
  flushHooks,
  globalIp,
  sleep,
  startSimulator,
  startStack,
  type HttpClient,
  type Outcome,
  type Stack,
} from './helpers/stack.js'

const SOAK_SECONDS = Math.max(1, Number(process.env.IPRISK_SOAK_SECONDS ?? 10) || 10)
const BUDGET_MS = 400
/**
 * A hang bound, not a speed test: the budget plus slack for a loaded 2-core machine (eight workers, two forced GCs of
 * the heap sampler and the servers share this process; beside another test run, public operations that never look up
 * took up to 2.2 s with 1 s of slack). It stays well under the provider's own 5 s timeout, which is what a lookup that
 * escaped the budget would wait.
 */
const BOUND_MS = BUDGET_MS + 2_500
/** Answers stay fresh 3 s, so the soak also exercises expiry and refresh. */
const TTL_SECONDS = 3
const WORKERS = 8
const SEED = 7_331

const redisCheck = redisService()
// Evidence is checked on arrival, not kept: the heap must stay flat over a long soak.
const evidence = createEvidence({ retain: false, watch: [SECRET_API_KEY] })
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)

const CLEAN = Array.from({ length: 60 }, (_, i) => globalIp(2_000_000 + i))
const TOR = Array.from({ length: 8 }, (_, i) => globalIp(2_100_000 + i))
const torSet = new Set(TOR)

type Op = { surface: 'trpc' | 'yoga'; name: string; protects: 'none' | 'lowRisk' | 'human' }
const OPS: readonly Op[] = [
  { surface: 'trpc', name: 'hello', protects: 'none' },
  { surface: 'trpc', name: 'whoami', protects: 'none' },
  { surface: 'trpc', name: 'orders', protects: 'lowRisk' },
  { surface: 'trpc', name: 'signup', protects: 'human' },
  { surface: 'yoga', name: 'posts', protects: 'none' },
  { surface: 'yoga', name: 'login', protects: 'lowRisk' },
  { surface: 'yoga', name: 'signup', protects: 'human' },
]

function run(http: HttpClient, stack: Stack, op: Op, ip: string): Promise<Outcome> {
  if (op.surface === 'trpc') {
    if (op.name === 'signup') return http.trpc(stack.trpc.url, 'signup', { type: 'mutation', input: { email: 'soak@example.com' }, xff: ip })
    return http.trpc(stack.trpc.url, op.name, { xff: ip })
  }
  const query =
    op.name === 'posts'
      ? '{ posts { id title } }'
      : op.name === 'login'
        ? 'mutation { login(email: "soak@example.com", password: "pw") { token } }'
        : 'mutation { signup(email: "soak@example.com") { id } }'
  return http.graphql(stack.yoga.url, query, { xff: ip })
}

describe.runIf(redisCheck.mustFail)('soak (redis-server required)', () => {
  it('redis-server is installed', () => {
    expect.fail(`${redisCheck.missing ?? ''}: IPRISK_REQUIRE_REDIS=1 makes this a failure`)
  })
})

describe.skipIf(redisCheck.mustFail)(`soak: ${SOAK_SECONDS} s of mixed traffic under a fault schedule`, () => {
  let sim: IpasisSimulator
  let simPort: number
  let redis: RedisProcess | undefined
  let stack: Stack
  let http: HttpClient
  let upstreamCalls = 0
  let verdicts = 0
  let torVerdicts = 0
  const wrongVerdicts: string[] = []

  const startSim = (port?: number): Promise<IpasisSimulator> =>
    startSimulator({
      latency: { min: 0, max: 15 },
      profileFor: (ip) => (torSet.has(ip) ? 'tor' : undefined),
      ...(port === undefined ? {} : { port }),
    })

  beforeAll(async () => {
    sim = await startSim()
    simPort = Number(new URL(sim.url).port)
    if (!redisCheck.skip) {
      await import('@keyv/redis') // start-up cost, paid before measuring (see redis-faults.test.ts)
      redis = await createRedisProcess()
      await redis.start()
    }
    stack = await startStack({
      simUrl: sim.url,
      evidence,
      keepEvents: false,
      onEvent: (event) => {
        // Every verdict must match the client's profile: Tor exits blocked, clean clients allowed.
        if (event.status !== 'scored' || event.ip === null) return
        verdicts++
        const tor = torSet.has(event.ip)
        if (tor) torVerdicts++
        if ((event.action === 'block') !== tor) wrongVerdicts.push(`${event.ip} ${event.path ?? ''}: ${event.action} ${event.reason}`)
      },
      resolver: {
        failMode: 'open',
        budget: { timeoutMs: BUDGET_MS },
        breaker: { failures: 5, halfOpenAfterMs: 500 },
        cache: {
          ttlSeconds: TTL_SECONDS,
          failureTtlSeconds: 1,
          l1: { max: 500 },
          ...(redis === undefined ? {} : { l2: redis.url, l2TimeoutMs: 50 }),
        },
      },
    })
    http = createHttpClient(evidence)
  })

  afterAll(async () => {
    await http.close()
    await stack.close()
    await sim.close()
    redis?.resume()
    await redis?.stop()
    restoreConsole()
    watch.stop()
  })

  it(
    'no request that should pass fails; every verdict matches the client; bounded upstream calls; flat heap',
    async () => {
      if (redis === undefined) console.warn('[iprisk soak] redis-server not installed: soaking without L2 (Redis pauses skipped)')
      v8.setFlagsFromString('--expose-gc')
      const gc = vm.runInNewContext('gc') as () => void
      const heap = (): number => {
        gc()
        gc()
        return process.memoryUsage().heapUsed
      }

      const random = seeded(SEED)
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
      const start = Date.now()
      const end = start + SOAK_SECONDS * 1_000
      const warmupEnd = start + Math.min(3_000, (SOAK_SECONDS * 1_000) / 4)

      const failures: string[] = []
      const slow: string[] = []
      let requests = 0
      let freshCounter = 0
      let torProtected = 0
      let torBlocked = 0
      let heapAfterWarmup: number | undefined
      const schedule: string[] = []

      // --- background fault schedule ------------------------------------------------------------------------------
      const FAULTS: readonly SimulatorFault[] = ['timeout', 'slow-body', 500, 502, 503, 429, 'malformed-json', 'wrong-schema', 'reset']
      const faults = (async () => {
        while (Date.now() < end - 1_000) {
          await sleep(300 + Math.floor(random() * 400))
          const r = random()
          if (r < 0.45) continue
          if (r < 0.75) {
            const fault = pick(FAULTS)
            const times = 1 + Math.floor(random() * 6)
            schedule.push(`${fault}×${times}`)
            sim.setFault(fault, { times, retryAfter: random() < 0.5 ? '0' : '1' })
          } else if (r < 0.85) {
            schedule.push('latency 600 ms')
            sim.setLatency(600)
            await sleep(700)
            sim.setLatency({ min: 0, max: 15 })
          } else if (r < 0.93) {
            schedule.push('outage (connection refused)')
            upstreamCalls += sim.calls
            await sim.close()
            await sleep(600)
            sim = await startSim(simPort)
          } else if (redis !== undefined) {
            schedule.push('redis SIGSTOP')
            redis.pause()
            await sleep(800)
            redis.resume()
          }
        }
      })()

      // --- traffic ------------------------------------------------------------------------------------------------
      const worker = async (): Promise<void> => {
        while (Date.now() < end) {
          const r = random()
          const ip = r < 0.7 ? pick(CLEAN) : r < 0.8 ? pick(TOR) : globalIp(3_000_000 + freshCounter++)
          const op = pick(OPS)
          requests++
          let outcome: Outcome
          try {
            outcome = await run(http, stack, op, ip)
          } catch (error) {
            failures.push(`${op.surface}.${op.name} ${ip}: client error ${String(error)}`)
            continue
          }
          const label = `${op.surface}.${op.name} ${ip}`
          if (outcome.reply.ms > BOUND_MS) slow.push(`${label}: ${Math.round(outcome.reply.ms)} ms`)
          if (outcome.kind === 'error') failures.push(`${label}: ${outcome.reply.status} ${outcome.reply.text.slice(0, 200)}`)
          else if (!torSet.has(ip) && outcome.kind !== 'ok') failures.push(`${label}: refused ${String(outcome.reason)}`)
          else if (torSet.has(ip) && op.protects === 'none' && outcome.kind !== 'ok') failures.push(`${label}: public operation refused`)
          if (torSet.has(ip) && op.protects !== 'none') {
            torProtected++
            if (outcome.kind === 'blocked') torBlocked++
          }
          if (heapAfterWarmup === undefined && Date.now() >= warmupEnd) heapAfterWarmup = -1 // claimed by the sampler
        }
      }
      const sampler = (async () => {
        while (Date.now() < warmupEnd) await sleep(100)
        heapAfterWarmup = heap()
      })()
      await Promise.all([...Array.from({ length: WORKERS }, worker), faults, sampler])
      sim.clearFaults()
      await sleep(200)
      await flushHooks()
      const heapAtEnd = heap()
      upstreamCalls += sim.calls

      const summary = {
        seconds: SOAK_SECONDS,
        requests,
        distinctIps: CLEAN.length + TOR.length + freshCounter,
        upstreamCalls,
        torProtected,
        torBlocked,
        verdicts,
        torVerdicts,
        heapAfterWarmupMB: Math.round(((heapAfterWarmup ?? 0) / 1048576) * 10) / 10,
        heapAtEndMB: Math.round((heapAtEnd / 1048576) * 10) / 10,
        schedule: schedule.join(', '),
      }
      console.info('[iprisk soak]', JSON.stringify(summary))

      expect(failures, 'requests that should have passed').toEqual([])
      expect(slow, 'requests slower than the budget + slack').toEqual([])
      expect(requests, 'traffic actually ran').toBeGreaterThan(SOAK_SECONDS * 20)
      expect(schedule.length, 'faults were actually injected').toBeGreaterThan(0)
      // Whenever a verdict exists (fresh or stale), it is the right one: Tor exits blocked, clean clients allowed.
      // (Fail-open lets Tor through only when no verdict could be had: an upstream fault with nothing cached.)
      expect(wrongVerdicts, 'decisions contradicting the client profile').toEqual([])
      expect(torVerdicts, 'Tor exits met verdicts (the check ran)').toBeGreaterThan(0)
      expect(verdicts).toBeGreaterThan(torVerdicts)
      expect(stack.provider.maxInFlightPerIp, 'single flight: never two calls at once for one IP').toBe(1)
      // Every IP is asked at most once per freshness period, plus one retry per remembered failure (1 s).
      const periods = Math.ceil(SOAK_SECONDS / TTL_SECONDS) + 1
      const distinctIps = CLEAN.length + TOR.length + freshCounter // upper bound: pools plus one per fresh address
      expect(upstreamCalls).toBeLessThanOrEqual(distinctIps * periods + stack.provider.failed * 2)
      expect(upstreamCalls, 'the cache answers most requests').toBeLessThan(requests * 0.6)
      const growth = heapAtEnd - (heapAfterWarmup ?? heapAtEnd)
      expect(growth, `heap grew ${Math.round(growth / 1024)} KB`).toBeLessThan(Math.max(12 * 1048576, (heapAfterWarmup ?? 0) * 0.25))
    },
    (SOAK_SECONDS + 40) * 1_000,
  )

  it('no unhandled rejection or uncaught exception happened during the soak', () => {
    expect(watch.failures).toEqual([])
  })

  it('the API key appears in no response, error, log line, security event or console output', () => {
    expect(evidence.counts().response).toBeGreaterThan(SOAK_SECONDS * 20)
    expect(evidence.find(SECRET_API_KEY)).toEqual([])
  })
})
