/**
 * The IPASIS provider: one keep-alive undici `Pool` on Node (the runtime's `fetch` on Bun, Deno and others; see
 * `provider-transport.ts`), a hard per-lookup time budget, and a tolerant, validated reading of both answer shapes
 * IPASIS gives.
 *
 * @module
 */
import type { Dispatcher } from 'undici'
import { NOT_A_CLOCK, isClock, systemClock, type Clock } from './clock.js'
import { IpRiskConfigError, IpRiskError, ProviderError } from './errors.js'
import { readEnv } from './env.js'
import {
  IpasisSchemaError,
  describeUntrusted,
  isCanonicalIp,
  parseIpasisBody,
  parseRetryAfter,
} from './provider-schema.js'
import { createTransport, readRuntime, type RuntimeFacts, type TransportResponse } from './provider-transport.js'
import type { Provider, RiskData } from './types.js'

/**
 * Options of {@link ipasis}.
 *
 * @example
 * ```ts
 * const options: IpasisOptions = { apiKey: process.env.IPASIS_API_KEY!, timeoutMs: 800 }
 * ```
 */
export interface IpasisOptions {
  /** Your IPASIS API key (required, visible ASCII, no whitespace). Never appears in an error, log line or event. */
  apiKey: string
  /**
   * Base URL of the API: `http:` or `https:`, no credentials, query or fragment. A path prefix is kept
   * (`https://gateway.example/ipasis` → `https://gateway.example/ipasis/v1/ip/{ip}`); a trailing slash is tolerated.
   *
   * When this option is not given, the environment variable `IPASIS_BASE_URL` is used if it is set and not empty
   * (read once, when `ipasis()` is called), e.g. `IPASIS_BASE_URL=http://127.0.0.1:8420` to run against
   * `npx iprisk simulate`. Precedence: this option, then `IPASIS_BASE_URL`, then the default. The variable is
   * validated exactly like the option; a bad value throws an {@link IpRiskConfigError} naming `IPASIS_BASE_URL`.
   * The API key is sent to whatever the URL names: treat the variable like the key.
   * @default process.env.IPASIS_BASE_URL, else 'https://api.ipasis.com'
   */
  baseUrl?: string
  /**
   * Time budget of one lookup in milliseconds (integer, 1–60 000), from the call to the parsed body: connecting,
   * waiting for headers and reading the body all count. Enforced by our own timer (undici's timeouts are too coarse
   * below a second).
   * @default 1500
   */
  timeoutMs?: number
  /**
   * `'path'`: `GET {baseUrl}/v1/ip/{ip}` (the integration guide's contract).
   * `'query'`: `GET {baseUrl}/v1/lookup?ip={ip}`.
   * Both answer shapes are accepted whatever the style.
   * @default 'path'
   */
  style?: 'path' | 'query'
  /**
   * How the key is sent: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
   * @default 'bearer' with style 'path', 'x-api-key' with style 'query'
   */
  auth?: 'bearer' | 'x-api-key'
  /**
   * Maximum number of keep-alive connections to the API (integer, 1–1024). Node only: elsewhere the runtime's `fetch`
   * manages its own connections, as it does on Node when undici cannot be loaded (a bundle deployed without
   * node_modules: undici is loaded at run time, never bundled).
   * @default 16
   */
  connections?: number
  /**
   * An undici `Dispatcher` (`Pool`, `Agent`, `MockAgent`, a proxy agent…) to send requests through instead of a new
   * `Pool`. It stays yours: {@link Provider.close} does not close it, and `connections` is ignored. Node only: on
   * Bun, Deno and other runtimes (where `ipasis()` uses the runtime's `fetch`) it is refused with an
   * {@link IpRiskConfigError} naming `dispatcher`.
   */
  dispatcher?: Dispatcher
  /**
   * Where the lookup timer (`timeoutMs`) is set and the time read that turns a `Retry-After` date into a wait. Tests
   * may pass a manual clock (`createTestClock()` from `iprisk/testing`); production code leaves it unset.
   * @default systemClock
   * @example
   * ```ts
   * const clock = createTestClock()
   * const provider = ipasis({ apiKey, baseUrl: sim.url, timeoutMs: 800, clock })
   * ```
   */
  clock?: Clock
}

const DEFAULT_BASE_URL = 'https://api.ipasis.com'
/** Environment variable read for the base URL when the `baseUrl` option is not given. */
const BASE_URL_ENV = 'IPASIS_BASE_URL'
const DEFAULT_TIMEOUT_MS = 1500
const DEFAULT_CONNECTIONS = 16

