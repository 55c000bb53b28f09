/**
 * One instance of a fleet partitioned from Redis while traffic goes on. Instance A reaches a private `redis-server`
 * through a TCP proxy of this file (on a free port of 127.0.0.1) that the test cuts and heals; instance B reaches the same
 * Redis directly. A real partition drops packets (no reset): the proxy holds every byte it receives while cut, in
 * both directions, and on heal either delivers them in order (a partition short enough for TCP to recover) or resets
 * every connection it held (one that outlasted TCP's retries).
 *
 * Promised: no request that should pass fails (A is fail-closed, so a lookup made unavailable by the partition would
 * show), every answer comes within the L2 read budget plus slack (the whole-lookup budget is far above it), the
 * partition is loud (`status().l2` leaves `closed`), and once it heals A rejoins: L2 hits again, and a block B wrote
 * during the partition is enforced by A. The shared Redis on 6379 is never used here.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { riskCacheKey } from '../../src/core/cache.js'
import { createRiskResolver, ipasis, type IpRisk, type RiskResolver } from '../../src/core/index.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { createRedisProcess, redisCommand, type RedisProcess } from '../reliability/helpers/redis.js'
import { eventually, globalIp } from '../reliability/helpers/stack.js'

const API_KEY = 'partition-test-key'
const PREFIX = 'iprisk-partition'
/** `cache.l2TimeoutMs` of both instances. */
const L2_TIMEOUT_MS = 50
/** Simulated IPASIS latency. */
const UPSTREAM_MS = 5
/** Whole-lookup budget: far above the bound below, so only the L2 read budget can keep answers under it. */
const BUDGET_MS = 10_000
/** Asserted on every answer: L2 budget + upstream latency + generous slack for a loaded 2-core machine. */
const BOUND_MS = L2_TIMEOUT_MS + UPSTREAM_MS + 2_500
/** Traffic while partitioned: long enough for the L2 breaker to open and probe (it probes every 5 s). */
const PARTITION_MS = 6_000
/** How long rejoining may take: the breaker's 5 s + a reconnect + slack for a loaded machine. */
const REJOIN_MS = 20_000

/** A TCP proxy that can be cut (bytes held, nothing delivered, nothing reset) and healed. Hand-written: a few lines. */
interface Proxy {
  readonly url: string
  cut(): void
  /** Deliver what was held, in order (`'deliver'`), or reset every connection that was open while cut (`'reset'`). */
  heal(how: 'deliver' | 'reset'): void
  close(): Promise<void>
}

