/**
 * A local, deterministic IPASIS-compatible HTTP server for tests and benchmarks: both API styles, profiles by IP, CIDR
 * or function, latency, injectable faults and call counters. It listens on 127.0.0.1 and never touches the internet.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import ipaddr from 'ipaddr.js'
import { canonicalIp, isCanonicalIp } from '../core/provider-schema.js'
import type { RiskData } from '../core/types.js'

// ---------------------------------------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------------------------------------

/**
 * The built-in profiles. `hash` is not in the table: it derives a stable, pseudo-random answer from the IP itself
 * (useful as the default profile of a benchmark that scores thousands of distinct IPs).
 *
 * @example
 * ```ts
 * const sim = await startIpasisSimulator({ defaultProfile: 'hash' })
 * ```
 */
export type SimulatorProfileName = 'clean' | 'vpn' | 'proxy' | 'tor' | 'datacenter' | 'high-risk' | 'hash'

/**
 * What the simulator answers for an IP:
 * - a built-in profile name (see {@link simulatorProfiles});
 * - a `Partial<RiskData>`: the fields given are sent, the others are left out of the answer (so the provider reports
 *   them as `null`);
 * - `{ json }`: this exact JSON body is sent with status 200, whatever the API style (to test odd answers).
 *
 * @example
 * ```ts
 * sim.setProfile('203.0.113.7', 'tor')
 * sim.setProfile('198.51.100.0/24', { score: 80, isDatacenter: true })
 * sim.setProfile('192.0.2.1', { json: { risk_score: 150 } })
 * ```
 */
export type SimulatorProfile = SimulatorProfileName | Partial<RiskData> | { readonly json: unknown }

/**
 * Picks a profile for an IP, or `undefined` to fall through to the default profile.
 *
 * @example
 * ```ts
 * sim.setProfileFor((ip) => (ip.endsWith('.66') ? 'tor' : undefined))
 * ```
 */
export type SimulatorProfileFn = (ip: string) => SimulatorProfile | undefined

/**
 * The built-in profiles with their documented answers. Scores: clean 5, vpn 45, proxy 60, datacenter 55, tor 92,
 * high-risk 97 (score only: every flag false). Frozen.
 *
 * @example
 * ```ts
 * expect(risk.score).toBe(simulatorProfiles.tor.score) // 92
 * ```
 */
export const simulatorProfiles: Readonly<Record<Exclude<SimulatorProfileName, 'hash'>, Readonly<RiskData>>> =
  Object.freeze({
    clean: Object.freeze(profile(5, {}, 'US', 7922, 'Comcast Cable Communications')),
    vpn: Object.freeze(profile(45, { isVpn: true }, 'NL', 9009, 'M247 Europe SRL')),
    proxy: Object.freeze(profile(60, { isProxy: true }, 'RU', 202425, 'IP Volume inc')),
    tor: Object.freeze(profile(92, { isTor: true }, 'DE', 24940, 'Hetzner Online GmbH')),
    datacenter: Object.freeze(profile(55, { isDatacenter: true }, 'US', 16509, 'Amazon.com, Inc.')),
    'high-risk': Object.freeze(profile(97, {}, 'CN', 4134, 'Chinanet')),
  })

function profile(
  score: number,
  flags: Partial<Pick<RiskData, 'isVpn' | 'isProxy' | 'isTor' | 'isDatacenter'>>,
  countryCode: string,
  asn: number,
  isp: string,
): RiskData {
  return {
    score,
    isVpn: flags.isVpn ?? false,
    isProxy: flags.isProxy ?? false,
    isTor: flags.isTor ?? false,
    isDatacenter: flags.isDatacenter ?? false,
    countryCode,
    asn,
    isp,
  }
}

const HASH_COUNTRIES = ['US', 'DE', 'FR', 'GB', 'NL', 'BR', 'IN', 'JP', 'CN', 'RU', 'CA', 'AU'] as const

/**
 * The `hash` profile: a stable answer derived from the IP (FNV-1a), about 2 % Tor, 8 % VPN, 5 % proxy and 20 %
 * datacenter, scores spread over 0–99 (flagged IPs score at least 40, Tor at least 90).
 *
 * @example
 * ```ts
 * hashProfile('203.0.113.7') // always the same RiskData for this IP
 * ```
 */
