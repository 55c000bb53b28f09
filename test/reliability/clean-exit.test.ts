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
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { runChildUntilExit, STDIO_RESOURCES, type ChildExit } from '../support/child-exit.js'
import { SECRET_API_KEY } from './helpers/evidence.js'
import { createRedisProcess, freePort, type RedisProcess } from './helpers/redis.js'
import { redisService } from './helpers/services.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/clean-exit.ts', import.meta.url))
/** How long the child may live after it reported "closed". */
const EXIT_WITHIN_MS = 3_000
/** Whole child budget (start-up through tsx on a loaded machine, traffic, close). */
const CHILD_BUDGET_MS = 40_000

const redisCheck = redisService()
const redisProcesses: RedisProcess[] = []

afterAll(async () => {
  for (const r of redisProcesses) await r.stop()
})

interface ChildResult extends ChildExit {
  summary: { statuses: Record<string, number>; requests: number } | undefined
  closed: { closed: number; resources: string[]; problems: string[] } | undefined
}

/** Run the fixture; kill it (by pid) if it outlives its budget or lingers after closing. */
async function runChild(env: Record<string, string>): Promise<ChildResult> {
  const result = await runChildUntilExit(FIXTURE, { ...env, IPRISK_TEST_KEY: SECRET_API_KEY }, { budgetMs: CHILD_BUDGET_MS, exitWithinMs: EXIT_WITHIN_MS })
  return {
    ...result,
    summary: result.json.find((l) => 'summary' in l)?.summary as ChildResult['summary'],
    closed: result.json.find((l) => 'closed' in l) as ChildResult['closed'],
  }
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
        (result.closed?.resources ?? []).filter((r) => !STDIO_RESOURCES.has(r)),
        'resources still active after close()',
      ).toEqual([])
      expect(result.killed, `the child had to be killed: it did not exit by itself (${diagnosis})`).toBe(false)
      expect(result.code, diagnosis).toBe(0)
      expect(result.exitAfterCloseMs).toBeLessThan(EXIT_WITHIN_MS)
      expect(`${result.stdout}${result.stderr}`.includes(SECRET_API_KEY), 'the API key in the child output').toBe(false)
    },
  )
})
