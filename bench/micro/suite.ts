/**
 * Micro benchmarks of the per-request hot path. Each group has its own baseline, measured in the same run:
 * - client IP: reading a header (what any app does anyway) vs `createClientIpReader` with `trustProxy: 'loopback'`;
 * - warm cache: `resolver.peek` (L1 hit) and `resolver.check`, vs a plain `Map#get`;
 * - L2 (Redis only): an L2 hit through `resolver.lookup` vs a bare `GET` of the same size on a Redis client;
 * - GraphQL: the per-operation analysis on a cached document, and a whole `yoga.fetch` with and without the plugin;
 * - tRPC: a procedure through `createCaller` with and without the gate (warm cache).
 */
import { createClient } from '@keyv/redis'
import { initTRPC } from '@trpc/server'
import {
  createClientIpReader,
  createRiskResolver,
  ipasis,
  policies,
  type RequestLike,
  type RiskResolver,
  type RiskResolverOptions,
} from '../../src/core/index.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createTrpcRisk } from '../../src/trpc/index.js'
import type { BenchOptions } from '../lib/args.js'
import { L2_MICRO_GROUP, TRPC_MICRO_GROUP } from '../lib/targets.js'
import { clientPool } from '../load/ips.js'
import { benchKeyPrefix, benchRedisUrl, flushBenchKeys } from '../load/redis.js'
import { warmL1, warmL2 } from '../load/warm.js'
import { graphqlMicroGroups } from './graphql.js'
import { runMicroGroup, type MicroGroup, type MicroRow } from './harness.js'

export interface MicroEnv {
  sim: IpasisSimulator
  /** L1-backed resolver, every pool client warm. */
  resolver: RiskResolver
  pool: string[]
  /** Requests from the trusted loopback proxy, one per pool client. */
  requests: RequestLike[]
}

function benchResolver(sim: IpasisSimulator, extra: Partial<RiskResolverOptions> = {}): RiskResolver {
  return createRiskResolver({
    provider: ipasis({ apiKey: sim.apiKey, baseUrl: sim.url }),
    trustProxy: 'loopback',
    scoreDocumentationRanges: true,
    ...extra,
  })
}

function clientIpGroup(): MicroGroup {
  const read = createClientIpReader({ trustProxy: 'loopback' })
  const oneHop = { headers: { 'x-forwarded-for': '203.0.113.9' }, socket: { remoteAddress: '127.0.0.1' } }
  // Four trusted loopback proxies in front of the app: the reader walks every hop from the right.
  const fiveHops = {
    headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.5, 127.0.0.4, 127.0.0.3, 127.0.0.2' },
    socket: { remoteAddress: '127.0.0.1' },
  }
  const direct = { headers: {}, socket: { remoteAddress: '203.0.113.9' } }
  const batch = 1_000
  return {
    group: 'Client IP (trustProxy: loopback)',
    baseline: { name: "req.headers['x-forwarded-for']", batch, op: () => oneHop.headers['x-forwarded-for'] },
    cases: [
      { name: 'no proxy (socket address)', batch, op: () => read(direct).ip },
      { name: 'X-Forwarded-For, 1 hop', batch, op: () => read(oneHop).ip },
      { name: 'X-Forwarded-For, 5 hops (4 trusted)', batch, op: () => read(fiveHops).ip },
    ],
  }
}

function warmGroup(env: MicroEnv): MicroGroup {
  const { resolver, pool } = env
  const n = pool.length
  const map = new Map(pool.map((ip) => [ip, { ip }]))
  const policy = resolver.compile(policies.lowRisk(70))
  const risks = pool.map((ip) => resolver.peek(ip)!)
  const batch = 1_000
  return {
    group: 'Warm cache (L1)',
    baseline: { name: 'Map#get (same keys)', batch, op: (i) => map.get(pool[i % n]!) },
    cases: [
      { name: 'resolver.peek (L1 hit)', batch, op: (i) => resolver.peek(pool[i % n]!) },
      { name: 'resolver.check (threshold 70)', batch, op: (i) => resolver.check(risks[i % n]!, policy).action },
      { name: 'peek + check (the warm gate)', batch, op: (i) => resolver.check(resolver.peek(pool[i % n]!)!, policy).action },
      {
        name: 'clientIp + peek + check',
        batch,
        op: (i) => resolver.check(resolver.peek(resolver.clientIp(env.requests[i % n]!).ip)!, policy).action,
      },
    ],
  }
}

