/**
 * Validation of `createRiskResolver` options, done once at creation so that a bad option is an
 * {@link IpRiskConfigError} naming it, never a surprise on the first request. The option types are in option-types.ts.
 *
 * @module
 */

import * as z from 'zod'
import { compileClientList, compileNat64Prefixes } from './cidr.js'
import { IpRiskConfigError, quoteForError } from './errors.js'
import { readEnv } from './env.js'
import type { ObservabilityOptions } from './events.js'
import type { ClientIpOptions } from './ip.js'
import type { Ipv4Embedding } from './ip-address.js'
import { MAX_BLOCK_SECONDS, MAX_TTL_SECONDS, isKeyvLike, hasUnboundedMapStore, redisUrlProblem, type KeyvLike } from './cache.js'
import type { FailMode, Provider } from './types.js'
import type { NetworkShare } from './budget.js'
import { NOT_A_CLOCK, isClock, systemClock, type Clock } from './clock.js'
import { resolverDefaults, type CacheOptions, type RiskResolverOptions } from './option-types.js'
import { parseFleetBudget } from './fleet/budget-options.js'
import type { FleetBudgetSettings } from './fleet/budget.js'

// The option types stay importable from here (their home is option-types.ts).
export type * from './option-types.js'
export { resolverDefaults } from './option-types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Resolved options
// ---------------------------------------------------------------------------------------------------------------------

/** The shared store to use, as found in the options. @internal */
export type L2Source = { kind: 'url'; url: string } | { kind: 'keyv'; keyv: KeyvLike }

/** Options after validation, with every default applied and durations in ms. @internal */
export interface ResolvedOptions {
  provider: Provider
  ip: ClientIpOptions
  failMode: FailMode
  scoreDocumentationRanges: boolean
  /** `development.scoreLocalAddresses`: loopback callers are scored too. */
  scoreLoopback: boolean
  l1Max: number
  l2: L2Source | undefined
  /** Option path of the L2 setting, for run-time reports (`cache` or `cache.l2`). */
  l2Option: string
  ttlMs: number
  flaggedTtlMs: number
  staleMs: number
  failureTtlMs: number
  ipv6Prefix: number
  l2TimeoutMs: number
  /** `cache.leaseMs`, 0 when off (its default: a third of `timeoutMs` with a Redis URL L2, else off). */
  leaseMs: number
  prefix: string
  timeoutMs: number
  maxInFlight: number
  /** 0: no per-minute limit. */
  maxPerMinute: number
  /** `undefined`: the budgets are one pool (`budget.perNetwork: false`). */
  perNetwork: NetworkShare | undefined
  /** `budget.fleet`: `undefined` when budgets are per process. */
  fleetBudget: FleetBudgetSettings | undefined
  breaker: { failures: number; halfOpenAfterMs: number } | undefined
  allow: ((ip: string) => boolean) | undefined
  deny: ((ip: string) => boolean) | undefined
  /** Compiled `nat64Prefixes` (the well-known embedding prefixes are not in it). */
  nat64Prefixes: readonly Ipv4Embedding[]
  blocklist: { score: number; ttlMs: number } | undefined
  observability: ObservabilityOptions
  clock: Clock
}

// ---------------------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------------------



function describe(value: unknown): string {
  return quoteForError(value, 24)
}

/** A finite number in [min, max] (optionally an integer), with one message for every way of getting it wrong. */
function num(min: number, max: number, opts: { int?: boolean; exclusiveMin?: boolean; unit?: string } = {}) {
  const range = `${opts.exclusiveMin === true ? `greater than ${min}` : `from ${min}`} to ${max}`
  const what = `${opts.int === true ? 'an integer' : 'a number'} ${range}${opts.unit === undefined ? '' : ` (${opts.unit})`}`
  const message = (issue: { input?: unknown }) => `must be ${what}, got ${describe(issue.input)}`
  let schema = z.number({ error: message })
  if (opts.int === true) schema = schema.int({ error: message })
  schema = opts.exclusiveMin === true ? schema.gt(min, { error: message }) : schema.min(min, { error: message })
  return schema.max(max, { error: message })
}

