/**
 * The parts `createRiskResolver` assembles that are not a concern of their own: the client-IP reader (with the
 * resolver's option names), the shared cache tier wired to the reporter, the policy memo of `check`, and the checks of
 * `ready()` and `block()`.
 *
 * @module
 * @internal
 */
import { CACHE_KEY_VERSION, MAX_BLOCK_SECONDS, SharedTier, assertRedisAdapterInstalled, connectRedisKeyv } from './cache.js'
import { assertRedisRuntime } from './cache/kv-runtime.js'
import type { Clock } from './clock.js'
import { IpRiskConfigError, IpRiskError } from './errors.js'
import type { Reporter } from './events.js'
import { createClientIpReader, parseIp } from './ip.js'
import type { ResolvedOptions } from './options.js'
import { compilePolicy, evaluate, policies } from './policy.js'
import { invokeLookup } from './provider-contract.js'
import { normalizeData } from './risk-data.js'
import { IpRiskProbeError, PROBE_IP, PROBE_TIMEOUT_MS, probeProvider, type ReadyOptions, type SelfCheck } from './self-check.js'
import type { ClientIp, Decision, FailMode, IpRisk, Policy, Provider, RequestLike } from './types.js'

type IpReader = (req: RequestLike, peer?: string | null) => ClientIp

/** The client-IP reader of the resolver's options (`headers` is `clientIpHeaders` there). @internal */
export function createIpReader(options: ResolvedOptions['ip']): IpReader {
  try {
    return createClientIpReader(options)
  } catch (error) {
    if (error instanceof IpRiskConfigError && error.option === 'headers') {
      throw new IpRiskConfigError('clientIpHeaders', error.message.replace(/^iprisk: invalid option `headers`: /, ''))
    }
    throw error
  }
}

/** `clientIp`: the reader, watched by the self-check. @internal */
export function watchedIpReader(readIp: IpReader, selfCheck: SelfCheck): IpReader {
  return (req, peerAddress) => {
    const result = readIp(req, peerAddress)
    // Self-check (a): a local peer read from the socket may be a proxy that is not trusted. Until warned once.
    if (selfCheck.watchProxy && result.source === 'socket' && result.kind !== 'global') selfCheck.socketPeer(req, result.kind)
    return result
  }
}

/** What a store that failed to load says (an IpRiskConfigError's problem alone: configError adds the option). @internal */
export function loadProblem(error: unknown): string {
  const problem = error instanceof IpRiskConfigError ? error.problem : error instanceof Error ? error.message : 'unknown error'
  return `the shared cache (L2) could not be loaded: ${problem}`
}

/** L2, when configured: a Redis URL or the user's Keyv behind a {@link SharedTier} that reports to `reporter`. @internal */
export function createSharedTier(opts: ResolvedOptions, reporter: Reporter, clock: Clock): SharedTier | undefined {
  if (opts.l2 === undefined) return undefined
  const { prefix } = opts
  const tierOptions = {
    timeoutMs: opts.l2TimeoutMs,
    onOpen: (reason: string): void =>
      reporter.configError(
        opts.l2Option,
        `the shared cache (L2) is failing (${reason}); answering from L1 and the provider, probing it again every few seconds`,
      ),
    onFailure: (kind: 'timeout' | 'error'): void => reporter.metrics.l2Error(kind),
    // A value in L2 that is not a record this resolver could have written is a miss, counted and reported once (under
    // `cache.prefix`: the L2 option's own report is the one about the store failing).
    onInvalid: (problem: string, key: string): void => {
      reporter.metrics.l2Error('invalid')
      reporter.configError(
        'cache.prefix',
        `the shared cache (L2) holds a value under \`${prefix}:${CACHE_KEY_VERSION}:\` that is not a record iprisk writes with this configuration (${key}: ${problem}); it is read as a miss (the provider is asked, and its answer replaces a stored answer). Another program, instances configured differently, or someone with write access to the store writes under this prefix`,
      )
    },
    // The longest lifetimes this resolver writes: a record claiming longer ones was not written by it.
    maxFreshMs: Math.max(opts.ttlMs, opts.flaggedTtlMs),
    maxBlockMs: MAX_BLOCK_SECONDS * 1000,
    // A store that never loads (e.g. `@keyv/redis` missing where the bundle runs) is reported while running too.
    onLoadError: (error: unknown): void => reporter.configError(opts.l2Option, loadProblem(error)),
    clock,
  }
  if (opts.l2.kind === 'keyv') return new SharedTier(opts.l2.keyv, tierOptions)
  assertRedisRuntime(opts.l2Option)
  assertRedisAdapterInstalled(opts.l2Option)
  const redis = connectRedisKeyv(opts.l2.url, () => undefined, { option: opts.l2Option })
  return new SharedTier(redis.keyv, { ...tierOptions, dispose: redis.destroy, link: redis.link, connectedLink: redis.connectedLink })
}

/**
 * `check`: policies are compiled once each. The adapters check the same few compiled policies on every request, so
 * the last one is remembered, sparing the WeakMap read on the hot path. @internal
 */
export class PolicyChecker {
  readonly #compiled = new WeakMap<Policy, Policy>()
  #lastPolicy: Policy | undefined
  #lastCompiled: Policy | undefined

  constructor(private readonly failMode: FailMode) {}

  check(risk: IpRisk, policy?: Policy): Decision {
    return evaluate(risk, policy === undefined ? policies.baseline : this.#compile(policy), this.failMode)
  }

  #compile(policy: Policy): Policy {
    if (policy === this.#lastPolicy) return this.#lastCompiled as Policy
    let p = this.#compiled.get(policy)
    if (p === undefined) {
      p = compilePolicy(policy)
      this.#compiled.set(policy, p)
    }
    this.#lastPolicy = policy
    this.#lastCompiled = p
    return p
  }
}

/** `ready()`: probe the provider directly, recording the outcome for `status()`. @internal */
export async function probeReady(
  provider: Provider,
  selfCheck: SelfCheck,
  closed: boolean,
  options: ReadyOptions | undefined,
  clock: Clock,
): Promise<void> {
  const timeout = options?.timeoutMs ?? PROBE_TIMEOUT_MS
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) {
    throw new IpRiskConfigError('ready.timeoutMs', 'must be an integer from 1 to 60000 (milliseconds)')
  }
  const ip = options?.ip === undefined ? PROBE_IP : typeof options.ip === 'string' ? parseIp(options.ip) : null
  if (ip === null) throw new IpRiskConfigError('ready.ip', 'must be an IP address')
  if (closed) throw new IpRiskError('iprisk: ready() on a closed resolver')
  try {
    const valid = (v: unknown): boolean => normalizeData(v) !== undefined
    await probeProvider(provider.name, (a, signal) => invokeLookup(provider, a, signal), valid, ip, timeout, clock)
  } catch (error) {
    if (error instanceof IpRiskProbeError) selfCheck.providerCall(error.kind) // shown by status(): lastError
    throw error
  }
  selfCheck.providerCall(null)
}

/** `block(ip, seconds)`'s duration in ms: `seconds`, else the blocklist TTL (else an hour). @internal */
export function blockMs(seconds: unknown, blocklist: ResolvedOptions['blocklist']): number {
  const s = seconds ?? (blocklist === undefined ? 3_600 : blocklist.ttlMs / 1000)
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > MAX_BLOCK_SECONDS) {
    throw new IpRiskError(`iprisk: block() seconds must be a number greater than 0 and at most ${MAX_BLOCK_SECONDS}`)
  }
  return s * 1000
}
