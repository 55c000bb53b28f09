/**
 * The plugin through `yoga.fetch` against the local IPASIS simulator: directives on fields, object types and
 * interfaces; fragments, aliases, @skip/@include; batching; subscriptions; introspection; lookup modes; monitor and
 * fail modes; error format; reports; options.
 */
import { envelop, useEngine, useSchema } from '@envelop/core'
import { createSchema } from 'graphql-yoga'
import * as graphql from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IpRiskConfigError, IpRiskError } from '../../src/core/errors.js'
import { policies } from '../../src/core/policy.js'
import type { IpRisk } from '../../src/core/types.js'
import { analysisRuns } from '../../src/envelop/analysis.js'
import { ipRiskTypeDefs, useIpRisk, waitForIpRisk, type IpRiskContext } from '../../src/envelop/index.js'
import { configError } from '../support/errors.js'
import {
  blockedBody,
  createFixture,
  createTestYoga,
  freshIp,
  gql,
  ips,
  spyResolvers,
  testTypeDefs,
  until,
  type Calls,
  type Fixture,
  type Profile,
  type TestYoga,
} from './helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await createFixture()
})
afterAll(async () => {
  await fx.close()
})

let shared: TestYoga | undefined
/** The default-options Yoga, shared by the tests that need nothing else (its resolver spies are cleared each time). */
function defaultYoga(): TestYoga {
  shared ??= createTestYoga(fx.resolver)
  shared.calls.clear()
  return shared
}

const totalCalls = (calls: Calls) => [...calls.values()].reduce((a, b) => a + b, 0)

describe('directives block before execution: fields, object types, interfaces', () => {
  // [profile, query, expected data (allowed) or [path, reason] (blocked)]
  const cases: [Profile, string, Record<string, unknown> | [string[], string]][] = [
    // @requireHuman on a field: Tor, or score >= 80
    ['clean', '{ human }', { human: 'ok' }],
    ['vpn', '{ human }', { human: 'ok' }],
    ['tor', '{ human }', [['human'], 'tor_exit_node']],
    ['highRisk', '{ human }', [['human'], 'risk_score_exceeded']],
    // @requireLowRisk(threshold: N) on a field
    ['vpn', '{ lowRisk50 }', { lowRisk50: 'ok' }],
    ['proxy', '{ lowRisk50 }', [['lowRisk50'], 'risk_score_exceeded']],
    ['datacenter', '{ lowRisk50 }', [['lowRisk50'], 'risk_score_exceeded']],
    ['proxy', '{ lowRisk75 }', { lowRisk75: 'ok' }],
    ['tor', '{ lowRisk75 }', [['lowRisk75'], 'risk_score_exceeded']],
    // @requireNotBot: Tor, datacenter scoring over 60, score >= 85
    ['datacenter', '{ notBot }', { notBot: 'ok' }],
    ['tor', '{ notBot }', [['notBot'], 'tor_exit_node']],
    ['highRisk', '{ notBot }', [['notBot'], 'risk_score_exceeded']],
    // @ipRisk(policy: ADMIN): Tor, VPN, datacenter over 40, score >= 60
    ['clean', '{ adminPreset }', { adminPreset: 'ok' }],
    ['vpn', '{ adminPreset }', [['adminPreset'], 'vpn_detected']],
    ['datacenter', '{ adminPreset }', [['adminPreset'], 'datacenter_ip']],
    ['proxy', '{ adminPreset }', [['adminPreset'], 'risk_score_exceeded']],
    // object type AdminQuery @requireLowRisk(threshold: 40): every field
    ['clean', '{ admin { count } }', { admin: { count: 1 } }],
    ['vpn', '{ admin { count } }', [['admin', 'count'], 'risk_score_exceeded']],
    ['vpn', '{ admin { __typename } }', { admin: { __typename: 'AdminQuery' } }],
    // interface Account @requireLowRisk(threshold: 50): every field of User
    ['vpn', '{ account { email } }', { account: { email: 'ada@example.com' } }],
    ['proxy', '{ account { email } }', [['account', 'email'], 'risk_score_exceeded']],
    ['proxy', '{ node(id: "u1") { ... on User { name } } }', [['node', 'name'], 'risk_score_exceeded']],
    // a field on an interface: guarded when any implementation guards it (the runtime type is unknown beforehand)
    ['proxy', '{ node(id: "p1") { id } }', [['node', 'id'], 'risk_score_exceeded']],
    ['proxy', '{ node(id: "p1") { ... on Post { id title } } }', { node: { id: 'p1', title: 'Hello' } }],
    // field directive on a nested object type
    ['tor', '{ posts { title } }', { posts: [{ title: 'Hello' }] }],
    ['tor', '{ posts { title secret } }', [['posts', 'secret'], 'tor_exit_node']],
    // unions
    ['tor', '{ search { ... on Post { secret } } }', [['search', 'secret'], 'tor_exit_node']],
    ['tor', '{ search { ... on Post { title } } }', { search: [{ title: 'Hello' }, {}] }],
    ['proxy', '{ search { ... on Account { email } } }', [['search', 'email'], 'risk_score_exceeded']],
    // fragments and aliases
    ['vpn', '{ admin { ...A } } fragment A on AdminQuery { count }', [['admin', 'count'], 'risk_score_exceeded']],
    ['vpn', '{ boss: admin { total: count } }', [['boss', 'total'], 'risk_score_exceeded']],
    ['tor', '{ x: posts { title } y: posts { s: secret } }', [['y', 's'], 'tor_exit_node']],
    ['tor', '{ ... on Query { h: human } }', [['h'], 'tor_exit_node']],
    // literal @skip / @include
    ['tor', '{ human @skip(if: true) me }', { me: 'scored:92' }],
    ['tor', '{ human @include(if: false) me }', { me: 'scored:92' }],
    ['tor', '{ human @include(if: true) }', [['human'], 'tor_exit_node']],
    ['vpn', '{ admin { ...A @skip(if: true) __typename } } fragment A on AdminQuery { count }', { admin: { __typename: 'AdminQuery' } }],
  ]

  it.each(cases)('%s: %s', async (profile, query, expected) => {
    const { yoga, calls } = defaultYoga()
    const res = await gql(yoga, ips[profile], { query })
    if (Array.isArray(expected)) {
      const [path, reason] = expected
      expect(res.status).toBe(403)
      expect(res.body).toEqual(blockedBody(path, reason))
      expect(totalCalls(calls)).toBe(0) // no resolver ran, not even the public ones
    } else {
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ data: expected })
    }
  })
})

