/**
 * Starts everything the demo shows: the risk resolver (local IPASIS simulator, or the real service when
 * `IPASIS_API_KEY` is set), the example tRPC server and the example Yoga server, all on 127.0.0.1.
 *
 * @module
 */
import { isIP } from 'node:net'
import type { RiskResolverOptions } from '../../src/core/index.js'
import { startYogaExample } from '../graphql/server.js'
import { createExampleRisk, demoClients, type ExampleRisk } from '../shared/setup.js'
import { startTrpcExample } from '../trpc/server.js'
import { createEventLog, type EventLog } from './events.js'

/** Who the tour plays: the simulator's profiles, a first-time visitor, and the local machine itself. */
export type DemoRole = keyof typeof demoClients | 'visitor' | 'local'

/** The roles `IPRISK_DEMO_IPS` may set (every role but `local`, which is this machine). */
export const ASSIGNABLE_ROLES = ['clean', 'vpn', 'proxy', 'tor', 'datacenter', 'highRisk', 'visitor'] as const

/** Addresses of the roles: `local` is `null` (no forwarding header: the server sees the loopback peer). */
export type DemoAddresses = Readonly<Record<DemoRole, string | null>>

/** The first-time visitor of the tour: a documentation address the simulator answers with its default (clean) profile. */
export const VISITOR_IP = '198.51.100.7'

/** The demo's own L2 key prefix, so simulated scores never mix with a real application's cached ones. */
export const DEMO_CACHE_PREFIX = 'iprisk-demo'

/**
 * The addresses the tour uses. In simulator mode they are always the documentation addresses the simulator has
 * profiles for. In live mode `IPRISK_DEMO_IPS` (`role=ip` pairs separated by commas, e.g.
 * `tor=185.220.101.1,vpn=…`) can replace them with real addresses: documentation addresses are never sent to a real
 * provider (they are reported as `non_global_ip`).
 *
 * @throws {Error} naming the entry, on an unknown role or an invalid address.
 *
 * @example
 * ```ts
 * demoAddresses({ IPASIS_API_KEY: 'k', IPRISK_DEMO_IPS: 'tor=185.220.101.1' }, 'live').tor // '185.220.101.1'
 * demoAddresses({}, 'simulator').tor                                                        // '203.0.113.40'
 * ```
 */
export function demoAddresses(env: NodeJS.ProcessEnv, mode: 'simulator' | 'live'): DemoAddresses {
  const addresses: Record<DemoRole, string | null> = { ...demoClients, visitor: VISITOR_IP, local: null }
  const spec = env.IPRISK_DEMO_IPS?.trim()
  if (mode === 'live' && spec) {
    for (const entry of spec.split(',')) {
      const item = entry.trim()
      if (item === '') continue
      const eq = item.indexOf('=')
      const role = eq === -1 ? item : item.slice(0, eq).trim()
      const ip = eq === -1 ? '' : item.slice(eq + 1).trim()
      if (!(ASSIGNABLE_ROLES as readonly string[]).includes(role)) {
        throw new Error(
          `IPRISK_DEMO_IPS: unknown role ${JSON.stringify(role)} (roles: ${ASSIGNABLE_ROLES.join(', ')}; format role=ip,role=ip)`,
        )
      }
      if (isIP(ip) === 0) throw new Error(`IPRISK_DEMO_IPS: ${JSON.stringify(ip)} (for ${role}) is not an IP address`)
      addresses[role as DemoRole] = ip
    }
  }
  return addresses
}

/**
 * Describes `REDIS_URL` without its credentials, path or query, for the demo's header.
 *
 * @example
 * ```ts
 * describeRedisUrl('redis://:secret@cache.internal:6380/2') // 'redis://cache.internal:6380'
 * ```
 */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}`
  } catch {
    return '(REDIS_URL, unparsable)'
  }
}

/** Options of {@link startDemoServers}. */
export interface DemoServerOptions {
  /** Read for `IPASIS_API_KEY`, `REDIS_URL` and `IPRISK_DEMO_IPS`. @default process.env */
  env?: NodeJS.ProcessEnv
  /**
   * Builds the resolver (the demo passes its logger and, with the simulator and `REDIS_URL`, its cache prefix).
   * A resolver without a simulator runs the tour in live mode. @default createExampleRisk
   */
  createRisk?: (overrides: Partial<RiskResolverOptions>, env: NodeJS.ProcessEnv) => Promise<ExampleRisk>
}

/** The running demo: servers, the resolver they share and the log of its security events. */
export interface DemoServers {
  /** `simulator`: the local IPASIS simulator answers; `live`: the real service (expectations are not checked). */
  readonly mode: 'simulator' | 'live'
  readonly risk: ExampleRisk
  readonly log: EventLog
  readonly addresses: DemoAddresses
  /** Base URL of the tRPC API, e.g. `http://127.0.0.1:40123`. */
  readonly trpcUrl: string
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:40124/graphql`. */
  readonly graphqlUrl: string
  readonly simulatorUrl: string | null
  /** `in memory`, or the Redis URL (without credentials) of the shared L2 cache. */
  readonly cache: string
  /** Whether a shared L2 cache is in use (answers may already be cached by an earlier run). */
  readonly sharedCache: boolean
  /** Stops both servers, then the resolver and the simulator. Idempotent. */
  close(): Promise<void>
}

/**
 * Starts the resolver and both example servers on free ports of 127.0.0.1, with a pino logger collecting the
 * security events.
 *
 * @example
 * ```ts
 * const demo = await startDemoServers({ env: {} })
 * console.log(demo.trpcUrl, demo.graphqlUrl)
 * await demo.close()
 * ```
 */
export async function startDemoServers(options: DemoServerOptions = {}): Promise<DemoServers> {
  const env = options.env ?? process.env
  const createRisk = options.createRisk ?? createExampleRisk
  const log = createEventLog()
  const overrides: Partial<RiskResolverOptions> = { logger: log.logger }
  const redisUrl = env.REDIS_URL === undefined || env.REDIS_URL === '' ? undefined : env.REDIS_URL
  // Simulated scores get their own key prefix: never cached next to a real application's answers.
  if (!env.IPASIS_API_KEY && redisUrl !== undefined) overrides.cache = { l2: redisUrl, prefix: DEMO_CACHE_PREFIX }
  const risk = await createRisk(overrides, env)
  const mode = risk.simulator === null ? 'live' : 'simulator'
  const closers: (() => Promise<void>)[] = []
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Servers first (no new requests), then the resolver and the simulator they use.
      const results = await Promise.allSettled(closers.map((fn) => fn()))
      results.push(...(await Promise.allSettled([risk.close()])))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    })())
  try {
    const addresses = demoAddresses(env, mode)
    const trpc = await startTrpcExample({ resolver: risk.resolver })
    closers.push(() => trpc.close())
    const yoga = await startYogaExample({ resolver: risk.resolver })
    closers.push(() => yoga.close())
    return {
      mode,
      risk,
      log,
      addresses,
      trpcUrl: trpc.url,
      graphqlUrl: yoga.url,
      simulatorUrl: risk.simulator?.url ?? null,
      cache: redisUrl === undefined ? 'in memory' : `Redis ${describeRedisUrl(redisUrl)}`,
      sharedCache: redisUrl !== undefined,
      close,
    }
  } catch (error) {
    await close().catch(() => undefined)
    throw error
  }
}
