/**
 * The `iprisk` command line (`npx iprisk …`; the executable is `iprisk.ts`). One command so far:
 *
 * ```sh
 * npx iprisk simulate [--port 8420] [--host 127.0.0.1] [--quiet]
 * ```
 *
 * starts a local IPASIS simulator for keyless development and prints how to point `ipasis()` at it. Exit codes: 0
 * after a clean stop (SIGINT / SIGTERM) or `--help`, 1 when the simulator cannot start (port in use, ...), 2 for a
 * usage error.
 *
 * @module
 */
import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { classifyIp, parseIp } from '../core/ip.js'
import type { IpasisSimulator } from '../testing/simulator.js'
import { DEFAULT_SIMULATE_HOST, DEFAULT_SIMULATE_PORT, simulateBanner, startDevelopmentSimulator } from './simulate.js'

const USAGE = `Usage: iprisk simulate [--port N] [--host ADDRESS] [--quiet]

Starts a local IPASIS-compatible simulator for developing against iprisk without an API key, and prints how to
point ipasis() at it (IPASIS_BASE_URL) and which address gives which risk profile.

Options:
  --port N          port to listen on, 0 to 65535 (0: any free port)   default: ${DEFAULT_SIMULATE_PORT}
  --host ADDRESS    address to listen on (an IP address or localhost)  default: ${DEFAULT_SIMULATE_HOST}
  --quiet           do not print each lookup
  -h, --help        print this help
`

/** A command-line mistake: reported with the usage text, exit code 2. */
export class UsageError extends Error {}

/** The arguments of `iprisk simulate`. */
export interface SimulateArgs {
  port: number
  host: string
  quiet: boolean
}

/** A parsed command line. */
export type Parsed = { help: true } | ({ help: false } & SimulateArgs)

/**
 * Parse a command line (without `node` and the script path).
 *
 * @throws {UsageError} with a one-line message (`unknown option --prot`, `--port must be ...`).
 *
 * @example
 * ```ts
 * parseCommandLine(['simulate', '--port', '0']) // { help: false, port: 0, host: '127.0.0.1', quiet: false }
 * ```
 */
export function parseCommandLine(argv: readonly string[]): Parsed {
  let values: { port?: string; host?: string; quiet?: boolean; help?: boolean }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }))
  } catch (error) {
    throw new UsageError(parseArgsMessage(error))
  }
  if (values.help === true || positionals[0] === 'help') return { help: true }
  const [command, ...extra] = positionals
  if (command === undefined) throw new UsageError('missing command (the only one is `simulate`)')
  if (command !== 'simulate') throw new UsageError(`unknown command ${JSON.stringify(command)} (the only one is \`simulate\`)`)
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`)

  let port = DEFAULT_SIMULATE_PORT
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65_535) {
      throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`)
    }
    port = Number(values.port)
  }
  const host = values.host ?? DEFAULT_SIMULATE_HOST
  if (host !== 'localhost' && isIP(host) === 0) {
    throw new UsageError(`--host must be an IP address or localhost, got ${JSON.stringify(host)}`)
  }
  return { help: false, port, host, quiet: values.quiet === true }
}

/** node:util's parseArgs messages, made short: "unknown option --prot", "option --port needs a value". */
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  const option = /'(-[^'\s]*)/.exec(message)?.[1]
  if (option !== undefined) {
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option}`
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/does not take an argument/.test(message)) return `option ${option} takes no value`
      if (/argument missing|ambiguous/.test(message)) return `option ${option} needs a value`
    }
  }
  return message.split('\n')[0] ?? message
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true
  const ip = parseIp(host)
  return ip !== null && classifyIp(ip) === 'loopback'
}

async function simulate(args: SimulateArgs): Promise<void> {
  let sim: IpasisSimulator
  try {
    sim = await startDevelopmentSimulator({
      port: args.port,
      host: args.host,
      onLookup: args.quiet ? undefined : (ip, profile) => process.stdout.write(`lookup ${ip} → ${profile}\n`),
    })
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    const why =
      code === 'EADDRINUSE'
        ? `port ${args.port} is in use; pass --port N (0 picks a free port)`
        : code === 'EACCES'
          ? `not allowed to listen on port ${args.port}; pass --port N above 1023`
          : code === 'EADDRNOTAVAIL'
            ? `${args.host} is not an address of this machine`
            : error instanceof Error
              ? error.message
              : String(error)
    process.stderr.write(`iprisk simulate: cannot start: ${why}\n`)
    process.exitCode = 1
    return
  }
  process.stdout.write(simulateBanner(sim.url))
  if (!isLoopbackHost(args.host)) {
    process.stderr.write(
      `iprisk simulate: warning: listening on ${args.host}, not loopback: other machines can reach it (it accepts any key)\n`,
    )
  }

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C while closing: leave at once.
      process.exit(130)
    }
    stopping = true
    process.stdout.write(`\niprisk simulate: ${signal}, stopping\n`)
    void sim.close().then(() => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      process.exitCode = 0 // nothing else holds the event loop: the process ends here
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/**
 * Run the command line (without `node` and the script path). Sets `process.exitCode`; never throws.
 *
 * @example
 * ```ts
 * await main(['simulate', '--port', '0'])
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  let parsed: Parsed
  try {
    parsed = parseCommandLine(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`iprisk: ${error.message}\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (parsed.help) {
    process.stdout.write(USAGE)
    return
  }
  await simulate(parsed)
}