/**
 * Create the IPASIS provider.
 *
 * Lookups never follow redirects, never retry (the resolver owns retries, budgets and the breaker) and fail with a
 * {@link ProviderError} whose `kind` tells what happened:
 *
 * | outcome | kind |
 * | --- | --- |
 * | 2xx with a valid body | resolves to {@link RiskData} (fields not sent are `null`) |
 * | 2xx that is not JSON, an error object (a truthy `error` member), has none of the known fields, a field of the wrong type, or a body over 64 KiB | `bad_response` |
 * | 401 / 403 | `auth` (check the API key) |
 * | 429 | `rate_limited`, `retryAfterMs` from `Retry-After` (seconds or HTTP date, capped at 1 h) |
 * | any other status | `http_error`, `status` set |
 * | `timeoutMs` elapsed | `timeout` |
 * | the caller's `signal` aborted | `aborted` |
 * | connection refused / reset, DNS, TLS | `network` (`cause` is the socket error) |
 *
 * `lookup` only accepts a canonical IP (what the resolver passes): anything else rejects with a plain
 * {@link IpRiskError} (not a `ProviderError`: it is a caller bug, not an upstream failure) before any I/O, so attacker
 * text can never reach the upstream URL.
 *
 * The base URL is the `baseUrl` option, else the `IPASIS_BASE_URL` environment variable, else
 * `https://api.ipasis.com`: `IPASIS_BASE_URL=http://127.0.0.1:8420` points an unchanged `ipasis({ apiKey })` at
 * `npx iprisk simulate`.
 *
 * Requests go through undici on Node and through the runtime's `fetch` on Bun, Deno and other runtimes (read once,
 * here): same answers, same error kinds.
 *
 * @throws {@link IpRiskConfigError} naming the option when an option is invalid (`IPASIS_BASE_URL` when the base URL
 * came from that variable), `dispatcher` when one is given outside Node, and `provider` on a runtime with neither
 * Node's undici nor a global `fetch`: never a provider that fails every lookup.
 *
 * @example
 * ```ts
 * import { ipasis } from 'iprisk'
 *
 * const provider = ipasis({ apiKey: process.env.IPASIS_API_KEY!, timeoutMs: 800 })
 * const risk = await provider.lookup('203.0.113.7', AbortSignal.timeout(2000))
 * // { score: 12, isVpn: false, isProxy: false, isTor: false, isDatacenter: false, countryCode: 'US', asn: 7922, isp: 'Comcast' }
 * await provider.close()
 * ```
 */
export function ipasis(options: IpasisOptions): Provider {
  return createIpasis(options, readRuntime())
}

/**
 * {@link ipasis} with the runtime given instead of read: tests force the fetch transport on Node, or a runtime with no
 * transport at all. @internal
 */
export function createIpasis(options: IpasisOptions, runtime: RuntimeFacts): Provider {
  if (typeof options !== 'object' || options === null) {
    throw new IpRiskConfigError('options', 'ipasis() expects an options object with at least `apiKey`')
  }
  const apiKey = validateApiKey(options.apiKey)
  const fromEnv = options.baseUrl === undefined ? readEnv(BASE_URL_ENV) : undefined
  const { origin, prefix } =
    fromEnv === undefined ? validateBaseUrl(options.baseUrl, 'baseUrl') : validateBaseUrl(fromEnv, BASE_URL_ENV)
  const timeoutMs = validateInteger('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, 1, 60_000)
  const { style, auth } = validateStyle(options)
  const connections = validateInteger('connections', options.connections, DEFAULT_CONNECTIONS, 1, 1024)
  if (options.dispatcher !== undefined && typeof options.dispatcher?.request !== 'function') {
    throw new IpRiskConfigError('dispatcher', 'must be an undici Dispatcher (Pool, Agent, …)')
  }

  // The key lives only in this closure-held, frozen header object: not on the provider, not in any error.
  const headers = authHeaders(apiKey, auth)
  const clock = validateClock(options.clock)
  const transport = createTransport(runtime, origin, connections, options.dispatcher)
  const pathFor =
    style === 'path'
      ? (ip: string) => `${prefix}/v1/ip/${encodeURIComponent(ip)}`
      : (ip: string) => `${prefix}/v1/lookup?ip=${encodeURIComponent(ip)}`
  let closing: Promise<void> | null = null

  async function lookup(ip: string, signal?: AbortSignal): Promise<RiskData> {
    // Validation before any I/O: only a canonical IP is ever written into the URL (and encoded on top of that).
    if (!isCanonicalIp(ip)) {
      throw new IpRiskError(`iprisk: ipasis lookup refused ${describeUntrusted(ip)}: not a canonical IP address`)
    }
    if (closing) throw new ProviderError('network', 'ipasis: the provider is closed')
    if (signal?.aborted) throw new ProviderError('aborted', 'ipasis: lookup aborted by the caller')

    const controller = new AbortController()
    let ended: 'timeout' | 'aborted' | null = null
    const timer = clock.setTimeout(() => {
      ended = 'timeout'
      controller.abort(new Error('ipasis lookup timeout'))
    }, timeoutMs)
    const onCallerAbort = (): void => {
      ended ??= 'aborted'
      controller.abort(new Error('ipasis lookup aborted'))
    }
    signal?.addEventListener('abort', onCallerAbort, { once: true })
    try {
      const response = await transport.request(pathFor(ip), headers, controller.signal)
      return await readResponse(response, clock)
    } catch (error) {
      throw toProviderError(error, ended, timeoutMs)
    } finally {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', onCallerAbort)
    }
  }

  return {
    name: 'ipasis',
    lookup,
    close(): Promise<void> {
      closing ??= transport.close()
      return closing
    },
  }
}

async function readResponse(response: TransportResponse, clock: Clock): Promise<RiskData> {
  const { status } = response
  if (status < 200 || status > 299) {
    // Read (up to the cap) and discard, so the connection is reused; over the cap it is closed.
    await response.discard()
    if (status === 401 || status === 403) {
      const message = `ipasis: the API refused the credentials (HTTP ${status}); check the \`apiKey\` option`
      throw new ProviderError('auth', message, status)
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(response.retryAfter, clock.now())
      throw new ProviderError('rate_limited', 'ipasis: rate limited by the API (HTTP 429)', status, retryAfterMs)
    }
    // 3xx included: redirects are never followed (the key would travel with them).
    throw new ProviderError('http_error', `ipasis: unexpected HTTP status ${status}`, status)
  }

  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new ProviderError('bad_response', 'ipasis: the response body is not valid JSON', status)
  }
  try {
    return parseIpasisBody(json)
  } catch (error) {
    const detail = error instanceof IpasisSchemaError ? error.message : 'unreadable body'
    throw new ProviderError('bad_response', `ipasis: ${detail}`, status)
  }
}

