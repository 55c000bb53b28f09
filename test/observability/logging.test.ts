/**
 * Logging and hooks end to end, over real HTTP through both adapters: a real pino logger writing JSON lines to memory
 * (levels, message, nothing but the event's fields), `sampleAllows`, and hooks or loggers that throw, reject or never
 * settle: every request still answers as it would without them, and without waiting for them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { RiskResolverOptions, SecurityEvent } from '../../src/core/index.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import {
  LONG_UA,
  afterHooks,
  freshIp,
  graphqlPost,
  isGraphqlBlocked,
  isTrpcForbidden,
  memoryPino,
  operations,
  recordingHooks,
  resolverFor,
  startSimulator,
  startStack,
  trpcMutation,
  trpcQuery,
  type Reply,
  type Stack,
} from './helpers.js'

let sim: IpasisSimulator
const stacks: Stack[] = []

beforeAll(async () => {
  sim = await startSimulator()
})
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})
afterAll(async () => {
  await sim.close()
})

async function stackWith(options: Partial<RiskResolverOptions>, monitor = false): Promise<Stack> {
  const stack = await startStack(resolverFor(sim, options), { monitor })
  stacks.push(stack)
  return stack
}

/** The fields of a security event, in the order `securityEvent` writes them. */
const EVENT_KEYS = [
  'timestamp', 'event', 'action', 'reason', 'fail_open', 'policy', 'ip', 'path', 'method', 'operation_name', 'adapter',
  'risk_score', 'is_vpn', 'is_proxy', 'is_tor', 'is_datacenter', 'country', 'asn', 'isp', 'user_agent', 'cached',
  'lookup_ms', 'monitored', 'status', 'error', 'count',
]
/** What pino adds to every line (with `name: 'iprisk'`). */
const PINO_KEYS = ['level', 'time', 'pid', 'hostname', 'name', 'msg']

type Kind = 'allow' | 'block' | 'monitor'

/** One request of each kind through one adapter; returns the replies, checked for the expected outcome. */
async function drive(stack: Stack, adapter: 'trpc' | 'graphql', kind: Kind, ip: string): Promise<Reply> {
  const caller = { ip, ua: LONG_UA }
  if (adapter === 'trpc') {
    const reply =
      kind === 'monitor'
        ? await trpcQuery(stack.trpcMonitor, 'admin.stats', caller)
        : await trpcMutation(stack.trpc, 'signup', caller, { email: 'ada@example.com' })
    if (kind === 'block') expect(isTrpcForbidden(reply)).toBe(true)
    else expect(reply.status).toBe(200)
    return reply
  }
  const reply = await graphqlPost(kind === 'monitor' ? stack.graphqlMonitor : stack.graphql, operations.signup, caller)
  if (kind === 'block') expect(isGraphqlBlocked(reply)).toBe(true)
  else expect(reply.json).toStrictEqual({ data: { signup: { __typename: 'User' } } })
  return reply
}

const ADAPTERS = ['trpc', 'graphql'] as const

describe('a real pino logger (JSON lines)', () => {
  it.each(ADAPTERS)('%s: one line per decision: allow at level 30, block and monitored would-block at 40', async (adapter) => {
    const pino = memoryPino()
    const stack = await stackWith({ logger: pino.logger }, true)
    await drive(stack, adapter, 'allow', freshIp(sim, 'clean'))
    await drive(stack, adapter, 'block', freshIp(sim, 'tor'))
    await drive(stack, adapter, 'monitor', freshIp(sim, 'tor'))

    const text = pino.text()
    expect(text.endsWith('\n')).toBe(true)
    const lines = text.slice(0, -1).split('\n')
    expect(lines).toHaveLength(3)
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(parsed.map((l) => [l.level, l.msg, l.action, l.reason, l.adapter])).toStrictEqual([
      [30, 'iprisk decision', 'allow', 'clean', adapter],
      [40, 'iprisk decision', 'block', 'tor_exit_node', adapter],
      [40, 'iprisk decision', 'monitor', 'tor_exit_node', adapter],
    ])
    // Exactly pino's keys and the event's: no header dump, no request object, no key.
    for (const line of parsed) expect(Object.keys(line).sort()).toStrictEqual([...PINO_KEYS, ...EVENT_KEYS].sort())
  })

  it('without a logger, decisions still reach the hooks', async () => {
    const { hooks, received } = recordingHooks()
    const stack = await stackWith({ ...hooks })
    await drive(stack, 'trpc', 'block', freshIp(sim, 'tor'))
    await drive(stack, 'graphql', 'allow', freshIp(sim, 'clean'))
    await afterHooks()
    expect(received.onDecision.map((e) => [e.adapter, e.action])).toStrictEqual([
      ['trpc', 'block'],
      ['graphql', 'allow'],
    ])
    expect(received.onBlock.map((e) => e.adapter)).toStrictEqual(['trpc'])
  })
})

