/**
 * The simulator's HTTP server: listens on a loopback address, tracks its sockets and timers, and closes all of them,
 * so a test process never hangs on a held `timeout` answer or a keep-alive socket.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { IpRiskError } from '../../core/errors.js'
import { nodeBuiltin } from '../../core/node-builtin.js'
import type { Scheduler } from './faults.js'

/**
 * `node:http`, read when a simulator starts, never imported statically: `iprisk/testing` also serves code on runtimes
 * without it (the memory provider and the test clock work everywhere), and must bundle there.
 */
function createServer(onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const http = nodeBuiltin<typeof import('node:http')>('node:http')
  if (http === undefined) {
    throw new IpRiskError('iprisk: startIpasisSimulator() needs node:http (Node, Bun or Deno); this runtime has none')
  }
  return http.createServer(onRequest)
}

/** Real-time timers that `stop()` clears all at once; nothing is scheduled once stopped. @internal */
export class SimulatorTimers implements Scheduler {
  readonly #pending = new Set<NodeJS.Timeout>()
  #stopped = false

  get stopped(): boolean {
    return this.#stopped
  }

  later(ms: number, fn: () => void): void {
    if (this.#stopped) return
    const t = setTimeout(() => {
      this.#pending.delete(t)
      fn()
    }, ms)
    this.#pending.add(t)
  }

  stop(): void {
    this.#stopped = true
    for (const t of this.#pending) clearTimeout(t)
    this.#pending.clear()
  }
}

/** Where and how to listen, and what to do with each request and each new connection. @internal */
export interface ListenOptions {
  readonly host: string
  readonly port: number
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void
  readonly onConnection: () => void
  /** The timers the answers are scheduled on; `close()` stops them. */
  readonly timers: SimulatorTimers
}

/**
 * A listening simulator server. `close()` is idempotent: it stops the timers, stops listening and destroys every
 * socket (keep-alive ones and held `timeout` answers would otherwise keep the server and the test process alive).
 * @internal
 */
export class SimulatorServer {
  readonly #timers: SimulatorTimers
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #closed: Promise<void> | null = null

  private constructor(options: ListenOptions) {
    this.#timers = options.timers
    this.#server = createServer(options.onRequest)
    this.#server.keepAliveTimeout = 5_000 // longer than undici's default 4 s, so the client always closes first
    this.#server.on('connection', (socket: Socket) => {
      options.onConnection()
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  /** Create the server and wait until it listens. */
  static async listen(options: ListenOptions): Promise<SimulatorServer> {
    const instance = new SimulatorServer(options)
    const server = instance.#server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return instance
  }

  /** `http://host:port` of the listening socket (IPv6 hosts in brackets). */
  origin(): string {
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('iprisk simulator: no TCP address')
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return `http://${host}:${address.port}`
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#timers.stop()
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
      for (const socket of this.#sockets) socket.destroy()
    })
    return this.#closed
  }
}
