/**
 * `guard(policy)`: iprisk inside a middleware of the app's own (no extra middleware level), through real HTTP. It must
 * decide exactly like the gate with the same policy, honour path and meta policies, and fail the same way.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { IpRiskBlockedError, IpRiskConfigError, policies, type Policy } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskResult, type IpRiskMeta } from '../../src/trpc/index.js'
import { clientFor, createFixture, ips, outcome, serveStandalone, type Fixture, type Profile, type Served } from './helpers.js'

interface Ctx {
  req: IncomingMessage
}

function buildRouter(f: Fixture) {
  const t = initTRPC.context<Ctx>().meta<IpRiskMeta>().create()
  const trpcRisk = createTrpcRisk(f.resolver, { pathPolicies: { 'admin.': policies.admin } })
  const guard70 = trpcRisk.guard(70)
  const guardHuman = trpcRisk.guard(policies.human)
  const annotate = trpcRisk.guard()
  // The app's own "authentication" middleware: signed in when the request says so (a stand-in for a session).
  const signedIn = (ctx: Ctx) => ctx.req.headers['x-user'] === 'ada'
  const answer = ({ ctx }: { ctx: { ipRisk: IpRiskResult | null; user: string | null } }) => ({
    user: ctx.user,
    score: ctx.ipRisk?.score ?? null,
    reason: ctx.ipRisk?.decision?.reason ?? null,
  })
  const authedGuard70 = t.procedure.use(async (opts) => {
    const ipRisk = await guard70(opts)
    return opts.next({ ctx: { ipRisk, user: signedIn(opts.ctx) ? 'ada' : null } })
  })
  const anonymousMustBeHuman = t.procedure.use(async (opts) => {
    const user = signedIn(opts.ctx) ? 'ada' : null
    const ipRisk = user === null ? await guardHuman(opts) : null
    return opts.next({ ctx: { ipRisk, user } })
  })
  const annotated = t.procedure.use(async (opts) => opts.next({ ctx: { ipRisk: await annotate(opts), user: null } }))
  return t.router({
    guarded: authedGuard70.query(answer),
    gated: t.procedure.use(trpcRisk.riskGate(70)).query(({ ctx }) => ({ user: null, score: ctx.ipRisk.score, reason: ctx.ipRisk.decision?.reason ?? null })),
    signup: anonymousMustBeHuman.mutation(answer),
    open: annotated.query(answer),
    strictMeta: annotated.meta({ ipRisk: { blockVpn: true } }).query(answer),
    admin: t.router({
      stats: annotated.query(answer),
      webhook: annotated.meta({ ipRisk: { skip: true } }).query(answer),
    }),
  })
}
type Router = ReturnType<typeof buildRouter>

let f: Fixture
let served: Served
beforeAll(async () => {
  f = await createFixture()
  served = await serveStandalone(buildRouter(f))
})
afterAll(async () => {
  await served.close()
  await f.close()
})

/** `'ok'` or the reason of the `IpRiskBlockedError` the server saw. */
async function verdict(call: (client: ReturnType<typeof clientFor<Router>>) => Promise<unknown>, profile: Profile, headers: Record<string, string> = {}) {
  const client = clientFor<Router>(served.url, ips[profile], { batch: false, headers })
  const before = served.errors.length
  const result = await outcome(() => call(client))
  if (result === 'ok') return 'ok'
  expect(result).toBe('FORBIDDEN 403')
  const error = served.errors[before] as { message: string; cause?: unknown }
  expect(error.message).toBe('Request blocked')
  expect(error.cause).toBeInstanceOf(IpRiskBlockedError)
  return (error.cause as IpRiskBlockedError).reason
}

const profiles: Profile[] = ['clean', 'vpn', 'proxy', 'datacenter', 'tor', 'highRisk']