describe('@skip / @include with variables', () => {
  const query = 'query Q($skip: Boolean!, $inc: Boolean = true) { human @skip(if: $skip) me lowRisk50 @include(if: $inc) }'
  it.each([
    [{ skip: true, inc: false }, 200],
    [{ skip: false, inc: false }, 403],
    [{ skip: true }, 403], // $inc defaults to true: lowRisk50 (tor: 92) is selected
    [{ skip: true, inc: true }, 403],
  ])('tor with %j → %i', async (variables, status) => {
    const { yoga, calls } = defaultYoga()
    const res = await gql(yoga, ips.tor, { query, variables })
    expect(res.status).toBe(status)
    if (status === 200) {
      expect(res.body).toEqual({ data: { me: 'scored:92' } })
      expect(calls.get('Query.human')).toBeUndefined()
    } else {
      expect(totalCalls(calls)).toBe(0)
    }
  })

  it('analyses the document once for all variable values (Yoga reuses the parsed document)', async () => {
    const { yoga } = defaultYoga()
    const q = 'query Once($s: Boolean!) { human @skip(if: $s) me }'
    const before = analysisRuns()
    expect((await gql(yoga, ips.tor, { query: q, variables: { s: true } })).status).toBe(200)
    expect((await gql(yoga, ips.tor, { query: q, variables: { s: false } })).status).toBe(403)
    expect((await gql(yoga, ips.tor, { query: q, variables: { s: true } })).status).toBe(200)
    expect(analysisRuns() - before).toBe(1)
  })
})

describe('several protected fields: the strictest decision wins, the first blocked field is reported', () => {
  it.each([
    ['tor', '{ lowRisk75 human }', ['lowRisk75'], 'risk_score_exceeded'],
    ['tor', '{ human lowRisk75 }', ['human'], 'tor_exit_node'],
    ['proxy', '{ lowRisk75 lowRisk50 }', ['lowRisk50'], 'risk_score_exceeded'],
    ['vpn', '{ human notBot adminPreset lowRisk50 }', ['adminPreset'], 'vpn_detected'],
  ] as const)('%s: %s', async (profile, query, path, reason) => {
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ips[profile], { query })
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody([...path], reason))
  })
})

describe('mutations', () => {
  it('never runs a blocked mutation, nor the other fields of the operation', async () => {
    const { yoga, calls } = defaultYoga()
    const res = await gql(yoga, ips.tor, { query: 'mutation { publicNote(text: "a") signup(email: "bot@example.com") }' })
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody(['signup'], 'tor_exit_node'))
    expect(calls.get('Mutation.signup')).toBeUndefined()
    expect(calls.get('Mutation.publicNote')).toBeUndefined()
  })

  it('runs it for an allowed client', async () => {
    const { yoga, calls } = defaultYoga()
    const res = await gql(yoga, ips.clean, { query: 'mutation { publicNote(text: "a") signup(email: "ada@example.com") }' })
    expect(res.body).toEqual({ data: { publicNote: 'noted', signup: 'created' } })
    expect(calls.get('Mutation.signup')).toBe(1)
  })

  it.each([
    ['tor', 403],
    ['proxy', 200],
  ] as const)('@requireLowRisk(threshold: 75) on login: %s → %i', async (profile, status) => {
    const { yoga, calls } = defaultYoga()
    const res = await gql(yoga, ips[profile], { query: 'mutation Login { login(email: "a") }', operationName: 'Login' })
    expect(res.status).toBe(status)
    expect(calls.get('Mutation.login') ?? 0).toBe(status === 200 ? 1 : 0)
  })
})

