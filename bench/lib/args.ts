/** Command-line options of `npm run bench`. */
import { parseArgs } from 'node:util'

export type Suite = 'trpc' | 'graphql' | 'micro'

export interface BenchOptions {
  quick: boolean
  suites: Suite[]
  /** Interleaved rounds per load scenario. */
  rounds: number
  /** Seconds of each throughput run; latency runs last half as long. */
  durationSec: number
  /** Connections of the throughput runs. */
  connections: number
  /** Simulated upstream (IPASIS) latency, ms. */
  upstreamLatencyMs: number
  /** Where the Markdown results go; `null` to only print them. */
  out: string | null
  /** Milliseconds per micro-benchmark task and run (each group runs three times). */
  microTimeMs: number
  /** Warm-path A/B: paired throughput rounds, and seconds per run. */
  abRounds: number
  abDurationSec: number
  /** Warm-path A/B, same-server latency: rounds, and measured cycles per round (each cycle: every variant once). */
  abSameRounds: number
  abCycles: number
  /** Warm-path A/B: rounds of step timing under saturation. */
  abSatRounds: number
}

export const usage = `Usage: npm run bench -- [options]

  --quick             fewer rounds and shorter runs (finishes in under two minutes)
  --only <suite>      trpc | graphql | micro (repeatable, or comma-separated)
  --rounds <n>        interleaved rounds per load scenario (default 5, quick 2)
  --duration <s>      seconds per throughput run (default 5, quick 1.2); latency runs last half as long
  --connections <n>   concurrent connections of the throughput runs (default 10)
  --latency <ms>      simulated IPASIS latency (default 20)
  --out <file>        results file (default bench/results/latest.md); --no-write to only print
  --help
`

/** The options every benchmark takes (`--quick`, `--latency`, `--out`, `--no-write`, `--help`), for `parseArgs`. */
export const SHARED_OPTIONS = {
  quick: { type: 'boolean', default: false },
  latency: { type: 'string' },
  out: { type: 'string' },
  'no-write': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

/** `--name`'s value as a positive number (`integer`: a positive integer), `fallback` when not given; throws on anything else. */
export function positiveNumber(name: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`)
  }
  return value
}

/** Parses `argv` (without the node and script entries). Throws on unknown options or bad values. */
export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      ...SHARED_OPTIONS,
      only: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
    },
  })
  if (values.help) return 'help'
  const quick = values.quick ?? false
  const all: Suite[] = ['trpc', 'graphql', 'micro']
  let suites = all
  if (values.only && values.only.length > 0) {
    const wanted = values.only.flatMap((s) => s.split(',')).map((s) => s.trim())
    for (const s of wanted) {
      if (!all.includes(s as Suite)) throw new Error(`--only must be one of ${all.join(', ')}, got "${s}"`)
    }
    suites = all.filter((s) => wanted.includes(s))
  }
  return {
    quick,
    suites,
    rounds: positiveNumber('rounds', values.rounds, quick ? 2 : 5, true),
    durationSec: positiveNumber('duration', values.duration, quick ? 1.2 : 5, false),
    connections: positiveNumber('connections', values.connections, 10, true),
    upstreamLatencyMs: positiveNumber('latency', values.latency, 20, false),
    out: values['no-write'] ? null : (values.out ?? 'bench/results/latest.md'),
    microTimeMs: quick ? 40 : 250,
    abRounds: quick ? 2 : 24,
    abDurationSec: quick ? 0.6 : 1,
    abSameRounds: quick ? 1 : 5,
    abCycles: quick ? 200 : 5_000,
    abSatRounds: quick ? 1 : 6,
  }
}
