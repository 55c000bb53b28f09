/**
 * No leaked socket or timer: a child process (tsx) creates a resolver and both example servers, sends faulty traffic
 * (every upstream fault), leaves lookups and upstream requests in flight, closes everything, and must then exit BY
 * ITSELF (the fixture never calls `process.exit`) within a few seconds. The child also reports
 * `process.getActiveResourcesInfo()` after closing: nothing may be left but its stdio.
 *
 * Two shared-cache settings (each child costs seconds of start-up, so L1-only, whose code paths the first one
 * covers, has no child of its own): a live private Redis, and a Redis that is down (the client is still trying to
 * connect when the resolver closes).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SECRET_API_KEY } from './helpers/evidence.js'
import { createRedisProcess, freePort, type RedisProcess } from './helpers/redis.js'
import { redisService } from './helpers/services.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/clean-exit.ts', import.meta.url))
/** How long the child may live after it reported "closed". */
const EXIT_WITHIN_MS = 3_000
/** Whole child budget (start-up through tsx on a loaded machine, traffic, close). */
const CHILD_BUDGET_MS = 40_000
/** Resources a process without work still has: its stdio. */
const STDIO = new Set(['PipeWrap', 'TTYWrap', 'FSReqCallback'])

const redisCheck = redisService()
const redisProcesses: RedisProcess[] = []

afterAll(async () => {
  for (const r of redisProcesses) await r.stop()
})

interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** ms from the child's "closed" report to its exit, or null when it never reported. */
  exitAfterCloseMs: number | null
  /** True when the test had to kill it. */
  killed: boolean
  summary: { statuses: Record<string, number>; requests: number } | undefined
  closed: { closed: number; resources: string[]; problems: string[] } | undefined
}

/** Run the fixture; kill it (by pid) if it outlives its budget or lingers after closing. */
function runChild(env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, ...env, IPRISK_TEST_KEY: SECRET_API_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let closedAt: number | null = null
    let killed = false
    const kill = (): void => {
      killed = true
      child.kill('SIGKILL')
    }
    const budget = setTimeout(kill, CHILD_BUDGET_MS)
    let linger: NodeJS.Timeout | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (closedAt === null && stdout.includes('"closed"')) {
        closedAt = Date.now()
        linger = setTimeout(kill, EXIT_WITHIN_MS)
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('exit', (code, signal) => {
      clearTimeout(budget)
      clearTimeout(linger)
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      resolve({
        code,
        signal,
        stdout,
        stderr,
        exitAfterCloseMs: closedAt === null ? null : Date.now() - closedAt,
        killed,
        summary: lines.find((l) => 'summary' in l)?.summary as ChildResult['summary'],
        closed: lines.find((l) => 'closed' in l) as ChildResult['closed'],
      })
    })
  })
}

describe('a process using iprisk exits by itself after close(), after faulty traffic', () => {
  const cases: { name: string; needsRedis: boolean; env: () => Promise<Record<string, string>> }[] = [
    {
      name: 'L2 on a live Redis',
      needsRedis: true,
      env: async () => {
        const redis = await createRedisProcess()
        redisProcesses.push(redis)
        await redis.start()
        return { IPRISK_L2: redis.url }
      },
    },
    {
      name: 'L2 on a Redis that is down (client still connecting at close)',
      needsRedis: false,
      env: async () => ({ IPRISK_L2: `redis://127.0.0.1:${await freePort()}` }),
    },
  ]

  it.concurrent.for(cases)(
    '$name: every request answered, nothing left alive, exit code 0 within 3 s of closing',
    { timeout: CHILD_BUDGET_MS + 10_000 },
    async ({ needsRedis, env }, context) => {
      // A missing redis-server is reported by redisService(); IPRISK_REQUIRE_REDIS=1 makes it a failure instead.
      if (needsRedis && redisCheck.skip) context.skip()
      if (needsRedis && redisCheck.mustFail) expect.fail(redisCheck.missing ?? 'redis-server missing')
      const result = await runChild(await env())
      const diagnosis = `exit ${String(result.code)} / ${String(result.signal)}, stderr: ${result.stderr.slice(-1_500)}`
      expect(result.summary, diagnosis).toEqual({ statuses: { 200: 20 }, requests: 20 })
      expect(result.closed, diagnosis).toBeDefined()
      expect(result.closed?.problems, 'no unhandled rejection / uncaught exception in the child').toEqual([])
      expect(
        (result.closed?.resources ?? []).filter((r) => !STDIO.has(r)),
        'resources still active after close()',
      ).toEqual([])
      expect(result.killed, `the child had to be killed: it did not exit by itself (${diagnosis})`).toBe(false)
      expect(result.code, diagnosis).toBe(0)
      expect(result.exitAfterCloseMs).toBeLessThan(EXIT_WITHIN_MS)
      expect(`${result.stdout}${result.stderr}`.includes(SECRET_API_KEY), 'the API key in the child output').toBe(false)
    },
  )
})