const bool = z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` })

/** An object of options; `orFalse` adds "or false" to the message for the options that can be turned off. */
function objectOf<T extends z.core.$ZodLooseShape>(shape: T, orFalse = false) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'invalid_type' ? `must be an object${orFalse ? ' or false' : ''}, got ${describe(issue.input)}` : undefined,
  })
}

const providerSchema = z.custom<Provider>(
  (value) => {
    if (typeof value !== 'object' || value === null) return false
    const p = value as Record<string, unknown>
    return (
      typeof p.name === 'string' &&
      /^[a-z0-9-]{1,64}$/.test(p.name) &&
      typeof p.lookup === 'function' &&
      (p.close === undefined || typeof p.close === 'function')
    )
  },
  {
    error: (issue) =>
      issue.input === undefined
        ? 'is required: pass a provider, e.g. `provider: ipasis({ apiKey: process.env.IPASIS_API_KEY })`'
        : 'must be a provider: an object with `name` ([a-z0-9-], up to 64 characters) and `lookup(ip, signal)`, e.g. `ipasis({ apiKey })`',
  },
)

const cacheSchema = objectOf({
  l1: objectOf({ max: num(1, 10_000_000, { int: true, unit: 'entries' }).optional() }, true).optional(),
  l2: z
    .custom<string | KeyvLike>((value) => typeof value === 'string' || isKeyvLike(value), {
      error: 'must be a redis:// URL or a Keyv instance',
    })
    .optional(),
  ttlSeconds: num(0, MAX_TTL_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
  flaggedTtlSeconds: num(0, MAX_TTL_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
  staleSeconds: num(0, MAX_TTL_SECONDS, { unit: 'seconds' }).optional(),
  failureTtlSeconds: num(0, 3_600, { unit: 'seconds' }).optional(),
  ipv6Prefix: num(32, 128, { int: true }).optional(),
  l2TimeoutMs: num(1, 10_000, { unit: 'milliseconds' }).optional(),
  leaseMs: z
    .custom<number | false>((v) => v === false || (typeof v === 'number' && Number.isInteger(v) && v >= 10 && v <= 60_000), {
      error: (issue) => `must be an integer from 10 to 60000 (milliseconds) or false, got ${describe(issue.input)}`,
    })
    .optional(),
  prefix: z
    .string({ error: (issue) => `must be a string, got ${describe(issue.input)}` })
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'must be 1–32 characters of [A-Za-z0-9_.-]' })
    .optional(),
})

const networkShareSchema = objectOf(
  {
    share: num(0, 1, { exclusiveMin: true }).optional(),
    reserve: num(0, 0.99).optional(),
    ipv4Prefix: num(8, 32, { int: true }).optional(),
    ipv6Prefix: num(16, 128, { int: true }).optional(),
  },
  true,
)

const cidrList = z.union([z.string(), z.array(z.string())], {
  error: (issue) => `must be an array of addresses / CIDR ranges, got ${describe(issue.input)}`,
})

const optionsSchema = objectOf({
  provider: providerSchema,
  trustProxy: z.unknown().optional(), // validated by the client-IP reader
  clientIpHeaders: z.unknown().optional(),
  maxHops: z.unknown().optional(),
  nat64Prefixes: z.unknown().optional(), // validated by compileNat64Prefixes
  failMode: z
    .enum(['open', 'closed'], { error: (issue) => `must be 'open' or 'closed', got ${describe(issue.input)}` })
    .optional(),
  scoreDocumentationRanges: bool.optional(),
  development: objectOf({ scoreLocalAddresses: bool.optional() }).optional(),
  cache: z.unknown().optional(), // shorthand handled in parseResolverOptions, then cacheSchema
  budget: objectOf({
    timeoutMs: num(1, 60_000, { unit: 'milliseconds' }).optional(),
    maxInFlight: num(1, 100_000, { int: true }).optional(),
    maxPerMinute: num(1, 10_000_000, { int: true }).optional(),
    perNetwork: z.unknown().optional(), // `false` or networkShareSchema, checked in parseResolverOptions
    fleet: z.unknown().optional(), // checked by parseFleetBudget
  }).optional(),
  breaker: objectOf(
    {
      failures: num(1, 1_000, { int: true }).optional(),
      halfOpenAfterMs: num(1, 86_400_000, { unit: 'milliseconds' }).optional(),
    },
    true,
  ).optional(),
  lists: objectOf({ allow: cidrList.optional(), deny: cidrList.optional() }).optional(),
  blocklist: objectOf(
    {
      score: num(0, 100).optional(),
      ttlSeconds: num(0, MAX_BLOCK_SECONDS, { exclusiveMin: true, unit: 'seconds' }).optional(),
    },
    true,
  ).optional(),
  // Observability options: validated by createReporter.
  logger: z.unknown().optional(),
  sampleAllows: z.unknown().optional(),
  onDecision: z.unknown().optional(),
  onBlock: z.unknown().optional(),
  onHighRisk: z.unknown().optional(),
  onDegraded: z.unknown().optional(),
  highRiskScore: z.unknown().optional(),
  meterProvider: z.unknown().optional(),
  clock: z
    .custom<Clock>((value) => isClock(value), {
      error: NOT_A_CLOCK,
    })
    .optional(),
})

/** Throw the first issue of a failed parse as an {@link IpRiskConfigError} naming the option path. */
function check(schema: z.ZodType, value: unknown, prefix: string): void {
  const result = schema.safeParse(value)
  if (result.success) return
  const issue = result.error.issues[0]
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.')
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? ''
    throw new IpRiskConfigError(path === '' ? key : `${path}.${key}`, 'unknown option (check the spelling)')
  }
  throw new IpRiskConfigError(path === '' ? 'options' : path, issue?.message ?? 'is invalid')
}

/** Reported once by the resolver at creation when `development.scoreLocalAddresses` is on. @internal */
export const DEVELOPMENT_WARNING =
  'development scoring is on: loopback (127.0.0.0/8, ::1) and documentation-range callers are looked up like global addresses (for local development against `npx iprisk simulate`); never turn it on in production'

/**
 * Whether `NODE_ENV` says production. Read defensively: `process` does not exist on every runtime, and reading the
 * environment may throw where it needs a permission (Deno).
 */
function isProductionEnv(): boolean {
  return readEnv('NODE_ENV')?.trim().toLowerCase() === 'production'
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

// ---------------------------------------------------------------------------------------------------------------------
// Parse
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Validate `createRiskResolver` options and apply defaults.
 *
 * @throws {IpRiskConfigError} naming the first bad option (e.g. `cache.ttlSeconds`, `lists.allow`, `provider`).
 * @internal
 */
export function parseResolverOptions(options: unknown): ResolvedOptions {
  if (!isPlainObject(options)) {
    throw new IpRiskConfigError('options', 'createRiskResolver() expects an options object with at least `provider`')
  }
  // `false` (turned off) is taken out before the schema so that issues inside the object form get exact paths.
  const input: Record<string, unknown> = { ...options }
  if (input.breaker === false) delete input.breaker
  if (input.blocklist === false) delete input.blocklist
  check(optionsSchema, input, '')
  const o = options as unknown as RiskResolverOptions
  const { cache, l2, l2Option } = parseCache(o.cache)
  const ttlSeconds = cache.ttlSeconds ?? resolverDefaults.ttlSeconds
  const nat64Prefixes = compileNat64Prefixes(o.nat64Prefixes, 'nat64Prefixes')
  const lists = o.lists ?? {}
  const allow = lists.allow === undefined ? undefined : compileClientList(lists.allow, 'lists.allow', nat64Prefixes)
  const deny = lists.deny === undefined ? undefined : compileClientList(lists.deny, 'lists.deny', nat64Prefixes)
  const scoreLocal = parseDevelopment(o)
  const budget = parseBudget(o.budget ?? {})
  return {
    provider: o.provider,
    ip: clientIpOptionsOf(o),
    failMode: o.failMode ?? resolverDefaults.failMode,
    scoreDocumentationRanges: (o.scoreDocumentationRanges ?? resolverDefaults.scoreDocumentationRanges) || scoreLocal,
    scoreLoopback: scoreLocal,
    l1Max: cache.l1 === false ? 0 : (cache.l1?.max ?? resolverDefaults.l1Max),
    l2,
    l2Option,
    ttlMs: ttlSeconds * 1000,
    flaggedTtlMs: (cache.flaggedTtlSeconds ?? ttlSeconds) * 1000,
    staleMs: (cache.staleSeconds ?? resolverDefaults.staleSeconds) * 1000,
    failureTtlMs: (cache.failureTtlSeconds ?? resolverDefaults.failureTtlSeconds) * 1000,
    ipv6Prefix: cache.ipv6Prefix ?? resolverDefaults.ipv6Prefix,
    l2TimeoutMs: cache.l2TimeoutMs ?? resolverDefaults.l2TimeoutMs,
    prefix: cache.prefix ?? resolverDefaults.prefix,
    leaseMs: parseLease(cache.leaseMs, l2, budget.timeoutMs),
    ...budget,
    fleetBudget: parseFleetBudget(o.budget?.fleet, l2 !== undefined),
    breaker: parseBreaker(o.breaker),
    allow,
    deny,
    nat64Prefixes,
    blocklist: parseBlocklist(o.blocklist),
    observability: observabilityOf(o),
    clock: o.clock ?? systemClock,
  }
}

/** `cache.leaseMs` in ms, 0 when off: on by default with a Redis URL (the lease speaks Redis), refused without L2. */
function parseLease(given: number | false | undefined, l2: L2Source | undefined, timeoutMs: number): number {
  if (given === false) return 0
  if (given === undefined) return l2?.kind === 'url' ? Math.max(10, Math.floor(timeoutMs / 3)) : 0
  if (l2 === undefined) throw new IpRiskConfigError('cache.leaseMs', 'needs a shared cache (`cache.l2`: a redis:// URL): the lease lives in Redis')
  return given
}

/** `cache`: a URL or a Keyv alone is shorthand for `{ l2 }`; the shared store it names, checked. */
function parseCache(given: RiskResolverOptions['cache']): { cache: CacheOptions; l2: L2Source | undefined; l2Option: string } {
  let cache: CacheOptions = {}
  let l2Option = 'cache.l2'
  if (given !== undefined) {
    if (typeof given === 'string' || isKeyvLike(given)) {
      cache = { l2: given }
      l2Option = 'cache'
    } else if (isPlainObject(given)) {
      const copy: Record<string, unknown> = { ...given }
      if (copy.l1 === false) delete copy.l1
      check(cacheSchema, copy, 'cache')
      cache = given as CacheOptions
    } else {
      throw new IpRiskConfigError('cache', `must be a redis:// URL, a Keyv instance or { l1, l2, ttlSeconds, ... }, got ${describe(given)}`)
    }
  }
  if (typeof cache.l2 === 'string') {
    const problem = redisUrlProblem(cache.l2)
    if (problem !== undefined) throw new IpRiskConfigError(l2Option, problem)
    return { cache, l2: { kind: 'url', url: cache.l2 }, l2Option }
  }
  if (cache.l2 === undefined) return { cache, l2: undefined, l2Option }
  if (hasUnboundedMapStore(cache.l2)) {
    throw new IpRiskConfigError(
      l2Option,
      "a Keyv on keyv's default in-memory Map is unbounded (an IP-rotating client would grow it forever); L1 already caches in memory: pass a Redis URL or a Keyv with a bounded store",
    )
  }
  return { cache, l2: { kind: 'keyv', keyv: cache.l2 }, l2Option }
}

