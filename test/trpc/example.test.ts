/**
 * The example server and client (examples/trpc) as the demo, benchmarks and reliability suites use them: every demo
 * client against every protection level, the form protection, admin protection and its exemption, the errorFormatter
 * exposing the reason, SSE subscriptions, and the admin blocklist mutation.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { blockReason, createExampleClient } from '../../examples/trpc/client.js'
import { createExampleRouter, exampleProcedures } from '../../examples/trpc/router.js'
import { startTrpcExample, type TrpcExample } from '../../examples/trpc/server.js'
import { createExampleRisk, demoClients, type DemoClient, type ExampleRisk } from '../../examples/shared/setup.js'
import { collect } from './helpers.js'

let risk: ExampleRisk
let server: TrpcExample
beforeAll(async () => {
  // The shared set-up without IPASIS_API_KEY / REDIS_URL: the simulator, L1 only.
  risk = await createExampleRisk({ blocklist: false }, {})
  server = await startTrpcExample({ resolver: risk.resolver })
})
afterAll(async () => {
  await server.close()
  await risk.close()
})

async function verdict(call: () => Promise<unknown>): Promise<string> {
  try {
    await call()
    return 'ok'
  } catch (error) {
    return blockReason(error) ?? `unexpected: ${String(error)}`
  }
}

const table: [DemoClient, { orders: string; checkout: string; signup: string; admin: string }][] = [
  ['clean', { orders: 'ok', checkout: 'ok', signup: 'ok', admin: 'ok' }],
  ['vpn', { orders: 'ok', checkout: 'vpn_detected', signup: 'ok', admin: 'vpn_detected' }],
  ['proxy', { orders: 'ok', checkout: 'ok', signup: 'ok', admin: 'risk_score_exceeded' }],
  ['datacenter', { orders: 'ok', checkout: 'datacenter_ip', signup: 'ok', admin: 'datacenter_ip' }],
  ['tor', { orders: 'risk_score_exceeded', checkout: 'tor_exit_node', signup: 'tor_exit_node', admin: 'tor_exit_node' }],
  [
    'highRisk',
    { orders: 'risk_score_exceeded', checkout: 'risk_score_exceeded', signup: 'risk_score_exceeded', admin: 'risk_score_exceeded' },
  ],
]

describe('startTrpcExample + createExampleClient', () => {
  test('url is an http URL on 127.0.0.1 with a port and no trailing slash', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  test.each(table)('a %s client: orders / checkout / signup / admin', async (name, expected) => {
    const client = createExampleClient(server.url, { forwardedFor: demoClients[name] })
    expect({
      orders: await verdict(() => client.orders.query()),
      checkout: await verdict(() => client.checkout.mutate({ items: ['book'] })),
      signup: await verdict(() => client.signup.mutate({ email: 'someone@example.com' })),
      admin: await verdict(() => client.admin.stats.query()),
    }).toEqual(expected)
  })

  test('a blocked call sends no stack trace to the client, whatever NODE_ENV says', async () => {
    const response = await fetch(`${server.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': demoClients.tor },
      body: JSON.stringify({ email: 'someone@example.com' }),
    })
    expect(response.status).toBe(403)
    const body = JSON.stringify(await response.json())
    expect(body).not.toContain('"stack"')
    expect(body).toContain('"ipRiskReason":"tor_exit_node"')
  })

  test('open procedures never block, and whoami reports what iprisk knows', async () => {
    const client = createExampleClient(server.url, { forwardedFor: demoClients.tor, batch: false })
    await expect(client.hello.query()).resolves.toEqual({ greeting: 'hello' })
    await expect(client.whoami.query()).resolves.toMatchObject({ ip: demoClients.tor, status: 'scored', score: 92, isTor: true })
    await expect(client.admin.health.query()).resolves.toEqual({ ok: true })
  })

  test("the contact form refuses politely from a risky IP (the guide's form protection), without an error", async () => {
    const message = { email: 'someone@example.com', message: 'hi' }
    const risky = createExampleClient(server.url, { forwardedFor: demoClients.highRisk })
    await expect(risky.contact.mutate(message)).resolves.toEqual({
      accepted: false,
      message: 'Unable to process your request. Please try again later.',
    })
    const clean = createExampleClient(server.url, { forwardedFor: demoClients.clean })
    await expect(clean.contact.mutate(message)).resolves.toMatchObject({ accepted: true })
  })

  test('the ticks subscription streams to a clean client and is refused to a Tor client', async () => {
    const clean = createExampleClient(server.url, { forwardedFor: demoClients.clean })
    expect(await collect((h) => clean.ticks.subscribe({ count: 3 }, h))).toEqual({ data: [1, 2, 3], error: null })
    const tor = createExampleClient(server.url, { forwardedFor: demoClients.tor })
    const { data, error } = await collect((h) => tor.ticks.subscribe({ count: 3 }, h))
    expect(data).toEqual([])
    expect(blockReason(error)).toBe('tor_exit_node')
  })

  test('admin.block blocklists an address for everyone, shown as reason blocklisted', async () => {
    const target = '203.0.113.99'
    const admin = createExampleClient(server.url, { forwardedFor: demoClients.clean })
    const victim = createExampleClient(server.url, { forwardedFor: target })
    expect(await verdict(() => victim.orders.query())).toBe('ok')
    await expect(admin.admin.block.mutate({ ip: target, seconds: 60 })).resolves.toEqual({ blocked: target })
    expect(await verdict(() => victim.orders.query())).toBe('blocklisted')
    await risk.resolver.unblock(target)
  })

  test('exampleProcedures lists every procedure of the router exactly once', () => {
    const listed = Object.values(exampleProcedures).flat()
    expect([...listed].sort()).toEqual(Object.keys(createExampleRouter(risk.resolver)._def.procedures).sort())
    expect(new Set(listed).size).toBe(listed.length)
  })
})
