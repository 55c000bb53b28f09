/**
 * A private redis-server for the propagation suites, on a fixed port of this suite's range (7300–7399), optionally
 * persisting every write (AOF, `appendfsync always`) into a temporary directory so that a restart keeps the data.
 * Only the process started here is ever signalled, by its own pid; the directory is removed by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { redisPing, redisServerPath } from '../reliability/helpers/redis.js'

export interface PropagationRedis {
  readonly port: number
  readonly url: string
  /** Start (again) on the same port; resolves once it answers PING. */
  start(): Promise<void>
  /** SIGKILL and wait until the process is gone (with persistence, every acknowledged write is on disk). */
  kill(): Promise<void>
  /** SIGSTOP: the port still accepts connections, nothing answers. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Kill and remove the data directory. Idempotent. */
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function createPropagationRedis(port: number, options: { persist: boolean }): PropagationRedis {
  const binary = redisServerPath()
  if (binary === null) throw new Error('redis-server is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-propagation-'))
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  const persistence = options.persist
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : ['--appendonly', 'no', '--save', '']
  const redis: PropagationRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child !== null) throw new Error('redis already running')
      const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence, '--loglevel', 'warning'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
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
      const deadline = Date.now() + 15_000 // a loaded 2-core machine: a condition with a generous deadline
      while (Date.now() < deadline) {
        if (await redisPing(port)) return
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
      redis.resume()
      await redis.kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return redis
}

/** Wait until `condition()` holds, polling every `everyMs`; throws `what` after `deadlineMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
