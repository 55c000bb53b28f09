/**
 * Forcing the fail mode by filling the budgets (issue #15, item 9), through real HTTP: the example tRPC and Yoga
 * servers, the real `ipasis()` provider, the IPASIS simulator answering after 200 ms.
 *
 * The attack: 80 concurrent requests from distinct /64s of one /48 (each a cache miss). With one shared pool they
 * filled `maxInFlight` (64), and a never-seen Tor exit from another network got `budget_exceeded`: HTTP 200 under
 * `failMode: 'open'`; under `'closed'` a clean newcomer was refused. Draining `maxPerMinute` by rotating /64s did the
 * same. Now the budgets are shared between source networks: the attacker's /48 holds its share, its own extra
 * lookups are the ones refused (`budget_exceeded`), and the Tor exit and the clean newcomer are scored (403 and 200).
 *
 * Time is not the subject: for the in-flight budget, the attacker's admitted calls (answered by the simulator after
 * 200 ms) are held by a gate around the provider until the newcomers have their answers, so that the attacker holds
 * its slots whatever the scheduling of a loaded machine; the per-minute budget's clock is frozen (no refill).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startYogaExample } from '../../examples/graphql/server.js'
import { startTrpcExample } from '../../examples/trpc/server.js'
import { createRiskResolver, ipasis, type Provider, type RiskData, type SecurityEvent } from '../../src/core/index.js'
import { type FailMode } from '../../src/core/types.js'
import { resolverInternals } from '../../src/core/resolver.js'
import { systemClock, type Clock } from '../../src/core/clock.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { captureConsole, createEvidence, SECRET_API_KEY, watchProcess, describeProcessHygiene } from './helpers/evidence.js'
import {
  baseResolverOptions,
  createHttpClient,
  flushHooks,
  spyProvider,
  startSimulator,
  startStack,
  type HttpClient,
  type Outcome,
  type Stack,
} from './helpers/stack.js'

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)
let http: HttpClient
let sim: IpasisSimulator

const TOR_EXIT = '185.220.101.66'
const ATTACKERS = 80

beforeAll(async () => {
  http = createHttpClient(evidence)
  sim = await startSimulator({ latency: 200, profiles: { [TOR_EXIT]: 'tor' } })
})
afterAll(async () => {
  await http.close()
  await sim.close()
  restoreConsole()
  watch.stop()
})

/**
 * The example servers on a resolver whose provider (the real `ipasis()` on the simulator) is wrapped in a gate: a
 * lookup of a `held` address gets its upstream answer, then waits for `release()` before returning it.
 */
async function startGatedStack(failMode: FailMode, held: (ip: string) => boolean): Promise<Stack & { release(): void }> {
  const inner = ipasis({ apiKey: SECRET_API_KEY, baseUrl: sim.url, timeoutMs: 5_000 })
  const waiting: Array<() => void> = []
  let released = false
  const gated: Provider = {
    name: inner.name,
    async lookup(ip: string, signal: AbortSignal): Promise<RiskData> {
      const data = await inner.lookup(ip, signal)
      if (held(ip) && !released && !signal.aborted) {
        await new Promise<void>((resolve) => {
          waiting.push(resolve)
          signal.addEventListener('abort', () => resolve(), { once: true })
        })
      }
      return data
    },
    close: () => inner.close?.() ?? Promise.resolve(),
  }
  const provider = spyProvider(gated, evidence)
  const events: SecurityEvent[] = []
  const resolver = createRiskResolver({
    ...baseResolverOptions,
    failMode,
    breaker: false,
    budget: { timeoutMs: 10_000 }, // the gate may hold calls longer than the default 1.5 s on a loaded machine
    provider,
    logger: evidence.logger,
    onDecision: (event) => {
      events.push(event)
      return evidence.onDecision(event)
    },
  })
  const trpc = await startTrpcExample({ resolver })
  const yoga = await startYogaExample({ resolver })
  const release = (): void => {
    released = true
    for (const resolve of waiting.splice(0)) resolve()
  }
  return {
    resolver,
    provider,
    trpc,
    yoga,
    events,
    release,
    async close() {
      release()
      await Promise.all([trpc.close(), yoga.close()])
      await resolver.close()
    },
  }
}

/** The i-th attacker address: a distinct /64 of the /48 2a01:4f8:<net>::/48, in canonical form. */
const attacker = (net: number, i: number): string => `2a01:4f8:${net.toString(16)}:${i.toString(16)}::1`

/** A protected call that waits for a verdict: tRPC `orders` (riskGate 70) or Yoga `login` (@requireLowRisk 75). */
function protectedCall(stack: Stack, ip: string, i: number): Promise<Outcome> {
  return i % 2 === 0
    ? http.trpc(stack.trpc.url, 'orders', { xff: ip })
    : http.graphql(stack.yoga.url, 'mutation { login(email: "a@example.com", password: "pw") { token } }', { xff: ip })
}

/** tRPC `signup` (`requireHuman`: Tor, or a score of 80 or more). */
function signup(stack: Stack, ip: string): Promise<Outcome> {
  return http.trpc(stack.trpc.url, 'signup', { type: 'mutation', input: { email: 'a@example.com' }, xff: ip })
}

async function eventFor(stack: Stack, ip: string): Promise<SecurityEvent | undefined> {
  await flushHooks()
  return stack.events.findLast((e) => e.ip === ip)
}

/**
 * Open the client's keep-alive connections to both servers (and warm them up) with requests from one address, so that
 * the attack's requests all arrive at once, as from an attacker with connections ready.
 */
async function warmUp(stack: Stack, ip: string): Promise<void> {
  const outcomes = await Promise.all(Array.from({ length: ATTACKERS }, (_, i) => protectedCall(stack, ip, i)))
  expect(outcomes.filter((o) => o.kind !== 'ok')).toEqual([])
}

