/**
 * iprisk's share of a busy server's CPU, from a V8 CPU profile of the benchmark process taken while one server is
 * saturated. A share is a ratio within one run, so the machine's swings (±20% between identical runs here) cancel
 * out: the resolution is the sampling error (well under 1% with tens of thousands of samples), where req/s ratios
 * need many rounds to get within a few percent.
 *
 * A sample counts as iprisk's when, walking its stack from the leaf towards the root, the first frame that is not a
 * library iprisk calls (lru-cache, OpenTelemetry's API, Node's built-ins) is in iprisk's `src/`. So the work the
 * framework does on iprisk's behalf (tRPC's middleware level, Envelop's plugin loop) and everything downstream of
 * `next()` is not counted; the middleware level is measured separately (see `docs/benchmarks.md`). Garbage
 * collection is in the denominator only: iprisk's share of it is not attributed, which the report says.
 */
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'

export interface ProfileShare {
  /** Samples while the server was busy (idle samples excluded). */
  samples: number
  /** Samples attributed to iprisk. */
  iprisk: number
  /** `iprisk / samples`. */
  share: number
  /** Samples in garbage collection (not attributed). */
  gc: number
  /** iprisk's functions by attributed samples, largest first (at most 8): `[name (file), samples]`. */
  top: [string, number][]
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
}

const SRC_URL = new URL('../../src/', import.meta.url).href
const SRC_PATH = fileURLToPath(SRC_URL)
/** Code iprisk calls on its hot path: its time is iprisk's (the caller decides). */
const PASS_THROUGH = [/\/node_modules\/lru-cache\//, /\/node_modules\/@opentelemetry\//, /^node:/]

function isIprisk(url: string): boolean {
  return url.startsWith(SRC_URL) || url.startsWith(SRC_PATH)
}

function passesThrough(url: string): boolean {
  return url === '' || PASS_THROUGH.some((re) => re.test(url))
}

/** Classifies the samples of a profile (exported for its test). */
export function shareOf(profile: Profile): ProfileShare {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parent.set(child, node.id)
  }
  const verdict = new Map<number, string | null>() // node id -> iprisk frame label, or null
  const classify = (id: number): string | null => {
    const known = verdict.get(id)
    if (known !== undefined) return known
    let result: string | null = null
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame
      if (frame === undefined) break
      if (passesThrough(frame.url)) continue
      if (isIprisk(frame.url)) {
        const file = frame.url.slice(frame.url.lastIndexOf('/') + 1)
        result = `${frame.functionName || '(anonymous)'} (${file})`
      }
      break
    }
    verdict.set(id, result)
    return result
  }
  let samples = 0
  let iprisk = 0
  let gc = 0
  const top = new Map<string, number>()
  for (const id of profile.samples) {
    const name = byId.get(id)?.callFrame.functionName
    if (name === '(idle)') continue
    samples++
    if (name === '(garbage collector)') gc++
    const label = classify(id)
    if (label !== null) {
      iprisk++
      top.set(label, (top.get(label) ?? 0) + 1)
    }
  }
  return {
    samples,
    iprisk,
    share: samples === 0 ? Number.NaN : iprisk / samples,
    gc,
    top: [...top.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8),
  }
}

/** Profiles this process (sampling every `intervalUs`) while `work` runs, and classifies the samples. */
export async function profileShare(work: () => Promise<unknown>, intervalUs = 100): Promise<ProfileShare> {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs })
    await session.post('Profiler.start')
    let failed = false
    let failure: unknown
    try {
      await work()
    } catch (error) {
      failed = true
      failure = error
    }
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile }
    if (failed) throw failure
    return shareOf(profile)
  } finally {
    await session.post('Profiler.disable').catch(() => undefined)
    session.disconnect()
  }
}
