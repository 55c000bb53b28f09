/**
 * Path policies, `.meta({ ipRisk })`, their precedence with gates, monitor mode, reporting and start-up validation,
 * through real HTTP on the standalone adapter.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { IpRiskBlockedError, IpRiskConfigError, policies, type Policy } from '../../src/core/index.js'
import { createTrpcRisk, type IpRiskMeta, type TrpcRiskOptions } from '../../src/trpc/index.js'
import { clientFor, createFixture, ips, outcome, raw, serveStandalone, type Fixture, type Profile } from './helpers.js'

let f: Fixture
beforeAll(async () => {
  f = await createFixture()
})
afterAll(() => f.close())
beforeEach(() => {
  f.reports.length = 0
})

function buildRouter(options: TrpcRiskOptions) {
  const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
  const { withIpRisk, riskGate, requireHuman } = createTrpcRisk(f.resolver, options)
  const base = t.procedure.use(withIpRisk())
  const answer = ({ ctx }: { ctx: { ipRisk: { decision: { reason: string; policy: Policy; monitored: boolean } | null } } }) =>
    ctx.ipRisk.decision === null
      ? null
      : { reason: ctx.ipRisk.decision.reason, policy: ctx.ipRisk.decision.policy.name ?? null, monitored: ctx.ipRisk.decision.monitored }
  return t.router({
    open: base.query(answer),
    administrator: base.query(answer),
    admin: t.router({
      stats: base.query(answer),
      health: base.meta({ ipRisk: { skip: true } }).query(answer),
      audit: t.router({ list: base.query(answer) }),
    }),
    billing: t.router({ refund: base.mutation(answer), view: base.query(answer) }),
    billingx: base.query(answer),
    metaHuman: base.meta({ ipRisk: policies.human }).query(answer),
    ordered: base
      .meta({ ipRisk: { name: 'meta', blockProxy: true } })
      .use(riskGate({ name: 'gate', threshold: 50 }))
      .query(answer),
    relaxed: t.procedure.use(riskGate({ name: 'gate', threshold: 50 })).meta({ ipRisk: { name: 'meta', threshold: 99 } }).query(answer),
    skippedGate: t.procedure.use(requireHuman()).meta({ ipRisk: { skip: true } }).query(answer),
    humanGate: t.procedure.use(requireHuman()).query(answer),
    monitoredGate: t.procedure.use(riskGate({ name: 'dry', threshold: 70, monitor: true })).query(answer),
  })
}
type Router = ReturnType<typeof buildRouter>

async function serve(options: TrpcRiskOptions) {
  const served = await serveStandalone(buildRouter(options))
  /** `who`: a demo profile, or an IP address. */
  const call = async (who: Profile | string, path: string, type: 'query' | 'mutation' = 'query'): Promise<unknown> => {
    const ip = who in ips ? ips[who as Profile] : who
    const client = clientFor<Router>(served.url, ip, { batch: false }) as unknown as Record<string, unknown>
    const proc = path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], client) as Record<
      'query' | 'mutate',
      () => Promise<unknown>
    >
    const before = served.errors.length
    try {
      return await (type === 'query' ? proc.query() : proc.mutate())
    } catch (error) {
      const result = await outcome(() => Promise.reject(error))
      const cause = (served.errors[before] as { cause?: unknown } | undefined)?.cause
      return cause instanceof IpRiskBlockedError
        ? `${result}: ${cause.reason} (${cause.decision.policy.name ?? 'unnamed'})`
        : result
    }
  }
  return { served, call }
}

