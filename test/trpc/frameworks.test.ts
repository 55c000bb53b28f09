/**
 * The request is found on ctx without configuration behind the real Express and Fastify adapters: their
 * `createContext` puts the framework's request on `ctx.req` (Express: an `IncomingMessage`; Fastify: a
 * `FastifyRequest` with `headers` and `socket`), and iprisk reads the client IP from it under the resolver's trust.
 */
import type { AddressInfo } from 'node:net'
import { initTRPC } from '@trpc/server'
import { createExpressMiddleware } from '@trpc/server/adapters/express'
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify'
import express from 'express'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTrpcRisk } from '../../src/trpc/index.js'
import { clientFor, createFixture, ips, outcome, type Fixture } from './helpers.js'

let trusting: Fixture
let distrusting: Fixture
beforeAll(async () => {
  trusting = await createFixture()
  distrusting = await createFixture({ trustProxy: false, logger: { info() {}, warn() {} } })
})
afterAll(async () => {
  await trusting.close()
  await distrusting.close()
})

function buildRouter(f: Fixture) {
  const t = initTRPC.context<{ req: unknown }>().create()
  const { withIpRisk, requireHuman } = createTrpcRisk(f.resolver)
  const view = ({ ctx }: { ctx: { ipRisk: { ip: string | null; status: string } } }) => ({
    ip: ctx.ipRisk.ip,
    status: ctx.ipRisk.status,
  })
  return t.router({
    whoami: t.procedure.use(withIpRisk()).query(view),
    human: t.procedure.use(requireHuman()).query(view),
  })
}
type Router = ReturnType<typeof buildRouter>

interface Served {
  url: string
  close(): Promise<void>
}

async function serveExpress(f: Fixture): Promise<Served> {
  const app = express()
  app.use('/trpc', createExpressMiddleware({ router: buildRouter(f), createContext: ({ req }) => ({ req }) }))
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/trpc`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function serveFastify(f: Fixture): Promise<Served> {
  const app = Fastify()
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: { router: buildRouter(f), createContext: ({ req }: { req: unknown }) => ({ req }) },
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/trpc`, close: () => app.close() }
}

describe.each([
  ['Express', serveExpress],
  ['Fastify', serveFastify],
] as const)('%s adapter: ctx.req is found without configuration', (_name, serve) => {
  test('X-Forwarded-For from a trusted (loopback) proxy chooses the client IP, and a Tor client is refused', async () => {
    const served = await serve(trusting)
    try {
      await expect(clientFor<Router>(served.url, ips.datacenter).whoami.query()).resolves.toEqual({
        ip: ips.datacenter,
        status: 'scored',
      })
      expect(await outcome(() => clientFor<Router>(served.url, ips.tor).human.query())).toBe('FORBIDDEN 403')
    } finally {
      await served.close()
    }
  })

  test('a spoofed X-Forwarded-For is ignored without trust: the socket address is the client', async () => {
    const calls = distrusting.sim.calls
    const served = await serve(distrusting)
    try {
      await expect(clientFor<Router>(served.url, ips.tor).whoami.query()).resolves.toEqual({
        ip: '127.0.0.1',
        status: 'skipped',
      })
      expect(distrusting.sim.calls).toBe(calls)
    } finally {
      await served.close()
    }
  })
})