/**
 * Send the attack and wait until the resolver has admitted or refused every one of its lookups (their replies are
 * counted as they come back); returns the pending outcomes.
 */
async function attack(stack: Stack, net: number): Promise<{ ips: string[]; outcomes: Promise<Outcome[]> }> {
  const ips = Array.from({ length: ATTACKERS }, (_, i) => attacker(net, i + 1))
  let answered = 0
  const outcomes = Promise.all(
    ips.map((ip, i) =>
      protectedCall(stack, ip, i).then((o) => {
        answered++
        return o
      }),
    ),
  )
  outcomes.catch(() => undefined) // awaited by the test; a failed assertion must not leave it unhandled
  await vi.waitFor(() => expect(answered + resolverInternals(stack.resolver).inFlight()).toBe(ATTACKERS), { timeout: 10_000, interval: 5 })
  return { ips, outcomes }
}

/** How the attacker's own requests ended, from the security events. */
async function attackerEvents(stack: Stack, ips: string[]): Promise<{ scored: number; refused: number; other: number }> {
  const counts = { scored: 0, refused: 0, other: 0 }
  for (const ip of ips) {
    const event = await eventFor(stack, ip)
    if (event?.status === 'scored') counts.scored++
    else if (event?.error === 'budget_exceeded') counts.refused++
    else counts.other++
  }
  return counts
}

describe.each(['open', 'closed'] as const)("maxInFlight (default 64), failMode '%s'", (failMode) => {
  it(`${ATTACKERS} concurrent lookups from one /48 hold its share (16); a Tor exit is scored and blocked, a clean newcomer scored and allowed; the attacker's extra lookups are refused`, async () => {
    const net = failMode === 'open' ? 0xa77a : 0xa77b
    const stack = await startGatedStack(failMode, (ip) => ip.startsWith(`2a01:4f8:${net.toString(16)}:`))
    try {
      await warmUp(stack, failMode === 'open' ? '11.40.1.1' : '11.41.1.1')
      const { ips, outcomes } = await attack(stack, net)
      // The attacker holds its slots (held by the gate) while the others arrive.
      expect(resolverInternals(stack.resolver).inFlight(), "the attacker's share, held").toBe(16)
      const clean = failMode === 'open' ? '11.40.0.1' : '11.41.0.1'
      const [tor, newcomer] = await Promise.all([signup(stack, TOR_EXIT), protectedCall(stack, clean, 0)])
      stack.release()

      expect([tor.reply.status, tor.kind, tor.reason]).toEqual([403, 'blocked', 'tor_exit_node'])
      expect(await eventFor(stack, TOR_EXIT)).toMatchObject({ status: 'scored', error: null, fail_open: false })
      expect([newcomer.reply.status, newcomer.kind]).toEqual([200, 'ok'])
      expect(await eventFor(stack, clean)).toMatchObject({ status: 'scored', error: null, fail_open: false })

      const attackOutcomes = await outcomes
      expect(await attackerEvents(stack, ips)).toEqual({ scored: 16, refused: 64, other: 0 })
      const refusedKinds = attackOutcomes.filter((_o, i) => stack.events.findLast((e) => e.ip === ips[i])?.error === 'budget_exceeded')
      if (failMode === 'open') expect(refusedKinds.every((o) => o.kind === 'ok'), 'fail open: allowed, marked failOpen').toBe(true)
      else expect(refusedKinds.every((o) => o.kind === 'blocked' && o.reason === 'lookup_unavailable')).toBe(true)
      expect(sim.callsFor(TOR_EXIT)).toBeGreaterThanOrEqual(1)
      expect(stack.provider.maxInFlight).toBeLessThanOrEqual(64)
    } finally {
      await stack.close()
    }
  })
})

// timeoutMs 10 s: the subject is the per-minute budget, not the deadline; on a loaded machine the default 1.5 s timed
// some of the admitted lookups out (simulator latency 200 ms behind 80 concurrent requests).
describe('maxPerMinute drained by rotating /64s (frozen budget clock: no refill during the test)', () => {
  it.each(['open', 'closed'] as const)(
    "failMode '%s': 40 per minute, one /48 starts 10 and is refused the rest; a Tor exit and a clean newcomer are still scored",
    async (failMode) => {
      // Real timers and durations, a frozen wall clock: the per-minute budget never refills during the test.
      const clock: Clock = { ...systemClock, now: () => 1_000_000 }
      const stack = await startStack({
        simUrl: sim.url,
        evidence,
        resolver: { failMode, breaker: false, budget: { maxPerMinute: 40, timeoutMs: 10_000 }, clock },
      })
      try {
        const net = failMode === 'open' ? 0xc0de : 0xc0df
        await warmUp(stack, failMode === 'open' ? '11.42.1.1' : '11.43.1.1')
        const { ips, outcomes } = await attack(stack, net)
        const clean = failMode === 'open' ? '11.42.0.1' : '11.43.0.1'
        const [tor, newcomer] = await Promise.all([signup(stack, TOR_EXIT), protectedCall(stack, clean, 0)])
        expect([tor.reply.status, tor.reason]).toEqual([403, 'tor_exit_node'])
        expect([newcomer.reply.status, newcomer.kind]).toEqual([200, 'ok'])
        expect(await eventFor(stack, clean)).toMatchObject({ status: 'scored' })
        await outcomes
        expect(await attackerEvents(stack, ips)).toEqual({ scored: 10, refused: 70, other: 0 })
      } finally {
        await stack.close()
      }
    },
  )
})

describeProcessHygiene(watch, evidence, { minResponses: 300 })
