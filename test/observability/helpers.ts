/**
 * Fixtures of the observability suites: a simulator, resolvers on it, both adapters served over real HTTP (the
 * example servers, plus small purpose-built servers where the examples have no switch: tRPC monitor mode, tRPC
 * `onError`), raw HTTP calls that choose the client IP with X-Forwarded-For and send their own User-Agent, and
 * loggers that keep what they are given (a real pino writing to memory, or a plain recorder).
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { initTRPC, type AnyTRPCRouter } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import pino from 'pino'
import { startYogaExample } from '../../examples/graphql/server.js'
import { createExampleRouter } from '../../examples/trpc/router.js'
import {
  createRiskResolver,
  ipasis,
  policies,
  type Logger,
  type RiskResolver,
  type RiskResolverOptions,
  type SecurityEvent,
} from '../../src/core/index.js'
import type { RiskData } from '../../src/core/types.js'
import { startIpasisSimulator, type IpasisSimulator, type SimulatorProfile } from '../../src/testing/index.js'
import { createTrpcRisk, type IpRiskMeta } from '../../src/trpc/index.js'

// ---------------------------------------------------------------------------------------------------------------------
// Simulator and client IPs
// ---------------------------------------------------------------------------------------------------------------------

/** A profile no preset shares: score 85, no flag (blocked by `human` and `admin` on the score alone). */
export const score85: RiskData = Object.freeze({
  score: 85,
  isVpn: false,
  isProxy: false,
  isTor: false,
  isDatacenter: false,
  countryCode: 'BR',
  asn: 28573,
  isp: 'Claro NXT Telecomunicacoes Ltda',
})

/** Start a simulator accepting `apiKey`. */
export function startSimulator(apiKey = 'test-key'): Promise<IpasisSimulator> {
  return startIpasisSimulator({ apiKey })
}

let nextIp = 0

/**
 * A documentation-range address never used before in this process, given `profile` on the simulator. Every case gets
 * its own address, so that no answer cached by an earlier case (L1, remembered failure, blocklist) leaks into it.
 */
export function freshIp(sim: IpasisSimulator, profile: SimulatorProfile = 'clean'): string {
  const n = nextIp++
  if (n >= 3 * 254) throw new Error('freshIp: out of documentation addresses')
  const net = ['203.0.113', '198.51.100', '192.0.2'][Math.floor(n / 254)] as string
  const ip = `${net}.${String((n % 254) + 1)}`
  sim.setProfile(ip, profile)
  return ip
}

// ---------------------------------------------------------------------------------------------------------------------
// Resolver and servers
// ---------------------------------------------------------------------------------------------------------------------

/** A resolver on `sim`, configured as the suites need it: loopback trusted, documentation ranges scored. */
export function resolverFor(
  sim: IpasisSimulator,
  overrides: Partial<RiskResolverOptions> = {},
  apiKey: string = sim.apiKey,
): RiskResolver {
  return createRiskResolver({
    provider: ipasis({ apiKey, baseUrl: sim.url }),
    trustProxy: 'loopback',
    scoreDocumentationRanges: true,
    ...overrides,
  })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return `http://127.0.0.1:${String(port)}`
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()))
      server.closeAllConnections()
    })
}

/** A running HTTP server. */
export interface Served {
  url: string
  close(): Promise<void>
}

/**
 * The example tRPC router on the standalone adapter, with an `onError` that keeps every error tRPC saw (blocked
 * calls carry an `IpRiskBlockedError` as `cause`). The example server itself has no `onError`.
 */
export async function serveTrpcExample(resolver: RiskResolver, errors: unknown[] = []): Promise<Served> {
  const server = createHTTPServer({
    router: createExampleRouter(resolver),
    createContext: ({ req }) => ({ req }),
    onError: ({ error }) => errors.push(error),
  })
  const url = await listen(server)
  return { url, close: closer(server) }
}

/**
 * A tRPC API in monitor mode (the example router has no switch for it): `admin.stats` under the path policy
 * `'admin.' → policies.admin`, exactly as in the example, with `createTrpcRisk(resolver, { monitor: true })`.
 */
export async function serveTrpcMonitor(resolver: RiskResolver): Promise<Served> {
  const t = initTRPC.context<{ req: unknown }>().meta<IpRiskMeta>().create({ isDev: false })
  const { withIpRisk } = createTrpcRisk(resolver, { monitor: true, pathPolicies: { 'admin.': policies.admin } })
  const procedure = t.procedure.use(withIpRisk())
  const router: AnyTRPCRouter = t.router({
    admin: t.router({ stats: procedure.query(() => ({ users: 42 })) }),
  })
  const server = createHTTPServer({ router, createContext: ({ req }) => ({ req }) })
  const url = await listen(server)
  return { url, close: closer(server) }
}

/** Both adapters on one resolver: the example servers, and (when asked for) the same APIs in monitor mode. */
export interface Stack {
  resolver: RiskResolver
  trpc: Served
  graphql: Served
  /** Only with `startStack(resolver, { monitor: true })`. */
  trpcMonitor: Served
  /** Only with `startStack(resolver, { monitor: true })`. */
  graphqlMonitor: Served
  /** Errors the tRPC server reported through `onError`. */
  trpcErrors: unknown[]
  close(): Promise<void>
}

const noServer: Served = {
  get url(): string {
    throw new Error('this stack was started without { monitor: true }')
  },
  close: () => Promise.resolve(),
}

/**
 * Serve `resolver` through both adapters, plus the monitor-mode APIs with `monitor: true`. Closing the stack closes
 * the resolver.
 */