function toProviderError(error: unknown, ended: 'timeout' | 'aborted' | null, timeoutMs: number): ProviderError {
  if (error instanceof ProviderError) return error
  if (ended === 'timeout') return new ProviderError('timeout', `ipasis: lookup timed out after ${timeoutMs} ms`)
  if (ended === 'aborted') return new ProviderError('aborted', 'ipasis: lookup aborted by the caller')
  const code = safeCode(error)
  const wrapped = new ProviderError('network', `ipasis: network error${code ? ` (${code})` : ''}`)
  // The socket error (connection refused, reset, TLS…) helps diagnosis and never carries request headers.
  wrapped.cause = error
  return wrapped
}

function safeCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : null
}

// ---------------------------------------------------------------------------------------------------------------------
// Option validation (start-up only)
// ---------------------------------------------------------------------------------------------------------------------

/** The request headers that carry the key (frozen). */
function authHeaders(apiKey: string, auth: 'bearer' | 'x-api-key'): Readonly<Record<string, string>> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (auth === 'bearer') headers.authorization = `Bearer ${apiKey}`
  else headers['x-api-key'] = apiKey
  return Object.freeze(headers)
}

function validateStyle(options: IpasisOptions): { style: 'path' | 'query'; auth: 'bearer' | 'x-api-key' } {
  const style = options.style ?? 'path'
  if (style !== 'path' && style !== 'query') {
    throw new IpRiskConfigError('style', "must be 'path' or 'query'")
  }
  const auth = options.auth ?? (style === 'path' ? 'bearer' : 'x-api-key')
  if (auth !== 'bearer' && auth !== 'x-api-key') {
    throw new IpRiskConfigError('auth', "must be 'bearer' or 'x-api-key'")
  }
  return { style, auth }
}

function validateClock(value: unknown): Clock {
  if (value === undefined) return systemClock
  if (!isClock(value)) {
    throw new IpRiskConfigError('clock', NOT_A_CLOCK)
  }
  return value
}

function validateApiKey(value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new IpRiskConfigError('apiKey', 'is required: pass your IPASIS API key (a non-empty string)')
  }
  // Never echo the value. Visible ASCII only: a key read from a file with a trailing newline would otherwise become
  // an invalid (or injected) header.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new IpRiskConfigError('apiKey', 'contains whitespace, control or non-ASCII characters (trim it?)')
  }
  return value
}

/** `source` names where the value came from: the option, or the environment variable read in its place. */
function validateBaseUrl(value: unknown, source: 'baseUrl' | typeof BASE_URL_ENV): { origin: string; prefix: string } {
  if (value === undefined) return { origin: DEFAULT_BASE_URL, prefix: '' }
  if (typeof value !== 'string' || value === '') {
    throw new IpRiskConfigError(source, 'must be an absolute http(s) URL such as https://api.ipasis.com')
  }
  // The value is not echoed: it might carry credentials.
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new IpRiskConfigError(source, 'is not a valid absolute URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IpRiskConfigError(source, 'must use http: or https:')
  }
  if (url.username !== '' || url.password !== '') {
    throw new IpRiskConfigError(source, 'must not contain credentials; pass the key as `apiKey`')
  }
  if (/[?#]/.test(value)) {
    throw new IpRiskConfigError(source, 'must not contain a query string or fragment')
  }
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') }
}

function validateInteger(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new IpRiskConfigError(option, `must be an integer between ${min} and ${max}`)
  }
  return value
}