async function startProxy(targetPort: number): Promise<Proxy> {
  let cut = false
  const sockets = new Set<Socket>()
  /** Held bytes, per direction, in arrival order, and the connections that saw the cut. */
  const held: { to: Socket; data: Buffer }[] = []
  const cutConnections = new Set<Socket>()
  const forward = (from: Socket, to: Socket): void => {
    from.on('data', (data: Buffer) => {
      if (cut) {
        held.push({ to, data })
        cutConnections.add(from)
      } else if (!to.destroyed) to.write(data)
    })
    from.on('close', () => to.destroy())
    from.on('error', () => to.destroy())
  }
  const server: Server = createServer((client) => {
    const upstream = connect({ port: targetPort, host: '127.0.0.1' })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    }
    if (cut) cutConnections.add(client)
    forward(client, upstream)
    forward(upstream, client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      cut = true
    },
    heal(how) {
      cut = false
      if (how === 'deliver') {
        for (const { to, data } of held.splice(0)) if (!to.destroyed) to.write(data)
      } else {
        held.length = 0
        for (const s of cutConnections) s.destroy()
      }
      cutConnections.clear()
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

let redis: RedisProcess
let proxy: Proxy
let sim: IpasisSimulator
let ipCounter = 0
const freshIps = (n: number): string[] => Array.from({ length: n }, () => globalIp(300_000 + ipCounter++))

function instance(l2: string): RiskResolver {
  return createRiskResolver({
    provider: ipasis({ apiKey: API_KEY, baseUrl: sim.url }),
    failMode: 'closed',
    breaker: false,
    budget: { timeoutMs: BUDGET_MS },
    cache: { l2, l2TimeoutMs: L2_TIMEOUT_MS, prefix: PREFIX },
    logger: { info() {}, warn() {}, error() {} },
  })
}

/** One request's view: the answer, and how long it took (wall time). */
async function timed(r: RiskResolver, ip: string): Promise<{ ip: string; answer: IpRisk; ms: number }> {
  const t = performance.now()
  const answer = await r.lookup(ip)
  return { ip, answer, ms: performance.now() - t }
}

/** Every answer a verdict (scored, or the blocklist) that lets a permissive policy through, within the bound. */
function failures(r: RiskResolver, results: { ip: string; answer: IpRisk; ms: number }[], blocked: ReadonlySet<string>): string[] {
  const bad: string[] = []
  for (const { ip, answer, ms } of results) {
    const decision = r.check(answer, {})
    // A block made by an instance that never scored the IP carries no data (`status: 'skipped'`): listed is the verdict.
    const verdict = blocked.has(ip) ? answer.listed === 'blocklist' && decision.action === 'block' : answer.status === 'scored' && decision.action === 'allow'
    if (!verdict || ms > BOUND_MS) {
      bad.push(`${ip}: status ${answer.status}, error ${answer.error}, action ${decision.action}, ${ms.toFixed(0)} ms`)
    }
  }
  return bad
}

/** Wait until every IP's answer is in Redis (B's writes are fire-and-forget). */
async function inRedis(ips: string[]): Promise<boolean> {
  return eventually(async () => {
    for (const ip of ips) {
      const reply = await redisCommand(redis.port, `EXISTS ${riskCacheKey(PREFIX, 'ipasis', ip)}`)
      if (reply !== ':1') return false
    }
    return true
  }, 10_000)
}

beforeAll(async () => {
  redis = await createRedisProcess()
  await redis.start()
  proxy = await startProxy(redis.port)
  sim = await startIpasisSimulator({ apiKey: API_KEY, latency: UPSTREAM_MS })
})

afterAll(async () => {
  await proxy?.close()
  await redis?.stop()
  await sim?.close()
})

describe('one instance partitioned from Redis while traffic continues', () => {
  it.each(['deliver', 'reset'] as const)(
    'heal by %s: no request fails, every answer within the L2 budget, the partition is loud, and the instance rejoins',
    async (how) => {
      const a = instance(proxy.url)
      const b = instance(redis.url)
      try {
        // Healthy: A answers from what B scored (A joined L2).
        const joined = freshIps(5)
        for (const ip of joined) await b.lookup(ip)
        expect(await inRedis(joined)).toBe(true)
        const before = await Promise.all(joined.map((ip) => timed(a, ip)))
        expect(before.map((r) => r.answer.source)).toEqual(joined.map(() => 'l2'))

        // B scores what A will be asked during the partition.
        const during = freshIps(30)
        for (const ip of during) await b.lookup(ip)
        expect(await inRedis(during)).toBe(true)

        proxy.cut()
        const blockedDuring = freshIps(1)[0]!
        await b.block(blockedDuring, 600) // written to Redis by B while A cannot see it
        const results: { ip: string; answer: IpRisk; ms: number }[] = []
        const end = Date.now() + PARTITION_MS
        const newcomers = freshIps(400)
        let i = 0
        let sawOpen = false
        while (Date.now() < end) {
          const ips = [during[i % during.length]!, newcomers[i % newcomers.length]!, joined[i % joined.length]!]
          results.push(...(await Promise.all(ips.map((ip) => timed(a, ip)))))
          if (a.status().l2 !== 'closed') sawOpen = true
          i++
        }
        // The partition was real: nothing came from L2, B's answers were scored again upstream.
        expect(results.filter((r) => r.answer.source === 'l2')).toEqual([])
        expect(results.some((r) => r.answer.source === 'upstream' && during.includes(r.ip))).toBe(true)
        expect(failures(a, results, new Set())).toEqual([])
        expect(sawOpen).toBe(true)

        proxy.heal(how)
        const rejoin: { ip: string; answer: IpRisk; ms: number }[] = []
        // Each attempt: an IP B has just scored (in Redis), new to A: an L2 hit once A is back.
        const back = await eventually(async () => {
          const ip = freshIps(1)[0]!
          await b.lookup(ip)
          if (!(await inRedis([ip]))) return false
          const r = await timed(a, ip)
          rejoin.push(r)
          return r.answer.source === 'l2'
        }, REJOIN_MS, 100)
        expect(back).toBe(true)
        const blocked = await timed(a, blockedDuring)
        expect(blocked.answer.listed).toBe('blocklist')
        expect(failures(a, [...rejoin, blocked], new Set([blockedDuring]))).toEqual([])
        expect(a.status().l2).toBe('closed')
      } finally {
        await a.close()
        await b.close()
      }
    },
    60_000,
  )
})
