/**
 * `cache: 'redis+cluster://…'` on a real Redis Cluster (3 masters, 3 replicas, ports 7000–7005, started here): answers
 * and blocks shared between instances, keys hash-tagged into one slot, one lookup's L2 read is ONE command (counted
 * with `INFO commandstats` on the nodes), the link routes by key, and a master killed (or failed over) during traffic
 * fails no lookup, after which the instance keeps using the cluster.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RiskResolver } from '../../src/core/index.js'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { cli, info, serversMissing, startRedisCluster, waitUntil, type RedisClusterFixture } from '../support/redis-servers.js'
import { Fleet, checkSharing, expectAllPassed, expectUsedAgain, l2Of, linkOf, traffic } from './topologies-shared.js'

const L2_TIMEOUT_MS = 50 // the default: a fault test must pass with it

describe.skipIf(serversMissing('cluster') !== undefined)('Redis Cluster in one line: cache: "redis+cluster://…"', () => {
  let cluster: RedisClusterFixture
  let sim: IpasisSimulator
  let fleet: Fleet
  let n = 0

  beforeAll(async () => {
    sim = await startIpasisSimulator()
    cluster = await startRedisCluster(7000)
  }, 60_000)
  afterEach(async () => {
    await fleet?.closeAll()
  })
  afterAll(async () => {
    await cluster?.stop()
    await sim?.close()
  })
  const newFleet = (): Fleet => (fleet = new Fleet(sim, cluster.url, `topo-c${++n}`))

  /** GET on the master serving the key (a client of the test's own, not the resolver's). */
  const rawGet = async (key: string): Promise<string> => cli((await cluster.masterOf(key)).port, 'GET', key)

  it('a lookup on instance A is an L2 hit on instance B, and a block on A is seen by B', async () => {
    await checkSharing(newFleet(), sim, { shared: '198.51.100.10', blocked: '198.51.100.11' }, rawGet)
  })

  it("an IP's answer key and block key share one hash slot, and the link names the topology", async () => {
    const f = newFleet()
    const ip = '2001:db8:7:8::/64'
    expect(f.riskKey(ip)).toBe(`topo-c${n}:2:{2001:db8:7:8::/64}:ipasis`)
    const slots = await Promise.all([f.riskKey(ip), f.blockKey(ip)].map((k) => cli(7000, 'CLUSTER', 'KEYSLOT', k)))
    expect(slots[0]).toBe(slots[1])
    const r = await f.connected()
    expect(linkOf(r).topology).toBe('cluster')
  })

  it("one lookup's L2 read is ONE command on the cluster: a single MGET on the master of the IP's slot", async () => {
    const f = newFleet()
    const a = await f.connected()
    const b = await f.connected()
    const ip = '198.51.100.20'
    await a.lookup(ip)
    await waitUntil(async () => (await rawGet(f.riskKey(ip))) !== '', 'the answer to be in L2')
    await b.lookup('198.51.100.21') // B's connection to the nodes is open before the count starts
    await Promise.all(cluster.nodes.map((node) => cli(node.port, 'CONFIG', 'RESETSTAT')))
    expect(await b.lookup(ip)).toMatchObject({ source: 'l2' })
    const owner = await cluster.masterOf(f.riskKey(ip))
    const counts = await Promise.all(
      cluster.nodes.map(async (node) => {
        const stats = await info(node.port, 'commandstats')
        const calls = (name: string): number => Number(/calls=(\d+)/.exec(stats.get(`cmdstat_${name}`) ?? '')?.[1] ?? 0)
        return { port: node.port, mget: calls('mget'), get: calls('get') }
      }),
    )
    expect(counts.filter((c) => c.mget + c.get > 0)).toEqual([{ port: owner.port, mget: 1, get: 0 }])
  })

  it('the link sends raw commands routed by key, and a dedicated link opens connections of its own', async () => {
    const f = newFleet()
    const link = linkOf(await f.connected())
    const key = `topo-link:2:{198.51.100.30}:lease:ipasis`
    expect(await link.command(key, ['SET', key, 'me', 'NX', 'PX', '10000'])).toBe('OK')
    expect(await link.command(key, ['SET', key, 'other', 'NX', 'PX', '10000'])).toBe(null)
    const dedicated = await link.dedicated()
    try {
      expect(await dedicated.command(key, ['GET', key], true)).toBe('me')
    } finally {
      dedicated.close()
    }
    expect(await link.command(key, ['GET', key], true)).toBe('me') // closing the dedicated link left this one open
  })

  it('the fleet features get the same link: 5 instances receiving one new IP at once make 1 upstream call (the lease, on the cluster)', async () => {
    const f = newFleet()
    const rs = await Promise.all([0, 1, 2, 3, 4].map(() => f.connected({ cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: 2_000 } })))
    for (const r of rs) expect(l2Of(r).connectedLink()).toBe(linkOf(r)) // the getter the lease and the fleet budget take
    sim.setLatency(150)
    try {
      const answers = await Promise.all(rs.map((r) => r.lookup('198.51.100.50')))
      expect(answers.map((a) => a.status)).toEqual(['scored', 'scored', 'scored', 'scored', 'scored'])
      expect(sim.callsFor('198.51.100.50')).toBe(1)
    } finally {
      sim.setLatency(0)
    }
  })

  it('block propagation on the cluster: a block and an unblock on A reach the L1 of B and C (the block stream, read on dedicated connections)', async () => {
    const f = newFleet()
    const [a, b, c] = (await Promise.all([0, 1, 2].map(() => f.connected({ cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: 2_000 } })))) as [RiskResolver, RiskResolver, RiskResolver]
    const ip = '198.51.100.60'
    for (const r of [b, c]) expect((await r.lookup(ip)).listed).toBeNull() // a clean answer in B's and C's L1
    const inL1Blocked = (r: RiskResolver): boolean => r.peek(ip)?.listed === 'blocklist'
    await a.block(ip, 600)
    // Without propagation, B and C would keep their clean L1 copy for ttlSeconds (300 s by default).
    await waitUntil(() => inL1Blocked(b) && inL1Blocked(c), 'the block to reach B and C', 5_000)
    await a.unblock(ip)
    await waitUntil(() => !inL1Blocked(b) && !inL1Blocked(c), 'the unblock to reach B and C', 5_000)
  })

  it('a master killed during traffic: no lookup fails, and after the failover the instance uses the cluster again', async () => {
    const f = newFleet()
    const options = { cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: L2_TIMEOUT_MS } }
    const a = await f.connected(options)
    const b = await f.connected(options)
    const victim = await cluster.masterOf('{2001:db8:c1::/64}')
    const load = traffic(a, b, 0xc1)
    await new Promise((r) => setTimeout(r, 500))
    await victim.kill()
    await cluster.waitHealthy(60_000) // a replica took over its slots
    await new Promise((r) => setTimeout(r, 500))
    const answers = await load.stop()
    expectAllPassed(answers, L2_TIMEOUT_MS)
    expect(l2Of(a).stats.failures + l2Of(a).stats.skipped).toBeGreaterThan(0) // the fault was met, not missed
    await victim.start() // rejoins as a replica
    await cluster.waitHealthy(60_000)
    await expectUsedAgain(f, a, rawGet)
  }, 120_000)

  it('a planned CLUSTER FAILOVER during traffic (MOVED replies): no lookup fails, L2 keeps answering', async () => {
    const f = newFleet()
    const options = { cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: L2_TIMEOUT_MS } }
    const a = await f.connected(options)
    const b = await f.connected(options)
    const master = await cluster.masterOf('{2001:db8:c2::/64}')
    const replica = await cluster.replicaOf(master)
    const load = traffic(a, b, 0xc2)
    await new Promise((r) => setTimeout(r, 300))
    await cluster.failover(replica)
    await cluster.waitHealthy(60_000)
    await new Promise((r) => setTimeout(r, 300))
    const answers = await load.stop()
    expectAllPassed(answers, L2_TIMEOUT_MS)
    await expectUsedAgain(f, a, rawGet)
  }, 120_000)
})
