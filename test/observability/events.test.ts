/**
 * Security events end to end, over real HTTP through both adapters: for each reason a request can be decided for,
 * the one event it produces, compared whole (every field exact; `timestamp` and `lookup_ms` by type, and `lookup_ms`
 * exactly 0 where no lookup was made), as the logger receives it (level and message included) and as each hook
 * receives it.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RiskResolver, SecurityEvent } from '../../src/core/index.js'
import type { IpasisSimulator, SimulatorProfile } from '../../src/testing/index.js'
import {
  LONG_UA,
  afterHooks,
  freshIp,
  graphqlPost,
  isGraphqlBlocked,
  isTrpcForbidden,
  operations,
  recordingHooks,
  recordingLogger,
  resolverFor,
  score85,
  startSimulator,
  startStack,
  trpcMutation,
  trpcQuery,
  type Caller,
  type Reply,
  type Served,
  type Stack,
} from './helpers.js'

/** On the resolver's `lists.deny` / `lists.allow` (IPv6, to see canonical IPv6 in events too). */
const DENIED = '2001:db8::dead'
const ALLOWED = '2001:db8::a11'

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const UA_200 = LONG_UA.slice(0, 200)

type RiskFields = Pick<
  SecurityEvent,
  'risk_score' | 'is_vpn' | 'is_proxy' | 'is_tor' | 'is_datacenter' | 'country' | 'asn' | 'isp'
>

/** The simulator's profiles as events show them (written out, not derived, so that a mapping bug shows). */
const risk = {
  clean: { risk_score: 5, is_vpn: false, is_proxy: false, is_tor: false, is_datacenter: false, country: 'US', asn: 7922, isp: 'Comcast Cable Communications' },
  vpn: { risk_score: 45, is_vpn: true, is_proxy: false, is_tor: false, is_datacenter: false, country: 'NL', asn: 9009, isp: 'M247 Europe SRL' },
  tor: { risk_score: 92, is_vpn: false, is_proxy: false, is_tor: true, is_datacenter: false, country: 'DE', asn: 24940, isp: 'Hetzner Online GmbH' },
  datacenter: { risk_score: 55, is_vpn: false, is_proxy: false, is_tor: false, is_datacenter: true, country: 'US', asn: 16509, isp: 'Amazon.com, Inc.' },
  highRisk: { risk_score: 97, is_vpn: false, is_proxy: false, is_tor: false, is_datacenter: false, country: 'CN', asn: 4134, isp: 'Chinanet' },
  score85: { risk_score: 85, is_vpn: false, is_proxy: false, is_tor: false, is_datacenter: false, country: 'BR', asn: 28573, isp: 'Claro NXT Telecomunicacoes Ltda' },
  none: { risk_score: null, is_vpn: null, is_proxy: null, is_tor: null, is_datacenter: null, country: null, asn: null, isp: null },
} as const satisfies Record<string, RiskFields>

// ---------------------------------------------------------------------------------------------------------------------
// Routes: what each adapter adds to the event
// ---------------------------------------------------------------------------------------------------------------------

interface Route {
  adapter: 'trpc' | 'graphql'
  path: string
  method: string
  operation_name: string | null
  policy: string
  call(stack: Stack, caller: Caller, monitor: boolean): Promise<Reply>
  /** The request went through and answered normally. */
  served(reply: Reply): boolean
  /** The request was refused with the adapter's 403 carrying this reason. */
  blocked(reply: Reply, reason: string): boolean
}

const trpcServed = (reply: Reply): boolean =>
  reply.status === 200 && typeof (reply.json as { result?: { data?: unknown } }).result?.data === 'object'
const trpcBlocked = (reply: Reply, reason: string): boolean =>
  isTrpcForbidden(reply) && (reply.json as { error: { data: { ipRiskReason?: string } } }).error.data.ipRiskReason === reason
const graphqlServed = (reply: Reply): boolean => {
  const body = reply.json as { data?: unknown; errors?: unknown }
  return reply.status === 200 && body.errors === undefined && typeof body.data === 'object' && body.data !== null
}
const graphqlBlocked = (reply: Reply, reason: string): boolean =>
  isGraphqlBlocked(reply) &&
  (reply.json as { errors: { extensions: { reason?: string } }[] }).errors[0]?.extensions.reason === reason

const trpcServer = (stack: Stack, monitor: boolean): Served => (monitor ? stack.trpcMonitor : stack.trpc)
const graphqlServer = (stack: Stack, monitor: boolean): Served => (monitor ? stack.graphqlMonitor : stack.graphql)

