/**
 * How the IPASIS provider sends one request: undici's `Pool` on Node, the web-standard `fetch` elsewhere (Bun, Deno,
 * Cloudflare Workers, Vercel Edge). Both give the provider the same small {@link TransportResponse}, so status mapping,
 * `Retry-After`, the body cap and the schema are read by one code path in `provider.ts`. Not part of the public API.
 *
 * Why not undici everywhere: Bun ships its own `undici` module whose `Pool.request` resolves to `undefined`, so every
 * lookup would end `network` and a fail-open resolver would silently allow everything; and edge runtimes have none of
 * the `node:*` modules undici needs. So undici is never imported statically: on Node it is loaded when `ipasis()` is
 * first called, by `require` from `process.getBuiltinModule('node:module')` and a specifier held in a variable, which
 * no bundler follows (an edge bundle contains no undici). Synchronous, as a static import was: the first lookup never
 * waits for a module load. Where it cannot be loaded (a bundle shipped without node_modules) the runtime's `fetch` is
 * used: Node's fetch is undici inside, only without a keep-alive pool of our own. The runtime is read once, when
 * `ipasis()` is called; a runtime with neither transport is refused then, never at request time.
 *
 * @module
 */
import type { Dispatcher, Pool } from 'undici'
import { IpRiskConfigError, ProviderError } from './errors.js'
import { nodeBuiltin } from './node-builtin.js'

/** Largest body read from the API. A real answer is ~300 bytes; anything near this is not an IPASIS answer. */
export const MAX_BODY_BYTES = 64 * 1024
const BODY_HIGH_WATER_MARK = 16 * 1024

/** One response, whatever sent it. @internal */
export interface TransportResponse {
  readonly status: number
  /** The `Retry-After` header as sent (undici gives repeated headers as an array). */
  readonly retryAfter: string | string[] | undefined
  /** The body as UTF-8 text; rejects with a `bad_response` {@link ProviderError} over {@link MAX_BODY_BYTES}. */
  text(): Promise<string>
  /** Read (up to the cap) and drop the body, so the connection can be reused. Never rejects. */
  discard(): Promise<void>
}

