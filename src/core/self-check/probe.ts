/**
 * The start-up probe behind `risk.ready()`: one lookup straight through the provider, settled within a deadline.
 *
 * @module
 */

import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import { IpRiskError, ProviderError, providerErrorKind } from '../errors.js'
import type { ProviderErrorKind } from '../types.js'

/**
 * What a start-up probe can find wrong: a provider error kind (`auth`, `network`, `timeout`, `http_error`,
 * `rate_limited`, `bad_response`) or `provider_error` (the provider broke its contract).
 */
export type ProbeErrorKind = Exclude<ProviderErrorKind, 'aborted'> | 'provider_error'

/**
 * `await risk.ready()` found the provider unusable. `kind` says why; the message names the fix and never contains
 * the API key.
 *
 * @example
 * ```ts
 * try {
 *   await risk.ready()
 * } catch (error) {
 *   if (error instanceof IpRiskProbeError && error.kind === 'auth') process.exit(1) // wrong IPASIS_API_KEY
 *   throw error
 * }
 * ```
 */
export class IpRiskProbeError extends IpRiskError {
  override name = 'IpRiskProbeError'
  constructor(
    readonly kind: ProbeErrorKind,
    message: string,
    /** The HTTP status the provider answered, when it did. */
    readonly status?: number,
  ) {
    super(message)
  }
}

/**
 * Options of `risk.ready()`.
 *
 * @example
 * ```ts
 * await risk.ready({ timeoutMs: 3_000, ip: '8.8.8.8' })
 * ```
 */
export interface ReadyOptions {
  /** How long the probe may take, in milliseconds (integer, 1–60 000). @default 5000 */
  timeoutMs?: number
  /** The address looked up: any valid IP address (it is sent to the provider). @default '1.1.1.1' */
  ip?: string
}

/** The address `risk.ready()` looks up by default: a well-known global address (Cloudflare's public resolver). */
export const PROBE_IP = '1.1.1.1'
/** Default time budget of `risk.ready()`: a cold TLS connection at start-up may take far longer than a warm lookup. */
export const PROBE_TIMEOUT_MS = 5_000

const PROBE_HINTS: Record<ProbeErrorKind, string> = {
  auth: 'the provider rejected the API key (HTTP 401/403): check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
  network: "the provider could not be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall",
  timeout: 'the provider did not answer in time: check the network path to it (`baseUrl`), or pass a longer `timeoutMs`',
  http_error: 'the provider answered an HTTP error: it may be down; check its status page and retry',
  rate_limited: "the provider's rate limit or quota is exhausted: check the plan",
  bad_response: "the provider answered data iprisk cannot read: check that `baseUrl` points at the provider's API",
  provider_error: "the provider's lookup broke its contract (see the `provider` configuration warning)",
}

/**
 * The probe behind `risk.ready()`: one lookup of `ip` through `call` (the provider, directly: no cache, no budget,
 * no breaker), settled within `timeoutMs` even if the provider ignores the signal. Resolves when the provider
 * answered usable data; rejects with an {@link IpRiskProbeError}. The deadline is a timer of `clock`.
 * @internal
 */
export async function probeProvider(
  providerName: string,
  call: (ip: string, signal: AbortSignal) => Promise<unknown>,
  valid: (value: unknown) => boolean,
  ip: string,
  timeoutMs: number,
  clock: Clock = systemClock,
): Promise<void> {
  const controller = new AbortController()
  let timer: TimerHandle = undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      controller.abort()
      reject(new ProviderError('timeout', 'probe deadline'))
    }, timeoutMs)
  })
  let kind: ProbeErrorKind
  let status: number | undefined
  try {
    const value = await Promise.race([call(ip, controller.signal), deadline])
    if (valid(value)) return
    kind = 'bad_response'
  } catch (error) {
    const providerKind = providerErrorKind(error)
    if (controller.signal.aborted) kind = 'timeout'
    else if (providerKind === undefined) kind = error instanceof Error ? 'network' : 'provider_error'
    else {
      // A ProviderError (of any copy of iprisk); one of an unknown kind broke the provider's contract.
      kind = providerKind === null ? 'provider_error' : providerKind === 'aborted' ? 'timeout' : providerKind
      const s = (error as { status?: unknown }).status
      if (typeof s === 'number') status = s
    }
  } finally {
    clock.clearTimeout(timer)
  }
  const what = status === undefined ? kind : `${kind}, HTTP ${status}`
  throw new IpRiskProbeError(kind, `iprisk: the provider \`${providerName}\` failed the start-up probe (${what}): ${PROBE_HINTS[kind]}`, status)
}
