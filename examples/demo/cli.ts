/**
 * `npm start`: starts the demo servers, plays the tour, prints the report, then either keeps the servers running
 * (streaming new security events) until Ctrl-C, or with `--once` closes everything and exits (non-zero if a step did
 * not get its expected decision).
 *
 * @module
 */
import { colorEnabled, createStyle } from './format.js'
import { renderHeader, renderReport, renderRunning } from './report.js'
import { startDemoServers, type DemoServerOptions } from './servers.js'
import { runTour } from './tour.js'

/** Where the demo writes (process.stdout, or a collector in tests). */
export interface Output {
  write(text: string): unknown
  isTTY?: boolean
}

/** Options of {@link runDemo}. */
export interface RunDemoOptions extends DemoServerOptions {
  /** Command-line arguments (without `node` and the script). */
  argv?: readonly string[]
  env?: NodeJS.ProcessEnv
  stdout?: Output
  stderr?: Output
  /** Stops a running demo (what SIGINT / SIGTERM do); tests use it. */
  signal?: AbortSignal
  /** Listen for SIGINT / SIGTERM while the servers keep running. @default true */
  handleSignals?: boolean
  /** Requests of the burst. @default 200 */
  burst?: number
}

export const USAGE = `Usage: npm start [-- --once]

Starts a local IPASIS simulator, the example tRPC and GraphQL (Yoga) servers, plays a scripted tour of requests
from clean, VPN, proxy, Tor, datacenter and high-risk addresses, and prints the decisions and security events.

  --once      exit after the tour (exit code 1 if a step did not get its expected decision)
  --help      show this help

Environment:
  IPASIS_API_KEY   use the real IPASIS API instead of the simulator (decisions are then not checked)
  REDIS_URL        share the cache through Redis (e.g. redis://127.0.0.1:6379)
  IPRISK_DEMO_IPS  with IPASIS_API_KEY: real addresses to play, e.g. "tor=185.220.101.1,clean=198.51.100.1"
  NO_COLOR         no colours (they are also off when the output is not a terminal)
`

/** Parsed command line. */
export interface DemoArgs {
  once: boolean
  help: boolean
}

/**
 * Parses the demo's arguments.
 *
 * @throws {Error} on an unknown argument.
 *
 * @example
 * ```ts
 * parseArgs(['--once']) // { once: true, help: false }
 * ```
 */
export function parseArgs(argv: readonly string[]): DemoArgs {
  const args: DemoArgs = { once: false, help: false }
  for (const arg of argv) {
    if (arg === '--once') args.once = true
    else if (arg === '--help' || arg === '-h') args.help = true
    else throw new Error(`unknown argument ${JSON.stringify(arg)}`)
  }
  return args
}

/** Resolves when `signal` aborts or (with `handleSignals`) the process gets SIGINT / SIGTERM. */
function stopRequested(signal: AbortSignal | undefined, handleSignals: boolean): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      signal?.removeEventListener('abort', onAbort)
      resolve(why)
    }
    const onInt = () => done('SIGINT')
    const onTerm = () => done('SIGTERM')
    const onAbort = () => done('abort')
    if (handleSignals) {
      process.once('SIGINT', onInt)
      process.once('SIGTERM', onTerm)
    }
    if (signal?.aborted) done('abort')
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs the demo; resolves with the exit code (0: success; 1: a step did not get its expected decision, or the demo
 * failed; 2: bad arguments). Never calls `process.exit`: everything it starts is closed before it resolves.
 *
 * @example
 * ```ts
 * process.exitCode = await runDemo({ argv: process.argv.slice(2) })
 * ```
 */
export async function runDemo(options: RunDemoOptions = {}): Promise<number> {
  const env = options.env ?? process.env
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const print = (lines: readonly string[]) => void stdout.write(`${lines.join('\n')}\n`)
  let args: DemoArgs
  try {
    args = parseArgs(options.argv ?? [])
  } catch (error) {
    stderr.write(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (args.help) {
    stdout.write(USAGE)
    return 0
  }

  const style = createStyle(colorEnabled(stdout, env))
  let servers
  try {
    servers = await startDemoServers({ env, ...(options.createRisk ? { createRisk: options.createRisk } : {}) })
  } catch (error) {
    stderr.write(`iprisk demo: could not start: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
  try {
    print([...renderHeader(servers, style), ''])
    const result = await runTour({ servers, ...(options.burst === undefined ? {} : { burst: options.burst }) })
    print(renderReport(result, style))
    const code = result.ok ? 0 : 1
    if (args.once) return code

    print(['', ...renderRunning(servers, style)])
    const unsubscribe = servers.log.subscribe((entry) => print([entry.line]))
    const why = await stopRequested(options.signal, options.handleSignals ?? true)
    unsubscribe()
    print([style.dim(`${why === 'abort' ? 'Stopping' : `${why}: stopping`} the servers…`)])
    return code
  } catch (error) {
    stderr.write(`iprisk demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    return 1
  } finally {
    await servers.close()
  }
}
