/**
 * Every gate and preset through real HTTP (standalone adapter, typed @trpc/client): who passes, who is blocked, why,
 * and what a blocked client receives.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { IpRiskBlockedError, policies, type Policy } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'
import { clientFor, createFixture, ips, outcome, raw, serveStandalone, type Fixture, type Profile, type Served } from './helpers.js'

function buildRouter(f: Fixture) {
  const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
  const { withIpRisk, riskGate, requireHuman, requireNotBot, adminGate } = createTrpcRisk(f.resolver)
  const show = t.procedure.use(withIpRisk())
  const answer = <P extends { ctx: { ipRisk: { score: number | null; decision: { reason: string } | null } } }>({ ctx }: P) => ({
    score: ctx.ipRisk.score,
    reason: ctx.ipRisk.decision?.reason ?? null,
  })
  return t.router({
    open: show.query(answer),
    gate70: t.procedure.use(riskGate(70)).query(answer),
    mixin: t.procedure.use(riskGate({ threshold: 70, blockVpn: true, blockDatacenter: true })).query(answer),
    human: t.procedure.use(requireHuman()).query(answer),
    humanNoVpn: t.procedure.use(requireHuman({ blockVpn: true })).query(answer),
    notBot: t.procedure.use(requireNotBot()).query(answer),
    admin: t.procedure.use(adminGate()).query(answer),
    adminPreset: t.procedure.use(riskGate(policies.admin)).query(answer),
    mutate: show.use(riskGate(70)).mutation(answer),
  })
}
type Router = ReturnType<typeof buildRouter>
type Gate = Exclude<keyof Router, '_def' | 'createCaller'>

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

/** `'ok'` or the block reason (read from the `IpRiskBlockedError` cause the server saw). */
async function verdict(gate: Gate, profile: Profile): Promise<string> {
  const client = clientFor<Router>(served.url, ips[profile], { batch: false })
  const before = served.errors.length
  const result = await outcome(() => (gate === 'mutate' ? client.mutate.mutate() : client[gate].query()))
  if (result === 'ok') return 'ok'
  expect(result).toBe('FORBIDDEN 403')
  expect(served.errors.length).toBe(before + 1)
  const error = served.errors.at(-1) as { cause?: unknown }
  expect(error.cause).toBeInstanceOf(IpRiskBlockedError)
  return (error.cause as IpRiskBlockedError).reason
}

// Simulator scores: clean 5, vpn 45 (VPN), proxy 60 (proxy), datacenter 55 (datacenter), tor 92 (Tor), highRisk 97.
const table: [Gate, Record<Profile, string>][] = [
  ['open', { clean: 'ok', vpn: 'ok', proxy: 'ok', datacenter: 'ok', tor: 'ok', highRisk: 'ok' }],
  [
    'gate70',
    { clean: 'ok', vpn: 'ok', proxy: 'ok', datacenter: 'ok', tor: 'risk_score_exceeded', highRisk: 'risk_score_exceeded' },
  ],
  [
    'mixin',
    {
      clean: 'ok',
      vpn: 'vpn_detected',
      proxy: 'ok',
      datacenter: 'datacenter_ip',
      tor: 'risk_score_exceeded',
      highRisk: 'risk_score_exceeded',
    },
  ],
  ['human', { clean: 'ok', vpn: 'ok', proxy: 'ok', datacenter: 'ok', tor: 'tor_exit_node', highRisk: 'risk_score_exceeded' }],
  [
    'humanNoVpn',
    { clean: 'ok', vpn: 'vpn_detected', proxy: 'ok', datacenter: 'ok', tor: 'tor_exit_node', highRisk: 'risk_score_exceeded' },
  ],
  ['notBot', { clean: 'ok', vpn: 'ok', proxy: 'ok', datacenter: 'ok', tor: 'tor_exit_node', highRisk: 'risk_score_exceeded' }],
  [
    'admin',
    {
      clean: 'ok',
      vpn: 'vpn_detected',
      proxy: 'risk_score_exceeded',
      datacenter: 'datacenter_ip',
      tor: 'tor_exit_node',
      highRisk: 'risk_score_exceeded',
    },
  ],
  [
    'adminPreset',
    {
      clean: 'ok',
      vpn: 'vpn_detected',
      proxy: 'risk_score_exceeded',
      datacenter: 'datacenter_ip',
      tor: 'tor_exit_node',
      highRisk: 'risk_score_exceeded',
    },
  ],
  ['mutate', { clean: 'ok', vpn: 'ok', proxy: 'ok', datacenter: 'ok', tor: 'risk_score_exceeded', highRisk: 'risk_score_exceeded' }],
]

describe.each(table)('%s', (gate, expected) => {
  test.each(Object.keys(expected) as Profile[])(`a %s caller gets the expected verdict`, async (profile) => {
    expect(await verdict(gate, profile)).toBe(expected[profile])
  })
})