describe('pathPolicies', () => {
  let s: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => {
    s = await serve({
      pathPolicies: {
        'admin.': policies.admin,
        'admin.audit.': { name: 'audit', threshold: 30 },
        billing: { name: 'billing', blockVpn: true },
        ordered: { name: 'path', blockDatacenter: true },
      },
    })
  })
  afterAll(() => s.served.close())

  const cases: [string, string, Profile, unknown][] = [
    ['protects a procedure under the prefix that only uses withIpRisk', 'admin.stats', 'vpn', 'FORBIDDEN 403: vpn_detected (admin)'],
    ['lets a clean caller through with the path decision on ctx', 'admin.stats', 'clean', { reason: 'clean', policy: 'admin', monitored: false }],
    ['applies the longest matching prefix only', 'admin.audit.list', 'datacenter', 'FORBIDDEN 403: risk_score_exceeded (audit)'],
    ['does not apply the shorter prefix when a longer one matches', 'admin.audit.list', 'clean', { reason: 'clean', policy: 'audit', monitored: false }],
    ['a key without a dot matches the procedures under that router', 'billing.view', 'vpn', 'FORBIDDEN 403: vpn_detected (billing)'],
    ['a key without a dot matches mutations under that router too', 'billing.refund', 'vpn', 'FORBIDDEN 403: vpn_detected (billing)'],
    ['a key does not match a longer sibling name (billingx)', 'billingx', 'vpn', null],
    ['"admin." does not match "administrator"', 'administrator', 'vpn', null],
    ['a procedure with no matching key has no decision', 'open', 'tor', null],
    ['meta skip exempts a procedure from the path policy', 'admin.health', 'tor', null],
  ]
  test.each(cases)('%s (%s, %s)', async (_name, path, profile, expected) => {
    const type = path === 'billing.refund' ? 'mutation' : 'query'
    expect(await s.call(profile, path, type)).toEqual(expected)
  })

  test('the skipped procedure reports nothing; a path decision is reported once per call', async () => {
    await s.call('tor', 'admin.health')
    expect(f.reports).toHaveLength(0)
    await s.call('clean', 'admin.stats')
    expect(f.reports.map((r) => r.decision.policy.name)).toEqual(['admin'])
  })

  test("'' matches every procedure", async () => {
    const all = await serve({ pathPolicies: { '': { name: 'everywhere', blockTor: true }, 'admin.': policies.admin } })
    try {
      expect(await all.call('tor', 'open')).toBe('FORBIDDEN 403: tor_exit_node (everywhere)')
      expect(await all.call('tor', 'billingx')).toBe('FORBIDDEN 403: tor_exit_node (everywhere)')
      expect(await all.call('vpn', 'admin.stats')).toBe('FORBIDDEN 403: vpn_detected (admin)')
      expect(await all.call('vpn', 'open')).toEqual({ reason: 'clean', policy: 'everywhere', monitored: false })
    } finally {
      await all.served.close()
    }
  })
})