describe('one document, several operations: each request enforces the operation it runs', () => {
  // Yoga's parser cache hands the plugin the same document object each time: only the operation name differs.
  const query = 'query Feed { posts { id } } mutation Join { signup(email: "a") }'
  let sharedYoga: ReturnType<typeof defaultYoga>['yoga']
  beforeAll(() => {
    sharedYoga = defaultYoga().yoga
  })
  it.each([
    ['Join', 403],
    ['Feed', 200],
    ['Join', 403],
    ['Feed', 200],
  ] as const)('%s from a Tor exit node → %i', async (operationName, status) => {
    const res = await gql(sharedYoga, ips.tor, { query, operationName })
    expect(res.status).toBe(status)
  })
})

describe('the error', () => {
  it('is a single GraphQLError with code, reason, path and locations, and HTTP 403; the score is not disclosed', async () => {
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ips.tor, { query: '{\n  me\n  h: human\n}' })
    expect(res.status).toBe(403)
    expect(res.body).toStrictEqual({
      errors: [
        {
          message: 'Request blocked',
          locations: [{ line: 3, column: 3 }],
          path: ['h'],
          extensions: { code: 'IP_RISK_BLOCKED', reason: 'tor_exit_node' },
        },
      ],
    })
    expect(JSON.stringify(res.body)).not.toContain('92')
  })

  it('uses the `message` option', async () => {
    const { yoga } = createTestYoga(fx.resolver, { message: 'Access denied' })
    const res = await gql(yoga, ips.tor, { query: '{ human }' })
    expect(res.body.errors[0].message).toBe('Access denied')
  })

  it('adds the score with `exposeScore: true`', async () => {
    const { yoga } = createTestYoga(fx.resolver, { exposeScore: true })
    const res = await gql(yoga, ips.tor, { query: '{ human }' })
    expect(res.body).toEqual(blockedBody(['human'], 'tor_exit_node', { score: 92 }))
  })

  it('answers 403 with application/json too', async () => {
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ips.tor, { query: '{ human }' }, { accept: 'application/json' })
    expect(res.status).toBe(403)
  })
})

describe('batching: one context.ipRisk and one lookup per HTTP request', () => {
  it('scores the IP once for a batch of operations, each enforced on its own', async () => {
    const ip = freshIp(fx.sim, 'vpn')
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ip, [{ query: '{ human }' }, { query: '{ adminPreset }' }, { query: '{ lowRisk50 }' }])
    expect(res.status).toBe(200) // Yoga answers a batch with 200: each result carries its own errors
    expect(res.body).toEqual([{ data: { human: 'ok' } }, blockedBody(['adminPreset'], 'vpn_detected'), { data: { lowRisk50: 'ok' } }])
    expect(fx.sim.callsFor(ip)).toBe(1)
  })

  it('calls the resolver once per request, however many operations wait', async () => {
    const ip = freshIp(fx.sim)
    const { yoga } = createTestYoga(fx.resolver, { lookup: 'always-wait' })
    const before = fx.lookups.length
    const res = await gql(yoga, ip, [{ query: '{ me }' }, { query: '{ me }' }, { query: '{ human }' }])
    expect(res.body).toEqual([{ data: { me: 'scored:5' } }, { data: { me: 'scored:5' } }, { data: { human: 'ok' } }])
    expect(fx.lookups.slice(before)).toEqual([{ ip, wait: true }])
  })

  it('shares the answer between two requests only through the cache, never through the request state', async () => {
    const ip = freshIp(fx.sim)
    const { yoga } = createTestYoga(fx.resolver, { lookup: 'always-wait' })
    await gql(yoga, ip, { query: '{ me }' })
    const before = fx.lookups.length
    const res = await gql(yoga, ip, { query: '{ me }' })
    expect(res.body).toEqual({ data: { me: 'scored:5' } })
    expect(fx.lookups.length).toBe(before) // the warm path: peek() answered, no lookup, no promise
    expect(fx.sim.callsFor(ip)).toBe(1)
  })
})

