/**
 * Private `redis-server` processes for the Redis fault suites: each on its own random loopback port, no persistence,
 * started and stopped by the test. The shared Redis on 6379 is never touched. Only processes started here are ever
 * signalled, by their own pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']

/** Path of `redis-server`, or `null` when it is not installed. */
export function redisServerPath(): string | null {
  for (const path of CANDIDATES) if (existsSync(path)) return path
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const found = which.stdout.trim()
  return which.status === 0 && found !== '' ? found : null
}

/** A free TCP port on 127.0.0.1 (bound then released: another process could take it in between, rarely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** `PING` → `+PONG` on `port` within `timeoutMs` (after `AUTH` when a password is given). */
export function redisPing(port: number, password?: string, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let done = false
    const finish = (ok: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    let reply = ''
    socket.on('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}PING\r\n`))
    socket.on('data', (data) => {
      reply += data.toString()
      if (reply.includes('+PONG')) finish(true)
      else if (reply.includes('-')) finish(false)
    })
    socket.on('error', () => finish(false))
  })
}

/**
 * Send one inline command with a one-line reply (`DBSIZE`, `PING`, ...), after `AUTH` when a password is given, and
 * return that reply line (e.g. `:0`).
 */
export function redisCommand(port: number, command: string, password?: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis ${command}: no reply in ${timeoutMs} ms`))
    }, timeoutMs)
    const expected = password === undefined ? 1 : 2
    let reply = ''
    socket.on('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}${command}\r\n`))
    socket.on('data', (data) => {
      reply += data.toString()
      const lines = reply.split('\r\n').filter((line) => line !== '')
      if (lines.length < expected) return
      clearTimeout(timer)
      socket.destroy()
      resolve(lines[expected - 1] ?? '')
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** Number of clients connected to the Redis on `port` (from `INFO clients`), this query's own connection excluded. */
export function redisConnectedClients(port: number, password?: string, timeoutMs = 1_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis INFO clients: no reply in ${timeoutMs} ms`))
    }, timeoutMs)
    let reply = ''
    socket.on('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}INFO clients\r\n`))
    socket.on('data', (data) => {
      reply += data.toString()
      const m = /connected_clients:(\d+)/.exec(reply)
      if (m === null) return
      clearTimeout(timer)
      socket.destroy()
      resolve(Number(m[1]) - 1)
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** A private redis-server. */
export interface RedisProcess {
  readonly port: number
  /** `requirepass`, when set. */
  readonly password: string | undefined
  readonly url: string
  /** pid of the running server, or `null` while it is down. */
  readonly pid: number | null
  /** Start (or start again, empty) on the same port; resolves once it answers PING. */
  start(): Promise<void>
  /** SIGKILL and wait for the process to be gone. */
  kill(): Promise<void>
  /** SIGSTOP: the port still accepts connections, nothing answers. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Kill if running (also when paused). Idempotent. */
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * A private redis-server on a random free port. Not started: call `start()` (a suite testing "Redis down at start"
 * creates its resolver first).
 */
export async function createRedisProcess(options: { password?: string } = {}): Promise<RedisProcess> {
  const { password } = options
  const binary = redisServerPath()
  if (binary === null) throw new Error('redis-server is not installed')
  if (!exitHookInstalled) {
    exitHookInstalled = true
    // Never leave a private server behind, whatever happens to the test process.
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL')
    })
  }
  const port = await freePort()
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()

  const redis: RedisProcess = {
    port,
    password,
    url: password === undefined ? `redis://127.0.0.1:${port}` : `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? null
    },
    async start() {
      if (child !== null) throw new Error('redis already running')
      const proc = spawn(
        binary,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', ...(password === undefined ? [] : ['--requirepass', password])],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
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
      const deadline = Date.now() + 15_000 // start-up on a loaded 2-core machine: a condition with a generous deadline
      while (Date.now() < deadline) {
        if (await redisPing(port, password)) return
        if (child !== proc) break
        await new Promise((r) => setTimeout(r, 25))
      }
      throw new Error(`redis-server did not start on port ${port}: ${stderr.slice(0, 500)}`)
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
    async stop() {
      await redis.kill()
    },
  }
  return redis
}
