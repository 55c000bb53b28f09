/**
 * A local, deterministic IPASIS-compatible HTTP server for tests and benchmarks: both API styles, profiles by IP, CIDR
 * or function, latency, injectable faults and call counters. It listens on 127.0.0.1 and never touches the internet.
 *
 * This front module assembles the parts, one concern each, under `./simulator/`: profiles, wire (routes, keys,
 * answer shapes), faults, latency, counters, the request handler and the HTTP server.
 *
 * @module
 */
import { RequestCounters, type SimulatorRequest } from './simulator/counters.js'
import { FaultBook, type SimulatorFault, type SimulatorFaultOptions } from './simulator/faults.js'
import { handleRequest, type SimulatorParts } from './simulator/handler.js'
import { LatencyPlan, type SimulatorLatency } from './simulator/latency.js'
import { ProfileTable, type SimulatorProfile, type SimulatorProfileFn } from './simulator/profiles.js'
import { SimulatorServer, SimulatorTimers } from './simulator/server.js'
import type { KeyPolicy, ShapeOption } from './simulator/wire.js'

export {
  hashProfile,
  ProfileTable,
  resolveProfile,
  simulatorProfiles,
  type SimulatorProfile,
  type SimulatorProfileFn,
  type SimulatorProfileName,
} from './simulator/profiles.js'
export { type SimulatorFault, type SimulatorFaultOptions } from './simulator/faults.js'
export { seededRandom, type SimulatorLatency } from './simulator/latency.js'
export { type SimulatorRequest } from './simulator/counters.js'

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


/** The validated start options: what `reset()` returns to. */
interface StartConfig {
  readonly keys: KeyPolicy
  readonly basePath: string
  readonly shape: ShapeOption
  readonly host: string
  readonly port: number
}

function readConfig(options: IpasisSimulatorOptions): StartConfig {
  const apiKey = options.apiKey ?? 'test-key'
  if (typeof apiKey !== 'string' || apiKey === '') throw new TypeError('iprisk simulator: apiKey must be a non-empty string')
  const basePath = (options.basePath ?? '').replace(/\/+$/, '')
  if (basePath !== '' && !/^\/[A-Za-z0-9._~/-]*$/.test(basePath)) {
    throw new TypeError('iprisk simulator: basePath must start with / and contain only URL-safe characters')
  }
  return {
    keys: { apiKey, auth: options.auth ?? 'any', acceptAnyKey: options.acceptAnyKey === true },
    basePath,
    shape: options.shape ?? 'auto',
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
  }
}

/** The profile rules of the start options (also what `reset()` puts back). */
function applyStartProfiles(table: ProfileTable, options: IpasisSimulatorOptions): void {
  table.clear()
  table.fn = options.profileFor
  for (const [key, p] of Object.entries(options.profiles ?? {})) table.set(key, p)
}

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
  const config = readConfig(options)
  const latency = new LatencyPlan(options.latency ?? 0, options.seed ?? 1)
  const table = new ProfileTable(options.defaultProfile ?? 'clean')
  applyStartProfiles(table, options)
  const counters = new RequestCounters()
  const faults = new FaultBook()
  const timers = new SimulatorTimers()
  const parts: SimulatorParts = { ...config, table, counters, faults, latency, timers }
  const server = await SimulatorServer.listen({
    host: config.host,
    port: config.port,
    timers,
    onRequest: (req, res) => handleRequest(parts, req, res),
    onConnection: () => counters.connected(),
  })
  return {
    url: `${server.origin()}${config.basePath}`,
    apiKey: config.keys.apiKey,
    get calls() {
      return counters.calls
    },
    get connections() {
      return counters.connections
    },
    get requests() {
      return counters.requests
    },
    callsFor: (ip) => counters.callsFor(ip),
    setProfile: (ipOrCidr, p) => table.set(ipOrCidr, p),
    setProfileFor: (fn) => {
      table.fn = fn
    },
    setFault: (fault, faultOptions) => faults.add(fault, faultOptions),
    clearFaults: () => faults.clear(),
    setLatency: (l, latencyOptions = {}) => latency.set(l, latencyOptions.ip),
    reset() {
      counters.reset()
      faults.clear()
      latency.reset()
      applyStartProfiles(table, options)
    },
    close: () => server.close(),
  }
}