describe('the warm path', () => {
  const schema = graphql.buildSchema(`${ipRiskTypeDefs}\n${testTypeDefs}`)
  function runOnExecute(ip: string, query: string) {
    const plugin = useIpRisk({ resolver: fx.resolver })
    plugin.onSchemaChange?.({ schema, replaceSchema: () => undefined })
    const context: Record<string, unknown> = {
      request: new Request('http://localhost/graphql', { headers: { 'x-forwarded-for': ip } }),
      req: { socket: { remoteAddress: '127.0.0.1' } },
    }
    let stopped: graphql.ExecutionResult | undefined
    const returned = plugin.onExecute?.({
      args: { schema, document: graphql.parse(query), contextValue: context },
      context,
      extendContext: (extension: object) => Object.assign(context, extension),
      setResultAndStopExecution: (result: graphql.ExecutionResult) => (stopped = result),
      executeFn: graphql.execute,
      setExecuteFn: () => undefined,
    } as never)
    return { returned, context, stopped: () => stopped }
  }

  it('is synchronous when the answer is cached: onExecute returns no promise and decides at once', async () => {
    await fx.resolver.lookup(ips.tor)
    const run = runOnExecute(ips.tor, '{ human }')
    expect(run.returned).toBeUndefined()
    expect((run.context.ipRisk as IpRisk).score).toBe(92)
    expect(run.stopped()?.errors?.[0]?.extensions?.code).toBe('IP_RISK_BLOCKED')
  })

  it('returns a promise only when it must wait for a lookup', async () => {
    const run = runOnExecute(freshIp(fx.sim, 'tor'), '{ human }')
    expect(run.returned).toBeInstanceOf(Promise)
    expect(run.stopped()).toBeUndefined()
    await run.returned
    expect(run.stopped()?.errors?.[0]?.extensions?.reason).toBe('tor_exit_node')
  })
})

describe('lookup modes', () => {
  it("'auto' (default): a public operation never waits; the lookup completes in the background", async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = defaultYoga()
    const first = await gql(yoga, ip, { query: '{ me }' })
    expect(first.body).toEqual({ data: { me: 'pending:null' } })
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([{ ip, wait: false }])
    await until(() => fx.resolver.peek(ip)?.status === 'scored')
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'scored:92' } })
    expect(fx.sim.callsFor(ip)).toBe(1)
  })

  it("'auto': an operation selecting a protected field waits for the verdict", async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ip, { query: '{ human }' })
    expect(res.body).toEqual(blockedBody(['human'], 'tor_exit_node'))
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([{ ip, wait: true }])
  })

  it("'always-wait': every operation waits", async () => {
    const ip = freshIp(fx.sim, 'vpn')
    const { yoga } = createTestYoga(fx.resolver, { lookup: 'always-wait' })
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'scored:45' } })
  })

  it("'on-demand': a public operation makes no lookup (placeholder `skipped`), a protected one does", async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = createTestYoga(fx.resolver, { lookup: 'on-demand' })
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'skipped:null' } })
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([])
    expect(fx.sim.callsFor(ip)).toBe(0)
    expect((await gql(yoga, ip, { query: '{ human }' })).status).toBe(403)
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([{ ip, wait: true }])
    // Once cached, public operations see the answer.
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'scored:92' } })
  })

  it('a batch mixing public and protected operations in auto mode still makes one upstream call', async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = defaultYoga()
    const res = await gql(yoga, ip, [{ query: '{ me }' }, { query: '{ human }' }])
    expect(res.body[1]).toEqual(blockedBody(['human'], 'tor_exit_node'))
    expect(fx.sim.callsFor(ip)).toBe(1)
  })
})

describe('introspection is never blocked', () => {
  it.each([
    ['{ __schema { queryType { name } } }'],
    ['{ __type(name: "Query") { name } }'],
    ['{ __typename }'],
    ['query IntrospectionQuery { ...F } fragment F on Query { __typename }'],
  ])('%s from a Tor exit node, with the baseline policy on every operation', async (query) => {
    const { yoga } = createTestYoga(fx.resolver, { policy: policies.baseline, lookup: 'always-wait' })
    const res = await gql(yoga, ips.tor, { query })
    expect(res.status).toBe(200)
    expect(res.body.errors).toBeUndefined()
  })

  it('but an operation mixing introspection and data is subject to the plugin-wide policy', async () => {
    const { yoga } = createTestYoga(fx.resolver, { policy: policies.baseline, lookup: 'always-wait' })
    const res = await gql(yoga, ips.tor, { query: '{ __typename me }' })
    expect(res.body).toEqual(blockedBody(undefined, 'risk_score_exceeded'))
  })
})

