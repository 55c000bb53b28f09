/**
 * `close()` leaves nothing of block propagation running: a child process (tsx) with a resolver whose reader is
 * reading (after a block and an unblock), or down and waiting to reconnect, closes it and must then exit BY ITSELF
 * within 3 s, with no active resource left but its stdio (`process.getActiveResourcesInfo()`).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { redisService } from '../reliability/helpers/services.js'
import { createPropagationRedis } from './propagation-redis.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/propagation-exit.ts', import.meta.url))
const EXIT_WITHIN_MS = 3_000
const CHILD_BUDGET_MS = 40_000
const STDIO = new Set(['PipeWrap', 'TTYWrap', 'FSReqCallback'])
const service = redisService()
const redis = service.skip || service.mustFail ? undefined : createPropagationRedis(7340, { persist: false })

afterAll(async () => {
  await redis?.stop()
})

interface Result {
  code: number | null
  killed: boolean
  stderr: string
  exitAfterCloseMs: number | null
  closed: { reached: boolean; state: string; resources: string[] } | undefined
}

function runChild(env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
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
    child.on('exit', (code) => {
      clearTimeout(budget)
      clearTimeout(linger)
      const line = stdout.split('\n').find((l) => l.startsWith('{'))
      resolve({
        code,
        killed,
        stderr,
        exitAfterCloseMs: closedAt === null ? null : Date.now() - closedAt,
        closed: line === undefined ? undefined : (JSON.parse(line) as Result['closed']),
      })
    })
  })
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
      expect((result.closed?.resources ?? []).filter((r) => !STDIO.has(r)), 'resources still active after close()').toEqual([])
      expect(result.killed, `the child did not exit by itself (${diagnosis})`).toBe(false)
      expect(result.code, diagnosis).toBe(0)
      expect(result.exitAfterCloseMs).toBeLessThan(EXIT_WITHIN_MS)
    } finally {
      await redis?.kill()
    }
  })
})
