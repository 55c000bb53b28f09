/**
 * NAT64, 6to4 and Teredo clients through real HTTP (issue #15, item 5): the example tRPC and Yoga servers behind a
 * trusted proxy (`trustProxy: 'loopback'`), the client named in `X-Forwarded-For` by an address that embeds an IPv4
 * client, the real `ipasis()` provider on the local simulator.
 *
 * Promise checked: such a client is its IPv4 address everywhere — its own upstream lookup and verdict (never another
 * NAT64 client's), the deny list, `block()`, the answer's `ip` (whoami) and the security events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IpasisSimulator } from '../../src/testing/index.js'
import { captureConsole, createEvidence, SECRET_API_KEY, watchProcess, describeProcessHygiene } from './helpers/evidence.js'
import { createHttpClient, flushHooks, startSimulator, startStack, type HttpClient } from './helpers/stack.js'

const evidence = createEvidence()
const watch = watchProcess(evidence)
const restoreConsole = captureConsole(evidence)
let http: HttpClient
let sim: IpasisSimulator

const TOR_EXIT = '185.220.101.66'
const LOGIN = 'mutation { login(email: "a@example.com", password: "pw") { token } }'

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

describe('NAT64 / 6to4 / Teredo clients in X-Forwarded-For (example servers, trustProxy loopback)', () => {
  it('the issue’s case: 64:ff9b::808:808 is served, then 64:ff9b::b9dc:6542 (a Tor exit) is refused on tRPC and Yoga, one upstream call each', async () => {
    sim.reset()
    sim.setProfile(TOR_EXIT, 'tor')
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { breaker: false, blocklist: false } })
    try {
      const clean = await http.trpc(stack.trpc.url, 'orders', { xff: '64:ff9b::808:808' })
      const torTrpc = await http.trpc(stack.trpc.url, 'orders', { xff: '64:ff9b::b9dc:6542' })
      const torYoga = await http.graphql(stack.yoga.url, LOGIN, { xff: '64:ff9b::185.220.101.66' })
      expect([clean.kind, torTrpc.kind, torYoga.kind]).toEqual(['ok', 'blocked', 'blocked'])
      expect([torTrpc.reason, torYoga.reason]).toEqual(['risk_score_exceeded', 'risk_score_exceeded'])
      expect(sim.callsFor('8.8.8.8')).toBe(1)
      expect(sim.callsFor(TOR_EXIT)).toBe(1)
      expect(stack.provider.ips).toEqual(['8.8.8.8', TOR_EXIT])

      const who = await http.trpc(stack.trpc.url, 'whoami', { xff: '2002:b9dc:6542::1' }) // 6to4 form, from cache
      expect((who.reply.json as { result: { data: { ip: string } } }).result.data.ip).toBe(TOR_EXIT)
      expect(sim.calls).toBe(2)

      await flushHooks()
      const blocked = stack.events.filter((e) => e.action === 'block')
      expect(blocked.map((e) => e.ip)).toEqual([TOR_EXIT, TOR_EXIT])
    } finally {
      await stack.close()
    }
  })

  it('Teredo clients of one Teredo server get their own verdicts', async () => {
    sim.reset()
    sim.setProfile(TOR_EXIT, 'tor')
    const stack = await startStack({ simUrl: sim.url, evidence, resolver: { breaker: false, blocklist: false } })
    try {
      // Server 65.54.227.120; clients 8.8.8.8 and 185.220.101.66 (last 32 bits inverted).
      const clean = await http.trpc(stack.trpc.url, 'orders', { xff: '2001:0:4136:e378:8000:63bf:f7f7:f7f7' })
      const tor = await http.graphql(stack.yoga.url, LOGIN, { xff: '2001:0:4136:e378:8000:63bf:4623:9abd' })
      expect([clean.kind, tor.kind]).toEqual(['ok', 'blocked'])
      expect(stack.provider.ips).toEqual(['8.8.8.8', TOR_EXIT])
    } finally {
      await stack.close()
    }
  })

  it('the deny-list entry 185.220.101.66 and block() of 8.8.8.8 refuse the NAT64 / 6to4 forms, without an upstream call', async () => {
    sim.reset()
    const stack = await startStack({
      simUrl: sim.url,
      evidence,
      resolver: { breaker: false, blocklist: false, lists: { deny: [TOR_EXIT] } },
    })
    try {
      await stack.resolver.block('8.8.8.8', 600)
      const denied = await http.trpc(stack.trpc.url, 'orders', { xff: '64:ff9b::b9dc:6542' })
      const blocked = await http.graphql(stack.yoga.url, LOGIN, { xff: '2002:808:808:1::2' })
      expect([denied.kind, denied.reason]).toEqual(['blocked', 'denylisted'])
      expect([blocked.kind, blocked.reason]).toEqual(['blocked', 'blocklisted'])
      expect(sim.calls).toBe(0)
    } finally {
      await stack.close()
    }
  })
})

describeProcessHygiene(watch, evidence, { minResponses: 5 })
