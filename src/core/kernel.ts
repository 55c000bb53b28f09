/**
 * The request kernel: what both adapters (the tRPC middleware and the Envelop plugin) do for a call or an operation,
 * in one place. An adapter translates its framework into the kernel's terms (a context, the request object holding the
 * headers, the peer address, the object every call of the HTTP request shares) and the kernel's decisions back into
 * its framework's errors:
 *
 * ```
 * context ─▶ clientIp() ─▶ answer(): L1 (peek) ─┬─▶ warm answer ─────────────┐
 *                                               └─▶ the request's memo/lookup ─┴─▶ decide(): check + report ─▶ Decision
 * ```
 *
 * One vocabulary for both adapters:
 * - waiting: {@link WaitMode} (`wait: true | false | 'on-demand'`); a call that a policy applies to always waits;
 * - failing: {@link FailMode} (`failMode: 'open' | 'closed'`), on the adapter and on each policy;
 * - the context: {@link IpRiskContext} (`ctx.ipRisk`).
 *
 * One per-request memo rule (no clock): the calls of one HTTP request (a tRPC batch, a GraphQL batch, the resolvers of
 * an operation calling `waitForIpRisk`) share one lookup and its answer for the whole request. The cache is read first
 * on every call, so a newer cached answer (or a block) always wins over the memo. An `unavailable` answer is shared
 * only by the calls that waited for that lookup: the next call asks the resolver again (whose failure cache, breaker
 * and budgets answer at once), so a long-lived request (a WebSocket connection) is not stuck with a failure.
 *
 * The warm path (an L1 hit) allocates nothing and creates no promise: no request state is created or even looked for.
 *
 * @module
 */
import { IpRiskConfigError } from './errors.js'
import { classifyIp, parseIp } from './ip.js'
import { compilePolicy, type PolicyDefaults } from './policy.js'
import { unscoredRisk } from './resolver.js'
import type {
  ClientIp,
  Decision,
  FailMode,
  IpRisk,
  LookupOptions,
  Policy,
  RequestInfo,
  RequestLike,
  RiskResolver,
} from './types.js'

/**
 * What iprisk adds to your framework's context: `ipRisk`, the caller's risk answer. The same type for both adapters;
 * the tRPC middleware refines `ipRisk` with the decision of the call (`IpRiskContext<IpRiskResult>`).
 *
 * @typeParam TRisk What `ipRisk` holds: an {@link IpRisk} (Envelop), or tRPC's `IpRiskResult` (an IpRisk plus the
 *   call's decision).
 * @example
 * ```ts
 * import type { YogaInitialContext } from 'graphql-yoga'
 * import type { IpRiskContext } from 'iprisk/envelop'
 *
 * type Context = YogaInitialContext & IpRiskContext
 * const feed = (_: unknown, __: unknown, ctx: Context) => (ctx.ipRisk.isVpn ? 'short' : 'full')
 * ```
 */
export interface IpRiskContext<TRisk extends Readonly<IpRisk> = IpRisk> {
  /** The caller's answer (shared and read-only: do not mutate it). */
  ipRisk: TRisk
}

/**
 * Whether a call waits for a verdict when the cache does not have the caller's answer. A call that a policy applies to
 * always waits (a policy cannot judge a `pending` answer).
 * - `true`: wait (cache, then the provider within the resolver's budget): the guide's synchronous middleware.
 * - `false`: never delay the call: `ipRisk.status` is `'pending'` while a background lookup fills the cache, and the
 *   next requests from that IP read the cached answer (the guide's async scoring).
 * - `'on-demand'`: never look up for this call: the cached answer if there is one, else a placeholder with
 *   `status: 'skipped'` and no data (no upstream traffic for calls no policy protects).
 *
 * @example
 * ```ts
 * withIpRisk({ wait: false })              // tRPC
 * useIpRisk({ resolver, wait: true })      // Envelop
 * ```
 */
export type WaitMode = boolean | 'on-demand'

/** What one call needs of the answer: a verdict, an answer now (a background lookup on a miss), or the cache only. */
export type Need = 'verdict' | 'background' | 'cache'

/**
 * A function of the adapter's own context type. The kernel hands back the very context object the adapter gave it,
 * so the adapter's function sees its own type (the kernel itself never reads the context).
 */
export type OfContext<TArgs extends unknown[], TResult> = (context: never, ...args: TArgs) => TResult

/** Options of {@link RequestKernel}: the adapter-wide settings both adapters share. */
export interface KernelOptions {
  /** Dry run: every policy the kernel compiles decides and reports, and never blocks. @default false */
  readonly monitor?: boolean | undefined
  /** Fail mode of the policies that set none. @default undefined (the resolver's `failMode`) */
  readonly failMode?: FailMode | undefined
  /**
   * The app's own client IP reader; replaces request-based resolution (source `'custom'`). Invalid text, `null` or a
   * throw mean "no IP". @default undefined
   */
  readonly getClientIp?: OfContext<[], string | null | undefined> | undefined
}

