/**
 * The fleet benchmark's own Redis: a private `redis-server` (or a 3-master Redis Cluster made with
 * `redis-server --cluster-enabled` and `redis-cli --cluster create`) on fixed loopback ports of the benchmark's range,
 * no persistence, in a temporary directory, started and stopped by the benchmark. The shared Redis on 6379 is never
 * touched. Only processes started here are ever signalled, by their own pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisDeployment {
  readonly kind: 'single' | 'cluster'
  /** `redis://127.0.0.1:<port>` of every node (one for a single server). */
  readonly urls: readonly string[]
  stop(): Promise<void>
}

const started = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL')
})

function binary(name: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  const path = found.stdout.trim()
  if (found.status !== 0 || path === '') {
    throw new Error(`${name} is not installed (apt-get install redis-server, or pass --redis-url)`)
  }
  return path
}

/** One inline command, its whole reply as text once `done(reply)` says so (or after `timeoutMs`: rejects). */
function inline(port: number, command: string, done: (reply: string) => boolean, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let reply = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis :${port} ${command}: no reply in ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (data) => {
      reply += data.toString()
      if (!done(reply)) return
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

async function waitUntil(what: string, check: () => Promise<boolean>, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs
  while (Date.now() < end) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${what}: not ready within ${deadlineMs} ms`)
}

const pong = (port: number): Promise<boolean> => inline(port, 'PING', (r) => r.includes('\r\n')).then((r) => r.startsWith('+PONG'))

async function startServer(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  if (await pong(port).catch(() => false)) {
    throw new Error(`port ${port} already answers PING: another Redis is there (choose --port-base)`)
  }
  const child = spawn(
    binary('redis-server'),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
    { stdio: 'ignore' },
  )
  started.add(child)
  child.once('exit', () => started.delete(child))
  await waitUntil(`redis-server :${port}`, () => pong(port), 5_000)
  return child
}

async function stopAll(children: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
  rmSync(dir, { recursive: true, force: true })
}

/** A private single redis-server on `port`. */
export async function startSingleRedis(port: number): Promise<RedisDeployment> {
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-fleetbench-'))
  const child = await startServer(port, dir, [])
  return { kind: 'single', urls: [`redis://127.0.0.1:${port}`], stop: () => stopAll([child], dir) }
}

/** A private Redis Cluster of `masters` masters (no replicas: the benchmark measures round trips, not failover). */
export async function startRedisCluster(firstPort: number, masters = 3): Promise<RedisDeployment> {
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-fleetbench-cluster-'))
  const ports = Array.from({ length: masters }, (_, i) => firstPort + i)
  const children: ChildProcess[] = []
  try {
    for (const port of ports) {
      children.push(
        await startServer(port, dir, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '2000',
        ]),
      )
    }
    const create = spawnSync(
      binary('redis-cli'),
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 20_000 },
    )
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`)
    for (const port of ports) {
      await waitUntil(
        `cluster node :${port}`,
        async () => (await inline(port, 'CLUSTER INFO', (r) => r.includes('cluster_state'))).includes('cluster_state:ok'),
        15_000,
      )
    }
  } catch (error) {
    await stopAll(children, dir)
    throw error
  }
  return { kind: 'cluster', urls: ports.map((p) => `redis://127.0.0.1:${p}`), stop: () => stopAll(children, dir) }
}
