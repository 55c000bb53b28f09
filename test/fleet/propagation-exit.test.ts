/**
 * `close()` leaves nothing of block propagation running: a child process (tsx) with a resolver whose reader is
 * reading (after a block and an unblock), or down and waiting to reconnect, closes it and must then exit BY ITSELF
 * within 3 s, with no active resource left but its stdio (`process.getActiveResourcesInfo()`).
 */
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { redisService } from '../reliability/helpers/services.js'
import { runChildUntilExit, STDIO_RESOURCES, type ChildExit } from '../support/child-exit.js'
import { createPropagationRedis } from './propagation-redis.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/propagation-exit.ts', import.meta.url))
const EXIT_WITHIN_MS = 3_000
const CHILD_BUDGET_MS = 40_000
const service = redisService()
const redis = service.skip || service.mustFail ? undefined : createPropagationRedis(7340, { persist: false })

afterAll(async () => {
  await redis?.stop()
})

async function runChild(env: Record<string, string>): Promise<ChildExit & { closed: { reached: boolean; state: string; resources: string[] } | undefined }> {
  const result = await runChildUntilExit(FIXTURE, env, { budgetMs: CHILD_BUDGET_MS, exitWithinMs: EXIT_WITHIN_MS })
  return { ...result, closed: result.json[0] as { reached: boolean; state: string; resources: string[] } | undefined }
}

describe.skipIf(service.skip)('block propagation: a process exits by itself after close()', () => {
  it.for([
    { name: 'reader reading', expect: 'reading', live: true },
    { name: 'reader down, waiting to reconnect', expect: 'down', live: false },
  ])('$name: nothing left alive, exit code 0 within 3 s of closing', { timeout: CHILD_BUDGET_MS + 10_000 }, async (c) => {
    if (service.mustFail) expect.fail(service.missing ?? 'redis-server missing')
    if (c.live) await redis?.start()
    try {
      const result = await runChild({ IPRISK_L2: 'redis://127.0.0.1:7340', IPRISK_EXPECT: c.expect })
      const diagnosis = `exit ${String(result.code)}, stderr: ${result.stderr.slice(-1_500)}`
      expect(result.closed?.reached, diagnosis).toBe(true)
      expect(result.closed?.state, diagnosis).toBe('closed')
      expect((result.closed?.resources ?? []).filter((r) => !STDIO_RESOURCES.has(r)), 'resources still active after close()').toEqual([])
      expect(result.killed, `the child did not exit by itself (${diagnosis})`).toBe(false)
      expect(result.code, diagnosis).toBe(0)
      expect(result.exitAfterCloseMs).toBeLessThan(EXIT_WITHIN_MS)
    } finally {
      await redis?.kill()
    }
  })
})
