/**
 * The simulator's latency: a fixed or jittered delay, globally or per IP, drawn from a seeded generator so runs repeat.
 *
 * @module
 */
import { canonicalIp } from '../../core/provider-schema.js'

/**
 * A fixed delay in ms, or a uniform jitter in `[min, max]` (integer ms) drawn from the seeded generator.
 *
 * @example
 * ```ts
 * sim.setLatency(20)
 * sim.setLatency({ min: 5, max: 80 })
 * sim.setLatency(2_000, { ip: '203.0.113.7' })
 * ```
 */
export type SimulatorLatency = number | { min: number; max: number }

/**
 * Throws a `TypeError` unless `latency` is a number of ms ≥ 0 or `{ min, max }` with `0 <= min <= max`.
 * @internal
 */
export function assertLatency(latency: unknown): asserts latency is SimulatorLatency {
  const ok = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0
  if (ok(latency)) return
  if (typeof latency === 'object' && latency !== null) {
    const { min, max } = latency as { min?: unknown; max?: unknown }
    if (ok(min) && ok(max) && (min as number) <= (max as number)) return
  }
  throw new TypeError('iprisk simulator: latency is a number of ms >= 0 or { min, max } with 0 <= min <= max')
}

/**
 * mulberry32: a tiny seeded PRNG, so jittered latencies repeat from run to run. Also used by the reliability suites
 * and the benchmark's load generator; not part of `iprisk/testing`'s public API.
 * @internal
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * The latency rules of one simulator: a global delay, per-IP overrides, and the seeded jitter generator.
 * `reset()` returns to the start value and restarts the generator, so a reset simulator draws the same delays again.
 * @internal
 */
export class LatencyPlan {
  readonly #initial: SimulatorLatency
  readonly #seed: number
  readonly #byIp = new Map<string, SimulatorLatency>()
  #global: SimulatorLatency
  #random: () => number

  constructor(initial: unknown, seed: number) {
    assertLatency(initial)
    this.#initial = initial
    this.#global = initial
    this.#seed = seed
    this.#random = seededRandom(seed)
  }

  /** Set the global latency, or (with `ip`, any notation) the latency of one IP. Throws `TypeError` on bad input. */
  set(latency: SimulatorLatency, ip: string | undefined): void {
    assertLatency(latency)
    if (ip === undefined) {
      this.#global = latency
      return
    }
    const canonical = canonicalIp(ip)
    if (canonical === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(ip)}`)
    this.#byIp.set(canonical, latency)
  }

  /** The delay in ms for one request about the canonical `ip` (draws from the generator when jittered). */
  delayFor(ip: string): number {
    const l = this.#byIp.get(ip) ?? this.#global
    if (typeof l === 'number') return l
    return l.min + Math.floor(this.#random() * (l.max - l.min + 1))
  }

  reset(): void {
    this.#global = this.#initial
    this.#byIp.clear()
    this.#random = seededRandom(this.#seed)
  }
}
