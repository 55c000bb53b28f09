/**
 * An error body with a 200 status (issue #15, item 8), through real HTTP: the IPASIS simulator answers
 * `{"error":"quota exceeded","risk_score":null}` with 200, the real `ipasis()` provider reads it, and a tRPC server
 * (standalone adapter) guards a procedure with a flags-only policy (`{ blockTor: true }`).
 *
 * Before the fix the body was an answer whose fields were all null, cached fresh for 300 s: with `failMode: 'closed'`
 * the flags-only policy allowed it, and a Tor exit behind it stayed allowed from cache. Now it is a `bad_response`:
 * the fail mode applies, and the next lookup asks the upstream again.
 */
import type { IncomingMessage } from 'node:http'
import { initTRPC } from '@trpc/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  IpRiskBlockedError,
  createRiskResolver,
  ipasis,
  type RiskResolver,
  type RiskResolverOptions,
  type SecurityEvent,
} from '../../src/core/index.js'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { createTrpcRisk } from '../../src/trpc/index.js'
import { serveStandalone, type Served } from '../trpc/helpers.js'
import { captureConsole, createEvidence, SECRET_API_KEY, watchProcess, describeProcessHygiene } from './helpers/evidence.js'
import { createHttpClient, flushHooks, startSimulator, type HttpClient } from './helpers/stack.js'

const ERROR_BODY = { error: 'quota exceeded', risk_score: null }

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)
let http: HttpClient
let sim: IpasisSimulator

beforeAll(async () => {
  http = createHttpClient(evidence)
  sim = await startSimulator()
})
afterAll(async () => {
  await http.close()
  await sim.close()
  restoreConsole()
  watch.stop()
})

interface Server {
  served: Served
  resolver: RiskResolver
  events: SecurityEvent[]
  close(): Promise<void>
}

/** A resolver on the simulator and a tRPC server whose `probe` query only blocks Tor (a flags-only policy). */
async function torOnlyServer(options: Partial<RiskResolverOptions>): Promise<Server> {
  const events: SecurityEvent[] = []
  const resolver = createRiskResolver({
    provider: ipasis({ apiKey: SECRET_API_KEY, baseUrl: sim.url }),
    trustProxy: 'loopback',
    breaker: false,
    logger: evidence.logger,
    onDecision: (event) => {
      events.push(event)
    },
    ...options,
  })
  const t = initTRPC.context<{ req: IncomingMessage }>().create({
    isDev: false,
    errorFormatter({ shape, error }) {
      const reason = error.cause instanceof IpRiskBlockedError ? error.cause.reason : undefined
      return reason === undefined ? shape : { ...shape, data: { ...shape.data, ipRiskReason: reason } }
    },
  })
  const { riskGate } = createTrpcRisk(resolver)
  const router = t.router({ probe: t.procedure.use(riskGate({ name: 'torOnly', blockTor: true })).query(() => ({ ok: true })) })
  const served = await serveStandalone(router)
  return {
    served,
    resolver,
    events,
    async close() {
      await served.close()
      await resolver.close()
    },
  }
}

async function lastEvent(server: Server, ip: string): Promise<SecurityEvent | undefined> {
  await flushHooks()
  return server.events.findLast((e) => e.ip === ip)
}

describe('an error body with a 200 status, through HTTP', () => {
  it("failMode 'closed': the flags-only policy refuses the caller (403 lookup_unavailable), the answer is a bad_response", async () => {
    const server = await torOnlyServer({ failMode: 'closed' })
    try {
      const ip = '11.9.0.1'
      sim.setProfile(ip, { json: ERROR_BODY })
      const outcome = await http.trpc(server.served.url, 'probe', { xff: ip })
      expect([outcome.reply.status, outcome.kind, outcome.reason]).toEqual([403, 'blocked', 'lookup_unavailable'])
      expect(await lastEvent(server, ip)).toMatchObject({ status: 'unavailable', error: 'bad_response', risk_score: null })
      // Control: a real answer on the same server still goes through.
      sim.setProfile('11.9.0.2', 'clean')
      expect((await http.trpc(server.served.url, 'probe', { xff: '11.9.0.2' })).kind).toBe('ok')
    } finally {
      await server.close()
    }
  })

  it('the error body is not cached: once the upstream answers again, the next request is scored (a Tor exit: 403)', async () => {
    const server = await torOnlyServer({ cache: { failureTtlSeconds: 0 } })
    try {
      const ip = '11.9.0.3'
      sim.setProfile(ip, { json: ERROR_BODY })
      const first = await http.trpc(server.served.url, 'probe', { xff: ip })
      expect(first.kind, 'fail open (the default): allowed, marked as such').toBe('ok')
      expect(await lastEvent(server, ip)).toMatchObject({ status: 'unavailable', error: 'bad_response', fail_open: true })
      sim.setProfile(ip, 'tor')
      const second = await http.trpc(server.served.url, 'probe', { xff: ip })
      expect([second.reply.status, second.reason]).toEqual([403, 'tor_exit_node'])
      expect(sim.callsFor(ip), 'asked again, not answered from a cached all-null answer').toBe(2)
    } finally {
      await server.close()
    }
  })
})

describeProcessHygiene(watch, evidence, { minResponses: 3 })
