/**
 * `budget.fleet` on a real Redis Cluster (3 masters started by this suite on ports 7110–7112, `redis-cli --cluster
 * create`, removed afterwards): the script's two keys (`{fleet}`-tagged) hash to one slot, so the script runs on a
 * cluster (no CROSSSLOT), routed by key through the RedisLink; instances on their own cluster connections share one
 * quota.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCluster } from '@keyv/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FleetBudget } from '../../src/core/fleet/budget.js'
import { fleetBudgetKey, networkBudgetKey } from '../../src/core/fleet/budget-script.js'
import { redisLinkFrom, type RedisLink } from '../../src/core/fleet/link.js'
import { createTestClock } from '../../src/testing/clock.js'
import { redisCommand, redisServerPath } from '../reliability/helpers/redis.js'
import { redisServerOrSkip, until } from './budget-helpers.js'

const PORTS = [7110, 7111, 7112]
const run = redisServerOrSkip() && spawnSync('sh', ['-c', 'command -v redis-cli']).status === 0
const children: ChildProcess[] = []
let dir = ''

beforeAll(async () => {
  if (!run) return
  dir = mkdtempSync(join(tmpdir(), 'iprisk-budget-cluster-'))
  for (const port of PORTS) {
    const child = spawn(
      redisServerPath()!,
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    )
    children.push(child)
    process.once('exit', () => child.kill('SIGKILL'))
  }
  for (const port of PORTS) await until(async () => (await redisCommand(port, 'PING').catch(() => '')) === '+PONG', `cluster node ${port}`)
  const made = spawnSync('redis-cli', ['--cluster', 'create', ...PORTS.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  expect(made.status, made.stdout + made.stderr).toBe(0)
  for (const port of PORTS) {
    const info = () => spawnSync('redis-cli', ['-p', String(port), 'CLUSTER', 'INFO'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? ''
    await until(() => info().includes('cluster_state:ok'), `cluster state ok on ${port}`)
  }
}, 60_000)

afterAll(async () => {
  for (const child of children) {
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
  }
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

async function clusterLink(): Promise<RedisLink> {
  const cluster = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${PORTS[0]}` }], defaults: { disableOfflineQueue: true } })
  cluster.on('error', () => undefined)
  await cluster.connect()
  return redisLinkFrom(cluster, true)
}

describe.skipIf(!run)('budget.fleet on a Redis Cluster', () => {
  it('the fleet key and a network key are in one slot (the server says so)', async () => {
    const link = await clusterLink()
    try {
      const fleet = fleetBudgetKey('hbcl', 'fleetp')
      const slotOf = (key: string) => link.command(key, ['CLUSTER', 'KEYSLOT', key], true)
      const slots = await Promise.all([fleet, networkBudgetKey('hbcl', 'fleetp', '11.0.0.0/24'), networkBudgetKey('hbcl', 'fleetp', '2001:db8::/48')].map(slotOf))
      expect(new Set(slots).size).toBe(1)
    } finally {
      link.close()
    }
  })

  it('3 instances on their own cluster connections share a quota of 10 (per-network buckets on): 10 granted, no fallback', async () => {
    const links = await Promise.all([clusterLink(), clusterLink(), clusterLink()])
    try {
      const events: unknown[] = []
      const share = { share: 0.5, reserve: 0.2, ipv4Prefix: 24, ipv6Prefix: 48 }
      const budgets = links.map(
        (link) =>
          new FleetBudget({ perMinute: 10, fallbackPerMinute: 1, timeoutMs: 5_000 }, share, 'hbcl', 'fleetp', createTestClock(), {
            link: () => link,
            degraded: (e) => void events.push(e),
            invalid: (m) => void events.push(m),
          }),
      )
      const takes = await Promise.all(Array.from({ length: 40 }, (_, i) => budgets[i % 3]!.take(`11.0.${i}.0/24`, 10_000)))
      expect(takes.filter(Boolean)).toHaveLength(10)
      expect(budgets.map((b) => b.mode)).toStrictEqual(['shared', 'shared', 'shared'])
      expect(budgets.reduce((n, b) => n + b.counts.local, 0)).toBe(0)
      expect(events.filter((e) => typeof e === 'string')).toHaveLength(0) // nothing invalid
    } finally {
      for (const link of links) link.close()
    }
  })
})
