/**
 * One instance of the benchmark fleet: a separate process holding one resolver
 * (`createRiskResolver({ provider: ipasis({ baseUrl }), cache: … })`), driven by the orchestrator over Node IPC.
 * It imports iprisk from `src/` (through tsx) or, with `IPRISK_FLEET_FROM=dist`, from the build in `dist/`.
 */
import type { Counts, FromInstance, InstanceConfig, L2Config, L2CostReport, LookupReport, ToInstance, WatchReport } from './protocol.js'

type Risk = { source: string; error: string | null; listed: string | null }
interface Resolver {
  lookup(ip: string): Promise<Risk>
  peek(ip: string): Risk | undefined
  block(ip: string, seconds?: number): Promise<void>
  unblock(ip: string): Promise<void>
  close(): Promise<void>
}
interface Core {
  createRiskResolver(options: Record<string, unknown>): Resolver
  ipasis(options: Record<string, unknown>): unknown
}
interface RedisBare {
  get(key: string): Promise<unknown>
  close(): void
}

const from = process.env.IPRISK_FLEET_FROM === 'dist' ? 'dist' : 'src'
const root = new URL(`../../${from}/core/`, import.meta.url)
const wall = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const bump = (counts: Counts, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1
}

let resolver: Resolver | undefined
let config: InstanceConfig | undefined
let closeL2: (() => void) | undefined

function send(message: FromInstance): void {
  process.send?.(message)
}

/** `extra` merged into `base`, one level deep for plain objects. */
function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k]
    const plain = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
    out[k] = plain(b) && plain(v) ? { ...b, ...v } : v
  }
  return out
}

/**
 * A Keyv on a Redis Cluster (or, with one URL and `single`, a single server), built by hand the way an application
 * must today, with iprisk's client settings.
 */
async function handKeyv(urls: string[], single = false): Promise<{ keyv: unknown; close: () => void }> {
  const redis = (await import('@keyv/redis')) as unknown as {
    createClient(o: object): { connect(): Promise<unknown>; destroy(): void; on(e: string, l: () => void): void }
    createCluster(o: object): { connect(): Promise<unknown>; destroy(): void; on(e: string, l: () => void): void }
    default: new (c: unknown, o: object) => unknown
    Keyv: new (o: object) => { on(e: string, l: () => void): void }
  }
  const codec = (await import(new URL('cache/l2-codec.js', root).href)) as {
    serializeEntry: unknown
    deserializeEntry: unknown
  }
  const settings = { disableOfflineQueue: true, commandsQueueMaxLength: 10_000, socket: { connectTimeout: 2_000 } }
  const cluster = single
    ? redis.createClient({ url: urls[0], ...settings })
    : redis.createCluster({ rootNodes: urls.map((url) => ({ url })), defaults: settings })
  cluster.on('error', () => {})
  await cluster.connect()
  const store = new redis.default(cluster, { throwOnConnectError: true, throwOnErrors: true })
  const keyv = new redis.Keyv({
    store,
    namespace: undefined,
    useKeyPrefix: false,
    serialize: codec.serializeEntry,
    deserialize: codec.deserializeEntry,
    throwOnErrors: true,
  })
  keyv.on('error', () => {})
  return { keyv, close: () => cluster.destroy() }
}

/** A plain node-redis client (or cluster client) of its own, for the bare `GET` the L2 hit is compared with. */
async function bareClient(l2: L2Config): Promise<RedisBare> {
  const redis = (await import('@keyv/redis')) as unknown as {
    createClient(o: object): { connect(): Promise<unknown>; get(k: string): Promise<unknown>; destroy(): void; on(e: string, l: () => void): void }
    createCluster(o: object): { connect(): Promise<unknown>; get(k: string): Promise<unknown>; destroy(): void; on(e: string, l: () => void): void }
  }
  const target =
    l2.kind === 'url' || l2.kind === 'single-keyv'
      ? { kind: 'single', urls: [l2.url] }
      : l2.kind === 'cluster-keyv'
        ? { kind: 'cluster', urls: l2.urls }
        : l2.bare
  const client =
    target.kind === 'single'
      ? redis.createClient({ url: target.urls[0], disableOfflineQueue: true, socket: { connectTimeout: 2_000 } })
      : redis.createCluster({ rootNodes: target.urls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } })
  client.on('error', () => {})
  await client.connect()
  return { get: (key) => client.get(key), close: () => client.destroy() }
}