describe('plugin-wide policy', () => {
  it.each([
    ['clean', 200],
    ['proxy', 200],
    ['tor', 403],
    ['highRisk', 403],
  ] as const)('policies.baseline with always-wait: %s → %i on a public field', async (profile, status) => {
    const { yoga, calls } = createTestYoga(fx.resolver, { policy: policies.baseline, lookup: 'always-wait' })
    const res = await gql(yoga, ips[profile], { query: '{ posts { id } }' })
    expect(res.status).toBe(status)
    if (status === 403) {
      expect(res.body).toEqual(blockedBody(undefined, 'risk_score_exceeded'))
      expect(calls.size).toBe(0)
    }
  })

  it("with 'auto', applies once the answer is known (the guide's async mode)", async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = createTestYoga(fx.resolver, { policy: policies.baseline })
    expect((await gql(yoga, ip, { query: '{ posts { id } }' })).status).toBe(200)
    await until(() => fx.resolver.peek(ip)?.status === 'scored')
    expect((await gql(yoga, ip, { query: '{ posts { id } }' })).status).toBe(403)
  })

  it('a field policy is reported first when both block', async () => {
    const { yoga } = createTestYoga(fx.resolver, { policy: policies.baseline })
    const res = await gql(yoga, ips.tor, { query: '{ human }' })
    expect(res.body).toEqual(blockedBody(['human'], 'tor_exit_node'))
  })
})

describe('subscriptions are enforced in onSubscribe', () => {
  async function subscribe(yoga: ReturnType<typeof createTestYoga>['yoga'], ip: string, query: string) {
    const res = await yoga.fetch(
      'http://localhost/graphql',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-forwarded-for': ip },
        body: JSON.stringify({ query }),
      },
      { req: { socket: { remoteAddress: '127.0.0.1' } } },
    )
    return { status: res.status, text: await res.text() }
  }

  it('blocks a protected subscription without starting its source stream', async () => {
    const { yoga, calls } = defaultYoga()
    const res = await subscribe(yoga, ips.tor, 'subscription { ticks }')
    expect(res.text).toContain('"code":"IP_RISK_BLOCKED"')
    expect(res.text).toContain('"path":["ticks"]')
    expect(calls.get('Subscription.ticks')).toBeUndefined()
  })

  it('streams for an allowed client, and for a public subscription', async () => {
    const { yoga, calls } = defaultYoga()
    const allowed = await subscribe(yoga, ips.clean, 'subscription { ticks }')
    expect(allowed.text).toContain('{"data":{"ticks":1}}')
    expect(allowed.text).toContain('{"data":{"ticks":2}}')
    const publicOne = await subscribe(yoga, ips.tor, 'subscription { publicTicks }')
    expect(publicOne.text).toContain('{"data":{"publicTicks":1}}')
    expect(calls.get('Subscription.ticks')).toBe(1)
  })
})

describe('monitor mode', () => {
  it('decides and reports, never blocks', async () => {
    const { yoga, calls } = createTestYoga(fx.resolver, { monitor: true, policy: policies.baseline, lookup: 'always-wait' })
    const before = fx.reports.length
    const res = await gql(yoga, ips.tor, { query: 'mutation { signup(email: "bot@example.com") }' })
    expect(res.body).toEqual({ data: { signup: 'created' } })
    expect(calls.get('Mutation.signup')).toBe(1)
    const reported = fx.reports.slice(before).map((r) => ({
      path: r.info?.path,
      action: r.decision.action,
      wouldBlock: r.decision.wouldBlock,
      monitored: r.decision.monitored,
      reason: r.decision.reason,
    }))
    expect(reported).toEqual([
      { path: 'Mutation.signup', action: 'allow', wouldBlock: true, monitored: true, reason: 'tor_exit_node' },
      { path: 'Mutation', action: 'allow', wouldBlock: true, monitored: true, reason: 'risk_score_exceeded' },
    ])
  })

  it('a single policy can be monitored through fieldPolicies', async () => {
    const { yoga } = createTestYoga(fx.resolver, { fieldPolicies: { 'Query.me': { ...policies.human, monitor: true } } })
    expect((await gql(yoga, ips.tor, { query: '{ me }' })).status).toBe(200)
  })
})

