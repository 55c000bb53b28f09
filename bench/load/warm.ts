/** Filling the cache under test before a measurement, and proving it is full. */
import { setTimeout as sleep } from 'node:timers/promises'
import type { RiskResolver } from '../../src/core/index.js'

async function lookupAll(resolver: RiskResolver, ips: readonly string[], concurrency: number): Promise<string[]> {
  const sources: string[] = []
  for (let i = 0; i < ips.length; i += concurrency) {
    const answers = await Promise.all(ips.slice(i, i + concurrency).map((ip) => resolver.lookup(ip)))
    for (const a of answers) sources.push(a.status === 'scored' ? a.source : `${a.status}/${a.error ?? ''}`)
  }
  return sources
}

/** Scores every IP into L1 and checks that `peek` now answers for each. */
export async function warmL1(resolver: RiskResolver, ips: readonly string[]): Promise<void> {
  // A few at a time: the in-flight budget is not what is being prepared here.
  await lookupAll(resolver, ips, 8)
  const cold = ips.filter((ip) => resolver.peek(ip) === undefined)
  if (cold.length > 0) throw new Error(`L1 warm-up: ${cold.length} of ${ips.length} clients not in L1 (e.g. ${cold[0]})`)
}

/**
 * Scores every IP into L2 (L1 disabled) until a lookup of each is an L2 hit. The first reads of a fresh resolver can
 * time out while its Redis client connects (and open the L2 breaker for a few seconds): retry until `timeoutMs`.
 */
export async function warmL2(resolver: RiskResolver, ips: readonly string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  // Connect first, one lookup at a time with pauses: a burst of reads timing out while the client connects would
  // open the L2 breaker (three failures in a row) and cost its whole open period.
  const first = ips[0]
  if (first === undefined) return
  while ((await resolver.lookup(first)).source !== 'l2') {
    if (Date.now() > deadline) throw new Error('L2 warm-up: Redis never answered (is it running on 127.0.0.1:6379?)')
    await sleep(100)
  }
  for (;;) {
    // One at a time: a burst of reads on a busy machine can exceed the L2 read budget and open the breaker.
    const sources = await lookupAll(resolver, ips, 1)
    const misses = sources.filter((s) => s !== 'l2').length
    if (misses === 0) return
    if (Date.now() > deadline) {
      throw new Error(`L2 warm-up: ${misses} of ${ips.length} lookups still not L2 hits (e.g. ${sources.find((s) => s !== 'l2')})`)
    }
    await sleep(250)
  }
}
