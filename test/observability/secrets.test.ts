/**
 * The API key never leaves the provider: driven through both adapters over real HTTP — allows, blocks, and every kind
 * of upstream fault (401 with the right key, a wrong key, 429, 503, a timeout, a reset connection, a wrong-shaped
 * answer) — no log line, hook event, server-side error, provider error, response body or header contains it, nor any
 * part of it. And without a logger, the only output iprisk produces is one warning per configuration problem.
 */
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest'
import { ipasis, type RiskResolverOptions, type SecurityEvent } from '../../src/core/index.js'
import type { IpasisSimulator, SimulatorFault } from '../../src/testing/index.js'
import {
  LONG_UA,
  afterHooks,
  freshIp,
  graphqlPost,
  memoryPino,
  operations,
  resolverFor,
  startSimulator,
  startStack,
  trpcMutation,
  type Reply,
  type Stack,
} from './helpers.js'

/** The key the simulator accepts, and a wrong one; both carry the marker searched for. */
const API_KEY = 'sk_live_OBSERVE_DO_NOT_LEAK_5c2e9a71f04b3d86'
const WRONG_KEY = 'sk_live_OBSERVE_WRONG_DO_NOT_LEAK_d8b3e1f07a'
/** Found in any output that holds either key, or a piece of one long enough to matter. */
const MARKERS = [API_KEY, WRONG_KEY, 'DO_NOT_LEAK', '5c2e9a71f04b', 'd8b3e1f07a']

/** Everything observable, labelled by where it came from. */
type Corpus = { label: string; text: string }[]

function leaks(corpus: Corpus): string[] {
  return corpus.filter(({ text }) => MARKERS.some((marker) => text.includes(marker))).map(({ label }) => label)
}

const deep = (value: unknown): string => inspect(value, { depth: Infinity, showHidden: true, getters: true })

/** The upstream situations driven through each adapter. */
const FAULTS: { name: string; fault?: SimulatorFault; profile?: 'clean' | 'tor' }[] = [
  { name: 'allow (clean, scored)', profile: 'clean' },
  { name: 'block (Tor)', profile: 'tor' },
  { name: '401 with the right key', fault: 401 },
  { name: '401 again (same option: reported once)', fault: 401 },
  { name: '429', fault: 429 },
  { name: '503', fault: 503 },
  { name: 'timeout (never answers)', fault: 'timeout' },
  { name: 'connection reset', fault: 'reset' },
  { name: 'wrong-shaped answer', fault: 'wrong-schema' },
]

let sim: IpasisSimulator
const stacks: Stack[] = []

beforeAll(async () => {
  sim = await startSimulator(API_KEY)
})
afterEach(async () => {
  vi.restoreAllMocks()
  sim.clearFaults()
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})
afterAll(async () => {
  await sim.close()
})

/** Options every resolver of this suite shares: short budget (timeouts), no breaker, failures not remembered. */
const BASE: Partial<RiskResolverOptions> = {
  budget: { timeoutMs: 300 },
  breaker: false,
  cache: { failureTtlSeconds: 0 },
}

async function stackWith(options: Partial<RiskResolverOptions>, apiKey = API_KEY): Promise<Stack> {
  const stack = await startStack(resolverFor(sim, { ...BASE, ...options }, apiKey))
  stacks.push(stack)
  return stack
}

/** One request per situation through each adapter, from a fresh IP; returns every reply. */
async function driveAll(stack: Stack): Promise<Reply[]> {
  const replies: Reply[] = []
  for (const situation of FAULTS) {
    for (const adapter of ['trpc', 'graphql'] as const) {
      const ip = freshIp(sim, situation.profile ?? 'clean')
      if (situation.fault !== undefined) sim.setFault(situation.fault, { ip, times: 1 })
      const caller = { ip, ua: LONG_UA }
      const reply =
        adapter === 'trpc'
          ? await trpcMutation(stack.trpc, 'signup', caller, { email: 'ada@example.com' })
          : await graphqlPost(stack.graphql, operations.signup, caller)
      // Fail open: only the Tor client is refused; every fault lets the request through.
      expect(reply.status).toBe(situation.profile === 'tor' ? 403 : 200)
      replies.push(reply)
    }
  }
  return replies
}

const replyCorpus = (label: string, replies: Reply[]): Corpus =>
  replies.map((reply, i) => ({ label: `${label} reply ${String(i)}`, text: `${JSON.stringify(reply.headers)}\n${reply.text}` }))