describe('guard(70) inside an app middleware decides like riskGate(70)', () => {
  test.each(profiles)('a %s caller', async (profile) => {
    const viaGate = await verdict((c) => c.gated.query(), profile)
    const viaGuard = await verdict((c) => c.guarded.query(), profile)
    expect(viaGuard).toBe(viaGate)
    expect(viaGuard).toBe(profile === 'tor' || profile === 'highRisk' ? 'risk_score_exceeded' : 'ok')
  })

  test('an allowed call gets the same ctx.ipRisk as through the gate', async () => {
    const client = clientFor<Router>(served.url, ips.datacenter)
    await expect(client.guarded.query()).resolves.toEqual({ user: null, score: 55, reason: 'clean' })
    await expect(client.gated.query()).resolves.toEqual({ user: null, score: 55, reason: 'clean' })
  })
})

describe('the app decides when to call it', () => {
  test.each([
    ['an anonymous Tor caller is blocked', 'tor', {}, 'tor_exit_node'],
    ['a signed-in Tor caller is not checked', 'tor', { 'x-user': 'ada' }, 'ok'],
    ['an anonymous clean caller passes', 'clean', {}, 'ok'],
  ] as const)('%s', async (_name, profile, headers, expected) => {
    expect(await verdict((c) => c.signup.mutate(), profile, headers)).toBe(expected)
  })
})

describe('guard() without a policy annotates, and path and meta policies still apply', () => {
  test.each([
    ['open: nothing to enforce', (c: Client) => c.open.query(), 'vpn', 'ok'],
    ['meta { blockVpn: true }', (c: Client) => c.strictMeta.query(), 'vpn', 'vpn_detected'],
    ["pathPolicies 'admin.': policies.admin", (c: Client) => c.admin.stats.query(), 'vpn', 'vpn_detected'],
    ['meta { skip: true } exempts from the path policy', (c: Client) => c.admin.webhook.query(), 'vpn', 'ok'],
    ['open: a Tor caller is annotated, not blocked', (c: Client) => c.open.query(), 'tor', 'ok'],
  ] as const)('%s', async (_name, call, profile, expected) => {
    expect(await verdict(call, profile)).toBe(expected)
  })

  test('the annotation carries the risk and no decision', async () => {
    await expect(clientFor<Router>(served.url, ips.tor).open.query()).resolves.toEqual({ user: null, score: 92, reason: null })
  })
})
type Client = ReturnType<typeof clientFor<Router>>

describe('reports', () => {
  test('a guard decision is reported like a gate decision', async () => {
    const before = f.reports.length
    await outcome(() => clientFor<Router>(served.url, ips.tor, { headers: { 'user-agent': 'guard-test/1' } }).guarded.query())
    expect(f.reports.slice(before).map((r) => [r.info, r.decision.policy.name, r.decision.reason])).toEqual([
      [{ adapter: 'trpc', path: 'guarded', method: 'query', userAgent: 'guard-test/1', request: expect.any(Object) }, 'lowRisk(70)', 'risk_score_exceeded'],
    ])
  })
})

describe('bad input', () => {
  const bad: [string, () => unknown, string][] = [
    ['guard(101)', () => createTrpcRisk(f.resolver).guard(101), 'guard.threshold'],
    ['guard("70")', () => createTrpcRisk(f.resolver).guard('70' as unknown as number), 'guard'],
    ['guard({ treshold })', () => createTrpcRisk(f.resolver).guard({ treshold: 70 } as Policy), 'guard.treshold'],
  ]
  test.each(bad)('%s throws IpRiskConfigError naming the option, at creation', (_name, create, option) => {
    expect(create).toThrow(expect.objectContaining({ name: 'IpRiskConfigError', option }))
  })

  test.each([
    ['nothing', undefined],
    ['a string', 'opts'],
    ['an object without a path', { ctx: {} }],
    ['an object without a context', { path: 'x', type: 'query' }],
    ['a null context', { ctx: null, path: 'x', type: 'query' }],
  ])('called with %s instead of the middleware options, it rejects with IpRiskConfigError', async (_name, call) => {
    await expect(createTrpcRisk(f.resolver).guard(70)(call as never)).rejects.toBeInstanceOf(IpRiskConfigError)
  })

  test('a call without a request (server-side) gets the fail mode, not a crash', async () => {
    const ipRisk = await createTrpcRisk(f.resolver).guard(70)({ ctx: {}, path: 'x', type: 'query' })
    expect(ipRisk).toMatchObject({ ip: null, decision: { action: 'allow', reason: 'lookup_unavailable', failOpen: true } })
  })
})
