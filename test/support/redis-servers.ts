/**
 * Real Redis deployments for the topology tests, started and stopped by a test: a Redis Cluster (3 masters, 3
 * replicas), a Sentinel set (1 master, 1 replica, 3 sentinels) and a Valkey server. Every server runs on a port the
 * caller chooses (each test file its own range), in a temp dir of its own, without persistence, and is killed by its
 * own pid on `stop()` (and, as a backstop, when the test process exits, also after a failed test). The shared Redis on
 * 6379 is never touched. {@link plainServer} is also the one implementation behind the other suites' private servers
 * (test/reliability/helpers/redis.ts `createRedisProcess`, test/fleet/propagation-redis.ts, test/fleet/budget-helpers.ts
 * `PrivateRedis`).
 *
 * Without `redis-server` (or `redis-cli`, or Valkey for the Valkey suite) the suites skip with {@link serversMissing}'s
 * message, unless `IPRISK_REQUIRE_REDIS=1` (CI: scripts/ci-redis-servers.sh installs them), where they fail.
 *
 * Fault actions: {@link ServerProcess.kill} (SIGKILL: `DEBUG SEGFAULT` is refused by Redis 7's default
 * `enable-debug-command no`), {@link ServerProcess.start} again on the same port and dir (a cluster node rejoins from
 * its nodes.conf), {@link RedisClusterFixture.failover} (`CLUSTER FAILOVER` on a replica), and
 * {@link SentinelFixture.killMaster} / {@link SentinelFixture.waitForPromotion}. Waits are conditions with generous
 * deadlines (a server restarting is the OS's business, not the injected clock's).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'

const HOST = '127.0.0.1'

function onPath(name: string): string | null {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  const found = which.stdout.trim()
  return which.status === 0 && found !== '' ? found : null
}

/** `redis-server` and `redis-cli`, or `null` when either is missing. */
export function redisBinaries(): { server: string; cli: string } | null {
  const server = onPath('redis-server')
  const cli = onPath('redis-cli')
  return server === null || cli === null ? null : { server, cli }
}

/**
 * `valkey-server`: `IPRISK_VALKEY_SERVER`, else on PATH, else where scripts/ci-redis-servers.sh unpacks it
 * (`~/.cache/iprisk-ci/valkey-*`). `null` when none.
 */
export function valkeyServerPath(): string | null {
  const given = process.env.IPRISK_VALKEY_SERVER
  if (given !== undefined && given !== '') return existsSync(given) ? given : null
  const found = onPath('valkey-server')
  if (found !== null) return found
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iprisk-ci')
  if (!existsSync(cache)) return null
  for (const dir of readdirSync(cache).sort().reverse()) {
    const path = join(cache, dir, 'usr/bin/valkey-server')
    if (dir.startsWith('valkey-') && existsSync(path)) return path
  }
  return null
}

/**
 * Why a suite cannot run here (`undefined` when it can). Throws instead when `IPRISK_REQUIRE_REDIS=1`, so CI fails
 * rather than skips. Use: `describe.skipIf(serversMissing('cluster') !== undefined)`.
 */
export function serversMissing(kind: 'cluster' | 'sentinel' | 'valkey'): string | undefined {
  let missing: string | undefined
  if (redisBinaries() === null) missing = 'redis-server and redis-cli are not installed (apt-get install redis-server redis-tools)'
  else if (kind === 'valkey' && valkeyServerPath() === null) missing = 'Valkey is not installed (run scripts/ci-redis-servers.sh)'
  if (missing === undefined) return undefined
  if (process.env.IPRISK_REQUIRE_REDIS === '1') throw new Error(`IPRISK_REQUIRE_REDIS=1 but ${missing}`)
  console.warn(`skipping the ${kind} suite: ${missing}`)
  return missing
}

