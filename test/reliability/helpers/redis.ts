/**
 * Private `redis-server` processes for the Redis fault suites: each on its own random loopback port, no persistence,
 * started and stopped by the test. The shared Redis on 6379 is never touched. Only processes started here are ever
 * signalled, by their own pid.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { plainServer, type PlainServer } from '../../support/redis-servers.js'

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

/** A private redis-server (a {@link PlainServer} of test/support/redis-servers.ts on a random free port). */
export type RedisProcess = PlainServer

/**
 * A private redis-server on a random free port. Not started: call `start()` (a suite testing "Redis down at start"
 * creates its resolver first). `start()` again after `kill()` starts it empty on the same port.
 */
export async function createRedisProcess(options: { password?: string } = {}): Promise<RedisProcess> {
  const { password } = options
  const binary = redisServerPath()
  if (binary === null) throw new Error('redis-server is not installed')
  const port = await freePort()
  return plainServer(port, { binary, password, ready: () => redisPing(port, password) })
}
