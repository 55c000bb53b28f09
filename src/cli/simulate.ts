/**
 * `iprisk simulate`: the IPASIS simulator as a local development server, with profiles a developer can reach with
 * `curl` from their own machine (loopback addresses) and the documentation ranges the docs and tests use.
 *
 * @module
 */
import { classifyIp } from '../core/ip.js'
import type { RiskData } from '../core/types.js'
import {
  simulatorProfiles,
  startIpasisSimulator,
  type IpasisSimulator,
  type SimulatorProfileName,
} from '../testing/simulator.js'

/** Port `iprisk simulate` listens on when `--port` is not given. */
export const DEFAULT_SIMULATE_PORT = 8420

/** Address `iprisk simulate` binds when `--host` is not given: loopback, so nothing outside this machine reaches it. */
export const DEFAULT_SIMULATE_HOST = '127.0.0.1'

type LocalProfile = Exclude<SimulatorProfileName, 'hash'>

/**
 * The documented development profiles: the last number of a loopback or documentation address picks the answer
 * (127.0.0.40, 203.0.113.40 and 2001:db8::40 are all Tor); every other address is `clean`. The demo's clients
 * (`examples/shared/setup.ts`) use the same endings; keep the two in step.
 */
const localProfileEndings: ReadonlyArray<readonly [ending: string, profile: LocalProfile]> = Object.freeze([
  ['20', 'vpn'],
  ['30', 'proxy'],
  ['40', 'tor'],
  ['50', 'datacenter'],
  ['60', 'high-risk'],
] as const)

const BY_ENDING: ReadonlyMap<string, LocalProfile> = new Map(localProfileEndings)

/**
 * The profile of an address under `iprisk simulate`: by its last number when it is a loopback or documentation
 * address, `clean` otherwise.
 *
 * @example
 * ```ts
 * localProfileFor('127.0.0.40') // 'tor'
 * localProfileFor('2001:db8::20') // 'vpn'
 * localProfileFor('127.0.0.1') // 'clean'
 * localProfileFor('8.8.8.40') // 'clean' (a global address keeps the default)
 * ```
 */
export function localProfileFor(ip: string): LocalProfile {
  const kind = classifyIp(ip)
  if (kind !== 'loopback' && kind !== 'documentation') return 'clean'
  const ending = ip.slice(Math.max(ip.lastIndexOf('.'), ip.lastIndexOf(':')) + 1)
  return BY_ENDING.get(ending) ?? 'clean'
}

/** Options of {@link startDevelopmentSimulator}. */
export interface DevelopmentSimulatorOptions {
  /** @default 8420 */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** Called with each answered lookup (address and profile), e.g. to print it. */
  onLookup?: (ip: string, profile: LocalProfile) => void
}

/**
 * Start the simulator as `iprisk simulate` runs it: any non-empty API key accepted, {@link localProfileFor}'s
 * profiles.
 *
 * @example
 * ```ts
 * const sim = await startDevelopmentSimulator({ port: 0 })
 * // IPASIS_BASE_URL=sim.url → ipasis() asks it
 * await sim.close()
 * ```
 */
export function startDevelopmentSimulator(options: DevelopmentSimulatorOptions = {}): Promise<IpasisSimulator> {
  const onLookup = options.onLookup
  return startIpasisSimulator({
    port: options.port ?? DEFAULT_SIMULATE_PORT,
    host: options.host ?? DEFAULT_SIMULATE_HOST,
    acceptAnyKey: true,
    profileFor(ip) {
      const profile = localProfileFor(ip)
      onLookup?.(ip, profile)
      return profile
    },
  })
}

function flagsOf(data: RiskData): string {
  const flags = [
    data.isVpn === true ? 'is_vpn' : '',
    data.isProxy === true ? 'is_proxy' : '',
    data.isTor === true ? 'is_tor' : '',
    data.isDatacenter === true ? 'is_datacenter' : '',
  ].filter((f) => f !== '')
  return flags.length === 0 ? '-' : flags.join(' ')
}

/**
 * What `iprisk simulate` prints once it listens: its URL, how to point `ipasis()` at it, the profile table and how
 * to score your own `curl` requests.
 */
export function simulateBanner(url: string): string {
  const rows: string[][] = [['address', 'profile', 'risk_score', 'flags', 'also']]
  rows.push(['127.0.0.1', 'clean', String(simulatorProfiles.clean.score), flagsOf(simulatorProfiles.clean), '::1 and every other address'])
  for (const [ending, profile] of localProfileEndings) {
    const data = simulatorProfiles[profile]
    rows.push([`127.0.0.${ending}`, profile, String(data.score), flagsOf(data), `203.0.113.${ending}, 2001:db8::${ending}`])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const table = rows
    .map((r) =>
      r
        .map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n')
  return `iprisk: IPASIS simulator listening on ${url}
Any API key is accepted; nothing leaves this machine. Ctrl-C stops it.

Point ipasis() at it (the option baseUrl, when given, wins over the variable):
  IPASIS_BASE_URL=${url} IPASIS_API_KEY=dev node server.js
  or in code: ipasis({ apiKey: 'dev', baseUrl: '${url}' })

Profiles: the last number of a loopback address (127.x.y.z, ::1) or a documentation address (192.0.2.z,
198.51.100.z, 203.0.113.z, 2001:db8::z) picks the answer; every other address is clean.
${table}

Score requests from this machine (local development only; refused when NODE_ENV=production):
  createRiskResolver({ provider: ipasis({ apiKey }), development: { scoreLocalAddresses: true } })
  curl http://127.0.0.1:3000/...                          # from 127.0.0.1: clean, allowed
  curl --interface 127.0.0.40 http://127.0.0.1:3000/...   # from 127.0.0.40: Tor, blocked by a Tor policy
  (Linux answers on every 127.x.y.z; on macOS add one first: sudo ifconfig lo0 alias 127.0.0.40)
`
}
