/**
 * Finding the request and the client IP of a call: per adapter (standalone, fetch, Fastify-shaped requests), with
 * the resolver's trust settings (a spoofed X-Forwarded-For never chooses the IP), and with each option.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { fetchRequestHandler } from '@trpc/server/adapters/fetch'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTrpcRisk, type TrpcRiskOptions } from '../../src/trpc/index.js'
import { clientFor, createFixture, ips, outcome, serveFetch, serveStandalone, type Fixture } from './helpers.js'

let trusting: Fixture
let distrusting: Fixture
beforeAll(async () => {
  trusting = await createFixture()
  // A silent logger: the resolver rightly warns that X-Forwarded-For arrives from loopback while trust is off.
  distrusting = await createFixture({ trustProxy: false, logger: { info() {}, warn() {} } })
})
afterAll(async () => {
  await trusting.close()
  await distrusting.close()
})

function buildRouter(f: Fixture, options: TrpcRiskOptions<any> = {}) {
  const t = initTRPC.context<any>().create()
  const { withIpRisk, requireHuman } = createTrpcRisk(f.resolver, options)
  const view = ({ ctx }: { ctx: { ipRisk: { ip: string | null; status: string; error: string | null } } }) => ({
    ip: ctx.ipRisk.ip,
    status: ctx.ipRisk.status,
    error: ctx.ipRisk.error,
  })
  return t.router({
    whoami: t.procedure.use(withIpRisk()).query(view),
    human: t.procedure.use(requireHuman()).query(view),
  })
}
type Router = ReturnType<typeof buildRouter>

describe('standalone adapter (Node IncomingMessage on ctx.req)', () => {
  test('X-Forwarded-For from a trusted (loopback) proxy chooses the client IP', async () => {
    const served = await serveStandalone(buildRouter(trusting))
    try {
      const client = clientFor<Router>(served.url, ips.datacenter)
      await expect(client.whoami.query()).resolves.toEqual({ ip: ips.datacenter, status: 'scored', error: null })
      expect(await outcome(() => clientFor<Router>(served.url, ips.tor).human.query())).toBe('FORBIDDEN 403')
    } finally {
      await served.close()
    }
  })

  test('a spoofed X-Forwarded-For is ignored without trust: the socket address is the client, nothing is looked up', async () => {
    const served = await serveStandalone(buildRouter(distrusting))
    try {
      const client = clientFor<Router>(served.url, ips.tor)
      await expect(client.whoami.query()).resolves.toEqual({ ip: '127.0.0.1', status: 'skipped', error: null })
      // The Tor address in the header is not the caller: the gate sees a loopback client and lets it through.
      expect(await outcome(() => client.human.query())).toBe('ok')
      expect(distrusting.sim.calls).toBe(0)
    } finally {
      await served.close()
    }
  })

  test('a Fastify-shaped request (headers, socket, raw, ip) is read through the resolver, never through its .ip', async () => {
    const served = await serveStandalone(buildRouter(trusting), ({ req }) => ({
      req: { raw: req, headers: req.headers, socket: req.socket, ip: ips.highRisk, id: 'req-1' },
    }))
    try {
      await expect(clientFor<Router>(served.url, ips.vpn).whoami.query()).resolves.toMatchObject({ ip: ips.vpn })
      await expect(clientFor<Router>(served.url).whoami.query()).resolves.toMatchObject({ ip: '127.0.0.1' })
    } finally {
      await served.close()
    }
  })

  test('ctx.request is found too', async () => {
    const served = await serveStandalone(buildRouter(trusting), ({ req }) => ({ request: req }))
    try {
      await expect(clientFor<Router>(served.url, ips.clean).whoami.query()).resolves.toMatchObject({ ip: ips.clean })
    } finally {
      await served.close()
    }
  })
})

describe('fetch adapter (Next.js app router, Bun, Deno, Workers)', () => {
  test('ctx.req (a fetch Request) + ctx.peerAddress: the peer is trusted, X-Forwarded-For chooses the IP', async () => {
    const served = await serveFetch(buildRouter(trusting))
    try {
      await expect(clientFor<Router>(served.url, ips.proxy).whoami.query()).resolves.toEqual({
        ip: ips.proxy,
        status: 'scored',
        error: null,
      })
      expect(await outcome(() => clientFor<Router>(served.url, ips.tor).human.query())).toBe('FORBIDDEN 403')
    } finally {
      await served.close()
    }
  })

  test('without a peer address a fetch Request has no client IP: the fail mode decides (open by default)', async () => {
    const served = await serveFetch(buildRouter(trusting), ({ req }) => ({ req }))
    try {
      const client = clientFor<Router>(served.url, ips.tor)
      await expect(client.whoami.query()).resolves.toMatchObject({ ip: null })
      expect(await outcome(() => client.human.query())).toBe('ok')
    } finally {
      await served.close()
    }
  })

  test('getPeerAddress reads the peer from wherever the platform put it', async () => {
    const served = await serveFetch(
      buildRouter(trusting, { getPeerAddress: (ctx: { platform: { remote: string } }) => ctx.platform.remote }),
      ({ req, peer }) => ({ req, platform: { remote: peer } }),
    )
    try {
      await expect(clientFor<Router>(served.url, ips.vpn).whoami.query()).resolves.toMatchObject({ ip: ips.vpn })
    } finally {
      await served.close()
    }
  })

  test('a context that itself has headers (create-t3-app style { headers }) is used as the request', async () => {
    const served = await serveFetch(buildRouter(trusting), ({ req, peer }) => ({ headers: req.headers, peerAddress: peer }))
    try {
      await expect(clientFor<Router>(served.url, ips.clean).whoami.query()).resolves.toMatchObject({ ip: ips.clean })
    } finally {
      await served.close()
    }
  })

  test('getClientIp (e.g. Cloudflare Workers cf-connecting-ip) replaces request-based resolution, canonicalized', async () => {
    const router = buildRouter(trusting, {
      getClientIp: (ctx: { req: Request }) => ctx.req.headers.get('cf-connecting-ip'),
    })
    const call = async (headers: Record<string, string>): Promise<unknown> => {
      const req = new Request('http://worker.example/whoami', { headers })
      const res = await fetchRequestHandler({ endpoint: '', req, router, createContext: () => ({ req }) })
      return ((await res.json()) as { result: { data: unknown } }).result.data
    }
    await expect(call({ 'cf-connecting-ip': ips.datacenter })).resolves.toEqual({ ip: ips.datacenter, status: 'scored', error: null })
    await expect(call({ 'cf-connecting-ip': '::ffff:203.0.113.10' })).resolves.toMatchObject({ ip: ips.clean })
    await expect(call({ 'cf-connecting-ip': 'not-an-ip' })).resolves.toMatchObject({ ip: null })
    await expect(call({ 'x-forwarded-for': ips.tor })).resolves.toMatchObject({ ip: null })
  })
})

describe('options to find the request', () => {
  test('getRequest finds a request stored under another name', async () => {
    const served = await serveStandalone(buildRouter(trusting, { getRequest: (ctx: { http: IncomingMessage }) => ctx.http }), ({ req }) => ({
      http: req,
    }))
    try {
      await expect(clientFor<Router>(served.url, ips.vpn).whoami.query()).resolves.toMatchObject({ ip: ips.vpn })
    } finally {
      await served.close()
    }
  })

  test('a getRequest that returns something other than an object counts as no request (no IP, no crash)', async () => {
    const served = await serveStandalone(buildRouter(trusting, { getRequest: () => 'req' as never }))
    try {
      await expect(clientFor<Router>(served.url, ips.vpn).whoami.query()).resolves.toEqual({
        ip: null,
        status: 'unavailable',
        error: 'no_ip',
      })
    } finally {
      await served.close()
    }
  })

  test('no request on ctx (a server-side call): no IP, and a fail-closed resolver blocks gated calls', async () => {
    const closed = await createFixture({ failMode: 'closed' })
    try {
      const router = buildRouter(closed)
      const caller = router.createCaller({})
      await expect(caller.whoami()).resolves.toMatchObject({ ip: null })
      await expect(caller.human()).rejects.toMatchObject({ code: 'FORBIDDEN', cause: { reason: 'lookup_unavailable' } })
      expect(closed.sim.calls).toBe(0)
    } finally {
      await closed.close()
    }
  })
})