const routes = {
  /** `admin.stats`: path policy `'admin.'` → `policies.admin` (also served by the monitor-mode API). */
  'trpc admin.stats': {
    adapter: 'trpc',
    path: 'admin.stats',
    method: 'query',
    operation_name: null,
    policy: 'admin',
    call: (stack, caller, monitor) => trpcQuery(trpcServer(stack, monitor), 'admin.stats', caller),
    served: trpcServed,
    blocked: trpcBlocked,
  },
  /** `signup`: `requireHuman()` (policy `human`). */
  'trpc signup': {
    adapter: 'trpc',
    path: 'signup',
    method: 'mutation',
    operation_name: null,
    policy: 'human',
    call: (stack, caller) => trpcMutation(stack.trpc, 'signup', caller, { email: 'ada@example.com' }),
    served: trpcServed,
    blocked: trpcBlocked,
  },
  /** `Mutation.signup @requireHuman` (policy `human`). */
  'graphql Mutation.signup': {
    adapter: 'graphql',
    path: 'Mutation.signup',
    method: 'mutation',
    operation_name: 'SignUp',
    policy: 'human',
    call: (stack, caller, monitor) => graphqlPost(graphqlServer(stack, monitor), operations.signup, caller),
    served: graphqlServed,
    blocked: graphqlBlocked,
  },
  /** `AdminQuery @ipRisk(policy: ADMIN)`, field `blockedIps`. */
  'graphql AdminQuery.blockedIps': {
    adapter: 'graphql',
    path: 'AdminQuery.blockedIps',
    method: 'query',
    operation_name: 'AdminArea',
    policy: 'admin',
    call: (stack, caller, monitor) => graphqlPost(graphqlServer(stack, monitor), operations.adminArea, caller),
    served: graphqlServed,
    blocked: graphqlBlocked,
  },
} as const satisfies Record<string, Route>

type RouteName = keyof typeof routes

// ---------------------------------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------------------------------

interface Case {
  name: string
  /** The simulator's answer for the client IP. */
  profile: SimulatorProfile
  /** A fixed client IP (the list entries); default: a fresh address. */
  ip?: string
  /** The route per adapter (a policy that decides this reason). */
  trpc: RouteName
  graphql: RouteName
  /** Call the monitor-mode API. */
  monitor?: boolean
  /** Set-up before the observed request (faults, blocks, a first request). */
  prepare?: (ctx: { sim: IpasisSimulator; resolver: RiskResolver; ip: string; call: () => Promise<Reply> }) => Promise<void>
  /** Expected event fields that depend on the case. */
  expected: Pick<SecurityEvent, 'action' | 'reason' | 'fail_open' | 'monitored' | 'status' | 'error' | 'cached'> & {
    risk: RiskFields
    /** `lookup_ms` is exactly 0 (no lookup made: list, blocklist or L1 hit). */
    noLookup: boolean
  }
}