describe('fail open / fail closed when no verdict can be had', () => {
  let down: Fixture
  beforeAll(async () => {
    down = await createFixture({ budget: { timeoutMs: 500 } })
    down.sim.setFault(503)
  })
  afterAll(async () => {
    await down.close()
  })

  it('fails open by default: allowed, reported as lookup_unavailable with failOpen', async () => {
    const { yoga, calls } = createTestYoga(down.resolver)
    const before = down.reports.length
    const res = await gql(yoga, ips.tor, { query: '{ human }' })
    expect(res.body).toEqual({ data: { human: 'ok' } })
    expect(calls.get('Query.human')).toBe(1)
    const [report] = down.reports.slice(before)
    expect(report?.decision).toMatchObject({ action: 'allow', reason: 'lookup_unavailable', failOpen: true })
  })

  it("fails closed with failMode: 'closed'", async () => {
    const { yoga, calls } = createTestYoga(down.resolver, { failMode: 'closed' })
    const res = await gql(yoga, ips.tor, { query: 'mutation { signup(email: "a") }' })
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody(['signup'], 'lookup_unavailable'))
    expect(calls.size).toBe(0)
  })

  it("a policy's own onUnavailable wins over the plugin's failMode", async () => {
    const { yoga } = createTestYoga(down.resolver, {
      failMode: 'closed',
      fieldPolicies: { 'Query.me': { threshold: 50, onUnavailable: 'allow' } },
    })
    expect((await gql(yoga, ips.tor, { query: '{ me }' })).status).toBe(200)
    expect((await gql(yoga, ips.tor, { query: '{ human }' })).status).toBe(403)
  })

  it("follows the resolver's failMode when the plugin sets none", async () => {
    const closed = await createFixture({ failMode: 'closed', budget: { timeoutMs: 500 } })
    try {
      closed.sim.setFault(503)
      const { yoga } = createTestYoga(closed.resolver)
      expect((await gql(yoga, ips.tor, { query: '{ human }' })).body).toEqual(blockedBody(['human'], 'lookup_unavailable'))
    } finally {
      await closed.close()
    }
  })
})

describe('reports', () => {
  it('reports one decision per distinct policy with adapter, schema coordinate, operation type and name, user agent', async () => {
    const { yoga } = defaultYoga()
    const before = fx.reports.length
    await gql(
      yoga,
      ips.clean,
      { query: 'query Dash { human x: human lowRisk50 y: lowRisk50 admin { count } }', operationName: 'Dash' },
      { 'user-agent': 'test-agent/1.0' },
    )
    expect(fx.reports.slice(before).map((r) => [r.info, r.decision.policy.name, r.decision.action])).toEqual([
      [{ adapter: 'graphql', path: 'Query.human', method: 'query', operationName: 'Dash', userAgent: 'test-agent/1.0', request: expect.any(Object) }, 'human', 'allow'],
      [{ adapter: 'graphql', path: 'Query.lowRisk50', method: 'query', operationName: 'Dash', userAgent: 'test-agent/1.0', request: expect.any(Object) }, 'lowRisk(50)', 'allow'],
      [{ adapter: 'graphql', path: 'AdminQuery.count', method: 'query', operationName: 'Dash', userAgent: 'test-agent/1.0', request: expect.any(Object) }, 'lowRisk(40)', 'allow'],
    ])
  })

  it('reports nothing for an operation without protected field and without plugin-wide policy', async () => {
    const { yoga } = defaultYoga()
    const before = fx.reports.length
    await gql(yoga, ips.tor, { query: '{ posts { id } }' })
    expect(fx.reports.length).toBe(before)
  })

  it('reports the mutation type and a null operation name', async () => {
    const { yoga } = defaultYoga()
    const before = fx.reports.length
    await gql(yoga, ips.tor, { query: 'mutation { signup(email: "a") }' })
    expect(fx.reports.slice(before).map((r) => r.info)).toEqual([
      { adapter: 'graphql', path: 'Mutation.signup', method: 'mutation', operationName: null, userAgent: null, request: expect.any(Object) },
    ])
  })
})

describe('start-up: policies compiled and directives read once per schema', () => {
  it('compiles at start-up and never on a request', async () => {
    const before = fx.compiles.count
    const { yoga } = createTestYoga(fx.resolver, { policy: policies.baseline })
    const atStartUp = fx.compiles.count - before
    // human, notBot, admin, lowRisk 40/50/75, and the plugin-wide baseline.
    expect(atStartUp).toBe(7)
    for (const ip of [ips.clean, ips.tor, ips.vpn]) await gql(yoga, ip, { query: '{ human admin { count } }' })
    expect(fx.compiles.count - before).toBe(atStartUp)
  })

  it('code-first fieldPolicies are validated against the schema when Yoga starts', () => {
    expect(() => createTestYoga(fx.resolver, { fieldPolicies: { 'Mutation.nope': policies.human } })).toThrow(
      expect.objectContaining({ name: 'IpRiskConfigError', option: 'fieldPolicies.Mutation.nope' }),
    )
  })

  it('code-first fieldPolicies guard fields and types like directives', async () => {
    const { yoga, calls } = createTestYoga(fx.resolver, {
      fieldPolicies: { 'Mutation.publicNote': policies.human, Post: policies.notBot },
    })
    expect((await gql(yoga, ips.tor, { query: 'mutation { publicNote(text: "a") }' })).body).toEqual(
      blockedBody(['publicNote'], 'tor_exit_node'),
    )
    expect((await gql(yoga, ips.tor, { query: '{ posts { title } }' })).body).toEqual(
      blockedBody(['posts', 'title'], 'tor_exit_node'),
    )
    expect(calls.size).toBe(0)
  })
})