describe('meta policies and precedence', () => {
  let s: Awaited<ReturnType<typeof serve>>
  /** A low-score datacenter proxy: blocked by both the path policy (datacenter) and the meta policy (proxy). */
  const BOTH = '203.0.113.70'
  beforeAll(async () => {
    f.sim.setProfile(BOTH, { score: 10, isDatacenter: true, isProxy: true, isVpn: false, isTor: false })
    s = await serve({ pathPolicies: { ordered: { name: 'path', blockDatacenter: true } } })
  })
  afterAll(() => s.served.close())

  test('a meta policy is enforced on a procedure that only uses withIpRisk', async () => {
    expect(await s.call('tor', 'metaHuman')).toBe('FORBIDDEN 403: tor_exit_node (human)')
    expect(await s.call('proxy', 'metaHuman')).toEqual({ reason: 'clean', policy: 'human', monitored: false })
  })

  // Order: path policy, then meta policy, then the gate's own policy. All must allow; the first block wins.
  const order: [Profile | string, unknown][] = [
    [BOTH, 'FORBIDDEN 403: datacenter_ip (path)'], // a datacenter proxy: the meta policy would block too, path comes first
    ['datacenter', 'FORBIDDEN 403: datacenter_ip (path)'], // the gate (55 >= 50) would block too: path comes first
    ['proxy', 'FORBIDDEN 403: proxy_detected (meta)'], // the gate (60 >= 50) would block too: meta comes before it
    ['highRisk', 'FORBIDDEN 403: risk_score_exceeded (gate)'],
    ['vpn', { reason: 'clean', policy: 'gate', monitored: false }], // ctx.ipRisk.decision is the gate's
  ]
  test.each(order)('path → meta → gate: a %s caller gets %j', async (profile, expected) => {
    expect(await s.call(profile, 'ordered')).toEqual(expected)
  })

  test('each policy of a call is evaluated and reported exactly once, although two iprisk middlewares ran', async () => {
    await s.call('vpn', 'ordered')
    expect(f.reports.map((r) => r.decision.policy.name)).toEqual(['path', 'meta', 'gate'])
  })

  test('a meta policy cannot relax a gate (the gate still blocks at its own threshold)', async () => {
    expect(await s.call('datacenter', 'relaxed')).toBe('FORBIDDEN 403: risk_score_exceeded (gate)')
  })

  test('meta skip exempts the procedure from its gate too, and ctx.ipRisk.decision is null', async () => {
    expect(await s.call('tor', 'skippedGate')).toBeNull()
    expect(f.reports).toHaveLength(0)
  })

  test('a bad meta policy fails its calls closed with INTERNAL_SERVER_ERROR, without details', async () => {
    const t = initTRPC.context<{ req: IncomingMessage }>().meta<IpRiskMeta>().create()
    const { withIpRisk } = createTrpcRisk(f.resolver)
    const router = t.router({
      broken: t.procedure.use(withIpRisk()).meta({ ipRisk: { threshold: 700 } }).query(() => 'reached'),
    })
    const served = await serveStandalone(router)
    try {
      const { status, json } = await raw(`${served.url}/broken`, { ip: ips.clean })
      expect(status).toBe(500)
      expect((json as { error: { message: string } }).error.message).toBe('Invalid iprisk configuration')
      expect((served.errors[0] as { cause?: unknown }).cause).toBeInstanceOf(IpRiskConfigError)
    } finally {
      await served.close()
    }
  })

  test('checkRouter compiles every meta policy at start-up and names the procedure', () => {
    const t = initTRPC.meta<IpRiskMeta>().create()
    const trpcRisk = createTrpcRisk(f.resolver)
    const good = t.router({
      a: t.procedure.meta({ ipRisk: policies.human }).query(() => 1),
      b: t.router({ c: t.procedure.meta({ ipRisk: { skip: true } }).query(() => 2) }),
      d: t.procedure.query(() => 3),
    })
    expect(() => trpcRisk.checkRouter(good)).not.toThrow()
    const bad = t.router({
      ok: t.procedure.query(() => 1),
      admin: t.router({ ban: t.procedure.meta({ ipRisk: { threshold: 700 } }).mutation(() => 2) }),
    })
    expect(() => trpcRisk.checkRouter(bad)).toThrow(
      expect.objectContaining({ name: 'IpRiskConfigError', option: 'meta.ipRisk (procedure "admin.ban").threshold' }),
    )
    const typo = t.router({ x: t.procedure.meta({ ipRisk: { skip: 'yes' } as never }).query(() => 1) })
    expect(() => trpcRisk.checkRouter(typo)).toThrow(expect.objectContaining({ option: 'meta.ipRisk (procedure "x").skip' }))
    expect(() => trpcRisk.checkRouter({} as never)).toThrow(expect.objectContaining({ option: 'checkRouter' }))
  })
})

describe('monitor mode', () => {
  test('the global monitor option lets everything through and reports would-blocks', async () => {
    const s = await serve({ monitor: true, pathPolicies: { 'admin.': policies.admin } })
    try {
      expect(await s.call('tor', 'humanGate')).toEqual({ reason: 'tor_exit_node', policy: 'human', monitored: true })
      expect(await s.call('vpn', 'admin.stats')).toEqual({ reason: 'vpn_detected', policy: 'admin', monitored: true })
      expect(await s.call('tor', 'metaHuman')).toEqual({ reason: 'tor_exit_node', policy: 'human', monitored: true })
      expect(f.reports.map((r) => [r.decision.action, r.decision.wouldBlock, r.decision.monitored])).toEqual([
        ['allow', true, true],
        ['allow', true, true],
        ['allow', true, true],
      ])
    } finally {
      await s.served.close()
    }
  })

  test('a policy with monitor: true is a dry run while the other gates still block', async () => {
    const s = await serve({})
    try {
      expect(await s.call('tor', 'monitoredGate')).toEqual({ reason: 'risk_score_exceeded', policy: 'dry', monitored: true })
      expect(await s.call('tor', 'humanGate')).toBe('FORBIDDEN 403: tor_exit_node (human)')
      expect(await s.call('clean', 'monitoredGate')).toEqual({ reason: 'clean', policy: 'dry', monitored: false })
    } finally {
      await s.served.close()
    }
  })
})