describe('the API key never appears in logs, events, errors or responses', () => {
  it('with a pino logger and every hook, through both adapters, for every fault', async () => {
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const pino = memoryPino()
    const events: SecurityEvent[] = []
    const hooks = {
      onDecision: (event: SecurityEvent) => void events.push(event),
      onBlock: (event: SecurityEvent) => void events.push(event),
      onHighRisk: (event: SecurityEvent) => void events.push(event),
    }
    const good = await stackWith({ logger: pino.logger, ...hooks, highRiskScore: 0 })
    const wrong = await stackWith({ logger: pino.logger, ...hooks, highRiskScore: 0 }, WRONG_KEY)

    const replies = await driveAll(good)
    // The wrong key: the simulator refuses it (401) on every call.
    const wrongReplies: Reply[] = []
    for (let i = 0; i < 2; i++) {
      const caller = { ip: freshIp(sim, 'tor'), ua: LONG_UA }
      wrongReplies.push(await trpcMutation(wrong.trpc, 'signup', caller, { email: 'ada@example.com' }))
      wrongReplies.push(await graphqlPost(wrong.graphql, operations.signup, caller))
    }
    expect(wrongReplies.map((r) => r.status)).toStrictEqual([200, 200, 200, 200]) // fail open, no verdict
    await afterHooks()

    // Provider errors, as an application calling the provider itself would see them.
    const providerErrors: unknown[] = []
    const provider = ipasis({ apiKey: API_KEY, baseUrl: sim.url, timeoutMs: 100 })
    const wrongProvider = ipasis({ apiKey: WRONG_KEY, baseUrl: sim.url, timeoutMs: 100 })
    for (const fault of [401, 403, 429, 500, 503, 'timeout', 'reset', 'malformed-json', 'wrong-schema'] as const) {
      const ip = freshIp(sim)
      sim.setFault(fault, { ip, times: 1 })
      await provider.lookup(ip, AbortSignal.timeout(1_000)).catch((error: unknown) => providerErrors.push(error))
    }
    await wrongProvider.lookup(freshIp(sim), AbortSignal.timeout(1_000)).catch((error: unknown) => providerErrors.push(error))
    await provider.lookup('not an ip', AbortSignal.timeout(1_000)).catch((error: unknown) => providerErrors.push(error))

    const corpus: Corpus = [
      { label: 'pino output', text: pino.text() },
      ...events.map((event, i) => ({ label: `hook event ${String(i)}`, text: `${JSON.stringify(event)}\n${deep(event)}` })),
      ...replyCorpus('good', replies),
      ...replyCorpus('wrong-key', wrongReplies),
      ...[...good.trpcErrors, ...wrong.trpcErrors].map((error, i) => ({ label: `tRPC onError ${String(i)}`, text: deep(error) })),
      ...providerErrors.map((error, i) => ({
        label: `provider error ${String(i)}`,
        text: `${deep(error)}\n${String(error)}\n${JSON.stringify(error)}\n${(error as Error).stack ?? ''}`,
      })),
      { label: 'provider object', text: deep(provider) },
      { label: 'resolver object', text: deep(good.resolver) },
      { label: 'console.warn', text: deep(consoleWarn.mock.calls) },
    ]

    // The corpus is not empty (else the test below could not fail): every situation left its trace.
    const lines = pino.lines()
    expect(lines.filter((l) => l.msg === 'iprisk decision')).toHaveLength(FAULTS.length * 2 + 4)
    expect(events.length).toBeGreaterThanOrEqual(FAULTS.length * 2 + 4)
    expect(good.trpcErrors.length).toBeGreaterThanOrEqual(1) // the blocked Tor call (IpRiskBlockedError cause)
    expect(providerErrors).toHaveLength(11)
    expect(sim.requests.some((r) => r.auth === 'bearer')).toBe(true)
    // The auth failures were reported: once per resolver (the right key refused by a 401 fault, then the wrong key),
    // through the logger, never on the console.
    const configErrors = lines.filter((l) => l.event === 'config_error')
    expect(configErrors.map((l) => [l.level, l.option])).toStrictEqual([
      [40, 'provider.apiKey'],
      [40, 'provider.apiKey'],
    ])
    expect(consoleWarn).not.toHaveBeenCalled()
    // And the scanner finds a key when there is one.
    expect(leaks([{ label: 'canary', text: `Bearer ${API_KEY}` }])).toStrictEqual(['canary'])

    expect(leaks(corpus)).toStrictEqual([])
  })
})