describe('client IP', () => {
  it('reads X-Forwarded-For only from a trusted peer: a spoofed header from a public peer is ignored', async () => {
    const { yoga } = defaultYoga()
    const res = await yoga.fetch(
      'http://localhost/graphql',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ips.clean },
        body: JSON.stringify({ query: '{ human }' }),
      },
      { req: { socket: { remoteAddress: ips.tor } } },
    )
    expect(res.status).toBe(403)
  })

  it('uses getClientIp when given (the text is trimmed and canonicalized)', async () => {
    const { yoga } = createTestYoga(fx.resolver, {
      lookup: 'always-wait',
      getClientIp: (ctx) => (ctx as { request: Request }).request.headers.get('x-client-ip'),
    })
    const res = await gql(yoga, null, { query: '{ human }' }, { 'x-client-ip': ` ${ips.tor} ` })
    expect(res.body).toEqual(blockedBody(['human'], 'tor_exit_node'))
    // The X-Forwarded-For a trusted peer would have sent is not consulted.
    const viaOption = await gql(yoga, ips.tor, { query: '{ me }' }, { 'x-client-ip': ips.vpn })
    expect(viaOption.body).toEqual({ data: { me: 'scored:45' } })
  })

  it.each([
    ['returns text that is not an IP', () => 'not-an-ip'],
    ['returns null', () => null],
    [
      'throws',
      () => {
        throw new Error('boom')
      },
    ],
  ])('getClientIp that %s means "no IP": the fail mode decides', async (_name, getClientIp) => {
    const { yoga: open } = createTestYoga(fx.resolver, { getClientIp })
    expect((await gql(open, ips.tor, { query: '{ human }' })).body).toEqual({ data: { human: 'ok' } })
    const { yoga: closed } = createTestYoga(fx.resolver, { getClientIp, failMode: 'closed' })
    expect((await gql(closed, ips.tor, { query: '{ human }' })).body).toEqual(blockedBody(['human'], 'lookup_unavailable'))
  })

  it('without a server context (no peer address) there is no client IP', async () => {
    const { yoga } = createTestYoga(fx.resolver, { failMode: 'closed' })
    const res = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ips.clean },
      body: JSON.stringify({ query: '{ human }' }),
    })
    expect(res.status).toBe(403)
  })
})

describe('any Envelop set-up (no Yoga): the Node request in context.req', () => {
  it('enforces and sets context.ipRisk', async () => {
    const calls: Calls = new Map()
    const schema = createSchema({ typeDefs: [ipRiskTypeDefs, testTypeDefs], resolvers: spyResolvers(calls) })
    const getEnveloped = envelop({
      plugins: [useEngine(graphql), useSchema(schema), useIpRisk({ resolver: fx.resolver, lookup: 'always-wait' })],
    })
    const run = async (ip: string, source: string) => {
      const { parse, validate, contextFactory, execute, schema: s } = getEnveloped({
        req: { headers: { 'x-forwarded-for': ip }, socket: { remoteAddress: '127.0.0.1' } },
      })
      const document = parse(source)
      expect(validate(s, document)).toEqual([])
      return execute({ schema: s, document, contextValue: await contextFactory() })
    }
    expect(await run(ips.vpn, '{ me human }')).toEqual({ data: { me: 'scored:45', human: 'ok' } })
    const blocked = (await run(ips.tor, '{ me human }')) as graphql.ExecutionResult
    expect(blocked.errors?.[0]?.extensions).toEqual({ code: 'IP_RISK_BLOCKED', reason: 'tor_exit_node', http: { status: 403 } })
    expect(blocked.errors?.[0]?.path).toEqual(['human'])
    expect(calls.get('Query.me')).toBe(1)
  })
})