function clientIpOptionsOf(o: RiskResolverOptions): ClientIpOptions {
  const ip: ClientIpOptions = {}
  if (o.trustProxy !== undefined) ip.trustProxy = o.trustProxy
  if (o.clientIpHeaders !== undefined) ip.headers = o.clientIpHeaders
  if (o.maxHops !== undefined) ip.maxHops = o.maxHops
  return ip
}

const OBSERVABILITY_KEYS = ['logger', 'sampleAllows', 'onDecision', 'onBlock', 'onHighRisk', 'onDegraded', 'highRiskScore', 'meterProvider'] as const

function observabilityOf(o: RiskResolverOptions): ObservabilityOptions {
  const observability: ObservabilityOptions = {}
  for (const key of OBSERVABILITY_KEYS) {
    if (o[key] !== undefined) (observability as Record<string, unknown>)[key] = o[key]
  }
  return observability
}

/** `development.scoreLocalAddresses`, refused in production. */
function parseDevelopment(o: RiskResolverOptions): boolean {
  const scoreLocal = o.development?.scoreLocalAddresses === true
  if (scoreLocal && isProductionEnv()) {
    throw new IpRiskConfigError(
      'development.scoreLocalAddresses',
      'is refused when NODE_ENV is "production": it scores loopback and documentation-range callers, for local development against `npx iprisk simulate` only',
    )
  }
  return scoreLocal
}

