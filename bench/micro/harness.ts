/**
 * A thin layer over tinybench for nanosecond-scale operations: each task runs the operation `batch` times per
 * sample (a single call is shorter than the timer's own resolution and overhead), results are per operation, and
 * every group has a baseline task measured in the same run, so ratios are free of machine speed.
 */
import { Bench, hrtimeNow } from 'tinybench'

export interface MicroCase {
  name: string
  /** Operations per sample. */
  batch: number
  /**
   * Runs one operation; `i` counts the task's operations (0, 1, 2, … across samples), so cases can rotate through
   * inputs. Sync cases return anything, async ones a promise.
   */
  op: (i: number) => unknown
  async?: boolean
}

export interface MicroGroup {
  group: string
  /** What the cases are compared with (measured first, in the same run). */
  baseline: MicroCase
  cases: MicroCase[]
  /** Free text shown under the group's table. */
  note?: string
}

export interface MicroRow {
  group: string
  name: string
  isBaseline: boolean
  /** Time per operation, nanoseconds: the median over repeated runs of each run's median sample. */
  nsPerOp: number
  opsPerSec: number
  /** nsPerOp ÷ the baseline's (per run, then the median). */
  ratio: number
  /** nsPerOp − the baseline's (per run, then the median). */
  addedNs: number
  /** Lowest and highest per-run nsPerOp: how much repeated runs disagree. */
  range: [number, number]
  /** Samples in all runs. */
  samples: number
}

/** Results are counted into a module-level variable so the JIT cannot drop the measured calls as dead code. */
let sink = 0

function taskFn(c: MicroCase): () => unknown {
  const { op, batch } = c
  let n = 0
  if (c.async) {
    return async () => {
      for (let i = 0; i < batch; i++) if ((await op(n++)) !== undefined) sink++
    }
  }
  return () => {
    for (let i = 0; i < batch; i++) if (op(n++) !== undefined) sink++
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Runs the group `repeats` times (all tasks, in order, each time), so that a transient stall of the machine spoils
 * one run of one task rather than the result: per task, the median of its runs is reported.
 */
export async function runMicroGroup(group: MicroGroup, timeMs: number, repeats = 3): Promise<MicroRow[]> {
  const all = [group.baseline, ...group.cases]
  const perRun: { ns: number[]; samples: number }[] = all.map(() => ({ ns: [], samples: 0 }))
  for (let r = 0; r < repeats; r++) {
    const bench = new Bench({ time: timeMs, warmupTime: Math.max(50, timeMs / 3), now: hrtimeNow, throws: true })
    for (const c of all) bench.add(c.name, taskFn(c))
    await bench.run()
    all.forEach((c, i) => {
      const result = bench.getTask(c.name)?.result
      if (!result || result.error) throw new Error(`micro ${group.group} / ${c.name}: ${result?.error?.message ?? 'no result'}`)
      const p50 = result.latency.p50 ?? result.latency.mean
      perRun[i]!.ns.push((p50 * 1e6) / c.batch)
      perRun[i]!.samples += result.latency.samples.length
    })
  }
  const base = perRun[0]!.ns
  return all.map((c, i) => {
    const ns = perRun[i]!.ns
    const value = median(ns)
    return {
      group: group.group,
      name: c.name,
      isBaseline: i === 0,
      nsPerOp: value,
      opsPerSec: 1e9 / value,
      ratio: median(ns.map((v, r) => v / base[r]!)),
      addedNs: median(ns.map((v, r) => v - base[r]!)),
      range: [Math.min(...ns), Math.max(...ns)],
      samples: perRun[i]!.samples,
    }
  })
}
