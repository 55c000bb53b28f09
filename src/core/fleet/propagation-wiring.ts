/**
 * Block propagation wired into a resolver: when it is on (`cache.propagateBlocks`), the link it uses, and its host (L1
 * through the answer cache, addresses through the lists, reports through the reporter).
 *
 * @internal
 * @module
 */
import type { AnswerCache } from '../answer-cache.js'
import { knownData } from '../answers.js'
import { MAX_BLOCK_SECONDS } from '../cache.js'
import type { Clock } from '../clock.js'
import type { Reporter } from '../events.js'
import { classifyIp } from '../ip.js'
import { ipOf, keyOf, type ClientLists } from '../lists.js'
import { IpRiskConfigError } from '../errors.js'
import type { CacheOptions, RiskResolverOptions } from '../option-types.js'
import type { ResolvedOptions } from '../options.js'
import type { DegradedEvent } from '../self-check.js'
import { degradedEvent } from '../self-check/warnings.js'
import type { RedisLink } from './link.js'
import { BlockPropagation, type PropagationGap, type PropagationHost } from './propagation.js'
import { fleetLinkOf } from './budget-link.js'

/** Where the fix of a propagation problem is documented. */
const DOCS = 'docs/fleet.md'
const KIND = 'blocks_not_propagating'

const GAP_TEXT: Record<PropagationGap, string> = {
  trimmed:
    'the block stream had been trimmed past the last message this instance read (it was away while more blocks were made than the stream keeps): L1 was dropped, answers and blocks are read again from L2',
  lost: 'the block stream is gone (Redis restarted without persistence, or the key was deleted): blocks held in L1 are kept until they expire, blocks Redis lost are lost',
  reset: 'the block stream went back in time (Redis restarted from an older snapshot): reading goes on from its last message',
}

/** The `degraded` event of a reader that cannot reach Redis. */
function downEvent(t: number, reason: string): DegradedEvent {
  return degradedEvent(KIND, t, {
    option: 'cache.l2',
    docs: DOCS,
    message: `the block stream cannot be read (${reason}); blocks and unblocks made on other instances reach this one only when its L1 copies expire (up to cache.ttlSeconds), and the automatic blocklist still works through L2. Fix: check that Redis is reachable from this instance; it reconnects by itself and catches up`,
  })
}

/** The host of a resolver's propagation. */
function hostOf(cache: AnswerCache, lists: ClientLists, reporter: Reporter, clock: Clock, prefix: string): PropagationHost {
  const maxBlockMs = MAX_BLOCK_SECONDS * 1000
  return {
    applyBlock(ip, until, data) {
      const located = lists.locate(ip)
      if (located === null) return false
      const address = ipOf(located)
      cache.applyBlock(address, keyOf(located), classifyIp(address), data, until)
      return true
    },
    applyUnblock(ip) {
      const located = lists.locate(ip)
      if (located === null) return false
      cache.applyUnblock(keyOf(located))
      return true
    },
    dropL1: () => cache.l1.clear(),
    limits: () => ({ now: clock.now(), maxFreshMs: 0, maxBlockMs }),
    down: (reason) => reporter.degraded(downEvent(clock.now(), reason)),
    up: () => reporter.recovered(KIND, 'iprisk: the block stream is read again: blocks made meanwhile on other instances are enforced here now'),
    gap: (kind) => reporter.recovered(KIND, `iprisk: block propagation reconnected: ${GAP_TEXT[kind]}`),
    invalid(problem) {
      reporter.metrics.l2Error('invalid')
      reporter.configError(
        'cache.prefix',
        `the block stream under \`${prefix}\` holds an entry that is not a block message iprisk writes (${problem}); it was skipped. Another program, or someone with write access to Redis, writes under this prefix`,
      )
    },
    publishFailed(reason) {
      reporter.metrics.l2Error('error')
      reporter.configError(
        'cache.propagateBlocks',
        `a block or unblock could not be published to the other instances (${reason}); it is in L2, which they read when their L1 copies expire (up to cache.ttlSeconds)`,
      )
    },
  }
}

/** `cache.propagateBlocks` as given (validated by options.ts); `undefined` when absent or `cache` is a shorthand. */
function propagateBlocksOf(cache: RiskResolverOptions['cache']): boolean | undefined {
  if (typeof cache !== 'object' || cache === null || !('propagateBlocks' in cache)) return undefined
  return (cache as CacheOptions).propagateBlocks
}

/**
 * The link block propagation uses: the resolver's own (`SharedTier.link`, on the connection its L2 reads through,
 * for a Redis URL of any topology; the reader takes connections of its own from `dedicated()`), else, for a Keyv on
 * `@keyv/redis` passed by the application, the link on its client ({@link fleetLinkOf}, as the fleet budget does);
 * any other store gets none. Neither is closed by propagation: the resolver closes its L2, the application its client.
 */
function linkOf(opts: ResolvedOptions, l2Link: RedisLink | undefined): Promise<RedisLink | undefined> | undefined {
  const link = l2Link ?? fleetLinkOf(opts.l2)()
  return link === undefined ? undefined : Promise.resolve(link)
}

/**
 * The resolver's block propagation, or `undefined` when it is off: on by default when L2 is Redis (a URL, or a Keyv
 * on `@keyv/redis`), off with `cache.propagateBlocks: false`. Asked for (`true`) without a Redis link, it is reported
 * (`cache.propagateBlocks`) and off. @internal
 */
export function startPropagation(
  opts: ResolvedOptions,
  given: RiskResolverOptions['cache'],
  cache: AnswerCache,
  lists: ClientLists,
  reporter: Reporter,
  clock: Clock,
  l2Link: RedisLink | undefined,
): BlockPropagation | undefined {
  const asked = propagateBlocksOf(given)
  if (asked === true && opts.l2 === undefined) {
    throw new IpRiskConfigError('cache.propagateBlocks', 'needs Redis as the shared cache: set `cache.l2` to a redis:// URL')
  }
  if (asked === false) return undefined
  const link = linkOf(opts, l2Link)
  if (link === undefined) {
    if (asked === true) {
      reporter.configError(
        'cache.propagateBlocks',
        'block propagation needs Redis as the shared cache (`cache.l2: "redis://…"`); blocks reach the other instances only through L2, when their L1 copies expire',
      )
    }
    return undefined
  }
  const origin = globalThis.crypto.randomUUID()
  const propagation = new BlockPropagation(link, opts.prefix, hostOf(cache, lists, reporter, clock, opts.prefix), clock, origin)
  cache.onAutoBlock = (ip, until, data) => void propagation.publish({ op: 'block', ip, until, data })
  return propagation
}

/** `block(ip, seconds)`: the block in L1 and L2 (awaited), then published to the other instances. @internal */
export async function blockEverywhere(
  cache: AnswerCache,
  propagation: BlockPropagation | undefined,
  t: { ip: string; key: string },
  ms: number,
  clock: Clock,
): Promise<void> {
  const until = clock.now() + ms
  await cache.block(t.ip, t.key, classifyIp(t.ip), ms)
  await propagation?.publish({ op: 'block', ip: t.ip, until, data: knownData(cache.l1.get(t.key)?.risk) })
}

/** `unblock(ip)`: L1 and L2 forget the block (awaited), then the other instances are told. @internal */
export async function unblockEverywhere(cache: AnswerCache, propagation: BlockPropagation | undefined, t: { ip: string; key: string }): Promise<void> {
  await cache.unblock(t.key)
  await propagation?.publish({ op: 'unblock', ip: t.ip })
}