describe('reporting', () => {
  test('every decision is reported with adapter, path, procedure type and user agent', async () => {
    const s = await serve({ pathPolicies: { billing: { name: 'billing', blockVpn: true } } })
    try {
      const client = clientFor<Router>(s.served.url, ips.vpn, { batch: false, headers: { 'user-agent': 'curl/8.5.0' } })
      await outcome(() => client.billing.refund.mutate())
      await outcome(() => client.humanGate.query())
      expect(f.reports.map((r) => [r.decision.action, r.decision.reason, r.info])).toEqual([
        ['block', 'vpn_detected', { adapter: 'trpc', path: 'billing.refund', method: 'mutation', userAgent: 'curl/8.5.0', request: expect.any(Object) }],
        ['allow', 'clean', { adapter: 'trpc', path: 'humanGate', method: 'query', userAgent: 'curl/8.5.0', request: expect.any(Object) }],
      ])
    } finally {
      await s.served.close()
    }
  })

  test('withIpRisk alone evaluates no policy and reports nothing', async () => {
    const s = await serve({})
    try {
      expect(await s.call('tor', 'open')).toBeNull()
      expect(f.reports).toHaveLength(0)
    } finally {
      await s.served.close()
    }
  })
})

describe('options', () => {
  test('message replaces the generic error message', async () => {
    const s = await serve({ message: 'Access denied' })
    try {
      const { status, json } = await raw(`${s.served.url}/humanGate`, { ip: ips.tor })
      expect(status).toBe(403)
      expect((json as { error: { message: string } }).error.message).toBe('Access denied')
    } finally {
      await s.served.close()
    }
  })

  const bad: [string, () => unknown, string][] = [
    ['a resolver without check()', () => createTrpcRisk({} as never), 'resolver'],
    ['a null resolver', () => createTrpcRisk(null as never), 'resolver'],
    ['options that are not an object', () => createTrpcRisk(f.resolver, 'strict' as never), 'options'],
    ['an unknown option', () => createTrpcRisk(f.resolver, { pathPolicy: {} } as never), 'pathPolicy'],
    ['monitor: "yes"', () => createTrpcRisk(f.resolver, { monitor: 'yes' as never }), 'monitor'],
    ['message: ""', () => createTrpcRisk(f.resolver, { message: ' ' }), 'message'],
    ['getRequest: "req"', () => createTrpcRisk(f.resolver, { getRequest: 'req' as never }), 'getRequest'],
    ['getPeerAddress: 1', () => createTrpcRisk(f.resolver, { getPeerAddress: 1 as never }), 'getPeerAddress'],
    ['getClientIp: {}', () => createTrpcRisk(f.resolver, { getClientIp: {} as never }), 'getClientIp'],
    ['pathPolicies: []', () => createTrpcRisk(f.resolver, { pathPolicies: [] as never }), 'pathPolicies'],
    ['a path policy that is not an object', () => createTrpcRisk(f.resolver, { pathPolicies: { 'admin.': 60 as never } }), 'pathPolicies["admin."]'],
    [
      'a path policy with a bad threshold',
      () => createTrpcRisk(f.resolver, { pathPolicies: { 'admin.': { threshold: 160 } } }),
      'pathPolicies["admin."].threshold',
    ],
    [
      'a path policy with a typo',
      () => createTrpcRisk(f.resolver, { pathPolicies: { billing: { blockVPN: true } as never } }),
      'pathPolicies["billing"].blockVPN',
    ],
  ]
  test.each(bad)('%s throws IpRiskConfigError at creation', (_name, create, option) => {
    expect(create).toThrow(IpRiskConfigError)
    expect(create).toThrow(expect.objectContaining({ option }))
  })
})