export async function startStack(resolver: RiskResolver, options: { monitor?: boolean } = {}): Promise<Stack> {
  const trpcErrors: unknown[] = []
  const monitor = options.monitor === true
  const [trpc, graphql, trpcMonitor, graphqlMonitor] = await Promise.all([
    serveTrpcExample(resolver, trpcErrors),
    startYogaExample({ resolver }),
    monitor ? serveTrpcMonitor(resolver) : noServer,
    monitor ? startYogaExample({ resolver, plugin: { monitor: true } }) : noServer,
  ])
  return {
    resolver,
    trpc,
    graphql,
    trpcMonitor,
    graphqlMonitor,
    trpcErrors,
    async close() {
      await Promise.all([trpc.close(), graphql.close(), trpcMonitor.close(), graphqlMonitor.close()])
      await resolver.close()
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// HTTP calls
// ---------------------------------------------------------------------------------------------------------------------

/** What came back over HTTP, raw (for shape checks and for secret scanning). */
export interface Reply {
  status: number
  headers: Record<string, string>
  text: string
  json: unknown
}

/** Who calls: the client IP (sent as X-Forwarded-For from loopback) and the User-Agent. */
export interface Caller {
  ip: string
  ua: string
}

async function send(url: string, init: RequestInit): Promise<Reply> {
  const res = await fetch(url, init)
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), text, json }
}

/** A tRPC query over HTTP GET (`/path?input=…`). */
export function trpcQuery(server: Served, path: string, caller: Caller, input?: unknown): Promise<Reply> {
  const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`
  return send(`${server.url}/${path}${query}`, {
    headers: { 'x-forwarded-for': caller.ip, 'user-agent': caller.ua },
  })
}

/** A tRPC mutation over HTTP POST. */
export function trpcMutation(server: Served, path: string, caller: Caller, input: unknown): Promise<Reply> {
  return send(`${server.url}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': caller.ip, 'user-agent': caller.ua },
    body: JSON.stringify(input),
  })
}

/** A GraphQL operation over HTTP POST. */
export function graphqlPost(
  server: Served,
  body: { query: string; variables?: Record<string, unknown>; operationName?: string },
  caller: Caller,
): Promise<Reply> {
  return send(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': caller.ip, 'user-agent': caller.ua },
    body: JSON.stringify(body),
  })
}

/** The GraphQL operations the suites send to the example schema. */
export const operations = {
  /**
   * `Mutation.signup` is `@requireHuman` (policy `human`). Only `__typename` is selected: every field of `User` is
   * guarded too (its interface `Account` is `@requireLowRisk(threshold: 80)`), which would add a second decision.
   */
  signup: {
    query: 'mutation SignUp($email: String!) { signup(email: $email) { __typename } }',
    variables: { email: 'ada@example.com' },
    operationName: 'SignUp',
  },
  /** `AdminQuery` is `@ipRisk(policy: ADMIN)`: `AdminQuery.blockedIps` is guarded by `admin`. */
  adminArea: { query: 'query AdminArea { admin { blockedIps } }', operationName: 'AdminArea' },
} as const

/** A tRPC 403 as the example answers it (`FORBIDDEN`, "Request blocked"). */
export function isTrpcForbidden(reply: Reply): boolean {
  const error = (reply.json as { error?: { data?: { code?: string } } } | undefined)?.error
  return reply.status === 403 && error?.data?.code === 'FORBIDDEN'
}

/** A GraphQL 403 with the plugin's `IP_RISK_BLOCKED` error and no data. */
export function isGraphqlBlocked(reply: Reply): boolean {
  const body = reply.json as { data?: unknown; errors?: { extensions?: { code?: string } }[] } | undefined
  return reply.status === 403 && body?.data === undefined && body?.errors?.[0]?.extensions?.code === 'IP_RISK_BLOCKED'
}

// ---------------------------------------------------------------------------------------------------------------------
// Loggers and hooks
// ---------------------------------------------------------------------------------------------------------------------

/** A real pino logger writing JSON lines to memory. */
export interface MemoryPino {
  logger: pino.Logger
  /** Everything written, as written. */
  text(): string
  /** Each line parsed. */
  lines(): Record<string, unknown>[]
  clear(): void
}

/** pino (level `trace`, so nothing iprisk emits is filtered out) with an in-memory destination. */
export function memoryPino(): MemoryPino {
  let chunks: string[] = []
  const logger = pino({ name: 'iprisk', level: 'trace' }, { write: (chunk: string) => void chunks.push(chunk) })
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    clear: () => {
      chunks = []
    },
  }
}

/** One call to a {@link Logger} method. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error'
  obj: object
  msg: string | undefined
}

/** A logger that keeps the objects it is given (no serialization), to compare events by identity and shape. */
export function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const logger: Logger = {
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
  }
  return { logger, entries }
}

/** Hooks that record the events they receive. */
export function recordingHooks(): {
  hooks: Required<Pick<RiskResolverOptions, 'onDecision' | 'onBlock' | 'onHighRisk'>>
  received: { onDecision: SecurityEvent[]; onBlock: SecurityEvent[]; onHighRisk: SecurityEvent[] }
} {
  const received = { onDecision: [] as SecurityEvent[], onBlock: [] as SecurityEvent[], onHighRisk: [] as SecurityEvent[] }
  return {
    received,
    hooks: {
      onDecision: (event) => void received.onDecision.push(event),
      onBlock: (event) => void received.onBlock.push(event),
      onHighRisk: (event) => void received.onHighRisk.push(event),
    },
  }
}

/** A User-Agent of exactly 300 characters (events keep the first 200). */
export const LONG_UA = `Mozilla/5.0 (X11; Linux x86_64) iprisk-observability-suite/1.0 ${'abcdefghij'.repeat(30)}`.slice(0, 300)

/** Wait until the hooks scheduled so far have run (they run from `setImmediate`). */
export function afterHooks(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}