type Callable<TArgs extends unknown[], TResult> = (context: object, ...args: TArgs) => TResult

const NO_IP: ClientIp = Object.freeze({ ip: null, source: null, kind: null })
const WAIT: LookupOptions = Object.freeze({ wait: true })
const NO_WAIT: LookupOptions = Object.freeze({ wait: false })

/** The one describer of a rejected option value in the kernel's errors: short, never the whole value. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value) : String(value)
}

/**
 * A `wait` option, validated.
 *
 * @throws {IpRiskConfigError} (`option`) for anything but `true`, `false` or `'on-demand'`.
 * @example
 * ```ts
 * waitModeOf(options.wait ?? true, 'withIpRisk.wait')
 * ```
 */
export function waitModeOf(value: unknown, option: string): WaitMode {
  if (value === true || value === false || value === 'on-demand') return value
  throw new IpRiskConfigError(option, `must be true, false or 'on-demand', got ${shown(value)}`)
}

/**
 * A `failMode` option, validated (`undefined` when not set).
 *
 * @throws {IpRiskConfigError} (`option`) for anything but `'open'` or `'closed'`.
 * @example
 * ```ts
 * failModeOf(options.failMode, 'failMode') // 'open' | 'closed' | undefined
 * ```
 */
export function failModeOf(value: unknown, option: string): FailMode | undefined {
  if (value === undefined || value === 'open' || value === 'closed') return value
  throw new IpRiskConfigError(option, `must be 'open' or 'closed', got ${JSON.stringify(value) ?? String(value)}`)
}

/** What a call needs, from its wait mode and whether a policy applies to it. */
export function needOf(wait: WaitMode, policyApplies: boolean): Need {
  if (policyApplies || wait === true) return 'verdict'
  return wait === false ? 'background' : 'cache'
}

/**
 * The `User-Agent` header of a request (the first value if repeated), or `null`; reads fetch `Headers` and Node
 * header objects alike. Never throws.
 */
export function userAgentOf(req: RequestLike | undefined): string | null {
  if (req === undefined) return null
  try {
    const headers = req.headers
    if (typeof (headers as Headers).get === 'function') {
      const agent: unknown = (headers as Headers).get('user-agent')
      return typeof agent === 'string' ? agent : null
    }
    const value = (headers as Record<string, string | string[] | undefined>)['user-agent']
    if (typeof value === 'string') return value
    if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : null
    return null
  } catch {
    return null // a hostile request object never fails the call
  }
}

/**
 * An application-supplied IP, canonicalized and classified with the core's parser (the same rules as every other IP)
 * and marked `custom` (so the resolver's trust settings and socket checks do not apply to it). Not an IP: no IP.
 */
export function customClientIp(value: unknown): ClientIp {
  if (typeof value !== 'string') return NO_IP
  const canonical = parseIp(value)
  return canonical === null ? NO_IP : { ip: canonical, source: 'custom', kind: classifyIp(canonical) }
}

/**
 * What the calls of one HTTP request share once the cache has missed: the client IP, the lookups in flight and the
 * answer (see the module's memo rule). The warm path never creates one.
 */
export class RequestState {
  /** The best answer so far: a verdict, or `pending` from a background lookup. Never `unavailable`. */
  answer: IpRisk | undefined = undefined
  /** The lookup waiting for a verdict, shared by the calls that need one. */
  verdict: Promise<IpRisk> | undefined = undefined
  /** The background lookup (`wait: false`), started once per request. */
  background: Promise<IpRisk> | undefined = undefined

  constructor(
    readonly kernel: RequestKernel,
    readonly client: ClientIp,
  ) {}
}

/**
 * The request kernel bound to one resolver and one adapter's settings; see the module documentation. Created once, at
 * start-up, by `createTrpcRisk` or `useIpRisk`.
 *
 * @example
 * ```ts
 * const kernel = new RequestKernel(resolver, { monitor: false, failMode: 'closed' })
 * const gate = kernel.compile({ threshold: 70 }, 'riskGate')
 * const client = kernel.clientIp(ctx, req, (ctx) => ctx.peerAddress)
 * const risk = kernel.answer(req, client, 'verdict') // IpRisk now (L1), or a promise
 * ```
 */
export class RequestKernel {
  /** Per HTTP request (the object its calls share). Weak: dies with the request. */
  private readonly states = new WeakMap<object, RequestState>()
  /** Compiled policies, per policy object as written (so one policy object compiles to one compiled policy). */
  private readonly compiled = new WeakMap<object, Readonly<Policy>>()
  private readonly defaults: PolicyDefaults
  private readonly getClientIp: Callable<[], unknown> | undefined

  constructor(
    readonly resolver: RiskResolver,
    options: KernelOptions,
  ) {
    this.defaults = Object.freeze({ monitor: options.monitor === true, failMode: options.failMode })
    this.getClientIp = options.getClientIp as Callable<[], unknown> | undefined
  }