describe('sampleAllows', () => {
  interface Row {
    name: string
    sampleAllows: number | undefined
    /** Math.random's value for this row (only read for fractions strictly between 0 and 1). */
    random?: number
    /** Allows expected in the log and in onDecision, of the 6 sent (3 per adapter). */
    allowsEmitted: number
  }
  const rows: Row[] = [
    { name: 'default (1): every allow is emitted', sampleAllows: undefined, allowsEmitted: 6 },
    { name: '1: every allow is emitted', sampleAllows: 1, allowsEmitted: 6 },
    { name: '0: no allow is emitted (only blocks and would-blocks)', sampleAllows: 0, allowsEmitted: 0 },
    { name: '0.5, random draw 0.25 (< 0.5): the allow is emitted', sampleAllows: 0.5, random: 0.25, allowsEmitted: 6 },
    { name: '0.5, random draw 0.75 (>= 0.5): the allow is dropped', sampleAllows: 0.5, random: 0.75, allowsEmitted: 0 },
  ]

  it.each(rows)('$name; blocks, would-blocks, onBlock and onHighRisk are never sampled', async (row) => {
    if (row.random !== undefined) vi.spyOn(Math, 'random').mockReturnValue(row.random)
    const pino = memoryPino()
    const { hooks, received } = recordingHooks()
    const stack = await stackWith({
      logger: pino.logger,
      ...hooks,
      ...(row.sampleAllows === undefined ? {} : { sampleAllows: row.sampleAllows }),
    }, true)
    for (const adapter of ADAPTERS) {
      for (let i = 0; i < 3; i++) await drive(stack, adapter, 'allow', freshIp(sim, 'clean'))
      await drive(stack, adapter, 'block', freshIp(sim, 'high-risk')) // score 97: also onHighRisk
      await drive(stack, adapter, 'monitor', freshIp(sim, 'tor'))
    }
    await afterHooks()

    const lines = pino.lines()
    const count = (action: string) => lines.filter((l) => l.action === action).length
    expect([count('allow'), count('block'), count('monitor')]).toStrictEqual([row.allowsEmitted, 2, 2])
    expect(lines.filter((l) => l.action === 'allow').every((l) => l.level === 30)).toBe(true)
    expect(lines.filter((l) => l.action !== 'allow').every((l) => l.level === 40)).toBe(true)

    const actions = (events: SecurityEvent[]) => events.map((e) => e.action).sort()
    expect(actions(received.onDecision)).toStrictEqual(
      [...Array<string>(row.allowsEmitted).fill('allow'), 'block', 'block', 'monitor', 'monitor'].sort(),
    )
    expect(actions(received.onBlock)).toStrictEqual(['block', 'block'])
    expect(received.onHighRisk.map((e) => e.risk_score)).toStrictEqual([97, 97])
  })
})