const cases: Case[] = [
  {
    name: 'allow, clean (first request: scored upstream)',
    profile: 'clean',
    trpc: 'trpc admin.stats',
    graphql: 'graphql Mutation.signup',
    expected: { action: 'allow', reason: 'clean', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.clean, noLookup: false },
  },
  {
    name: 'allow, clean (repeat request: answered from L1, cached, lookup_ms 0)',
    profile: 'clean',
    trpc: 'trpc admin.stats',
    graphql: 'graphql AdminQuery.blockedIps',
    prepare: async ({ call }) => void (await call()),
    expected: { action: 'allow', reason: 'clean', fail_open: false, monitored: false, status: 'scored', error: null, cached: true, risk: risk.clean, noLookup: true },
  },
  {
    name: 'block, risk_score_exceeded',
    profile: score85,
    trpc: 'trpc signup',
    graphql: 'graphql Mutation.signup',
    expected: { action: 'block', reason: 'risk_score_exceeded', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.score85, noLookup: false },
  },
  {
    name: 'block, tor_exit_node',
    profile: 'tor',
    trpc: 'trpc signup',
    graphql: 'graphql Mutation.signup',
    expected: { action: 'block', reason: 'tor_exit_node', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.tor, noLookup: false },
  },
  {
    name: 'block, vpn_detected',
    profile: 'vpn',
    trpc: 'trpc admin.stats',
    graphql: 'graphql AdminQuery.blockedIps',
    expected: { action: 'block', reason: 'vpn_detected', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.vpn, noLookup: false },
  },
  {
    name: 'block, datacenter_ip',
    profile: 'datacenter',
    trpc: 'trpc admin.stats',
    graphql: 'graphql AdminQuery.blockedIps',
    expected: { action: 'block', reason: 'datacenter_ip', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.datacenter, noLookup: false },
  },
  {
    name: 'block, denylisted (lists.deny: no lookup, no data)',
    profile: 'clean',
    ip: DENIED,
    trpc: 'trpc admin.stats',
    graphql: 'graphql Mutation.signup',
    expected: { action: 'block', reason: 'denylisted', fail_open: false, monitored: false, status: 'skipped', error: null, cached: false, risk: risk.none, noLookup: true },
  },
  {
    name: 'block, blocklisted by resolver.block(ip) (never scored: no data; answered from L1)',
    profile: 'clean',
    trpc: 'trpc signup',
    graphql: 'graphql Mutation.signup',
    prepare: ({ resolver, ip }) => resolver.block(ip, 600),
    expected: { action: 'block', reason: 'blocklisted', fail_open: false, monitored: false, status: 'skipped', error: null, cached: true, risk: risk.none, noLookup: true },
  },
  {
    name: 'block, blocklisted automatically (score 97 >= blocklist.score 95)',
    profile: 'high-risk',
    trpc: 'trpc admin.stats',
    graphql: 'graphql AdminQuery.blockedIps',
    expected: { action: 'block', reason: 'blocklisted', fail_open: false, monitored: false, status: 'scored', error: null, cached: false, risk: risk.highRisk, noLookup: false },
  },
  {
    name: 'allow, allowlisted (lists.allow wins over a Tor profile: no lookup, no data)',
    profile: 'tor',
    ip: ALLOWED,
    trpc: 'trpc admin.stats',
    graphql: 'graphql Mutation.signup',
    expected: { action: 'allow', reason: 'allowlisted', fail_open: false, monitored: false, status: 'skipped', error: null, cached: false, risk: risk.none, noLookup: true },
  },
  {
    name: 'monitor, a would-block in monitor mode (the request goes through)',
    profile: 'tor',
    trpc: 'trpc admin.stats',
    graphql: 'graphql Mutation.signup',
    monitor: true,
    expected: { action: 'monitor', reason: 'tor_exit_node', fail_open: false, monitored: true, status: 'scored', error: null, cached: false, risk: risk.tor, noLookup: false },
  },
  {
    name: 'allow, fail-open (the provider answers 503)',
    profile: 'tor',
    trpc: 'trpc signup',
    graphql: 'graphql Mutation.signup',
    prepare: async ({ sim, ip }) => sim.setFault(503, { ip, times: 1 }),
    expected: { action: 'allow', reason: 'lookup_unavailable', fail_open: true, monitored: false, status: 'unavailable', error: 'http_error', cached: false, risk: risk.none, noLookup: false },
  },
]

// ---------------------------------------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------------------------------------

let sim: IpasisSimulator
let stack: Stack
const log = recordingLogger()
const hooks = recordingHooks()

beforeAll(async () => {
  sim = await startSimulator()
  stack = await startStack(
    resolverFor(sim, { logger: log.logger, ...hooks.hooks, lists: { deny: [DENIED], allow: [ALLOWED] } }),
    { monitor: true },
  )
})
afterAll(async () => {
  await stack.close()
  await sim.close()
})

function clearRecords(): void {
  log.entries.length = 0
  hooks.received.onDecision.length = 0
  hooks.received.onBlock.length = 0
  hooks.received.onHighRisk.length = 0
}

it('sends a 300-character User-Agent, of which events keep the first 200 characters', () => {
  expect(LONG_UA).toHaveLength(300)
  expect(UA_200).toHaveLength(200)
  expect(LONG_UA.startsWith(UA_200)).toBe(true)
})

