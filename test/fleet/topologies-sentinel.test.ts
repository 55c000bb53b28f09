/**
 * `cache: 'redis+sentinel://…/mymaster'` on a real Sentinel set (master and replica on 7010–7011, sentinels on
 * 27000–27002, started here): answers and blocks shared, the link, one MGET per lookup, and the master killed during
 * traffic (then restarted, rejoining as a replica): no lookup fails, and the instance follows the promoted master.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { cli, info, serversMissing, startSentinelSet, waitUntil, type SentinelFixture } from '../support/redis-servers.js'
import { Fleet, checkSharing, expectAllPassed, expectUsedAgain, l2Of, linkOf, traffic } from './topologies-shared.js'

const L2_TIMEOUT_MS = 50

describe.skipIf(serversMissing('sentinel') !== undefined)('Redis Sentinel in one line: cache: "redis+sentinel://…/mymaster"', () => {
  let set: SentinelFixture
  let sim: IpasisSimulator
  let fleet: Fleet
  let n = 0

  beforeAll(async () => {
    sim = await startIpasisSimulator()
    set = await startSentinelSet(7010, 27000)
  }, 60_000)
  afterEach(async () => {
    await fleet?.closeAll()
  })
  afterAll(async () => {
    await set?.stop()
    await sim?.close()
  })
  const newFleet = (): Fleet => (fleet = new Fleet(sim, set.url, `topo-s${++n}`))
  const rawGet = async (key: string): Promise<string> => cli((await set.master()).port, 'GET', key)

  it('a lookup on instance A is an L2 hit on instance B, and a block on A is seen by B', async () => {
    await checkSharing(newFleet(), sim, { shared: '198.51.100.10', blocked: '198.51.100.11' }, rawGet)
  })

  it("the link names the topology and talks to the master; a lookup's L2 read is one MGET", async () => {
    const f = newFleet()
    const a = await f.connected()
    const link = linkOf(a)
    expect(link.topology).toBe('sentinel')
    expect(await link.command('x', ['ROLE'], true)).toEqual(expect.arrayContaining(['master']))
    const ip = '198.51.100.20'
    await a.lookup(ip)
    await waitUntil(async () => (await rawGet(f.riskKey(ip))) !== '', 'the answer to be in L2')
    const b = await f.connected()
    await b.lookup('198.51.100.21')
    const master = await set.master()
    await cli(master.port, 'CONFIG', 'RESETSTAT')
    expect(await b.lookup(ip)).toMatchObject({ source: 'l2' })
    const stats = await info(master.port, 'commandstats')
    expect(stats.get('cmdstat_mget')).toMatch(/^calls=1,/)
    expect(stats.get('cmdstat_get')).toBeUndefined()
  })

  it('the master killed during traffic, then restarted: no lookup fails, and the instance follows the promoted master', async () => {
    const f = newFleet()
    const options = { cache: { l2: set.url, prefix: `topo-s${n}`, l2TimeoutMs: L2_TIMEOUT_MS } }
    const a = await f.connected(options)
    const b = await f.connected(options)
    const load = traffic(a, b, 0x51)
    await new Promise((r) => setTimeout(r, 500))
    const old = await set.killMaster()
    const promoted = await set.waitForPromotion(old)
    await old.start() // comes back empty; the sentinels make it a replica of the promoted master
    await set.waitHealthy(60_000)
    await new Promise((r) => setTimeout(r, 500))
    const answers = await load.stop()
    expectAllPassed(answers, L2_TIMEOUT_MS)
    expect(l2Of(a).stats.failures + l2Of(a).stats.skipped).toBeGreaterThan(0) // the fault was met, not missed
    expect((await set.master()).port).toBe(promoted.port)
    await expectUsedAgain(f, a, (key) => cli(promoted.port, 'GET', key))
  }, 150_000)
})