const running = new Set<ChildProcess>()
const dirs = new Set<string>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Never leave a server or a temp dir behind, whatever happens to the test process.
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Poll `condition` until true, or throw `what` after `ms` (real time: the OS is the subject). */
export async function waitUntil(condition: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await condition()) return
    } catch (error) {
      last = error
    }
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`)
}

/** `redis-cli -p port args…`, its output (async: never blocks the event loop of a test sending traffic). */
export function cli(port: number, ...args: string[]): Promise<string> {
  const bin = redisBinaries()?.cli ?? 'redis-cli'
  return new Promise((resolve, reject) => {
    execFile(bin, ['-h', HOST, '-p', String(port), ...args], { timeout: 5_000 }, (error, stdout) => {
      if (error !== null) reject(error)
      else resolve(stdout.trim())
    })
  })
}

/** `INFO section` as a map. */
export async function info(port: number, section: string): Promise<Map<string, string>> {
  const text = await cli(port, 'INFO', section)
  const map = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0) map.set(line.slice(0, i), line.slice(i + 1).trim())
  }
  return map
}

/** One server process on a fixed port and dir. */
export interface ServerProcess {
  readonly port: number
  readonly url: string
  /** The dir it runs in (its config and nodes.conf). */
  readonly dir: string
  /** Whether it is running now. */
  readonly running: boolean
  /** pid of the running process, or `null` while it is down. */
  readonly pid: number | null
  /** Start (again, same port, same dir); resolves once it answers PING. */
  start(): Promise<void>
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>
  /** SIGSTOP: the port still accepts connections, nothing answers (a partition or a frozen server). */
  pause(): void
  /** SIGCONT. */
  resume(): void
}

/**
 * A server process on `port` in a temp dir of its own (its cwd), not started. `ready` says whether it answers
 * (default: `redis-cli PING` says PONG).
 */
function serverProcess(binary: string, port: number, args: (dir: string) => string[], ready: () => Promise<boolean> = async () => (await cli(port, 'PING')) === 'PONG'): ServerProcess {
  installExitHook()
  // The dir is made on first use (a server never started leaves none behind) and made again if `stop()` removed it.
  let home: string | undefined
  const ensureDir = (): string => {
    if (home === undefined) home = mkdtempSync(join(tmpdir(), `iprisk-redis-${port}-`))
    else mkdirSync(home, { recursive: true })
    dirs.add(home)
    return home
  }
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  const server: ServerProcess = {
    port,
    url: `redis://${HOST}:${port}`,
    get dir() {
      return ensureDir()
    },
    get running() {
      return child !== null
    },
    get pid() {
      return child?.pid ?? null
    },
    async start() {
      if (child !== null) throw new Error(`server on ${port} already running`)
      const cwd = ensureDir()
      const proc = spawn(binary, args(cwd), { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
      child = proc
      running.add(proc)
      let stderr = ''
      proc.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      exited = new Promise<void>((resolve) => {
        proc.once('exit', () => {
          running.delete(proc)
          if (child === proc) child = null
          resolve()
        })
      })
      await waitUntil(async () => {
        if (child !== proc) throw new Error(`exited: ${stderr.slice(0, 300)}`)
        return ready()
      }, `the server on port ${port} to answer PING`, 15_000)
    },
    async kill() {
      const proc = child
      if (proc === null) return
      proc.kill('SIGKILL')
      await exited
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
  }
  return server
}

/** Remove a stopped server's dir (`start()` makes it again). */
function removeDir(server: ServerProcess): void {
  const dir = server.dir
  rmSync(dir, { recursive: true, force: true })
  dirs.delete(dir)
}

const COMMON = ['--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--protected-mode', 'no']

/** A plain server of {@link plainServer}. */
export interface PlainServer extends ServerProcess {
  /** `requirepass`, when set. */
  readonly password: string | undefined
  /** Kill if running (also when paused) and remove its dir. Idempotent. */
  stop(): Promise<void>
}

/** How {@link plainServer} runs its server. */
export interface PlainServerOptions {
  /** @default `redis-server` on PATH (Valkey: `valkeyServerPath()`) */
  binary?: string
  /** `--requirepass` (and in the url). @default none */
  password?: string
  /** Every write on disk before it is acknowledged (AOF, `appendfsync always`), so a restart keeps the data. @default false */
  persist?: boolean
  /** Whether it answers. @default `redis-cli PING` says PONG (give your own with a password) */
  ready?: () => Promise<boolean>
}

/** A plain server (Redis, or Valkey with `binary`) on `port`, not started: `start()` it (again after `kill()`). */
export function plainServer(port: number, options: PlainServerOptions = {}): PlainServer {
  const { binary = redisBinaries()?.server ?? 'redis-server', password, persist = false, ready } = options
  const args = [
    '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', persist ? 'yes' : 'no', ...(persist ? ['--appendfsync', 'always'] : []),
    '--daemonize', 'no', '--loglevel', 'warning', '--protected-mode', 'no', ...(password === undefined ? [] : ['--requirepass', password]),
  ]
  const server = serverProcess(binary, port, () => args, ready)
  return Object.assign(server, {
    password,
    url: password === undefined ? server.url : `redis://:${encodeURIComponent(password)}@${HOST}:${port}`,
    async stop() {
      server.resume()
      await server.kill()
      removeDir(server)
    },
  })
}

/** A plain server (Redis, or Valkey with `binary`), started. */
export async function startServer(port: number, binary = redisBinaries()?.server ?? 'redis-server'): Promise<PlainServer> {
  const server = plainServer(port, { binary })
  await server.start()
  return server
}

/** A running Redis Cluster. */
export interface RedisClusterFixture {
  readonly nodes: readonly ServerProcess[]
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…` (every node). */
  readonly url: string
  /** The nodes that are masters now (asked of the cluster). */
  masters(): Promise<ServerProcess[]>
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<ServerProcess>
  /** `CLUSTER FAILOVER` on `replica`; resolves once it is a master. */
  failover(replica: ServerProcess): Promise<void>
  /** A replica of `master` (asked of the cluster). */
  replicaOf(master: ServerProcess): Promise<ServerProcess>
  /** Resolves once every running node says `cluster_state:ok`, every replica is linked, and 3 running masters serve the slots. */
  waitHealthy(ms?: number): Promise<void>
  /** Kill every node and remove the dirs. */
  stop(): Promise<void>
}

/** `CLUSTER NODES` of the node on `port`, parsed. */
async function clusterNodes(port: number): Promise<{ id: string; port: number; master: boolean; failed: boolean; masterId: string; slots: string[] }[]> {
  const text = await cli(port, 'CLUSTER', 'NODES')
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const f = line.trim().split(' ')
      const flags = f[2] ?? ''
      return {
        id: f[0] ?? '',
        port: Number((f[1] ?? '').split('@')[0]?.split(':')[1]),
        master: flags.includes('master'),
        failed: flags.includes('fail'),
        masterId: f[3] ?? '-',
        slots: f.slice(8),
      }
    })
}

/**
 * A Redis Cluster of 3 masters and 3 replicas on `basePort`…`basePort + 5` (`redis-cli --cluster create …
 * --cluster-replicas 1`), healthy when this resolves. `cluster-node-timeout` is 1 s so that a killed master fails over
 * in a few seconds.
 */
export async function startRedisCluster(basePort: number): Promise<RedisClusterFixture> {
  const bins = redisBinaries()
  if (bins === null) throw new Error('redis-server / redis-cli not installed')
  const ports = Array.from({ length: 6 }, (_, i) => basePort + i)
  const nodes = ports.map((port) =>
    serverProcess(bins.server, port, () => ['--port', String(port), ...COMMON, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000']),
  )
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill()))
    for (const n of nodes) {
      removeDir(n)
    }
  }
  try {
    await Promise.all(nodes.map((n) => n.start()))
    await new Promise<void>((resolve, reject) => {
      execFile(bins.cli, ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 }, (error, stdout) =>
        error === null ? resolve() : reject(new Error(`redis-cli --cluster create failed: ${error.message} ${stdout.slice(-300)}`)),
      )
    })
  } catch (error) {
    await stop()
    throw error
  }
  const byPort = (port: number): ServerProcess => {
    const node = nodes.find((n) => n.port === port)
    if (node === undefined) throw new Error(`no node on ${port}`)
    return node
  }
  const liveView = async (): Promise<Awaited<ReturnType<typeof clusterNodes>>> => {
    const live = nodes.find((n) => n.running)
    if (live === undefined) throw new Error('no node running')
    return clusterNodes(live.port)
  }
  const fixture: RedisClusterFixture = {
    nodes,
    url: `redis+cluster://${ports.map((p) => `${HOST}:${p}`).join(',')}`,
    async masters() {
      return (await liveView()).filter((n) => n.master && !n.failed && n.slots.length > 0).map((n) => byPort(n.port))
    },
    async masterOf(key) {
      const slot = Number(await cli(nodes.find((n) => n.running)?.port ?? basePort, 'CLUSTER', 'KEYSLOT', key))
      for (const n of await liveView()) {
        if (!n.master || n.failed) continue
        for (const range of n.slots) {
          const [from, to] = range.split('-').map(Number)
          if (from !== undefined && slot >= from && slot <= (to ?? from)) return byPort(n.port)
        }
      }
      throw new Error(`no master serves slot ${slot}`)
    },
    async replicaOf(master) {
      const view = await liveView()
      const id = view.find((n) => n.port === master.port)?.id
      const replica = view.find((n) => n.masterId === id && !n.failed)
      if (replica === undefined) throw new Error(`no replica of ${master.port}`)
      return byPort(replica.port)
    },
    async failover(replica) {
      await cli(replica.port, 'CLUSTER', 'FAILOVER')
      await waitUntil(async () => (await info(replica.port, 'replication')).get('role') === 'master', `node ${replica.port} to become master`)
      // …and every running node to know it (gossip takes a moment).
      await waitUntil(async () => {
        for (const n of nodes.filter((x) => x.running)) {
          const seen = (await clusterNodes(n.port)).find((x) => x.port === replica.port)
          if (seen === undefined || !seen.master || seen.slots.length === 0) return false
        }
        return true
      }, `every node to see ${replica.port} as a master`)
    },
    async waitHealthy(ms = 30_000) {
      await waitUntil(async () => {
        for (const n of nodes.filter((x) => x.running)) {
          if ((await info(n.port, 'cluster')).get('cluster_enabled') !== '1') return false
          if (!(await cli(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
        }
        // Every replica linked to its master (a failover needs a synced replica).
        for (const n of nodes.filter((x) => x.running)) {
          const repl = await info(n.port, 'replication')
          if (repl.get('role') === 'slave' && repl.get('master_link_status') !== 'up') return false
        }
        // Three masters serve the slots, each one running (a killed master is named until the others flag it).
        const masters = await fixture.masters()
        return masters.length === 3 && masters.every((m) => m.running)
      }, 'the cluster to be healthy', ms)
    },
    stop,
  }
  try {
    await fixture.waitHealthy()
  } catch (error) {
    await stop()
    throw error
  }
  return fixture
}

/** A running Sentinel set. */
export interface SentinelFixture {
  /** The two data servers (the first starts as master). */
  readonly servers: readonly ServerProcess[]
  readonly sentinels: readonly ServerProcess[]
  /** The master name, `mymaster`. */
  readonly name: string
  /** `redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster`. */
  readonly url: string
  /** The data server that is master now, as the sentinels say. */
  master(): Promise<ServerProcess>
  /** SIGKILL the master; resolves with it (to `start()` again later). */
  killMaster(): Promise<ServerProcess>
  /** Resolves once the sentinels name a master other than `old` and it says `role:master`. */
  waitForPromotion(old: ServerProcess): Promise<ServerProcess>
  /** Resolves once the master has a linked replica and every sentinel knows 2 others and the replica. */
  waitHealthy(ms?: number): Promise<void>
  stop(): Promise<void>
}

/**
 * A Sentinel set: data servers on `dataPort`, `dataPort + 1` (the second a replica of the first), sentinels on
 * `sentinelPort`…`sentinelPort + 2` (`redis-server sentinel.conf --sentinel`, quorum 2, `down-after-milliseconds`
 * 1000 so that a killed master is replaced in a few seconds).
 */
export async function startSentinelSet(dataPort: number, sentinelPort: number): Promise<SentinelFixture> {
  const bins = redisBinaries()
  if (bins === null) throw new Error('redis-server not installed')
  const name = 'mymaster'
  const servers = [dataPort, dataPort + 1].map((port, i) =>
    serverProcess(bins.server, port, () => ['--port', String(port), ...COMMON, ...(i === 1 ? ['--replicaof', HOST, String(dataPort)] : [])]),
  )
  const sentinels = [0, 1, 2].map((i) => {
    const port = sentinelPort + i
    return serverProcess(bins.server, port, (dir) => {
      const conf = join(dir, 'sentinel.conf')
      if (!existsSync(conf)) {
        writeFileSync(
          conf,
          [
            `port ${port}`,
            `bind ${HOST}`,
            'protected-mode no',
            `dir ${dir}`,
            `sentinel monitor ${name} ${HOST} ${dataPort} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
            '',
          ].join('\n'),
        )
      }
      return [conf, '--sentinel', '--loglevel', 'warning', '--daemonize', 'no']
    })
  })
  const all = [...servers, ...sentinels]
  const stop = async (): Promise<void> => {
    await Promise.all(all.map((n) => n.kill()))
    for (const n of all) {
      removeDir(n)
    }
  }
  /** The master's port, once every running sentinel names the same one (they disagree for a moment in a failover). */
  const masterPort = async (): Promise<number> => {
    const live = sentinels.filter((s) => s.running)
    if (live.length === 0) throw new Error('no sentinel running')
    const ports = await Promise.all(live.map(async (s) => Number((await cli(s.port, 'SENTINEL', 'get-master-addr-by-name', name)).split('\n')[1])))
    if (ports.some((p) => p !== ports[0])) throw new Error(`the sentinels disagree on the master: ${ports.join(', ')}`)
    return ports[0] as number
  }
  const byPort = (port: number): ServerProcess => {
    const s = servers.find((x) => x.port === port)
    if (s === undefined) throw new Error(`sentinels name an unknown master on ${port}`)
    return s
  }
  const fixture: SentinelFixture = {
    servers,
    sentinels,
    name,
    url: `redis+sentinel://${sentinels.map((s) => `${HOST}:${s.port}`).join(',')}/${name}`,
    master: async () => byPort(await masterPort()),
    async killMaster() {
      const m = await fixture.master()
      await m.kill()
      return m
    },
    async waitForPromotion(old) {
      let found: ServerProcess | undefined
      await waitUntil(async () => {
        const port = await masterPort()
        if (port === old.port) return false
        found = byPort(port)
        return (await info(port, 'replication')).get('role') === 'master'
      }, 'the sentinels to promote a replica', 60_000)
      return found as ServerProcess
    },
    async waitHealthy(ms = 30_000) {
      await waitUntil(async () => {
        const m = await fixture.master()
        const repl = await info(m.port, 'replication')
        if (repl.get('role') !== 'master' || repl.get('connected_slaves') !== '1') return false
        for (const s of sentinels.filter((x) => x.running)) {
          const fields = (await cli(s.port, 'SENTINEL', 'master', name)).split('\n')
          const field = (k: string): string | undefined => fields[fields.indexOf(k) + 1]
          if (field('num-other-sentinels') !== '2' || field('num-slaves') !== '1' || !(field('flags') ?? '').startsWith('master')) return false
          if (field('flags') !== 'master') return false
        }
        return true
      }, 'the sentinel set to be healthy', ms)
    },
    stop,
  }
  try {
    await servers[0]?.start()
    await servers[1]?.start()
    await Promise.all(sentinels.map((s) => s.start()))
    await fixture.waitHealthy()
  } catch (error) {
    await stop()
    throw error
  }
  return fixture
}