async function init(next: InstanceConfig): Promise<void> {
  if (resolver !== undefined) await resolver.close()
  closeL2?.()
  closeL2 = undefined
  config = next
  const core = (await import(new URL('index.js', root).href)) as Core
  let l2: unknown
  if (next.l2.kind === 'url') l2 = next.l2.url
  else if (next.l2.kind === 'raw') l2 = next.l2.value
  else {
    const made = next.l2.kind === 'single-keyv' ? await handKeyv([next.l2.url], true) : await handKeyv(next.l2.urls)
    l2 = made.keyv
    closeL2 = made.close
  }
  const options = merge(
    {
      provider: core.ipasis({ apiKey: next.apiKey, baseUrl: next.simUrl }),
      scoreDocumentationRanges: true,
      cache: { l2, prefix: next.prefix, ttlSeconds: next.ttlSeconds },
      budget: { timeoutMs: 1_500, ...next.budget },
      logger: { warn() {}, error() {}, info() {} },
    },
    next.extra,
  )
  resolver = core.createRiskResolver(options)
  // block() awaits its L2 write: once it resolves, the shared cache is connected (lookups before that skip L2).
  const probe = `2001:db8:ffff:${(next.index + 1).toString(16)}::1`
  const end = Date.now() + 10_000
  for (;;) {
    try {
      await resolver.block(probe, 1)
      await resolver.unblock(probe)
      break
    } catch (error) {
      if (Date.now() > end) throw error
      await sleep(100)
    }
  }
}

function tally(answers: Risk[], startedAt: number): LookupReport {
  const sources: Counts = {}
  const errors: Counts = {}
  for (const a of answers) {
    bump(sources, a.source)
    bump(errors, a.error ?? 'none')
  }
  return { startedAt, endedAt: wall(), sources, errors }
}

async function lookupAt(at: number, ips: string[]): Promise<LookupReport> {
  const r = need()
  const early = at - wall() - 2
  if (early > 0) await sleep(early)
  while (wall() < at) {
    // spin the last ~2 ms: timers are only millisecond-accurate
  }
  const startedAt = wall()
  return tally(await Promise.all(ips.map((ip) => r.lookup(ip))), startedAt)
}

async function lookupPaced(ips: string[], concurrency: number): Promise<LookupReport> {
  const r = need()
  const startedAt = wall()
  const answers: Risk[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ips.length) answers.push(await r.lookup(ips[next++]!))
    }),
  )
  return tally(answers, startedAt)
}

/**
 * Poll each IP every millisecond until this instance denies it (or, `allowed`, lets it through again): `peek` (the warm path) first; when L1 has nothing
 * usable, a `lookup` (which reads L2). What a request arriving at that moment would get.
 */
async function watch(ips: string[], deadlineMs: number, until: 'denied' | 'allowed'): Promise<WatchReport> {
  const done = (a: Risk): boolean => (a.listed === 'blocklist') === (until === 'denied')
  const r = need()
  const seen: (number | null)[] = ips.map(() => null)
  const asking = new Set<number>()
  const end = wall() + deadlineMs
  let open = ips.length
  while (open > 0 && wall() < end) {
    for (let i = 0; i < ips.length; i++) {
      if (seen[i] !== null || asking.has(i)) continue
      const warm = r.peek(ips[i]!)
      if (warm !== undefined && done(warm)) {
        seen[i] = wall()
        open--
      } else if (warm === undefined) {
        asking.add(i)
        void r.lookup(ips[i]!).then((a) => {
          asking.delete(i)
          if (done(a) && seen[i] === null) {
            seen[i] = wall()
            open--
          }
        })
      }
    }
    await sleep(1)
  }
  return { seen }
}

/** The node URLs of an L2 configuration. */
function nodeUrls(l2: L2Config): string[] {
  if (l2.kind === 'url' || l2.kind === 'single-keyv') return [l2.url]
  return l2.kind === 'cluster-keyv' ? l2.urls : l2.bare.urls
}

const urlsCount = (l2: L2Config): number => nodeUrls(l2).length