describe('waitForIpRisk', () => {
  /**
   * Runs `{ check }` from `ip` on Yoga with the plugin; the resolver records `ctx.ipRisk` before, and after
   * `waitForIpRisk`, and answers `<status>:<score>` of the awaited verdict.
   */
  async function checkFrom(ip: string): Promise<{ body: unknown; seen: IpRisk[] }> {
    const seen: IpRisk[] = []
    const schema = createSchema<IpRiskContext>({
      typeDefs: [ipRiskTypeDefs, 'type Query { check: String! }'],
      resolvers: {
        Query: {
          check: async (_: unknown, __: unknown, ctx: IpRiskContext) => {
            seen.push(ctx.ipRisk)
            const risk = await waitForIpRisk(ctx)
            seen.push(ctx.ipRisk)
            return `${risk.status}:${String(risk.score)}`
          },
        },
      },
    })
    const { createYoga } = await import('graphql-yoga')
    const yoga = createYoga({ schema, plugins: [useIpRisk({ resolver: fx.resolver })], logging: false })
    const res = await gql(yoga as never, ip, { query: '{ check }' })
    return { body: res.body, seen }
  }

  it('gives resolvers a verdict on a public operation in auto mode', async () => {
    const { body, seen } = await checkFrom(freshIp(fx.sim, 'proxy'))
    expect(body).toEqual({ data: { check: 'scored:60' } })
    expect(seen.map((r) => r.status)).toEqual(['pending', 'scored'])
  })

  it('answers at once with the cached verdict when the IP is already in L1 (warm path, no lookup)', async () => {
    const ip = freshIp(fx.sim, 'vpn')
    await fx.resolver.lookup(ip)
    const callsBefore = fx.sim.callsFor(ip)
    const { body, seen } = await checkFrom(ip)
    expect(body).toEqual({ data: { check: 'scored:45' } })
    expect(seen.map((r) => `${r.status}/${r.source}`)).toEqual(['scored/l1', 'scored/l1'])
    expect(seen[0]).toBe(seen[1])
    expect(fx.sim.callsFor(ip)).toBe(callsBefore)
  })

  it.each([
    ['an empty context', {}],
    ['a pending answer the plugin did not put there', { ipRisk: { status: 'pending' } }],
    ['something else under ipRisk', { ipRisk: 'clean' }],
  ])('rejects with IpRiskError for a context the plugin did not prepare: %s', async (_name, context) => {
    await expect(waitForIpRisk(context as unknown as IpRiskContext)).rejects.toBeInstanceOf(IpRiskError)
  })
})

describe('wait: the same vocabulary as the tRPC middleware (lookup is its deprecated alias)', () => {
  it('wait: true makes every operation wait, as the deprecated lookup: always-wait did', async () => {
    const ip = freshIp(fx.sim, 'vpn')
    const { yoga } = createTestYoga(fx.resolver, { wait: true })
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'scored:45' } })
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([{ ip, wait: true }])
  })

  it('wait: false (the default) never delays a public operation', async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = createTestYoga(fx.resolver, { wait: false })
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'pending:null' } })
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([{ ip, wait: false }])
  })

  it("wait: 'on-demand' makes no lookup for a public operation", async () => {
    const ip = freshIp(fx.sim, 'tor')
    const { yoga } = createTestYoga(fx.resolver, { wait: 'on-demand' })
    expect((await gql(yoga, ip, { query: '{ me }' })).body).toEqual({ data: { me: 'skipped:null' } })
    expect(fx.lookups.filter((l) => l.ip === ip)).toEqual([])
  })

  it.each([
    ['wait and its deprecated alias together', { wait: true, lookup: 'always-wait' }, 'lookup', /set only `wait`/],
    ['a wait that is a lookup mode', { wait: 'always-wait' }, 'wait', /must be true, false or 'on-demand'/],
    ['a wait that is not a mode', { wait: 1 }, 'wait', /must be true, false or 'on-demand', got 1/],
  ])('rejects %s with a clear error', (_name, options, option, message) => {
    const error = configError(() => useIpRisk({ resolver: fx.resolver, ...(options as object) }))
    expect(error.option).toBe(option)
    expect(error.message).toMatch(message)
  })

  it("a policy's own failMode wins over the plugin's", async () => {
    const { yoga } = createTestYoga(fx.resolver, {
      failMode: 'closed',
      fieldPolicies: { 'Query.me': { threshold: 50, failMode: 'open' } },
      getClientIp: () => null,
    })
    // No client IP: no verdict, so the fail modes decide.
    expect((await gql(yoga, null, { query: '{ me }' })).status).toBe(200)
    expect((await gql(yoga, null, { query: '{ human }' })).status).toBe(403)
  })
})

describe('options are validated when the plugin is created', () => {
  it.each([
    ['no options', undefined, 'options'],
    ['no resolver', {}, 'resolver'],
    ['a resolver without check()', { resolver: { peek() {} } }, 'resolver'],
    ['an unknown option', { resolver: 'R', fieldPolicy: {} }, 'fieldPolicy'],
    ['a bad lookup mode', { resolver: 'R', lookup: 'sometimes' }, 'lookup'],
    ['a non-boolean monitor', { resolver: 'R', monitor: 'yes' }, 'monitor'],
    ['a bad failMode', { resolver: 'R', failMode: 'maybe' }, 'failMode'],
    ['a non-function getClientIp', { resolver: 'R', getClientIp: 'x-real-ip' }, 'getClientIp'],
    ['an empty message', { resolver: 'R', message: '' }, 'message'],
    ['a non-boolean exposeScore', { resolver: 'R', exposeScore: 1 }, 'exposeScore'],
    ['an invalid plugin-wide policy', { resolver: 'R', policy: { threshold: 900 } }, 'policy.threshold'],
  ])('rejects %s', (_name, options, option) => {
    const withResolver =
      options && (options as { resolver?: unknown }).resolver === 'R' ? { ...options, resolver: fx.resolver } : options
    let error: unknown
    try {
      useIpRisk(withResolver as never)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe(option)
  })
})
