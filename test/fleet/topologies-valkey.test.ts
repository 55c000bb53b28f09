/**
 * `cache: 'valkey://…'` on a real Valkey server (port 7020; Debian's bookworm-backports build, unpacked by
 * scripts/ci-redis-servers.sh), and a Redis Cluster made of Valkey nodes is out of scope (same protocol as Redis).
 * Skips with a message where Valkey is not installed, unless IPRISK_REQUIRE_REDIS=1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { cli, info, serversMissing, startServer, valkeyServerPath, type ServerProcess } from '../support/redis-servers.js'
import { Fleet, checkSharing, linkOf } from './topologies-shared.js'

describe.skipIf(serversMissing('valkey') !== undefined)('Valkey in one line: cache: "valkey://…"', () => {
  let valkey: ServerProcess & { stop(): Promise<void> }
  let sim: IpasisSimulator
  let fleet: Fleet
  let n = 0

  beforeAll(async () => {
    sim = await startIpasisSimulator()
    valkey = await startServer(7020, valkeyServerPath() ?? 'valkey-server')
  }, 30_000)
  afterEach(async () => {
    await fleet?.closeAll()
  })
  afterAll(async () => {
    await valkey?.stop()
    await sim?.close()
  })
  const url = (): string => `valkey://127.0.0.1:${valkey.port}/2`
  const rawGet = (key: string): Promise<string> => cli(valkey.port, '-n', '2', 'GET', key)

  it('the server is Valkey (not a Redis answering on its port)', async () => {
    expect((await info(valkey.port, 'server')).get('valkey_version')).toMatch(/^\d+\.\d+/)
  })

  it('a lookup on instance A is an L2 hit on instance B, and a block on A is seen by B (database 2 of the URL)', async () => {
    fleet = new Fleet(sim, url(), `topo-v${++n}`)
    await checkSharing(fleet, sim, { shared: '198.51.100.10', blocked: '198.51.100.11' }, rawGet)
  })

  it('the link is a single-server link on the same connection', async () => {
    fleet = new Fleet(sim, url(), `topo-v${++n}`)
    const link = linkOf(await fleet.connected())
    expect(link.topology).toBe('single')
    expect(await link.command('k', ['CLIENT', 'INFO'])).toMatch(/ db=2 /)
  })

  it("the link is usable before the connection is up, and closing the resolver closes it (nothing reconnects)", async () => {
    fleet = new Fleet(sim, url(), `topo-v${++n}`)
    const r = fleet.instance()
    const link = linkOf(r)
    expect(await link.command('k', ['PING'])).toBe('PONG') // sent at once: waits for the first connection attempt
    await r.close()
    await expect(link.command('k', ['PING'])).rejects.toThrow('the shared cache is closed')
  })
})
