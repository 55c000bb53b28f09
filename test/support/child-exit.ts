/**
 * Run a fixture in a child process (`node --import tsx`) that must exit BY ITSELF after it reports closing: the
 * child prints a JSON line containing `"closed"` once it has closed everything; from then on it may live
 * `exitWithinMs`, and at most `budgetMs` in all, else it is killed (by its own pid, SIGKILL). Used by the clean-exit
 * suites (test/reliability/clean-exit.test.ts, test/fleet/propagation-exit.test.ts).
 */
import { spawn } from 'node:child_process'

/** Resources a process without work still has: its stdio. */
export const STDIO_RESOURCES: ReadonlySet<string> = new Set(['PipeWrap', 'TTYWrap', 'FSReqCallback'])

/** What the child did. */
export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** ms from the child's "closed" report to its exit, or null when it never reported. */
  exitAfterCloseMs: number | null
  /** True when it had to be killed. */
  killed: boolean
  /** Its stdout lines that start with `{`, parsed. */
  json: Record<string, unknown>[]
}

/** Run `fixture` with `env` added to this process's; resolves when the child exits (or is killed). */
export function runChildUntilExit(fixture: string, env: Record<string, string>, limits: { budgetMs: number; exitWithinMs: number }): Promise<ChildExit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let closedAt: number | null = null
    let killed = false
    const kill = (): void => {
      killed = true
      child.kill('SIGKILL')
    }
    const budget = setTimeout(kill, limits.budgetMs)
    let linger: NodeJS.Timeout | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (closedAt === null && stdout.includes('"closed"')) {
        closedAt = Date.now()
        linger = setTimeout(kill, limits.exitWithinMs)
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('exit', (code, signal) => {
      clearTimeout(budget)
      clearTimeout(linger)
      resolve({
        code,
        signal,
        stdout,
        stderr,
        exitAfterCloseMs: closedAt === null ? null : Date.now() - closedAt,
        killed,
        json: stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      })
    })
  })
}
