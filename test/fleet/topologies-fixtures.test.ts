/**
 * The real-server fixtures themselves (test/support/redis-servers.ts): a cluster comes up healthy, a killed master is
 * replaced by its replica and rejoins as a replica when started again, `CLUSTER FAILOVER` moves a master; a Sentinel
 * set promotes the replica when its master dies. Ports 7090–7095 and 7096–7097, 27090–27092.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { info, serversMissing, startRedisCluster, startSentinelSet, type RedisClusterFixture, type SentinelFixture } from '../support/redis-servers.js'

describe.skipIf(serversMissing('cluster') !== undefined)('test fixtures: real Redis Cluster and Sentinel', () => {
  let cluster: RedisClusterFixture | undefined
  let sentinel: SentinelFixture | undefined
  afterAll(async () => {
    await cluster?.stop()
    await sentinel?.stop()
  })

  it('a cluster of 3 masters and 3 replicas fails over a killed master, which rejoins as a replica', async () => {
    cluster = await startRedisCluster(7090)
    expect((await cluster.masters()).length).toBe(3)
    const master = await cluster.masterOf('{203.0.113.7}')
    const replica = await cluster.replicaOf(master)
    await master.kill()
    await cluster.waitHealthy()
    expect((await cluster.masterOf('{203.0.113.7}')).port).toBe(replica.port)
    await master.start()
    await cluster.waitHealthy()
    expect((await info(master.port, 'replication')).get('role')).toBe('slave')
    await cluster.failover(master)
    expect((await cluster.masterOf('{203.0.113.7}')).port).toBe(master.port)
  }, 90_000)

  it('a sentinel set promotes the replica when its master is killed', async () => {
    sentinel = await startSentinelSet(7096, 27090)
    const old = await sentinel.killMaster()
    const promoted = await sentinel.waitForPromotion(old)
    expect(promoted.port).not.toBe(old.port)
    await old.start()
    await sentinel.waitHealthy(60_000)
    expect((await sentinel.master()).port).toBe(promoted.port)
  }, 120_000)
})