describe('without a logger, iprisk prints nothing but one warning per configuration problem', () => {
  /** Spies on every way of printing; they swallow the output. */
  function spyOnOutput(): Record<string, MockInstance> {
    const spies: Record<string, MockInstance> = {}
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      spies[`console.${method}`] = vi.spyOn(console, method).mockImplementation(() => undefined)
    }
    spies['process.stdout.write'] = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    spies['process.stderr.write'] = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    return spies
  }

  /** What was printed: calls per output, and the text of each `console.warn`. */
  interface Output {
    counts: Record<string, number>
    warnings: string[]
  }

  /** Read the spies (before they are restored, which may reset them). */
  function snapshot(spies: Record<string, MockInstance>): Output {
    return {
      counts: Object.fromEntries(Object.entries(spies).map(([name, spy]) => [name, spy.mock.calls.length])),
      warnings: (spies['console.warn']?.mock.calls ?? []).map((args) => args.map(String).join(' ')),
    }
  }

  it('allows, blocks and every fault through both adapters: the rejected key is reported once, on console.warn', async () => {
    const stack = await stackWith({})
    const spies = spyOnOutput()
    let printed: Output
    try {
      await driveAll(stack)
      await afterHooks()
    } finally {
      printed = snapshot(spies)
      vi.restoreAllMocks()
    }
    expect(printed.counts).toStrictEqual({
      'console.log': 0,
      'console.info': 0,
      'console.warn': 1,
      'console.error': 0,
      'console.debug': 0,
      'console.trace': 0,
      'process.stdout.write': 0,
      'process.stderr.write': 0,
    })
    expect(printed.warnings).toHaveLength(1)
    expect(printed.warnings[0]).toMatch(/^iprisk: configuration problem with `provider\.apiKey`: .*401/)
    expect(leaks([{ label: 'warning', text: deep(printed.warnings) }])).toStrictEqual([])
  })

  it('an unreachable Redis (shared cache): requests are answered, and one warning names `cache`', async () => {
    // The default budget: each lookup first spends up to cache.l2TimeoutMs (50 ms) on the failing L2 read.
    // Block propagation off: its own warning (`degraded`, blocks_not_propagating) comes on its reader's schedule, and is
    // tested in test/fleet/propagation-faults.test.ts.
    const stack = await stackWith({ cache: { l2: 'redis://127.0.0.1:1', propagateBlocks: false }, budget: { timeoutMs: 1_500 } })
    const spies = spyOnOutput()
    let printed: Output
    try {
      let i = 0
      const request = async (): Promise<void> => {
        const caller = { ip: freshIp(sim, i % 2 === 0 ? 'clean' : 'tor'), ua: LONG_UA }
        const reply =
          i % 2 === 0
            ? await trpcMutation(stack.trpc, 'signup', caller, { email: 'ada@example.com' })
            : await graphqlPost(stack.graphql, operations.signup, caller)
        expect(reply.status).toBe(i % 2 === 0 ? 200 : 403)
        i++
      }
      // L2 reads start once @keyv/redis has loaded (in the background, slower on a cold start); the L2 breaker opens
      // after a few failed reads and the warning is printed then. Every request meanwhile is answered.
      await vi.waitFor(
        async () => {
          await request()
          expect(snapshot(spies).counts['console.warn']).toBeGreaterThan(0)
        },
        { timeout: 10_000, interval: 20 },
      )
      // Later requests skip L2 and print nothing more.
      for (let more = 0; more < 6; more++) await request()
      await afterHooks()
    } finally {
      printed = snapshot(spies)
      vi.restoreAllMocks()
    }
    expect(printed.counts).toStrictEqual({
      'console.log': 0,
      'console.info': 0,
      'console.warn': 1,
      'console.error': 0,
      'console.debug': 0,
      'console.trace': 0,
      'process.stdout.write': 0,
      'process.stderr.write': 0,
    })
    expect(printed.warnings).toHaveLength(1)
    expect(printed.warnings[0]).toMatch(/^iprisk: configuration problem with `cache\.l2`: /)
  })

  it('X-Forwarded-For from a loopback proxy while trustProxy is off: one warning names `trustProxy`', async () => {
    const stack = await stackWith({ trustProxy: false })
    const spies = spyOnOutput()
    let printed: Output
    try {
      for (let i = 0; i < 2; i++) {
        const caller = { ip: freshIp(sim, 'tor'), ua: LONG_UA }
        // Every client looks like the proxy (127.0.0.1, not a global address): nothing is looked up or blocked.
        expect((await trpcMutation(stack.trpc, 'signup', caller, { email: 'ada@example.com' })).status).toBe(200)
        expect((await graphqlPost(stack.graphql, operations.signup, caller)).status).toBe(200)
      }
      await afterHooks()
    } finally {
      printed = snapshot(spies)
      vi.restoreAllMocks()
    }
    expect(printed.counts).toStrictEqual({
      'console.log': 0,
      'console.info': 0,
      'console.warn': 1,
      'console.error': 0,
      'console.debug': 0,
      'console.trace': 0,
      'process.stdout.write': 0,
      'process.stderr.write': 0,
    })
    expect(printed.warnings[0]).toMatch(/^iprisk: protection degraded \(untrusted_proxy\): .*`trustProxy`/)
  })
})