describe('what a caller sees', () => {
  test('an allowed call reads the risk and the gate decision on ctx.ipRisk', async () => {
    const client = clientFor<Router>(served.url, ips.datacenter)
    await expect(client.human.query()).resolves.toEqual({ score: 55, reason: 'clean' })
    await expect(client.open.query()).resolves.toEqual({ score: 55, reason: null })
  })

  test('a blocked call is HTTP 403 FORBIDDEN with a generic message, and neither score, flags nor reason', async () => {
    const { status, json } = await raw(`${served.url}/human`, { ip: ips.tor })
    expect(status).toBe(403)
    const error = (json as { error: { message: string; code: number; data: Record<string, unknown> } }).error
    const { stack, ...data } = error.data
    expect({ message: error.message, code: error.code, data }).toEqual({
      message: 'Request blocked',
      code: -32003,
      data: { code: 'FORBIDDEN', httpStatus: 403, path: 'human' },
    })
    const everything = JSON.stringify({ ...error, data })
    for (const secret of ['tor_exit_node', 'score', 'isTor', '92', ips.tor, 'Hetzner']) {
      expect(everything).not.toContain(secret)
    }
    if (typeof stack === 'string') {
      expect(stack).not.toContain('tor_exit_node')
      expect(stack).not.toContain('score')
    }
  })

  test('a blocked call in a batch fails alone: the other calls of the batch succeed', async () => {
    const client = clientFor<Router>(served.url, ips.vpn)
    const results = await Promise.all([
      outcome(() => client.open.query()),
      outcome(() => client.humanNoVpn.query()),
      outcome(() => client.gate70.query()),
    ])
    expect(results).toEqual(['ok', 'FORBIDDEN 403', 'ok'])
  })

  test('the blocked error carries the decision for an errorFormatter (cause: IpRiskBlockedError)', async () => {
    const before = served.errors.length
    await outcome(() => clientFor<Router>(served.url, ips.highRisk).admin.query())
    const error = served.errors[before] as { code: string; message: string; cause: IpRiskBlockedError }
    expect(error.code).toBe('FORBIDDEN')
    expect(error.message).toBe('Request blocked')
    expect(error.cause.decision).toMatchObject({
      action: 'block',
      reason: 'risk_score_exceeded',
      policy: { name: 'admin' },
      risk: { ip: ips.highRisk, score: 97 },
    })
  })
})

describe('gate policies are compiled at creation', () => {
  const bad: [string, () => unknown, string][] = [
    ['riskGate(NaN)', () => createTrpcRisk(f.resolver).riskGate(Number.NaN), 'riskGate.threshold'],
    ['riskGate(101)', () => createTrpcRisk(f.resolver).riskGate(101), 'riskGate.threshold'],
    ['riskGate("70")', () => createTrpcRisk(f.resolver).riskGate('70' as unknown as number), 'riskGate'],
    ['riskGate({ treshold })', () => createTrpcRisk(f.resolver).riskGate({ treshold: 70 } as Policy), 'riskGate.treshold'],
    ['requireHuman({ blockVpn: "yes" })', () => createTrpcRisk(f.resolver).requireHuman({ blockVpn: 'yes' as unknown as boolean }), 'requireHuman.blockVpn'],
    ['requireNotBot(5)', () => createTrpcRisk(f.resolver).requireNotBot(5 as unknown as Policy), 'requireNotBot'],
    ['adminGate({ threshold: -1 })', () => createTrpcRisk(f.resolver).adminGate({ threshold: -1 }), 'adminGate.threshold'],
    ['withIpRisk({ wait: 1 })', () => createTrpcRisk(f.resolver).withIpRisk({ wait: 1 as unknown as boolean }), 'withIpRisk.wait'],
    ['withIpRisk({ wiat })', () => createTrpcRisk(f.resolver).withIpRisk({ wiat: false } as never), 'withIpRisk.wiat'],
  ]
  test.each(bad)('%s throws IpRiskConfigError naming the option', (_name, create, option) => {
    expect(create).toThrow(expect.objectContaining({ name: 'IpRiskConfigError', option }))
  })

  test('overrides keep the preset and change only what they name', async () => {
    const t = initTRPC.context<{ req: IncomingMessage }>().create()
    const { requireHuman } = createTrpcRisk(f.resolver)
    const router = t.router({
      lenient: t.procedure.use(requireHuman({ threshold: 95, name: 'lenient' })).query(({ ctx }) => ctx.ipRisk.decision),
    })
    const caller = t.createCallerFactory(router)({ req: fakeReq(ips.highRisk) })
    // 97 >= 95 still blocks; Tor is still blocked through the preset's blockTor.
    await expect(caller.lenient()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const tor = t.createCallerFactory(router)({ req: fakeReq(ips.tor) })
    await expect(tor.lenient()).rejects.toMatchObject({ cause: { reason: 'tor_exit_node', decision: { policy: { name: 'lenient' } } } })
    const proxy = t.createCallerFactory(router)({ req: fakeReq(ips.proxy) })
    await expect(proxy.lenient()).resolves.toMatchObject({ action: 'allow', reason: 'clean', policy: { name: 'lenient', threshold: 95, blockTor: true } })
  })
})

/** A Node-request-shaped object whose socket peer is `ip` (server-side calls). */
function fakeReq(ip: string): IncomingMessage {
  return { headers: {}, socket: { remoteAddress: ip } } as unknown as IncomingMessage
}