describe('hooks that fail or hang never break or delay a request', () => {
  type Mode = 'throws' | 'rejects' | 'never settles'
  const MODES: Mode[] = ['throws', 'rejects', 'never settles']

  /** All three hooks misbehaving the same way, counting their calls and whether any returned promise settled. */
  function misbehaving(mode: Mode) {
    const calls = { onDecision: 0, onBlock: 0, onHighRisk: 0 }
    const state = { settled: 0 }
    const make = (name: keyof typeof calls) => (): void | Promise<void> => {
      calls[name]++
      if (mode === 'throws') throw new Error(`${name} exploded`)
      if (mode === 'rejects') return Promise.reject(new Error(`${name} rejected`))
      return new Promise<void>(() => undefined).finally(() => void state.settled++)
    }
    return {
      calls,
      state,
      hooks: { onDecision: make('onDecision'), onBlock: make('onBlock'), onHighRisk: make('onHighRisk') },
    }
  }

  it.each(MODES)('every hook %s: both adapters answer exactly as without hooks', async (mode) => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const pino = memoryPino()
      const bad = misbehaving(mode)
      const stack = await stackWith({ logger: pino.logger, ...bad.hooks })

      // Each adapter: a block scoring 97 (all three hooks), then 5 allows (onDecision).
      for (const adapter of ADAPTERS) {
        const blocked = await drive(stack, adapter, 'block', freshIp(sim, 'high-risk'))
        expect(blocked.status).toBe(403)
        const ip = freshIp(sim, 'clean')
        for (let i = 0; i < 5; i++) await drive(stack, adapter, 'allow', ip)
      }
      await vi.waitFor(() => expect(bad.calls).toStrictEqual({ onDecision: 12, onBlock: 2, onHighRisk: 2 }))
      await afterHooks()

      // Every response arrived while the hooks' promises were (and still are) pending.
      expect(bad.state.settled).toBe(0)
      const failures = pino.lines().filter((l) => l.level === 50)
      if (mode === 'never settles') {
        expect(failures).toStrictEqual([])
      } else {
        // Logged once per hook per minute (the later failures are counted, then reported with the next line).
        expect(failures.map((l) => [l.msg, l.hook, l.suppressed, (l.err as { message?: string }).message])).toStrictEqual([
          ['iprisk onDecision hook failed', 'onDecision', 0, `onDecision ${mode === 'throws' ? 'exploded' : 'rejected'}`],
          ['iprisk onBlock hook failed', 'onBlock', 0, `onBlock ${mode === 'throws' ? 'exploded' : 'rejected'}`],
          ['iprisk onHighRisk hook failed', 'onHighRisk', 0, `onHighRisk ${mode === 'throws' ? 'exploded' : 'rejected'}`],
        ])
      }
      // Decision lines are unaffected: 2 blocks and 10 allows.
      expect(pino.lines().filter((l) => l.msg === 'iprisk decision')).toHaveLength(12)
      await afterHooks()
      expect(unhandled).toStrictEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a hook that never settles does not hold later requests: 20 sequential requests all answer', async () => {
    const pending = { count: 0 }
    const stack = await stackWith({
      onDecision: () => {
        pending.count++
        return new Promise<void>(() => undefined)
      },
    })
    const ip = freshIp(sim, 'clean')
    for (let i = 0; i < 10; i++) {
      await drive(stack, 'trpc', 'allow', ip)
      await drive(stack, 'graphql', 'allow', ip)
    }
    await vi.waitFor(() => expect(pending.count).toBe(20))
  })
})

describe('a logger that throws never breaks a request', () => {
  it.each(ADAPTERS)('%s: logger.info / logger.warn throwing: answers are unchanged and hooks still fire', async (adapter) => {
    const { hooks, received } = recordingHooks()
    const throwing = {
      info: () => {
        throw new Error('disk full')
      },
      warn: () => {
        throw new Error('disk full')
      },
    }
    const stack = await stackWith({ logger: throwing, ...hooks }, true)
    await drive(stack, adapter, 'allow', freshIp(sim, 'clean'))
    await drive(stack, adapter, 'block', freshIp(sim, 'tor'))
    await drive(stack, adapter, 'monitor', freshIp(sim, 'tor'))
    await afterHooks()
    expect(received.onDecision.map((e) => e.action)).toStrictEqual(['allow', 'block', 'monitor'])
  })
})