  /**
   * Compile a policy for this adapter (its `monitor` and `failMode` applied) through the one compile path,
   * `compilePolicy`, then `resolver.compile`. Once per policy object.
   *
   * @throws {IpRiskConfigError} naming `optionName` (`riskGate.threshold`, `@requireLowRisk on Query.x`…).
   */
  compile(policy: unknown, optionName: string): Readonly<Policy> {
    if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
      const got = policy === null ? 'null' : Array.isArray(policy) ? 'an array' : typeof policy
      throw new IpRiskConfigError(optionName, `must be a policy object, got ${got}`)
    }
    let compiled = this.compiled.get(policy)
    if (compiled === undefined) {
      compiled = this.resolver.compile(compilePolicy(policy as Policy, optionName, this.defaults))
      this.compiled.set(policy, compiled)
    }
    return compiled
  }

  /**
   * The client IP of a call: the app's `getClientIp(context)` when set, else `resolver.clientIp(req, peerOf(…))` under
   * the resolver's trust settings (`peerOf` gives the TCP peer when `req` does not carry it: a fetch `Request`). Never throws: a failure means "no IP", which the policies' fail mode judges.
   */
  clientIp(
    context: object,
    req: RequestLike | undefined,
    peerOf: OfContext<[req: RequestLike], string | null | undefined>,
  ): ClientIp {
    try {
      const own = this.getClientIp
      if (own !== undefined) return customClientIp(own(context))
      if (req === undefined) return NO_IP
      return this.resolver.clientIp(req, (peerOf as Callable<[RequestLike], string | null | undefined>)(context, req))
    } catch {
      return NO_IP
    }
  }

  /**
   * The caller's answer. Warm path: the L1 answer, synchronously. On a miss, the request's state (keyed by `key`, the
   * object every call of the request shares) gives its memo, or starts (or joins) its lookup. Returns `undefined` only
   * for `need === 'cache'` when nothing is known (see {@link placeholder}).
   */
  answer(key: object, client: ClientIp, need: Need): IpRisk | Promise<IpRisk> | undefined {
    const cached = this.resolver.peek(client.ip)
    if (cached !== undefined && cached.status !== 'pending') return cached
    let state = this.states.get(key)
    if (state === undefined) {
      state = new RequestState(this, client)
      this.states.set(key, state)
    }
    const memo = state.answer ?? cached
    if (memo !== undefined && (memo.status !== 'pending' || need !== 'verdict')) return memo
    if (need === 'verdict') return this.verdict(state)
    if (need === 'cache') return undefined
    return this.background(state)
  }

  /**
   * The request's background lookup (`wait: false`), started once; resolves to the best answer known by then. Its
   * own method: a closure in {@link answer} would make V8 allocate a context on every call, the warm path included.
   */
  private background(state: RequestState): Promise<IpRisk> {
    return (state.background ??= this.lookup(state, NO_WAIT)).then((answer) => state.answer ?? answer)
  }

  /** The request's state, if a call of it has missed the cache. */
  stateOf(key: object): RequestState | undefined {
    return this.states.get(key)
  }

  /** A verdict for the request: its memo, the cache, or its (shared) lookup. Never rejects. */
  verdict(state: RequestState): Promise<IpRisk> {
    const known = state.answer ?? this.resolver.peek(state.client.ip)
    if (known !== undefined && known.status !== 'pending') return Promise.resolve(known)
    return (state.verdict ??= this.lookup(state, WAIT).then((answer) => {
      state.verdict = undefined
      return answer
    }))
  }

  /** The answer of a call that must not look up (`wait: 'on-demand'`) when nothing is known: `skipped`, no data. */
  placeholder(client: ClientIp): IpRisk {
    return unscoredRisk(client.ip, client.kind, 'skipped', null)
  }

  /**
   * Apply a compiled policy and report the decision (`resolver.report`, whose failure never fails the call). The
   * adapter turns a `block` into its framework's error.
   */
  decide(risk: IpRisk, policy: Readonly<Policy>, info: RequestInfo): Decision {
    const decision = this.resolver.check(risk, policy)
    try {
      this.resolver.report(decision, info)
    } catch {
      // report() never throws by contract; a broken logger must not turn into a failed request.
    }
    return decision
  }

  /** `resolver.lookup`, which never rejects by contract; a broken resolver gives `unavailable`, not a crash. */
  private lookup(state: RequestState, options: LookupOptions): Promise<IpRisk> {
    const { ip, kind } = state.client
    let pending: Promise<IpRisk>
    try {
      pending = this.resolver.lookup(ip, options)
    } catch {
      pending = Promise.reject(new Error('lookup threw'))
    }
    return pending.then(
      (answer) => remember(state, answer),
      () => remember(state, unscoredRisk(ip, kind, 'unavailable', 'network')),
    )
  }
}

/** The memo rule: keep the best answer for the request; a verdict replaces `pending`; `unavailable` is never kept. */
function remember(state: RequestState, answer: IpRisk): IpRisk {
  if (answer.status !== 'unavailable' && (state.answer === undefined || state.answer.status === 'pending')) {
    state.answer = answer
  }
  return answer
}
