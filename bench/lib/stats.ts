/**
 * Small, exact statistics for benchmark samples. Latencies are kept as raw samples (not in an HDR histogram), so the
 * percentiles are exact at sub-millisecond resolution: autocannon's own histogram rounds latencies to whole
 * milliseconds, far too coarse for the "< 0.1 ms added" target.
 */

/** Median of a list (mean of the two middle values for an even count); `NaN` for an empty list. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return Number.NaN
  const sorted = [...finite].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Nearest-rank percentile (`p` in 0–100) of an ascending-sorted array; `NaN` when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * n)
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!
}

export interface LatencySummary {
  count: number
  /** Milliseconds. */
  avg: number
  p50: number
  p99: number
  max: number
}

/** Summarizes latency samples (milliseconds). The input is not modified. */
export function summarizeLatencies(samples: Float64Array): LatencySummary {
  const n = samples.length
  if (n === 0) return { count: 0, avg: Number.NaN, p50: Number.NaN, p99: Number.NaN, max: Number.NaN }
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]!
  return {
    count: n,
    avg: sum / n,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: sorted[n - 1]!,
  }
}

/** A growable list of doubles without per-sample allocation. */
export class SampleBuffer {
  private data = new Float64Array(16_384)
  private size = 0

  push(value: number): void {
    if (this.size === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.size++] = value
  }

  get length(): number {
    return this.size
  }

  /** A copy of the samples pushed so far. */
  toArray(): Float64Array {
    return this.data.slice(0, this.size)
  }

  clear(): void {
    this.size = 0
  }
}
