/**
 * Parent side of the load generator: forks `generator.ts` (through the tsx loader, without the parent's flags such
 * as `--cpu-prof`) and runs jobs on it one at a time.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FromChild, LoadJob, LoadResult, MixedJob, MixedResult, ToChild } from './protocol.js'

export interface LoadGenerator {
  run(job: LoadJob): Promise<LoadResult>
  /** See {@link MixedJob}. */
  mixed(job: MixedJob): Promise<MixedResult>
  close(): Promise<void>
}

export async function startLoadGenerator(): Promise<LoadGenerator> {
  const script = fileURLToPath(new URL('./generator.ts', import.meta.url))
  const child: ChildProcess = fork(script, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let nextId = 1
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each waiter knows the result type it asked for
  const pending = new Map<number, { resolve: (r: any) => void; reject: (e: Error) => void }>()
  let exited = false

  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`load generator exited early (code ${code})`)))
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') resolve()
    })
  })
  child.on('message', (message: FromChild) => {
    if (message.type === 'ready') return
    const waiter = pending.get(message.id)
    if (!waiter) return
    pending.delete(message.id)
    if (message.type === 'result' || message.type === 'mixed') waiter.resolve(message.result)
    else waiter.reject(new Error(`load generator: ${message.message}`))
  })
  child.on('exit', (code) => {
    exited = true
    for (const waiter of pending.values()) waiter.reject(new Error(`load generator exited (code ${code})`))
    pending.clear()
  })
  await ready

  function request<T>(message: (id: number) => ToChild): Promise<T> {
    if (exited) return Promise.reject(new Error('load generator is not running'))
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      child.send(message(id))
    })
  }

  return {
    run: (job) => request<LoadResult>((id) => ({ type: 'run', id, job })),
    mixed: (job) => request<MixedResult>((id) => ({ type: 'mixed', id, job })),
    async close() {
      if (exited) return
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.send({ type: 'exit' } satisfies ToChild)
      const timer = setTimeout(() => child.kill(), 2_000)
      await done
      clearTimeout(timer)
    },
  }
}
