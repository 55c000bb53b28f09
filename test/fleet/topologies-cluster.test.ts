/**
 * `cache: 'redis+cluster://…'` on a real Redis Cluster (3 masters, 3 replicas, ports 7000–7005, started here): answers
 * and blocks shared between instances, keys hash-tagged into one slot, one lookup's L2 read is ONE command (counted
 * with `INFO commandstats` on the nodes), the link routes by key, and a master killed (or failed over) during traffic
 * fails no lookup, after which the instance keeps using the cluster.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { cli, info, serversMissing, startRedisCluster, waitUntil, type RedisClusterFixture } from '../support/redis-servers.js'
import { Fleet, addresses, checkSharing, expectAllPassed, l2Of, linkOf, traffic } from './topologies-shared.js'

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

  it('a master killed during traffic: no lookup fails, and after the failover the instance uses the cluster again', async () => {
    const f = newFleet()
    const a = await f.connected({ cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: L2_TIMEOUT_MS } })
    const ips = addresses('203.0.113', 1, 120)
    const victim = await cluster.masterOf(f.riskKey(ips[0] as string))
    const load = traffic(a, ips)
    await new Promise((r) => setTimeout(r, 500))
    await victim.kill()
    await cluster.waitHealthy(60_000) // a replica took over its slots
    await new Promise((r) => setTimeout(r, 500))
    const answers = await load.stop()
    expectAllPassed(answers, L2_TIMEOUT_MS)
    await victim.start() // rejoins as a replica
    await cluster.waitHealthy(60_000)

    // The instance writes to and reads from the cluster again (the L2 breaker's probe reconnects): an answer it
    // stores now is an L2 hit for a new instance.
    // A new IP each time: an answer already in A's L1 is not written again (a write skipped while the L2 breaker
    // was open stays skipped).
    let fresh = ''
    let next = 40
    await waitUntil(async () => {
      fresh = `198.51.100.${next++}`
      await a.lookup(fresh)
      await new Promise((r) => setTimeout(r, 100)) // the write is fire-and-forget
      return (await rawGet(f.riskKey(fresh))) !== ''
    }, 'instance A to write to the cluster again', 30_000)
    const b = await f.connected()
    expect(await b.lookup(fresh)).toMatchObject({ source: 'l2' })
    expect(l2Of(a).state()).toBe('closed')
  }, 120_000)

  it('a planned CLUSTER FAILOVER during traffic (MOVED replies): no lookup fails, L2 keeps answering', async () => {
    const f = newFleet()
    const a = await f.connected({ cache: { l2: cluster.url, prefix: `topo-c${n}`, l2TimeoutMs: L2_TIMEOUT_MS } })
    const ips = addresses('192.0.2', 1, 120)
    const master = await cluster.masterOf(f.riskKey(ips[0] as string))
    const replica = await cluster.replicaOf(master)
    const load = traffic(a, ips)
    await new Promise((r) => setTimeout(r, 300))
    await cluster.failover(replica)
    await cluster.waitHealthy(60_000)
    await new Promise((r) => setTimeout(r, 300))
    const answers = await load.stop()
    expectAllPassed(answers, L2_TIMEOUT_MS)
    const b = await f.connected()
    expect(await b.lookup(ips[0] as string)).toMatchObject({ source: 'l2' })
  }, 120_000)
})
