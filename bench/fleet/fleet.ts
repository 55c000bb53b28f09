/**
 * The orchestrator's side of the fleet: N instance processes (instance.ts through the tsx loader), each a resolver,
 * spoken to over Node IPC. Every process started here is killed by its pid when the fleet closes (or the orchestrator
 * exits).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FromInstance, InstanceConfig, ToInstance } from './protocol.js'

type Body = ToInstance extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never

export interface Instance {
  readonly index: number
  readonly pid: number
  request<T>(body: Body): Promise<T>
}

export interface Fleet {
  readonly instances: readonly Instance[]
  /** (Re)create every instance's resolver with `config(index)`. */
  init(config: (index: number) => InstanceConfig): Promise<void>
  close(): Promise<void>
}

const alive = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL')
})

function spawnInstance(index: number, timeoutMs: number): Instance & { child: ChildProcess } {
  const script = fileURLToPath(new URL('./instance.ts', import.meta.url))
  const child = fork(script, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  alive.add(child)
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  child.on('message', (message: FromInstance) => {
    const waiter = pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id)
    clearTimeout(waiter.timer)
    if (message.type === 'error') waiter.reject(new Error(`instance ${index}: ${message.message}`))
    else waiter.resolve(message.type === 'ready' ? message.pid : message.result)
  })
  child.on('exit', (code, signal) => {
    alive.delete(child)
    for (const waiter of pending.values()) {
      clearTimeout(waiter.timer)
      waiter.reject(new Error(`instance ${index} exited (${code ?? signal})`))
    }
    pending.clear()
  })
  return {
    index,
    child,
    get pid() {
      return child.pid ?? -1
    },
    request<T>(body: Body): Promise<T> {
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`instance ${index}: no answer to ${body.type} in ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
        child.send({ ...body, id } as ToInstance)
      })
    },
  }
}

/** Start `size` instance processes (not yet holding a resolver: call `init`). */
export function startFleet(size: number, timeoutMs = 60_000): Fleet {
  const instances = Array.from({ length: size }, (_, i) => spawnInstance(i, timeoutMs))
  return {
    instances,
    async init(config) {
      // An instance that died (a scenario crashed it) is replaced, so one failed scenario does not end the run.
      for (const [i, instance] of instances.entries()) {
        if (instance.child.exitCode !== null || instance.child.signalCode !== null) instances[i] = spawnInstance(i, timeoutMs)
      }
      await Promise.all(instances.map((instance) => instance.request({ type: 'init', config: config(instance.index) })))
    },
    async close() {
      await Promise.all(
        instances.map(
          (instance) =>
            new Promise<void>((resolve) => {
              const child = instance.child
              if (child.exitCode !== null || child.signalCode !== null) return resolve()
              const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
              child.once('exit', () => {
                clearTimeout(timer)
                resolve()
              })
              try {
                child.send({ type: 'exit' } satisfies ToInstance)
              } catch {
                child.kill('SIGKILL')
              }
            }),
        ),
      )
    },
  }
}
