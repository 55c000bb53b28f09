/**
 * The Yoga example over real HTTP (node:http + createYoga): the documented exports `startYogaExample` /
 * `createExampleYoga`, the schema's directives on fields, an object type and an interface, the contact-form check,
 * batching, subscriptions over SSE, and the server run directly with tsx.
 */
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startYogaExample, type RunningYogaExample } from '../../examples/graphql/server.js'
import { blockedBody, createFixture, freshIp, ips, type Fixture } from './helpers.js'

let fx: Fixture
let server: RunningYogaExample

beforeAll(async () => {
  fx = await createFixture()
  server = await startYogaExample({ resolver: fx.resolver })
})
afterAll(async () => {
  await server.close()
  await fx.close()
})

async function post(ip: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, ...headers },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

describe('startYogaExample', () => {
  it('listens on 127.0.0.1 on a free port and serves /graphql', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/)
  })

  it('answers GET queries too', async () => {
    const res = await fetch(`${server.url}?query=${encodeURIComponent('{ posts { id } }')}`, {
      headers: { 'x-forwarded-for': ips.clean },
    })
    expect(await res.json()).toEqual({ data: { posts: [{ id: 'p1' }, { id: 'p2' }] } })
  })

  it('puts the client IP chosen by the trust model (X-Forwarded-For from loopback) in context.ipRisk', async () => {
    const ip = freshIp(fx.sim, 'vpn')
    const first = await post(ip, { query: '{ myRisk { ip ipKind status } }' })
    expect(first.body).toEqual({ data: { myRisk: { ip, ipKind: 'documentation', status: 'pending' } } })
  })
})

describe('the example schema over HTTP', () => {
  it.each([
    // field: Mutation.signup @requireHuman
    ['tor', 'mutation { signup(email: "bot@example.com") { id } }', [['signup'], 'tor_exit_node']],
    ['vpn', 'mutation { signup(email: "vpn@example.com") { email } }', { signup: { email: 'vpn@example.com' } }],
    // field: Mutation.login @requireLowRisk(threshold: 75)
    ['tor', 'mutation { login(email: "ada@example.com", password: "x") { token } }', [['login'], 'risk_score_exceeded']],
    ['proxy', 'mutation { login(email: "ada@example.com", password: "x") { user { id } } }', { login: { user: { id: '1' } } }],
    // object type: AdminQuery @ipRisk(policy: ADMIN)
    ['vpn', '{ admin { blockedIps } }', [['admin', 'blockedIps'], 'vpn_detected']],
    ['clean', '{ admin { blockedIps } }', { admin: { blockedIps: 0 } }],
    // interface: Account @requireLowRisk(threshold: 80) guards User
    ['tor', '{ user(id: "1") { email } }', [['user', 'email'], 'risk_score_exceeded']],
    ['proxy', '{ user(id: "1") { email } }', { user: { email: 'ada@example.com' } }],
    ['tor', '{ node(id: "p1") { ... on Post { title } } }', { node: { title: 'Score globally, enforce locally' } }],
  ] as const)('%s: %s', async (profile, query, expected) => {
    const before = server.store.users.length
    const res = await post(ips[profile], { query })
    if (Array.isArray(expected)) {
      expect(res.status).toBe(403)
      expect(res.body).toEqual(blockedBody([...expected[0]], expected[1]))
      expect(server.store.users.length).toBe(before) // a blocked signup never ran
    } else {
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ data: expected })
    }
  })

  it.each([
    ['clean', true],
    ['proxy', true], // 60 < 70
    ['tor', false], // 92 >= 70
    ['highRisk', false],
  ] as const)("the guide's contact form soft-rejects suspicious senders: %s → accepted %s, even on a first request", async (profile, accepted) => {
    const ip = freshIp(fx.sim, profile)
    const before = server.store.contactMessages.length
    const res = await post(ip, { query: 'mutation { sendContactMessage(email: "a@b.c", message: "hi") { accepted message } }' })
    expect(res.status).toBe(200)
    expect(res.body.data.sendContactMessage.accepted).toBe(accepted)
    expect(res.body.data.sendContactMessage.message).toBe(
      accepted ? 'Thanks, we will get back to you.' : 'Unable to process your request. Please try again later.',
    )
    expect(server.store.contactMessages.length - before).toBe(accepted ? 1 : 0)
  })

  it('batches share one lookup', async () => {
    const ip = freshIp(fx.sim, 'datacenter')
    const res = await post(ip, [
      { query: '{ admin { blockedIps } }' },
      { query: 'mutation { login(email: "ada@example.com", password: "x") { token } }' },
      { query: '{ posts { id } }' },
    ])
    expect(res.body[0]).toEqual(blockedBody(['admin', 'blockedIps'], 'datacenter_ip'))
    expect(res.body[1].data.login.token).toMatch(/^session-/)
    expect(res.body[2].data.posts).toHaveLength(2)
    expect(fx.sim.callsFor(ip)).toBe(1)
  })

  it.each([
    ['clean', ['3', '2', '1', '0']],
    ['tor', null],
  ] as const)('subscriptions over SSE (Subscription.countdown @requireNotBot): %s', async (profile, expected) => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-forwarded-for': ips[profile] },
      body: JSON.stringify({ query: 'subscription { countdown(from: 3) }' }),
    })
    const text = await res.text()
    if (expected === null) {
      expect(text).toContain('"extensions":{"code":"IP_RISK_BLOCKED","reason":"tor_exit_node"}')
      expect(text).not.toContain('"countdown":')
    } else {
      expect([...text.matchAll(/"countdown":(\d+)/g)].map((m) => m[1])).toEqual(expected)
    }
  })
})

describe('examples/graphql/server.ts runs directly', () => {
  it('starts on the simulator, serves the schema and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/graphql/server.ts'], {
      env: { ...process.env, PORT: '0', IPASIS_API_KEY: '', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const match = /Yoga example on (http:\/\/\S+\/graphql)/.exec(out)
          if (match?.[1] !== undefined) resolve(match[1])
        })
        child.once('exit', (code) => reject(new Error(`exited early with ${String(code)}: ${out}`)))
      })
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.40' },
        body: JSON.stringify({ query: 'mutation { signup(email: "bot@example.com") { id } }' }),
      })
      expect(res.status).toBe(403)
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})