describe.each(['trpc', 'graphql'] as const)('%s adapter: one event per decision, every field exact', (adapter) => {
  it.each(cases)('$name', async (c) => {
    const route: Route = routes[c[adapter]]
    const ip = c.ip ?? freshIp(sim, c.profile)
    if (c.ip !== undefined) sim.setProfile(c.ip, c.profile)
    const caller = { ip, ua: LONG_UA }
    const call = () => route.call(stack, caller, c.monitor === true)
    await c.prepare?.({ sim, resolver: stack.resolver, ip, call })
    await afterHooks()
    clearRecords()
    const callsBefore = sim.callsFor(ip)

    const reply = await call()

    // The request itself: blocked with the adapter's 403 (and the reason), or served normally.
    if (c.expected.action === 'block') expect(route.blocked(reply, c.expected.reason)).toBe(true)
    else expect(route.served(reply)).toBe(true)
    // A list or cache answer makes no provider call; every other answer makes exactly one.
    expect(sim.callsFor(ip) - callsBefore).toBe(c.expected.noLookup ? 0 : 1)

    const expected: Record<string, unknown> = {
      timestamp: expect.stringMatching(ISO_TIMESTAMP),
      event: 'bot_detection',
      action: c.expected.action,
      reason: c.expected.reason,
      fail_open: c.expected.fail_open,
      policy: route.policy,
      ip,
      path: route.path,
      method: route.method,
      operation_name: route.operation_name,
      adapter: route.adapter,
      ...c.expected.risk,
      user_agent: UA_200,
      cached: c.expected.cached,
      lookup_ms: c.expected.noLookup ? 0 : expect.any(Number),
      monitored: c.expected.monitored,
      status: c.expected.status,
      error: c.expected.error,
      count: 1,
    }

    // The logger got it by the time the response arrived (at the end of the turn the call was decided in): blocks and
    // would-blocks at warn, allows at info.
    expect(log.entries).toStrictEqual([
      { level: c.expected.action === 'allow' ? 'info' : 'warn', obj: expected, msg: 'iprisk decision' },
    ])
    const event = log.entries[0]?.obj as SecurityEvent
    if (!c.expected.noLookup) expect(event.lookup_ms).toBeGreaterThan(0)
    expect(Object.isFrozen(event)).toBe(true)

    // The hooks got the same (frozen, shared) event object once the request code had run.
    await afterHooks()
    expect(hooks.received.onDecision).toHaveLength(1)
    expect(hooks.received.onDecision[0]).toBe(event)
    expect(hooks.received.onBlock).toStrictEqual(c.expected.action === 'block' ? [event] : [])
    const highRisk = (c.expected.risk.risk_score ?? 0) >= 95
    expect(hooks.received.onHighRisk).toStrictEqual(highRisk ? [event] : [])
  })
})

describe('graphql adapter: several guarded fields', () => {
  it('reports one event per distinct policy, in document order, each with its own field coordinate', async () => {
    const ip = freshIp(sim, 'tor')
    clearRecords()
    const reply = await graphqlPost(
      stack.graphql,
      { query: 'mutation SignUp { signup(email: "ada@example.com") { email } }', operationName: 'SignUp' },
      { ip, ua: 'curl/8.5.0' },
    )
    expect(graphqlBlocked(reply, 'tor_exit_node')).toBe(true)
    const common = {
      timestamp: expect.stringMatching(ISO_TIMESTAMP),
      event: 'bot_detection',
      action: 'block',
      fail_open: false,
      ip,
      method: 'mutation',
      operation_name: 'SignUp',
      adapter: 'graphql',
      ...risk.tor,
      user_agent: 'curl/8.5.0',
      monitored: false,
      status: 'scored',
      error: null,
      count: 1,
    }
    expect(log.entries.map((entry) => entry.obj)).toStrictEqual([
      // The first decision waited for the lookup; the second reused its answer (the same request, no new lookup).
      { ...common, reason: 'tor_exit_node', policy: 'human', path: 'Mutation.signup', cached: false, lookup_ms: expect.any(Number) },
      { ...common, reason: 'risk_score_exceeded', policy: 'lowRisk(80)', path: 'User.email', cached: false, lookup_ms: expect.any(Number) },
    ])
  })
})

describe('both adapters: a request without a User-Agent header', () => {
  /** POST with node:http, which (unlike fetch) sends no User-Agent unless told to. */
  function postBare(url: string, ip: string, body: unknown): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip } }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end(JSON.stringify(body))
    })
  }

  it.each([
    ['trpc', () => `${stack.trpc.url}/signup`, { email: 'ada@example.com' }],
    ['graphql', () => stack.graphql.url, operations.signup],
  ] as const)('%s: user_agent is null (never an empty or made-up value)', async (_adapter, url, body) => {
    const ip = freshIp(sim, 'tor')
    clearRecords()
    expect(await postBare(url(), ip, body)).toBe(403)
    expect(log.entries.map((entry) => (entry.obj as SecurityEvent).user_agent)).toStrictEqual([null])
  })
})