/** Calls per command name summed over `urls` (`INFO commandstats`), read on short-lived connections of its own. */
async function commandCalls(urls: string[]): Promise<Counts> {
  const redis = (await import('@keyv/redis')) as unknown as {
    createClient(o: object): { connect(): Promise<unknown>; sendCommand(a: string[]): Promise<unknown>; destroy(): void; on(e: string, l: () => void): void }
  }
  const total: Counts = {}
  for (const url of urls) {
    const c = redis.createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } })
    c.on('error', () => {})
    await c.connect()
    try {
      const text = String(await c.sendCommand(['INFO', 'commandstats']))
      for (const m of text.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) total[m[1]!] = (total[m[1]!] ?? 0) + Number(m[2])
    } finally {
      c.destroy()
    }
  }
  return total
}

async function l2cost(ips: string[]): Promise<L2CostReport> {
  const r = need()
  const c = config!
  const keys = (await import(new URL('cache.js', root).href)) as { riskCacheKey(p: string, n: string, k: string): string }
  const cidr = (await import(new URL('cidr.js', root).href)) as { cacheKeyForIp(ip: string, prefix?: number): string }
  const bare = await bareClient(c.l2)
  try {
    const keyOf = (ip: string): string => keys.riskCacheKey(c.prefix, 'ipasis', cidr.cacheKeyForIp(ip, 64))
    // The other instance's writes are fire-and-forget (and skipped while its L2 breaker is open, which a loaded
    // machine can cause): wait until the answers are in Redis, then time those that are.
    const end = Date.now() + 10_000
    let missing = ips
    while (missing.length > 0 && Date.now() < end) {
      const found = await Promise.all(missing.map((ip) => bare.get(keyOf(ip))))
      missing = missing.filter((_, i) => found[i] === null)
      if (missing.length > 0) await sleep(50)
    }
    if (missing.length > ips.length / 2) throw new Error(`l2cost: ${missing.length} of ${ips.length} answers never reached Redis`)
    const gone = new Set(missing)
    ips = ips.filter((ip) => !gone.has(ip))
    const lookupUs: number[] = []
    const getUs: number[] = []
    const sources: Counts = {}
    const callsBefore = await commandCalls(nodeUrls(c.l2))
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i]!
      const key = keyOf(ip)
      const timeGet = async (): Promise<void> => {
        const t = performance.now()
        await bare.get(key)
        getUs.push((performance.now() - t) * 1000)
      }
      const timeLookup = async (): Promise<void> => {
        const t = performance.now()
        const a = await r.lookup(ip)
        lookupUs.push((performance.now() - t) * 1000)
        bump(sources, a.source)
      }
      // Alternate the order, so that neither side always runs on a just-woken connection.
      if (i % 2 === 0) {
        await timeGet()
        await timeLookup()
      } else {
        await timeLookup()
        await timeGet()
      }
    }
    const callsAfter = await commandCalls(nodeUrls(c.l2))
    // What the lookups sent: every command counted on the servers, less the bare GETs and the INFO reading itself.
    const commands: Counts = {}
    for (const [name, n] of Object.entries(callsAfter)) {
      const delta = n - (callsBefore[name] ?? 0) - (name === 'get' ? getUs.length : 0) - (name === 'info' ? urlsCount(c.l2) : 0)
      if (delta > 0) commands[name] = delta
    }
    return { lookupUs, getUs, sources, commands }
  } finally {
    bare.close()
  }
}

function need(): Resolver {
  if (resolver === undefined) throw new Error('instance not initialised')
  return resolver
}

async function handle(message: ToInstance): Promise<void> {
  if (message.type === 'exit') {
    await resolver?.close().catch(() => {})
    closeL2?.()
    process.exit(0)
  }
  try {
    let result: unknown
    switch (message.type) {
      case 'init':
        await init(message.config)
        return send({ type: 'ready', id: message.id, pid: process.pid })
      case 'lookupAt':
        result = await lookupAt(message.at, message.ips)
        break
      case 'lookupPaced':
        result = await lookupPaced(message.ips, message.concurrency)
        break
      case 'block': {
        const t0 = wall()
        await need().block(message.ip, message.seconds)
        result = { t0, t1: wall() }
        break
      }
      case 'watch':
        result = await watch(message.ips, message.deadlineMs, message.until)
        break
      case 'unblock': {
        const t0 = wall()
        await need().unblock(message.ip)
        result = { t0, t1: wall() }
        break
      }
      case 'l2cost':
        result = await l2cost(message.ips)
        break
    }
    send({ type: 'result', id: message.id, result })
  } catch (error) {
    send({ type: 'error', id: message.id, message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
  }
}

process.on('message', (message: ToInstance) => void handle(message))
process.on('disconnect', () => process.exit(0))