async function l2Group(sim: IpasisSimulator, pool: string[]): Promise<{ group: MicroGroup; close: () => Promise<void> }> {
  await flushBenchKeys()
  const resolver = benchResolver(sim, { cache: { l1: false, l2: benchRedisUrl, prefix: benchKeyPrefix } })
  const client = createClient({ url: benchRedisUrl, socket: { connectTimeout: 2_000, reconnectStrategy: false } })
  client.on('error', () => {})
  try {
    await warmL2(resolver, pool)
    await client.connect()
  } catch (err) {
    client.destroy()
    await resolver.close()
    throw err
  }
  // A value shaped and sized like a stored answer (keyv's envelope around iprisk's tuple), so the bare GET moves as
  // many bytes as the L2 read.
  const key = `${benchKeyPrefix}:micro:get`
  const d = [5, false, false, false, false, 'US', 7922, 'Comcast Cable Communications']
  await client.set(key, JSON.stringify({ value: { f: Date.now(), d }, expires: Date.now() + 3_900_000 }))
  const n = pool.length
  // One operation per sample: a loopback round trip is far above the timer's resolution, and a median over single
  // operations is not dragged up by the occasional scheduling stall the way a batch sum is.
  const batch = 1
  return {
    group: {
      group: L2_MICRO_GROUP,
      baseline: { name: 'bare Redis GET (node-redis, loopback)', batch, async: true, op: () => client.get(key) },
      cases: [{ name: 'resolver.lookup, L1 off, L2 hit', batch, async: true, op: (i) => resolver.lookup(pool[i % n]!) }],
      note: 'One sequential request at a time: the time is the loopback round trip plus client-side work.',
    },
    close: async () => {
      client.destroy()
      await resolver.close()
      await flushBenchKeys()
    },
  }
}

function trpcGroup(env: MicroEnv): MicroGroup {
  const t = initTRPC.context<{ req: RequestLike }>().create()
  const { riskGate, withIpRisk } = createTrpcRisk(env.resolver)
  const handler = () => ({ ok: true })
  // tRPC's own cost of any middleware that adds to the context (the ctx merge on `next`), for reference.
  const noop = t.middleware(({ next }) => next({ ctx: { extra: 1 } }))
  const router = t.router({
    plain: t.procedure.query(handler),
    noop: t.procedure.use(noop).query(handler),
    annotated: t.procedure.use(withIpRisk()).query(handler),
    gated: t.procedure.use(riskGate(70)).query(handler),
    orders: t.procedure.use(withIpRisk()).use(riskGate(70)).query(handler),
  })
  const factory = t.createCallerFactory(router)
  const n = env.pool.length
  const loopback = { remoteAddress: '127.0.0.1' }
  // A fresh request, context and caller per call, as the HTTP adapter creates them per request (iprisk memoizes per
  // request object, so reusing one would flatter it).
  const ctx = (i: number) => ({ req: { headers: { 'x-forwarded-for': env.pool[i % n]! }, socket: loopback } })
  const batch = 4
  return {
    group: TRPC_MICRO_GROUP,
    baseline: { name: 'procedure without iprisk', batch, async: true, op: (i) => factory(ctx(i)).plain() },
    cases: [
      { name: 'reference: a no-op middleware adding one ctx field', batch, async: true, op: (i) => factory(ctx(i)).noop() },
      { name: 'withIpRisk()', batch, async: true, op: (i) => factory(ctx(i)).annotated() },
      { name: 'riskGate(70)', batch, async: true, op: (i) => factory(ctx(i)).gated() },
      { name: 'withIpRisk() + riskGate(70) (the example’s `orders`)', batch, async: true, op: (i) => factory(ctx(i)).orders() },
    ],
    note:
      'Each call builds a fresh request, context and caller, as the HTTP adapter does per request. The reference row ' +
      'is what tRPC itself charges for any middleware that extends the context; iprisk’s own cost is the difference.',
  }
}

export async function runMicroSuite(
  options: BenchOptions,
  log: (line: string) => void,
): Promise<{ rows: MicroRow[]; groups: Pick<MicroGroup, 'group' | 'note'>[] }> {
  const sim = await startIpasisSimulator({ apiKey: 'bench-key' })
  const pool = clientPool(200)
  const resolver = benchResolver(sim)
  await warmL1(resolver, pool)
  const requests: RequestLike[] = pool.map((ip) => ({ headers: { 'x-forwarded-for': ip }, socket: { remoteAddress: '127.0.0.1' } }))
  const env: MicroEnv = { sim, resolver, pool, requests }
  const rows: MicroRow[] = []
  const groups: Pick<MicroGroup, 'group' | 'note'>[] = []
  const run = async (group: MicroGroup): Promise<void> => {
    const result = await runMicroGroup(group, options.microTimeMs)
    rows.push(...result)
    groups.push({ group: group.group, ...(group.note ? { note: group.note } : {}) })
    for (const r of result) log(`  ${group.group} / ${r.name}: ${r.nsPerOp.toFixed(1)} ns/op (×${r.ratio.toFixed(2)})`)
  }
  try {
    await run(clientIpGroup())
    await run(warmGroup(env))
    await run(trpcGroup(env))
    for (const group of await graphqlMicroGroups(env)) await run(group)
    // Redis may be missing: report it and keep the other groups.
    const l2 = await l2Group(sim, pool).catch((err: unknown) => {
      log(`  ${L2_MICRO_GROUP}: skipped (${err instanceof Error ? err.message : String(err)})`)
      return undefined
    })
    if (l2) {
      try {
        await run(l2.group)
      } finally {
        await l2.close()
      }
    }
  } finally {
    await resolver.close()
    await sim.close()
  }
  return { rows, groups }
}