export function hashProfile(ip: string): RiskData {
  let h = 0x811c9dc5
  for (let i = 0; i < ip.length; i++) {
    h ^= ip.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  const isTor = h % 50 === 0
  const isVpn = !isTor && (h >>> 6) % 25 < 2
  const isProxy = !isTor && (h >>> 11) % 20 === 0
  const isDatacenter = (h >>> 16) % 5 === 0
  let score = (h >>> 3) % 100
  if (isVpn || isProxy || isDatacenter) score = Math.max(score, 40)
  if (isTor) score = Math.max(score, 90)
  return {
    score,
    isVpn,
    isProxy,
    isTor,
    isDatacenter,
    countryCode: HASH_COUNTRIES[(h >>> 20) % HASH_COUNTRIES.length] ?? 'US',
    asn: 1000 + ((h >>> 4) % 60_000),
    isp: `Simulated ISP ${(h >>> 24) % 64}`,
  }
}

/**
 * Resolve a profile (name or partial data) to the fields that are sent, or `{ json }` for a raw body.
 * @internal
 */
export function resolveProfile(p: SimulatorProfile, ip: string): Partial<RiskData> | { readonly json: unknown } {
  if (typeof p === 'string') {
    if (p === 'hash') return hashProfile(ip)
    const known = simulatorProfiles[p]
    if (!known) throw new TypeError(`iprisk simulator: unknown profile ${JSON.stringify(p)}`)
    return known
  }
  return p
}

function assertProfile(p: unknown): asserts p is SimulatorProfile {
  if (typeof p === 'string') {
    if (p !== 'hash' && !Object.hasOwn(simulatorProfiles, p)) {
      throw new TypeError(`iprisk simulator: unknown profile ${JSON.stringify(p)}`)
    }
    return
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw new TypeError('iprisk simulator: a profile is a profile name, a Partial<RiskData> or { json }')
  }
}

/**
 * Profile rules: exact IPs, then CIDRs (longest prefix first), then a function, then the default.
 * Shared by the simulator and `createMemoryProvider`.
 * @internal
 */
export class ProfileTable {
  private readonly exact = new Map<string, SimulatorProfile>()
  private cidrs: Array<{ key: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; profile: SimulatorProfile }> = []
  fn: SimulatorProfileFn | undefined
  fallback: SimulatorProfile

  constructor(fallback: SimulatorProfile = 'clean') {
    assertProfile(fallback)
    this.fallback = fallback
  }

  /** Add or replace a rule; `null` removes it. `ipOrCidr` is an IP (any notation) or a CIDR such as `10.0.0.0/8`. */
  set(ipOrCidr: string, p: SimulatorProfile | null): void {
    if (p !== null) assertProfile(p)
    if (typeof ipOrCidr === 'string' && ipOrCidr.includes('/')) {
      let range: [ipaddr.IPv4 | ipaddr.IPv6, number]
      try {
        range = ipaddr.parseCIDR(ipOrCidr)
      } catch {
        throw new TypeError(`iprisk simulator: invalid CIDR ${JSON.stringify(ipOrCidr)}`)
      }
      const key = `${range[0].toString()}/${range[1]}`
      this.cidrs = this.cidrs.filter((rule) => rule.key !== key)
      if (p !== null) {
        this.cidrs.push({ key, range, profile: p })
        this.cidrs.sort((a, b) => b.range[1] - a.range[1])
      }
      return
    }
    const ip = typeof ipOrCidr === 'string' ? canonicalIp(ipOrCidr) : null
    if (ip === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(ipOrCidr)}`)
    if (p === null) this.exact.delete(ip)
    else this.exact.set(ip, p)
  }

  clear(): void {
    this.exact.clear()
    this.cidrs = []
  }

  /** The profile for a canonical IP. */
  lookup(ip: string): SimulatorProfile {
    const exact = this.exact.get(ip)
    if (exact !== undefined) return exact
    if (this.cidrs.length > 0) {
      const addr = ipaddr.parse(ip)
      for (const rule of this.cidrs) {
        if (addr.kind() === rule.range[0].kind() && addr.match(rule.range)) return rule.profile
      }
    }
    const fromFn = this.fn?.(ip)
    if (fromFn !== undefined) {
      assertProfile(fromFn)
      return fromFn
    }
    return this.fallback
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Faults and latency
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Injectable failures:
 * - `'timeout'`: never answers (until the client gives up or the simulator closes);
 * - `'slow-body'`: sends the headers at once, then the body one byte every `intervalMs` (default 100 ms);
 * - `500` / `502` / `503`: that status with a small HTML or JSON body;
 * - `401`: refuses the key whatever it is; `403`: forbidden (e.g. the plan does not include the endpoint);
 * - `429`: rate limited, with `Retry-After` (option `retryAfter`, default `'1'`);
 * - `'malformed-json'`: 200 with a truncated JSON body;
 * - `'wrong-schema'`: 200 with `risk_score: "high"`;
 * - `'oversized'`: 200 with a 100 KiB JSON body;
 * - `'reset'`: destroys the socket without answering.
 *
 * A refused connection is simulated by closing the simulator: `await sim.close()`, then lookups to `sim.url` fail
 * with `ECONNREFUSED`.
 *
 * @example
 * ```ts
 * sim.setFault(503, { times: 2 })                       // the next two calls fail
 * sim.setFault('timeout', { ip: '203.0.113.7' })         // this IP never answers
 * sim.setFault(429, { retryAfter: 'Wed, 21 Oct 2026 07:28:00 GMT' })
 * ```
 */
export type SimulatorFault =
  | 'timeout'
  | 'slow-body'
  | 500
  | 502
  | 503
  | 401
  | 403
  | 429
  | 'malformed-json'
  | 'wrong-schema'
  | 'oversized'
  | 'reset'

const FAULTS: ReadonlySet<unknown> = new Set<SimulatorFault>([
  'timeout',
  'slow-body',
  500,
  502,
  503,
  401,
  403,
  429,
  'malformed-json',
  'wrong-schema',
  'oversized',
  'reset',
])

/**
 * Where and how often a fault applies.
 *
 * @example
 * ```ts
 * sim.setFault('slow-body', { ip: '2001:db8::1', times: 1, intervalMs: 50 })
 * ```
 */
export interface SimulatorFaultOptions {
  /** Only for this IP (any notation). Default: every IP. IP-specific faults win over global ones. */
  ip?: string
  /** Only for the next `times` matching calls (positive integer). Default: until `clearFaults()`. */
  times?: number
  /** `Retry-After` value sent with `429`: delta-seconds or an HTTP date. @default '1' */
  retryAfter?: string | number
  /** Interval between body bytes for `'slow-body'`, in ms. @default 100 */
  intervalMs?: number
  /**
   * Pad the body of the status faults (`401`, `403`, `429`, `5xx`) to about this many bytes, e.g. to check that a client
   * reads or discards error bodies larger than its socket buffer. @default 0 (a short body)
   */
  bodyBytes?: number
}

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

interface FaultRule {
  fault: SimulatorFault
  ip: string | null
  remaining: number
  retryAfter: string
  intervalMs: number
  bodyBytes: number
}

function assertLatency(latency: unknown): asserts latency is SimulatorLatency {
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

// ---------------------------------------------------------------------------------------------------------------------
// Simulator
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link startIpasisSimulator}. Everything is optional.
 *
 * @example
 * ```ts
 * const sim = await startIpasisSimulator({ apiKey: 'k', profiles: { '203.0.113.7': 'tor', '10.9.0.0/16': 'vpn' } })
 * ```
 */
export interface IpasisSimulatorOptions {
  /** The key the simulator accepts (`Authorization: Bearer <key>` or `X-API-Key: <key>`). @default 'test-key' */
  apiKey?: string
  /** Which auth header is accepted: both, or only one (to check a client sends the right one). @default 'any' */
  auth?: 'any' | 'bearer' | 'x-api-key'
  /**
   * Accept any non-empty key in an accepted header, not only `apiKey` (a request without a key still gets 401).
   * `npx iprisk simulate` turns it on, so an app keeps its own `IPASIS_API_KEY`, whatever it is.
   * @default false
   */
  acceptAnyKey?: boolean
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (a free port) */
  port?: number
  /** A path prefix the API is served under, e.g. `'/ipasis'` (then `sim.url` ends with it). @default '' */
  basePath?: string
  /** Initial profile rules, keyed by IP or CIDR. */
  profiles?: Readonly<Record<string, SimulatorProfile>>
  /** Profile chooser consulted after exact and CIDR rules. */
  profileFor?: SimulatorProfileFn
  /** Profile of every other IP. @default 'clean' */
  defaultProfile?: SimulatorProfile
  /**
   * Answer shape: `'flat'` (the integration guide's `{ risk_score, is_vpn, … }`), `'nested'`
   * (`{ ip, risk_score, privacy: {…}, asn: {…}, country }`), or `'auto'`: flat for `/v1/ip/{ip}`, nested for
   * `/v1/lookup?ip=`. @default 'auto'
   */
  shape?: 'auto' | 'flat' | 'nested'
  /** Delay before every answer. @default 0 */
  latency?: SimulatorLatency
  /** Seed of the latency jitter generator. @default 1 */
  seed?: number
}

/**
 * One request as the simulator saw it (see {@link IpasisSimulator.requests}).
 *
 * @example
 * ```ts
 * expect(sim.requests.at(-1)).toMatchObject({ style: 'path', auth: 'bearer', ip: '203.0.113.7' })
 * ```
 */
export interface SimulatorRequest {
  method: string
  /** The raw request target, e.g. `/v1/ip/203.0.113.7`. */
  url: string
  /** Which API route matched, if any. */
  style: 'path' | 'query' | null
  /** The IP asked about, when valid and canonical. */
  ip: string | null
  /** Which auth header carried a key (`null`: none). */
  auth: 'bearer' | 'x-api-key' | null
}

/**
 * A running simulator; see {@link startIpasisSimulator}.
 *
 * @example
 * ```ts
 * afterEach(() => sim.reset())
 * afterAll(() => sim.close())
 * expect(sim.callsFor('203.0.113.7')).toBe(1)
 * ```
 */
export interface IpasisSimulator {
  /** Base URL to pass as `baseUrl`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string
  /** The API key it accepts. */
  readonly apiKey: string
  /** Requests received (every request, valid or not) since start or the last `reset()`. */
  readonly calls: number
  /** TCP connections accepted since start or the last `reset()` (1 for many keep-alive calls over one socket). */
  readonly connections: number
  /** The last 1000 requests, oldest first. */
  readonly requests: readonly SimulatorRequest[]
  /** Requests that named this IP (any notation) since start or the last `reset()`. */
  callsFor(ip: string): number
  /** Set (or with `null` remove) the profile of an IP or CIDR. Throws `TypeError` on a bad IP, CIDR or profile. */
  setProfile(ipOrCidr: string, profile: SimulatorProfile | null): void
  /** Set (or with `undefined` remove) the profile function. */
  setProfileFor(fn: SimulatorProfileFn | undefined): void
  /** Inject a fault, globally or for one IP, forever or for the next `times` calls. The latest matching rule wins. */
  setFault(fault: SimulatorFault, options?: SimulatorFaultOptions): void
  clearFaults(): void
  /** Set the latency, globally or (with `ip`) for one IP. */
  setLatency(latency: SimulatorLatency, options?: { ip?: string }): void
  /** Back to the start options: counters, request log, faults, latency and profile rules. */
  reset(): void
  /** Stop listening, destroy every socket (keep-alive and hanging `timeout` answers) and timer. Idempotent. */
  close(): Promise<void>
}

const MAX_REQUEST_LOG = 1000

/**
 * Start a local IPASIS-compatible API on 127.0.0.1 (a free port by default).
 *
 * It serves `GET /v1/ip/{ip}` and `GET /v1/lookup?ip={ip}`, checks the API key (401 otherwise), answers 400 to
 * anything that is not a canonical IP, 404 to other paths and 405 to other methods.
 *
 * @example
 * ```ts
 * import { startIpasisSimulator } from 'iprisk/testing'
 * import { ipasis } from 'iprisk'
 *
 * const sim = await startIpasisSimulator({ profiles: { '203.0.113.66': 'tor' } })
 * const provider = ipasis({ apiKey: sim.apiKey, baseUrl: sim.url })
 * await provider.lookup('203.0.113.66', AbortSignal.timeout(1000)) // { score: 92, isTor: true, … }
 * sim.setFault(503, { times: 1 })                                    // the next call fails
 * await provider.close()
 * await sim.close()
 * ```
 */
export async function startIpasisSimulator(options: IpasisSimulatorOptions = {}): Promise<IpasisSimulator> {
  const apiKey = options.apiKey ?? 'test-key'
  if (typeof apiKey !== 'string' || apiKey === '') throw new TypeError('iprisk simulator: apiKey must be a non-empty string')
  const acceptAuth = options.auth ?? 'any'
  const acceptAnyKey = options.acceptAnyKey === true
  const shape = options.shape ?? 'auto'
  const basePath = (options.basePath ?? '').replace(/\/+$/, '')
  if (basePath !== '' && !/^\/[A-Za-z0-9._~/-]*$/.test(basePath)) {
    throw new TypeError('iprisk simulator: basePath must start with / and contain only URL-safe characters')
  }
  const initialLatency = options.latency ?? 0
  assertLatency(initialLatency)
  const seed = options.seed ?? 1

  const table = new ProfileTable(options.defaultProfile ?? 'clean')
  const applyInitialProfiles = (): void => {
    table.clear()
    table.fn = options.profileFor
    for (const [key, p] of Object.entries(options.profiles ?? {})) table.set(key, p)
  }
  applyInitialProfiles()

  let calls = 0
  let connections = 0
  let requestLog: SimulatorRequest[] = []
  const perIp = new Map<string, number>()
  let faults: FaultRule[] = []
  let latency: SimulatorLatency = initialLatency
  const latencyByIp = new Map<string, SimulatorLatency>()
  let random = seededRandom(seed)

  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let closed: Promise<void> | null = null

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res)
  })
  server.keepAliveTimeout = 5_000 // longer than undici's default 4 s, so the client always closes first
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  function handle(req: IncomingMessage, res: ServerResponse): void {
    calls++
    const url = req.url ?? '/'
    const entry: SimulatorRequest = { method: req.method ?? 'GET', url, style: null, ip: null, auth: null }
    requestLog.push(entry)
    if (requestLog.length > MAX_REQUEST_LOG) requestLog = requestLog.slice(-MAX_REQUEST_LOG)

    const route = parseRoute(url, basePath)
    if (route === null) return sendJson(res, 404, { error: 'not_found' })
    entry.style = route.style
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method_not_allowed' })

    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    const headerKey = req.headers['x-api-key']
    const xKey = Array.isArray(headerKey) ? headerKey[0] : headerKey
    entry.auth = bearer !== undefined ? 'bearer' : xKey !== undefined ? 'x-api-key' : null

    if (route.ip === null || !isCanonicalIp(route.ip)) return sendJson(res, 400, { error: 'invalid_ip' })
    const ip = route.ip
    entry.ip = ip
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1)

    const keyOk =
      (acceptAuth !== 'x-api-key' && bearer !== undefined && (bearer === apiKey || acceptAnyKey)) ||
      (acceptAuth !== 'bearer' && xKey !== undefined && xKey !== '' && (xKey === apiKey || acceptAnyKey))
    if (!keyOk) return sendJson(res, 401, { error: 'invalid_api_key' })

    const fault = takeFault(ip)
    const delay = pickLatency(latencyByIp.get(ip) ?? latency)
    const respond = (): void => {
      if (res.destroyed) return
      if (fault) return applyFault(fault, req, res, ip, route.style)
      const chosen = resolveProfile(table.lookup(ip), ip)
      if ('json' in chosen) return sendJson(res, 200, chosen.json)
      sendJson(res, 200, toWire(chosen, ip, wireShape(route.style)))
    }
    if (delay > 0) later(delay, respond)
    else respond()
  }

  function wireShape(style: 'path' | 'query'): 'flat' | 'nested' {
    if (shape !== 'auto') return shape
    return style === 'path' ? 'flat' : 'nested'
  }

  function takeFault(ip: string): FaultRule | null {
    let found: FaultRule | null = null
    // Latest rule first, IP-specific before global.
    for (let i = faults.length - 1; i >= 0; i--) {
      const rule = faults[i]
      if (rule && rule.ip === ip) {
        found = rule
        break
      }
    }
    if (!found) {
      for (let i = faults.length - 1; i >= 0; i--) {
        const rule = faults[i]
        if (rule && rule.ip === null) {
          found = rule
          break
        }
      }
    }
    if (found && Number.isFinite(found.remaining)) {
      found.remaining--
      if (found.remaining <= 0) faults = faults.filter((rule) => rule !== found)
    }
    return found
  }

  function pickLatency(l: SimulatorLatency): number {
    if (typeof l === 'number') return l
    return l.min + Math.floor(random() * (l.max - l.min + 1))
  }

  function applyFault(rule: FaultRule, req: IncomingMessage, res: ServerResponse, ip: string, style: 'path' | 'query'): void {
    switch (rule.fault) {
      case 'timeout':
        return // hold the request: the socket is destroyed by the client's abort or by close()
      case 'reset':
        req.socket.destroy()
        return
      case 500:
      case 503:
        return sendJson(res, rule.fault, padded(rule, rule.fault === 500 ? 'internal_error' : 'service_unavailable'))
      case 502: {
        const html = `<html><body><h1>502 Bad Gateway</h1>${' '.repeat(rule.bodyBytes)}</body></html>`
        res.writeHead(502, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) })
        res.end(html)
        return
      }
      case 401:
        return sendJson(res, 401, padded(rule, 'invalid_api_key'))
      case 403:
        return sendJson(res, 403, padded(rule, 'forbidden'))
      case 429:
        return sendJson(res, 429, padded(rule, 'rate_limited'), { 'retry-after': rule.retryAfter })
      case 'malformed-json':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"risk_score": 5, "is_vpn": fal')
        return
      case 'wrong-schema':
        return sendJson(res, 200, { ip, risk_score: 'high', is_vpn: 'no' })
      case 'oversized':
        return sendJson(res, 200, { ...toWire(simulatorProfiles.clean, ip, wireShape(style)), padding: 'x'.repeat(100 * 1024) })
      case 'slow-body': {
        const body = Buffer.from(JSON.stringify(toWire(simulatorProfiles.clean, ip, wireShape(style))))
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
        let offset = 0
        const drip = (): void => {
          if (res.destroyed || closed) return
          res.write(body.subarray(offset, offset + 1))
          offset++
          if (offset >= body.length) res.end()
          else later(rule.intervalMs, drip)
        }
        drip()
        return
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('iprisk simulator: no TCP address')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}${basePath}`

  return {
    url,
    apiKey,
    get calls() {
      return calls
    },
    get connections() {
      return connections
    },
    get requests() {
      return requestLog
    },
    callsFor(ip: string): number {
      const canonical = canonicalIp(ip)
      return canonical === null ? 0 : (perIp.get(canonical) ?? 0)
    },
    setProfile(ipOrCidr, p) {
      table.set(ipOrCidr, p)
    },
    setProfileFor(fn) {
      table.fn = fn
    },
    setFault(fault, faultOptions = {}) {
      if (!FAULTS.has(fault)) throw new TypeError(`iprisk simulator: unknown fault ${JSON.stringify(fault)}`)
      const { times, intervalMs = 100, retryAfter = '1', bodyBytes = 0 } = faultOptions
      if (!Number.isInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > 16 * 1024 * 1024) {
        throw new TypeError('iprisk simulator: bodyBytes must be an integer between 0 and 16 MiB')
      }
      if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
        throw new TypeError('iprisk simulator: times must be a positive integer')
      }
      if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new TypeError('iprisk simulator: intervalMs must be >= 1')
      let ip: string | null = null
      if (faultOptions.ip !== undefined) {
        ip = canonicalIp(faultOptions.ip)
        if (ip === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(faultOptions.ip)}`)
      }
      faults.push({ fault, ip, remaining: times ?? Infinity, retryAfter: String(retryAfter), intervalMs, bodyBytes })
    },
    clearFaults() {
      faults = []
    },
    setLatency(l, latencyOptions = {}) {
      assertLatency(l)
      if (latencyOptions.ip === undefined) {
        latency = l
        return
      }
      const ip = canonicalIp(latencyOptions.ip)
      if (ip === null) throw new TypeError(`iprisk simulator: invalid IP ${JSON.stringify(latencyOptions.ip)}`)
      latencyByIp.set(ip, l)
    },
    reset() {
      calls = 0
      connections = 0
      requestLog = []
      perIp.clear()
      faults = []
      latency = initialLatency
      latencyByIp.clear()
      random = seededRandom(seed)
      applyInitialProfiles()
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t)
        timers.clear()
        server.close(() => resolve())
        // Keep-alive sockets and held `timeout` answers would keep the server (and the test process) alive.
        server.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
      return closed
    },
  }
}

function parseRoute(rawUrl: string, basePath: string): { style: 'path' | 'query'; ip: string | null } | null {
  if (!rawUrl.startsWith(`${basePath}/v1/`)) return null
  const rest = rawUrl.slice(basePath.length)
  const pathMatch = /^\/v1\/ip\/([^/?#]*)$/.exec(rest)
  if (pathMatch) return { style: 'path', ip: decode(pathMatch[1] ?? '') }
  const queryMatch = /^\/v1\/lookup\?([^#]*)$/.exec(rest)
  if (queryMatch) {
    const values = new URLSearchParams(queryMatch[1] ?? '').getAll('ip')
    return { style: 'query', ip: values.length === 1 ? (values[0] ?? null) : null }
  }
  if (/^\/v1\/(?:ip\/|lookup(?:\?|$))/.test(rest)) return { style: rest.startsWith('/v1/ip/') ? 'path' : 'query', ip: null }
  return null
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function padded(rule: FaultRule, error: string): Record<string, string> {
  return rule.bodyBytes > 0 ? { error, padding: 'x'.repeat(rule.bodyBytes) } : { error }
}

/** A profile in the API's wire format; fields absent from the profile are absent from the answer. */
function toWire(data: Partial<RiskData>, ip: string, shape: 'flat' | 'nested'): Record<string, unknown> {
  if (shape === 'flat') {
    const out: Record<string, unknown> = {}
    if (data.score !== undefined) out.risk_score = data.score
    if (data.isVpn !== undefined) out.is_vpn = data.isVpn
    if (data.isProxy !== undefined) out.is_proxy = data.isProxy
    if (data.isTor !== undefined) out.is_tor = data.isTor
    if (data.isDatacenter !== undefined) out.is_datacenter = data.isDatacenter
    if (data.countryCode !== undefined) out.country_code = data.countryCode
    if (data.asn !== undefined) out.asn = data.asn
    if (data.isp !== undefined) out.isp = data.isp
    return out
  }
  const out: Record<string, unknown> = { ip }
  if (data.score !== undefined) out.risk_score = data.score
  const privacy: Record<string, unknown> = {}
  if (data.isVpn !== undefined) privacy.vpn = data.isVpn
  if (data.isProxy !== undefined) privacy.proxy = data.isProxy
  if (data.isTor !== undefined) privacy.tor = data.isTor
  if (data.isDatacenter !== undefined) privacy.hosting = data.isDatacenter
  if (Object.keys(privacy).length > 0) out.privacy = privacy
  if (data.asn !== undefined || data.isp !== undefined) {
    const asn: Record<string, unknown> = {}
    if (data.asn !== undefined) asn.asn = data.asn === null ? null : `AS${data.asn}`
    if (data.isp !== undefined) asn.name = data.isp
    out.asn = asn
  }
  if (data.countryCode !== undefined) out.country = data.countryCode === null ? null : { code: data.countryCode.toLowerCase() }
  return out
}
