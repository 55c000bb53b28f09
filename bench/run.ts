/**
 * `npm run bench -- [--quick] [--only trpc|graphql|micro] [--rounds N] [--duration S]`
 *
 * Load benchmarks (autocannon, in a child process) of the example tRPC and Yoga servers in six scenarios against an
 * unprotected baseline, micro benchmarks (tinybench) of the hot path, the targets of issue 8 as PASS / FAIL, all
 * written as Markdown to `bench/results/latest.md`. See docs/benchmarks.md.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseBenchArgs, usage, type BenchOptions } from './lib/args.js'
import { collectMachineInfo } from './lib/machine.js'
import { renderReport, type BenchReport } from './lib/report.js'
import type { FrameworkResult } from './lib/results.js'
import { evaluateTargets } from './lib/targets.js'
import { startLoadGenerator } from './load/client.js'
import { runLoadSuite } from './load/run-load.js'
import { graphqlTarget, trpcTarget } from './load/targets.js'
import type { MicroGroup, MicroRow } from './micro/harness.js'
import { runMicroSuite } from './micro/suite.js'

const t0 = performance.now()
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)
}

async function main(): Promise<void> {
  let options: BenchOptions | 'help'
  try {
    options = parseBenchArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    process.exitCode = 2
    return
  }
  if (options === 'help') {
    process.stdout.write(usage)
    return
  }
  const started = performance.now()
  const machine = collectMachineInfo()
  log(
    `iprisk bench: ${options.quick ? 'quick' : 'full'} run of ${options.suites.join(', ')} ` +
      `on ${machine.cpu} (${machine.cores} cores), Node ${machine.node}`,
  )

  const load: FrameworkResult[] = []
  const loadSuites = options.suites.filter((s): s is 'trpc' | 'graphql' => s !== 'micro')
  if (loadSuites.length > 0) {
    const gen = await startLoadGenerator()
    try {
      for (const suite of loadSuites) {
        log(`load: ${suite}`)
        load.push(await runLoadSuite(suite === 'trpc' ? trpcTarget : graphqlTarget, options, gen, log))
      }
    } finally {
      await gen.close()
    }
  }

  let micro: MicroRow[] = []
  let microGroups: Pick<MicroGroup, 'group' | 'note'>[] = []
  if (options.suites.includes('micro')) {
    log('micro benchmarks')
    ;({ rows: micro, groups: microGroups } = await runMicroSuite(options, log))
  }

  const report: BenchReport = {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    options,
    machine,
    load,
    micro,
    microGroups,
    targets: evaluateTargets(load, micro),
    durationSec: (performance.now() - started) / 1000,
  }
  const markdown = renderReport(report)
  process.stdout.write(markdown)
  if (options.out !== null) {
    const file = resolve(options.out)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, markdown)
    log(`written to ${options.out}`)
  }
  if (report.targets.some((t) => t.pass === false)) log('at least one target FAILED (see the Targets table)')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