/** Sends `GET origin+path` with the given headers. @internal */
export interface Transport {
  readonly kind: 'undici' | 'fetch'
  request(path: string, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<TransportResponse>
  /** Closes what the transport owns (never a user's dispatcher). */
  close(): Promise<void>
}

/**
 * What `ipasis()` reads of the runtime, once. Tests inject their own to force the fetch path or a broken runtime.
 * @internal
 */
export interface RuntimeFacts {
  /** A name for messages, e.g. `Node 22.15.0`, `Bun 1.1.30`, `Deno 2.0.0`, `an unknown runtime`. */
  readonly name: string
  /** True only on real Node, where undici's `Pool` is the real one (loaded when `ipasis()` is first called). */
  readonly nodeUndici: boolean
  /** The runtime's `fetch`, when it has one (with `AbortController`). */
  readonly fetch: typeof fetch | undefined
}

/**
 * Read the runtime. Bun, Deno and Workers with `nodejs_compat` also define `process.versions.node`, so they are
 * recognised first; so is the Vercel Edge runtime (`EdgeRuntime`). @internal
 */
export function readRuntime(): RuntimeFacts {
  const g = globalThis as {
    process?: { versions?: Record<string, unknown> }
    Deno?: { version?: { deno?: unknown } }
    EdgeRuntime?: unknown
    navigator?: { userAgent?: unknown }
  }
  const versions = g.process?.versions ?? {}
  const fetchFn =
    typeof globalThis.fetch === 'function' && typeof globalThis.AbortController === 'function' ? globalThis.fetch : undefined
  let name = 'an unknown runtime'
  let node = false
  if (typeof versions.bun === 'string') name = `Bun ${versions.bun}`
  else if (g.Deno !== undefined) name = `Deno ${String(g.Deno.version?.deno ?? '')}`.trim()
  else if (g.navigator?.userAgent === 'Cloudflare-Workers') name = 'Cloudflare Workers'
  else if (typeof g.EdgeRuntime === 'string') name = `the ${g.EdgeRuntime} runtime`
  else if (typeof versions.node === 'string') {
    name = `Node ${versions.node}`
    node = true
  }
  return { name, nodeUndici: node, fetch: fetchFn }
}

/** The part of undici the transport uses. @internal */
export interface UndiciModule {
  readonly Pool: typeof Pool
}

/** Loads undici, or `undefined` where it cannot be; tests inject one that fails, as a bundle without it would. @internal */
export type LoadUndici = () => UndiciModule | undefined

/**
 * Held in a variable on purpose: a bundler resolves `require()` / `import()` of a string literal at build time and
 * would put undici (and the ~100 `node:*` modules it imports) into every bundle, an edge one included.
 */
const UNDICI: string = 'undici'

let undici: UndiciModule | null | undefined

/**
 * undici, required from this module's location (undici is CommonJS: the same instance an `import 'undici'` of the
 * application gets), once per process; `undefined` where this module has no file URL to resolve from (a CommonJS
 * bundle empties `import.meta`) or undici is not installed next to it.
 */
const requireUndici: LoadUndici = () => {
  if (undici === undefined) {
    undici = null
    const createRequire = nodeBuiltin<typeof import('node:module')>('node:module')?.createRequire
    try {
      if (createRequire !== undefined) undici = createRequire(import.meta.url)(UNDICI) as UndiciModule
    } catch {
      // not installed, or no file URL to resolve from: fetch it is
    }
  }
  return undici ?? undefined
}

/**
 * Pick and build the transport: on Node undici (the given dispatcher, else a new `Pool`; `fetch` where undici cannot
 * be loaded), `fetch` elsewhere.
 * @throws {@link IpRiskConfigError} when a `dispatcher` is given where undici is not Node's, or when the runtime has
 * neither transport.
 * @internal
 */
export function createTransport(
  facts: RuntimeFacts,
  origin: string,
  connections: number,
  dispatcher: Dispatcher | undefined,
  loadUndici: LoadUndici = requireUndici,
): Transport {
  if (facts.nodeUndici) {
    // A dispatcher is undici already: nothing to load.
    if (dispatcher !== undefined) return undiciTransport(origin, dispatcher, false)
    const PoolClass = loadUndici()?.Pool
    if (typeof PoolClass === 'function' && typeof (PoolClass.prototype as { request?: unknown }).request === 'function') {
      return undiciTransport(origin, new PoolClass(origin, { connections, pipelining: 1 }), true)
    }
  } else if (dispatcher !== undefined) {
    throw new IpRiskConfigError(
      'dispatcher',
      `needs Node's undici, and this is ${facts.name}; remove it (ipasis() then uses the runtime's fetch)`,
    )
  }
  if (facts.fetch !== undefined) return fetchTransport(origin, facts.fetch)
  // Named `provider`: the resolver option this provider cannot fill here.
  throw new IpRiskConfigError(
    'provider',
    `ipasis() cannot send requests on ${facts.name}: it needs Node's undici or a global fetch with AbortController; ` +
      'pass a provider of your own',
  )
}

// ---------------------------------------------------------------------------------------------------------------------

function undiciTransport(origin: string, dispatcher: Dispatcher, owned: boolean): Transport {
  return {
    kind: 'undici',
    async request(path, headers, signal) {
      const response = await dispatcher.request({
        origin,
        path,
        method: 'GET',
        headers,
        signal,
        // A real answer is ~300 bytes. A small buffer means an unread body blocks its socket instead of hiding in
        // memory, which is why every body is read or dumped.
        highWaterMark: BODY_HIGH_WATER_MARK,
      })
      const { statusCode: status, body } = response
      return {
        status,
        retryAfter: response.headers['retry-after'],
        text: () => readUndiciBody(response),
        // Over the cap undici destroys the socket; under it the socket goes back to the pool.
        discard: () => body.dump({ limit: MAX_BODY_BYTES, signal }).catch(() => undefined),
      }
    },
    close: () => (owned ? dispatcher.close() : Promise.resolve()),
  }
}

/** Read an undici body as UTF-8 text, refusing more than {@link MAX_BODY_BYTES} (undici has no limit of its own). */
async function readUndiciBody(response: Dispatcher.ResponseData): Promise<string> {
  const { body, statusCode } = response
  if (Number(response.headers['content-length']) > MAX_BODY_BYTES) {
    body.destroy()
    throw tooLarge(statusCode)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) {
      body.destroy() // closes this socket; the pool opens another one
      throw tooLarge(statusCode)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}

function fetchTransport(origin: string, fetchFn: typeof fetch): Transport {
  return {
    kind: 'fetch',
    async request(path, headers, signal) {
      let response: Response
      try {
        // `redirect: 'manual'`: a redirect is an http_error, never followed (the key would travel with it).
        response = await fetchFn(origin + path, { method: 'GET', headers, signal, redirect: 'manual' })
      } catch (error) {
        throw socketError(error)
      }
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after') ?? undefined,
        text: () => readFetchBody(response),
        discard: () => readFetchBody(response).then(() => undefined, () => undefined),
      }
    },
    close: () => Promise.resolve(),
  }
}

/** Read a fetch body as UTF-8 text, refusing more than {@link MAX_BODY_BYTES}. */
async function readFetchBody(response: Response): Promise<string> {
  const body = response.body
  if (body === null) return ''
  if (Number(response.headers.get('content-length')) > MAX_BODY_BYTES) {
    await body.cancel().catch(() => undefined)
    throw tooLarge(response.status)
  }
  const reader = body.getReader()
  const decoder = new TextDecoder('utf-8')
  let text = ''
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return text + decoder.decode()
      size += value.byteLength
      if (size > MAX_BODY_BYTES) throw tooLarge(response.status)
      text += decoder.decode(value, { stream: true })
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined)
    throw error instanceof ProviderError ? error : socketError(error)
  }
}

/**
 * Node's fetch rejects with `TypeError('fetch failed')` whose `cause` is the socket error (with its `code`); hand on
 * that socket error, as the undici transport does, so the `network` error reads the same on both.
 */
function socketError(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | null)?.cause
  return cause instanceof Error && typeof (cause as { code?: unknown }).code === 'string' ? cause : error
}

function tooLarge(status: number): ProviderError {
  return new ProviderError('bad_response', `ipasis: the response body exceeds ${MAX_BODY_BYTES} bytes`, status)
}
