/**
 * The real-server fixtures themselves (test/support/redis-servers.ts): a cluster comes up healthy, a killed master is
 * replaced by its replica and rejoins as a replica when started again, `CLUSTER FAILOVER` moves a master back. Ports
 * 7090–7095. (The Sentinel set's fault actions are checked by topologies-sentinel.test.ts, with traffic.)
 */
import { afterAll, describe, expect, it } from 'vitest'
import { info, serversMissing, startRedisCluster, type RedisClusterFixture } from '../support/redis-servers.js'

describe.skipIf(serversMissing('cluster') !== undefined)('test fixtures: a real Redis Cluster', () => {
  let cluster: RedisClusterFixture | undefined
  afterAll(async () => {
    await cluster?.stop()
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
})