function parseBudget(budget: NonNullable<RiskResolverOptions['budget']>): Pick<ResolvedOptions, 'timeoutMs' | 'maxInFlight' | 'maxPerMinute' | 'perNetwork'> {
  let perNetwork: NetworkShare | undefined
  if (budget.perNetwork !== false) {
    const given = budget.perNetwork ?? {}
    check(networkShareSchema, given, 'budget.perNetwork')
    perNetwork = {
      share: given.share ?? resolverDefaults.networkShare,
      reserve: given.reserve ?? resolverDefaults.networkReserve,
      ipv4Prefix: given.ipv4Prefix ?? resolverDefaults.networkIpv4Prefix,
      ipv6Prefix: given.ipv6Prefix ?? resolverDefaults.networkIpv6Prefix,
    }
  }
  return {
    timeoutMs: budget.timeoutMs ?? resolverDefaults.timeoutMs,
    maxInFlight: budget.maxInFlight ?? resolverDefaults.maxInFlight,
    maxPerMinute: budget.maxPerMinute ?? 0,
    perNetwork,
  }
}

function parseBreaker(breaker: RiskResolverOptions['breaker']): ResolvedOptions['breaker'] {
  if (breaker === false) return undefined
  return {
    failures: breaker?.failures ?? resolverDefaults.breakerFailures,
    halfOpenAfterMs: breaker?.halfOpenAfterMs ?? resolverDefaults.halfOpenAfterMs,
  }
}

function parseBlocklist(blocklist: RiskResolverOptions['blocklist']): ResolvedOptions['blocklist'] {
  if (blocklist === false) return undefined
  return {
    score: blocklist?.score ?? resolverDefaults.blocklistScore,
    ttlMs: (blocklist?.ttlSeconds ?? resolverDefaults.blocklistTtlSeconds) * 1000,
  }
}
